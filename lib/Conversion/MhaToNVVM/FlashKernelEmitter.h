//===- FlashKernelEmitter.h - Building one flash kernel ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to the two files that build a flash-attention kernel's body
// (FlashKernel.h's emitFlashKernel): FlashKernelBlock.cpp, the block's
// threads, rows, heads, sequences and key tiles; FlashKernel.cpp, the key
// loop and what comes before and after it. This is the state they share.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_FLASHKERNELEMITTER_H
#define MHA_LIB_CONVERSION_MHATONVVM_FLASHKERNELEMITTER_H

#include "FlashKernel.h"
#include "PtxBuilder.h"
#include "ScoreMods.h"
#include "SharedTiles.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/KeyVisibility.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::mha::detail {

/// Per row tile m, the loop state holds at m * stateSize the running max
/// of rows g and g + 8 (base 2), their partial sums, then the O
/// accumulators.
constexpr int64_t kMaxOffset = 0, kSumOffset = 2, kAccOffset = 4;

class FlashKernelEmitter : WarpLanes {
public:
  FlashKernelEmitter(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                     const FlashKernelConfig &config,
                     const AttentionVariant &variant,
                     const FlashKernelArgs &args, StringRef prefix)
      : b(b), loc(loc), cb(b, loc), ptx(cb, config.elementType), module(module),
        cfg(config), variant(variant), args(args), prefix(prefix),
        mt(cfg.rowTilesPerWarp), sTiles(cfg.cols / 8), oTiles(cfg.valueDim / 8),
        stateSize(kAccOffset + oTiles * 4) {}

  void emit();

private:
  // The block: its threads, rows, heads and key tiles.
  void emitThreadIds();
  /// With packed queries: the block's sequence (or the rows past the last
  /// one) and its query tile among that sequence's.
  void findPackedSequence(int64_t rowsPerHead);
  /// `lengths[sequence]` clamped to [0, size], 0 outside any sequence;
  /// `size` without lengths.
  Value sequenceLength(Value lengths, Value size);
  /// With packed keys: the sequence's first key and its keys.
  std::pair<Value, Value> packedKeys();
  void emitRowsAndHeads();
  void emitKeyTileRanges();
  /// The block's key tile i (of numTiles) covers keys [start, end): the
  /// sink tiles, then the window's (from firstTile on, with splitKeys).
  std::pair<Value, Value> tileBounds(Value i);
  Value keyTileOf(Value i) { return cfg.splitKeys ? cb.add(firstTile, i) : i; }

  // Before the key loop.
  void emitPrologue();
  void loadKV(Value i, Value stage);
  /// The shared barriers of the TMA pipeline, set up by thread 0.
  void initBarriers();
  void loadQFragments();
  /// The A fragments of 16-column chunk c of row tile m of the warp.
  SmallVector<Value> qFragment(int64_t m, int64_t c);

  // The key loop.
  scf::ForOp emitKeyLoop();
  SmallVector<Value> emitKeyTile(Value i, ValueRange state);
  using Scores = SmallVector<SmallVector<Frag>>; // [row tile][8 keys]
  Scores scoresMma(Value stage);
  Scores scoresWgmma(Value stage64);
  /// Scale, softcap, ALiBi; the masks only where a mask edge or the end of
  /// the keys crosses the tile.
  ValueRange modifyScores(const Scores &s, Value i, Value j0, Value jEnd);
  /// The online softmax of scores `x`: the new loop state (O rescaled, not
  /// yet accumulated) and the probabilities `p`.
  SmallVector<Value> softmax(ValueRange state, ValueRange x,
                             SmallVector<Value> &p);
  /// P[i], P[i + 1] of row tile m, key tile t, element e as an MMA operand.
  Value packP(ArrayRef<Value> p, int64_t m, int64_t t, int64_t e);
  void accumulateMma(ArrayRef<Value> p, SmallVector<Value> &state, Value stage);
  void accumulateWgmma(ArrayRef<Value> p, SmallVector<Value> &state,
                       Value stage64);
  void releaseStage(Value stage);

  // After it.
  void emitEpilogue(ValueRange result);
  void storeRow(ValueRange result, int64_t m, int64_t half, Value colBase);
  void emitProducer();

  RowCopier copier() { return RowCopier(cb, cfg, tid); }
  /// `base + stage * stageBytes` (i64 shared addresses).
  Value stageAddr(Value base, Value stage64, int64_t stageBytes) {
    return cb.add(base, cb.mul(stage64, ptx.i64(stageBytes)));
  }
  Value plus(Value addr, int64_t bytes) {
    return bytes ? cb.add(addr, ptx.i64(bytes)) : addr;
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  PtxBuilder ptx;
  gpu::GPUModuleOp module;
  const FlashKernelConfig &cfg;
  const AttentionVariant &variant;
  const FlashKernelArgs &args;
  StringRef prefix;
  const int64_t mt, sTiles, oTiles, stateSize;

  // The thread (and WarpLanes).
  Value tid;
  // The block.
  Value qTile, headBlock, batch;
  /// The block's sequence; the batch index and first row of its rows in q,
  /// o and lse, and of its keys in k and v (0 when packed; the offsets
  /// then come from cu_seqlens); the rows it writes (past the last packed
  /// sequence: the rows up to the tensor's end); whether it has a sequence.
  Value sequence, qBatch, qOffset, kBatch, kOffset, writeRows, inSequence;
  /// With splitKeys: the block's part of the keys, of `parts`.
  Value part, parts;
  /// The tensor's query rows (stored), the sequence's real ones (q_lens,
  /// or its packed rows) and keys (kv_lens, or its packed keys).
  Value queryRows, queryLen, keyLen, diagOffset;
  Value row0, blockRows, head0, kvHead, warpTile;
  /// Per row tile of the warp: its head and first query row.
  SmallVector<GpuHeadParams> tileHeads;
  SmallVector<Value> tileRow0;
  /// The heads of the block.
  SmallVector<GpuHeadParams> blockHeads;
  KeyRanges ranges;
  /// Sink tiles of the row tile; tiles of this block and, with splitKeys,
  /// the row tile's first one it visits.
  Value numSink, numTiles, firstTile;
  SharedTiles smem;
  /// With one row tile per warp, its Q fragments [chunk of 16 columns].
  SmallVector<SmallVector<Value>> qFrag;
  /// With TMA: the consumer warps, and the if that parts them from the
  /// producer.
  Value isConsumer;
  scf::IfOp roles;
  Value zero, negInf, zeroF;
};

} // namespace mlir::mha::detail

#endif // MHA_LIB_CONVERSION_MHATONVVM_FLASHKERNELEMITTER_H
