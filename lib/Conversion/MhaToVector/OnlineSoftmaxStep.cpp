//===- OnlineSoftmaxStep.cpp - Register-blocked flash step ------*- C++ -*-===//
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
//      up to kMaxRowsAlongD rows (kMaxWidenedRowsAlongD for keys widened
//      as they are read) sum each score along D
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
// The scores of decoding steps (K in place) are
// OnlineSoftmaxScoresInPlace.cpp's.
//
//===----------------------------------------------------------------------===//

#include "OnlineSoftmaxStep.h"

#define DEBUG_TYPE "convert-mha-to-vector"

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::detail;

namespace mlir::mha::detail {

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
/// (docs/performance.md, "Layouts"). A widened tile that steps of few
/// rows read in place (`widenedInPlace`) is packed for the others only.
Value StepLowering::packValues(Value manyRows, bool widenedInPlace) {
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
  if (widenedInPlace && manyRows) {
    cb.ifThen(manyRows, copyRows);
    return scratch;
  }
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
  // In place, an i8 tile's scale multiplies P rather than every element.
  if (Value valueScale = values ? Value() : op.getValueScale())
    scaleProbabilities(valueScale);
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
                if (!values)
                  return loadWidened(op.getValue(), c, ds[j], vw, vw,
                                     /*unscaled=*/true);
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

void StepLowering::scaleProbabilities(Value scale) {
  Value scores = op.getScoreScratch();
  bool perKey = isa<MemRefType>(scale.getType());
  Value uniform = perKey ? Value() : broadcast(scale);
  // Whole vectors: the score rows and the key scales have `cols` entries, a
  // multiple of vw; those past a row's keys are never read.
  cb.forLoop(bandBegin, bandEnd, 1, [&](Value r) {
    cb.forLoop(cb.index(0), getVisibleKeyEnd(r), vw, [&](Value c0) {
      Value s = perKey ? loadVector(scale, {c0}) : uniform;
      Value p = loadVector(scores, {scoreRow(r), c0});
      vector::StoreOp::create(b, loc, cb.fmul(p, s), scores,
                              ValueRange{scoreRow(r), c0});
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
} // namespace mlir::mha::detail

namespace {

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
    // run time; `max_rows` makes the conditions of more rows constants,
    // and the builder emits no branch a constant rules out.
    CodegenBuilder &cb = lowering.cb;
    std::optional<int64_t> maxRows = op.getMaxRows();
    auto moreThan = [&](int64_t n) {
      return maxRows && *maxRows <= n ? cb.boolean(false)
                                      : cb.gt(lowering.rows, cb.index(n));
    };
    bool bf16 = lowering.bf16Pairs;
    Value packed, alongD;
    bool byKeys = lowering.canReadKeysInPlace();
    if (byKeys) {
      packed = moreThan(lowering.getMaxRowsByKeys());
      if (lowering.canComputeAlongD())
        alongD = maxRows && *maxRows <= kMaxRowsAlongD
                     ? cb.boolean(true)
                     : cb.le(lowering.rows, cb.index(kMaxRowsAlongD));
    } else if (lowering.widensKeys() && lowering.canComputeAlongD()) {
      packed = moreThan(kMaxWidenedRowsAlongD);
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
    // Steps along D of a widened value tile read it in place: a separate
    // packing pass waited on the cache's reads with nothing to overlap them
    // (i8 decoding 1.14-1.19x faster at GQA 32:8, 1.33x with one row per
    // KV head: docs/performance.md, CPU decode).
    bool widenedInPlace =
        lowering.widensValuesInPlace() && lowering.widensKeys() && packed;
    Value values = bf16 ? Value() : lowering.packValues(packed, widenedInPlace);
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
          if (inPlaceRows && widenedInPlace)
            return lowering.accumulateValues(Value(),
                                             lowering.widenedOutputBlock());
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
