//===- OnlineSoftmaxStep.h - Lowering one flash step ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to the lowering of mha.online_softmax_step: OnlineSoftmaxStep.cpp
// (the five phases and the pattern) and OnlineSoftmaxScoresInPlace.cpp (the
// scores of decoding steps, from K read in place). This is the state they
// share while they lower one step.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATOVECTOR_ONLINESOFTMAXSTEP_H
#define MHA_LIB_CONVERSION_MHATOVECTOR_ONLINESOFTMAXSTEP_H

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

namespace mlir::mha::detail {

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

/// Steps of keys widened as they are read (an i8 cache, 16-bit keys
/// without pairs) compute S along D up to this many rows, which packing
/// would widen once: i8 decoding with 4 new rows per sequence (16 rows of
/// a GQA 32:8 group) measured 1.02-1.08x faster than packing, with 8
/// (32 rows) 0.96x
/// (docs/cpu-runs/decode-i8-lq4-along-d-2026-12-07-zen4.txt).
constexpr int64_t kMaxWidenedRowsAlongD = 16;

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
  /// The P.V block of steps along D that widen the value tile in place:
  /// the rows that share each widened key chunk (kWidenedRowsAlongD), so
  /// that each value vector is widened once per block of them, by the
  /// micro-kernel's output vectors (the tiler pads the value row to a
  /// multiple of them and keeps their accumulators in half the registers).
  vec::RegisterBlock widenedOutputBlock() {
    return {kWidenedRowsAlongD, oVecs, op.getMicroKernel().getDot()};
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
  Value packValues(Value manyRows, bool widenedInPlace = false);
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
  /// Phase 5 with the f32 micro-kernel of `block`, on `values` (f32 rows),
  /// or (null `values`) on the value tile widened as the micro-kernel
  /// reads it, an i8 cache's scale multiplying P (widensValuesInPlace).
  void accumulateValues(Value values, vec::RegisterBlock block);
  /// P[r, c] *= scale (an f32, or the [cols] memref of each key's) in the
  /// band's score rows, up to each row's last visible key: the value scale
  /// of an i8 tile read in place, applied once per P rather than in the
  /// P.V micro-kernel, once per P and output block.
  void scaleProbabilities(Value scale);
  /// Whether steps along D read a widened value tile (i8, f16, or bf16
  /// without pairs) in place, widening each vector as phase 5 multiplies
  /// it, instead of packing it: whole vectors only (no padding).
  bool widensValuesInPlace() {
    return !bf16Pairs && !op.getValue().getType().getElementType().isF32() &&
           valueDim == paddedValueDim && llvm::isPowerOf2_64(vw);
  }
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

} // namespace mlir::mha::detail

#endif // MHA_LIB_CONVERSION_MHATOVECTOR_ONLINESOFTMAXSTEP_H
