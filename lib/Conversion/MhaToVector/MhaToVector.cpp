//===- MhaToVector.cpp - Tiled mha ops to loops over vectors ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Lowers the tiled online-softmax ops to scf loops whose bodies work on
// whole rows as vectors: a query row and a key row are vector<D x f32>, the
// accumulator row is vector<Dv x f32> carried in registers across the keys
// of a tile. Each visible key updates the running (max, sum, acc, entropy)
// of its row in base 2, so one pass over the tile suffices.
//
//===----------------------------------------------------------------------===//

#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <limits>

namespace mlir::mha {
#define GEN_PASS_DEF_CONVERTMHATOVECTORPASS
#include "mha/Conversion/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// Small arithmetic helpers bound to one builder and location.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value boolean(bool v) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(v));
  }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value icmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value iadd(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value isub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value andi(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value ori(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value exp2(Value x) { return math::Exp2Op::create(b, loc, x); }
  Value log2(Value x) { return math::Log2Op::create(b, loc, x); }

  /// Loads row `r` of a [rows, n] tile as vector<n x f32>, widening f16/bf16.
  Value loadRow(Value tile, Value r) {
    auto type = cast<MemRefType>(tile.getType());
    auto vecType = VectorType::get({type.getDimSize(1)}, type.getElementType());
    Value row = vector::LoadOp::create(b, loc, vecType, tile,
                                       ValueRange{r, idx(0)});
    if (type.getElementType().isF32())
      return row;
    return arith::ExtFOp::create(
        b, loc, VectorType::get(vecType.getShape(), b.getF32Type()), row);
  }
  /// Stores an f32 row into a [rows, n] tile, narrowing to its element type.
  void storeRow(Value row, Value tile, Value r) {
    auto type = cast<MemRefType>(tile.getType());
    if (!type.getElementType().isF32())
      row = arith::TruncFOp::create(
          b, loc,
          VectorType::get(cast<VectorType>(row.getType()).getShape(),
                          type.getElementType()),
          row);
    vector::StoreOp::create(b, loc, row, tile, ValueRange{r, idx(0)});
  }
  Value dot(Value x, Value y) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                       fmul(x, y));
  }
};

/// The operands and attributes that define scores and masks; shared by the
/// step and probs ops.
struct ScoreSpec {
  Value scale, slope, queryPos, keyPos, windowLeft, windowRight, sinks;
  std::optional<float> softcap;
  bool causal, hasAlibi;

  template <typename OpTy> static ScoreSpec get(OpTy op) {
    ScoreSpec s;
    s.scale = op.getScoreScale();
    s.slope = op.getAlibiSlope();
    s.queryPos = op.getQueryPos();
    s.keyPos = op.getKeyPos();
    s.windowLeft = op.getWindowLeft();
    s.windowRight = op.getWindowRight();
    s.sinks = op.getSinkTokens();
    if (FloatAttr cap = op.getSoftcapAttr())
      s.softcap = cap.getValue().convertToFloat();
    s.causal = op.getCausal();
    s.hasAlibi = op.getHasAlibi();
    return s;
  }

  /// The score of query row `r` (vector `q`) against key `c` (vector `k`),
  /// in log2 units: s * log2(e).
  Value score(Emitter &e, Value q, Value k, Value r, Value c) const {
    Value s = e.fmul(e.dot(q, k), scale);
    if (softcap) {
      Value cap = e.f32(*softcap);
      s = e.fmul(cap, math::TanhOp::create(e.b, e.loc, e.fdiv(s, cap)));
    }
    if (hasAlibi) {
      Value dist = e.isub(e.iadd(queryPos, r), e.iadd(keyPos, c));
      Value absDist =
          e.select(e.icmp(arith::CmpIPredicate::slt, dist, e.idx(0)),
                   e.isub(e.idx(0), dist), dist);
      Value distI64 = arith::IndexCastOp::create(e.b, e.loc,
                                                 e.b.getI64Type(), absDist);
      Value distF = arith::SIToFPOp::create(e.b, e.loc, e.b.getF32Type(),
                                            distI64);
      s = e.fsub(s, e.fmul(slope, distF));
    }
    return e.fmul(s, e.f32(kLog2e));
  }

  /// Whether key `c` is visible to row `r` (SPEC.md's masks).
  Value visible(Emitter &e, Value r, Value c) const {
    Value p = e.iadd(queryPos, r);
    Value j = e.iadd(keyPos, c);
    Value zero = e.idx(0);
    Value causalOk =
        causal ? e.icmp(arith::CmpIPredicate::sle, j, p) : e.boolean(true);
    Value leftOk = e.ori(
        e.icmp(arith::CmpIPredicate::slt, windowLeft, zero),
        e.icmp(arith::CmpIPredicate::sge, j, e.isub(p, windowLeft)));
    Value rightOk = e.ori(
        e.icmp(arith::CmpIPredicate::slt, windowRight, zero),
        e.icmp(arith::CmpIPredicate::sle, j, e.iadd(p, windowRight)));
    Value isSink = e.icmp(arith::CmpIPredicate::slt, j, sinks);
    return e.andi(causalOk, e.ori(isSink, e.andi(leftOk, rightOk)));
  }
};

/// The final statistics of row `r` of a tile.
struct RowStats {
  Value max, sum;
  Value any;     // some key was visible (sum > 0)
  Value valid;   // any && the head is alive
  Value safeSum; // sum, or 1 for empty rows so no NaN or inf is formed
  static RowStats load(Emitter &e, Value rowMax, Value rowSum, Value alive,
                       Value r) {
    RowStats st;
    st.max = memref::LoadOp::create(e.b, e.loc, rowMax, r);
    st.sum = memref::LoadOp::create(e.b, e.loc, rowSum, r);
    st.any = e.fcmp(arith::CmpFPredicate::OGT, st.sum, e.f32(0.0f));
    st.valid = e.andi(st.any, alive);
    st.safeSum = e.select(st.any, st.sum, e.f32(1.0f));
    return st;
  }
};

/// Loop over [0, n) with unit step carrying `init`.
scf::ForOp buildLoop(
    OpBuilder &b, Location loc, Value n, ValueRange init,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
        body) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  return scf::ForOp::create(
      b, loc, zero, n, one, init,
      [&](OpBuilder &nb, Location nl, Value iv, ValueRange args) {
        scf::YieldOp::create(nb, nl, body(nb, nl, iv, args));
      });
}

/// Lowers one online-softmax step.
///
/// ```
/// mha.online_softmax_step ins(%q, %k, %v) outs(%acc, %m, %l, %t) ...
/// ```
/// becomes, for each row r, a loop over the tile's keys carrying the row's
/// (acc, m, l, t) in registers:
/// ```
/// %u = score(q[r], k[c]); if visible(r, c): m' = max(m, u), a = exp2(m - m'),
/// p = exp2(u - m'), acc = a * acc + p * v[c], l = a * l + p, ...
/// ```
struct LowerOnlineSoftmaxStep : OpRewritePattern<OnlineSoftmaxStepOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(OnlineSoftmaxStepOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ScoreSpec spec = ScoreSpec::get(op);
    bool masked = op.getMasked(), trackEntropy = op.getTrackEntropy();
    Value rows = memref::DimOp::create(rewriter, loc, op.getQuery(), 0);
    Value cols = memref::DimOp::create(rewriter, loc, op.getKey(), 0);
    Value acc = op.getAcc(), rowMax = op.getRowMax(), rowSum = op.getRowSum(),
          rowEnt = op.getRowEntropy();

    buildLoop(rewriter, loc, rows, {}, [&](OpBuilder &b, Location l, Value r,
                                           ValueRange) {
      Emitter re{b, l};
      Value q = re.loadRow(op.getQuery(), r);
      Value accRow = re.loadRow(acc, r);
      Value m = memref::LoadOp::create(b, l, rowMax, r);
      Value sum = memref::LoadOp::create(b, l, rowSum, r);
      Value ent = memref::LoadOp::create(b, l, rowEnt, r);
      auto keyLoop = buildLoop(
          b, l, cols, {accRow, m, sum, ent},
          [&](OpBuilder &kb, Location kl, Value c,
              ValueRange state) -> SmallVector<Value> {
            Emitter ke{kb, kl};
            Value u = spec.score(ke, q, ke.loadRow(op.getKey(), c), r, c);
            auto update = [&](OpBuilder &ub, Location ul) {
              Emitter ue{ub, ul};
              Value accOld = state[0], mOld = state[1], lOld = state[2],
                    tOld = state[3];
              Value mNew = ue.fmax(mOld, u);
              Value alpha = ue.exp2(ue.fsub(mOld, mNew));
              Value p = ue.exp2(ue.fsub(u, mNew));
              Value vRow = ue.loadRow(op.getValue(), c);
              auto vecType = cast<VectorType>(accOld.getType());
              Value alphaVec = vector::BroadcastOp::create(ub, ul, vecType, alpha);
              Value pVec = vector::BroadcastOp::create(ub, ul, vecType, p);
              Value accNew = vector::FMAOp::create(
                  ub, ul, pVec, vRow, ue.fmul(alphaVec, accOld));
              Value lNew = ue.fadd(ue.fmul(alpha, lOld), p);
              Value tNew = tOld;
              if (trackEntropy) {
                // t' = a (t + (m - m') l) + p (u - m'); the shift term is 0
                // while l is 0 (m is -inf then, and -inf * 0 is NaN).
                Value shift = ue.select(
                    ue.fcmp(arith::CmpFPredicate::OEQ, lOld, ue.f32(0.0f)),
                    ue.f32(0.0f), ue.fmul(ue.fsub(mOld, mNew), lOld));
                tNew = ue.fadd(ue.fmul(alpha, ue.fadd(tOld, shift)),
                               ue.fmul(p, ue.fsub(u, mNew)));
              }
              return SmallVector<Value>{accNew, mNew, lNew, tNew};
            };
            if (!masked)
              return update(kb, kl);
            Value vis = spec.visible(ke, r, c);
            auto ifOp = scf::IfOp::create(
                kb, kl, vis,
                [&](OpBuilder &tb, Location tl) {
                  scf::YieldOp::create(tb, tl, update(tb, tl));
                },
                [&](OpBuilder &eb, Location el) {
                  scf::YieldOp::create(eb, el, state);
                });
            return SmallVector<Value>(ifOp.getResults());
          });
      vector::StoreOp::create(b, l, keyLoop.getResult(0), acc,
                              ValueRange{r, re.idx(0)});
      memref::StoreOp::create(b, l, keyLoop.getResult(1), rowMax, r);
      memref::StoreOp::create(b, l, keyLoop.getResult(2), rowSum, r);
      memref::StoreOp::create(b, l, keyLoop.getResult(3), rowEnt, r);
      return SmallVector<Value>{};
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Lowers the finalisation of a query tile:
/// ```
/// output[r] = l > 0 && alive ? acc[r] / l : 0
/// lse[r] = l > 0 ? (m + log2 l) ln 2 : -inf
/// entropy[r] = l > 0 && alive ? max(0, (log2 l - t / l) ln 2) : 0
/// ```
struct LowerOnlineSoftmaxFinalize
    : OpRewritePattern<OnlineSoftmaxFinalizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(OnlineSoftmaxFinalizeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value rows = memref::DimOp::create(rewriter, loc, op.getOutput(), 0);
    buildLoop(rewriter, loc, rows, {}, [&](OpBuilder &b, Location l, Value r,
                                           ValueRange) {
      Emitter e{b, l};
      RowStats st = RowStats::load(e, op.getRowMax(), op.getRowSum(),
                                   op.getAlive(), r);
      Value m = st.max, any = st.any, valid = st.valid, safeSum = st.safeSum;
      Value zero = e.f32(0.0f);
      Value inv = e.fdiv(e.f32(1.0f), safeSum);
      Value accRow = e.loadRow(op.getAcc(), r);
      auto vecType = cast<VectorType>(accRow.getType());
      Value scaled = e.fmul(
          accRow, vector::BroadcastOp::create(b, l, vecType, inv));
      Value zeros = vector::BroadcastOp::create(b, l, vecType, zero);
      Value validVec = vector::BroadcastOp::create(
          b, l, VectorType::get(vecType.getShape(), b.getI1Type()), valid);
      e.storeRow(e.select(validVec, scaled, zeros), op.getOutput(), r);
      Value log2Sum = e.log2(safeSum);
      if (Value lse = op.getLse()) {
        Value value = e.fmul(e.fadd(m, log2Sum), e.f32(kLn2));
        Value negInf = e.f32(-std::numeric_limits<float>::infinity());
        memref::StoreOp::create(b, l, e.select(any, value, negInf), lse, r);
      }
      if (Value entropy = op.getEntropy()) {
        Value t = memref::LoadOp::create(b, l, op.getRowEntropy(), r);
        Value h = e.fmul(e.fsub(log2Sum, e.fmul(t, inv)), e.f32(kLn2));
        h = e.fmax(h, zero);
        memref::StoreOp::create(b, l, e.select(valid, h, zero), entropy, r);
      }
      return SmallVector<Value>{};
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Lowers the probabilities of a query tile: for every key j,
/// `probs[r, j] = visible && valid ? exp2(u - m - log2 l) : 0`.
struct LowerAttentionProbs : OpRewritePattern<AttentionProbsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionProbsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ScoreSpec spec = ScoreSpec::get(op);
    Value rows = memref::DimOp::create(rewriter, loc, op.getQuery(), 0);
    Value keys = memref::DimOp::create(rewriter, loc, op.getKey(), 0);
    buildLoop(rewriter, loc, rows, {}, [&](OpBuilder &b, Location l, Value r,
                                           ValueRange) {
      Emitter e{b, l};
      RowStats st = RowStats::load(e, op.getRowMax(), op.getRowSum(),
                                   op.getAlive(), r);
      Value valid = st.valid;
      Value shift = e.select(st.any, e.fadd(st.max, e.log2(st.safeSum)),
                             e.f32(0.0f));
      Value q = e.loadRow(op.getQuery(), r);
      buildLoop(b, l, keys, {}, [&](OpBuilder &kb, Location kl, Value c,
                                    ValueRange) {
        Emitter ke{kb, kl};
        Value u = spec.score(ke, q, ke.loadRow(op.getKey(), c), r, c);
        Value keep = ke.andi(valid, spec.visible(ke, r, c));
        // Select the exponent before exp2 so invisible keys never form inf.
        Value p = ke.exp2(ke.select(keep, ke.fsub(u, shift), ke.f32(-200.0f)));
        memref::StoreOp::create(kb, kl, ke.select(keep, p, ke.f32(0.0f)),
                                op.getProbs(), ValueRange{r, c});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    rewriter.eraseOp(op);
    return success();
  }
};

struct ConvertMhaToVectorPass
    : public mha::impl::ConvertMhaToVectorPassBase<ConvertMhaToVectorPass> {
  using ConvertMhaToVectorPassBase::ConvertMhaToVectorPassBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMhaToVectorPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    WalkResult leftover = getOperation()->walk([](Operation *op) {
      if (isa<OnlineSoftmaxStepOp, OnlineSoftmaxFinalizeOp, AttentionProbsOp>(
              op)) {
        op->emitError("was not lowered to vectors");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::mha::populateMhaToVectorPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerOnlineSoftmaxStep, LowerOnlineSoftmaxFinalize,
               LowerAttentionProbs>(patterns.getContext());
}
