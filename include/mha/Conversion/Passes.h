//===- Passes.h - Conversions out of the mha dialect ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_PASSES_H
#define MHA_CONVERSION_PASSES_H

#include "mha/Conversion/MhaToNVVM/MhaToNVVM.h"
#include "mha/Conversion/MhaToVector/MhaToVector.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/Pass.h"

namespace mlir::mha {

#define GEN_PASS_DECL
#include "mha/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "mha/Conversion/Passes.h.inc"

} // namespace mlir::mha

#endif // MHA_CONVERSION_PASSES_H
