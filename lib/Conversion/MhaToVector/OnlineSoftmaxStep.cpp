//===- OnlineSoftmaxStep.cpp - Register-blocked flash step ---------*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Lowers mha.online_softmax_step to five phases over f32 scratch buffers:
//   1. pack the key tile transposed, Kt [D, C] (16x16 vector transposes);
//   2. widen and pad the value tile, Vp [C, Dvp] (skipped for f32 values
//      whose width needs no padding: they are read in place);
//   3. S = Q . Kt, a micro-kernel of scoreRows x scoreVectors vector
//      accumulators held in registers across the D loop. Steps of few rows
//      (decoding) of f32 or bf16 keys skip phase 1 and read K in place:
//      up to kMaxRowsAlongD rows sum each score along D
//      (computeScoresAlongD; phase 5 then takes whole value rows), up to
//      kMaxRowsByKeys* rows take the rows as lanes against Q transposed
//      and broadcast K's elements (computeScoresByKeys);
//   4. the online softmax of each row of S in base 2, vectorised across keys:
//      masks as index compares, P written over S, the rescale factor of each
//      row kept for phase 5;
//   5. acc = alpha * acc + P . V, a micro-kernel of outputRows x
//      outputVectors accumulators held in registers across the key loop.
// Phases 3-5 run band by band, a band being as many rows as the score
// scratch holds: keys and values are packed once for the whole tile of
// rows, while the scores of a band stay in cache between the phases.
// Rows past a band's last row are clamped to it: their lanes duplicate
// its work, so the micro-kernels need no remainder versions.
//
// With `bf16_pairs` micro-kernels (AVX512-BF16) phases 1, 2, 3 and 5 work on
// bf16 pairs summed by `x86vector.avx512.dot` (vdpbf16ps: per f32 lane,
// acc += a0 b0 + a1 b1): keys packed as [D/2, 2C] (a 16x16 transpose of
// 32-bit pairs), values as [C/2, 2 Dvp] (two key rows interleaved), the
// query pair and the P pair broadcast to every lane (along D: a key row's
// pairs times the query row's); phase 4 rounds P to bf16 pairs
// (vcvtneps2bf16) written over the start of its row of S.
//
//===----------------------------------------------------------------------===//

#include "VectorEmitter.h"
#include "mha/Codegen/Constants.h"
#include "mha/Codegen/Dropout.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/MicroKernels.h"
#include "mha/Conversion/MhaToVector/MhaToVector.h"
#include "mha/Semantics/KeyVisibility.h"

#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

#include <limits>
#include <optional>

#define DEBUG_TYPE "convert-mha-to-vector"

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::detail;

namespace {

/// How a step computes S = Q.K^T (phase 3).
enum class ScoreMethod {
  /// From K packed transposed (phase 1), rows x vectors register blocks.
  packed,
  /// The rows as lanes, K's elements broadcast from the tile in place.
  byKeys,
  /// A row at a time along D, K's rows in place.
  alongD,
};

/// Exponents below this are flushed: exp2 of them is 0 for our purposes.
/// The rescale factor clamps to it (m = -inf before a row's first visible
/// key), and so does the entropy term (p x, not 0 * -inf, for invisible
/// keys); P itself is exp2(-inf) = 0.
constexpr float kMinExponent = -127.0f;

/// Steps of at most this many rows compute S along D from K in place:
/// packing a key costs about as much as 8-16 rows' products with it.
constexpr int64_t kMaxRowsAlongD = 8;

/// Steps of at most this many rows compute S by keys from K in place (the
/// rows as lanes, K's elements broadcast) where packing a key costs more
/// than its products with the rows: f32 keys up to 32 rows, bf16 pairs up
/// to 16 (at 32 rows, bf16 decoding by keys measured 0.92-1.04x packed).
constexpr int64_t kMaxRowsByKeysF32 = 32;
constexpr int64_t kMaxRowsByKeysBf16 = 16;

/// The rows computeScoresAlongD serves per pass over widened keys (an i8
/// cache, 16-bit keys without pairs): each key chunk is widened once for
/// all of them.
constexpr int64_t kWidenedRowsAlongD = 4;

/// The keys of computeScoresByKeys' register block: a vw x vw transpose
/// turns their vectors into rows of S.
constexpr int64_t kKeysByKeys = 16;

/// Entry l: the leaf (of first, ..., first + n - 1) whose sum lane l of
/// sumLanesOfLeaves' result holds, the tree interleaving its halves'
/// segments.
SmallVector<int64_t> treeLaneLeaves(int64_t first, int64_t n) {
  if (n == 1)
    return {first};
  SmallVector<int64_t> x = treeLaneLeaves(first, n / 2);
  SmallVector<int64_t> y = treeLaneLeaves(first + n / 2, n / 2);
  SmallVector<int64_t> out;
  for (auto [a, c] : llvm::zip_equal(x, y)) {
    out.push_back(a);
    out.push_back(c);
  }
  return out;
}

struct StepLowering {
  OnlineSoftmaxStepOp op;
  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  int64_t vw, sRows, sVecs, oRows, oVecs;
  int64_t headDim, cols, paddedValueDim, valueDim;
  Value rows, keys;
  /// The band of rows [bandBegin, bandEnd) phases 3-5 work on; its scores
  /// are rows [0, bandEnd - bandBegin) of the score scratch.
  Value bandBegin, bandEnd;
  VectorType vecType;
  bool bf16Pairs;

  StepLowering(OnlineSoftmaxStepOp op, OpBuilder &b)
      : op(op), b(b), loc(op.getLoc()), cb(b, loc) {
    MicroKernelAttr mk = op.getMicroKernel();
    vw = mk.getVectorWidth();
    sRows = mk.getScoreRows();
    sVecs = mk.getScoreVectors();
    oRows = mk.getOutputRows();
    oVecs = mk.getOutputVectors();
    headDim = op.getQuery().getType().getDimSize(1);
    bf16Pairs = mk.getDot() == DotProduct::bf16_pairs;
    cols = op.getScoreScratch().getType().getDimSize(1);
    paddedValueDim = op.getValueScratch().getType().getDimSize(1);
    if (bf16Pairs)
      paddedValueDim /= 2;
    valueDim = op.getValue().getType().getDimSize(1);
    vecType = vec::getF32Vector(cb, vw);
  }

  /// The dropout words of tile row `r` (the step's `dropout` operands),
  /// or none without dropout.
  std::optional<DropoutStream> dropoutStream(Value r) {
    OperandRange w = op.getDropout();
    if (w.empty())
      return std::nullopt;
    Value row = cb.add(w[4], cb.indexCast(b.getI32Type(), r));
    return DropoutStream{w[0], w[1], row, w[2], w[3]};
  }
  /// Whether dropout keeps the keys of vector `j` of the tile.
  Value dropoutKeeps(const DropoutStream &stream, int64_t j) {
    SmallVector<int32_t> lanes;
    for (int64_t l = 0; l < vw; ++l)
      lanes.push_back(static_cast<int32_t>(j * vw + l));
    auto i32Vec = VectorType::get({vw}, b.getI32Type());
    Value laneKeys = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(i32Vec, ArrayRef<int32_t>(lanes)));
    Value first = cb.add(cb.indexCast(b.getI32Type(), op.getKeyPos()),
                         op.getDropout()[6]);
    Value keys = cb.add(vec::broadcast(cb, first, vw), laneKeys);
    return emitDropoutKeeps(cb, stream, keys, op.getDropout()[5]);
  }

  /// The register blocks of S = Q.K^T and of acc += P.V.
  vec::RegisterBlock scoreBlock() {
    return {sRows, sVecs, op.getMicroKernel().getDot()};
  }
  vec::RegisterBlock outputBlock() {
    return {oRows, oVecs, op.getMicroKernel().getDot()};
  }
  /// The f32 P.V block of steps that compute S along D: whole value rows
  /// for two rows, so that the first pass streams V in order as the
  /// scores did K (8% faster decoding than the tile's block);
  /// outputBlock() for value rows of more than 8 vectors.
  vec::RegisterBlock alongDOutputBlock() {
    int64_t vectors = paddedValueDim / vw;
    if (vectors > 8)
      return outputBlock();
    return {2, vectors, op.getMicroKernel().getDot()};
  }
  /// The score scratch row of tile row `r` of the current band.
  Value scoreRow(Value r) { return cb.sub(r, bandBegin); }
  /// An index value cast to i32 and broadcast to a vector of i32.
  Value broadcast32(Value index) {
    return vec::broadcast(cb, cb.indexCast(b.getI32Type(), index), vw);
  }
  Value broadcast(Value scalar) { return vec::broadcast(cb, scalar, vw); }
  Value loadVector(Value memref, ValueRange indices) {
    return vector::LoadOp::create(b, loc, vecType, memref, indices);
  }
  /// The rows r0, ..., r0 + n - 1 of a block, clamped to the band's last
  /// row `lastRow`: the rows past it duplicate its work (no remainder
  /// kernels).
  SmallVector<Value> blockRows(Value r0, int64_t n, Value lastRow) {
    SmallVector<Value> rs;
    for (int64_t i = 0; i < n; ++i)
      rs.push_back(cb.minSI(cb.add(r0, cb.index(i)), lastRow));
    return rs;
  }

  /// Loads `width` f32 lanes of row `r` of `tile` from column `c`, widened
  /// from f16/bf16. Lanes at or past column `limit` (static) are zero; the
  /// memory past it is never touched, so no masked loads are needed (masked
  /// half-precision loads become library calls on some targets). An i8
  /// tile of a quantized cache is scaled as it is widened, by the tile's
  /// scale or by its row's, unless `unscaled` (the caller scales later).
  Value loadWidened(Value tile, Value r, Value c, int64_t width, int64_t valid,
                    bool unscaled = false) {
    auto type = cast<MemRefType>(tile.getType());
    Type elt = type.getElementType();
    auto f32Type = vec::getF32Vector(cb, width);
    Value scale = unscaled                ? Value()
                  : tile == op.getKey()   ? op.getKeyScale()
                  : tile == op.getValue() ? op.getValueScale()
                                          : Value();
    if (scale && isa<MemRefType>(scale.getType()))
      scale = memref::LoadOp::create(b, loc, scale, r);
    auto read = [&](int64_t n) -> Value {
      Value v = vector::LoadOp::create(b, loc, VectorType::get({n}, elt), tile,
                                       ValueRange{r, c});
      auto wide = vec::getF32Vector(cb, n);
      if (elt.isSignlessInteger(8) && !scale)
        return arith::SIToFPOp::create(b, loc, wide, v).getResult();
      if (elt.isSignlessInteger(8))
        return arith::MulFOp::create(
            b, loc, arith::SIToFPOp::create(b, loc, wide, v),
            vector::BroadcastOp::create(b, loc, wide, scale));
      if (!elt.isF32())
        v = arith::ExtFOp::create(b, loc, wide, v);
      return v;
    };
    if (valid >= width)
      return read(width);
    Value zeros = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(f32Type, 0.0f));
    if (valid <= 0)
      return zeros;
    return vector::InsertStridedSliceOp::create(
        b, loc, read(valid), zeros, ArrayRef<int64_t>{0}, ArrayRef<int64_t>{1});
  }

  /// `width` lanes of row `r` of `tile` from column `c` in its own element
  /// type; lanes at or past `valid` are zero and their memory is untouched.
  Value loadPadded(Value tile, Value r, Value c, int64_t width, int64_t valid) {
    Type elt = cast<MemRefType>(tile.getType()).getElementType();
    auto type = VectorType::get({width}, elt);
    if (valid >= width)
      return vector::LoadOp::create(b, loc, type, tile, ValueRange{r, c});
    Value zeros =
        arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(type)));
    if (valid <= 0)
      return zeros;
    Value part = vector::LoadOp::create(b, loc, VectorType::get({valid}, elt),
                                        tile, ValueRange{r, c});
    return vector::InsertStridedSliceOp::create(
        b, loc, part, zeros, ArrayRef<int64_t>{0}, ArrayRef<int64_t>{1});
  }
  /// Combines the lanes of `v` halves first: log2(vw) vector operations
  /// where vector.reduction of f32 adds is one chain of vw scalar adds (and
  /// of maximumf, of NaN checks).
  template <typename Fn> Value reduceLanes(Value v, Fn combine) {
    for (int64_t n = vw; n > 1; n /= 2) {
      SmallVector<int64_t> low, high;
      for (int64_t i = 0; i < n / 2; ++i) {
        low.push_back(i);
        high.push_back(n / 2 + i);
      }
      v = combine(vector::ShuffleOp::create(b, loc, v, v, low),
                  vector::ShuffleOp::create(b, loc, v, v, high));
    }
    return vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{0});
  }

  /// The keys phase 1 packs: the tile's keys rounded up to whole blocks
  /// of the S micro-kernel, which reads no further (a short tile packs
  /// less than the C columns of the scratch).
  Value getPackedKeyEnd() {
    int64_t block = sVecs * vw;
    Value blocks = cb.divUI(cb.add(keys, cb.index(block - 1)), cb.index(block));
    return cb.minSI(cb.mul(blocks, cb.index(block)), cb.index(cols));
  }
  void packTransposed(Value tile, Value first, Value last, Value end);
  void packPairsTransposed(Value tile, Value first, Value last, Value end);
  /// Phase 1: the key tile transposed (f32, or bf16 pairs).
  void packKeys() {
    Value last = cb.sub(keys, cb.index(1));
    if (bf16Pairs)
      return packPairsTransposed(op.getKey(), cb.index(0), last,
                                 getPackedKeyEnd());
    packTransposed(op.getKey(), cb.index(0), last, getPackedKeyEnd());
  }
  Value packValues(Value manyRows);
  void packValuePairs();
  /// Vp[q, 2d + t] for the vw columns from `d`, of which `valid` exist
  /// (zeros past them): rows 2q and 2q + 1 of the value tile interleaved,
  /// the last row repeated past the tile.
  Value valuePairs(Value q, Value d, int64_t valid);
  /// The visible keys of the row whose diagonal key is `p` (absolute
  /// positions): the rule of mha/Semantics/KeyVisibility.h.
  KeyBounds<Value> getRowBounds(Value p) {
    return getKeyBounds(cb, ScoreSpec::get(op).masks(), p);
  }
  /// One past the last key of the tile that rows [0, r] (tile-relative)
  /// may see, in [0, keys]: the micro-kernels of rows up to r stop there
  /// (keys past it are masked for all of them). `keys` for unmasked steps.
  Value getVisibleKeyEnd(Value r);

  /// Runs `phases` (3-5) on each band of as many rows as the score
  /// scratch has: the packed keys and values serve every band, while a
  /// band's scores stay in L1 or L2. A band that sees no key of the tile
  /// (above the diagonal) is skipped: its state would not change, and its
  /// recorded scores keep the -inf they start with (see the op).
  template <typename Fn> void forEachBand(Fn phases) {
    Value band = memref::DimOp::create(b, loc, op.getScoreScratch(), 0);
    cb.forLoop(cb.index(0), rows, band, [&](Value begin) {
      bandBegin = begin;
      bandEnd = cb.minSI(cb.add(bandBegin, band), rows);
      if (!op.getMasked())
        return phases();
      Value sees =
          cb.gt(getVisibleKeyEnd(cb.sub(bandEnd, cb.index(1))), cb.index(0));
      cb.ifThen(sees, phases);
    });
  }

  void computeScores();
  void computeScoresBf16();
  void computeScoresAlongD();
  void computeScoresByKeys();
  /// The elements of a row computeScoresAlongD multiplies at once: vw
  /// (f32 lanes) or 2 vw (bf16 pairs).
  int64_t getAlongDChunk() { return bf16Pairs ? 2 * vw : vw; }
  /// Whether S may be computed from K in place (computeScoresByKeys, and
  /// computeScoresAlongD where canComputeAlongD): f32 keys (an i8 cache is
  /// widened as it is read: by keys, once per element and row) or bf16
  /// pairs; whole blocks of kKeysByKeys keys in the tile's columns, and
  /// the key scratch wide enough for the band's rows transposed.
  bool canReadKeysInPlace() {
    Type keyType = op.getKey().getType().getElementType();
    Type queryType = op.getQuery().getType().getElementType();
    bool types =
        bf16Pairs ? keyType.isBF16() && queryType.isBF16() : keyType.isF32();
    return types && llvm::isPowerOf2_64(vw) && cols % kKeysByKeys == 0 &&
           cols >= getMaxRowsByKeys();
  }
  int64_t getMaxRowsByKeys() {
    return bf16Pairs ? kMaxRowsByKeysBf16 : kMaxRowsByKeysF32;
  }
  /// Whether computeScoresAlongD applies: the row's query in registers, at
  /// most 8 vectors (a quarter of AVX-512's registers, half of AVX2's).
  bool canComputeAlongD() { return headDim <= 8 * getAlongDChunk(); }
  /// Whether the keys are widened to f32 as they are read (an i8 cache's,
  /// scaled too; f16 or bf16 keys without bf16 pairs, as on AVX-512 CPUs
  /// without AVX512-BF16): computeScoresAlongD then serves several rows
  /// per key chunk, and S is never computed by keys.
  bool widensKeys() {
    return !bf16Pairs && !op.getKey().getType().getElementType().isF32() &&
           llvm::isPowerOf2_64(vw);
  }
  /// Sums the lanes of each of the `n` vectors `leaf(first)`, ...,
  /// `leaf(first + n - 1)`: n segments of vw / n lanes, segment t holding
  /// the partial sums of leaf treeLaneLeaves(first, n)[t]. Two vector
  /// shuffles and an add per pair of halves, vw - 1 in all for n = vw. A
  /// leaf is one vector per row (the rows' trees side by side).
  template <typename Fn>
  SmallVector<Value> sumLanesOfLeaves(Fn leaf, int64_t first, int64_t n);
  void softmaxRows();
  /// Pass 1 of the softmax of row `r`: the final log2 scores of its key
  /// vectors written over S (-inf where invisible); returns their max.
  Value scoreRowVectors(Value r, Value scoreScale, bool foldLog2e);
  /// Phase 5 with the f32 micro-kernel of `block`.
  void accumulateValues(Value values, vec::RegisterBlock block);
  /// Phase 5 with the bf16-pair micro-kernel of `block`, on the packed
  /// value pairs or on pairs interleaved from the tile as it goes.
  void accumulateValuesBf16(vec::RegisterBlock block, bool valuesInPlace);
  /// Whether any value of the tile is NaN or infinite: a masked step then
  /// accumulates with accumulateValuesExact.
  Value valuesHaveNonFinite();
  /// Phase 5 without the micro-kernels, skipping P = 0: in a masked step
  /// the micro-kernels multiply the values of keys some rows cannot see by
  /// their P = 0, and 0 * inf or 0 * NaN would reach those rows (a masked
  /// key never contributes).
  void accumulateValuesExact();
  /// P[r, c] as phase 4 left it: f32, or the bf16 of a pair slot.
  Value loadProbability(Value r, Value c);
};

/// Xt[d, c] = X[min(first + c, last), d] for c < end: vw x vw blocks, each
/// loaded as vw rows, transposed in registers and stored as vw rows of the
/// key scratch. Columns past `last` repeat it (a key tile's are masked
/// out, a band's extra query rows duplicate its last row).
void StepLowering::packTransposed(Value tile, Value first, Value last,
                                  Value end) {
  auto blockType = VectorType::get({vw, vw}, b.getF32Type());
  int64_t fullDim = headDim - headDim % vw;
  // One vw x vw block at head-dim offset d0, of which `valid` columns exist.
  auto packBlock = [&](Value c0, Value d0, int64_t valid) {
    Value block = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(blockType, 0.0f));
    for (int64_t i = 0; i < vw; ++i) {
      Value c = cb.minSI(cb.add(first, cb.add(c0, cb.index(i))), last);
      Value row = loadWidened(tile, c, d0, vw, valid);
      block = vector::InsertOp::create(b, loc, row, block, i);
    }
    Value transposed =
        vector::TransposeOp::create(b, loc, block, ArrayRef<int64_t>{1, 0});
    for (int64_t i = 0; i < std::min(vw, valid); ++i) {
      Value row = vector::ExtractOp::create(b, loc, transposed, i);
      vector::StoreOp::create(b, loc, row, op.getKeyScratch(),
                              ValueRange{cb.add(d0, cb.index(i)), c0});
    }
  };
  cb.forLoop(cb.index(0), end, vw, [&](Value c0) {
    if (fullDim > 0)
      cb.forLoop(cb.index(0), cb.index(fullDim), vw,
                 [&](Value d0) { packBlock(c0, d0, vw); });
    if (fullDim < headDim)
      packBlock(c0, cb.index(fullDim), headDim - fullDim);
  });
}

/// Vp[c, :] = widen(V[c, :]) padded with zeros to Dvp. Returns the values
/// phase 5 reads: f32 values that need no padding are read in place, but
/// for steps of many rows (`manyRows`, null: all) whose rows need a copy
/// (vec::rowsNeedCopy: not contiguous or not on 64-byte lines): the P.V
/// micro-kernel reads the tile's rows once per block of output rows
/// (docs/performance.md, "Layouts").
Value StepLowering::packValues(Value manyRows) {
  Value value = op.getValue();
  auto type = cast<MemRefType>(value.getType());
  Value scratch = op.getValueScratch();
  auto copyRows = [&] {
    cb.forLoop(cb.index(0), keys, 1, [&](Value c) {
      for (int64_t d0 = 0; d0 < paddedValueDim; d0 += vw)
        vector::StoreOp::create(
            b, loc, loadWidened(value, c, cb.index(d0), vw, valueDim - d0),
            scratch, ValueRange{c, cb.index(d0)});
    });
  };
  if (!type.getElementType().isF32() || valueDim != paddedValueDim ||
      type.getStridesAndOffset().first.back() != 1) {
    copyRows();
    return scratch;
  }
  // Both ways as one row view.
  auto rowsType = MemRefType::get(
      type.getShape(), type.getElementType(),
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                             {ShapedType::kDynamic, 1}));
  Value inPlace = type == rowsType
                      ? value
                      : memref::CastOp::create(b, loc, rowsType, value);
  Value needsCopy = vec::rowsNeedCopy(cb, value, 0, valueDim);
  Value copy = manyRows ? cb.andI(manyRows, needsCopy) : needsCopy;
  return cb.ifValue(
      copy, rowsType,
      [&]() -> Value {
        copyRows();
        OpFoldResult keysOfr = keys;
        Value rows = memref::SubViewOp::create(
            b, loc, scratch,
            ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{keysOfr, b.getIndexAttr(valueDim)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
        return memref::CastOp::create(b, loc, rowsType, rows);
      },
      [&] { return inPlace; });
}

Value StepLowering::getVisibleKeyEnd(Value r) {
  if (!op.getMasked())
    return keys;
  // hi and sinkEnd grow with the row's position: the farthest position
  // among rows [0, r] bounds them all (P - 1 once a tile of rows_per_head
  // P wraps around).
  Value farthest = r;
  if (Value period = op.getRowsPerHead())
    farthest = cb.minSI(r, cb.sub(period, cb.index(1)));
  KeyBounds<Value> bounds = getRowBounds(cb.add(op.getQueryPos(), farthest));
  Value end = cb.maxSI(cb.add(bounds.hi, cb.index(1)), bounds.sinkEnd);
  end = cb.sub(end, op.getKeyPos());
  end = cb.maxSI(end, cb.index(0));
  return cb.minSI(end, keys);
}

/// S[r0 + i, c0 + j*vw ...] = sum_d Q[r0 + i, d] * Kt[d, c0 + j*vw ...].
void StepLowering::computeScores() {
  Value query = op.getQuery(), kt = op.getKeyScratch();
  Value scores = op.getScoreScratch();
  Value lastRow = cb.sub(bandEnd, cb.index(1));
  cb.forLoop(bandBegin, bandEnd, sRows, [&](Value r0) {
    SmallVector<Value> qRows = blockRows(r0, sRows, lastRow);
    // Key blocks no row of the block sees are left alone (softmax masks
    // them whatever S holds there).
    Value end = getVisibleKeyEnd(qRows.back());
    cb.forLoop(cb.index(0), end, sVecs * vw, [&](Value c0) {
      SmallVector<Value> cs;
      for (int64_t j = 0; j < sVecs; ++j)
        cs.push_back(cb.add(c0, cb.index(j * vw)));
      Value zero = broadcast(cb.f32(0.0f));
      SmallVector<Value> init(sRows * sVecs, zero);
      SmallVector<Value> accs = vec::emitBlockLoop(
          cb, scoreBlock(), cb.index(headDim), init, nullptr,
          [&](Value d, int64_t j) { return loadVector(kt, {d, cs[j]}); },
          [&](Value d, int64_t i) {
            return broadcast(
                memref::LoadOp::create(b, loc, query, ValueRange{qRows[i], d}));
          });
      for (int64_t i = 0; i < sRows; ++i)
        for (int64_t j = 0; j < sVecs; ++j)
          vector::StoreOp::create(b, loc, accs[i * sVecs + j], scores,
                                  ValueRange{scoreRow(qRows[i]), cs[j]});
    });
  });
}

template <typename Fn>
SmallVector<Value> StepLowering::sumLanesOfLeaves(Fn leaf, int64_t first,
                                                  int64_t n) {
  if (n == 1)
    return leaf(first);
  SmallVector<Value> x = sumLanesOfLeaves(leaf, first, n / 2);
  SmallVector<Value> y = sumLanesOfLeaves(leaf, first + n / 2, n / 2);
  // x and y hold n / 2 segments of `seg` lanes; segment m of x goes to
  // segment 2m of the result, segment m of y to 2m + 1, its two halves
  // added.
  int64_t seg = 2 * vw / n;
  SmallVector<int64_t> low, high;
  for (int64_t m = 0; m < n / 2; ++m)
    for (int64_t source : {int64_t(0), vw})
      for (int64_t l = 0; l < seg / 2; ++l) {
        low.push_back(source + m * seg + l);
        high.push_back(source + m * seg + seg / 2 + l);
      }
  SmallVector<Value> sums;
  for (auto [xr, yr] : llvm::zip_equal(x, y))
    sums.push_back(cb.fadd(vector::ShuffleOp::create(b, loc, xr, yr, low),
                           vector::ShuffleOp::create(b, loc, xr, yr, high)));
  return sums;
}

/// S[r, c0 + l] = sum_d Q[r, d] * K[min(c0 + l, n - 1), d], a row at a
/// time: the products of a key with the row's query, vw lanes along D
/// (FMAs, or vdpbf16ps on bf16 pairs), summed into one vector per key (two
/// chains, even and odd vectors, for the latency), and the vectors of vw
/// keys reduced to one vector of their scores (sumLanesOfLeaves). K is
/// read in place and in order: the first row streams it from memory with
/// little work per byte, the others find it in L2 (measured: 15-25% faster
/// decoding than pairs of rows or key blocks outside the rows, 20-30%
/// faster than packing). Keys widened as they are read (an i8 cache, f16
/// or bf16 without pairs) serve kWidenedRowsAlongD rows per pass instead,
/// each chunk widened once for all of them (i8 decoding 1.07-1.17x, bf16
/// on AVX-512 without BF16 1.08-1.09x faster than packing), and an i8
/// cache's scale multiplies the scores rather than every key element.
void StepLowering::computeScoresAlongD() {
  Value scores = op.getScoreScratch();
  Value lastKey = cb.sub(keys, cb.index(1));
  Value lastRow = cb.sub(bandEnd, cb.index(1));
  int64_t chunk = getAlongDChunk();
  auto loadChunk = [&](Value tile, Value row, int64_t d0) {
    return bf16Pairs ? loadPadded(tile, row, cb.index(d0), chunk, headDim - d0)
                     : loadWidened(tile, row, cb.index(d0), vw, headDim - d0,
                                   /*unscaled=*/true);
  };
  Value zero = broadcast(cb.f32(0.0f));
  auto multiplyAdd = [&](Value k, Value q, Value chain) -> Value {
    if (bf16Pairs)
      return x86vector::DotBF16Op::create(b, loc, chain ? chain : zero, q, k);
    return chain ? vector::FMAOp::create(b, loc, k, q, chain).getResult()
                 : cb.fmul(k, q);
  };
  SmallVector<int64_t> laneLeaves = treeLaneLeaves(0, vw);
  SmallVector<int64_t> leafKeys(vw);
  for (int64_t l = 0; l < vw; ++l)
    leafKeys[laneLeaves[l]] = l;
  // The scales of keys c0, ..., c0 + vw - 1 of an i8 cache (lanes past the
  // tile's keys are masked later), or null.
  auto keyScales = [&](Value c0) -> Value {
    Value scale = op.getKeyScale();
    if (!scale || !isa<MemRefType>(scale.getType()))
      return scale ? broadcast(scale) : Value();
    return vec::loadTail(cb, vw, scale, {}, c0, cb.sub(keys, c0));
  };
  // Rows [from, to), `rows` at a time: one row keeps its query in
  // registers, several read theirs from L1 as each key chunk meets them.
  auto pass = [&](Value from, Value to, int64_t rows) {
    cb.forLoop(from, to, rows, [&](Value r0) {
      SmallVector<Value> rs =
          rows == 1 ? SmallVector<Value>{r0} : blockRows(r0, rows, lastRow);
      SmallVector<Value> q;
      if (rows == 1)
        for (int64_t d0 = 0; d0 < headDim; d0 += chunk)
          q.push_back(loadChunk(op.getQuery(), rs[0], d0));
      cb.forLoop(cb.index(0), getVisibleKeyEnd(rs.back()), vw, [&](Value c0) {
        auto keyProducts = [&](int64_t leaf) {
          Value c = cb.minSI(cb.add(c0, cb.index(leafKeys[leaf])), lastKey);
          SmallVector<std::array<Value, 2>> chains(rows);
          for (int64_t j = 0; j * chunk < headDim; ++j) {
            Value k = loadChunk(op.getKey(), c, j * chunk);
            for (int64_t i = 0; i < rows; ++i) {
              Value qi =
                  rows == 1 ? q[j] : loadChunk(op.getQuery(), rs[i], j * chunk);
              chains[i][j % 2] = multiplyAdd(k, qi, chains[i][j % 2]);
            }
          }
          SmallVector<Value> sums;
          for (auto &[even, odd] : chains)
            sums.push_back(odd ? cb.fadd(even, odd) : even);
          return sums;
        };
        SmallVector<Value> rowScores = sumLanesOfLeaves(keyProducts, 0, vw);
        Value scale = keyScales(c0);
        for (auto [r, score] : llvm::zip_equal(rs, rowScores))
          vector::StoreOp::create(b, loc, scale ? cb.fmul(score, scale) : score,
                                  scores, ValueRange{scoreRow(r), c0});
      });
    });
  };
  if (!widensKeys())
    return pass(bandBegin, bandEnd, 1);
  int64_t rows = kWidenedRowsAlongD;
  Value whole = cb.mul(cb.divUI(cb.sub(bandEnd, bandBegin), cb.index(rows)),
                       cb.index(rows));
  Value wholeEnd = cb.add(bandBegin, whole);
  pass(bandBegin, wholeEnd, rows);
  pass(wholeEnd, bandEnd, 1);
}

/// S[r0 + l, c0 + i] = sum_d Qt[d, r0 + l] * K[min(c0 + i, n - 1), d]: the
/// band's rows are the lanes (Q packed transposed into the key scratch,
/// or as bf16 pairs), each key's element (pair) broadcast from K in place,
/// kKeysByKeys keys' vectors transposed in registers into rows of S. K is
/// read in place and in order while the FMAs use it, so its loads overlap
/// the products (each step also prefetches a line of the next block);
/// packing it (phase 1) would read it apart from them and write it again.
/// Measured against packing (docs/performance.md, "MLA decode"): MLA
/// decoding (16 rows of 576) 1.15-1.19x in f32 and 1.02-1.16x in bf16,
/// GQA 32:2 decoding (16 rows of 128; `HKV=2 python
/// bench/decode_variants.py f32 16384 2 old.so new.so` on bench/decode.py's
/// spec with 2 KV heads) f32 1.2-1.36x.
void StepLowering::computeScoresByKeys() {
  Value scratch = op.getKeyScratch(), scores = op.getScoreScratch();
  Value lastRow = cb.sub(bandEnd, cb.index(1));
  Value lastKey = cb.sub(keys, cb.index(1));
  Value packedRows =
      cb.mul(cb.divUI(cb.add(cb.sub(bandEnd, bandBegin), cb.index(vw - 1)),
                      cb.index(vw)),
             cb.index(vw));
  if (bf16Pairs)
    packPairsTransposed(op.getQuery(), bandBegin, lastRow, packedRows);
  else
    packTransposed(op.getQuery(), bandBegin, lastRow, packedRows);
  vec::RegisterBlock block{kKeysByKeys, 1, op.getMicroKernel().getDot()};
  int64_t steps = bf16Pairs ? headDim / 2 : headDim;
  auto blockType = VectorType::get({kKeysByKeys, vw}, b.getF32Type());
  cb.forLoop(cb.index(0), packedRows, vw, [&](Value t0) {
    Value r0 = cb.add(bandBegin, t0);
    Value end =
        getVisibleKeyEnd(cb.minSI(cb.add(r0, cb.index(vw - 1)), lastRow));
    cb.forLoop(cb.index(0), end, kKeysByKeys, [&](Value c0) {
      SmallVector<Value> cs;
      for (int64_t i = 0; i < kKeysByKeys; ++i)
        cs.push_back(cb.minSI(cb.add(c0, cb.index(i)), lastKey));
      SmallVector<Value> init(kKeysByKeys, broadcast(cb.f32(0.0f)));
      // Step k prefetches line k / kKeysByKeys of key k % kKeysByKeys of
      // the next block: a block's rows have as many lines as there are
      // steps (one f32 or one bf16 pair per step, 16 of them a line).
      Value nextKey = cb.add(c0, cb.index(kKeysByKeys));
      auto prefetchNext = [&](Value k) {
        Value key = cb.minSI(
            cb.add(nextKey,
                   arith::RemUIOp::create(b, loc, k, cb.index(kKeysByKeys))),
            lastKey);
        int64_t lineElements =
            kCacheLineBytes /
            (op.getKey().getType().getElementTypeBitWidth() / 8);
        Value col =
            cb.mul(cb.divUI(k, cb.index(kKeysByKeys)), cb.index(lineElements));
        memref::PrefetchOp::create(b, loc, op.getKey(), ValueRange{key, col},
                                   /*isWrite=*/false, /*localityHint=*/3,
                                   /*isDataCache=*/true);
      };
      SmallVector<Value> accs = vec::emitBlockLoop(
          cb, block, cb.index(steps), init, prefetchNext,
          [&](Value k, int64_t) -> Value {
            if (bf16Pairs)
              return vec::loadPairs(cb, scratch, {k, cb.add(t0, t0)}, vw);
            return loadVector(scratch, {k, t0});
          },
          [&](Value k, int64_t i) -> Value {
            if (bf16Pairs)
              return vec::broadcastPair(cb, op.getKey(), {cs[i], cb.add(k, k)},
                                        vw);
            return broadcast(memref::LoadOp::create(b, loc, op.getKey(),
                                                    ValueRange{cs[i], k}));
          });
      Value keysByRows = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(blockType, 0.0f));
      for (auto [i, acc] : llvm::enumerate(accs))
        keysByRows = vector::InsertOp::create(b, loc, acc, keysByRows,
                                              static_cast<int64_t>(i));
      Value rowsByKeys = vector::TransposeOp::create(b, loc, keysByRows,
                                                     ArrayRef<int64_t>{1, 0});
      // Lanes past the band's last row computed its scores again: storing
      // them there writes the same values.
      for (int64_t l = 0; l < vw; ++l) {
        Value r = cb.minSI(cb.add(r0, cb.index(l)), lastRow);
        vector::StoreOp::create(
            b, loc, vector::ExtractOp::create(b, loc, rowsByKeys, l), scores,
            ValueRange{scoreRow(r), c0});
      }
    });
  });
}

/// Xp[p, 2c + t] = X[min(first + c, last), 2p + t] for c < end: the pairs
/// of a row as 32-bit lanes, transposed in vw x vw blocks like
/// packTransposed.
void StepLowering::packPairsTransposed(Value tile, Value first, Value last,
                                       Value end) {
  Type i32 = b.getI32Type();
  auto blockType = VectorType::get({vw, vw}, i32);
  auto rowType = VectorType::get({vw}, i32);
  int64_t pairs = headDim / 2, fullPairs = pairs - pairs % vw;
  auto packBlock = [&](Value c0, Value p0, int64_t valid) {
    Value block = arith::ConstantOp::create(
        b, loc, cast<TypedAttr>(b.getZeroAttr(blockType)));
    for (int64_t i = 0; i < vw; ++i) {
      Value c = cb.minSI(cb.add(first, cb.add(c0, cb.index(i))), last);
      Value row = loadPadded(tile, c, cb.add(p0, p0), 2 * vw, 2 * valid);
      row = vector::BitCastOp::create(b, loc, rowType, row);
      block = vector::InsertOp::create(b, loc, row, block, i);
    }
    Value transposed =
        vector::TransposeOp::create(b, loc, block, ArrayRef<int64_t>{1, 0});
    for (int64_t i = 0; i < std::min(vw, valid); ++i) {
      Value row = vector::ExtractOp::create(b, loc, transposed, i);
      row = vector::BitCastOp::create(b, loc, vec::getPairVector(cb, vw), row);
      vector::StoreOp::create(
          b, loc, row, op.getKeyScratch(),
          ValueRange{cb.add(p0, cb.index(i)), cb.add(c0, c0)});
    }
  };
  cb.forLoop(cb.index(0), end, vw, [&](Value c0) {
    if (fullPairs > 0)
      cb.forLoop(cb.index(0), cb.index(fullPairs), vw,
                 [&](Value p0) { packBlock(c0, p0, vw); });
    if (fullPairs < pairs)
      packBlock(c0, cb.index(fullPairs), pairs - fullPairs);
  });
}

/// Vp[q, 2d + t] = V[min(2q + t, n - 1), d], zero for d >= Dv: rows 2q and
/// 2q + 1 interleaved. The last pair of an odd tile repeats its last key,
/// whose P there is 0.
void StepLowering::packValuePairs() {
  Value pairs = cb.divUI(cb.add(keys, cb.index(1)), cb.index(2));
  cb.forLoop(cb.index(0), pairs, 1, [&](Value q) {
    for (int64_t d0 = 0; d0 < paddedValueDim; d0 += vw)
      vector::StoreOp::create(
          b, loc, valuePairs(q, cb.index(d0), valueDim - d0),
          op.getValueScratch(), ValueRange{q, cb.index(2 * d0)});
  });
}

Value StepLowering::valuePairs(Value q, Value d, int64_t valid) {
  Value c0 = cb.add(q, q);
  Value c1 = cb.minSI(cb.add(c0, cb.index(1)), cb.sub(keys, cb.index(1)));
  Value even = loadPadded(op.getValue(), c0, d, vw, valid);
  Value odd = loadPadded(op.getValue(), c1, d, vw, valid);
  return vector::InterleaveOp::create(b, loc, even, odd);
}

/// S[r0 + i, c0 + j*vw ...] = sum_p Q[r, 2p..2p+1] . Kp[p, 2(c0 + j*vw) ...]
/// with vdpbf16ps: half the steps of the f32 kernel.
void StepLowering::computeScoresBf16() {
  Value query = op.getQuery(), kp = op.getKeyScratch();
  Value scores = op.getScoreScratch();
  Value lastRow = cb.sub(bandEnd, cb.index(1));
  cb.forLoop(bandBegin, bandEnd, sRows, [&](Value r0) {
    SmallVector<Value> qRows = blockRows(r0, sRows, lastRow);
    Value end = getVisibleKeyEnd(qRows.back());
    cb.forLoop(cb.index(0), end, sVecs * vw, [&](Value c0) {
      SmallVector<Value> cs, pairCols;
      for (int64_t j = 0; j < sVecs; ++j) {
        cs.push_back(cb.add(c0, cb.index(j * vw)));
        pairCols.push_back(cb.add(cs.back(), cs.back()));
      }
      Value zero = broadcast(cb.f32(0.0f));
      SmallVector<Value> init(sRows * sVecs, zero);
      SmallVector<Value> accs = vec::emitBlockLoop(
          cb, scoreBlock(), cb.index(headDim / 2), init, nullptr,
          [&](Value p, int64_t j) {
            return vec::loadPairs(cb, kp, {p, pairCols[j]}, vw);
          },
          [&](Value p, int64_t i) {
            return vec::broadcastPair(cb, query, {qRows[i], cb.add(p, p)}, vw);
          });
      for (int64_t i = 0; i < sRows; ++i)
        for (int64_t j = 0; j < sVecs; ++j)
          vector::StoreOp::create(b, loc, accs[i * sVecs + j], scores,
                                  ValueRange{scoreRow(qRows[i]), cs[j]});
    });
  });
}

/// acc[r0 + i, d0 + j*vw ...] = alpha[r] * acc[...]
///                            + sum_q P[r, 2q..2q+1] . Vp[q, 2(d0 + j*vw) ...]
/// with the bf16 pairs of P that phase 4 left at S[r, q].
void StepLowering::accumulateValuesBf16(vec::RegisterBlock block,
                                        bool valuesInPlace) {
  int64_t oRows = block.rows, oVecs = block.vectors;
  assert((!valuesInPlace || valueDim == paddedValueDim) &&
         "value pairs in place are whole vectors");
  Value acc = op.getAcc(), scores = op.getScoreScratch();
  Value alphas = op.getAlphaScratch(), vp = op.getValueScratch();
  Value lastRow = cb.sub(bandEnd, cb.index(1));
  cb.forLoop(bandBegin, bandEnd, oRows, [&](Value r0) {
    SmallVector<Value> rs = blockRows(r0, oRows, lastRow);
    // Keys past the block's last visible one have P = 0 in all its rows.
    Value pairs =
        cb.divUI(cb.add(getVisibleKeyEnd(rs.back()), cb.index(1)), cb.index(2));
    cb.forLoop(
        cb.index(0), cb.index(paddedValueDim), oVecs * vw, [&](Value d0) {
          SmallVector<Value> ds, pairCols, init;
          for (int64_t j = 0; j < oVecs; ++j) {
            ds.push_back(cb.add(d0, cb.index(j * vw)));
            pairCols.push_back(cb.add(ds.back(), ds.back()));
          }
          for (int64_t i = 0; i < oRows; ++i) {
            Value alpha = broadcast(
                memref::LoadOp::create(b, loc, alphas, ValueRange{rs[i]}));
            for (int64_t j = 0; j < oVecs; ++j)
              init.push_back(cb.fmul(loadVector(acc, {rs[i], ds[j]}), alpha));
          }
          SmallVector<Value> accs = vec::emitBlockLoop(
              cb, block, pairs, init, nullptr,
              [&](Value q, int64_t j) {
                if (valuesInPlace)
                  return valuePairs(q, ds[j], vw);
                return vec::loadPairs(cb, vp, {q, pairCols[j]}, vw);
              },
              [&](Value q, int64_t i) {
                return vec::broadcastPair(cb, scores, {scoreRow(rs[i]), q}, vw);
              });
          for (int64_t i = 0; i < oRows; ++i)
            for (int64_t j = 0; j < oVecs; ++j)
              vector::StoreOp::create(b, loc, accs[i * oVecs + j], acc,
                                      ValueRange{rs[i], ds[j]});
        });
  });
}

Value StepLowering::scoreRowVectors(Value r, Value scoreScale, bool foldLog2e) {
  ScoreSpec spec = ScoreSpec::get(op);
  Value scores = op.getScoreScratch();
  auto i32Vec = VectorType::get({vw}, b.getI32Type());
  Value negInfVec = broadcast(cb.f32(-std::numeric_limits<float>::infinity()));
  Value keyPos = spec.keyPos;
  Value sr = scoreRow(r);
  // Clamps a tile-relative key bound to [-1, cols] and casts it to i32.
  auto relBound = [&](Value bound) -> Value {
    Value rel = cb.sub(bound, keyPos);
    rel = cb.maxSI(rel, cb.index(-1));
    rel = cb.minSI(rel, cb.index(cols));
    return broadcast32(rel);
  };
  // Bounds of the visible keys of this row, relative to the tile, as i32
  // lanes: visible iff isKeyInBounds, and c < keys always.
  Value rowOffset = r;
  if (Value period = op.getRowsPerHead())
    rowOffset = arith::RemUIOp::create(b, loc, r, period);
  Value p = cb.add(spec.queryPos, rowOffset);
  KeyBounds<Value> bounds = getRowBounds(p);
  KeyBounds<Value> lanes{relBound(bounds.lo), relBound(bounds.hi),
                         relBound(bounds.sinkEnd)};
  Value keysV = broadcast32(keys);
  // ALiBi's distances are taken from the row's key nearest its diagonal
  // (alibiOrigin, mha/Codegen/HeadParams.h), tile-relative: the row's
  // largest bias stays out of its scores and m; mha-tile adds it to lse.
  Value originPos = arith::SIToFPOp::create(
      b, loc, b.getF32Type(),
      cb.indexCast(b.getI64Type(),
                   cb.sub(alibiOrigin(cb, p, spec.causal), keyPos)));
  Value scaleV = broadcast(scoreScale);
  Value log2eV = broadcast(cb.f32(kLog2e));

  Value rowMaxV = negInfVec;
  for (int64_t j = 0; j < cols / vw; ++j) {
    Value c = cb.index(j * vw);
    Value s = cb.fmul(loadVector(scores, {sr, c}), scaleV);
    if (spec.softcap) {
      Value cap = broadcast(cb.f32(*spec.softcap));
      s = cb.fmul(cap, math::TanhOp::create(b, loc, cb.fdiv(s, cap)));
    }
    SmallVector<int32_t> laneKeys;
    SmallVector<float> laneKeysF;
    for (int64_t l = 0; l < vw; ++l) {
      laneKeys.push_back(static_cast<int32_t>(j * vw + l));
      laneKeysF.push_back(static_cast<float>(j * vw + l));
    }
    if (spec.hasAlibi) {
      Value cF = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vecType, ArrayRef<float>(laneKeysF)));
      Value dist =
          math::AbsFOp::create(b, loc, cb.fsub(broadcast(originPos), cF));
      s = cb.fsub(s, cb.fmul(broadcast(spec.slope), dist));
    }
    if (!foldLog2e)
      s = cb.fmul(s, log2eV);
    Value cI = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(i32Vec, ArrayRef<int32_t>(laneKeys)));
    Value vis = cb.lt(cI, keysV);
    if (op.getMasked())
      vis = cb.andI(vis, isKeyInBounds(cb, lanes, cI));
    s = cb.select(vis, s, negInfVec);
    vector::StoreOp::create(b, loc, s, scores, ValueRange{sr, c});
    if (Value out = op.getScoresOut()) {
      // Lanes past the memref's keys are masked off by the transfer.
      vector::TransferWriteOp::create(b, loc, s, out,
                                      ValueRange{r, cb.add(keyPos, c)},
                                      ArrayRef<bool>{false});
    }
    // A NaN score is left out of the max; it still reaches P (exp2 of
    // NaN is NaN) and the row's sum, as before this max took NaN in
    // (finalisation writes a row whose sum is not positive as zeros).
    rowMaxV = cb.selectMax(s, rowMaxV);
  }
  return reduceLanes(rowMaxV,
                     [&](Value x, Value y) { return cb.selectMax(x, y); });
}

/// The online softmax of each row, over the tile's key vectors.
void StepLowering::softmaxRows() {
  ScoreSpec spec = ScoreSpec::get(op);
  bool trackEntropy = op.getTrackEntropy();
  Value scores = op.getScoreScratch();
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  int64_t numVecs = cols / vw;
  auto add = [&](Value x, Value y) { return cb.fadd(x, y); };
  // Scores in log2 units: one multiply by scale * log2(e) unless softcap or
  // ALiBi come between the two.
  bool foldLog2e = !spec.softcap && !spec.hasAlibi;
  Value scoreScale =
      foldLog2e ? cb.fmul(spec.scale, cb.f32(kLog2e)) : spec.scale;

  cb.forLoop(bandBegin, bandEnd, 1, [&](Value r) {
    Value sr = scoreRow(r);
    // Pass 1: final scores in log2 units, -inf where invisible; row max.
    Value tileMax = scoreRowVectors(r, scoreScale, foldLog2e);
    Value mOld = memref::LoadOp::create(b, loc, op.getRowMax(), r);
    Value lOld = memref::LoadOp::create(b, loc, op.getRowSum(), r);
    Value mNew = cb.maximumF(mOld, tileMax);
    Value empty = cb.cmpF(arith::CmpFPredicate::OEQ, mNew, negInf);
    Value mUse = cb.select(empty, cb.f32(0.0f), mNew);
    Value minExp = cb.f32(kMinExponent);
    Value alpha = cb.exp2(cb.maximumF(cb.fsub(mOld, mUse), minExp));

    // Pass 2: P = exp2(u - m) over S, row sums. Invisible keys have
    // u = -inf and exp2(-inf) = 0 exactly.
    Value mUseV = broadcast(mUse), minExpV = broadcast(minExp);
    Value zeroV = broadcast(cb.f32(0.0f));
    Value sumV = zeroV, entV = zeroV;
    std::optional<DropoutStream> dropout = dropoutStream(r);
    for (int64_t j = 0; j < numVecs; ++j) {
      Value c = cb.index(j * vw);
      Value u = loadVector(scores, {sr, c});
      Value x = cb.fsub(u, mUseV);
      Value p = cb.exp2(x);
      // Dropout weights the values with P or 0; l and t sum P.
      Value pv = dropout ? cb.select(dropoutKeeps(*dropout, j), p, zeroV) : p;
      if (bf16Pairs) {
        // vw bf16 = vw/2 pairs, each stored as one f32 slot at S[r, j vw/2]:
        // slots this row has already read.
        Value rounded = x86vector::CvtPackedF32ToBF16Op::create(
            b, loc, VectorType::get({vw}, b.getBF16Type()), pv);
        rounded = vector::BitCastOp::create(
            b, loc, vec::getF32Vector(cb, vw / 2), rounded);
        vector::StoreOp::create(b, loc, rounded, scores,
                                ValueRange{sr, cb.index(j * vw / 2)});
      } else {
        vector::StoreOp::create(b, loc, pv, scores, ValueRange{sr, c});
      }
      sumV = cb.fadd(sumV, p);
      // p x with x clamped: 0 (not 0 * -inf) for invisible keys.
      if (trackEntropy)
        entV = vector::FMAOp::create(b, loc, p, cb.selectMax(x, minExpV), entV);
    }
    Value tileSum = reduceLanes(sumV, add);
    memref::StoreOp::create(b, loc, mNew, op.getRowMax(), r);
    memref::StoreOp::create(b, loc, cb.fadd(cb.fmul(alpha, lOld), tileSum),
                            op.getRowSum(), r);
    memref::StoreOp::create(b, loc, alpha, op.getAlphaScratch(), r);
    if (trackEntropy) {
      // t' = a (t + (m - m') l) + sum p (u - m'); the shift is 0 while l is
      // 0 (m is -inf then).
      Value tOld = memref::LoadOp::create(b, loc, op.getRowEntropy(), r);
      Value shift =
          cb.select(cb.cmpF(arith::CmpFPredicate::OEQ, lOld, cb.f32(0.0f)),
                    cb.f32(0.0f), cb.fmul(cb.fsub(mOld, mUse), lOld));
      Value tileEnt = reduceLanes(entV, add);
      memref::StoreOp::create(
          b, loc, cb.fadd(cb.fmul(alpha, cb.fadd(tOld, shift)), tileEnt),
          op.getRowEntropy(), r);
    }
  });
}

/// acc[r0 + i, d0 + j*vw ...] = alpha[r] * acc[...] + sum_c P[r, c] V[c, ...].
void StepLowering::accumulateValues(Value values, vec::RegisterBlock block) {
  int64_t oRows = block.rows, oVecs = block.vectors;
  Value acc = op.getAcc(), scores = op.getScoreScratch();
  Value alphas = op.getAlphaScratch();
  Value lastRow = cb.sub(bandEnd, cb.index(1));
  cb.forLoop(bandBegin, bandEnd, oRows, [&](Value r0) {
    SmallVector<Value> rs = blockRows(r0, oRows, lastRow);
    // Keys past the block's last visible one have P = 0 in all its rows.
    Value end = getVisibleKeyEnd(rs.back());
    cb.forLoop(
        cb.index(0), cb.index(paddedValueDim), oVecs * vw, [&](Value d0) {
          SmallVector<Value> ds, init;
          for (int64_t j = 0; j < oVecs; ++j)
            ds.push_back(cb.add(d0, cb.index(j * vw)));
          for (int64_t i = 0; i < oRows; ++i) {
            Value alpha = broadcast(
                memref::LoadOp::create(b, loc, alphas, ValueRange{rs[i]}));
            for (int64_t j = 0; j < oVecs; ++j)
              init.push_back(cb.fmul(loadVector(acc, {rs[i], ds[j]}), alpha));
          }
          SmallVector<Value> accs = vec::emitBlockLoop(
              cb, block, end, init, nullptr,
              [&](Value c, int64_t j) {
                return loadVector(values, {c, ds[j]});
              },
              [&](Value c, int64_t i) {
                return broadcast(memref::LoadOp::create(
                    b, loc, scores, ValueRange{scoreRow(rs[i]), c}));
              });
          for (int64_t i = 0; i < oRows; ++i)
            for (int64_t j = 0; j < oVecs; ++j)
              vector::StoreOp::create(b, loc, accs[i * oVecs + j], acc,
                                      ValueRange{rs[i], ds[j]});
        });
  });
}

Value StepLowering::valuesHaveNonFinite() {
  Value inf = broadcast(cb.f32(std::numeric_limits<float>::infinity()));
  auto maskType = VectorType::get({vw}, b.getI1Type());
  Value none = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(maskType, false));
  scf::ForOp loop =
      cb.forLoopCarrying(keys, {none}, [&](Value c, ValueRange carried) {
        Value any = carried[0];
        for (int64_t d0 = 0; d0 < valueDim; d0 += vw) {
          Value v =
              loadWidened(op.getValue(), c, cb.index(d0), vw, valueDim - d0);
          // Unordered: true for NaN as well as for +-inf.
          Value bad = cb.cmpF(arith::CmpFPredicate::UGE,
                              math::AbsFOp::create(b, loc, v), inf);
          any = cb.orI(any, bad);
        }
        return SmallVector<Value>{any};
      });
  return vector::ReductionOp::create(b, loc, vector::CombiningKind::OR,
                                     loop.getResult(0));
}

Value StepLowering::loadProbability(Value r, Value c) {
  Value scores = op.getScoreScratch();
  if (!bf16Pairs)
    return memref::LoadOp::create(b, loc, scores, ValueRange{scoreRow(r), c});
  // Key c's bf16 is half `c mod 2` (low half first) of slot c / 2; a bf16
  // is the high half of its f32.
  Value slot = memref::LoadOp::create(
      b, loc, scores, ValueRange{scoreRow(r), cb.divUI(c, cb.index(2))});
  Type i32 = b.getI32Type();
  Value bits = arith::BitcastOp::create(b, loc, i32, slot);
  Value odd = cb.indexCast(i32, arith::RemUIOp::create(b, loc, c, cb.index(2)));
  Value shift = cb.mul(odd, cb.i32(16));
  Value half = arith::ShRUIOp::create(b, loc, bits, shift);
  Value widened = arith::ShLIOp::create(b, loc, half, cb.i32(16));
  return arith::BitcastOp::create(b, loc, b.getF32Type(), widened);
}

void StepLowering::accumulateValuesExact() {
  Value acc = op.getAcc();
  Value zero = cb.f32(0.0f);
  cb.forLoop(bandBegin, bandEnd, 1, [&](Value r) {
    Value alpha = broadcast(
        memref::LoadOp::create(b, loc, op.getAlphaScratch(), ValueRange{r}));
    for (int64_t d0 = 0; d0 < paddedValueDim; d0 += vw) {
      Value d = cb.index(d0);
      vector::StoreOp::create(b, loc, cb.fmul(loadVector(acc, {r, d}), alpha),
                              acc, ValueRange{r, d});
    }
    cb.forLoop(cb.index(0), keys, 1, [&](Value c) {
      Value p = loadProbability(r, c);
      cb.ifThen(cb.cmpF(arith::CmpFPredicate::UNE, p, zero), [&] {
        Value pv = broadcast(p);
        for (int64_t d0 = 0; d0 < paddedValueDim; d0 += vw) {
          Value d = cb.index(d0);
          Value v = loadWidened(op.getValue(), c, d, vw, valueDim - d0);
          Value sum =
              vector::FMAOp::create(b, loc, pv, v, loadVector(acc, {r, d}));
          vector::StoreOp::create(b, loc, sum, acc, ValueRange{r, d});
        }
      });
    });
  });
}

/// Lowers `mha.online_softmax_step` to the five phases above.
struct LowerOnlineSoftmaxStep : OpRewritePattern<OnlineSoftmaxStepOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(OnlineSoftmaxStepOp op,
                                PatternRewriter &rewriter) const override {
    MicroKernelAttr mk = op.getMicroKernel();
    int64_t vw = mk.getVectorWidth();
    int64_t cols = op.getScoreScratch().getType().getDimSize(1);
    int64_t padded = op.getValueScratch().getType().getDimSize(1);
    if (mk.getDot() == DotProduct::bf16_pairs)
      padded /= 2;
    if (cols % (vw * mk.getScoreVectors()) != 0 ||
        padded % (vw * mk.getOutputVectors()) != 0 || mk.getScoreRows() < 1 ||
        mk.getOutputRows() < 1)
      return rewriter.notifyMatchFailure(
          op, "scratch shapes do not match the micro-kernel");
    StepLowering lowering(op, rewriter);
    lowering.rows =
        memref::DimOp::create(rewriter, op.getLoc(), op.getQuery(), 0);
    lowering.keys =
        memref::DimOp::create(rewriter, op.getLoc(), op.getKey(), 0);
    // Masked steps check their values once: rare NaN or inf values take
    // the exact phase 5.
    Value nonFinite = op.getMasked() ? lowering.valuesHaveNonFinite() : Value();
    auto accumulate = [&](auto microKernels) {
      if (!nonFinite)
        return microKernels();
      lowering.cb.ifThenElse(
          nonFinite, [&] { lowering.accumulateValuesExact(); }, microKernels);
    };
    // Steps of few rows (decoding) compute S from K in place, along D or
    // by keys; others pack K for the micro-kernels. The rows are known at
    // run time.
    CodegenBuilder &cb = lowering.cb;
    bool bf16 = lowering.bf16Pairs;
    Value packed, alongD;
    bool byKeys = lowering.canReadKeysInPlace();
    if (byKeys) {
      packed = cb.gt(lowering.rows, cb.index(lowering.getMaxRowsByKeys()));
      if (lowering.canComputeAlongD())
        alongD = cb.le(lowering.rows, cb.index(kMaxRowsAlongD));
    } else if (lowering.widensKeys() && lowering.canComputeAlongD()) {
      packed = cb.gt(lowering.rows, cb.index(kMaxRowsAlongD));
    }
    auto byMethod = [&](function_ref<void(ScoreMethod)> phase) {
      if (!packed)
        return phase(ScoreMethod::packed);
      cb.ifThenElse(
          packed, [&] { phase(ScoreMethod::packed); },
          [&] {
            if (!byKeys)
              return phase(ScoreMethod::alongD);
            if (!alongD)
              return phase(ScoreMethod::byKeys);
            cb.ifThenElse(
                alongD, [&] { phase(ScoreMethod::alongD); },
                [&] { phase(ScoreMethod::byKeys); });
          });
    };
    // Phase 1, then phase 2's bf16 value pairs: steps along D interleave
    // them from the tile as phase 5 reads them when the value rows need no
    // padding (4-6% faster decoding than packing them; whole value rows
    // per block are slower there, the interleaving being repeated per row
    // pair).
    // Steps by keys pack them after their scores, which read the tile
    // first: once per band (their few rows fill one band of the usual
    // score scratch).
    bool pairsInPlace = bf16 && lowering.valueDim == lowering.paddedValueDim;
    byMethod([&](ScoreMethod method) {
      if (method == ScoreMethod::packed)
        lowering.packKeys();
      if (bf16 && (method == ScoreMethod::packed ||
                   (method == ScoreMethod::alongD && !pairsInPlace)))
        lowering.packValuePairs();
    });
    Value values = bf16 ? Value() : lowering.packValues(packed);
    lowering.forEachBand([&] {
      byMethod([&](ScoreMethod method) {
        if (method == ScoreMethod::alongD)
          return lowering.computeScoresAlongD();
        if (method == ScoreMethod::packed)
          return bf16 ? lowering.computeScoresBf16() : lowering.computeScores();
        lowering.computeScoresByKeys();
        if (bf16)
          lowering.packValuePairs();
      });
      lowering.softmaxRows();
      accumulate([&] {
        byMethod([&](ScoreMethod method) {
          bool inPlaceRows = method == ScoreMethod::alongD;
          if (bf16)
            return lowering.accumulateValuesBf16(lowering.outputBlock(),
                                                 inPlaceRows && pairsInPlace);
          lowering.accumulateValues(values, inPlaceRows
                                                ? lowering.alongDOutputBlock()
                                                : lowering.outputBlock());
        });
      });
    });
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::mha::populateOnlineSoftmaxStepLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerOnlineSoftmaxStep>(patterns.getContext());
}
