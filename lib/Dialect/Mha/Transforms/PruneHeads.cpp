//===- PruneHeads.cpp - Drop pruned heads -----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A static head_mask makes a head's output zero, so its projection columns,
// the KV heads no live head reads and its rows of Wo contribute nothing.
// They are marked dead on the projections (live_blocks, live_input_blocks)
// rather than sliced out of the weights: the weights are run-time tensors
// whose layout the caller owns, and the attention keeps its head numbering
// (per-head attributes, GQA grouping) unchanged. The attention already
// skips pruned heads.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Dialect/Mha/Transforms/Transforms.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAPRUNEHEADSPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-prune-heads"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// The projection an attention operand is a view of, if any and if the
/// view is all of it (not a part of a projection mha-fuse made).
LinearOp getProjection(Value operand) {
  auto split = operand.getDefiningOp<SplitHeadsOp>();
  if (!split || split.getColumnOffset() != 0)
    return LinearOp();
  auto heads = cast<RankedTensorType>(split.getType());
  auto flat = cast<RankedTensorType>(split.getInput().getType());
  if (heads.getDimSize(1) * heads.getDimSize(3) != flat.getDimSize(2))
    return LinearOp();
  return split.getInput().getDefiningOp<LinearOp>();
}

/// ```
/// %q = mha.linear %x, %wq {head_dim = 64} ...
/// %o = mha.attention %qh, %kh, %vh {head_mask = array<i1: true, false>} ...
/// %y = mha.linear %oc, %wo {head_dim = 64} ...
/// ```
/// becomes
/// ```
/// %q = mha.linear %x, %wq {head_dim = 64, live_blocks = array<i64: 0>} ...
/// %y = mha.linear %oc, %wo {head_dim = 64, live_input_blocks = array<i64: 0>}
/// ```
struct PruneLayerHeads : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<ArrayRef<bool>> mask = op.getHeadMask();
    if (!mask || llvm::all_of(*mask, [](bool b) { return b; }))
      return rewriter.notifyMatchFailure(op, "no pruned head");
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    auto kType = cast<RankedTensorType>(op.getKey().getType());
    int64_t hq = qType.getDimSize(1), hkv = kType.getDimSize(1);
    int64_t group = hq / hkv;
    SmallVector<int64_t> liveHeads, liveKvHeads;
    for (int64_t h = 0; h < hq; ++h) {
      if (!(mask->size() == 1 ? (*mask)[0] : (*mask)[h]))
        continue;
      liveHeads.push_back(h);
      if (liveKvHeads.empty() || liveKvHeads.back() != h / group)
        liveKvHeads.push_back(h / group);
    }

    bool changed = false;
    // `headDim`: the blocks' width, D (Dv for the output projection).
    auto setBlocks = [&](LinearOp linear, StringRef name,
                         ArrayRef<int64_t> blocks, int64_t headDim) {
      if (!linear || linear->hasAttr(name) || !linear.getHeadDim() ||
          int64_t(*linear.getHeadDim()) != headDim)
        return;
      rewriter.modifyOpInPlace(linear, [&] {
        linear->setAttr(name, rewriter.getDenseI64ArrayAttr(blocks));
      });
      changed = true;
    };
    int64_t d = qType.getDimSize(3);
    int64_t dv = cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
    setBlocks(getProjection(op.getQuery()), "live_blocks", liveHeads, d);
    // K and V may be one projection's views (never with expand-layer's
    // output, but cheap to respect): only mark what only they read.
    if (LinearOp k = getProjection(op.getKey()); k && k->hasOneUse())
      setBlocks(k, "live_blocks", liveKvHeads, d);
    if (LinearOp v = getProjection(op.getValue()); v && v->hasOneUse())
      setBlocks(v, "live_blocks", liveKvHeads, dv);
    for (Operation *user : op.getOutput().getUsers())
      if (auto merge = dyn_cast<MergeHeadsOp>(user))
        for (Operation *mergeUser : merge.getOutput().getUsers())
          if (auto out = dyn_cast<LinearOp>(mergeUser);
              out && out.getInput() == merge.getOutput())
            setBlocks(out, "live_input_blocks", liveHeads, dv);
    if (!changed)
      return rewriter.notifyMatchFailure(
          op, "the projections of its pruned heads are already narrowed");
    return success();
  }
};

struct MhaPruneHeadsPass
    : public mha::impl::MhaPruneHeadsPassBase<MhaPruneHeadsPass> {
  using MhaPruneHeadsPassBase::MhaPruneHeadsPassBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populatePruneHeadsPatterns(patterns);
    // One walk, no folding and no dead-code elimination: an exported
    // function's mha ops stay even when nothing reads their results.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void mlir::mha::populatePruneHeadsPatterns(RewritePatternSet &patterns) {
  patterns.add<PruneLayerHeads>(patterns.getContext());
}
