//===- FlashKernel.cpp - The flash-attention kernel body ------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Builds the body of one GPU kernel: a CTA of `warps` warps, each with
// `rowTilesPerWarp` tiles of 16 query rows, of one batch and one head (or,
// with GQA packing, several heads of one KV group). Q is copied to shared
// memory once and read as mma.sync A fragments (kept in registers with one
// row tile per warp); K/V tiles of `cols` keys stream through two
// shared-memory stages with cp.async, the copy of tile i+1 overlapping the
// math of tile i. Per key tile and warp:
//   S = Q.K^T     m16n8k16 MMAs, K fragments by ldmatrix (shared by the
//                 warp's row tiles)
//   score mods    scale/temperature, softcap, ALiBi in f32 registers; the
//                 masks only on tiles a mask edge crosses (ScoreMods.cpp)
//   softmax       base 2, row max by quad shuffles, ex2.approx
//   O += P.V      P re-packed from the S accumulators as A fragments
//                 (FlashAttention-2's register reuse), V by ldmatrix.trans
// Fragment layouts are those of PTX's mma.m16n8k16 (groupID = lane / 4,
// threadID_in_group = lane % 4): a thread holds S/O elements (g, 2t..2t+1)
// and (g + 8, 2t..2t+1) of each 8-column tile.
//
// The sm_90a variant (warpgroupMma) keeps the loop and the softmax but
// multiplies with wgmma: each warpgroup's 64 rows of Q times the whole key
// tile from 128-byte-swizzled shared memory, and P (from the S registers,
// whose layout per warp is the same) times V. With tmaLoads a producer
// warpgroup streams K/V by TMA through mbarrier-guarded stages
// (docs/gpu.md describes both).
//
// The instructions are built by PtxBuilder.cpp, the shared-memory tiles
// and row copies by SharedTiles.cpp, the score modifiers and per-head
// parameters by ScoreMods.cpp, the block's rows, heads, sequences and key
// tiles by FlashKernelBlock.cpp; this file is the kernel's driver.
//
//===----------------------------------------------------------------------===//

#include "FlashKernelEmitter.h"

#include "mha/Codegen/Constants.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::mha;
using mlir::mha::detail::FlashKernelEmitter;

namespace mlir::mha::detail {

void FlashKernelEmitter::emit() {
  emitThreadIds();
  emitRowsAndHeads();
  emitKeyTileRanges();
  smem = SharedTiles::allocate(cb, ptx, cfg);
  emitPrologue();
  loadQFragments();
  scf::ForOp loop = emitKeyLoop();
  emitEpilogue(loop.getResults());
  if (cfg.tmaLoads)
    emitProducer();
  gpu::ReturnOp::create(b, loc);
}

//===----------------------------------------------------------------------===//
// Before the key loop
//===----------------------------------------------------------------------===//

void FlashKernelEmitter::emitPrologue() {
  // Q, and the first key tile (with TMA, the producer warp loads every
  // tile; thread 0 sets up the mbarriers).
  zero = cb.index(0);
  if (cfg.tmaLoads) {
    isConsumer = cb.cmpI(arith::CmpIPredicate::ult, warp, cb.index(cfg.warps));
    cb.ifThen(cb.cmpI(arith::CmpIPredicate::eq, tid, zero),
              [&] { initBarriers(); });
  }
  auto copyQ = [&] {
    const int64_t rowsPerHead = cfg.rowsPerBlock() / cfg.headsPerBlock;
    for (int64_t hh = 0; hh < cfg.headsPerBlock; ++hh)
      copier().copyRows(args.q, ValueRange{qBatch, cb.add(head0, cb.index(hh))},
                        cb.add(qOffset, row0), cb.add(qOffset, queryLen),
                        smem.q, zero, rowsPerHead, cfg.headDim,
                        hh * rowsPerHead);
  };
  if (cfg.tmaLoads) {
    cb.ifThen(isConsumer, copyQ);
  } else {
    copyQ();
    cb.ifThen(cb.gt(numTiles, zero), [&] { loadKV(zero, zero); });
  }
  ptx.waitAsyncCopies(/*fenceAsyncProxy=*/cfg.warpgroupMma);
  gpu::BarrierOp::create(b, loc);
  // With TMA the warps part here: the consumers compute, the producer
  // warpgroup loads (emitProducer).
  if (cfg.tmaLoads) {
    roles = scf::IfOp::create(b, loc, isConsumer, /*withElseRegion=*/true);
    b.setInsertionPointToStart(roles.thenBlock());
    ptx.setMaxRegisters(240, /*increase=*/true);
  }
}

void FlashKernelEmitter::initBarriers() {
  Value consumers = ptx.i32(cfg.warps * kWarpSize);
  Value one = ptx.i32(1);
  for (int64_t s = 0; s < 2; ++s) {
    // full[s]: one arrival (with the bytes of the tile); empty[s]: every
    // consumer thread.
    ptx.mbarrierInit(smem.barrier(cb, ptx, 0, cb.index(s)), one);
    ptx.mbarrierInit(smem.barrier(cb, ptx, 1, cb.index(s)), consumers);
  }
  ptx.fenceMbarrierInit();
}

void FlashKernelEmitter::loadKV(Value i, Value stage) {
  Value start = tileBounds(i).first;
  if (args.blockTable)
    return copier().copyPagedRows({args.k, args.v}, args.blockTable, sequence,
                                  kvHead, start, keyLen, {smem.k, smem.v},
                                  stage, cfg.cols);
  Value first = cb.add(kOffset, start), limit = cb.add(kOffset, keyLen);
  copier().copyRows(args.k, ValueRange{kBatch, kvHead}, first, limit, smem.k,
                    stage, cfg.cols, cfg.headDim);
  copier().copyRows(args.v, ValueRange{kBatch, kvHead}, first, limit, smem.v,
                    stage, cfg.cols, cfg.valueDim);
}

void FlashKernelEmitter::loadQFragments() {
  // Q fragments (16 rows x 16 columns per chunk): kept in registers with
  // one row tile per warp; with two they are re-read per key tile (the
  // registers go to the second tile's accumulators instead).
  if (mt != 1 || cfg.warpgroupMma)
    return;
  for (int64_t c = 0; c < cfg.headDim / 16; ++c)
    qFrag.push_back(qFragment(0, c));
}

SmallVector<Value> FlashKernelEmitter::qFragment(int64_t m, int64_t c) {
  Value row =
      cb.add(cb.mul(cb.add(warpTile, cb.index(m)), cb.index(16)), laneRow16);
  Value col = cb.add(cb.index(c * 16), cb.mul(laneHalf, cb.index(8)));
  return ptx.ldmatrix(smem.q.mem, ValueRange{zero, row, col}, 4,
                      /*transpose=*/false);
}

//===----------------------------------------------------------------------===//
// The key loop
//===----------------------------------------------------------------------===//

scf::ForOp FlashKernelEmitter::emitKeyLoop() {
  // Loop state: row max (base 2) and partial row sum for rows g and g + 8,
  // and the O accumulators, per row tile.
  negInf = cb.f32(-std::numeric_limits<float>::infinity());
  zeroF = cb.f32(0.0f);
  SmallVector<Value> init;
  for (int64_t m = 0; m < mt; ++m) {
    init.append({negInf, negInf, zeroF, zeroF});
    init.append(oTiles * 4, zeroF);
  }
  auto loop = scf::ForOp::create(b, loc, zero, numTiles, cb.index(1), init);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  SmallVector<Value> next =
      emitKeyTile(loop.getInductionVar(), loop.getRegionIterArgs());
  scf::YieldOp::create(b, loc, next);
  return loop;
}

SmallVector<Value> FlashKernelEmitter::emitKeyTile(Value i, ValueRange state) {
  Value stage = arith::RemUIOp::create(b, loc, i, cb.index(2));
  if (cfg.tmaLoads) {
    // Tile i has landed: the (i / 2)-th fill of its stage.
    Value parity = ptx.toI32(
        arith::RemUIOp::create(b, loc, cb.divUI(i, cb.index(2)), cb.index(2)));
    ptx.mbarrierWait(smem.barrier(cb, ptx, 0, stage), parity);
  } else {
    // Prefetch the next tile into the other stage.
    Value next = cb.add(i, cb.index(1));
    cb.ifThen(cb.lt(next, numTiles),
              [&] { loadKV(next, cb.sub(cb.index(1), stage)); });
  }
  auto [j0, jEnd] = tileBounds(i);
  Value stage64 = cfg.warpgroupMma ? ptx.toI64(stage) : Value();
  Scores s = cfg.warpgroupMma ? scoresWgmma(stage64) : scoresMma(stage);
  ValueRange x = modifyScores(s, i, j0, jEnd);
  SmallVector<Value> p;
  SmallVector<Value> newState = softmax(state, x, p);
  if (cfg.warpgroupMma)
    accumulateWgmma(p, newState, stage64);
  else
    accumulateMma(p, newState, stage);
  releaseStage(stage);
  return newState;
}

FlashKernelEmitter::Scores FlashKernelEmitter::scoresMma(Value stage) {
  // S = Q.K^T; each K fragment serves every row tile of the warp.
  Scores s(mt, SmallVector<Frag>(sTiles, Frag{zeroF, zeroF, zeroF, zeroF}));
  int64_t qChunks = cfg.headDim / 16;
  for (int64_t c = 0; c < qChunks; c += 2) {
    int64_t tiles = c + 1 < qChunks ? 4 : 2;
    SmallVector<SmallVector<SmallVector<Value>>> q(mt);
    for (int64_t m = 0; m < mt; ++m)
      for (int64_t k = 0; k < tiles / 2; ++k)
        q[m].push_back(mt == 1 ? qFrag[c + k] : qFragment(m, c + k));
    for (int64_t t = 0; t < sTiles; ++t) {
      SmallVector<Value> kRegs = ptx.ldmatrix(
          smem.k.mem,
          ValueRange{stage, cb.add(cb.index(t * 8), laneRow8),
                     cb.add(cb.index(c * 16), cb.mul(laneOct, cb.index(8)))},
          tiles, /*transpose=*/false);
      for (int64_t m = 0; m < mt; ++m)
        for (int64_t k = 0; k < tiles / 2; ++k)
          s[m][t] = ptx.mma(q[m][k], {kRegs[2 * k], kRegs[2 * k + 1]}, s[m][t]);
    }
  }
  return s;
}

FlashKernelEmitter::Scores FlashKernelEmitter::scoresWgmma(Value stage64) {
  // The warpgroup's 64 rows of Q times the whole key tile, k16 steps of 32
  // bytes inside each 64-column atom.
  assert(mt == 1 && "a warpgroup MMA kernel has one row tile per warp");
  const int64_t C = cfg.cols, D = cfg.headDim, rows = cfg.rowsPerBlock();
  Value group = cb.divUI(warp, cb.index(4));
  Value qGroup =
      cb.add(smem.qAddr, cb.mul(ptx.toI64(group), ptx.i64(64 * 128)));
  Value kStage = stageAddr(smem.kAddr, stage64, C * D * kSmemEltBytes);
  Value qDesc = ptx.wgmmaDescriptor(qGroup, rows * 128, 1024);
  Value kDesc = ptx.wgmmaDescriptor(kStage, C * 128, 1024);
  SmallVector<Value> aDescs, bDescs;
  for (int64_t atom = 0; atom < D / 64; ++atom)
    for (int64_t kk = 0; kk < 4; ++kk) {
      aDescs.push_back(plus(qDesc, (atom * rows * 128 + kk * 32) >> 4));
      bDescs.push_back(plus(kDesc, (atom * C * 128 + kk * 32) >> 4));
    }
  SmallVector<Value> acc(C / 2, zeroF);
  SmallVector<Value> out =
      ptx.warpgroupMma(acc, aDescs, {}, bDescs, /*transposeB=*/false);
  Scores s(1, SmallVector<Frag>(sTiles));
  for (int64_t t = 0; t < sTiles; ++t)
    for (int64_t e = 0; e < 4; ++e)
      s[0][t][e] = out[t * 4 + e];
  return s;
}

ValueRange FlashKernelEmitter::modifyScores(const Scores &s, Value i, Value j0,
                                            Value jEnd) {
  // Only the causal diagonal can hide sink keys; window tiles need the
  // mask where some head's diagonal or window edge crosses them.
  Value isSink = cb.cmpI(arith::CmpIPredicate::ult, keyTileOf(i), numSink);
  Value windowMask = cb.boolean(false);
  for (const GpuHeadParams &hp : blockHeads)
    windowMask =
        cb.orI(windowMask, windowTileNeedsMask(cb, hp.params.masks(variant),
                                               ranges, j0, jEnd));
  Value edgeMask = cb.select(
      isSink,
      sinkTileNeedsMask(cb, blockHeads[0].params.masks(variant), ranges, jEnd),
      windowMask);
  Value partial = cb.lt(cb.sub(jEnd, j0), cb.index(cfg.cols));
  Value needsMask = cb.orI(edgeMask, partial);
  SmallVector<Type> scoreTypes(mt * sTiles * 4, b.getF32Type());
  auto modIf = scf::IfOp::create(b, loc, scoreTypes, needsMask,
                                 /*withElseRegion=*/true);
  ScoreModifier mods(cb, ptx, variant, groupId, threadInGroup, diagOffset);
  auto allMods = [&](bool masked) {
    SmallVector<Value> values;
    for (int64_t m = 0; m < mt; ++m)
      llvm::append_range(values, mods.apply(s[m], tileHeads[m], tileRow0[m], j0,
                                            jEnd, masked));
    return values;
  };
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(modIf.thenBlock());
  scf::YieldOp::create(b, loc, allMods(/*masked=*/true));
  b.setInsertionPointToStart(modIf.elseBlock());
  scf::YieldOp::create(b, loc, allMods(/*masked=*/false));
  return modIf.getResults();
}

SmallVector<Value> FlashKernelEmitter::softmax(ValueRange state, ValueRange x,
                                               SmallVector<Value> &p) {
  // Rows g (half 0) and g + 8 (half 1) of each row tile; x and p hold tile
  // m's scores at m * sTiles * 4.
  SmallVector<Value> newState(state.begin(), state.end());
  p.assign(x.begin(), x.end());
  for (int64_t m = 0; m < mt; ++m) {
    int64_t xs = m * sTiles * 4, st = m * stateSize;
    for (int64_t half = 0; half < 2; ++half) {
      Value tileMax = negInf;
      for (int64_t t = 0; t < sTiles; ++t)
        for (int64_t e = 2 * half; e < 2 * half + 2; ++e)
          tileMax = ptx.fmax(tileMax, x[xs + t * 4 + e]);
      tileMax = ptx.quadReduce(tileMax, /*isMax=*/true);
      Value mOld = state[st + kMaxOffset + half];
      Value mNew = ptx.fmax(mOld, tileMax);
      // A row that has seen no visible key yet keeps m = -inf; subtract 0
      // then so that exp2 gives 0, not NaN.
      Value mUse = cb.select(cb.cmpF(arith::CmpFPredicate::OEQ, mNew, negInf),
                             zeroF, mNew);
      Value alpha = ptx.exp2(cb.fsub(mOld, mUse));
      Value rowSum = zeroF;
      for (int64_t t = 0; t < sTiles; ++t)
        for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
          Value pe = ptx.exp2(cb.fsub(x[xs + t * 4 + e], mUse));
          p[xs + t * 4 + e] = pe;
          rowSum = cb.fadd(rowSum, pe);
        }
      newState[st + kMaxOffset + half] = mNew;
      newState[st + kSumOffset + half] =
          cb.fadd(cb.fmul(state[st + kSumOffset + half], alpha), rowSum);
      for (int64_t n = 0; n < oTiles; ++n)
        for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
          int64_t at = st + kAccOffset + n * 4 + e;
          newState[at] = cb.fmul(state[at], alpha);
        }
    }
  }
  return newState;
}

Value FlashKernelEmitter::packP(ArrayRef<Value> p, int64_t m, int64_t t,
                                int64_t e) {
  int64_t i = m * sTiles * 4 + t * 4 + e;
  Value v = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{p[i], p[i + 1]});
  return ptx.asOperand(arith::TruncFOp::create(
      b, loc, VectorType::get({2}, cfg.elementType), v));
}

void FlashKernelEmitter::accumulateMma(ArrayRef<Value> p,
                                       SmallVector<Value> &state, Value stage) {
  // O += P.V: the S accumulators of key tiles 2c and 2c + 1 are the A
  // fragment of key chunk c; each V fragment serves every row tile.
  Value vKeyRow = cb.add(
      laneRow8, cb.mul(arith::RemUIOp::create(b, loc, laneOct, cb.index(2)),
                       cb.index(8)));
  for (int64_t c = 0; c < cfg.cols / 16; ++c) {
    SmallVector<SmallVector<Value>> a;
    for (int64_t m = 0; m < mt; ++m)
      a.push_back({packP(p, m, 2 * c, 0), packP(p, m, 2 * c, 2),
                   packP(p, m, 2 * c + 1, 0), packP(p, m, 2 * c + 1, 2)});
    for (int64_t n = 0; n < oTiles; n += 2) {
      int64_t tiles = n + 1 < oTiles ? 4 : 2;
      SmallVector<Value> vRegs = ptx.ldmatrix(
          smem.v.mem,
          ValueRange{stage, cb.add(cb.index(c * 16), vKeyRow),
                     cb.add(cb.index(n * 8), cb.mul(laneHalf, cb.index(8)))},
          tiles, /*transpose=*/true);
      for (int64_t m = 0; m < mt; ++m)
        for (int64_t k = 0; k < tiles / 2; ++k) {
          int64_t at = m * stateSize + kAccOffset + (n + k) * 4;
          Frag acc;
          for (int64_t e = 0; e < 4; ++e)
            acc[e] = state[at + e];
          acc = ptx.mma(a[m], {vRegs[2 * k], vRegs[2 * k + 1]}, acc);
          for (int64_t e = 0; e < 4; ++e)
            state[at + e] = acc[e];
        }
    }
  }
}

void FlashKernelEmitter::accumulateWgmma(ArrayRef<Value> p,
                                         SmallVector<Value> &state,
                                         Value stage64) {
  // V is [keys, Dv] (N-major for this product): k16 steps are 16 rows
  // (2048 bytes) apart, 64-column atoms C rows apart. P comes from the S
  // registers, four i32 per k16 step.
  const int64_t C = cfg.cols;
  Value vStage =
      stageAddr(smem.vAddr, stage64, C * cfg.valueDim * kSmemEltBytes);
  Value vDesc = ptx.wgmmaDescriptor(vStage, C * 128, 1024);
  Type i32 = b.getI32Type();
  SmallVector<SmallVector<Value>> aRegs;
  SmallVector<Value> bDescs;
  for (int64_t c = 0; c < C / 16; ++c) {
    SmallVector<Value> regs;
    for (auto [t, e] : {std::pair<int64_t, int64_t>{2 * c, 0},
                        {2 * c, 2},
                        {2 * c + 1, 0},
                        {2 * c + 1, 2}}) {
      Value r = packP(p, 0, t, e);
      regs.push_back(r.getType() == i32
                         ? r
                         : LLVM::BitcastOp::create(b, loc, i32, r).getResult());
    }
    aRegs.push_back(regs);
    bDescs.push_back(plus(vDesc, (c * 16 * 128) >> 4));
  }
  auto acc = ArrayRef<Value>(state).slice(kAccOffset, oTiles * 4);
  SmallVector<Value> out =
      ptx.warpgroupMma(acc, {}, aRegs, bDescs, /*transposeB=*/true);
  llvm::copy(out, state.begin() + kAccOffset);
}

void FlashKernelEmitter::releaseStage(Value stage) {
  if (cfg.tmaLoads) {
    // This thread is done with the stage (its MMAs have completed).
    ptx.mbarrierArrive(smem.barrier(cb, ptx, 1, stage));
    return;
  }
  // The next tile has landed and every warp is done with this stage.
  ptx.waitAsyncCopies(/*fenceAsyncProxy=*/cfg.warpgroupMma);
  gpu::BarrierOp::create(b, loc);
}

//===----------------------------------------------------------------------===//
// After the key loop
//===----------------------------------------------------------------------===//

void FlashKernelEmitter::emitEpilogue(ValueRange result) {
  // Full row sums, normalise, store.
  Value colBase = cb.mul(threadInGroup, cb.index(2));
  for (int64_t m = 0; m < mt; ++m)
    for (int64_t half = 0; half < 2; ++half)
      storeRow(result, m, half, colBase);
}

void FlashKernelEmitter::storeRow(ValueRange result, int64_t m, int64_t half,
                                  Value colBase) {
  Type f32 = b.getF32Type();
  int64_t st = m * stateSize;
  Value sum = ptx.quadReduce(result[st + kSumOffset + half], /*isMax=*/false);
  // Unordered: a NaN sum (a NaN reached a visible score or value) counts as
  // a row with keys, so the NaN shows in the output and the lse.
  Value anyKey = cb.cmpF(arith::CmpFPredicate::UNE, sum, zeroF);
  // A pruned head of a packed block ran with the others: its rows are
  // zeroed here, whatever its accumulator holds.
  Value valid = cb.andI(anyKey, tileHeads[m].alive);
  Value inv = cb.fdiv(cb.f32(1.0f), sum);
  auto normalise = [&](Value acc) {
    return cb.select(valid, cb.fmul(acc, inv), zeroF);
  };
  Value row = cb.add(tileRow0[m], cb.add(groupId, cb.index(8 * half)));
  Value head = tileHeads[m].head;
  if (args.qLens || args.cuSeqlensQ) {
    // So are padding rows (past q_lens, or past the packed sequences),
    // which ran with the real ones.
    anyKey = cb.andI(anyKey, cb.lt(row, queryLen));
    valid = cb.andI(valid, anyKey);
  }
  // A split block writes its part's rows (f32), whatever the function
  // returns: the merge kernel needs every part's lse.
  Value o = cfg.splitKeys ? args.partialO : args.o;
  Value lseOut = cfg.splitKeys ? args.partialLse : args.lse;
  SmallVector<Value> rowIndex{qBatch, head, cb.add(qOffset, row)};
  if (cfg.splitKeys)
    rowIndex.insert(rowIndex.begin(), part);
  cb.ifThen(cb.lt(row, writeRows), [&] {
    if (o) {
      Type oElt = cast<MemRefType>(o.getType()).getElementType();
      for (int64_t n = 0; n < oTiles; ++n) {
        int64_t at = st + kAccOffset + n * 4 + 2 * half;
        Value v = vector::FromElementsOp::create(
            b, loc, VectorType::get({2}, f32),
            ValueRange{normalise(result[at]), normalise(result[at + 1])});
        if (oElt != f32)
          v = arith::TruncFOp::create(b, loc, VectorType::get({2}, oElt), v);
        SmallVector<Value> at4(rowIndex);
        at4.push_back(cb.add(cb.index(n * 8), colBase));
        vector::StoreOp::create(b, loc, v, o, at4);
      }
    }
    if (!lseOut)
      return;
    // The first thread of the quad writes the row's lse, with the ALiBi
    // bias the scores left out (alibiOrigin) back in.
    cb.ifThen(cb.cmpI(arith::CmpIPredicate::eq, threadInGroup, zero), [&] {
      Value lse = cb.fmul(
          cb.fadd(result[st + kMaxOffset + half], ptx.log2(sum)), cb.f32(kLn2));
      if (alibiShiftsRows(variant))
        lse = cb.fadd(lse, alibiRowBias(cb, tileHeads[m].params.alibiSlope,
                                        cb.add(row, diagOffset)));
      lse = cb.select(anyKey, lse, negInf);
      memref::StoreOp::create(b, loc, lse, lseOut, rowIndex);
    });
  });
}

void FlashKernelEmitter::emitProducer() {
  // The producer: one thread issues every tile's TMA loads once the
  // consumers have released the stage (from the third tile on).
  const int64_t C = cfg.cols, D = cfg.headDim, Dv = cfg.valueDim;
  b.setInsertionPointToStart(roles.elseBlock());
  ptx.setMaxRegisters(24, /*increase=*/false);
  Value leader =
      cb.cmpI(arith::CmpIPredicate::eq, tid, cb.index(cfg.warps * kWarpSize));
  cb.ifThen(leader, [&] {
    cb.forLoop(zero, numTiles, 1, [&](Value i) {
      Value stage = arith::RemUIOp::create(b, loc, i, cb.index(2));
      cb.ifThen(cb.cmpI(arith::CmpIPredicate::uge, i, cb.index(2)), [&] {
        // The (i / 2 - 1)-th release of the stage.
        Value parity = ptx.toI32(arith::RemUIOp::create(
            b, loc, cb.sub(cb.divUI(i, cb.index(2)), cb.index(1)),
            cb.index(2)));
        ptx.mbarrierWait(smem.barrier(cb, ptx, 1, stage), parity);
      });
      Value full = smem.barrier(cb, ptx, 0, stage);
      ptx.mbarrierArriveExpectTx(full, ptx.i32(C * (D + Dv) * kSmemEltBytes));
      // Boxes at (column, first key, KV head, batch).
      Value start = ptx.toI32(tileBounds(i).first);
      Value kvHead32 = ptx.toI32(kvHead), batch32 = ptx.toI32(kBatch);
      Value kMap = args.tensorMaps;
      Value vMap = cb.add(kMap, ptx.i64(128));
      for (int64_t atom = 0; atom < D / 64; ++atom) {
        Value dst = atomAddress(cb, ptx, smem.kAddr, C * D * kSmemEltBytes, C,
                                stage, atom);
        ptx.tmaLoad(dst, kMap, {ptx.i32(64 * atom), start, kvHead32, batch32},
                    full);
      }
      for (int64_t atom = 0; atom < Dv / 64; ++atom) {
        Value dst = atomAddress(cb, ptx, smem.vAddr, C * Dv * kSmemEltBytes, C,
                                stage, atom);
        ptx.tmaLoad(dst, vMap, {ptx.i32(64 * atom), start, kvHead32, batch32},
                    full);
      }
    });
  });
  b.setInsertionPointAfter(roles);
}

} // namespace mlir::mha::detail

void mlir::mha::emitFlashKernel(OpBuilder &b, Location loc,
                                gpu::GPUModuleOp module, gpu::GPUFuncOp func,
                                const FlashKernelConfig &config,
                                const AttentionVariant &variant,
                                const FlashKernelArgs &args, StringRef prefix) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  FlashKernelEmitter(b, loc, module, config, variant, args, prefix).emit();
}
