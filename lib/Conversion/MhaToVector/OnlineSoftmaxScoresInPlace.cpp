//===- OnlineSoftmaxScoresInPlace.cpp - Decoding scores ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Phase 3 of an mha.online_softmax_step (OnlineSoftmaxStep.cpp) for steps of
// few rows (decoding): S from the key tile read in place instead of packed,
// along D for up to kMaxRowsAlongD rows (kMaxWidenedRowsAlongD widened),
// by keys (the rows as lanes) for up to kMaxRowsByKeys* rows.
//
//===----------------------------------------------------------------------===//

#include "OnlineSoftmaxStep.h"

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::detail;

/// Entry l: the leaf (of first, ..., first + n - 1) whose sum lane l of
/// sumLanesOfLeaves' result holds, the tree interleaving its halves'
/// segments.
static SmallVector<int64_t> treeLaneLeaves(int64_t first, int64_t n) {
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

namespace mlir::mha::detail {

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

} // namespace mlir::mha::detail
