//===- ExpandLayer.cpp - mha.multi_head to its parts --------------*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A layer becomes three projections, the attention and the output
// projection. The projections keep the [B, L, H*D] layout the GEMMs like and
// the attention sees it through strided views (split_heads / merge_heads),
// so no transpose is ever materialised. Intermediates are bf16 in bf16
// layers (docs/language.md allows rounding the projections to the element type;
// the attention and the output GEMM then read half the bytes and can use bf16
// dot products) and f32 otherwise: f16 has too little range to round scores'
// operands to it safely, and f32 costs little on the CPU.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Dialect/Mha/Transforms/Transforms.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAEXPANDLAYERPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-expand-layer"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// ```
/// %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, causal} : ...
/// ```
/// becomes
/// ```
/// %q = mha.linear %x, %wq {head_dim = 64} ...   (and %k, %v)
/// %qh = mha.split_heads %q ...                   (and %kh, %vh)
/// %o = mha.attention %qh, %kh, %vh {causal} ...
/// %oc = mha.merge_heads %o ...
/// %y = mha.linear %oc, %wo {head_dim = 64} ...
/// ```
/// A low-rank weight `mha.low_rank %down, %up` becomes two projections,
/// through `down` then `up`.
struct ExpandMultiHead : OpRewritePattern<MultiHeadOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MultiHeadOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    auto yType = cast<RankedTensorType>(op.getOutput().getType());
    int64_t hq = op.getNumHeads(), hkv = op.getKvHeadCount();
    int64_t headDim = op.getLayerHeadDim();
    int64_t batch = xType.getDimSize(0), len = xType.getDimSize(1);
    Type xElt = xType.getElementType();
    Type tempElt = xElt.isBF16() ? xElt : rewriter.getF32Type();
    FloatAttr theta = op.getRopeThetaAttr();

    // A low-rank weight (mha.low_rank) projects through its rank-r
    // factors: `input` becomes `input . down` [B, L, r] and the weight
    // `up`. `headDim` marks the input's head blocks (the output
    // projection's, for mha-prune-heads).
    auto lowerRank = [&](Value &input, Value &w, IntegerAttr headDim) {
      auto factors = w.getDefiningOp<LowRankOp>();
      if (!factors)
        return;
      auto down = cast<RankedTensorType>(factors.getDown().getType());
      auto type =
          RankedTensorType::get({batch, len, down.getDimSize(1)}, tempElt);
      input = LinearOp::create(rewriter, loc, type, input, factors.getDown(),
                               Value(), rewriter.getI64IntegerAttr(1), headDim,
                               FloatAttr(), DenseI64ArrayAttr(),
                               DenseI64ArrayAttr(), IntegerAttr());
      w = factors.getUp();
    };
    auto project = [&](Value w, Value bias, int64_t heads, bool rope) -> Value {
      auto type = RankedTensorType::get({batch, len, heads * headDim}, tempElt);
      Value input = op.getInput();
      lowerRank(input, w, IntegerAttr());
      // Shared and grouped projections compute each group's columns once
      // for its `replicas` consecutive heads.
      int64_t groups =
          cast<RankedTensorType>(w.getType()).getDimSize(1) / headDim;
      auto linear = LinearOp::create(
          rewriter, loc, type, input, w, bias,
          rewriter.getI64IntegerAttr(heads / groups),
          rewriter.getI64IntegerAttr(headDim), rope ? theta : FloatAttr(),
          DenseI64ArrayAttr(), DenseI64ArrayAttr(), IntegerAttr());
      auto headsType =
          RankedTensorType::get({batch, heads, len, headDim}, tempElt);
      return SplitHeadsOp::create(rewriter, loc, headsType, linear);
    };
    Value q = project(op.getWq(), op.getBq(), hq, true);
    Value k = project(op.getWk(), op.getBk(), hkv, true);
    Value v = project(op.getWv(), op.getBv(), hkv, false);

    // Every attention attribute of the layer, as it is.
    SmallVector<NamedAttribute> attrs;
    for (StringRef name : AttentionOp::getAttributeNames())
      if (Attribute a = op->getAttr(name))
        attrs.push_back(rewriter.getNamedAttr(name, a));
    SmallVector<Type> resultTypes{
        RankedTensorType::get({batch, hq, len, headDim}, tempElt)};
    llvm::append_range(resultTypes, op.getExtras().getTypes());
    auto attention =
        AttentionOp::create(rewriter, loc, resultTypes, q, k, v, attrs);
    Value merged = MergeHeadsOp::create(
        rewriter, loc,
        RankedTensorType::get({batch, len, hq * headDim}, tempElt),
        attention->getResult(0));
    Value wo = op.getWo();
    IntegerAttr headBlocks = rewriter.getI64IntegerAttr(headDim);
    lowerRank(merged, wo, headBlocks);
    Value y = LinearOp::create(rewriter, loc, yType, merged, wo, op.getBo(),
                               rewriter.getI64IntegerAttr(1),
                               wo == op.getWo() ? headBlocks : IntegerAttr(),
                               FloatAttr(), DenseI64ArrayAttr(),
                               DenseI64ArrayAttr(), IntegerAttr());
    SmallVector<Value> results{y};
    llvm::append_range(results, attention->getResults().drop_front());
    SmallVector<Value> weights{op.getWq(), op.getWk(), op.getWv(), op.getWo()};
    rewriter.replaceOp(op, results);
    // The factors now feed the projections directly.
    for (Value w : weights)
      if (auto factors = w.getDefiningOp<LowRankOp>();
          factors && factors->use_empty())
        rewriter.eraseOp(factors);
    return success();
  }
};

struct MhaExpandLayerPass
    : public mha::impl::MhaExpandLayerPassBase<MhaExpandLayerPass> {
  using MhaExpandLayerPassBase::MhaExpandLayerPassBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateExpandLayerPatterns(patterns);
    // One walk, no folding and no dead-code elimination: an exported
    // function's mha ops stay even when nothing reads their results.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void mlir::mha::populateExpandLayerPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpandMultiHead>(patterns.getContext());
}
