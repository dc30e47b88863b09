//===- ApproximateMath.cpp - Polynomial exp2, log2, tanh ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Upstream only exposes the polynomial approximations as a test pass; the
// product pipeline runs the same patterns here. exp2 has no approximation of
// its own, so it is first expanded into exp.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAAPPROXIMATEMATHPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;

namespace {

/// `fma(a, b, c)` -> `a * b + c`, for targets without FMA instructions.
void replaceFma(PatternRewriter &rewriter, Operation *op, Value a, Value b,
                Value c) {
  Value product = arith::MulFOp::create(rewriter, op->getLoc(), a, b);
  rewriter.replaceOpWithNewOp<arith::AddFOp>(op, product, c);
}
struct SplitVectorFma : OpRewritePattern<vector::FMAOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(vector::FMAOp op,
                                PatternRewriter &rewriter) const override {
    replaceFma(rewriter, op, op.getLhs(), op.getRhs(), op.getAcc());
    return success();
  }
};
struct SplitMathFma : OpRewritePattern<math::FmaOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FmaOp op,
                                PatternRewriter &rewriter) const override {
    replaceFma(rewriter, op, op.getA(), op.getB(), op.getC());
    return success();
  }
};

struct MhaApproximateMathPass
    : public mha::impl::MhaApproximateMathPassBase<MhaApproximateMathPass> {
  using MhaApproximateMathPassBase::MhaApproximateMathPassBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    {
      RewritePatternSet expansion(ctx);
      math::populateExpansionPatterns(expansion, {"exp2"});
      if (failed(applyPatternsGreedily(getOperation(), std::move(expansion))))
        return signalPassFailure();
    }
    RewritePatternSet patterns(ctx);
    auto approximated = [](StringRef name) {
      return name == "math.exp" || name == "math.log2" || name == "math.tanh";
    };
    populateMathF32ExpansionPatterns(patterns, approximated);
    populateMathPolynomialApproximationPatterns(patterns, approximated);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    if (!useFma) {
      RewritePatternSet split(ctx);
      split.add<SplitVectorFma, SplitMathFma>(ctx);
      if (failed(applyPatternsGreedily(getOperation(), std::move(split))))
        return signalPassFailure();
    }
  }
};

} // namespace
