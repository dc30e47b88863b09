//===- EntryPoints.h - What an exported function looks like -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Shared by mha-emit-entry-points (which emits the code) and mha-compile
// (which writes the C header), so both agree on names and the signature.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_ENTRYPOINTS_H
#define MHA_DIALECT_MHA_TRANSFORMS_ENTRYPOINTS_H

#include "mha/Dialect/Mha/IR/MhaAttrs.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::mha {

/// The C parameter name of a tensor of the given role ("q", "lse", ...).
llvm::StringRef getParameterName(TensorRole role);

/// The signature table the runtime checks calls against (KernelAbi.h).
llvm::SmallVector<int64_t> buildSignatureTable(EntryPointAttr entry);

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_TRANSFORMS_ENTRYPOINTS_H
