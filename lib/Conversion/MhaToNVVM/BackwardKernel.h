//===- BackwardKernel.h - The GPU backward kernels --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: the two kernels of an attention
// function's `_backward` (BackwardKernel.cpp), on the forward kernel's
// PtxBuilder, SharedTiles and ScoreMods.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_BACKWARDKERNEL_H
#define MHA_LIB_CONVERSION_MHATONVVM_BACKWARDKERNEL_H

#include "FlashKernel.h"

namespace mlir::mha {

/// Which of the two kernels.
enum class BackwardKernelKind {
  /// A block per `warps` x 16 query rows of one query head: dq.
  queryRows,
  /// A block per `warps` x 16 keys of one KV head: dk and dv, summed over
  /// the heads of its group.
  keys,
};

/// The backward kernels' arguments (memrefs of the C parameters of
/// `<name>_backward`; kvLens and qLens null when the function has none),
/// then the runtime head mask.
struct BackwardKernelArgs {
  Value q, k, v, kvLens, qLens, o, lse, dout, dq, dk, dv, headMask;
};

/// Dynamic shared memory of the kernel of `kind` with `config` (its warps,
/// head dims, key tile `cols` and padding).
int64_t getBackwardKernelSharedBytes(BackwardKernelKind kind,
                                     const FlashKernelConfig &config);

/// Fills the (empty) body of `func` with the backward kernel of `kind`.
void emitBackwardKernel(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                        gpu::GPUFuncOp func, BackwardKernelKind kind,
                        const FlashKernelConfig &config,
                        const AttentionVariant &variant,
                        const BackwardKernelArgs &args, StringRef prefix);

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_BACKWARDKERNEL_H
