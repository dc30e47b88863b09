//===- LayerOps.cpp - Verifiers of the expanded-layer ops -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::mha;

/// Whether static sizes `a` and `b` may be equal.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static LogicalResult verifyBlocks(Operation *op, StringRef name,
                                  std::optional<ArrayRef<int64_t>> blocks,
                                  int64_t numBlocks) {
  if (!blocks)
    return success();
  int64_t previous = -1;
  for (int64_t b : *blocks) {
    if (b <= previous || b >= numBlocks)
      return op->emitOpError()
             << "'" << name << "' must list increasing blocks in [0, "
             << numBlocks << "), found " << b;
    previous = b;
  }
  return success();
}

LogicalResult LinearOp::verify() {
  auto x = cast<RankedTensorType>(getInput().getType());
  auto w = cast<RankedTensorType>(getWeight().getType());
  auto y = cast<RankedTensorType>(getOutput().getType());
  if (x.getRank() != 3 || w.getRank() != 2 || y.getRank() != 3)
    return emitOpError() << "expects x [B, L, K], W [K, N] and y [B, L, N]";
  if (!w.hasStaticShape() || ShapedType::isDynamic(x.getDimSize(2)) ||
      ShapedType::isDynamic(y.getDimSize(2)))
    return emitOpError() << "expects static K and N";
  int64_t k = w.getDimSize(0), n = w.getDimSize(1), r = getReplicas();
  if (r < 1)
    return emitOpError() << "replicas must be >= 1, found " << r;
  if (x.getDimSize(2) < k)
    return emitOpError() << "x has " << x.getDimSize(2) << " columns but W has "
                         << k << " rows";
  if (y.getDimSize(2) != r * n)
    return emitOpError() << "expects y with " << r * n << " columns (" << r
                         << " x " << n << "), found " << y.getDimSize(2);
  if (!compatible(x.getDimSize(0), y.getDimSize(0)) ||
      !compatible(x.getDimSize(1), y.getDimSize(1)))
    return emitOpError() << "x and y must agree on B and L";
  if (std::optional<APFloat> eps = getInputRmsEps();
      eps && !(eps->isFinite() && !eps->isNegative() && !eps->isZero()))
    return emitOpError() << "input_rms_eps must be finite and > 0";
  std::optional<int64_t> headDim = getHeadDim();
  if (r > 1 && !headDim)
    return emitOpError() << "replicas need head_dim";
  if (Value bias = getBias()) {
    // Flat, or one row per head of y.
    auto bt = cast<RankedTensorType>(bias.getType());
    int64_t rowWidth = headDim && n % *headDim == 0 ? *headDim : n;
    int64_t rows = r * n / rowWidth;
    bool ok = bt.hasStaticShape() &&
              ((bt.getRank() == 1 && bt.getDimSize(0) == r * n) ||
               (bt.getRank() == 2 && bt.getDimSize(0) == rows &&
                bt.getDimSize(1) == rowWidth));
    if (!ok)
      return emitOpError() << "expects a bias [" << r * n << "] or [" << rows
                           << ", " << rowWidth << "]";
  }
  if (!headDim) {
    if (getRopeTheta() || getLiveBlocks() || getLiveInputBlocks() ||
        getRopeDim())
      return emitOpError() << "rope_theta, rope_dim, live_blocks and "
                              "live_input_blocks need head_dim";
    return success();
  }
  if (*headDim < 1)
    return emitOpError() << "head_dim must be >= 1, found " << *headDim;
  // Output blocks are heads for a projection into heads (RoPE, replicas,
  // pruned columns); input blocks for the output projection.
  bool outputHeads = getRopeTheta() || getLiveBlocks() || r > 1;
  if (outputHeads && n % *headDim)
    return emitOpError() << "head_dim " << *headDim << " must divide N = " << n;
  // Input blocks are heads of the input only for an output projection.
  if (getLiveInputBlocks() && k % *headDim)
    return emitOpError() << "live_input_blocks needs head_dim " << *headDim
                         << " to divide K = " << k;
  int64_t ropeDim = getRopeDim().value_or(*headDim);
  if (getRopeDim() && !getRopeTheta())
    return emitOpError() << "rope_dim needs rope_theta";
  if (Value positions = getPositions()) {
    auto type = cast<RankedTensorType>(positions.getType());
    if (!getRopeTheta() || type.getRank() != 1 ||
        !type.getElementType().isSignlessInteger(32) ||
        !compatible(type.getDimSize(0), x.getDimSize(0)))
      return emitOpError() << "positions are an i32 [B] offset of RoPE's "
                              "positions: they need rope_theta, got "
                           << Type(type);
  }
  if (Value cu = getCuSeqlens()) {
    auto type = cast<RankedTensorType>(cu.getType());
    if (!getRopeTheta() || type.getRank() != 1 ||
        !type.getElementType().isSignlessInteger(32) ||
        !compatible(x.getDimSize(0), 1))
      return emitOpError() << "cu_seqlens are the i32 [S + 1] offsets of "
                              "packed sequences (x [1, T, K]) whose rows "
                              "RoPE counts from each start: they need "
                              "rope_theta, got "
                           << Type(type) << " and x " << Type(x);
  }
  if (getRopeTheta() && (ropeDim < 2 || ropeDim > *headDim))
    return emitOpError() << "rope_dim must be in [2, head_dim = " << *headDim
                         << "], found " << ropeDim;
  if (getRopeTheta() && (ropeDim % 2 || getRopeTheta()->convertToFloat() <= 0))
    return emitOpError() << "RoPE needs an even rope_dim (default head_dim) "
                            "and rope_theta > 0";
  if (std::optional<int64_t> ropeBlocks = getRopeBlocks()) {
    if (!getRopeTheta())
      return emitOpError() << "rope_blocks needs rope_theta";
    if (*ropeBlocks < 1 || *ropeBlocks > r * n / *headDim)
      return emitOpError() << "rope_blocks must be in [1, " << r * n / *headDim
                           << "], found " << *ropeBlocks;
  }
  if (failed(verifyBlocks(*this, "live_blocks", getLiveBlocks(),
                          r * n / *headDim)) ||
      failed(verifyBlocks(*this, "live_input_blocks", getLiveInputBlocks(),
                          k / std::max<int64_t>(*headDim, 1))))
    return failure();
  return success();
}

/// [B, L, N] against [B, H, L, D]: heads `stride` columns apart from column
/// `offset` of the flat tensor, all of its columns unless `part`.
static LogicalResult verifyHeadViews(Operation *op, RankedTensorType flat,
                                     RankedTensorType heads, int64_t offset,
                                     std::optional<int64_t> stride, bool part) {
  if (flat.getRank() != 3 || heads.getRank() != 4)
    return op->emitOpError() << "expects [B, L, H*D] and [B, H, L, D]";
  if (flat.getElementType() != heads.getElementType())
    return op->emitOpError() << "element types differ";
  int64_t cols = flat.getDimSize(2);
  if (ShapedType::isDynamic(heads.getDimSize(1)) ||
      ShapedType::isDynamic(heads.getDimSize(3)) || ShapedType::isDynamic(cols))
    return op->emitOpError() << "expects static H, D and columns";
  int64_t d = heads.getDimSize(3), numHeads = heads.getDimSize(1);
  if (stride && *stride < d)
    return op->emitOpError()
           << "head_stride must be >= D = " << d << ", found " << *stride;
  int64_t viewed = (numHeads - 1) * stride.value_or(d) + d;
  if (offset < 0 || (part ? offset + viewed > cols : viewed != cols))
    return op->emitOpError()
           << "expects H x D = " << viewed << " columns at column_offset "
           << offset << (part ? " within " : ", found ") << cols;
  if (!compatible(flat.getDimSize(0), heads.getDimSize(0)) ||
      !compatible(flat.getDimSize(1), heads.getDimSize(2)))
    return op->emitOpError() << "B and L must agree";
  return success();
}

LogicalResult SplitHeadsOp::verify() {
  return verifyHeadViews(*this, cast<RankedTensorType>(getInput().getType()),
                         cast<RankedTensorType>(getOutput().getType()),
                         getColumnOffset(), getHeadStride(), /*part=*/true);
}

LogicalResult MergeHeadsOp::verify() {
  return verifyHeadViews(*this, cast<RankedTensorType>(getOutput().getType()),
                         cast<RankedTensorType>(getInput().getType()),
                         /*offset=*/0, /*stride=*/std::nullopt,
                         /*part=*/false);
}

LogicalResult LatentKeysOp::verify() {
  auto kv = cast<RankedTensorType>(getKv().getType());
  auto latent = cast<RankedTensorType>(getLatent().getType());
  auto y = cast<RankedTensorType>(getOutput().getType());
  if (kv.getRank() != 3 || latent.getRank() != 3 || y.getRank() != 3)
    return emitOpError() << "expects kv [B, L, H*(Dn+Dv)], latent "
                            "[B, L, r+Dr] and y [B, L, H*(Dn+Dr)]";
  if (kv.getElementType() != y.getElementType() ||
      latent.getElementType() != y.getElementType())
    return emitOpError() << "element types differ";
  int64_t heads = getNumHeads(), nope = getNopeDim();
  int64_t kvCols = kv.getDimSize(2), yCols = y.getDimSize(2);
  if (heads < 1 || nope < 1 || ShapedType::isDynamic(kvCols) ||
      ShapedType::isDynamic(yCols) ||
      ShapedType::isDynamic(latent.getDimSize(2)) || kvCols % heads ||
      yCols % heads || kvCols / heads <= nope || yCols / heads < nope)
    return emitOpError() << "expects static columns H*(Dn+Dv) and "
                            "H*(Dn+Dr) with H = num_heads >= 1, "
                            "1 <= Dn = nope_dim < Dn+Dv";
  if (getRopeKeyDim() > latent.getDimSize(2))
    return emitOpError() << "the RoPE key's " << getRopeKeyDim()
                         << " columns do not fit in the latent's "
                         << latent.getDimSize(2);
  for (RankedTensorType t : {kv, latent})
    if (!compatible(t.getDimSize(0), y.getDimSize(0)) ||
        !compatible(t.getDimSize(1), y.getDimSize(1)))
      return emitOpError() << "B and L must agree";
  return success();
}

FailureOr<HeadLinearDims> HeadLinearDims::verify(Operation *op, ShapedType x,
                                                 ShapedType w, ShapedType y,
                                                 int64_t heads, int64_t offset,
                                                 bool transposed) {
  if (x.getRank() != 3 || w.getRank() != 2 || y.getRank() != 3 ||
      ShapedType::isDynamic(x.getShape().back()) || !w.hasStaticShape() ||
      ShapedType::isDynamic(y.getShape().back()))
    return op->emitOpError() << "expects x [B, L, H*Sx], weight [R, H*P] and "
                                "y [B, L, H*Sy] with static columns";
  for (ShapedType t : {x, w, y})
    if (!isa<FloatType>(t.getElementType()))
      return op->emitOpError() << "expects float tensors, got " << Type(t);
  if (heads < 1 || x.getShape().back() % heads || y.getShape().back() % heads ||
      w.getDimSize(1) % heads)
    return op->emitOpError()
           << "'num_heads' = " << heads
           << " must divide the columns of x, y and the weight";
  HeadLinearDims d = get(x, w, y, heads, transposed);
  if (d.k < 1 || d.n < 1 || d.carry < 0)
    return op->emitOpError()
           << "each head must reduce K >= 1 columns into N >= 1 and carry C "
              ">= 0 more, got K = "
           << d.k << ", N = " << d.n << ", C = " << d.carry
           << (transposed
                   ? " (N = rows of the weight, C = Sy - N, K = Sx - C)"
                   : " (K = rows of the weight, C = Sx - K, N = Sy - C)");
  int64_t sliceCols = transposed ? d.k : d.n;
  if (offset < 0 || offset + sliceCols > d.weightStride)
    return op->emitOpError()
           << "'weight_offset' = " << offset << " puts each head's "
           << sliceCols << " weight columns past its " << d.weightStride;
  if (!compatible(x.getDimSize(0), y.getDimSize(0)) ||
      !compatible(x.getDimSize(1), y.getDimSize(1)))
    return op->emitOpError() << "B and L must agree";
  return d;
}

LogicalResult HeadLinearOp::verify() {
  return HeadLinearDims::verify(
      *this, getInput().getType(), getWeight().getType(), getOutput().getType(),
      getNumHeads(), getWeightOffset(), getTransposeWeight());
}

LogicalResult RmsNormOp::verify() {
  auto x = cast<RankedTensorType>(getInput().getType());
  if (x.getRank() != 3 || x != getOutput().getType())
    return emitOpError() << "expects x [B, L, cols] and a result of its type";
  int64_t cols = x.getDimSize(2), n = getColumns();
  if (n < 1 || (!ShapedType::isDynamic(cols) && n > cols))
    return emitOpError() << "'columns' must be in [1, " << cols << "], got "
                         << n;
  float eps = getEps().convertToFloat();
  if (!std::isfinite(eps) || eps < 0)
    return emitOpError() << "'eps' must be finite and >= 0, got " << eps;
  return success();
}
