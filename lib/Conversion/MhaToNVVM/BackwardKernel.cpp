//===- BackwardKernel.cpp - The GPU backward kernels ----------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The backward of an attention function on the GPU, FlashAttention-2's
// algorithm in two kernels that never add into the same memory, so their
// gradients are the same bits from run to run (mha_options.deterministic
// holds by construction):
//
//  - the query-row kernel (grid: query tiles x query heads x B), shaped
//    like the forward: Q and dO of the block's rows in shared memory, K/V
//    tiles streamed through two cp.async stages; per visible key tile
//      S = Q.K^T, P = exp2(x - lse2), dP = dO.V^T,
//      dS = P * (dP - delta) * scale [* (1 - tanh^2)], dQ += dS.K
//    with dS re-packed from the accumulators as A fragments and K read by
//    ldmatrix.trans, as the forward reads V;
//  - the key kernel (grid: key tiles x KV heads x B): K/V of the block's
//    keys stay in shared memory while it walks the query heads of its
//    group and, per head, the query tiles that can see its keys. The warps
//    compute S and dP for 16 query rows each, write P and dS to shared
//    memory, and then own 16 keys each (with 8 warps, 16 keys and half the
//    columns) for dV += P^T.dO and dK += dS^T.Q (P^T and dS^T by
//    ldmatrix.trans). Summing the group's heads in one block gives GQA/MQA
//    their dk/dv without atomics.
//
// Both recompute delta = rowsum(dO * O) for their rows (a quad reads the
// row's columns and sums them by shuffles) and take lse2, the row's
// log-sum-exp in base 2 without the ALiBi bias the scores leave out, from
// the forward's lse. Rows that see no key (lse = -inf), rows past Lq (or
// q_lens) and pruned heads get lse2 = +inf, so their P, and with it every
// gradient they contribute, is exactly zero; rows and keys past the
// lengths are zeros in shared memory, whatever the caller's padding holds.
//
//===----------------------------------------------------------------------===//

#include "BackwardKernel.h"
#include "PtxBuilder.h"
#include "ScoreMods.h"
#include "SharedTiles.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/Constants.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/KeyVisibility.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::mha;

namespace {

/// The shared tiles of a kernel, in the order they are laid out: rows x
/// (width + pad) elements each, `stages` copies.
struct TileShape {
  int64_t stages, rows, width;
};

SmallVector<TileShape> sharedTileShapes(BackwardKernelKind kind,
                                        const FlashKernelConfig &cfg) {
  const int64_t R = cfg.warps * 16, C = cfg.cols;
  const int64_t D = cfg.headDim, Dv = cfg.valueDim;
  if (kind == BackwardKernelKind::queryRows)
    // Q, dO; K and V in two stages.
    return {{1, R, D}, {1, R, Dv}, {2, C, D}, {2, C, Dv}};
  // K, V; Q, dO; P, dS.
  return {{1, C, D}, {1, C, Dv}, {1, R, D}, {1, R, Dv}, {1, R, C}, {1, R, C}};
}

class BackwardKernelEmitter : WarpLanes {
public:
  BackwardKernelEmitter(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                        BackwardKernelKind kind, const FlashKernelConfig &cfg,
                        const AttentionVariant &variant,
                        const BackwardKernelArgs &args, StringRef prefix)
      : b(b), loc(loc), cb(b, loc), ptx(cb, cfg.elementType), module(module),
        kind(kind), cfg(cfg), variant(variant), args(args), prefix(prefix),
        R(cfg.warps * 16), C(cfg.cols), D(cfg.headDim), Dv(cfg.valueDim) {}

  void emit() {
    emitThreadIds();
    allocateTiles();
    if (kind == BackwardKernelKind::queryRows)
      emitQueryRowKernel();
    else
      emitKeyKernel();
    gpu::ReturnOp::create(b, loc);
  }

private:
  // Both kernels.
  void emitThreadIds();
  void allocateTiles();
  GpuHeadParams headParams(Value head) {
    return emitGpuHeadParams(cb, module, prefix, variant, head, args.headMask);
  }
  /// lse2 of rows g and g + 8 of the warp's 16 rows from `warpRow0` of head
  /// `hp` (+inf for rows without keys, past Lq, or of a pruned head).
  std::array<Value, 2> rowLse2(const GpuHeadParams &hp, Value warpRow0);
  /// delta = sum_c dO[row, c] * O[row, c] of rows g and g + 8 (0 past Lq).
  std::array<Value, 2> rowDelta(Value head, Value warpRow0);
  /// The A fragment of 16-column chunk `c` of the warp's rows `row` of
  /// `tile`.
  SmallVector<Value> rowFragment(Value tile, Value row, int64_t c);
  /// The A fragments of all `width / 16` chunks.
  SmallVector<SmallVector<Value>> rowFragments(Value tile, Value row,
                                               int64_t width);
  /// The 16 x cols product of A (16 x 16 * chunks, `aChunk(c)` the fragment
  /// of chunk c) and rows [row0, row0 + cols) of `tile[stage]` (read as B
  /// by ldmatrix).
  SmallVector<Frag>
  productWithRows(function_ref<SmallVector<Value>(int64_t)> aChunk,
                  int64_t chunks, Value tile, Value stage, int64_t cols,
                  int64_t row0 = 0);
  /// acc[n] += a . tile[stage][row0 + 16 rows, col0 + 8n..col0 + 8n + 7]
  /// for `width` columns (B by ldmatrix.trans), n over width / 8.
  void accumulateColumns(ArrayRef<Value> a, Value tile, Value stage, Value row0,
                         Value col0, int64_t width, SmallVector<Frag> &acc);
  /// lse2 and delta of rows g and g + 8 of a warp's rows.
  struct RowStats {
    std::array<Value, 2> lse2, delta;
  };
  RowStats rowStats(const GpuHeadParams &hp, Value warpRow0) {
    return {rowLse2(hp, warpRow0), rowDelta(hp.head, warpRow0)};
  }
  /// The scores' gradient dS (scaled into the raw Q.K^T product's) and P
  /// of a warp's 16 x cols tile, four per Frag in its order.
  void scoreGradients(ArrayRef<Frag> s, ArrayRef<Frag> dp,
                      const GpuHeadParams &hp, const RowStats &stats,
                      Value warpRow0, Value j0, Value jEnd,
                      SmallVector<Value> &p, SmallVector<Value> &ds);
  /// Two f32 values as one MMA operand register.
  Value pack(Value x0, Value x1);
  /// Stores the 16 x (frags.size() * 8) f32 tile `frags` (rows g and g + 8
  /// from `row`, columns from col0 + 8n + 2t) into `dst[prefix..., row,
  /// col]`, rows >= `rowLimit` skipped, in dst's element type.
  void storeFrags(ArrayRef<Frag> frags, Value dst, ValueRange prefix, Value row,
                  Value rowLimit, Value col0);
  SmallVector<Value> flatten(ArrayRef<Frag> frags) {
    SmallVector<Value> flat;
    for (const Frag &f : frags)
      flat.append(f.begin(), f.end());
    return flat;
  }
  SmallVector<Frag> unflatten(ValueRange flat) {
    SmallVector<Frag> frags(flat.size() / 4);
    for (auto [i, v] : llvm::enumerate(flat))
      frags[i / 4][i % 4] = v;
    return frags;
  }
  SmallVector<Frag> zeros(int64_t n) {
    return SmallVector<Frag>(n, Frag{zeroF, zeroF, zeroF, zeroF});
  }
  RowCopier copier() { return RowCopier(cb, cfg, tid); }

  // The query-row kernel.
  void emitQueryRowKernel();
  // The key kernel.
  void emitKeyKernel();
  /// Query tile `qTile` of head `hp` against the block's keys: the warps'
  /// S, dP, P and dS, then dV and dK of the warp's keys.
  SmallVector<Value> emitQueryTile(const GpuHeadParams &hp, Value qTile,
                                   ValueRange acc);

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  PtxBuilder ptx;
  gpu::GPUModuleOp module;
  BackwardKernelKind kind;
  const FlashKernelConfig &cfg;
  const AttentionVariant &variant;
  const BackwardKernelArgs &args;
  StringRef prefix;
  const int64_t R, C, D, Dv;

  Value tid;
  /// The tensors' query rows and keys, and the batch element's real ones
  /// (q_lens, kv_lens, clamped to the tensors).
  Value batch, queryRows, keyRows, queryLen, keyLen, diagOffset;
  Value zero, zeroF;
  /// The tiles of sharedTileShapes, [stage, row, col] views.
  SmallVector<Value> tiles;
  // The key kernel's keys; its warps w and w + 4 own keys 16 (w % 4) and
  // split the columns of dk and dv in `split` parts (at head dims above 64,
  // so that the accumulators stay in registers).
  Value kvHead, j0, jEnd, keyWarp, dkCol0, dvCol0;
  int64_t split = 1;
};

void BackwardKernelEmitter::emitThreadIds() {
  Type indexType = b.getIndexType();
  zero = cb.index(0);
  zeroF = cb.f32(0.0f);
  tid = gpu::ThreadIdOp::create(b, loc, indexType, gpu::Dimension::x);
  batch = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::z);
  computeLanes(cb, tid);
  queryRows = memref::DimOp::create(b, loc, args.q, 2);
  keyRows = memref::DimOp::create(b, loc, args.k, 2);
  queryLen = loadClampedLength(cb, args.qLens, batch, queryRows);
  keyLen = loadClampedLength(cb, args.kvLens, batch, keyRows);
  diagOffset = cb.sub(keyLen, queryLen);
}

void BackwardKernelEmitter::allocateTiles() {
  Value smem = dynamicSharedMemory(cb);
  int64_t offset = 0;
  for (const TileShape &t : sharedTileShapes(kind, cfg)) {
    int64_t stride = t.width + cfg.pad;
    tiles.push_back(sharedView(cb, smem, offset, {t.stages, t.rows, stride},
                               cfg.elementType));
    offset += t.stages * t.rows * stride * kSmemEltBytes;
  }
}

std::array<Value, 2> BackwardKernelEmitter::rowLse2(const GpuHeadParams &hp,
                                                    Value warpRow0) {
  Type f32 = b.getF32Type();
  Value inf = cb.f32(std::numeric_limits<float>::infinity());
  std::array<Value, 2> lse2;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = cb.add(warpRow0, cb.add(groupId, cb.index(8 * half)));
    Value inRows = cb.lt(row, queryLen);
    Value lse = cb.ifValue(
        inRows, f32,
        [&] {
          return memref::LoadOp::create(b, loc, args.lse,
                                        ValueRange{batch, hp.head, row});
        },
        [&] { return cb.f32(-std::numeric_limits<float>::infinity()); });
    // The scores leave out the row's ALiBi bias, which lse includes.
    Value biased = lse;
    if (alibiShiftsRows(variant))
      biased = cb.fsub(
          lse, alibiRowBias(cb, hp.params.alibiSlope, cb.add(row, diagOffset)));
    Value keys = cb.cmpF(arith::CmpFPredicate::ONE, lse,
                         cb.f32(-std::numeric_limits<float>::infinity()));
    Value live = cb.andI(cb.andI(inRows, keys), hp.alive);
    lse2[half] = cb.select(live, cb.fmul(biased, cb.f32(kLog2e)), inf);
  }
  return lse2;
}

std::array<Value, 2> BackwardKernelEmitter::rowDelta(Value head,
                                                     Value warpRow0) {
  Type f32 = b.getF32Type();
  auto pairType = VectorType::get({2}, f32);
  Type outElt = cast<MemRefType>(args.o.getType()).getElementType();
  auto loadType = VectorType::get({2}, outElt);
  Value col0 = cb.mul(threadInGroup, cb.index(2));
  std::array<Value, 2> delta;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = cb.add(warpRow0, cb.add(groupId, cb.index(8 * half)));
    Value partial = cb.ifValue(
        cb.lt(row, queryLen), f32,
        [&] {
          Value sum = zeroF;
          for (int64_t n = 0; n < Dv / 8; ++n) {
            SmallVector<Value> at{batch, head, row,
                                  cb.add(cb.index(n * 8), col0)};
            auto load = [&](Value t) -> Value {
              Value v = vector::LoadOp::create(b, loc, loadType, t, at);
              return outElt == f32 ? v
                                   : arith::ExtFOp::create(b, loc, pairType, v)
                                         .getResult();
            };
            Value prod = cb.fmul(load(args.dout), load(args.o));
            for (int64_t e = 0; e < 2; ++e)
              sum = cb.fadd(sum, vector::ExtractOp::create(
                                     b, loc, prod, ArrayRef<int64_t>{e}));
          }
          return sum;
        },
        [&] { return zeroF; });
    delta[half] = ptx.quadReduce(partial, /*isMax=*/false);
  }
  return delta;
}

SmallVector<Value> BackwardKernelEmitter::rowFragment(Value tile, Value row,
                                                      int64_t c) {
  Value col = cb.add(cb.index(c * 16), cb.mul(laneHalf, cb.index(8)));
  return ptx.ldmatrix(tile, ValueRange{zero, row, col}, 4,
                      /*transpose=*/false);
}

SmallVector<SmallVector<Value>>
BackwardKernelEmitter::rowFragments(Value tile, Value row, int64_t width) {
  SmallVector<SmallVector<Value>> frags;
  for (int64_t c = 0; c < width / 16; ++c)
    frags.push_back(rowFragment(tile, row, c));
  return frags;
}

SmallVector<Frag> BackwardKernelEmitter::productWithRows(
    function_ref<SmallVector<Value>(int64_t)> aChunk, int64_t chunks,
    Value tile, Value stage, int64_t cols, int64_t row0) {
  // Two 16-column chunks of the depth per ldmatrix.x4 of B.
  SmallVector<Frag> s = zeros(cols / 8);
  for (int64_t c = 0; c < chunks; c += 2) {
    int64_t regs = c + 1 < chunks ? 4 : 2;
    SmallVector<SmallVector<Value>> a;
    for (int64_t k = 0; k < regs / 2; ++k)
      a.push_back(aChunk(c + k));
    for (int64_t t = 0; t < cols / 8; ++t) {
      SmallVector<Value> bRegs = ptx.ldmatrix(
          tile,
          ValueRange{stage, cb.add(cb.index(row0 + t * 8), laneRow8),
                     cb.add(cb.index(c * 16), cb.mul(laneOct, cb.index(8)))},
          regs, /*transpose=*/false);
      for (int64_t k = 0; k < regs / 2; ++k)
        s[t] = ptx.mma(a[k], {bRegs[2 * k], bRegs[2 * k + 1]}, s[t]);
    }
  }
  return s;
}

void BackwardKernelEmitter::accumulateColumns(ArrayRef<Value> a, Value tile,
                                              Value stage, Value row0,
                                              Value col0, int64_t width,
                                              SmallVector<Frag> &acc) {
  // The B fragments of 16 rows by two 8-column tiles per ldmatrix.x4.trans.
  Value bRow = cb.add(
      row0, cb.add(laneRow8,
                   cb.mul(arith::RemUIOp::create(b, loc, laneOct, cb.index(2)),
                          cb.index(8))));
  int64_t n8 = width / 8;
  for (int64_t n = 0; n < n8; n += 2) {
    int64_t regs = n + 1 < n8 ? 4 : 2;
    SmallVector<Value> bRegs = ptx.ldmatrix(
        tile,
        ValueRange{stage, bRow,
                   cb.add(col0, cb.add(cb.index(n * 8),
                                       cb.mul(laneHalf, cb.index(8))))},
        regs, /*transpose=*/true);
    for (int64_t k = 0; k < regs / 2; ++k)
      acc[n + k] = ptx.mma(a, {bRegs[2 * k], bRegs[2 * k + 1]}, acc[n + k]);
  }
}

void BackwardKernelEmitter::scoreGradients(ArrayRef<Frag> s, ArrayRef<Frag> dp,
                                           const GpuHeadParams &hp,
                                           const RowStats &stats,
                                           Value warpRow0, Value j0, Value jEnd,
                                           SmallVector<Value> &p,
                                           SmallVector<Value> &ds) {
  ScoreModifier mods(cb, ptx, variant, groupId, threadInGroup, diagOffset);
  SmallVector<Value> capSlopes;
  SmallVector<Value> x =
      mods.apply(s, hp, warpRow0, j0, jEnd, /*masked=*/true, &capSlopes);
  Value scale = hp.params.scoreScale;
  p.clear();
  ds.clear();
  for (auto [i, xi] : llvm::enumerate(x)) {
    int64_t half = (i % 4) / 2;
    Value pi = ptx.exp2(cb.fsub(xi, stats.lse2[half]));
    Value g = cb.fmul(cb.fmul(pi, cb.fsub(dp[i / 4][i % 4], stats.delta[half])),
                      scale);
    if (!capSlopes.empty())
      g = cb.fmul(g, capSlopes[i]);
    p.push_back(pi);
    ds.push_back(g);
  }
}

Value BackwardKernelEmitter::pack(Value x0, Value x1) {
  Value v = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{x0, x1});
  return ptx.asOperand(arith::TruncFOp::create(
      b, loc, VectorType::get({2}, cfg.elementType), v));
}

void BackwardKernelEmitter::storeFrags(ArrayRef<Frag> frags, Value dst,
                                       ValueRange prefix, Value row,
                                       Value rowLimit, Value col0) {
  Type f32 = b.getF32Type();
  Type elt = cast<MemRefType>(dst.getType()).getElementType();
  col0 = cb.add(col0, cb.mul(threadInGroup, cb.index(2)));
  for (int64_t half = 0; half < 2; ++half) {
    Value r = cb.add(row, cb.add(groupId, cb.index(8 * half)));
    cb.ifThen(cb.lt(r, rowLimit), [&] {
      for (auto [n, f] : llvm::enumerate(frags)) {
        Value v = vector::FromElementsOp::create(
            b, loc, VectorType::get({2}, f32),
            ValueRange{f[2 * half], f[2 * half + 1]});
        if (elt != f32)
          v = arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), v);
        SmallVector<Value> at(prefix);
        at.append({r, cb.add(cb.index(int64_t(n) * 8), col0)});
        vector::StoreOp::create(b, loc, v, dst, at);
      }
    });
  }
}

//===----------------------------------------------------------------------===//
// The query-row kernel: dQ
//===----------------------------------------------------------------------===//

void BackwardKernelEmitter::emitQueryRowKernel() {
  Type indexType = b.getIndexType();
  Value qTile = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::x);
  Value head = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::y);
  Value kvHeadOfRows = cb.divUI(head, cb.index(variant.groupSize()));
  Value row0 = cb.mul(qTile, cb.index(R));
  Value rows = cb.minSI(cb.index(R), cb.sub(queryLen, row0));
  GpuHeadParams hp = headParams(head);
  Value qT = tiles[0], doT = tiles[1], kT = tiles[2], vT = tiles[3];

  // The key tiles the rows can see: the sink range, then the window's.
  KeyRanges ranges = computeKeyRanges(cb, hp.params.masks(variant), row0, rows,
                                      queryLen, keyLen);
  auto ceilDiv = [&](Value x) {
    return cb.divUI(cb.add(x, cb.index(C - 1)), cb.index(C));
  };
  Value numSink = ceilDiv(ranges.sinkHi);
  Value numWindow =
      ceilDiv(cb.maxSI(cb.sub(ranges.windowHi, ranges.windowLo), cb.index(0)));
  // A block of padding rows only (past q_lens) visits no key: its dq is 0.
  Value hasRows = cb.gt(rows, zero);
  Value numTiles =
      cb.select(cb.andI(hp.alive, hasRows), cb.add(numSink, numWindow), zero);
  auto tileBounds = [&](Value i) -> std::pair<Value, Value> {
    Value isSink = cb.cmpI(arith::CmpIPredicate::ult, i, numSink);
    Value start = cb.select(
        isSink, cb.mul(i, cb.index(C)),
        cb.add(ranges.windowLo, cb.mul(cb.sub(i, numSink), cb.index(C))));
    Value limit = cb.select(isSink, ranges.sinkHi, ranges.windowHi);
    return {start, cb.minSI(cb.add(start, cb.index(C)), limit)};
  };
  auto loadKV = [&](Value i, Value stage) {
    Value start = tileBounds(i).first;
    SmallVector<Value> at{batch, kvHeadOfRows};
    copier().copyRows(args.k, at, start, keyLen, SmemTile{kT}, stage, C, D);
    copier().copyRows(args.v, at, start, keyLen, SmemTile{vT}, stage, C, Dv);
  };

  // Rows past q_lens are zeros in shared memory: whatever the caller's
  // padding holds reaches no gradient.
  cb.ifThen(hasRows, [&] {
    copier().copyRows(args.q, ValueRange{batch, head}, row0, queryLen,
                      SmemTile{qT}, zero, R, D);
    copier().copyRows(args.dout, ValueRange{batch, head}, row0, queryLen,
                      SmemTile{doT}, zero, R, Dv);
  });
  cb.ifThen(cb.gt(numTiles, zero), [&] { loadKV(zero, zero); });
  ptx.waitAsyncCopies(/*fenceAsyncProxy=*/false);
  gpu::BarrierOp::create(b, loc);

  Value warpRow = cb.mul(warp, cb.index(16));
  Value warpRow0 = cb.add(row0, warpRow);
  Value fragRow = cb.add(warpRow, laneRow16);
  SmallVector<SmallVector<Value>> qFrag = rowFragments(qT, fragRow, D);
  SmallVector<SmallVector<Value>> doFrag = rowFragments(doT, fragRow, Dv);
  RowStats stats = rowStats(hp, warpRow0);

  scf::ForOp loop = cb.forLoopCarrying(
      numTiles, flatten(zeros(D / 8)),
      [&](Value i, ValueRange state) -> SmallVector<Value> {
        Value stage = arith::RemUIOp::create(b, loc, i, cb.index(2));
        Value next = cb.add(i, cb.index(1));
        cb.ifThen(cb.lt(next, numTiles),
                  [&] { loadKV(next, cb.sub(cb.index(1), stage)); });
        auto [j0, jEnd] = tileBounds(i);
        SmallVector<Frag> s = productWithRows(
            [&](int64_t c) { return qFrag[c]; }, D / 16, kT, stage, C);
        SmallVector<Frag> dp = productWithRows(
            [&](int64_t c) { return doFrag[c]; }, Dv / 16, vT, stage, C);
        SmallVector<Value> p, ds;
        scoreGradients(s, dp, hp, stats, warpRow0, j0, jEnd, p, ds);
        // dQ += dS.K: the dS accumulators of key tiles 2c and 2c + 1 are
        // the A fragment of key chunk c.
        SmallVector<Frag> acc = unflatten(state);
        for (int64_t c = 0; c < C / 16; ++c) {
          int64_t at = c * 8;
          SmallVector<Value> a = {
              pack(ds[at], ds[at + 1]), pack(ds[at + 2], ds[at + 3]),
              pack(ds[at + 4], ds[at + 5]), pack(ds[at + 6], ds[at + 7])};
          accumulateColumns(a, kT, stage, cb.index(c * 16), zero, D, acc);
        }
        // The next tile has landed and every warp is done with this stage.
        ptx.waitAsyncCopies(/*fenceAsyncProxy=*/false);
        gpu::BarrierOp::create(b, loc);
        return flatten(acc);
      });
  storeFrags(unflatten(loop.getResults()), args.dq, ValueRange{batch, head},
             warpRow0, queryRows, zero);
}

//===----------------------------------------------------------------------===//
// The key kernel: dK and dV
//===----------------------------------------------------------------------===//

void BackwardKernelEmitter::emitKeyKernel() {
  Type indexType = b.getIndexType();
  Value kTile = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::x);
  kvHead = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::y);
  j0 = cb.mul(kTile, cb.index(C));
  jEnd = cb.minSI(cb.add(j0, cb.index(C)), keyLen);
  // A block of padding keys only (past kv_lens) computes nothing and
  // writes zeros.
  Value hasKeys = cb.lt(j0, keyLen);
  SmallVector<Value> kvAt{batch, kvHead};
  cb.ifThen(hasKeys, [&] {
    copier().copyRows(args.k, kvAt, j0, keyLen, SmemTile{tiles[0]}, zero, C, D);
    copier().copyRows(args.v, kvAt, j0, keyLen, SmemTile{tiles[1]}, zero, C,
                      Dv);
  });
  ptx.waitAsyncCopies(/*fenceAsyncProxy=*/false);
  const int64_t keyWarps = C / 16;
  split = cfg.warps / keyWarps;
  keyWarp = arith::RemUIOp::create(b, loc, warp, cb.index(keyWarps));
  Value part = cb.divUI(warp, cb.index(keyWarps));
  dkCol0 = cb.mul(part, cb.index(D / split));
  dvCol0 = cb.mul(part, cb.index(Dv / split));

  // dK and dV of the warp's 16 keys, over the group's heads and their
  // query tiles.
  const int64_t group = variant.groupSize();
  Value numQTiles = cb.select(
      hasKeys, cb.divUI(cb.add(queryLen, cb.index(R - 1)), cb.index(R)), zero);
  SmallVector<Value> init = flatten(zeros((D + Dv) / 8 / split));
  scf::ForOp heads = cb.forLoopCarrying(
      cb.index(group), init,
      [&](Value hh, ValueRange acc) -> SmallVector<Value> {
        GpuHeadParams hp =
            headParams(cb.add(cb.mul(kvHead, cb.index(group)), hh));
        Value n = cb.select(hp.alive, numQTiles, zero);
        scf::ForOp qTiles = cb.forLoopCarrying(
            n, acc, [&](Value qTile, ValueRange acc2) -> SmallVector<Value> {
              return emitQueryTile(hp, qTile, acc2);
            });
        return SmallVector<Value>(qTiles.getResults());
      });
  SmallVector<Frag> acc = unflatten(heads.getResults());
  Value keyRow = cb.add(j0, cb.mul(keyWarp, cb.index(16)));
  int64_t dkFrags = D / 8 / split;
  storeFrags(ArrayRef<Frag>(acc).take_front(dkFrags), args.dk, kvAt, keyRow,
             keyRows, dkCol0);
  storeFrags(ArrayRef<Frag>(acc).drop_front(dkFrags), args.dv, kvAt, keyRow,
             keyRows, dvCol0);
}

SmallVector<Value> BackwardKernelEmitter::emitQueryTile(const GpuHeadParams &hp,
                                                        Value qTile,
                                                        ValueRange acc) {
  Value row0 = cb.mul(qTile, cb.index(R));
  Value rows = cb.minSI(cb.index(R), cb.sub(queryLen, row0));
  // Whether any row of the tile sees a key of the block.
  KeyRanges r = computeKeyRanges(cb, hp.params.masks(variant), row0, rows,
                                 queryLen, keyLen);
  Value seesSinks = cb.lt(j0, r.sinkHi);
  Value seesWindow = cb.andI(cb.lt(j0, r.windowHi), cb.lt(r.windowLo, jEnd));
  Value visible = cb.orI(seesSinks, seesWindow);
  SmallVector<Type> types(acc.getTypes());
  auto ifOp = scf::IfOp::create(b, loc, types, visible,
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, loc, acc);
  b.setInsertionPointToStart(ifOp.thenBlock());

  Value kT = tiles[0], vT = tiles[1], qT = tiles[2], doT = tiles[3];
  Value pT = tiles[4], dsT = tiles[5];
  // Every warp is done with the previous tile's Q, dO, P and dS.
  gpu::BarrierOp::create(b, loc);
  copier().copyRows(args.q, ValueRange{batch, hp.head}, row0, queryLen,
                    SmemTile{qT}, zero, R, D);
  copier().copyRows(args.dout, ValueRange{batch, hp.head}, row0, queryLen,
                    SmemTile{doT}, zero, R, Dv);
  ptx.waitAsyncCopies(/*fenceAsyncProxy=*/false);
  gpu::BarrierOp::create(b, loc);

  // The warp's 16 query rows against the block's keys, 32 at a time (16
  // above head dim 64: the registers of S, dP, P and dS beside the dk/dv
  // accumulators); P and dS
  // to shared memory, rows g and g + 8 of the warp's rows.
  Value warpRow = cb.mul(warp, cb.index(16));
  Value warpRow0 = cb.add(row0, warpRow);
  Value fragRow = cb.add(warpRow, laneRow16);
  RowStats stats = rowStats(hp, warpRow0);
  Value col0 = cb.mul(threadInGroup, cb.index(2));
  auto pairType = VectorType::get({2}, b.getF32Type());
  auto eltPair = VectorType::get({2}, cfg.elementType);
  const int64_t kScoreCols = std::max(D, Dv) <= 64 ? 32 : 16;
  for (int64_t k0 = 0; k0 < C; k0 += kScoreCols) {
    // Q and dO fragments are re-read per chunk (registers for the
    // accumulators rather than for fragments).
    SmallVector<Frag> s =
        productWithRows([&](int64_t c) { return rowFragment(qT, fragRow, c); },
                        D / 16, kT, zero, kScoreCols, k0);
    SmallVector<Frag> dp =
        productWithRows([&](int64_t c) { return rowFragment(doT, fragRow, c); },
                        Dv / 16, vT, zero, kScoreCols, k0);
    SmallVector<Value> p, ds;
    scoreGradients(s, dp, hp, stats, warpRow0, cb.add(j0, cb.index(k0)), jEnd,
                   p, ds);
    for (int64_t t = 0; t < kScoreCols / 8; ++t)
      for (int64_t half = 0; half < 2; ++half) {
        Value row = cb.add(warpRow, cb.add(groupId, cb.index(8 * half)));
        Value col = cb.add(cb.index(k0 + t * 8), col0);
        int64_t at = t * 4 + 2 * half;
        for (auto [values, tile] : {std::pair(&p, pT), std::pair(&ds, dsT)}) {
          Value v = vector::FromElementsOp::create(
              b, loc, pairType, ValueRange{(*values)[at], (*values)[at + 1]});
          vector::StoreOp::create(b, loc,
                                  arith::TruncFOp::create(b, loc, eltPair, v),
                                  tile, ValueRange{zero, row, col});
        }
      }
  }
  gpu::BarrierOp::create(b, loc);

  // The warp's 16 keys: dV += P^T.dO and dK += dS^T.Q over the tile's rows
  // in chunks of 16. The A fragments of P^T (keys x rows) are 8x8 blocks
  // of P read transposed: lanes 0-7 address rows k of keys 0-7, lanes 8-15
  // keys 8-15, lanes 16-31 the same for rows k + 8.
  SmallVector<Frag> frags = unflatten(acc);
  int64_t dkFrags = D / 8 / split;
  SmallVector<Frag> dk(frags.begin(), frags.begin() + dkFrags);
  SmallVector<Frag> dv(frags.begin() + dkFrags, frags.end());
  Value aRow = cb.add(laneRow8, cb.mul(laneHalf, cb.index(8)));
  Value aCol =
      cb.add(cb.mul(keyWarp, cb.index(16)),
             cb.mul(arith::RemUIOp::create(b, loc, laneOct, cb.index(2)),
                    cb.index(8)));
  for (int64_t c = 0; c < R / 16; ++c) {
    Value rowC = cb.add(cb.index(c * 16), aRow);
    SmallVector<Value> aP = ptx.ldmatrix(pT, ValueRange{zero, rowC, aCol}, 4,
                                         /*transpose=*/true);
    SmallVector<Value> aS = ptx.ldmatrix(dsT, ValueRange{zero, rowC, aCol}, 4,
                                         /*transpose=*/true);
    accumulateColumns(aP, doT, zero, cb.index(c * 16), dvCol0, Dv / split, dv);
    accumulateColumns(aS, qT, zero, cb.index(c * 16), dkCol0, D / split, dk);
  }
  SmallVector<Value> out = flatten(dk);
  llvm::append_range(out, flatten(dv));
  scf::YieldOp::create(b, loc, out);
  return SmallVector<Value>(ifOp.getResults());
}

} // namespace

int64_t mlir::mha::getBackwardKernelSharedBytes(BackwardKernelKind kind,
                                                const FlashKernelConfig &cfg) {
  int64_t elems = 0;
  for (const TileShape &t : sharedTileShapes(kind, cfg))
    elems += t.stages * t.rows * (t.width + cfg.pad);
  return elems * kSmemEltBytes;
}

void mlir::mha::emitBackwardKernel(OpBuilder &b, Location loc,
                                   gpu::GPUModuleOp module, gpu::GPUFuncOp func,
                                   BackwardKernelKind kind,
                                   const FlashKernelConfig &config,
                                   const AttentionVariant &variant,
                                   const BackwardKernelArgs &args,
                                   StringRef prefix) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  BackwardKernelEmitter(b, loc, module, kind, config, variant, args, prefix)
      .emit();
}
