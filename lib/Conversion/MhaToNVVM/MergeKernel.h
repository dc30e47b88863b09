//===- MergeKernel.h - Merging split-KV partial results ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: the kernel that combines the parts
// of a split-KV call (FlashKernelConfig::splitKeys) as mha.merge_states
// does, launched after the split kernel on the same stream; and the kernel
// of an exported mha.merge_states function (two parts).
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_MERGEKERNEL_H
#define MHA_LIB_CONVERSION_MHATONVVM_MERGEKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::mha {

/// Query rows per block of the merge kernel: one warp each.
inline constexpr int64_t kMergeRowsPerBlock = 4;

/// The merge kernel's memrefs: the results o and lse (either may be null)
/// and the parts, either a split-KV call's outputs [parts, B, Hq, Lq, Dv]
/// and lse [parts, B, Hq, Lq] (f32, partialO and partialLse) or, without
/// them, the (output [B, H, L, Dv], lse [B, H, L]) pairs of `states`
/// (mha.merge_states: outputs of any float type, lse f32).
struct MergeKernelArgs {
  Value o, lse, partialO, partialLse;
  SmallVector<std::pair<Value, Value>, 2> states;
};

/// Fills the (empty) body of `func`: on the grid (ceil(L / 4), H, B),
/// each warp merges one row, `lse = log(sum_s exp(lse_s))` and `o =
/// sum_s exp(lse_s - lse) o_s` in the order s = 0, 1, ...; a part with lse
/// = -inf adds nothing whatever its output holds, a row whose parts all
/// have lse = -inf gets o = 0 and lse = -inf, and a NaN in any part's lse
/// reaches both.
void emitMergeKernel(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                     int64_t valueDim, const MergeKernelArgs &args);

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_MERGEKERNEL_H
