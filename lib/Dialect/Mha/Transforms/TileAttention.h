//===- TileAttention.h - Pieces of mha-tile shared with layers --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to mha-tile: the attention work item, which a plain attention
// function and the attention phase of a layer (TileLayer.cpp) both emit.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_DIALECT_MHA_TRANSFORMS_TILEATTENTION_H
#define MHA_LIB_DIALECT_MHA_TRANSFORMS_TILEATTENTION_H

#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaAttrs.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::mha {

/// Tile sizes and micro-kernel shape of one attention.
struct TileChoice {
  int64_t rows;     // query rows per work item
  int64_t cols;     // keys per kv tile
  int64_t bandRows; // rows of the score scratch, at most `rows`
  int64_t paddedValueDim;
  MicroKernelAttr microKernel;
  // Bytes per key of the K and V rows a paged work item gathers into
  // contiguous tiles (0 without block_table).
  int64_t gatheredBytesPerKey = 0;
  // Query rows of a group item (the rows of query heads of one KV head,
  // for decoding): 0 when the function has none. `groupHeads` consecutive
  // query heads of a KV group share one item (the whole group, or a part
  // of it when decoding is compute-bound).
  int64_t groupRows = 0;
  int64_t groupHeads = 0;
};

inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/// Head dims up to which FMA work items copy f32 query rows too.
constexpr int64_t kCopiedF32QueryDim = 128;

/// Whether the work items copy their query rows into contiguous f32
/// scratch (FMA micro-kernels: f16/bf16 rows widened, f32 rows up to
/// kCopiedF32QueryDim); bf16 pairs and wider f32 rows are read in place.
bool copiesQueryRows(const TileChoice &tiles, Type queryElt, int64_t headDim);

/// The most scratch one CPU work item may use. It lives on the stack of the
/// thread that runs the item; the runtime runs items only on threads with
/// that much stack to spare, and more (mha/Runtime/KernelAbi.h).
constexpr int64_t kMaxWorkItemScratchBytes = MHA_WORK_ITEM_SCRATCH_LIMIT;

/// Scratch bytes per key that a work item of `attention` needs beyond its
/// packed tiles: paged keys gathered, quantized ones dequantized into rows
/// of at most the query's type, with two f32 row scales.
int64_t getGatheredBytesPerKey(AttentionOp attention, Type queryElt);

/// `tiles` with a decoding group (groupRows, groupHeads: the rows of all the
/// heads of a KV group in one item) where `attention` decodes over a cache
/// and the group's heads share their parameters; else `tiles`.
TileChoice chooseGroupedTiles(AttentionOp attention,
                              const AttentionVariant &variant,
                              TileChoice tiles);

/// Bytes of scratch a work item of `tiles` needs, for head dim `headDim`.
int64_t workItemScratchBytes(const TileChoice &tiles, int64_t headDim,
                             Type queryElt);

/// Fails, naming the sizes, when a work item's scratch would exceed the
/// budget (only tiles given as options can).
LogicalResult checkScratchBudget(AttentionOp attention, const TileChoice &tiles,
                                 Type queryElt);

/// The memrefs and grid position of one attention work item; lse, probs and
/// entropy may be null, and so may `callWords` (memref<?xi32>, the call
/// words of KernelAbi.h) in a layer without dropout.
struct AttentionWorkItem {
  Value q, k, v, o, lse, probs, entropy;
  // The serving tensors (docs/language.md 4.6), null when absent.
  Value kvLens, qLens, blockTable, cuSeqlensQ, cuSeqlensK;
  Value batch, head, tile, alive;
  Value callWords;
  // The scales of an i8 cache (kv_scales, docs/language.md 4.8), null when
  // k and v are not quantized.
  Value keyScale, valueScale;
  // Split-KV decoding (null without): the runtime's partial outputs
  // [S B Hq Lq, Dv] and lse [S B Hq Lq] (f32), and the arrival count of
  // each (b, h, tile) (i32, zeroed by the runtime).
  Value splitOutputs, splitLse, splitArrivals;
  // Keys appended in this call past kv_lens (a layer's decoding step: its
  // L new rows), or null.
  Value kvLensOffset = {};
};

/// The kernel argument type of the call words (KernelAbi.h).
inline MemRefType getCallWordsType(MLIRContext *ctx) {
  return MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32));
}

/// Emits at `b`'s insertion point the work item (batch, head, tile) of
/// `attention` on the memrefs of `item`: query rows [tile * rows, ...) of
/// one head with the online softmax over the key tiles it can see.
void emitAttentionWorkItem(OpBuilder &b, ModuleOp module, StringRef name,
                           AttentionOp attention, const TileChoice &tiles,
                           const AttentionWorkItem &item);

/// How the work items of an attention's backward are tiled
/// (mha-tile-backward, and the attention phases of a layer's backward).
struct BackwardItemChoice {
  int64_t vectorWidth;
  int64_t rows, keys; // R query rows per query tile, C keys per key tile
  // Key items own whole KV heads and sum dq: in place (an f32 dq), else
  // in the runtime's f32 dq temporary (dqSums), narrowed at the end.
  bool wholeHeads;
  bool dqSums;
  // The items' products are vdpbf16ps on bf16 pairs (bf16 q, k and v).
  bool bf16Pairs;

  /// The keys of a key item's grid tile: C, or all of them.
  int64_t getGridKeys() const;
};

/// Where whole-head key items may sum dq (chooseBackwardItems).
enum class WholeHeadItems {
  never,
  inPlace,  // in dq, an f32 temporary whatever q's type (a layer's attention)
  orDqSums, // in dq when q is f32, else in the runtime's dq temporary
};

/// The grids of a backward (TileBackward.cpp): key items (b, g, t) write
/// dk and dv of a key tile, query items (b, h, t) dq of a query tile, row
/// items (b, h, t) the entropy gradient's row constants.
enum class BackwardItemKind { key, query, rowStats };

/// The memrefs and grid position of a backward work item: q [B, Hq, Lq,
/// D] ... as the exported backward's parameters (any strides), the
/// runtime's head-alive bytes [Hq] (i8), the row temporary (null without
/// entropy), the call words; `phase` only for the exported kernel, whose
/// items dispatch on it.
struct BackwardWorkItem {
  Value q, k, v, o, lse, dout, dentropy, dq, dk, dv;
  Value aliveMask, rowStats, dqSums, callWords; // dqSums: null in layers
  Value phase, batch, head, tile, alive;
  // A padded or packed batch's lengths and offsets (null when absent):
  // `batch` is then the sequence, and with cuSeqlensQ the grid has one more
  // item row, for the rows (and keys) past the last sequence.
  Value kvLens = {}, qLens = {}, cuSeqlensQ = {}, cuSeqlensK = {};
};

/// The tiles of `attention`'s backward items (0: chosen), failing with an
/// error when they cannot fit a work item's scratch; `wholeHeadItems` says
/// where items that own whole KV heads may sum dq, `bf16Dot` whether the
/// target has AVX512-BF16 (the choice of tiles and items does not depend
/// on it: every ISA copy of a kernel has the same grid).
FailureOr<BackwardItemChoice>
chooseBackwardItems(AttentionOp attention, int64_t vectorWidth, int64_t rows,
                    int64_t keys, WholeHeadItems wholeHeadItems, bool bf16Dot);

/// Emits at `b`'s insertion point one backward work item of `kind`.
void emitBackwardWorkItem(OpBuilder &b, ModuleOp module, StringRef prefix,
                          AttentionOp attention,
                          const BackwardItemChoice &choice,
                          const BackwardWorkItem &item, BackwardItemKind kind);

/// mha-tile for a function computing mha.attention_kl (TileKl.cpp): the
/// kernel of its loss and, with mha.backward, of `<name>_backward`.
LogicalResult tileKlFunction(func::FuncOp func, AttentionKlOp kl,
                             int64_t vectorWidth);

/// mha-tile for a function computing mha.merge_states (TileMerge.cpp).
LogicalResult tileMergeFunction(func::FuncOp func, MergeStatesOp merge);

/// New keys per append work item: appends are a few keys per sequence when
/// decoding, a prompt's worth when prefilling.
inline constexpr int64_t kAppendRows = 64;

/// The memrefs and grid position of one append work item: new keys
/// [tile * kAppendRows, ...) of KV head `kvHead` of sequence `batch`. The
/// scales are null for caches that are not quantized, the table for
/// contiguous ones.
struct AppendWorkItem {
  // vNew and vCache are null for a cache of keys only.
  Value kNew, vNew, kvLens, blockTable, kCache, vCache, keyScale, valueScale;
  Value batch, kvHead, tile;
  // A layer step's new rows per sequence (null when all L are new): its
  // first qLens[s], or packed rows cuSeqlensQ[s] .. [s + 1] - 1 of batch 0
  // (the grid then has an item row past the last sequence, which writes
  // nothing).
  Value qLens = {}, cuSeqlensQ = {};
};

/// Emits at `b`'s insertion point the work item of an append (with RoPE at
/// the cache positions when `ropeTheta` is set).
void emitAppendWorkItem(OpBuilder &b, Location loc, ModuleOp module,
                        StringRef name, std::optional<double> ropeTheta,
                        const AppendWorkItem &item);

/// Replaces an append function (one mha.append_kv, matchAppendFunction) by
/// the kernel of its work items (TileAppend.cpp).
LogicalResult tileAppendFunction(ModuleOp module, func::FuncOp func,
                                 AppendKvOp append);

/// mha-tile for a function computing an expanded layer (TileLayer.cpp).
LogicalResult tileLayerFunction(
    ModuleOp module, func::FuncOp func,
    function_ref<TileChoice(int64_t, int64_t, Type, bool, int64_t)> chooseTiles,
    int64_t vectorWidth, bool bf16Dot);

} // namespace mlir::mha

#endif // MHA_LIB_DIALECT_MHA_TRANSFORMS_TILEATTENTION_H
