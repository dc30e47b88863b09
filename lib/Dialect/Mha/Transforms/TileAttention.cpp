//===- TileAttention.cpp - mha.attention to work-item kernels -----*- C++ -*-===//
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

#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/KernelBuilder.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"

#include "TileAttention.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include <limits>

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
  return memref::SubViewOp::create(b, loc, cast<MemRefType>(resultType),
                                   source, offsets, sizes, strides);
}


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
      bool isLayer = !func.getOps<LinearOp>().empty();
      LogicalResult tiled =
          isLayer ? tileLayerFunction(
                        module, func,
                        // A layer's attention runs on its
                        // temporaries, of the type it chooses.
                        [&](int64_t d, int64_t dv, Type elt,
                            bool allWindowed) {
                          return chooseTiles(func.getContext(), d, dv, elt,
                                             allWindowed);
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
                         Type elementType, bool allWindowed) const {
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
    DotProduct dot = bf16Dot && elementType.isBF16() && vw == 16 &&
                             headDim % 2 == 0
                         ? DotProduct::bf16_pairs
                         : DotProduct::fma;
    int64_t bandChoice =
        std::min<int64_t>(bandRows ? bandRows : 64, rowsChoice);
    auto kernel =
        MicroKernelAttr::get(ctx, vw, sRows, sVecs, oRows, oVecs, dot);
    return {rowsChoice, colsChoice, bandChoice, paddedValueDim, kernel};
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
  // Rows of the head dims live in vector registers; keep them bounded.
  constexpr int64_t kMaxHeadDim = 1024;
  if (headDim > kMaxHeadDim || valueDim > kMaxHeadDim)
    return attention.emitError()
           << "head dims D = " << headDim << ", Dv = " << valueDim
           << " are not supported by the CPU pipeline (at most "
           << kMaxHeadDim << ")";
  AttentionVariant variant =
      AttentionVariant::get(attention, numHeads, numKvHeads, headDim);

  // C parameters: the arguments, then the results in return order.
  SmallVector<Parameter> params = getExportedParameters(func, attention);

  // The kernel signature: one memref per parameter, then b, h, t, alive.
  SmallVector<Type> argTypes;
  SmallVector<Attribute> roles, types;
  for (const Parameter &p : params) {
    MemRefType t = getParameterMemRefType(cast<RankedTensorType>(p.tensorType));
    argTypes.push_back(t);
    roles.push_back(TensorRoleAttr::get(ctx, p.role));
    types.push_back(TypeAttr::get(t));
  }
  IndexType indexType = IndexType::get(ctx);
  argTypes.append({indexType, indexType, indexType, IntegerType::get(ctx, 1)});

  TileChoice tiles =
      chooseTiles(ctx, headDim, valueDim, shape.query.getElementType(),
                  variant.allHeadsWindowed());
  if (failed(checkScratchBudget(attention, tiles,
                                shape.query.getElementType())))
    return failure();
  OpBuilder b(func);
  std::string name = func.getSymName().str();
  auto kernel = func::FuncOp::create(b, func.getLoc(), name + "__kernel",
                                     FunctionType::get(ctx, argTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  kernel->setAttr("mha.entry_point",
                  EntryPointAttr::get(ctx, name, tiles.rows, numHeads,
                                      ArrayAttr::get(ctx, roles),
                                      ArrayAttr::get(ctx, types)));
  Block *entry = kernel.addEntryBlock();
  b.setInsertionPointToStart(entry);

  // Map each role to its kernel argument.
  auto argFor = [&](Value tensor) {
    return getParameterArgument(func, *entry, tensor);
  };
  unsigned numParams = params.size();
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
                         argFor(attention.getEntropy()), batchIdx, head, tile,
                         aliveArg});
  func::ReturnOp::create(b, loc);

  func.erase();
  return success();
}

} // namespace

bool mlir::mha::widensQueryRows(const TileChoice &tiles, Type queryElt) {
  return tiles.microKernel.getDot() == DotProduct::fma && !queryElt.isF32();
}

LogicalResult mlir::mha::checkScratchBudget(AttentionOp attention,
                                            const TileChoice &tiles,
                                            Type queryElt) {
  // The scratch of a work item lives on the stack of the thread that runs
  // it: keep it well below common thread stack sizes.
  constexpr int64_t kMaxScratchBytes = int64_t(1) << 20;
  int64_t headDim = AttentionShape::get(attention).headDim;
  // Per row: the accumulator, four row states and widened query rows; a
  // band of scores; the packed keys and values.
  int64_t scratchBytes =
      4 * (tiles.rows * ((widensQueryRows(tiles, queryElt) ? headDim : 0) +
                         tiles.paddedValueDim + 4) +
           tiles.bandRows * tiles.cols +
           tiles.cols * (headDim + tiles.paddedValueDim));
  if (scratchBytes <= kMaxScratchBytes)
    return success();
  return attention.emitError()
         << "tiles of " << tiles.rows << " rows x " << tiles.cols
         << " keys need " << scratchBytes
         << " bytes of scratch per work item, more than the "
         << kMaxScratchBytes << " allowed: use smaller rows/cols";
}

void mlir::mha::emitAttentionWorkItem(OpBuilder &b, ModuleOp module,
                                      StringRef name, AttentionOp attention,
                                      const TileChoice &tiles,
                                      const AttentionWorkItem &item) {
  Location loc = attention.getLoc();
  AttentionShape shape = AttentionShape::get(attention);
  RankedTensorType qType = shape.query;
  int64_t numHeads = shape.numHeads, numKvHeads = shape.numKvHeads;
  int64_t headDim = shape.headDim, valueDim = shape.valueDim;
  AttentionVariant variant =
      AttentionVariant::get(attention, numHeads, numKvHeads, headDim);
  KernelBuilder w(b, loc, module, name);
  Value q = item.q, k = item.k, v = item.v, o = item.o, lse = item.lse,
        probs = item.probs, entropy = item.entropy;
  Value batchIdx = item.batch, head = item.head, tile = item.tile,
        aliveArg = item.alive;
  bool bf16Pairs = tiles.microKernel.getDot() == DotProduct::bf16_pairs;

  // Rows of this work item and the KV head it reads.
  Value queryLen = memref::DimOp::create(b, loc, q, 2);
  Value keyLen = memref::DimOp::create(b, loc, k, 2);
  Value rowsConst = w.index(tiles.rows);
  Value row0 = w.mul(tile, rowsConst);
  Value rows = w.minIdx(rowsConst, w.sub(queryLen, row0));
  Value kvHead =
      arith::DivUIOp::create(b, loc, head, w.index(variant.groupSize()));

  // Per-head parameters.
  SmallVector<float> scales;
  for (int64_t h = 0; h < numHeads; ++h)
    scales.push_back(variant.scale / variant.temperature(h));
  Value scoreScale = w.perHeadF32("score_scale", scales, head);
  Value slope = w.perHeadF32("alibi_slopes", variant.getAlibiSlopes(), head);
  Value windowLeft =
      w.perHeadIndex("window_left", variant.getWindowLefts(), head);
  Value windowRight =
      w.perHeadIndex("window_right", variant.getWindowRights(), head);
  Value sinks = w.index(variant.sinkTokens);
  Value staticAlive = w.perHeadBool("head_mask", variant.getHeadAlive(), head);
  Value alive = arith::AndIOp::create(b, loc, aliveArg, staticAlive);

  // Tiles of this work item.
  Value zero = w.index(0);
  OpFoldResult rowsOfr = rows, keyLenOfr = keyLen;
  Value qTile = subviewTrailing(b, loc, q, {batchIdx, head, row0, zero},
                                {rowsOfr, b.getIndexAttr(headDim)});
  Value kHead = subviewTrailing(b, loc, k, {batchIdx, kvHead, zero, zero},
                                {keyLenOfr, b.getIndexAttr(headDim)});
  Value vHead = subviewTrailing(b, loc, v, {batchIdx, kvHead, zero, zero},
                                {keyLenOfr, b.getIndexAttr(valueDim)});
  Value oTile = o ? subviewTrailing(b, loc, o, {batchIdx, head, row0, zero},
                                    {rowsOfr, b.getIndexAttr(valueDim)})
                  : Value();
  auto rowSlice = [&](Value tensor) -> Value {
    if (!tensor)
      return Value();
    return subviewTrailing(b, loc, tensor, {batchIdx, head, row0}, {rowsOfr});
  };
  Value lseTile = rowSlice(lse), entropyTile = rowSlice(entropy);

  // Running state: acc [R, Dvp], max, sum and entropy term [R]; the query
  // rows packed in f32; scratch buffers of the steps.
  Type f32 = b.getF32Type();
  int64_t R = tiles.rows, C = tiles.cols, Dvp = tiles.paddedValueDim;
  auto buffer = [&](ArrayRef<int64_t> shape) -> Value {
    return memref::AllocaOp::create(b, loc, MemRefType::get(shape, f32),
                                    ValueRange{}, b.getI64IntegerAttr(64));
  };
  Value accFull = buffer({R, Dvp});
  Value acc = subviewTrailing(b, loc, accFull, {zero, zero},
                              {rowsOfr, b.getIndexAttr(Dvp)});
  Value accOut = subviewTrailing(b, loc, accFull, {zero, zero},
                                 {rowsOfr, b.getIndexAttr(valueDim)});
  auto makeState = [&]() {
    return subviewTrailing(b, loc, buffer({R}), {zero}, {rowsOfr});
  };
  Value rowMax = makeState(), rowSum = makeState(), rowEnt = makeState();
  // f16 and bf16 query rows are widened to f32 once for all key tiles; f32
  // rows, and bf16 ones for bf16 pairs, are read in place. Keys and values
  // of bf16 pairs are packed in pairs ([D/2, 2C] and [C/2, 2 Dvp]).
  Type qElt = qType.getElementType();
  bool packQuery = widensQueryRows(tiles, qElt);
  Value qPackedFull = packQuery ? buffer({R, headDim}) : Value();
  Value qPacked = packQuery
                      ? subviewTrailing(b, loc, qPackedFull, {zero, zero},
                                        {rowsOfr, b.getIndexAttr(headDim)})
                      : qTile;
  auto bf16Buffer = [&](ArrayRef<int64_t> shape) -> Value {
    return memref::AllocaOp::create(
        b, loc, MemRefType::get(shape, b.getBF16Type()), ValueRange{},
        b.getI64IntegerAttr(64));
  };
  Value keyScratch =
      bf16Pairs ? bf16Buffer({headDim / 2, 2 * C}) : buffer({headDim, C});
  Value valueScratch =
      bf16Pairs ? bf16Buffer({C / 2, 2 * Dvp}) : buffer({C, Dvp});
  Value scoreScratch = buffer({tiles.bandRows, C});
  Value alphaScratch = buffer({R});
  Value negInf = w.f32(-std::numeric_limits<float>::infinity());
  Value zeroF = w.f32(0.0f);
  Value zeroRow =
      vector::BroadcastOp::create(b, loc, VectorType::get({Dvp}, f32), zeroF);
  auto qRowType = VectorType::get({headDim}, qElt);
  Value one = w.index(1);
  scf::ForOp::create(
      b, loc, zero, rows, one, ValueRange{},
      [&](OpBuilder &nb, Location nl, Value r, ValueRange) {
        memref::StoreOp::create(nb, nl, negInf, rowMax, r);
        memref::StoreOp::create(nb, nl, zeroF, rowSum, r);
        memref::StoreOp::create(nb, nl, zeroF, rowEnt, r);
        SmallVector<Value> indices{r, zero};
        vector::StoreOp::create(nb, nl, zeroRow, accFull, indices);
        if (packQuery) {
          Value qRow =
              vector::LoadOp::create(nb, nl, qRowType, qTile, indices);
          qRow = arith::ExtFOp::create(nb, nl, VectorType::get({headDim}, f32),
                                       qRow);
          vector::StoreOp::create(nb, nl, qRow, qPackedFull, indices);
        }
        scf::YieldOp::create(nb, nl);
      });

  // Probabilities: the steps record the scores of the keys they visit; the
  // rest stay -inf (invisible).
  Value probsTile;
  if (probs) {
    probsTile = subviewTrailing(b, loc, probs, {batchIdx, head, row0, zero},
                                {rowsOfr, keyLenOfr});
    scf::ForOp::create(
        b, loc, zero, rows, one, ValueRange{},
        [&](OpBuilder &rb, Location rl, Value r, ValueRange) {
          scf::ForOp::create(
              rb, rl, zero, keyLen, one, ValueRange{},
              [&](OpBuilder &kb, Location kl, Value j, ValueRange) {
                memref::StoreOp::create(kb, kl, negInf, probsTile,
                                        ValueRange{r, j});
                scf::YieldOp::create(kb, kl);
              });
          scf::YieldOp::create(rb, rl);
        });
  }

  KeyRanges ranges = computeKeyRanges(w, variant, row0, rows, queryLen, keyLen,
                                      windowLeft, windowRight, sinks);
  Value pFirst = ranges.pFirst;

  FloatAttr softcap;
  if (variant.softcap)
    softcap = b.getF32FloatAttr(*variant.softcap);
  bool trackEntropy = attention.getReturnEntropy();
  Value cols = w.index(C);

  // One step over keys [j0, j0 + n).
  auto emitStep = [&](OpBuilder &nb, Location nl, Value j0, Value n,
                      bool masked) {
    OpFoldResult nOfr = n;
    Value kTile = subviewTrailing(nb, nl, kHead, {j0, zero},
                                  {nOfr, nb.getIndexAttr(headDim)});
    Value vTile = subviewTrailing(nb, nl, vHead, {j0, zero},
                                  {nOfr, nb.getIndexAttr(valueDim)});
    OnlineSoftmaxStepOp::create(
        nb, nl, qPacked, kTile, vTile, acc, rowMax, rowSum, rowEnt, keyScratch,
        valueScratch, scoreScratch, alphaScratch, probsTile, scoreScale,
        slope, pFirst,
        j0, windowLeft, windowRight, sinks, softcap, variant.causal,
        variant.hasAlibi, masked, trackEntropy, tiles.microKernel);
  };
  // A loop over [begin, end) in tiles; `needsMask(j0, j1)` decides per tile.
  auto emitKeyLoop = [&](Value begin, Value end,
                         function_ref<Value(OpBuilder &, Location, Value,
                                            Value)>
                             needsMask) {
    scf::ForOp::create(
        b, loc, begin, end, cols, ValueRange{},
        [&](OpBuilder &nb, Location nl, Value j0, ValueRange) {
          Value n = arith::MinSIOp::create(
              nb, nl, cols, arith::SubIOp::create(nb, nl, end, j0));
          Value j1 = arith::AddIOp::create(nb, nl, j0, n);
          Value mask = needsMask(nb, nl, j0, j1);
          scf::IfOp::create(
              nb, nl, mask,
              [&](OpBuilder &tb, Location tl) {
                emitStep(tb, tl, j0, n, /*masked=*/true);
                scf::YieldOp::create(tb, tl);
              },
              [&](OpBuilder &eb, Location el) {
                emitStep(eb, el, j0, n, /*masked=*/false);
                scf::YieldOp::create(eb, el);
              });
          scf::YieldOp::create(nb, nl);
        });
  };

  auto ifAlive = scf::IfOp::create(b, loc, alive, /*withElse=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifAlive.thenBlock());
    // Sink keys: only causal can hide them.
    emitKeyLoop(zero, ranges.sinkHi,
                [&](OpBuilder &nb, Location nl, Value, Value j1) -> Value {
                  KernelBuilder nw(nb, nl, module, name);
                  return sinkTileNeedsMask(nw, variant, ranges, j1);
                });
    // Window keys: masked when some row of the tile cannot see some key.
    emitKeyLoop(ranges.windowLo, ranges.windowHi,
                [&](OpBuilder &nb, Location nl, Value j0, Value j1) -> Value {
                  KernelBuilder nw(nb, nl, module, name);
                  return windowTileNeedsMask(nw, variant, ranges, j0, j1,
                                             windowLeft, windowRight);
                });
  }

  OnlineSoftmaxFinalizeOp::create(b, loc, accOut, rowMax, rowSum, rowEnt, alive,
                                  oTile, lseTile, entropyTile);
  if (probsTile)
    AttentionProbsOp::create(b, loc, rowMax, rowSum, alive, probsTile);
}

