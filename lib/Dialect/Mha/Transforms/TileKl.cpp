//===- TileKl.cpp - Kernels of the attention-transfer loss ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Part of mha-tile: the kernels of a function computing mha.attention_kl
// (docs/language.md 4.9), flash-style: no L x L map is ever stored.
//
//  - The loss, one work item (b, h, t) per tile of R query rows: both
//    models' query rows widened into [R, D] scratch once; per tile of C
//    keys, both key tiles packed transposed and both score tiles
//    S = Q Kt computed on the register-blocked micro-kernels; then, row by
//    row with the keys in the lanes, an online softmax of each model in
//    base 2 and the running sum a = sum_j p_t[j] (x_t[j] - x_s[j]) rescaled
//    with the teacher's. Finally kl = ln2 (a / l_t) - lse_t + lse_s.
//  - With mha.backward, `<name>_backward` on the backward launcher's two
//    grids: both recompute P_t and P_s of a block of pairs from the saved
//    lse and form dS = dkl_i scale_s (P_s - P_t); key items (b, g, t) sum
//    dk_s[j] = sum_i dS[i, j] q_s[i] over the group's heads and the query
//    tiles that reach the key tile, query items (b, h, t) sum
//    dq_s[i] = sum_j dS[i, j] k_s[j]. Each gradient element is written by
//    one item in a fixed order: no atomics.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"
#include "TileVectors.h"

#include "mha/Codegen/Constants.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/SmallPtrSet.h"

#include <limits>
#include <tuple>

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Query rows per item and keys per key tile. The scratch of an item is
/// then at most about 290 KiB at D_t = D_s = 256.
constexpr int64_t kKlRows = 32, kKlKeys = 64;
constexpr float kLn2 = 0.6931471805599453f;

/// The stack scratch of the largest work item (bytes), as KlEmitter
/// allocates it: the pair scratch (both models' rows, keys and score tiles,
/// and dS for the gradient) plus the loss's row states, or the gradient's
/// packed student keys and dk or dq accumulators.
int64_t getKlScratchBytes(int64_t dimT, int64_t dimS, int64_t vw,
                          bool gradient) {
  int64_t keysP = roundUp(kKlKeys, vw), dimSP = roundUp(dimS, vw);
  int64_t pair = kKlRows * (roundUp(dimT, vw) + dimSP) + (dimT + dimS) * keysP +
                 (gradient ? 3 : 2) * kKlRows * keysP;
  int64_t item =
      gradient ? pair + keysP * dimSP + kKlRows * dimSP : pair + 5 * kKlRows;
  return 4 * item;
}

/// The memrefs and grid position of a loss or gradient work item; the
/// results a function does not return are null.
struct KlItem {
  Value qt, kt, qs, ks;
  Value kl, lseT, lseS; // loss results, or the saved lse (gradient)
  Value dkl, dqs, dks;  // gradient only
  Value aliveMask;      // gradient only: i8 [Hq]
  Value batch, head, tile, alive;
};

class KlEmitter : TileVectorEmitter {
public:
  KlEmitter(OpBuilder &b, AttentionKlOp op, int64_t vw, const KlItem &item)
      : TileVectorEmitter(b, op.getLoc(), vw), item(item),
        causal(op.getCausal()), studentScale(op.getStudentScaleOrDefault()) {
    auto qt = cast<RankedTensorType>(op.getTeacherQuery().getType());
    auto qs = cast<RankedTensorType>(op.getStudentQuery().getType());
    heads = qt.getDimSize(1);
    teacherGroup =
        heads /
        cast<RankedTensorType>(op.getTeacherKey().getType()).getDimSize(1);
    studentGroup =
        heads /
        cast<RankedTensorType>(op.getStudentKey().getType()).getDimSize(1);
    dimT = qt.getDimSize(3);
    dimS = qs.getDimSize(3);
    keysP = roundUp(kKlKeys, vw);
    dimTP = roundUp(dimT, vw);
    dimSP = roundUp(dimS, vw);
    teacherLog2 = op.getTeacherScaleOrDefault() * kLog2e;
    studentLog2 = studentScale * kLog2e;
  }

  /// The loss item: kl, lse_t and lse_s of the tile's rows.
  void emitLossItem();
  /// The gradient's key items (phase 0) and query items (phase 1).
  void emitGradientItem(Value phase);

private:
  /// Scratch of one tile of pairs: both models' packed rows and keys and
  /// their score tiles.
  struct PairScratch {
    Value qpT, qpS;   // [R, D_t p], [R, D_s p]
    Value ktT, ktS;   // [D_t, Cp], [D_s, Cp]
    Value sT, sS, dS; // [R, Cp]
  };
  PairScratch allocatePairScratch(bool withGradient);

  Value queryLen() { return memref::DimOp::create(b, loc, item.qs, 2); }
  Value keyLen() { return memref::DimOp::create(b, loc, item.ks, 2); }
  /// Keys [0, keyEnd(i)) are visible to query row i: Lk, or with `causal`
  /// the keys up to i + Lk - Lq (may be <= 0).
  Value keyEnd(Value i) {
    Value lk = keyLen();
    if (!causal)
      return lk;
    return cb.minSI(lk, cb.add(i, cb.sub(lk, cb.sub(queryLen(), cb.index(1)))));
  }
  Value teacherHead(Value h) { return cb.divUI(h, cb.index(teacherGroup)); }
  Value studentHead(Value h) { return cb.divUI(h, cb.index(studentGroup)); }
  Value negInf() { return cb.f32(-std::numeric_limits<float>::infinity()); }

  /// Packs the key tile [j0, j0 + n) of both models for head h.
  void packKeys(const PairScratch &sc, Value h, Value j0, Value n) {
    packTransposed(item.kt, item.batch, teacherHead(h), j0, n, keysP, sc.ktT);
    packTransposed(item.ks, item.batch, studentHead(h), j0, n, keysP, sc.ktS);
  }
  /// Packs the query rows [row0, row0 + rows) of head h of both models.
  void packQueries(const PairScratch &sc, Value h, Value row0, Value rows) {
    packRows(item.qt, item.batch, h, row0, rows, sc.qpT);
    packRows(item.qs, item.batch, h, row0, rows, sc.qpS);
  }
  /// S_t and S_s of the packed rows and keys.
  void emitScores(const PairScratch &sc, Value rows) {
    for (auto [out, qp, kt, dim] :
         {std::make_tuple(sc.sT, sc.qpT, sc.ktT, dimT),
          std::make_tuple(sc.sS, sc.qpS, sc.ktS, dimS)})
      emitProduct(
          Tile(out), rows, keysP / vw, cb.index(dim),
          [&, qp = qp](Value k, Value row) { return load(qp, {row, k}); },
          Tile(kt), /*accumulate=*/false, /*clampRows=*/true);
  }
  /// Lanes of key vector j of the tile at j0 that row i sees.
  Value visibleLanes(Value i, Value j0, int64_t j) {
    Value limit = splat(toI32(cb.sub(keyEnd(i), j0)));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                 laneIndices(j), limit);
  }
  /// The online update of row r (query row i) by its score tiles.
  void emitLossRow(const PairScratch &sc, Value state, Value r, Value i,
                   Value j0);
  /// dS = dkl_i scale_s (P_s - P_t) of the rows of head h against the key
  /// tile at j0, into sc.dS (0 where a pair is not visible).
  void emitPairGradients(const PairScratch &sc, Value h, Value row0, Value rows,
                         Value j0);
  void emitKeyItem();
  void emitQueryItem();
  /// Whether query head h is alive (the runtime head mask).
  Value isAlive(Value h) {
    return cb.cmpI(arith::CmpIPredicate::ne, load(item.aliveMask, {h}),
                   arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0)));
  }

  KlItem item;
  bool causal;
  float studentScale, teacherLog2, studentLog2;
  int64_t heads, teacherGroup, studentGroup;
  int64_t dimT, dimS, keysP, dimTP, dimSP;
};

/// The state of a row of the loss: its two running maxima and sums and
/// the teacher-weighted score difference, all in log2 units.
enum LossState { kMaxT, kSumT, kDiff, kMaxS, kSumS, kNumLossStates };

KlEmitter::PairScratch KlEmitter::allocatePairScratch(bool withGradient) {
  PairScratch sc;
  sc.qpT = scratch(kKlRows, dimTP);
  sc.qpS = scratch(kKlRows, dimSP);
  sc.ktT = scratch(dimT, keysP);
  sc.ktS = scratch(dimS, keysP);
  sc.sT = scratch(kKlRows, keysP);
  sc.sS = scratch(kKlRows, keysP);
  if (withGradient)
    sc.dS = scratch(kKlRows, keysP);
  return sc;
}

void KlEmitter::emitLossRow(const PairScratch &sc, Value state, Value r,
                            Value i, Value j0) {
  int64_t vectors = keysP / vw;
  SmallVector<Value> xt, xs, diff;
  Value ninf = splat(negInf()), zeros = splatF(0.0f);
  for (int64_t j = 0; j < vectors; ++j) {
    Value visible = visibleLanes(i, j0, j);
    Value st =
        cb.fmul(loadVec(sc.sT, {r, cb.index(j * vw)}), splatF(teacherLog2));
    Value ss =
        cb.fmul(loadVec(sc.sS, {r, cb.index(j * vw)}), splatF(studentLog2));
    xt.push_back(cb.select(visible, st, ninf));
    xs.push_back(cb.select(visible, ss, ninf));
    diff.push_back(cb.select(visible, cb.fsub(st, ss), zeros));
  }
  // One vmaxps a vector (selectMax): a NaN score need not reach the
  // maximum, its probability exp2(NaN - m) carries it into the sums.
  auto rowMax = [&](ArrayRef<Value> x) {
    Value m = x[0];
    for (Value v : x.drop_front())
      m = cb.selectMax(v, m);
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXIMUMF,
                                       m)
        .getResult();
  };
  // One model's update: the new maximum (0 while no key is visible, so
  // that exp2(-inf - 0) = 0), the rescale factor and the probabilities.
  auto update = [&](ArrayRef<Value> x, LossState maxSlot, LossState sumSlot,
                    SmallVector<Value> &p) {
    Value mOld = load(state, {cb.index(maxSlot), r});
    Value mNew = cb.maximumF(mOld, rowMax(x));
    Value mSafe = cb.select(cb.cmpF(arith::CmpFPredicate::OEQ, mNew, negInf()),
                            cb.f32(0.0f), mNew);
    Value alpha = cb.exp2(cb.fsub(mOld, mSafe));
    Value sum = zeros;
    for (Value v : x) {
      p.push_back(cb.exp2(cb.fsub(v, splat(mSafe))));
      sum = cb.fadd(sum, p.back());
    }
    store(mNew, state, {cb.index(maxSlot), r});
    Value l = load(state, {cb.index(sumSlot), r});
    store(cb.fadd(cb.fmul(alpha, l), sumLanes(sum)), state,
          {cb.index(sumSlot), r});
    return alpha;
  };
  SmallVector<Value> pT, pS;
  Value alphaT = update(xt, kMaxT, kSumT, pT);
  update(xs, kMaxS, kSumS, pS);
  Value weighted = zeros;
  for (auto [p, d] : llvm::zip(pT, diff))
    weighted = cb.fadd(weighted, cb.fmul(p, d));
  Value a = load(state, {cb.index(kDiff), r});
  store(cb.fadd(cb.fmul(alphaT, a), sumLanes(weighted)), state,
        {cb.index(kDiff), r});
}

void KlEmitter::emitLossItem() {
  Value lq = queryLen();
  Value row0 = cb.mul(item.tile, cb.index(kKlRows));
  Value rows = cb.minSI(cb.index(kKlRows), cb.sub(lq, row0));
  Value state = scratch(kNumLossStates, kKlRows);
  for (int64_t s = 0; s < kNumLossStates; ++s) {
    bool isMax = s == kMaxT || s == kMaxS;
    Value init = isMax ? negInf() : cb.f32(0.0f);
    cb.forLoop(cb.index(0), cb.index(kKlRows), 1,
               [&](Value r) { store(init, state, {cb.index(s), r}); });
  }
  // A pruned head keeps the initial state: every row empty.
  cb.ifThen(item.alive, [&] {
    PairScratch sc = allocatePairScratch(/*withGradient=*/false);
    packQueries(sc, item.head, row0, rows);
    Value keyLimit =
        cb.maxSI(cb.index(0), keyEnd(cb.add(row0, cb.sub(rows, cb.index(1)))));
    cb.forLoop(cb.index(0), keyLimit, kKlKeys, [&](Value j0) {
      Value n = cb.minSI(cb.index(kKlKeys), cb.sub(keyLimit, j0));
      packKeys(sc, item.head, j0, n);
      emitScores(sc, rows);
      cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
        emitLossRow(sc, state, r, cb.add(row0, r), j0);
      });
    });
  });
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    SmallVector<Value> at{item.batch, item.head, cb.add(row0, r)};
    Value sumT = load(state, {cb.index(kSumT), r});
    // No visible key (sum 0): kl 0 and lse -inf; NaN propagates.
    Value empty = cb.cmpF(arith::CmpFPredicate::OEQ, sumT, cb.f32(0.0f));
    auto lse = [&](LossState maxSlot, LossState sumSlot) {
      Value m = load(state, {cb.index(maxSlot), r});
      Value l = load(state, {cb.index(sumSlot), r});
      return cb.fmul(cb.fadd(m, cb.log2(l)), cb.f32(kLn2));
    };
    Value lseT = lse(kMaxT, kSumT), lseS = lse(kMaxS, kSumS);
    Value expectedDiff =
        cb.fmul(cb.fdiv(load(state, {cb.index(kDiff), r}), sumT), cb.f32(kLn2));
    Value kl = cb.fadd(cb.fsub(expectedDiff, lseT), lseS);
    if (item.kl)
      store(cb.select(empty, cb.f32(0.0f), kl), item.kl, at);
    if (item.lseT)
      store(cb.select(empty, negInf(), lseT), item.lseT, at);
    if (item.lseS)
      store(cb.select(empty, negInf(), lseS), item.lseS, at);
  });
}

void KlEmitter::emitPairGradients(const PairScratch &sc, Value h, Value row0,
                                  Value rows, Value j0) {
  int64_t vectors = keysP / vw;
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    Value i = cb.add(row0, r);
    SmallVector<Value> at{item.batch, h, i};
    Value lseT = load(item.lseT, at), lseS = load(item.lseS, at);
    // A row without keys (lse -inf) has no pairs: its factor is 0.
    Value hasKeys = cb.cmpF(arith::CmpFPredicate::UNE, lseT, negInf());
    Value factor =
        cb.select(hasKeys, cb.fmul(load(item.dkl, at), cb.f32(studentScale)),
                  cb.f32(0.0f));
    Value offT = splat(cb.fmul(lseT, cb.f32(kLog2e)));
    Value offS = splat(cb.fmul(lseS, cb.f32(kLog2e)));
    for (int64_t j = 0; j < vectors; ++j) {
      Value col = cb.index(j * vw);
      Value pT = cb.exp2(cb.fsub(
          cb.fmul(loadVec(sc.sT, {r, col}), splatF(teacherLog2)), offT));
      Value pS = cb.exp2(cb.fsub(
          cb.fmul(loadVec(sc.sS, {r, col}), splatF(studentLog2)), offS));
      Value ds = cb.fmul(cb.fsub(pS, pT), splat(factor));
      storeVec(cb.select(visibleLanes(i, j0, j), ds, splatF(0.0f)), sc.dS,
               {r, col});
    }
  });
}

void KlEmitter::emitKeyItem() {
  Value lq = queryLen(), lk = keyLen();
  Value g = item.head; // the student's KV head
  Value j0 = cb.mul(item.tile, cb.index(kKlKeys));
  Value n = cb.minSI(cb.index(kKlKeys), cb.sub(lk, j0));
  PairScratch sc = allocatePairScratch(/*withGradient=*/true);
  Value dk = scratch(keysP, dimSP);
  cb.forLoop(cb.index(0), cb.index(keysP), 1, [&](Value c) {
    for (int64_t d0 = 0; d0 < dimSP; d0 += vw)
      storeVec(splatF(0.0f), dk, {c, cb.index(d0)});
  });
  // With `causal`, rows before j0 - (Lk - Lq) see no key of the tile.
  Value firstRow =
      causal ? cb.maxSI(cb.index(0), cb.sub(j0, cb.sub(lk, lq))) : cb.index(0);
  cb.forLoop(cb.index(0), cb.index(studentGroup), 1, [&](Value member) {
    Value h = cb.add(cb.mul(g, cb.index(studentGroup)), member);
    cb.ifThen(isAlive(h), [&] {
      packKeys(sc, h, j0, n);
      cb.forLoop(firstRow, lq, kKlRows, [&](Value row0) {
        Value rows = cb.minSI(cb.index(kKlRows), cb.sub(lq, row0));
        packQueries(sc, h, row0, rows);
        emitScores(sc, rows);
        emitPairGradients(sc, h, row0, rows, j0);
        emitProduct(
            Tile(dk), n, dimSP / vw, rows,
            [&](Value k, Value key) { return load(sc.dS, {k, key}); },
            Tile(sc.qpS), /*accumulate=*/true, /*clampRows=*/true);
      });
    });
  });
  cb.forLoop(cb.index(0), n, 1, [&](Value c) {
    for (int64_t d0 = 0; d0 < dimS; d0 += vw)
      storeOutput(loadVec(dk, {c, cb.index(d0)}), item.dks, item.batch, g,
                  cb.add(j0, c), d0);
  });
}

void KlEmitter::emitQueryItem() {
  Value lq = queryLen();
  Value h = item.head;
  Value row0 = cb.mul(item.tile, cb.index(kKlRows));
  Value rows = cb.minSI(cb.index(kKlRows), cb.sub(lq, row0));
  Value dq = scratch(kKlRows, dimSP);
  cb.forLoop(cb.index(0), cb.index(kKlRows), 1, [&](Value r) {
    for (int64_t d0 = 0; d0 < dimSP; d0 += vw)
      storeVec(splatF(0.0f), dq, {r, cb.index(d0)});
  });
  cb.ifThen(isAlive(h), [&] {
    PairScratch sc = allocatePairScratch(/*withGradient=*/true);
    Value kpS = scratch(keysP, dimSP);
    packQueries(sc, h, row0, rows);
    Value keyLimit =
        cb.maxSI(cb.index(0), keyEnd(cb.add(row0, cb.sub(rows, cb.index(1)))));
    cb.forLoop(cb.index(0), keyLimit, kKlKeys, [&](Value j0) {
      Value n = cb.minSI(cb.index(kKlKeys), cb.sub(keyLimit, j0));
      packKeys(sc, h, j0, n);
      packRows(item.ks, item.batch, studentHead(h), j0, n, kpS);
      emitScores(sc, rows);
      emitPairGradients(sc, h, row0, rows, j0);
      emitProduct(
          Tile(dq), rows, dimSP / vw, n,
          [&](Value k, Value row) { return load(sc.dS, {row, k}); }, Tile(kpS),
          /*accumulate=*/true, /*clampRows=*/true);
    });
  });
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    for (int64_t d0 = 0; d0 < dimS; d0 += vw)
      storeOutput(loadVec(dq, {r, cb.index(d0)}), item.dqs, item.batch, h,
                  cb.add(row0, r), d0);
  });
}

void KlEmitter::emitGradientItem(Value phase) {
  cb.ifThenElse(
      cb.cmpI(arith::CmpIPredicate::eq, phase, cb.index(0)),
      [&] { emitKeyItem(); }, [&] { emitQueryItem(); });
}

/// Checks that `func` is a loss function (one mha.attention_kl of its
/// arguments q_t, k_t, q_s, k_s in that order, returning some of its
/// results) and returns its C parameters.
FailureOr<SmallVector<Parameter>> matchKlFunction(func::FuncOp func,
                                                  AttentionKlOp kl) {
  Block &body = func.getBody().front();
  for (Operation &op : body)
    if (&op != kl.getOperation() && !isa<func::ReturnOp>(op))
      return op.emitError() << "'" << op.getName() << "' is not supported "
                            << "in a loss function: its body must be one "
                            << "mha.attention_kl of the function arguments";
  if (func.getNumArguments() != 4 ||
      llvm::any_of(llvm::enumerate(kl->getOperands()), [&](auto e) {
        return e.value() != func.getArgument(e.index());
      }))
    return kl.emitError() << "an exported mha.attention_kl takes the "
                          << "function arguments in the order of its C "
                          << "parameters: q_t, k_t, q_s, k_s";
  SmallVector<Parameter> params = {
      {kl.getTeacherQuery().getType(), TensorRole::teacher_query},
      {kl.getTeacherKey().getType(), TensorRole::teacher_key},
      {kl.getStudentQuery().getType(), TensorRole::student_query},
      {kl.getStudentKey().getType(), TensorRole::student_key}};
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  SmallPtrSet<Value, 3> seen;
  for (Value v : ret.getOperands()) {
    if (v.getDefiningOp() != kl.getOperation() || !seen.insert(v).second)
      return func.emitError()
             << "'" << func.getSymName() << "' must return results of its "
             << "mha.attention_kl, each at most once";
    params.push_back({v.getType(), v == kl.getKl() ? TensorRole::kl
                                   : v == kl.getTeacherLse()
                                       ? TensorRole::teacher_lse
                                       : TensorRole::student_lse});
  }
  return params;
}

/// `<name>_backward__kernel`: the gradient's key and query items
/// (mha_rt_launch_backward), created before `func`.
func::FuncOp createGradientKernel(OpBuilder &b, func::FuncOp func,
                                  AttentionKlOp kl, int64_t vw) {
  Type rowsType = kl.getKl().getType();
  SmallVector<Parameter> params = {
      {kl.getTeacherQuery().getType(), TensorRole::teacher_query},
      {kl.getTeacherKey().getType(), TensorRole::teacher_key},
      {kl.getStudentQuery().getType(), TensorRole::student_query},
      {kl.getStudentKey().getType(), TensorRole::student_key},
      {rowsType, TensorRole::saved_teacher_lse},
      {rowsType, TensorRole::saved_student_lse},
      {rowsType, TensorRole::grad_kl},
      {kl.getStudentQuery().getType(), TensorRole::grad_student_query},
      {kl.getStudentKey().getType(), TensorRole::grad_student_key}};
  auto studentKeys = cast<RankedTensorType>(kl.getStudentKey().getType());
  int64_t heads =
      cast<RankedTensorType>(kl.getTeacherQuery().getType()).getDimSize(1);
  b.setInsertionPoint(func);
  func::FuncOp kernel = createBackwardKernel(
      b, func.getLoc(), (func.getSymName() + "_backward").str(), params,
      kKlRows, heads,
      {studentKeys.getDimSize(1), kKlKeys, /*index of k_s=*/3,
       /*row_stats=*/0, /*dq_columns=*/0});
  Block *entry = &kernel.front();
  auto arg = [&](unsigned i) { return entry->getArgument(i); };
  auto trailing = [&](BackwardKernelArg a) {
    return arg(params.size() + static_cast<unsigned>(a));
  };
  KlItem item;
  item.qt = arg(0);
  item.kt = arg(1);
  item.qs = arg(2);
  item.ks = arg(3);
  item.lseT = arg(4);
  item.lseS = arg(5);
  item.dkl = arg(6);
  item.dqs = arg(7);
  item.dks = arg(8);
  item.aliveMask = trailing(BackwardKernelArg::aliveMask);
  item.batch = trailing(BackwardKernelArg::batch);
  item.head = trailing(BackwardKernelArg::head);
  item.tile = trailing(BackwardKernelArg::tile);
  item.alive = trailing(BackwardKernelArg::alive);
  KlEmitter(b, kl, vw, item)
      .emitGradientItem(trailing(BackwardKernelArg::phase));
  func::ReturnOp::create(b, kl.getLoc());
  return kernel;
}

} // namespace

LogicalResult mlir::mha::tileKlFunction(func::FuncOp func, AttentionKlOp kl,
                                        int64_t vectorWidth) {
  FailureOr<SmallVector<Parameter>> params = matchKlFunction(func, kl);
  if (failed(params))
    return failure();
  for (Value q : {kl.getTeacherQuery(), kl.getStudentQuery()}) {
    int64_t dim = cast<RankedTensorType>(q.getType()).getDimSize(3);
    if (dim > kMaxCpuHeadDim)
      return kl.emitError()
             << "head dim " << dim << " is not supported by "
             << "the CPU pipeline (at most " << kMaxCpuHeadDim << ")";
  }
  int64_t dimT =
      cast<RankedTensorType>(kl.getTeacherQuery().getType()).getDimSize(3);
  int64_t dimS =
      cast<RankedTensorType>(kl.getStudentQuery().getType()).getDimSize(3);
  int64_t scratchBytes = getKlScratchBytes(
      dimT, dimS, vectorWidth, func->hasAttr(MhaDialect::kBackwardAttrName));
  if (scratchBytes > kMaxWorkItemScratchBytes)
    return kl.emitError() << "head dims D_t = " << dimT << ", D_s = " << dimS
                          << " need " << scratchBytes
                          << " bytes of scratch per work item, more than the "
                          << kMaxWorkItemScratchBytes << " allowed";
  int64_t heads =
      cast<RankedTensorType>(kl.getTeacherQuery().getType()).getDimSize(1);
  OpBuilder b(func);
  func::FuncOp kernel = createWorkItemKernel(b, func, *params, kKlRows, heads);
  Block *entry = &kernel.front();
  auto argFor = [&](Value v) { return getParameterArgument(func, *entry, v); };
  unsigned n = params->size();
  KlItem item;
  item.qt = argFor(kl.getTeacherQuery());
  item.kt = argFor(kl.getTeacherKey());
  item.qs = argFor(kl.getStudentQuery());
  item.ks = argFor(kl.getStudentKey());
  item.kl = argFor(kl.getKl());
  item.lseT = argFor(kl.getTeacherLse());
  item.lseS = argFor(kl.getStudentLse());
  item.batch = entry->getArgument(n);
  item.head = entry->getArgument(n + 1);
  item.tile = entry->getArgument(n + 2);
  item.alive = entry->getArgument(n + 3);
  KlEmitter(b, kl, vectorWidth, item).emitLossItem();
  func::ReturnOp::create(b, kl.getLoc());
  SmallVector<func::FuncOp> kernels{kernel};
  if (func->hasAttr(MhaDialect::kBackwardAttrName))
    kernels.push_back(createGradientKernel(b, func, kl, vectorWidth));
  func.erase();
  // The packing transposes become shuffles of the loaded rows now, as in
  // mha-tile-backward, before a canonicalizer folds them into moves of
  // single elements.
  for (func::FuncOp k : kernels) {
    RewritePatternSet transposes(k.getContext());
    vector::populateVectorTransposeLoweringPatterns(
        transposes, vector::VectorTransposeLowering::Shuffle16x16);
    if (failed(applyPatternsGreedily(k, std::move(transposes))))
      return failure();
  }
  return success();
}
