//===- MergeKernel.h - Merging split-KV partial results -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: the kernel that combines the parts
// of a split-KV call (FlashKernelConfig::splitKeys) as mha.merge_states
// does, launched after the split kernel on the same stream.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_MERGEKERNEL_H
#define MHA_LIB_CONVERSION_MHATONVVM_MERGEKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::mha {

/// Query rows per block of the merge kernel: one warp each.
inline constexpr int64_t kMergeRowsPerBlock = 4;

/// The merge kernel's memrefs: the function's o and lse (either may be
/// null), and the parts' outputs [parts, B, Hq, Lq, Dv] and lse [parts, B,
/// Hq, Lq] (f32).
struct MergeKernelArgs {
  Value o, lse, partialO, partialLse;
};

/// Fills the (empty) body of `func`: on the grid (ceil(Lq / 4), Hq, B),
/// each warp merges one row, `lse = log(sum_s exp(lse_s))` and `o =
/// sum_s exp(lse_s - lse) o_s` in the order s = 0, 1, ...; a row whose
/// parts all have lse = -inf gets o = 0 and lse = -inf, and a NaN in any
/// part's lse reaches both.
void emitMergeKernel(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                     int64_t valueDim, const MergeKernelArgs &args);

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_MERGEKERNEL_H
