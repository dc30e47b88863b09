//===- FuseProjections.cpp - One projection for Q, K and V ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The Q, K and V projections of an expanded layer read the same input: they
// are one GEMM over the concatenated weights [Wq | Wk | Wv], which mha-tile
// runs as one grid of column blocks over one packed weight buffer into one
// [B, L, Nq + 2 Nk] result.
// The concatenation is a tensor.concat of the weights (run-time arguments
// stay where the caller put them: mha-tile packs from the parts; constants
// are packed at compile time), and the attention sees Q, K and V through
// split_heads views at their column offsets, so no copy is introduced.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Dialect/Mha/Transforms/Transforms.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAFUSEPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-fuse"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// The projection `operand` views whole (split_heads of all its columns),
/// used by nothing else.
LinearOp getFusableProjection(Value operand) {
  auto split = operand.getDefiningOp<SplitHeadsOp>();
  if (!split || !split->hasOneUse() || split.getColumnOffset() != 0)
    return LinearOp();
  auto linear = split.getInput().getDefiningOp<LinearOp>();
  if (!linear || !linear->hasOneUse() || linear.getReplicas() != 1 ||
      !linear.getHeadDim() || linear.getRopeBlocks() || linear.getRopeDim() ||
      linear.getInputRmsEps() || linear.getPositions() ||
      linear.getWeight().getDefiningOp<QuantizedOp>())
    return LinearOp();
  return linear;
}

int64_t getColumns(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

struct FuseQkvProjections : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    LinearOp q = getFusableProjection(op.getQuery()),
             k = getFusableProjection(op.getKey()),
             v = getFusableProjection(op.getValue());
    if (!q || !k || !v || q == k || k == v || q == v)
      return rewriter.notifyMatchFailure(op, "not three whole projections");
    std::array<LinearOp, 3> parts = {q, k, v};
    for (LinearOp part : parts) {
      if (part.getInput() != q.getInput() ||
          part.getHeadDim() != q.getHeadDim() ||
          part.getLiveInputBlocks() != q.getLiveInputBlocks() ||
          part.getType().getElementType() != q.getType().getElementType() ||
          bool(part.getBias()) != bool(q.getBias()) ||
          (part.getBias() &&
           cast<RankedTensorType>(part.getBias().getType()).getRank() != 1))
        return rewriter.notifyMatchFailure(op, "projections differ");
    }
    // RoPE on Q and K with the same theta, never on V: then the rotated
    // heads are the first ones of the fused projection.
    if (q.getRopeTheta() != k.getRopeTheta() || v.getRopeTheta() ||
        q.getCuSeqlens() != k.getCuSeqlens())
      return rewriter.notifyMatchFailure(op, "RoPE is not on Q and K only");

    int64_t headDim = *q.getHeadDim();
    int64_t nq = getColumns(q.getWeight()), nk = getColumns(k.getWeight()),
            nv = getColumns(v.getWeight());
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value weight = tensor::ConcatOp::create(
        rewriter, loc, /*dim=*/1,
        ValueRange{q.getWeight(), k.getWeight(), v.getWeight()});
    Value bias;
    if (q.getBias())
      bias = tensor::ConcatOp::create(
          rewriter, loc, /*dim=*/0,
          ValueRange{q.getBias(), k.getBias(), v.getBias()});
    // Live heads of each part, renumbered into the fused columns.
    DenseI64ArrayAttr liveBlocks;
    if (llvm::any_of(parts, [](LinearOp p) { return p.getLiveBlocks(); })) {
      SmallVector<int64_t> blocks;
      int64_t first = 0;
      for (LinearOp part : parts) {
        int64_t count = getColumns(part.getWeight()) / headDim;
        if (auto live = part.getLiveBlocks())
          for (int64_t b : *live)
            blocks.push_back(first + b);
        else
          for (int64_t b = 0; b < count; ++b)
            blocks.push_back(first + b);
        first += count;
      }
      liveBlocks = rewriter.getDenseI64ArrayAttr(blocks);
    }
    auto qType = cast<RankedTensorType>(q.getType());
    auto fusedType = RankedTensorType::get(
        {qType.getDimSize(0), qType.getDimSize(1), nq + nk + nv},
        qType.getElementType());
    auto fused = LinearOp::create(
        rewriter, loc, fusedType, q.getInput(), weight, bias,
        /*positions=*/Value(), q.getCuSeqlens(), rewriter.getI64IntegerAttr(1),
        rewriter.getI64IntegerAttr(headDim), q.getRopeThetaAttr(), liveBlocks,
        q.getLiveInputBlocksAttr(),
        q.getRopeTheta() ? rewriter.getI64IntegerAttr((nq + nk) / headDim)
                         : IntegerAttr(),
        /*rope_dim=*/IntegerAttr(), /*input_rms_eps=*/FloatAttr());
    int64_t offset = 0;
    for (auto [operandIndex, part] : llvm::enumerate(parts)) {
      Value operand = op->getOperand(operandIndex);
      Value view = SplitHeadsOp::create(rewriter, loc, operand.getType(),
                                        fused.getOutput(),
                                        rewriter.getI64IntegerAttr(offset),
                                        /*head_stride=*/IntegerAttr());
      offset += getColumns(part.getWeight());
      rewriter.replaceOp(operand.getDefiningOp(), view);
      rewriter.eraseOp(part);
    }
    return success();
  }
};

struct MhaFusePass : public mha::impl::MhaFusePassBase<MhaFusePass> {
  using MhaFusePassBase::MhaFusePassBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseProjectionsPatterns(patterns);
    // One walk, no folding and no dead-code elimination, as the other
    // layer passes.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void mlir::mha::populateFuseProjectionsPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseQkvProjections>(patterns.getContext());
}
