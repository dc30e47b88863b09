//===- TileAttention.cpp - mha.attention to work-item kernels ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Turns each exported function computing one mha.attention into the kernel
// of one work item (b, h, t) in the tiled online-softmax form. The key loop
// of a head visits only the tiles its masks can make visible: the sink range
// [0, min(sinks, causal bound)) and the window range [max(lo, sinks), hi),
// where lo and hi come from the head's window and the causal diagonal. Only
// tiles that cross a mask boundary run the masked step.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/Constants.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/KeyVisibility.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include <limits>

#define DEBUG_TYPE "mha-tile"

namespace mlir::mha {
#define GEN_PASS_DEF_MHATILEPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Rank-reducing subview of `source` at `offsets` keeping the trailing
/// `sizes.size()` dimensions with unit strides.
Value subviewTrailing(OpBuilder &b, Location loc, Value source,
                      ArrayRef<OpFoldResult> offsets,
                      ArrayRef<OpFoldResult> trailingSizes) {
  auto type = cast<MemRefType>(source.getType());
  SmallVector<OpFoldResult> sizes(type.getRank() - trailingSizes.size(),
                                  b.getIndexAttr(1));
  sizes.append(trailingSizes.begin(), trailingSizes.end());
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  SmallVector<int64_t> staticSizes;
  for (OpFoldResult s : trailingSizes) {
    std::optional<int64_t> c = getConstantIntValue(s);
    staticSizes.push_back(c ? *c : ShapedType::kDynamic);
  }
  auto resultType = memref::SubViewOp::inferRankReducedResultType(
      staticSizes, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, loc, cast<MemRefType>(resultType), source,
                                   offsets, sizes, strides);
}

/// The most rows of a group item (query heads x query rows): decoding
/// steps of one to a few rows per head.
constexpr int64_t kMaxGroupRows = 64;
/// Head dims (D + Dv) from which decoding is compute-bound on a CPU (MLA's
/// latent heads, 576 + 512: about 30 flops per byte of cache with 16 heads),
/// and the query heads a group item then takes when the call has fewer
/// groups than threads: the group's heads are split across items (each
/// reading the keys) so that a sequence's group keeps several cores busy.
constexpr int64_t kComputeBoundHeadDims = 512;
constexpr int64_t kComputeBoundGroupHeads = 8;

struct MhaTilePass : public mha::impl::MhaTilePassBase<MhaTilePass> {
  using MhaTilePassBase::MhaTilePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (rowsPerItem < 0 || keysPerTile < 0 || bandRows < 0 || vectorWidth < 1 ||
        scoreRows < 0 || scoreVectors < 0 || outputRows < 0 ||
        outputVectors < 0) {
      module.emitError() << "mha-tile: tile options must be >= 0 and "
                         << "vector-width >= 1";
      return signalPassFailure();
    }
    FailureOr<SmallVector<func::FuncOp>> funcs =
        collectExportedFunctions(module);
    if (failed(funcs))
      return signalPassFailure();
    for (func::FuncOp func : *funcs) {
      // A layer's decoding step appends too: layers are told by their
      // projections.
      bool isLayer = !func.getOps<LinearOp>().empty();
      auto appends = func.getOps<AppendKvOp>();
      if (!isLayer && !appends.empty()) {
        if (failed(tileAppendFunction(module, func, *appends.begin())))
          return signalPassFailure();
        continue;
      }
      auto losses = func.getOps<AttentionKlOp>();
      if (!losses.empty()) {
        if (failed(tileKlFunction(func, *losses.begin(), vectorWidth)))
          return signalPassFailure();
        continue;
      }
      auto merges = func.getOps<MergeStatesOp>();
      if (!merges.empty()) {
        if (failed(tileMergeFunction(func, *merges.begin())))
          return signalPassFailure();
        continue;
      }
      LogicalResult tiled =
          isLayer ? tileLayerFunction(
                        module, func,
                        // A layer's attention runs on its
                        // temporaries, of the type it chooses.
                        [&](int64_t d, int64_t dv, Type elt, bool allWindowed,
                            int64_t gatheredBytesPerKey) {
                          return chooseTiles(func.getContext(), d, dv, elt,
                                             allWindowed, gatheredBytesPerKey);
                        },
                        vectorWidth, bf16Dot)
                  : tileFunction(func);
      if (failed(tiled))
        return signalPassFailure();
    }
  }

  LogicalResult tileFunction(func::FuncOp func);

  /// Chooses tiles for head dims D and Dv: the S micro-kernel keeps
  /// scoreRows x scoreVectors accumulators in registers, the P.V one
  /// outputRows x outputVectors (16 of the 32 AVX-512 registers each, the
  /// rest for operands); a kv tile is a whole number of S blocks; large
  /// q-tiles amortise packing a key tile over many rows while the scratch
  /// buffers stay within L2. `allWindowed`: every head sees a window of
  /// keys (not the whole causal or full range).
  TileChoice chooseTiles(MLIRContext *ctx, int64_t headDim, int64_t valueDim,
                         Type elementType, bool allWindowed,
                         int64_t gatheredBytesPerKey = 0) const {
    int64_t vw = vectorWidth;
    int64_t valueVectors = (valueDim + vw - 1) / vw;
    // AVX-512 has 32 vector registers, AVX2 and SSE 16: half as many
    // accumulators below 16 lanes.
    int64_t accVectors = vw >= 16 ? 4 : 2;
    int64_t sRows = scoreRows ? scoreRows : 4;
    int64_t sVecs = scoreVectors ? scoreVectors : accVectors;
    int64_t oRows = outputRows ? outputRows : 4;
    int64_t oVecs = outputVectors ? outputVectors
                                  : std::min<int64_t>(accVectors, valueVectors);
    // Every block of the value dim has oVecs vectors.
    int64_t paddedValueDim = roundUp(valueDim, vw * oVecs);
    // 128-key tiles beat 64 by 5-6% at D <= 128 (f32, AVX-512, 2 threads).
    int64_t colsChoice = keysPerTile ? keysPerTile : headDim > 128 ? 64 : 128;
    colsChoice = roundUp(colsChoice, vw * sVecs);
    // Larger q-tiles pack each key tile for more rows (measured on AVX-512,
    // D = 128: 128 rows beat 64 by 10-30%, 256 beat 128 by 5-8%, 512 beat
    // 256 by 3% without masks and 3-4% causal, f32, D = 64 and 128,
    // L = 2048, 2 threads; the micro-kernels skip the keys past the
    // diagonal); where every head is windowed a taller tile spans more
    // masked keys and 128 is 5% faster. The scores of a band of rows stay
    // in L2 (bands of 32, 64 and 128 rows within 2% of each other).
    int64_t rowsChoice = rowsPerItem     ? rowsPerItem
                         : headDim > 256 ? 32
                         : headDim > 128 ? 64
                         : allWindowed   ? 128
                                         : 512;
    // vdpbf16ps sums pairs: of head-dim elements in S (D even), of keys in
    // P.V (C is even).
    DotProduct dot =
        bf16Dot && elementType.isBF16() && vw == 16 && headDim % 2 == 0
            ? DotProduct::bf16_pairs
            : DotProduct::fma;
    auto kernel =
        MicroKernelAttr::get(ctx, vw, sRows, sVecs, oRows, oVecs, dot);
    auto withRows = [&](int64_t rows, int64_t cols) -> TileChoice {
      int64_t band = std::min<int64_t>(bandRows ? bandRows : 64, rows);
      return {rows, cols, band, paddedValueDim, kernel, gatheredBytesPerKey};
    };
    // The preferred tiles can exceed the scratch budget when Dv is much
    // larger than D (rows are chosen by D): halve what the options leave
    // free, rows first, until they fit. Any valid head dims fit at
    // sRows x (vw * sVecs) tiles.
    TileChoice tiles = withRows(rowsChoice, colsChoice);
    auto fits = [&](const TileChoice &t) {
      return workItemScratchBytes(t, headDim, elementType) <=
             kMaxWorkItemScratchBytes;
    };
    while (!fits(tiles) && !rowsPerItem && tiles.rows / 2 >= sRows)
      tiles = withRows(tiles.rows / 2, tiles.cols);
    while (!fits(tiles) && !keysPerTile && tiles.cols / 2 >= vw * sVecs)
      tiles = withRows(tiles.rows, roundUp(tiles.cols / 2, vw * sVecs));
    return tiles;
  }
};

LogicalResult MhaTilePass::tileFunction(func::FuncOp func) {
  FailureOr<AttentionOp> matched = matchExportableFunction(func);
  if (failed(matched))
    return failure();
  AttentionOp attention = *matched;
  MLIRContext *ctx = func.getContext();
  Location loc = attention.getLoc();
  ModuleOp module = getOperation();

  AttentionShape shape = AttentionShape::get(attention);
  int64_t numHeads = shape.numHeads, numKvHeads = shape.numKvHeads;
  int64_t headDim = shape.headDim, valueDim = shape.valueDim;
  if (headDim > kMaxCpuHeadDim || valueDim > kMaxCpuHeadDim)
    return attention.emitError()
           << "head dims D = " << headDim << ", Dv = " << valueDim
           << " are not supported by the CPU pipeline (at most "
           << kMaxCpuHeadDim << ")";
  AttentionVariant variant =
      AttentionVariant::get(attention, numHeads, numKvHeads, headDim);

  // C parameters: the arguments, then the results in return order.
  SmallVector<Parameter> params = getExportedParameters(func, attention);

  // The kernel signature: one memref per parameter, the call words (the
  // dropout seed and offset, explicit positions), then b, h, t, alive.
  KernelSignature signature = buildKernelSignature(ctx, params);
  SmallVector<Type> argTypes = signature.argTypes;
  argTypes.push_back(getCallWordsType(ctx));
  // A call may split each sequence's keys across items (KernelAbi.h,
  // split-KV) unless it returns probabilities or entropy or drops out:
  // then the runtime's partial buffers follow.
  bool splitKv = !attention.getReturnProbs() && !attention.getReturnEntropy() &&
                 !variant.hasDropout;
  if (splitKv) {
    Type f32 = Float32Type::get(ctx);
    int64_t dyn = ShapedType::kDynamic;
    argTypes.append({MemRefType::get({dyn, valueDim}, f32),
                     MemRefType::get({dyn}, f32),
                     MemRefType::get({dyn}, IntegerType::get(ctx, 32))});
  }
  IndexType indexType = IndexType::get(ctx);
  argTypes.append({indexType, indexType, indexType, IntegerType::get(ctx, 1)});

  Type elt = shape.query.getElementType();
  TileChoice tiles =
      chooseTiles(ctx, headDim, valueDim, elt, variant.allHeadsWindowed(),
                  getGatheredBytesPerKey(attention, elt));
  tiles = chooseGroupedTiles(attention, variant, tiles);
  if (failed(
          checkScratchBudget(attention, tiles, shape.query.getElementType())))
    return failure();
  OpBuilder b(func);
  std::string name = func.getSymName().str();
  func::FuncOp kernel = createKernelFunction(b, func.getLoc(), name, argTypes,
                                             tiles.rows, numHeads, signature);
  kernel->setAttr(kCallWordsAttrName, UnitAttr::get(ctx));
  if (splitKv) {
    kernel->setAttr(
        kSplitKvAttrName,
        b.getDenseI64ArrayAttr(
            {numKvHeads, valueDim, findParameter(params, TensorRole::key),
             findParameter(params, TensorRole::block_table)}));
  }
  Block *entry = kernel.addEntryBlock();
  b.setInsertionPointToStart(entry);

  // Map each role to its kernel argument.
  auto argFor = [&](Value tensor) {
    return getParameterArgument(func, *entry, tensor);
  };
  unsigned numParams = params.size();
  Value rng = entry->getArgument(numParams++);
  Value splitOutputs, splitLse, splitArrivals;
  if (splitKv) {
    splitOutputs = entry->getArgument(numParams++);
    splitLse = entry->getArgument(numParams++);
    splitArrivals = entry->getArgument(numParams++);
  }
  Value batchIdx = entry->getArgument(numParams);
  Value head = entry->getArgument(numParams + 1);
  Value tile = entry->getArgument(numParams + 2);
  Value aliveArg = entry->getArgument(numParams + 3);

  emitAttentionWorkItem(b, module, name, attention, tiles,
                        {argFor(attention.getQuery()),
                         argFor(attention.getKey()),
                         argFor(attention.getValue()),
                         argFor(attention.getOutput()),
                         argFor(attention.getLse()),
                         argFor(attention.getProbs()),
                         argFor(attention.getEntropy()),
                         argFor(attention.getKvLens()),
                         argFor(attention.getQLens()),
                         argFor(attention.getBlockTable()),
                         argFor(attention.getCuSeqlensQ()),
                         argFor(attention.getCuSeqlensK()),
                         batchIdx,
                         head,
                         tile,
                         aliveArg,
                         rng,
                         argFor(attention.getKeyScale()),
                         argFor(attention.getValueScale()),
                         splitOutputs,
                         splitLse,
                         splitArrivals});
  func::ReturnOp::create(b, loc);

  func.erase();
  return success();
}

} // namespace

int64_t mlir::mha::getGatheredBytesPerKey(AttentionOp attention,
                                          Type queryElt) {
  // Paged keys are gathered and quantized ones may be dequantized into
  // tiles of at most the query's type, with two f32 row scales.
  AttentionShape shape = AttentionShape::get(attention);
  bool quantized = bool(attention.getKeyScale());
  int64_t bytes = attention.getBlockTable() || quantized
                      ? (shape.headDim + shape.valueDim) *
                            int64_t(queryElt.getIntOrFloatBitWidth() / 8)
                      : 0;
  return bytes + (quantized ? 8 : 0);
}

TileChoice mlir::mha::chooseGroupedTiles(AttentionOp attention,
                                         const AttentionVariant &variant,
                                         TileChoice tiles) {
  // Decoding: heads of a group that share their parameters compute a
  // short query tile of all of them at once, so each key tile is read and
  // packed once per group (section 4.6). Whether a tile is short enough
  // is decided at run time (emit()), so prefill is unchanged.
  if (variant.groupSize() <= 1 || !variant.groupsShareParameters() ||
      variant.hasAlibi || variant.hasDropout || attention.getReturnProbs())
    return tiles;
  AttentionShape shape = AttentionShape::get(attention);
  TileChoice grouped = tiles;
  grouped.groupRows = std::min<int64_t>(tiles.rows, kMaxGroupRows);
  grouped.groupHeads = variant.groupSize();
  if (shape.headDim + shape.valueDim >= kComputeBoundHeadDims)
    while (grouped.groupHeads > kComputeBoundGroupHeads &&
           grouped.groupHeads % 2 == 0)
      grouped.groupHeads /= 2;
  if (grouped.groupRows >= grouped.groupHeads &&
      workItemScratchBytes(grouped, shape.headDim,
                           shape.query.getElementType()) <=
          kMaxWorkItemScratchBytes)
    return grouped;
  return tiles;
}

/// A work item's scratch but for copied query rows: per row the
/// accumulator and four row states; a band of scores; the packed keys and
/// values.
static int64_t scratchBytesBesideQueryRows(const TileChoice &tiles,
                                           int64_t headDim) {
  return 4 * (tiles.rows * (tiles.paddedValueDim + 4) +
              tiles.bandRows * tiles.cols +
              tiles.cols * (headDim + tiles.paddedValueDim)) +
         tiles.cols * tiles.gatheredBytesPerKey;
}

bool mlir::mha::copiesQueryRows(const TileChoice &tiles, Type queryElt,
                                int64_t headDim) {
  if (tiles.microKernel.getDot() != DotProduct::fma)
    return false;
  if (!queryElt.isF32())
    return true;
  // f32 rows are copied too where the copy fits beside the tiles: rows of
  // a [B, L, H, D] view are H * D apart, and the S micro-kernel reading
  // them in place evicts its own lines from L1 (a multiple of 4 KiB apart:
  // one set); rows off a 64-byte line split every load (docs/
  // performance.md, "Layouts").
  return headDim <= kCopiedF32QueryDim &&
         scratchBytesBesideQueryRows(tiles, headDim) +
                 4 * tiles.rows * headDim <=
             kMaxWorkItemScratchBytes;
}

int64_t mlir::mha::workItemScratchBytes(const TileChoice &tiles,
                                        int64_t headDim, Type queryElt) {
  int64_t queryRows =
      copiesQueryRows(tiles, queryElt, headDim) ? 4 * tiles.rows * headDim : 0;
  return scratchBytesBesideQueryRows(tiles, headDim) + queryRows;
}

LogicalResult mlir::mha::checkScratchBudget(AttentionOp attention,
                                            const TileChoice &tiles,
                                            Type queryElt) {
  int64_t headDim = AttentionShape::get(attention).headDim;
  int64_t scratchBytes = workItemScratchBytes(tiles, headDim, queryElt);
  if (scratchBytes <= kMaxWorkItemScratchBytes)
    return success();
  return attention.emitError()
         << "tiles of " << tiles.rows << " rows x " << tiles.cols
         << " keys need " << scratchBytes
         << " bytes of scratch per work item, more than the "
         << kMaxWorkItemScratchBytes << " allowed: use smaller rows/cols";
}

namespace {

/// Emits one attention work item (emitAttentionWorkItem) in steps: the
/// views of its tiles, its scratch and running state, the key loops over
/// the ranges its head can see, and the finalisation.
class WorkItemEmitter {
public:
  WorkItemEmitter(OpBuilder &b, ModuleOp module, StringRef name,
                  AttentionOp attention, const TileChoice &tiles,
                  const AttentionWorkItem &item)
      : b(b), loc(attention.getLoc()), cb(b, loc), module(module), name(name),
        attention(attention), tiles(tiles), item(item),
        shape(AttentionShape::get(attention)),
        variant(AttentionVariant::get(attention, shape.numHeads,
                                      shape.numKvHeads, shape.headDim)) {}

  void emit();

private:
  /// Rows of the work item, the KV head, the head's parameters and the
  /// views of q, k, v and the results.
  void emitViews();
  /// The item's sequence (docs/language.md 4.6): where its query rows and
  /// keys start in q and k, how many there are, and which of the tile's
  /// rows are real (the others are q_lens padding).
  void emitSequence();
  /// Element `i` of the i32 serving tensor `lengths`, as an index.
  Value loadIndex(Value lengths, ValueRange i) {
    return cb.indexCast(b.getIndexType(),
                        memref::LoadOp::create(b, loc, lengths, i));
  }
  /// What keyTile does with the rows of an i8 cache (all null otherwise).
  struct RowScaling {
    Value headScale;  // Multiply each gathered row by this f32, or
    Value pageScales; // by pageScales[page, kvHead] of its page, or with
    Value rowScales;  // this [cols] f32 buffer, gather the rows as they
                      // are and record each one's page scale at its row.
  };
  /// Keys [j0, j0 + n) of k or v (`pool`, `gathered`, `dim` columns): a
  /// view of the head's rows, or with block_table a view into their page
  /// when one page holds them all, else their rows gathered into
  /// `gathered`. Rows of an i8 cache with a `scaling` are always gathered.
  /// With `pagePrefetchEnd`, gathering row r also prefetches row r of the
  /// next tile (clamped below that end): its pages are known only through
  /// the block table, so no hardware prefetcher finds them.
  Value keyTile(Value pool, Value head, Value gathered, int64_t dim, Value j0,
                Value n, RowScaling scaling);
  /// An i8 row of a quantized cache times its f32 scale, as `elt`.
  Value dequantizeRow(Value row, Value scale, Type elt);
  /// Rows [rows, tileRows) past q_lens: no visible key, so o = 0, lse =
  /// -inf, entropy = 0 and probs = 0.
  void emitPaddingRows(Value queryHead);
  /// Word i of the call words the runtime passes (KernelAbi.h).
  Value callWord(int64_t i);
  /// Call word i (unsigned) as an index.
  Value callIndex(int64_t i);
  /// The rows' diagonal offset and the sinks, from the explicit positions
  /// when the call gives them (mha_options.use_positions).
  void emitPositions();
  /// The dropout words of the steps: the seed and offset the runtime
  /// passes, the Philox stream b * Hq + h, the first row's position, the
  /// threshold, the first key's position.
  void emitDropoutWords();
  /// Running state of `stateRows` rows and step scratch (on the stack),
  /// initialised; the query rows of the tile, or of the group's heads.
  void emitState(Value stateRows, bool grouped);
  /// The tile's query rows for the steps: widened to f32 where they are
  /// not read in place.
  void emitQueryRows(Value stateRows);
  /// The rows of every query head of the group (heads g0 .. g0 + G - 1,
  /// head after head) copied into one buffer.
  void emitGroupQueryRows(Value stateRows);
  /// The key loops, finalisation and padding of the item's rows; with
  /// `grouped` those of every head of its group, as one tile.
  void emitAttention(bool grouped);
  /// The results of the item's rows from the state (every head of the
  /// group with `grouped`): o, lse, entropy and probs.
  void emitResults(bool grouped, Value groupSize);
  /// Split-KV: the item's part of the results into the runtime's partial
  /// buffers; the last part of the tile to arrive merges them all.
  void emitPartialResults(Value groupSize);
  /// `body(queryHead, first)` for each of the item's `groupSize` query
  /// heads, whose rows start at state row `first`.
  void forEachItemHead(Value groupSize, function_ref<void(Value, Value)> body);
  /// The state rows [first, first + rows) finalised into `out`, `lse` and
  /// `entropy` (null: not returned); lse gets each row's ALiBi bias back.
  void finalizeRows(Value first, Value out, Value lse, Value entropy);
  /// Row i of the sequence's query head h merged from its S partial
  /// results.
  void emitMergedRow(Value h, Value i);
  /// Row ((s B + b) Hq + h) Lq + i of the partial buffers: row i of the
  /// sequence b (B and Lq are the call's grid, KernelAbi.h).
  Value partialRow(Value s, Value h, Value i);
  /// One step over keys [j0, j0 + n).
  void emitStep(Value j0, Value n, bool masked);
  /// Prefetches of every cache line of keys and values [from, to) of a
  /// contiguous cache.
  void emitPrefetch(Value from, Value to);
  /// Prefetches of every cache line of the row of `memref` at `row` (all
  /// indices but the last), `dim` elements.
  void emitRowPrefetch(Value memref, ValueRange row, int64_t dim);
  /// A loop over [begin, end) in key tiles; `needsMask(j0, j1)` decides
  /// per tile whether the masked step runs.
  void emitKeyLoop(Value begin, Value end,
                   function_ref<Value(Value, Value)> needsMask);
  /// Rank-reducing subview of a parameter at (batch, head, ...).
  Value view(Value source, ArrayRef<OpFoldResult> offsets,
             ArrayRef<OpFoldResult> trailingSizes) {
    return subviewTrailing(b, loc, source, offsets, trailingSizes);
  }
  Value buffer(ArrayRef<int64_t> shape, Type elt) {
    return memref::AllocaOp::create(b, loc, MemRefType::get(shape, elt),
                                    ValueRange{}, b.getI64IntegerAttr(64));
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  ModuleOp module;
  StringRef name;
  AttentionOp attention;
  const TileChoice &tiles;
  const AttentionWorkItem &item;
  AttentionShape shape;
  AttentionVariant variant;

  // Set by emitSequence: the sequence's query rows and keys, where they
  // start in q (batch qBatch) and k (batch kBatch), the tile's rows in q
  // and the real ones among them (`rows`).
  Value queryLen, keyLen, qBatch, qBase, kBatch, kBase, row0, tileRows, rows;
  // Split-KV items: the parts S, this item's part and its query tile.
  Value splitCount, splitPart, tileIndex;
  // Set by emitViews.
  Value alive, kvHead;
  Value kGathered, vGathered; // Gathered (paged) or dequantized K, V tiles.
  // An i8 cache's scales of the item's KV head (null when per page), and
  // whether the steps dequantize the i8 tiles as they pack them (fma
  // micro-kernels) rather than the gather; with scales per page, the
  // steps' [cols] scales of the tile's rows.
  Value kHeadScale, vHeadScale;
  bool stepDequantizes = false;
  Value kRowScales, vRowScales;
  SmallVector<Value> dropoutWords; // the step's `dropout` operands
  // Row i's diagonal key is i + diagOffset; the sink keys are [0, sinks);
  // query row i and key j are at positions queryStart + i, keyStart + j.
  Value diagOffset, sinks, queryStart, keyStart;
  HeadParams head;
  Value qTile, kHead, vHead, oTile, lseTile, entropyTile;
  /// The key loop's end while its gathers prefetch the next tile's pages
  /// (keyTile), else null.
  Value pagePrefetchEnd;
  // Set by emitState.
  Value acc, accOut, rowMax, rowSum, rowEnt, qPacked, keyScratch, valueScratch,
      scoreScratch, alphaScratch, probsTile;
  // Group items: the rows each head has in the tile (null otherwise).
  Value rowsPerHead;
  Value groupHeads; // Query heads of a group item (emit()).
  // The steps' `max_rows` where the static query length bounds the rows
  // of every tile below the tile's rows (decoding), else 0 (emitAttention).
  int64_t maxStepRows = 0;
  KeyRanges ranges;
};

void WorkItemEmitter::emitSequence() {
  Value zero = cb.index(0), one = cb.index(1);
  Value rowsConst = cb.index(tiles.rows);
  Value qRows = memref::DimOp::create(b, loc, item.q, 2);
  tileIndex = item.tile;
  if (item.splitOutputs) {
    splitCount = callIndex(MHA_SPLIT_KV_COUNT);
    tileIndex = cb.divUI(item.tile, splitCount);
    splitPart = arith::RemUIOp::create(b, loc, item.tile, splitCount);
  }
  row0 = cb.mul(tileIndex, rowsConst);
  queryLen = qRows;
  qBatch = kBatch = item.batch;
  qBase = kBase = zero;
  // With packed queries, item S (past the last sequence) covers the rows
  // after cu_seqlens_q[S]: a sequence without keys.
  Value isSequence = cb.boolean(true);
  if (Value cu = item.cuSeqlensQ) {
    Value last = cb.sub(memref::DimOp::create(b, loc, cu, 0), one);
    isSequence = cb.lt(item.batch, last);
    qBatch = zero;
    qBase = loadIndex(cu, cb.minSI(item.batch, last));
    Value end = cb.ifValue(
        isSequence, b.getIndexType(),
        [&] { return loadIndex(cu, cb.add(item.batch, one)); },
        [&] { return qRows; });
    queryLen = cb.sub(end, qBase);
  } else if (item.qLens) {
    queryLen = loadIndex(item.qLens, item.batch);
  }
  // The keys of a sequence; 0 for item S (nothing may be loaded for it).
  auto sequenceValue = [&](function_ref<Value()> load) {
    if (!item.cuSeqlensQ)
      return load();
    return cb.ifValue(isSequence, b.getIndexType(), load,
                      [&] { return cb.index(0); });
  };
  if (item.kvLens) {
    keyLen = sequenceValue([&] { return loadIndex(item.kvLens, item.batch); });
    if (item.kvLensOffset)
      keyLen = cb.add(keyLen, item.kvLensOffset);
  } else if (Value cu = item.cuSeqlensK) {
    kBatch = zero;
    kBase = sequenceValue([&] { return loadIndex(cu, item.batch); });
    Value end =
        sequenceValue([&] { return loadIndex(cu, cb.add(item.batch, one)); });
    keyLen = cb.sub(end, kBase);
  } else {
    keyLen = sequenceValue(
        [&] { return Value(memref::DimOp::create(b, loc, item.k, 2)); });
  }
  // The tile's rows of q: those of the sequence (packed) or of the padded
  // rows (q_lens), of which the first `rows` are real.
  auto clamp = [&](Value n) { return cb.maxSI(zero, cb.minSI(rowsConst, n)); };
  tileRows = item.cuSeqlensQ ? clamp(cb.sub(queryLen, row0))
                             : cb.minSI(rowsConst, cb.sub(qRows, row0));
  rows =
      item.qLens ? cb.minSI(tileRows, clamp(cb.sub(queryLen, row0))) : tileRows;
}

Value WorkItemEmitter::keyTile(Value pool, Value headRows, Value gathered,
                               int64_t dim, Value j0, Value n,
                               RowScaling scaling) {
  Value zero = cb.index(0);
  OpFoldResult nOfr = n;
  bool dequantize =
      !scaling.rowScales && (scaling.pageScales || scaling.headScale);
  bool mustGather = dequantize || scaling.rowScales;
  if (!item.blockTable && !mustGather)
    return view(headRows, {j0, zero}, {nOfr, b.getIndexAttr(dim)});
  Type tileElt = cast<MemRefType>(gathered.getType()).getElementType();
  auto tileType = MemRefType::get(
      {ShapedType::kDynamic, dim}, tileElt,
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                             {ShapedType::kDynamic, 1}));
  Value pageSize =
      item.blockTable ? memref::DimOp::create(b, loc, pool, 2) : Value();
  auto page = [&](Value key) {
    return loadIndex(item.blockTable, {item.batch, cb.divUI(key, pageSize)});
  };
  auto slot = [&](Value key) {
    return arith::RemUIOp::create(b, loc, key, pageSize).getResult();
  };
  // Rows [j0, j0 + n) copied into `gathered`, dequantized or with their
  // scales recorded.
  auto gather = [&] {
    auto rowType = VectorType::get(
        {dim}, cast<MemRefType>(pool.getType()).getElementType());
    cb.forLoop(zero, n, 1, [&](Value r) {
      Value key = cb.add(j0, r);
      Value row, scale = scaling.headScale;
      if (item.blockTable) {
        Value p = page(key);
        row = vector::LoadOp::create(b, loc, rowType, pool,
                                     ValueRange{p, kvHead, slot(key), zero});
        if (pagePrefetchEnd) {
          Value next =
              cb.minSI(cb.add(key, n), cb.sub(pagePrefetchEnd, cb.index(1)));
          emitRowPrefetch(pool, {page(next), kvHead, slot(next)}, dim);
        }
        if (scaling.pageScales)
          scale = memref::LoadOp::create(b, loc, scaling.pageScales,
                                         ValueRange{p, kvHead});
        if (scaling.rowScales)
          memref::StoreOp::create(b, loc, scale, scaling.rowScales, r);
      } else {
        row = vector::LoadOp::create(b, loc, rowType, headRows,
                                     ValueRange{key, zero});
      }
      if (dequantize)
        row = dequantizeRow(row, scale, tileElt);
      vector::StoreOp::create(b, loc, row, gathered, ValueRange{r, zero});
    });
    Value rowsView = view(gathered, {zero, zero}, {nOfr, b.getIndexAttr(dim)});
    return Value(memref::CastOp::create(b, loc, tileType, rowsView));
  };
  if (mustGather)
    return gather();
  Value last = cb.sub(cb.add(j0, n), cb.index(1));
  Value onePage = cb.cmpI(arith::CmpIPredicate::eq, cb.divUI(j0, pageSize),
                          cb.divUI(last, pageSize));
  return cb.ifValue(
      onePage, tileType,
      [&] {
        Value inPage = view(pool, {page(j0), kvHead, slot(j0), zero},
                            {nOfr, b.getIndexAttr(dim)});
        if (inPage.getType() == tileType)
          return inPage;
        return Value(memref::CastOp::create(b, loc, tileType, inPage));
      },
      gather);
}

Value WorkItemEmitter::dequantizeRow(Value row, Value scale, Type elt) {
  auto type = cast<VectorType>(row.getType());
  auto f32Type = VectorType::get(type.getShape(), b.getF32Type());
  Value wide = arith::SIToFPOp::create(b, loc, f32Type, row);
  Value scaled = arith::MulFOp::create(
      b, loc, wide, vector::BroadcastOp::create(b, loc, f32Type, scale));
  if (elt.isF32())
    return scaled;
  return arith::TruncFOp::create(b, loc, VectorType::get(type.getShape(), elt),
                                 scaled);
}

void WorkItemEmitter::emitViews() {
  int64_t headDim = shape.headDim, valueDim = shape.valueDim;
  Value q = item.q, k = item.k, v = item.v;
  emitSequence();
  kvHead = cb.divUI(item.head, cb.index(variant.groupSize()));
  head = emitHeadParams(cb, module, name, variant, item.head);
  // An item without real rows computes nothing.
  alive =
      cb.andI(cb.andI(item.alive, head.staticAlive), cb.gt(rows, cb.index(0)));

  Value zero = cb.index(0);
  Value qRow0 = cb.add(qBase, row0);
  OpFoldResult rowsOfr = rows, keyLenOfr = keyLen;
  qTile = view(q, {qBatch, item.head, qRow0, zero},
               {rowsOfr, b.getIndexAttr(headDim)});
  auto headScale = [&](Value scales) -> Value {
    if (!scales || cast<MemRefType>(scales.getType()).getRank() != 1)
      return Value();
    return memref::LoadOp::create(b, loc, scales, kvHead);
  };
  kHeadScale = headScale(item.keyScale);
  vHeadScale = headScale(item.valueScale);
  stepDequantizes =
      item.keyScale && tiles.microKernel.getDot() == DotProduct::fma;
  if (stepDequantizes && !kHeadScale) {
    kRowScales = buffer({tiles.cols}, b.getF32Type());
    vRowScales = buffer({tiles.cols}, b.getF32Type());
  }
  if (item.blockTable || (item.keyScale && !stepDequantizes)) {
    // Tiles the steps read: i8 when they dequantize, else the query's type.
    Type elt = stepDequantizes ? b.getI8Type() : shape.query.getElementType();
    kGathered = buffer({tiles.cols, headDim}, elt);
    vGathered = buffer({tiles.cols, valueDim}, elt);
  }
  if (!item.blockTable) {
    kHead = view(k, {kBatch, kvHead, kBase, zero},
                 {keyLenOfr, b.getIndexAttr(headDim)});
    vHead = view(v, {kBatch, kvHead, kBase, zero},
                 {keyLenOfr, b.getIndexAttr(valueDim)});
  }
  oTile = item.o ? view(item.o, {qBatch, item.head, qRow0, zero},
                        {rowsOfr, b.getIndexAttr(valueDim)})
                 : Value();
  auto rowSlice = [&](Value tensor) -> Value {
    if (!tensor)
      return Value();
    return view(tensor, {qBatch, item.head, qRow0}, {rowsOfr});
  };
  lseTile = rowSlice(item.lse);
  entropyTile = rowSlice(item.entropy);
  emitPositions();
  if (variant.hasDropout)
    emitDropoutWords();
}

Value WorkItemEmitter::callWord(int64_t i) {
  return memref::LoadOp::create(b, loc, item.callWords,
                                ValueRange{cb.index(i)});
}

Value WorkItemEmitter::callIndex(int64_t i) {
  return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), callWord(i));
}

void WorkItemEmitter::emitPositions() {
  if (!item.callWords) { // A layer without dropout: default positions.
    diagOffset = cb.sub(keyLen, queryLen);
    sinks = head.sinks;
    keyStart = queryStart = cb.index(0);
    return;
  }
  CallPositions positions =
      readCallPositions(cb, item.callWords, queryLen, keyLen);
  diagOffset = positions.diagOffset;
  queryStart = positions.queryStart;
  keyStart = positions.keyStart;
  // The sinks are the sequence's first keys: they end at sink_tokens -
  // key_start in this call's keys.
  sinks = cb.sub(head.sinks, keyStart);
}

void WorkItemEmitter::emitDropoutWords() {
  Type i32 = b.getI32Type();
  Value stream =
      cb.add(cb.mul(item.batch, cb.index(shape.numHeads)), item.head);
  dropoutWords = {callWord(MHA_DROPOUT_SEED_LO),
                  callWord(MHA_DROPOUT_SEED_HI),
                  cb.indexCast(i32, stream),
                  callWord(MHA_DROPOUT_OFFSET_LO),
                  cb.indexCast(i32, cb.add(queryStart, row0)),
                  head.dropoutThreshold,
                  cb.indexCast(i32, keyStart)};
}

void WorkItemEmitter::emitState(Value stateRows, bool grouped) {
  // Running state: acc [R, Dvp], max, sum and entropy term [R]; scratch
  // buffers of the steps.
  int64_t headDim = shape.headDim, valueDim = shape.valueDim;
  Type f32 = b.getF32Type();
  int64_t R = tiles.rows, C = tiles.cols, Dvp = tiles.paddedValueDim;
  Value zero = cb.index(0);
  OpFoldResult rowsOfr = stateRows;
  Value accFull = buffer({R, Dvp}, f32);
  acc = view(accFull, {zero, zero}, {rowsOfr, b.getIndexAttr(Dvp)});
  accOut = view(accFull, {zero, zero}, {rowsOfr, b.getIndexAttr(valueDim)});
  auto makeState = [&]() { return view(buffer({R}, f32), {zero}, {rowsOfr}); };
  rowMax = makeState();
  rowSum = makeState();
  rowEnt = makeState();
  // Keys and values of bf16 pairs are packed in pairs ([D/2, 2C] and
  // [C/2, 2 Dvp]).
  bool bf16Pairs = tiles.microKernel.getDot() == DotProduct::bf16_pairs;
  Type bf16 = b.getBF16Type();
  keyScratch = bf16Pairs ? buffer({headDim / 2, 2 * C}, bf16)
                         : buffer({headDim, C}, f32);
  valueScratch =
      bf16Pairs ? buffer({C / 2, 2 * Dvp}, bf16) : buffer({C, Dvp}, f32);
  scoreScratch = buffer({tiles.bandRows, C}, f32);
  alphaScratch = buffer({R}, f32);
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  Value zeroF = cb.f32(0.0f);
  Value zeroRow =
      vector::BroadcastOp::create(b, loc, VectorType::get({Dvp}, f32), zeroF);
  cb.forLoop(zero, stateRows, 1, [&](Value r) {
    memref::StoreOp::create(b, loc, negInf, rowMax, r);
    memref::StoreOp::create(b, loc, zeroF, rowSum, r);
    memref::StoreOp::create(b, loc, zeroF, rowEnt, r);
    vector::StoreOp::create(b, loc, zeroRow, accFull, ValueRange{r, zero});
  });
  if (grouped)
    emitGroupQueryRows(stateRows);
  else
    emitQueryRows(stateRows);

  // Probabilities: the steps record the scores of the keys they visit; the
  // rest stay -inf (invisible).
  if (item.probs) {
    OpFoldResult keyLenOfr = keyLen;
    probsTile = view(item.probs, {item.batch, item.head, row0, zero},
                     {rowsOfr, keyLenOfr});
    cb.forLoop(zero, stateRows, 1, [&](Value r) {
      cb.forLoop(zero, keyLen, 1, [&](Value j) {
        memref::StoreOp::create(b, loc, negInf, probsTile, ValueRange{r, j});
      });
    });
  }
}

void WorkItemEmitter::emitQueryRows(Value stateRows) {
  // Query rows are copied (f16 and bf16 widened to f32) into contiguous
  // rows once for all key tiles (copiesQueryRows); bf16 ones for bf16
  // pairs, and f32 ones of wide heads, are read in place.
  int64_t headDim = shape.headDim;
  Type qElt = shape.query.getElementType();
  qPacked = qTile;
  if (!copiesQueryRows(tiles, qElt, headDim))
    return;
  Type f32 = b.getF32Type();
  Value zero = cb.index(0);
  Value full = buffer({tiles.rows, headDim}, f32);
  OpFoldResult rowsOfr = stateRows;
  qPacked = view(full, {zero, zero}, {rowsOfr, b.getIndexAttr(headDim)});
  cb.forLoop(zero, stateRows, 1, [&](Value r) {
    SmallVector<Value> indices{r, zero};
    Value qRow = vector::LoadOp::create(
        b, loc, VectorType::get({headDim}, qElt), qTile, indices);
    if (!qElt.isF32())
      qRow =
          arith::ExtFOp::create(b, loc, VectorType::get({headDim}, f32), qRow);
    vector::StoreOp::create(b, loc, qRow, full, indices);
  });
}

void WorkItemEmitter::emitGroupQueryRows(Value stateRows) {
  // The steps read f32 rows, or bf16 ones for bf16 pairs.
  int64_t headDim = shape.headDim;
  Type qElt = shape.query.getElementType();
  bool bf16Pairs = tiles.microKernel.getDot() == DotProduct::bf16_pairs;
  Type bufferElt = bf16Pairs ? qElt : b.getF32Type();
  Value zero = cb.index(0);
  Value full = buffer({tiles.groupRows, headDim}, bufferElt);
  OpFoldResult rowsOfr = stateRows;
  qPacked = view(full, {zero, zero}, {rowsOfr, b.getIndexAttr(headDim)});
  Value qRow0 = cb.add(qBase, row0);
  cb.forLoop(zero, stateRows, 1, [&](Value r) {
    Value queryHead = cb.add(item.head, cb.divUI(r, rowsPerHead));
    Value i = cb.add(qRow0, arith::RemUIOp::create(b, loc, r, rowsPerHead));
    Value qRow =
        vector::LoadOp::create(b, loc, VectorType::get({headDim}, qElt), item.q,
                               ValueRange{qBatch, queryHead, i, zero});
    if (qElt != bufferElt)
      qRow = arith::ExtFOp::create(b, loc,
                                   VectorType::get({headDim}, bufferElt), qRow);
    vector::StoreOp::create(b, loc, qRow, full, ValueRange{r, zero});
  });
}

void WorkItemEmitter::emitStep(Value j0, Value n, bool masked) {
  // Scales per page: the gather records each row's (the steps dequantize),
  // or applies it. Scales per head: the steps, or the gather, apply them.
  bool perPage = item.keyScale && !kHeadScale;
  auto scaling = [&](Value scales, Value headScale,
                     Value rowScales) -> RowScaling {
    if (perPage)
      return {Value(), scales, rowScales};
    return {stepDequantizes ? Value() : headScale, Value(), Value()};
  };
  Value kTile = keyTile(item.k, kHead, kGathered, shape.headDim, j0, n,
                        scaling(item.keyScale, kHeadScale, kRowScales));
  Value vTile = keyTile(item.v, vHead, vGathered, shape.valueDim, j0, n,
                        scaling(item.valueScale, vHeadScale, vRowScales));
  Value kStepScale = !stepDequantizes ? Value()
                     : perPage        ? kRowScales
                                      : kHeadScale;
  Value vStepScale = !stepDequantizes ? Value()
                     : perPage        ? vRowScales
                                      : vHeadScale;
  FloatAttr softcap;
  if (variant.softcap)
    softcap = b.getF32FloatAttr(*variant.softcap);
  OnlineSoftmaxStepOp::create(
      b, loc, qPacked, kTile, vTile, acc, rowMax, rowSum, rowEnt, keyScratch,
      valueScratch, scoreScratch, alphaScratch, probsTile, head.scoreScale,
      head.alibiSlope, ranges.pFirst, j0, head.windowLeft, head.windowRight,
      sinks, dropoutWords, rowsPerHead, kStepScale, vStepScale, softcap,
      variant.causal, variant.hasAlibi, masked, attention.getReturnEntropy(),
      tiles.microKernel,
      maxStepRows ? b.getI64IntegerAttr(maxStepRows) : IntegerAttr());
}

void WorkItemEmitter::emitRowPrefetch(Value memref, ValueRange row,
                                      int64_t dim) {
  int64_t bytes =
      cast<MemRefType>(memref.getType()).getElementTypeBitWidth() / 8;
  for (int64_t c = 0; c < dim; c += kCacheLineBytes / bytes) {
    SmallVector<Value> indices(row);
    indices.push_back(cb.index(c));
    memref::PrefetchOp::create(b, loc, memref, indices, /*isWrite=*/false,
                               /*localityHint=*/3, /*isDataCache=*/true);
  }
}

void WorkItemEmitter::emitPrefetch(Value from, Value to) {
  for (auto [rows, dim] : {std::make_pair(kHead, shape.headDim),
                           std::make_pair(vHead, shape.valueDim)})
    cb.forLoop(from, to, 1, [&, rows = rows, dim = dim](Value r) {
      emitRowPrefetch(rows, r, dim);
    });
}

void WorkItemEmitter::emitKeyLoop(Value begin, Value end,
                                  function_ref<Value(Value, Value)> needsMask) {
  Value cols = cb.index(tiles.cols);
  cb.forLoop(begin, end, cols, [&](Value j0) {
    Value n = cb.minSI(cols, cb.sub(end, j0));
    Value j1 = cb.add(j0, n);
    // Decoding is bound by the cache's reads: ask for the tile after next
    // while this one computes (7% faster bf16 decoding, 10-15% i8 with one
    // thread). Not for f32 caches, whose few-row steps stream K and V in
    // order (6-10% slower with it), nor with wide heads, whose decoding is
    // compute-bound: there the prefetches (a line each) took 38% of MLA's
    // cycles. A paged cache's gathers prefetch the next tile's rows as
    // they go, every dtype (keyTile: 3-7% faster with pages of 16 keys in
    // a shuffled order, whose reads this host serves at 15-19 GB/s even
    // prefetched, against 31 GB/s in order).
    bool f32Cache =
        kHead && cast<MemRefType>(kHead.getType()).getElementType().isF32();
    bool decoding = tiles.groupRows &&
                    shape.headDim + shape.valueDim < kComputeBoundHeadDims;
    pagePrefetchEnd = decoding && item.blockTable ? end : Value();
    if (decoding && kHead && !f32Cache) {
      Value from = cb.minSI(cb.add(j1, n), end);
      emitPrefetch(from, cb.minSI(cb.add(from, n), end));
    }

    cb.ifThenElse(
        needsMask(j0, j1), [&] { emitStep(j0, n, /*masked=*/true); },
        [&] { emitStep(j0, n, /*masked=*/false); });
  });
  pagePrefetchEnd = Value();
}

void WorkItemEmitter::emit() {
  emitViews();
  if (!tiles.groupRows)
    return emitAttention(/*grouped=*/false);
  // A tile whose rows of `group` heads of the KV group fit one group item
  // runs as one, from the item of the first of them (the others have
  // nothing to do), unless a runtime head mask may tell the heads apart.
  // `group` is the whole KV group, or tiles.groupHeads of it when the call
  // has fewer groups (or split-KV parts of groups) than threads.
  Value group = cb.index(variant.groupSize());
  if (tiles.groupHeads < variant.groupSize()) {
    Value packed = item.cuSeqlensK ? item.cuSeqlensK : item.cuSeqlensQ;
    Value sequences =
        packed ? cb.sub(memref::DimOp::create(b, loc, packed, 0), cb.index(1))
               : Value(memref::DimOp::create(b, loc, item.q, 0));
    // (Split-KV items of a group count as groups: they already spread
    // its keys over the threads.)
    Value groups = cb.mul(sequences, cb.index(shape.numKvHeads));
    if (splitCount)
      groups = cb.mul(groups, splitCount);
    Value threads = callIndex(MHA_CALL_THREADS);
    group = arith::SelectOp::create(b, loc, cb.lt(groups, threads),
                                    cb.index(tiles.groupHeads), group);
  }
  groupHeads = group;
  Value fits = cb.le(cb.mul(group, tileRows), cb.index(tiles.groupRows));
  Value noMask = cb.cmpI(arith::CmpIPredicate::eq,
                         callWord(MHA_HEAD_MASK_GIVEN), cb.i32(0));
  cb.ifThenElse(
      cb.andI(fits, noMask),
      [&] {
        Value first = cb.cmpI(arith::CmpIPredicate::eq,
                              arith::RemUIOp::create(b, loc, item.head, group),
                              cb.index(0));
        cb.ifThen(first, [&] { emitAttention(/*grouped=*/true); });
      },
      [&] { emitAttention(/*grouped=*/false); });
}

void WorkItemEmitter::emitAttention(bool grouped) {
  Value groupSize = grouped ? groupHeads : cb.index(1);
  Value stateRows = rows;
  rowsPerHead = Value();
  if (grouped) {
    rowsPerHead = rows;
    stateRows = cb.mul(rows, groupSize);
  }
  // A tile's rows are at most q's (static) rows; a group item's, that
  // many per head of the group, and at most tiles.groupRows (emit()).
  int64_t itemRows = grouped ? tiles.groupRows : tiles.rows;
  int64_t queryRows =
      cast<RankedTensorType>(attention.getQuery().getType()).getDimSize(2);
  maxStepRows = 0;
  if (!ShapedType::isDynamic(queryRows)) {
    int64_t bound = std::min(queryRows, tiles.rows);
    if (grouped)
      bound *= variant.groupSize();
    if (bound < itemRows)
      maxStepRows = bound;
  }
  emitState(stateRows, grouped);
  MaskParams<Value> masks = head.masks(variant);
  masks.sinkTokens = sinks;
  ranges = computeKeyRangesAt(cb, masks, row0, rows, diagOffset, keyLen);
  // A split-KV item visits only its part of the keys: part s of S parts of
  // ceil(keyLen / S) keys rounded up to whole tiles.
  Value sinkLo = cb.index(0), sinkHi = ranges.sinkHi;
  Value windowLo = ranges.windowLo, windowHi = ranges.windowHi;
  if (item.splitOutputs) {
    Value cols = cb.index(tiles.cols);
    Value perPart =
        cb.divUI(cb.add(keyLen, cb.sub(splitCount, cb.index(1))), splitCount);
    Value chunk = cb.mul(
        cb.divUI(cb.add(perPart, cb.sub(cols, cb.index(1))), cols), cols);
    Value partLo = cb.minSI(cb.mul(splitPart, chunk), keyLen);
    Value partHi = cb.minSI(cb.add(partLo, chunk), keyLen);
    sinkLo = partLo;
    sinkHi = cb.minSI(sinkHi, partHi);
    windowLo = cb.maxSI(windowLo, partLo);
    windowHi = cb.minSI(windowHi, partHi);
  }
  // With one query position per head (one row of q), the key ranges are
  // that position's visible keys exactly, and every tile of them is
  // visible whole: no masked step (a decoding function's kernel half the
  // size).
  bool onePosition = queryRows == 1;
  cb.ifThen(alive, [&] {
    // Sink keys: only causal can hide them.
    if (variant.hasSinkKeys())
      emitKeyLoop(sinkLo, sinkHi, [&](Value, Value j1) {
        return onePosition ? cb.boolean(false)
                           : sinkTileNeedsMask(cb, masks, ranges, j1);
      });
    // Window keys: masked when some row of the tile cannot see some key.
    emitKeyLoop(windowLo, windowHi, [&](Value j0, Value j1) {
      return onePosition ? cb.boolean(false)
                         : windowTileNeedsMask(cb, masks, ranges, j0, j1);
    });
  });
  if (!item.splitOutputs)
    return emitResults(grouped, groupSize);
  cb.ifThenElse(
      cb.cmpI(arith::CmpIPredicate::eq, splitCount, cb.index(1)),
      [&] { emitResults(grouped, groupSize); },
      [&] { emitPartialResults(groupSize); });
}

void WorkItemEmitter::forEachItemHead(Value groupSize,
                                      function_ref<void(Value, Value)> body) {
  cb.forLoop(cb.index(0), groupSize, 1,
             [&](Value g) { body(cb.add(item.head, g), cb.mul(g, rows)); });
}

void WorkItemEmitter::finalizeRows(Value first, Value out, Value lse,
                                   Value entropy) {
  Value zero = cb.index(0);
  OpFoldResult rowsOfr = rows;
  OnlineSoftmaxFinalizeOp::create(
      b, loc,
      view(accOut, {first, zero}, {rowsOfr, b.getIndexAttr(shape.valueDim)}),
      view(rowMax, {first}, {rowsOfr}), view(rowSum, {first}, {rowsOfr}),
      view(rowEnt, {first}, {rowsOfr}), alive, out, lse, entropy,
      head.dropoutKeepScale);
  // The steps leave each row's largest ALiBi bias out of its scores
  // (alibiOrigin): lse gets it back (-inf and NaN stay). Never in group
  // items, which have no ALiBi.
  if (!lse || !alibiShiftsRows(variant))
    return;
  cb.forLoop(zero, rows, 1, [&](Value r) {
    Value bias = alibiRowBias(cb, head.alibiSlope, cb.add(ranges.pFirst, r));
    Value value = memref::LoadOp::create(b, loc, lse, r);
    memref::StoreOp::create(b, loc, cb.fadd(value, bias), lse, r);
  });
}

void WorkItemEmitter::emitResults(bool grouped, Value groupSize) {
  if (!grouped) {
    finalizeRows(cb.index(0), oTile, lseTile, entropyTile);
    if (probsTile)
      AttentionProbsOp::create(b, loc, rowMax, rowSum, alive, probsTile);
    emitPaddingRows(item.head);
    return;
  }
  // Each head's rows of the group tile go to that head's results.
  Value qRow0 = cb.add(qBase, row0);
  OpFoldResult rowsOfr = rows;
  forEachItemHead(groupSize, [&](Value queryHead, Value first) {
    auto resultSlice = [&](Value tensor) -> Value {
      if (!tensor)
        return Value();
      return view(tensor, {qBatch, queryHead, qRow0}, {rowsOfr});
    };
    // (A function may return only lse or entropy: no output then.)
    Value out = item.o ? view(item.o, {qBatch, queryHead, qRow0, cb.index(0)},
                              {rowsOfr, b.getIndexAttr(shape.valueDim)})
                       : Value();
    finalizeRows(first, out, resultSlice(item.lse), resultSlice(item.entropy));
    emitPaddingRows(queryHead);
  });
}

Value WorkItemEmitter::partialRow(Value s, Value h, Value i) {
  Value batches = callIndex(MHA_SPLIT_KV_BATCH);
  Value rowsPerHead = callIndex(MHA_SPLIT_KV_ROWS);
  Value heads = cb.index(shape.numHeads);
  Value sequence = cb.add(cb.mul(s, batches), item.batch);
  return cb.add(cb.mul(cb.add(cb.mul(sequence, heads), h), rowsPerHead), i);
}

void WorkItemEmitter::emitPartialResults(Value groupSize) {
  Value zero = cb.index(0);
  OpFoldResult rowsOfr = rows;
  forEachItemHead(groupSize, [&](Value queryHead, Value first) {
    Value partRow0 = partialRow(splitPart, queryHead, row0);
    finalizeRows(first,
                 view(item.splitOutputs, {partRow0, zero},
                      {rowsOfr, b.getIndexAttr(shape.valueDim)}),
                 view(item.splitLse, {partRow0}, {rowsOfr}), Value());
  });
  // The count is released after this part's stores and acquired by the
  // last part, which then reads every part (memref.atomic_rmw is acq_rel).
  Value tilesPerHead =
      cb.divUI(cb.add(callIndex(MHA_SPLIT_KV_ROWS), cb.index(tiles.rows - 1)),
               cb.index(tiles.rows));
  Value counter = cb.add(
      cb.mul(cb.add(cb.mul(item.batch, cb.index(shape.numHeads)), item.head),
             tilesPerHead),
      tileIndex);
  Value arrived =
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi, cb.i32(1),
                                  item.splitArrivals, ValueRange{counter});
  Value last =
      cb.cmpI(arith::CmpIPredicate::eq, arrived,
              cb.indexCast(b.getI32Type(), cb.sub(splitCount, cb.index(1))));
  // The last part writes the merged rows and the tile's padding rows.
  cb.ifThen(last, [&] {
    forEachItemHead(groupSize, [&](Value queryHead, Value) {
      cb.forLoop(zero, rows, 1,
                 [&](Value r) { emitMergedRow(queryHead, cb.add(row0, r)); });
      emitPaddingRows(queryHead);
    });
  });
}

void WorkItemEmitter::emitMergedRow(Value h, Value i) {
  int64_t valueDim = shape.valueDim;
  Type f32 = b.getF32Type();
  auto rowType = VectorType::get({valueDim}, f32);
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  auto lseOf = [&](Value s) {
    return memref::LoadOp::create(b, loc, item.splitLse,
                                  ValueRange{partialRow(s, h, i)})
        .getResult();
  };
  // m = max_s lse_s (NaN propagates), then the parts weighted by
  // exp(lse_s - m) in order s = 0 .. S - 1: mha.merge_states over S parts.
  Value m = cb.forLoopCarrying(splitCount, {negInf},
                               [&](Value s, ValueRange carried) {
                                 return SmallVector<Value>{
                                     cb.maximumF(carried[0], lseOf(s))};
                               })
                .getResult(0);
  Value empty = cb.cmpF(arith::CmpFPredicate::OEQ, m, negInf);
  Value mSafe = cb.select(empty, cb.f32(0.0f), m);
  Value zeros = vector::BroadcastOp::create(b, loc, rowType, cb.f32(0.0f));
  auto sums = cb.forLoopCarrying(
      splitCount, {cb.f32(0.0f), zeros}, [&](Value s, ValueRange carried) {
        Value w = math::ExpOp::create(b, loc, cb.fsub(lseOf(s), mSafe));
        Value row = vector::LoadOp::create(
            b, loc, rowType, item.splitOutputs,
            ValueRange{partialRow(s, h, i), cb.index(0)});
        // A part without keys (w = 0) adds nothing, whatever its row holds.
        Value weighted = cb.select(
            cb.cmpF(arith::CmpFPredicate::OEQ, w, cb.f32(0.0f)), zeros,
            cb.fmul(row, vector::BroadcastOp::create(b, loc, rowType, w)));
        return SmallVector<Value>{cb.fadd(carried[0], w),
                                  cb.fadd(carried[1], weighted)};
      });
  Value sum = sums.getResult(0);
  Value o =
      cb.select(empty, zeros,
                cb.fmul(sums.getResult(1),
                        vector::BroadcastOp::create(
                            b, loc, rowType, cb.fdiv(cb.f32(1.0f), sum))));
  Value qRow = cb.add(qBase, i);
  if (item.o) {
    Type elt = cast<MemRefType>(item.o.getType()).getElementType();
    if (!elt.isF32())
      o = arith::TruncFOp::create(b, loc, VectorType::get({valueDim}, elt), o);
    vector::StoreOp::create(b, loc, o, item.o,
                            ValueRange{qBatch, h, qRow, cb.index(0)});
  }
  if (item.lse)
    memref::StoreOp::create(
        b, loc,
        cb.select(empty, negInf, cb.fadd(m, math::LogOp::create(b, loc, sum))),
        item.lse, ValueRange{qBatch, h, qRow});
}

void WorkItemEmitter::emitPaddingRows(Value queryHead) {
  Value zero = cb.index(0);
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  Value zeroF = cb.f32(0.0f);
  Value probsCols =
      item.probs ? memref::DimOp::create(b, loc, item.probs, 3) : Value();
  auto zeroProbs = [&](Value row, Value from) {
    cb.forLoop(from, probsCols, 1, [&](Value j) {
      memref::StoreOp::create(b, loc, zeroF, item.probs,
                              ValueRange{item.batch, queryHead, row, j});
    });
  };
  // Keys past kv_lens are invisible to every real row.
  if (item.probs && item.kvLens)
    cb.forLoop(zero, rows, 1,
               [&](Value r) { zeroProbs(cb.add(row0, r), keyLen); });
  if (!item.qLens)
    return;
  Type elt = shape.query.getElementType();
  Value zeroRow = vector::BroadcastOp::create(
      b, loc, VectorType::get({shape.valueDim}, elt),
      arith::ConstantOp::create(b, loc, b.getZeroAttr(elt)));
  Value qRow0 = cb.add(qBase, row0);
  cb.forLoop(rows, tileRows, 1, [&](Value r) {
    Value i = cb.add(qRow0, r);
    if (item.o)
      vector::StoreOp::create(b, loc, zeroRow, item.o,
                              ValueRange{qBatch, queryHead, i, zero});
    if (item.lse)
      memref::StoreOp::create(b, loc, negInf, item.lse,
                              ValueRange{qBatch, queryHead, i});
    if (item.entropy)
      memref::StoreOp::create(b, loc, zeroF, item.entropy,
                              ValueRange{qBatch, queryHead, i});
    if (item.probs)
      zeroProbs(i, zero);
  });
}

} // namespace

void mlir::mha::emitAttentionWorkItem(OpBuilder &b, ModuleOp module,
                                      StringRef name, AttentionOp attention,
                                      const TileChoice &tiles,
                                      const AttentionWorkItem &item) {
  WorkItemEmitter(b, module, name, attention, tiles, item).emit();
}
