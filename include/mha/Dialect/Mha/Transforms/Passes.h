//===- Passes.h - Transforms of the mha dialect -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_PASSES_H
#define MHA_DIALECT_MHA_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/Pass/Pass.h"

namespace mlir::mha {

#define GEN_PASS_DECL
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_TRANSFORMS_PASSES_H
