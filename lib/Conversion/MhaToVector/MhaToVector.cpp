//===- MhaToVector.cpp - Tiled mha ops to loops over vectors ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// convert-mha-to-vector: the ops mha-tile leaves in a work item's kernel
// become scf loops over vector ops. This file holds the pass and the
// row-wise lowerings of the finalisation and the probabilities; the flash
// step is in OnlineSoftmaxStep.cpp, a layer's GEMMs in LayerGemm.cpp, the
// register-blocked micro-kernels both use in mha/Codegen/MicroKernels.h.
//
//===----------------------------------------------------------------------===//

#include "mha/Conversion/MhaToVector/MhaToVector.h"
#include "VectorEmitter.h"
#include "mha/Codegen/Constants.h"
#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

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

#define DEBUG_TYPE "convert-mha-to-vector"

namespace mlir::mha {
#define GEN_PASS_DEF_CONVERTMHATOVECTORPASS
#include "mha/Conversion/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::detail;

Value mha::detail::loadRow(CodegenBuilder &cb, Value tile, Value r) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto type = cast<MemRefType>(tile.getType());
  auto vecType = VectorType::get({type.getDimSize(1)}, type.getElementType());
  Value row =
      vector::LoadOp::create(b, loc, vecType, tile, ValueRange{r, cb.index(0)});
  if (type.getElementType().isF32())
    return row;
  return arith::ExtFOp::create(
      b, loc, VectorType::get(vecType.getShape(), b.getF32Type()), row);
}

void mha::detail::storeRow(CodegenBuilder &cb, Value row, Value tile, Value r) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto type = cast<MemRefType>(tile.getType());
  if (!type.getElementType().isF32())
    row = arith::TruncFOp::create(
        b, loc,
        VectorType::get(cast<VectorType>(row.getType()).getShape(),
                        type.getElementType()),
        row);
  vector::StoreOp::create(b, loc, row, tile, ValueRange{r, cb.index(0)});
}

RowStats RowStats::load(CodegenBuilder &cb, Value rowMax, Value rowSum,
                        Value alive, Value r) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  RowStats st;
  st.max = memref::LoadOp::create(b, loc, rowMax, r);
  st.sum = memref::LoadOp::create(b, loc, rowSum, r);
  // Unordered: a NaN sum (a NaN reached a visible score or value) counts as
  // a row with keys, so the NaN shows in every result of the row.
  st.any = cb.cmpF(arith::CmpFPredicate::UNE, st.sum, cb.f32(0.0f));
  st.valid = cb.andI(st.any, alive);
  st.safeSum = cb.select(st.any, st.sum, cb.f32(1.0f));
  return st;
}

namespace {

/// Lowers the finalisation of a query tile:
/// ```
/// output[r] = l != 0 && alive ? acc[r] / l * output_scale : 0
/// lse[r] = l != 0 ? (m + log2 l) ln 2 : -inf
/// entropy[r] = l != 0 && alive ? maximum(0, (log2 l - t / l) ln 2) : 0
/// ```
/// where `l != 0` holds for a NaN l, which then shows in every result.
struct LowerOnlineSoftmaxFinalize : OpRewritePattern<OnlineSoftmaxFinalizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(OnlineSoftmaxFinalizeOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    CodegenBuilder cb(b, loc);
    Value rows = memref::DimOp::create(b, loc, op.getRowSum(), 0);
    cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
      RowStats st =
          RowStats::load(cb, op.getRowMax(), op.getRowSum(), op.getAlive(), r);
      Value m = st.max, any = st.any, valid = st.valid, safeSum = st.safeSum;
      Value zero = cb.f32(0.0f);
      Value inv = cb.fdiv(cb.f32(1.0f), safeSum);
      if (Value output = op.getOutput()) {
        Value accRow = loadRow(cb, op.getAcc(), r);
        auto vecType = cast<VectorType>(accRow.getType());
        // Dropout's 1 / (1 - p) joins 1 / l: one multiply per element.
        Value outputScale =
            op.getOutputScale() ? cb.fmul(inv, op.getOutputScale()) : inv;
        Value scaled = cb.fmul(
            accRow, vector::BroadcastOp::create(b, loc, vecType, outputScale));
        Value zeros = vector::BroadcastOp::create(b, loc, vecType, zero);
        Value validVec = vector::BroadcastOp::create(
            b, loc, VectorType::get(vecType.getShape(), rewriter.getI1Type()),
            valid);
        storeRow(cb, cb.select(validVec, scaled, zeros), output, r);
      }
      Value log2Sum = cb.log2(safeSum);
      if (Value lse = op.getLse()) {
        Value value = cb.fmul(cb.fadd(m, log2Sum), cb.f32(kLn2));
        Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
        memref::StoreOp::create(b, loc, cb.select(any, value, negInf), lse, r);
      }
      if (Value entropy = op.getEntropy()) {
        Value t = memref::LoadOp::create(b, loc, op.getRowEntropy(), r);
        Value h = cb.fmul(cb.fsub(log2Sum, cb.fmul(t, inv)), cb.f32(kLn2));
        h = cb.maximumF(h, zero);
        memref::StoreOp::create(b, loc, cb.select(valid, h, zero), entropy, r);
      }
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Lowers the probabilities of a query tile, from the recorded log2
/// scores: `probs[r, j] = valid && u != -inf ? exp2(u - m) / l : 0` (a NaN
/// score is kept, so it shows).
struct LowerAttentionProbs : OpRewritePattern<AttentionProbsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionProbsOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    CodegenBuilder cb(b, loc);
    Value probs = op.getProbs();
    Value rows = memref::DimOp::create(b, loc, probs, 0);
    Value keys = memref::DimOp::create(b, loc, probs, 1);
    cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
      RowStats st =
          RowStats::load(cb, op.getRowMax(), op.getRowSum(), op.getAlive(), r);
      Value mUse = cb.select(st.any, st.max, cb.f32(0.0f));
      Value inv = cb.fdiv(cb.f32(1.0f), st.safeSum);
      Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
      cb.forLoop(cb.index(0), keys, 1, [&](Value j) {
        Value u = memref::LoadOp::create(b, loc, probs, ValueRange{r, j});
        Value keep =
            cb.andI(st.valid, cb.cmpF(arith::CmpFPredicate::UNE, u, negInf));
        // Clamp before exp2 so -inf never reaches it.
        Value x = cb.maximumF(cb.fsub(u, mUse), cb.f32(-127.0f));
        Value p = cb.fmul(cb.exp2(x), inv);
        memref::StoreOp::create(b, loc, cb.select(keep, p, cb.f32(0.0f)), probs,
                                ValueRange{r, j});
      });
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
      if (isa<OnlineSoftmaxStepOp, OnlineSoftmaxFinalizeOp, AttentionProbsOp,
              PackPanelOp, GemmTileOp, HeadGemmOp>(op)) {
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
  populateLayerGemmLoweringPatterns(patterns);
  populateHeadGemmLoweringPatterns(patterns);
  populateWeightGradLoweringPatterns(patterns);
}
