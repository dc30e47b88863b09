//===- SharedTiles.h - Shared-memory tiles of the flash kernel --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: where Q, K and V live in a block's
// dynamic shared memory and how rows get there.
//
// The portable kernel's tiles are [stage, row, col] views whose rows are
// padded by 16 bytes, so that the rows ldmatrix reads together hit every
// bank. The wgmma kernel's tiles are unpadded in one flat buffer from a
// 1024-byte-aligned start, each stage split into 64-column atoms of
// `rows` x 128 bytes whose 16-byte chunks are XOR-swizzled by row % 8: the
// 128-byte swizzle of wgmma descriptors and TMA (whose pattern follows
// address bits 4-9). With TMA, four mbarriers follow the tiles.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_SHAREDTILES_H
#define MHA_LIB_CONVERSION_MHATONVVM_SHAREDTILES_H

#include "FlashKernel.h"
#include "PtxBuilder.h"

namespace mlir::mha {

/// Bytes of an element of the tiles (f16 or bf16, the MMA operand type).
inline constexpr int64_t kSmemEltBytes = 2;

/// A tile of shared memory: `stages` copies of `rows` x width elements,
/// a [stage, row, col] view, or swizzled at `offset` elements of a flat
/// buffer.
struct SmemTile {
  Value mem;
  int64_t offset = 0, stageElems = 0, rows = 0;
  bool swizzled = false;
};

/// The shared memory of one block: Q [rows, D], K [2, C, D] and
/// V [2, C, Dv]; with wgmma also their shared addresses (i64) for matrix
/// descriptors and TMA, and the i32 address of the mbarriers full[0],
/// full[1], empty[0], empty[1].
struct SharedTiles {
  SmemTile q, k, v;
  Value qAddr, kAddr, vAddr, barriers;

  /// Lays the tiles out in the block's dynamic shared memory.
  static SharedTiles allocate(CodegenBuilder &cb, PtxBuilder &ptx,
                              const FlashKernelConfig &cfg);

  /// The address (i32) of mbarrier full[stage] (which = 0) or
  /// empty[stage] (which = 1).
  Value barrier(CodegenBuilder &cb, PtxBuilder &ptx, int64_t which,
                Value stage) const;
};

/// The block's dynamic shared memory, as bytes.
Value dynamicSharedMemory(CodegenBuilder &cb);

/// A [shape] view of `elementType` at `byteOffset` of shared memory `smem`.
Value sharedView(CodegenBuilder &cb, Value smem, int64_t byteOffset,
                 ArrayRef<int64_t> shape, Type elementType);

/// The indices of element (row, col) of `tile[stage]`; `col` is a multiple
/// of 8.
SmallVector<Value> smemIndex(CodegenBuilder &cb, const SmemTile &tile,
                             Value stage, Value row, Value col);

/// The shared address (i32) of 64-column atom `atom` of stage `stage` of a
/// swizzled tile at `base` (i64) whose stages are `stageBytes` apart.
Value atomAddress(CodegenBuilder &cb, PtxBuilder &ptx, Value base,
                  int64_t stageBytes, int64_t rowsPerAtom, Value stage,
                  int64_t atom);

/// Copies rows of global tensors into shared tiles, with the block's
/// `cfg.warps * 32` threads (thread `tid`).
class RowCopier {
public:
  RowCopier(CodegenBuilder &cb, const FlashKernelConfig &cfg, Value tid)
      : cb(cb), cfg(cfg), tid(tid) {}

  /// Copies `numRows` rows of `width` elements of `src` (the [rows, width]
  /// subview starting at `srcRow0` after the leading indices `srcPrefix`;
  /// rows >= `srcRows` zero-filled) into `dst[stage]` from row `dstRow0`
  /// on: with 16-byte cp.async, or through registers (stageConverted).
  void copyRows(Value src, ValueRange srcPrefix, Value srcRow0, Value srcRows,
                const SmemTile &dst, Value stage, int64_t numRows,
                int64_t width, int64_t dstRow0 = 0);

  /// Copies `numRows` keys from `keyRow0` on of a paged cache, each of
  /// `pools` (K and V) into its `dsts[stage]` (keys >= `keyRows`
  /// zero-filled): key j of sequence `batch` is row j mod page_size of page
  /// `table[batch, j div page_size]` of a pool [pages, Hkv, page_size,
  /// width] at KV head `kvHead`. A page number outside [0, pages) reads
  /// page 0 or the last (never past the pool); only the table entries of
  /// keys < `keyRows` are read, once per key for pools of one width.
  void copyPagedRows(ArrayRef<Value> pools, Value table, Value batch,
                     Value kvHead, Value keyRow0, Value keyRows,
                     ArrayRef<SmemTile> dsts, Value stage, int64_t numRows);

private:
  /// The chunks of `numRows` x `width` elements the block's threads copy:
  /// `copyChunk(row, col)` for each, col a multiple of 8.
  void forEachChunk(int64_t numRows, int64_t width,
                    function_ref<void(Value, Value)> copyChunk);
  /// Copies 8 elements at `src[srcIdx]` (zeros when !inBounds) to
  /// `dst[dstIdx]`: by 16-byte cp.async, or through registers
  /// (stageConverted) for f32 sources and rows that are not 16-byte
  /// aligned.
  void copyChunk(Value src, ValueRange srcIdx, Value inBounds, Value dst,
                 ValueRange dstIdx);
  /// Loads 8 elements at `src[srcIdx]` (zeros when !inBounds), rounds them
  /// to the MMA element type and stores them at `dst[dstIdx]`: f32 specs
  /// run on bf16 tensor cores and rows that are not 16-byte aligned cannot
  /// be copied by cp.async, so both take this synchronous path.
  void stageConverted(Value src, ValueRange srcIdx, Value inBounds, Value dst,
                      ValueRange dstIdx);

  CodegenBuilder &cb;
  const FlashKernelConfig &cfg;
  Value tid;
};

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_SHAREDTILES_H
