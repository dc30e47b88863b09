//===- ApproximateMath.cpp - Polynomial exp2, log2, tanh --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Upstream only exposes the polynomial approximations as a test pass; the
// product pipeline runs the same patterns here for log2 and tanh. exp2, the
// softmax's one transcendental per score, gets a direct expansion: 2^x =
// 2^k * 2^r with k = round(x), r in [-1/2, 1/2], 2^r by a degree-6
// polynomial (relative error below 2e-7) and 2^k built in the exponent
// bits; cheaper than going through exp's range reduction. It has no
// float-to-int conversion, which is poison for NaN: a NaN input flows
// through the arithmetic to a NaN result with no extra check.
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

#define DEBUG_TYPE "mha-approximate-math"

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

/// exp2 as described above, on f32 scalars and vectors. Inputs are clamped
/// to [-127, 127] (2^-127 and below flush to exactly zero, as the softmax
/// wants for -inf); NaN stays NaN.
struct ExpandExp2 : OpRewritePattern<math::Exp2Op> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::Exp2Op op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "only f32 exp2 is expanded");
    Location loc = op.getLoc();
    Type intType = rewriter.getI32Type();
    if (auto vec = dyn_cast<VectorType>(type))
      intType = VectorType::get(vec.getShape(), intType);
    auto constant = [&](Type t, TypedAttr scalar) -> Value {
      if (auto shaped = dyn_cast<ShapedType>(t))
        return arith::ConstantOp::create(
            rewriter, loc, DenseElementsAttr::get(shaped, scalar));
      return arith::ConstantOp::create(rewriter, loc, scalar);
    };
    auto f32 = [&](float v) {
      return constant(type, rewriter.getF32FloatAttr(v));
    };
    auto i32 = [&](int32_t v) {
      return constant(intType, rewriter.getI32IntegerAttr(v));
    };
    Value x = op.getOperand();
    // Compare-and-select clamps keep NaN and are one vmaxps / vminps each
    // on x86 (maxnumf and minnumf add NaN checks).
    auto clamp = [&](Value v, arith::CmpFPredicate outside, float bound) {
      Value limit = f32(bound);
      Value out = arith::CmpFOp::create(rewriter, loc, outside, v, limit);
      return arith::SelectOp::create(rewriter, loc, out, limit, v).getResult();
    };
    Value clamped = clamp(clamp(x, arith::CmpFPredicate::OLT, -127.0f),
                          arith::CmpFPredicate::OGT, 127.0f);
    // Adding 1.5 * 2^23 rounds to an integer k (to nearest even) held in
    // the low mantissa bits of `shifted`.
    Value magic = f32(12582912.0f);
    Value shifted = arith::AddFOp::create(rewriter, loc, clamped, magic);
    Value k = arith::SubFOp::create(rewriter, loc, shifted, magic);
    Value r = arith::SubFOp::create(rewriter, loc, clamped, k);
    // Taylor coefficients of 2^r = e^(r ln 2), highest first.
    const float coefficients[] = {1.5403530393e-4f,
                                  1.3333558146e-3f,
                                  9.6181291076e-3f,
                                  5.5504108665e-2f,
                                  2.4022650696e-1f,
                                  6.9314718056e-1f,
                                  1.0f};
    Value p = f32(coefficients[0]);
    for (float c : ArrayRef<float>(coefficients).drop_front())
      p = math::FmaOp::create(rewriter, loc, p, r, f32(c));
    // Shifting k's low 9 bits into the exponent field and adding the bias
    // gives the bits of 2^k for k in [-127, 127] (0.0 for -127).
    Value kBits = arith::BitcastOp::create(rewriter, loc, intType, shifted);
    Value bits = arith::AddIOp::create(
        rewriter, loc, arith::ShLIOp::create(rewriter, loc, kBits, i32(23)),
        i32(127 << 23));
    Value scale = arith::BitcastOp::create(rewriter, loc, type, bits);
    rewriter.replaceOpWithNewOp<arith::MulFOp>(op, p, scale);
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
      expansion.add<ExpandExp2>(ctx, /*benefit=*/2);
      // Other element types go through exp.
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
