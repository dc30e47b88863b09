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
#include "VectorEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
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
using namespace mlir::mha::detail;

namespace {

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
    Value rows = memref::DimOp::create(rewriter, loc, op.getRowSum(), 0);
    buildLoop(rewriter, loc, rows, {}, [&](OpBuilder &b, Location l, Value r,
                                           ValueRange) {
      Emitter e{b, l};
      RowStats st = RowStats::load(e, op.getRowMax(), op.getRowSum(),
                                   op.getAlive(), r);
      Value m = st.max, any = st.any, valid = st.valid, safeSum = st.safeSum;
      Value zero = e.f32(0.0f);
      Value inv = e.fdiv(e.f32(1.0f), safeSum);
      if (Value output = op.getOutput()) {
        Value accRow = e.loadRow(op.getAcc(), r);
        auto vecType = cast<VectorType>(accRow.getType());
        Value scaled = e.fmul(
            accRow, vector::BroadcastOp::create(b, l, vecType, inv));
        Value zeros = vector::BroadcastOp::create(b, l, vecType, zero);
        Value validVec = vector::BroadcastOp::create(
            b, l, VectorType::get(vecType.getShape(), b.getI1Type()), valid);
        e.storeRow(e.select(validVec, scaled, zeros), output, r);
      }
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

/// Lowers the probabilities of a query tile, from the recorded log2
/// scores: `probs[r, j] = valid && u != -inf ? exp2(u - m) / l : 0`.
struct LowerAttentionProbs : OpRewritePattern<AttentionProbsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionProbsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value probs = op.getProbs();
    Value rows = memref::DimOp::create(rewriter, loc, probs, 0);
    Value keys = memref::DimOp::create(rewriter, loc, probs, 1);
    buildLoop(rewriter, loc, rows, {}, [&](OpBuilder &b, Location l, Value r,
                                           ValueRange) {
      Emitter e{b, l};
      RowStats st = RowStats::load(e, op.getRowMax(), op.getRowSum(),
                                   op.getAlive(), r);
      Value mUse = e.select(st.any, st.max, e.f32(0.0f));
      Value inv = e.fdiv(e.f32(1.0f), st.safeSum);
      Value negInf = e.f32(-std::numeric_limits<float>::infinity());
      buildLoop(b, l, keys, {}, [&](OpBuilder &kb, Location kl, Value j,
                                    ValueRange) {
        Emitter ke{kb, kl};
        Value u = memref::LoadOp::create(kb, kl, probs, ValueRange{r, j});
        Value keep = ke.andi(
            st.valid, ke.fcmp(arith::CmpFPredicate::ONE, u, negInf));
        // Clamp before exp2 so -inf never reaches it.
        Value x = ke.fmax(ke.fsub(u, mUse), ke.f32(-127.0f));
        Value p = ke.fmul(ke.exp2(x), inv);
        memref::StoreOp::create(kb, kl, ke.select(keep, p, ke.f32(0.0f)),
                                probs, ValueRange{r, j});
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
    // Lower the key-tile transposes to shuffles of the loaded rows now, before
    // a canonicalizer can fold them into element-by-element moves.
    RewritePatternSet transposes(&getContext());
    vector::populateVectorTransposeLoweringPatterns(
        transposes, vector::VectorTransposeLowering::Shuffle16x16);
    if (failed(applyPatternsGreedily(getOperation(), std::move(transposes))))
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
  patterns.add<LowerOnlineSoftmaxFinalize, LowerAttentionProbs>(
      patterns.getContext());
  populateOnlineSoftmaxStepLoweringPatterns(patterns);
}
