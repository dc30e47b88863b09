//===- FlashKernel.h - The flash-attention kernel body ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: the shape of a kernel and the entry
// to the code that fills its body (FlashKernel.cpp, on PtxBuilder,
// SharedTiles and ScoreMods).
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_FLASHKERNEL_H
#define MHA_LIB_CONVERSION_MHATONVVM_FLASHKERNEL_H

#include "mha/Dialect/Mha/IR/AttentionVariant.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::mha {

/// The shape of one kernel: `warps` warps of `rowTilesPerWarp` x 16 query
/// rows each, key tiles of `cols` keys, shared-memory rows padded by `pad`
/// elements.
struct FlashKernelConfig {
  int64_t headDim = 0, valueDim = 0;
  Type elementType; // f16 or bf16
  int64_t warps = 4;
  /// 16-row MMA tiles per warp: two reuse each K/V fragment twice, at the
  /// cost of keeping Q in shared memory rather than registers.
  int64_t rowTilesPerWarp = 1;
  int64_t cols = 64;
  int64_t pad = 8;
  /// GQA packing: query heads of one KV group computed by one block (their
  /// rows share each K/V tile), dividing the group size and the block's
  /// row tiles.
  int64_t headsPerBlock = 1;
  /// Rows of q, k and v start on 16-byte boundaries (MHA_GPU_REQ_ALIGNED_ROWS)
  /// and are copied with cp.async; otherwise they are loaded element by
  /// element and stored to shared memory (the fallback kernel).
  bool alignedRows = true;
  /// sm_90a: warpgroup MMA (wgmma). Each group of 4 warps multiplies its 64
  /// query rows by whole key tiles read from 128-byte-swizzled shared
  /// memory through matrix descriptors, and P.V takes P from registers.
  /// Needs rowTilesPerWarp == 1, warps a multiple of 4 and head dims that
  /// are multiples of 64.
  bool warpgroupMma = false;
  /// With warpgroupMma and two consumer warpgroups: K and V tiles arrive by
  /// TMA (the tensor maps of MHA_GPU_REQ_TENSOR_MAPS), issued by a producer
  /// warpgroup after the `warps` consumer warps, through two stages guarded
  /// by mbarriers ("full" when a tile has landed, "empty" when every
  /// consumer is done with it), so no block-wide barrier remains in the key
  /// loop. The producer hands its registers to the consumers (setmaxnreg:
  /// 24 and 240 of the 168 per thread that 384 threads get).
  bool tmaLoads = false;
  /// Split-KV (flash-decoding): grid x is (query tile, part), with the
  /// number of parts the first dimension of the partial lse; the block
  /// visits its part of the row tile's key tiles (contiguous, as even as
  /// whole tiles allow) and writes its rows' partial output (normalised,
  /// f32) and lse, which the merge kernel combines (MergeKernel.h).
  bool splitKeys = false;

  int64_t rowsPerBlock() const { return warps * 16 * rowTilesPerWarp; }
  int64_t threads() const { return warps * 32 + (tmaLoads ? 128 : 0); }
};

/// The kernel's arguments (memrefs); lse, o, kvLens, qLens, blockTable,
/// cuSeqlensQ and cuSeqlensK may be null (with blockTable, k and v are page
/// pools; with cuSeqlensQ, q, o and lse are packed [1, H, total, ...] and
/// grid x walks the query tiles of every sequence in turn; with
/// cuSeqlensK, k and v are packed); tensorMaps (i64,
/// the device address of k's and v's CUtensorMap) with tmaLoads; with
/// splitKeys, the partial outputs [parts, B, Hq, Lq, Dv] and lse [parts, B,
/// Hq, Lq] (f32) instead of o and lse.
struct FlashKernelArgs {
  Value q, k, v, o, lse, kvLens, qLens, blockTable, cuSeqlensQ, cuSeqlensK;
  Value headMask, tensorMaps;
  Value partialO, partialLse;
};

/// Dynamic shared memory the kernel needs, in bytes (SharedTiles.cpp).
int64_t getFlashKernelSharedBytes(const FlashKernelConfig &config);

/// Fills the (empty) body of `func` with the kernel. Per-head constant
/// tables go into `module`, named after `prefix`.
void emitFlashKernel(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                     gpu::GPUFuncOp func, const FlashKernelConfig &config,
                     const AttentionVariant &variant,
                     const FlashKernelArgs &args, StringRef prefix);

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_FLASHKERNEL_H
