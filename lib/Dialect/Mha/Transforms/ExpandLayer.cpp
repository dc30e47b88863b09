//===- ExpandLayer.cpp - mha.multi_head to its parts ------------*- C++ -*-===//
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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>

namespace mlir::mha {
#define GEN_PASS_DEF_MHAEXPANDLAYERPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-expand-layer"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// A projection of a layer: no pruned blocks yet (mha-prune-heads adds
/// them).
Value createLinear(PatternRewriter &rewriter, Location loc, Type type,
                   Value input, Value w, Value bias, int64_t replicas,
                   IntegerAttr headDim, FloatAttr theta = FloatAttr(),
                   IntegerAttr ropeDim = IntegerAttr(),
                   FloatAttr inputRmsEps = FloatAttr(),
                   Value positions = Value(), Value cuSeqlens = Value()) {
  return LinearOp::create(
      rewriter, loc, type, input, w, bias, theta ? positions : Value(),
      theta ? cuSeqlens : Value(), rewriter.getI64IntegerAttr(replicas),
      headDim, theta, DenseI64ArrayAttr(), DenseI64ArrayAttr(), IntegerAttr(),
      ropeDim, inputRmsEps);
}

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
/// A decoding step (a layer with a cache) rotates Q and K at the positions
/// after each sequence's cache, appends K and V with mha.append_kv, and
/// attends over the appended caches with `kv_lens + L` keys:
/// ```
/// %q = mha.linear %x, %wq positions(%kv_lens ...) {rope_theta ...}
/// %kc, %vc = mha.append_kv %kh, %vh into %k_cache, %v_cache kv_lens(...)
/// %lens = arith.addi %kv_lens, (tensor.splat of L)
/// %o = mha.attention %qh, %kc, %vc kv_lens(%lens ...) [block_table(...)]
/// ```
/// A low-rank weight `mha.low_rank %down, %up` becomes two projections,
/// through `down` then `up`. A latent layer (#mha.sharing<latent>) projects
/// x to its latent and RoPE key, the latent to every head's key part and
/// value, and gathers the keys with mha.latent_keys.
/// The lengths after a decoding step appends its new rows, as i32 [S]:
/// `kv_lens + L` (L = dim 1 of `x`), `kv_lens + q_lens`, or, packed,
/// `kv_lens + (cu[1:] - cu[:-1])`.
Value appendedLengths(PatternRewriter &rewriter, Location loc, MultiHeadOp op) {
  Value kvLens = op.getKvLens();
  if (Value qLens = op.getQLens())
    return arith::AddIOp::create(rewriter, loc, kvLens, qLens);
  auto type = cast<RankedTensorType>(kvLens.getType());
  SmallVector<Value> dynamicSizes;
  if (type.isDynamicDim(0))
    dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, kvLens, 0));
  if (Value cu = op.getCuSeqlensQ()) {
    OpFoldResult sequences =
        type.isDynamicDim(0)
            ? OpFoldResult(dynamicSizes.front())
            : OpFoldResult(rewriter.getIndexAttr(type.getDimSize(0)));
    auto slice = [&](int64_t offset) -> Value {
      return tensor::ExtractSliceOp::create(
          rewriter, loc, type, cu,
          ArrayRef<OpFoldResult>{rewriter.getIndexAttr(offset)},
          ArrayRef<OpFoldResult>{sequences},
          ArrayRef<OpFoldResult>{rewriter.getIndexAttr(1)});
    };
    Value counts = arith::SubIOp::create(rewriter, loc, slice(1), slice(0));
    return arith::AddIOp::create(rewriter, loc, kvLens, counts);
  }
  Value len = tensor::DimOp::create(rewriter, loc, op.getInput(), 1);
  Value len32 =
      arith::IndexCastOp::create(rewriter, loc, rewriter.getI32Type(), len);
  Value splat =
      tensor::SplatOp::create(rewriter, loc, type, len32, dynamicSizes);
  return arith::AddIOp::create(rewriter, loc, kvLens, splat);
}

/// A low-rank weight (mha.low_rank) projects through its rank-r factors:
/// `input` becomes `input . down` ([B, L, r] of `elt`) and `w` the up
/// factor. `headDim` marks the input's head blocks (the output
/// projection's, for mha-prune-heads). Returns whether `w` was low-rank.
bool lowerRank(PatternRewriter &rewriter, Location loc, Value &input, Value &w,
               Type elt, IntegerAttr headDim) {
  auto factors = w.getDefiningOp<LowRankOp>();
  if (!factors)
    return false;
  auto x = cast<RankedTensorType>(input.getType());
  auto down = cast<RankedTensorType>(factors.getDown().getType());
  auto type = RankedTensorType::get(
      {x.getDimSize(0), x.getDimSize(1), down.getDimSize(1)}, elt);
  input = createLinear(rewriter, loc, type, input, factors.getDown(), Value(),
                       1, headDim);
  w = factors.getUp();
  return true;
}

/// The values of a latent step: the first `rank` columns of every row of
/// the appended cache of latents.
Value getLatentValues(PatternRewriter &rewriter, Location loc, Value cache,
                      int64_t rank) {
  auto cacheType = cast<RankedTensorType>(cache.getType());
  SmallVector<int64_t> valueShape(cacheType.getShape());
  valueShape[3] = rank;
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < 4; ++d)
    sizes.push_back(
        d == 3 ? OpFoldResult(rewriter.getIndexAttr(rank))
        : cacheType.isDynamicDim(d)
            ? OpFoldResult(
                  tensor::DimOp::create(rewriter, loc, cache, d).getResult())
            : OpFoldResult(rewriter.getIndexAttr(cacheType.getDimSize(d))));
  return tensor::ExtractSliceOp::create(
      rewriter, loc,
      RankedTensorType::get(valueShape, cacheType.getElementType()), cache,
      SmallVector<OpFoldResult>(4, rewriter.getIndexAttr(0)), sizes,
      SmallVector<OpFoldResult>(4, rewriter.getIndexAttr(1)));
}

/// Replaces the layer by `results` and erases the low-rank factors of its
/// weights, which now feed the projections directly.
void replaceLayer(MultiHeadOp op, ArrayRef<Value> results,
                  PatternRewriter &rewriter) {
  SmallVector<Value> weights{op.getWq(), op.getWk(), op.getWv(), op.getWo()};
  rewriter.replaceOp(op, results);
  for (Value w : weights)
    if (auto factors = w.getDefiningOp<LowRankOp>();
        factors && factors->use_empty())
      rewriter.eraseOp(factors);
}

/// The attention attributes of the layer, as they are (the operand
/// segments are the layer's own).
SmallVector<NamedAttribute> getAttentionAttrs(MultiHeadOp op,
                                              PatternRewriter &rewriter) {
  SmallVector<NamedAttribute> attrs;
  for (StringRef name : AttentionOp::getAttributeNames())
    if (Attribute a = op->getAttr(name); a && name != "operandSegmentSizes")
      attrs.push_back(rewriter.getNamedAttr(name, a));
  return attrs;
}

/// A latent (MLA) decoding step with the up-projection absorbed into the
/// attention, which runs over the cache of latents as multi-query
/// attention of head dim r+Dr whose values are the cache's first r
/// columns (DeepSeek-V2 section 2.1.2):
/// ```
/// %q  = mha.linear %x, %wq positions(%kv_lens) {rope_dim = Dr ...}
/// %c  = mha.linear %x, %wk positions(%kv_lens) {rope_dim = Dr ...}
/// %cn = mha.rms_norm %c {columns = r}                (with rms_norm_eps)
/// %cache2 = mha.append_kv (split_heads %cn) into %cache kv_lens(...)
/// %qa = mha.head_linear %q, %wv {transpose_weight}   [q_nope W_UK^T, q_rope]
/// %o  = mha.attention (split_heads %qa), %cache2, %cache2[..., :r]
///           kv_lens(%kv_lens + L) {scale = 1/sqrt(Dn+Dr)}
/// %oa = mha.head_linear (merge_heads %o), %wv {weight_offset = Dn}
/// %y  = mha.linear %oa, %wo
/// ```
/// Per token the cache holds r+Dr values instead of the H*(Dn+Dr) +
/// H*Dv keys and values the prefill form would up-project.
LogicalResult expandLatentStep(MultiHeadOp op, PatternRewriter &rewriter) {
  Location loc = op.getLoc();
  auto xType = cast<RankedTensorType>(op.getInput().getType());
  int64_t batch = xType.getDimSize(0), len = xType.getDimSize(1);
  int64_t hq = op.getNumHeads(), valueDim = op.getLayerHeadDim();
  int64_t rank = op.getLatentRank(), ropeDim = op.getRopeKeyDim();
  int64_t nopeDim = op.getNopeDim();
  Type xElt = xType.getElementType();
  // The projections' element type (see the file comment), and the
  // cache's for what the attention reads and writes.
  Type tempElt = xElt.isBF16() ? xElt : rewriter.getF32Type();
  auto flatType = [&](int64_t cols, Type elt) {
    return RankedTensorType::get({batch, len, cols}, elt);
  };
  auto headsType = [&](int64_t heads, int64_t d, Type elt) {
    return RankedTensorType::get({batch, heads, len, d}, elt);
  };
  FloatAttr theta = op.getRopeThetaAttr();
  IntegerAttr ropeDimAttr =
      theta ? rewriter.getI64IntegerAttr(ropeDim) : IntegerAttr();
  FloatAttr rmsEps = op.getRmsNormEpsAttr();
  Value input = op.getInput(), wq = op.getWq();
  // DeepSeek-V3's low-rank Wq normalises its rank-r product too.
  FloatAttr qRmsEps =
      lowerRank(rewriter, loc, input, wq, tempElt, IntegerAttr()) ? rmsEps
                                                                  : FloatAttr();
  Value q = createLinear(
      rewriter, loc, flatType(hq * (nopeDim + ropeDim), tempElt), input, wq,
      Value(), 1, rewriter.getI64IntegerAttr(nopeDim + ropeDim), theta,
      ropeDimAttr, qRmsEps, op.getKvLens(), op.getCuSeqlensQ());
  Value latent = createLinear(
      rewriter, loc, flatType(rank + ropeDim, xElt), op.getInput(), op.getWk(),
      Value(), 1, rewriter.getI64IntegerAttr(rank + ropeDim), theta,
      ropeDimAttr, FloatAttr(), op.getKvLens(), op.getCuSeqlensQ());
  if (rmsEps)
    latent = RmsNormOp::create(rewriter, loc, latent.getType(), latent,
                               rewriter.getI64IntegerAttr(rank), rmsEps);
  Value newKeys = SplitHeadsOp::create(
      rewriter, loc, headsType(1, rank + ropeDim, xElt), latent);
  Value cache = op.getKeyCache();
  auto append = AppendKvOp::create(
      rewriter, loc, cache.getType(), /*value_cache_out=*/Type(), newKeys,
      Value(), cache, Value(), Value(), Value(), op.getKvLens(), op.getQLens(),
      op.getBlockTable(), op.getCuSeqlensQ(), /*rope_theta=*/FloatAttr());
  Value keys = append.getKeyCacheOut();
  Value values = getLatentValues(rewriter, loc, keys, rank);
  int64_t absorbedCols = rank + ropeDim;
  Value qa = HeadLinearOp::create(
      rewriter, loc, flatType(hq * absorbedCols, xElt), q, op.getWv(),
      rewriter.getI64IntegerAttr(hq), rewriter.getI64IntegerAttr(0),
      rewriter.getUnitAttr());
  Value qh = SplitHeadsOp::create(rewriter, loc,
                                  headsType(hq, absorbedCols, xElt), qa);
  // The scores are those of the layer's heads of Dn+Dr columns.
  SmallVector<NamedAttribute> attrs = getAttentionAttrs(op, rewriter);
  if (!op.getScaleAttr())
    attrs.push_back(rewriter.getNamedAttr(
        "scale",
        rewriter.getF32FloatAttr(1.0f / std::sqrt(float(nopeDim + ropeDim)))));
  SmallVector<Type> resultTypes{headsType(hq, rank, xElt)};
  llvm::append_range(resultTypes, op.getExtras().getTypes());
  Value kvLens = appendedLengths(rewriter, loc, op);
  auto attention = AttentionOp::create(
      rewriter, loc, resultTypes, qh, keys, values, Value(), Value(), kvLens,
      op.getQLens(), op.getBlockTable(), op.getCuSeqlensQ(), Value(), attrs);
  Value merged = MergeHeadsOp::create(rewriter, loc, flatType(hq * rank, xElt),
                                      attention->getResult(0));
  Value oa =
      HeadLinearOp::create(rewriter, loc, flatType(hq * valueDim, tempElt),
                           merged, op.getWv(), rewriter.getI64IntegerAttr(hq),
                           rewriter.getI64IntegerAttr(nopeDim), UnitAttr());
  Value wo = op.getWo();
  IntegerAttr headBlocks = rewriter.getI64IntegerAttr(valueDim);
  if (lowerRank(rewriter, loc, oa, wo, tempElt, headBlocks))
    headBlocks = IntegerAttr();
  Value y = createLinear(rewriter, loc, op.getOutput().getType(), oa, wo,
                         op.getBo(), 1, headBlocks);
  SmallVector<Value> results{y};
  llvm::append_range(results, attention->getResults().drop_front());
  results.push_back(keys);
  replaceLayer(op, results, rewriter);
  return success();
}

struct ExpandMultiHead : OpRewritePattern<MultiHeadOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MultiHeadOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getSharingScheme() == Sharing::latent && op.getKeyCache())
      return expandLatentStep(op, rewriter);
    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    auto yType = cast<RankedTensorType>(op.getOutput().getType());
    int64_t hq = op.getNumHeads();
    int64_t valueDim = op.getLayerHeadDim();
    int64_t batch = xType.getDimSize(0), len = xType.getDimSize(1);
    Type xElt = xType.getElementType();
    Type tempElt = xElt.isBF16() ? xElt : rewriter.getF32Type();
    auto flatType = [&](int64_t cols, Type elt = Type()) {
      return RankedTensorType::get({batch, len, cols}, elt ? elt : tempElt);
    };
    auto headsType = [&](int64_t heads, int64_t d, Type elt = Type()) {
      return RankedTensorType::get({batch, heads, len, d}, elt ? elt : tempElt);
    };

    // Q, K or V as [B, heads, L, headDim] of x; `rmsEps` normalises the
    // rank-r product of a low-rank weight.
    auto project = [&](Value w, Value bias, int64_t heads, int64_t headDim,
                       FloatAttr theta, IntegerAttr ropeDim,
                       FloatAttr rmsEps = FloatAttr(),
                       Type elt = Type()) -> Value {
      Value input = op.getInput();
      if (!w.getDefiningOp<LowRankOp>())
        rmsEps = FloatAttr();
      lowerRank(rewriter, loc, input, w, tempElt, IntegerAttr());
      // Shared and grouped projections compute each group's columns once
      // for its `replicas` consecutive heads.
      int64_t groups =
          cast<RankedTensorType>(w.getType()).getDimSize(1) / headDim;
      Value linear = createLinear(
          rewriter, loc, flatType(heads * headDim, elt), input, w, bias,
          heads / groups, rewriter.getI64IntegerAttr(headDim), theta, ropeDim,
          rmsEps, op.getKvLens(), op.getCuSeqlensQ());
      return SplitHeadsOp::create(rewriter, loc, headsType(heads, headDim, elt),
                                  linear);
    };
    FloatAttr theta = op.getRopeThetaAttr();
    // An f16 step attends in f16, as an f16 mha.attention over its caches
    // does: Q, K, V and O rounded to f16 (K and V are stored so).
    Type stepElt = op.getKeyCache() && xElt.isF16() ? xElt : Type();
    Value q, k, v;
    if (op.getSharingScheme() == Sharing::latent) {
      int64_t rank = op.getLatentRank(), ropeDim = op.getRopeKeyDim();
      int64_t nopeDim = op.getNopeDim();
      IntegerAttr ropeDimAttr =
          theta ? rewriter.getI64IntegerAttr(ropeDim) : IntegerAttr();
      FloatAttr rmsEps = op.getRmsNormEpsAttr();
      q = project(op.getWq(), Value(), hq, nopeDim + ropeDim, theta,
                  ropeDimAttr, rmsEps);
      // The latent and the rotated RoPE key [B, L, r+Dr], then every
      // head's key part and value from the latent [B, L, H*(Dn+Dv)].
      Value latent = createLinear(
          rewriter, loc, flatType(rank + ropeDim), op.getInput(), op.getWk(),
          Value(), 1, rewriter.getI64IntegerAttr(rank + ropeDim), theta,
          ropeDimAttr, FloatAttr(), Value(), op.getCuSeqlensQ());
      int64_t perHead = nopeDim + valueDim;
      Value kv = createLinear(rewriter, loc, flatType(hq * perHead), latent,
                              op.getWv(), Value(), 1,
                              rewriter.getI64IntegerAttr(perHead), FloatAttr(),
                              IntegerAttr(), rmsEps);
      Value keys = LatentKeysOp::create(
          rewriter, loc, flatType(hq * (nopeDim + ropeDim)), kv, latent,
          rewriter.getI64IntegerAttr(hq), rewriter.getI64IntegerAttr(nopeDim));
      k = SplitHeadsOp::create(rewriter, loc, headsType(hq, nopeDim + ropeDim),
                               keys);
      v = SplitHeadsOp::create(rewriter, loc, headsType(hq, valueDim), kv,
                               rewriter.getI64IntegerAttr(nopeDim),
                               rewriter.getI64IntegerAttr(perHead));
    } else {
      int64_t hkv = op.getKvHeadCount(), d = valueDim;
      q = project(op.getWq(), op.getBq(), hq, d, theta, IntegerAttr(),
                  FloatAttr(), stepElt);
      k = project(op.getWk(), op.getBk(), hkv, d, theta, IntegerAttr(),
                  FloatAttr(), stepElt);
      v = project(op.getWv(), op.getBv(), hkv, d, FloatAttr(), IntegerAttr(),
                  FloatAttr(), stepElt);
    }

    SmallVector<NamedAttribute> attrs = getAttentionAttrs(op, rewriter);
    SmallVector<Type> resultTypes{headsType(hq, valueDim, stepElt)};
    llvm::append_range(resultTypes, op.getExtras().getTypes());
    SmallVector<Value> caches;
    Value kvLens;
    if (op.getKeyCache()) {
      auto append = AppendKvOp::create(
          rewriter, loc, op.getKeyCache().getType(),
          op.getValueCache().getType(), k, v, op.getKeyCache(),
          op.getValueCache(), op.getKeyScale(), op.getValueScale(),
          op.getKvLens(), op.getQLens(), op.getBlockTable(), op.getCuSeqlensQ(),
          /*rope_theta=*/FloatAttr());
      caches = {append.getKeyCacheOut(), append.getValueCacheOut()};
      k = caches[0];
      v = caches[1];
      kvLens = appendedLengths(rewriter, loc, op);
    }
    // Without a cache, packed sequences attend within their own rows and
    // padded ones to their first q_lens rows.
    Value cu = op.getCuSeqlensQ();
    if (!kvLens)
      kvLens = op.getQLens();
    auto attention = AttentionOp::create(
        rewriter, loc, resultTypes, q, k, v, op.getKeyScale(),
        op.getValueScale(), kvLens, op.getQLens(), op.getBlockTable(), cu,
        op.getKeyCache() ? Value() : cu, attrs);
    Value merged =
        MergeHeadsOp::create(rewriter, loc, flatType(hq * valueDim, stepElt),
                             attention->getResult(0));
    Value wo = op.getWo();
    IntegerAttr headBlocks = rewriter.getI64IntegerAttr(valueDim);
    lowerRank(rewriter, loc, merged, wo, tempElt, headBlocks);
    Value y = createLinear(rewriter, loc, yType, merged, wo, op.getBo(), 1,
                           wo == op.getWo() ? headBlocks : IntegerAttr());
    SmallVector<Value> results{y};
    llvm::append_range(results, attention->getResults().drop_front());
    llvm::append_range(results, caches);
    replaceLayer(op, results, rewriter);
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
