//===- SpecProblem.cpp - Concrete problems of a spec's attention ----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/SpecProblem.h"

#include "mha/Dialect/Mha/IR/AttentionVariant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/DenseSet.h"

#include <cmath>
#include <random>

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::analysis;

/// The static sizes of `type`, dynamic batch -> `batch`, other dynamic
/// dimensions (the lengths) -> `len`.
static std::vector<int64_t> concreteShape(Type type, int64_t batch,
                                          int64_t len) {
  auto shaped = cast<RankedTensorType>(type);
  std::vector<int64_t> shape(shaped.getShape().begin(),
                             shaped.getShape().end());
  for (size_t d = 0; d < shape.size(); ++d)
    if (ShapedType::isDynamic(shape[d]))
      shape[d] = d == 0 ? batch : len;
  return shape;
}

AttentionShapes mlir::mha::analysis::getConcreteShapes(AttentionOp op,
                                                       int64_t batch,
                                                       int64_t seqLen) {
  AttentionShapes s;
  s.query = concreteShape(op.getQuery().getType(), batch, seqLen);
  s.key = concreteShape(op.getKey().getType(), batch, seqLen);
  s.value = concreteShape(op.getValue().getType(), batch, s.key[2]);
  s.key[0] = s.value[0] = s.query[0];
  return s;
}

namespace {
/// The variant attributes of the reference problem, per head.
void setVariant(reference::AttentionProblem &pr,
                const AttentionVariant &variant) {
  pr.scale = variant.scale;
  for (int64_t h = 0; h < pr.queryHeads; ++h) {
    pr.temperature.push_back(variant.temperature(h));
    pr.alibiSlopes.push_back(variant.alibiSlope(h));
    pr.windowLeft.push_back(variant.windowLeft(h));
    pr.windowRight.push_back(variant.windowRight(h));
    pr.headAlive.push_back(variant.isHeadAlive(h));
  }
  if (variant.softcap)
    pr.softcap = *variant.softcap;
  pr.hasAlibi = variant.hasAlibi;
  pr.causal = variant.causal;
  pr.sinkTokens = variant.sinkTokens;
  // Callers pass the seed and offset they give the library (0 and 0 by
  // default, as with NULL options).
  if (variant.hasDropout)
    pr.dropout.assign(variant.getDropoutRates().begin(),
                      variant.getDropoutRates().end());
}
} // namespace

reference::AttentionProblem
mlir::mha::analysis::getReferenceProblem(AttentionOp op,
                                         const AttentionShapes &shapes) {
  reference::AttentionProblem pr;
  pr.batch = shapes.query[0];
  pr.queryHeads = shapes.query[1];
  pr.kvHeads = shapes.key[1];
  pr.queryLen = shapes.query[2];
  pr.keyLen = shapes.key[2];
  pr.headDim = shapes.query[3];
  pr.valueDim = shapes.value[3];
  auto variant =
      AttentionVariant::get(op, pr.queryHeads, pr.kvHeads, pr.headDim);
  setVariant(pr, variant);
  return pr;
}

std::optional<ElementKind> mlir::mha::analysis::getElementKind(Type type) {
  if (type.isF32())
    return ElementKind::f32;
  if (type.isF16())
    return ElementKind::f16;
  if (type.isBF16())
    return ElementKind::bf16;
  if (type.isSignlessInteger(8))
    return ElementKind::i8;
  return std::nullopt;
}

std::string mlir::mha::analysis::describeVariant(AttentionOp op) {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto kType = cast<RankedTensorType>(op.getKey().getType());
  int64_t hq = qType.getDimSize(1), hkv = kType.getDimSize(1);
  auto v = AttentionVariant::get(op, hq, hkv, qType.getDimSize(3));
  std::string s = hkv == hq ? "MHA" : hkv == 1 ? "MQA" : "GQA";
  if (v.causal)
    s += " causal";
  if (v.hasWindows())
    s += " windows";
  if (v.sinkTokens)
    s += " sinks";
  if (v.softcap)
    s += " softcap";
  if (v.hasAlibi)
    s += " alibi";
  if (llvm::any_of(v.getTemperatures(), [](float t) { return t != 1.0f; }))
    s += " temp";
  if (v.hasPrunedHeads())
    s += " pruned";
  if (op.getKeyScale())
    s += " int8-kv";
  return s;
}

std::string mlir::mha::analysis::getArgumentName(AttentionOp op,
                                                 Value argument) {
  // The same order as the kernel's roles: an argument used as q and k is q.
  if (argument == op.getQuery())
    return "q";
  if (argument == op.getKey())
    return "k";
  return "v";
}

std::string mlir::mha::analysis::getArgumentName(MultiHeadOp op,
                                                 Value argument) {
  for (auto [value, name] : {std::pair<Value, const char *>{op.getInput(), "x"},
                             {op.getWq(), "wq"},
                             {op.getWk(), "wk"},
                             {op.getWv(), "wv"},
                             {op.getWo(), "wo"},
                             {op.getBq(), "bq"},
                             {op.getBk(), "bk"},
                             {op.getBv(), "bv"}}) {
    if (argument == value)
      return name;
    // The factors of a low-rank weight and the values and scales of a
    // quantized one, named as the C parameters.
    if (auto factors = value ? value.getDefiningOp<LowRankOp>() : LowRankOp()) {
      if (argument == factors.getDown())
        return std::string(name) + "_down";
      if (argument == factors.getUp())
        return std::string(name) + "_up";
    }
    if (auto quantized =
            value ? value.getDefiningOp<QuantizedOp>() : QuantizedOp()) {
      if (argument == quantized.getValues())
        return name;
      if (argument == quantized.getScale())
        return std::string(name) + "_scale";
    }
  }
  return "bo";
}

std::vector<int64_t>
mlir::mha::analysis::getConcreteLayerShape(Value operand, int64_t batch,
                                           int64_t seqLen) {
  return concreteShape(operand.getType(), batch, seqLen);
}

std::vector<HostTensor> mlir::mha::analysis::drawLayerArguments(
    func::FuncOp func, MultiHeadOp op, int64_t batch, int64_t seqLen,
    std::mt19937 &rng, llvm::DenseMap<Value, std::vector<double>> &values) {
  // Quantized values are uniform: int8 in [-127, 127] (deviation 73),
  // int4 bytes (two values in [-8, 7], deviation 4.6); their scales
  // ~ 1 / (deviation sqrt(rows)), so that W ~ N(0, 1/rows) as the others.
  llvm::DenseMap<Value, double> scaleDenominators;
  llvm::DenseSet<Value> int4Values;
  func.walk([&](QuantizedOp q) {
    double rows = cast<RankedTensorType>(q.getValues().getType()).getDimSize(0);
    scaleDenominators[q.getScale()] =
        (q.getBits() == 4 ? 4.6 : 73.0) * std::sqrt(rows);
    if (q.getBits() == 4)
      int4Values.insert(q.getValues());
  });
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> int8(-127, 127), bytes(-128, 127);
  std::uniform_real_distribution<double> spread(0.5, 1.5);
  std::vector<HostTensor> tensors;
  for (BlockArgument arg : func.getArguments()) {
    Type elt = cast<RankedTensorType>(arg.getType()).getElementType();
    HostTensor t(*getElementKind(elt),
                 getConcreteLayerShape(arg, batch, seqLen));
    // Weights ~ N(0, 1/rows) keep every projection ~ N(0, 1) (and a
    // low-rank factor pair's product ~ N(0, 1/rows) too).
    bool bias = arg == op.getBq() || arg == op.getBk() || arg == op.getBv() ||
                arg == op.getBo();
    double deviation = arg != op.getInput() && t.shape.size() == 2 && !bias
                           ? 1.0 / std::sqrt(double(t.shape[0]))
                           : 1.0;
    auto scale = scaleDenominators.find(arg);
    std::vector<double> drawn(t.numElements());
    for (double &x : drawn)
      x = elt.isInteger()
              ? double(int4Values.contains(arg) ? bytes(rng) : int8(rng))
          : scale != scaleDenominators.end() ? spread(rng) / scale->second
                                             : normal(rng) * deviation;
    values[arg] = t.store(drawn);
    tensors.push_back(std::move(t));
  }
  return tensors;
}

reference::LayerProblem mlir::mha::analysis::getLayerProblem(MultiHeadOp op,
                                                             int64_t batch,
                                                             int64_t seqLen) {
  std::vector<int64_t> x =
      concreteShape(op.getInput().getType(), batch, seqLen);
  reference::LayerProblem lp;
  reference::AttentionProblem &pr = lp.attention;
  pr.batch = x[0];
  pr.queryLen = pr.keyLen = x[1];
  lp.modelDim = x[2];
  pr.queryHeads = op.getNumHeads();
  pr.kvHeads = op.getKvHeadCount();
  pr.headDim = op.getQueryHeadDim();
  pr.valueDim = op.getLayerHeadDim();
  if (op.getSharingScheme() == Sharing::latent) {
    lp.latentRank = op.getLatentRank();
    lp.ropeKeyDim = op.getRopeKeyDim();
    lp.nopeDim = op.getNopeDim();
    lp.queryGroups = lp.kvGroups = pr.queryHeads;
    if (auto eps = op.getRmsNormEps())
      lp.rmsNormEps = double(eps->convertToFloat());
  } else {
    auto groups = [&](Value w) {
      return cast<RankedTensorType>(w.getType()).getDimSize(1) / pr.headDim;
    };
    lp.queryGroups = groups(op.getWq());
    lp.kvGroups = groups(op.getWk());
  }
  lp.hasQkvBias = op.getHasQkvBias();
  lp.hasOutBias = op.getHasOutBias();
  if (auto theta = op.getRopeTheta())
    lp.ropeTheta = double(theta->convertToFloat());
  auto variant =
      AttentionVariant::get(op, pr.queryHeads, pr.kvHeads, pr.headDim);
  setVariant(pr, variant);
  // The int8 weights whose projections multiply int8 rows (mha-tile's
  // rule, TileLayer.cpp): those that read x, and Wo unless heads are
  // pruned (the pruned heads' columns of O are never written).
  bool woQuads = llvm::all_of(pr.headAlive, [](bool alive) { return alive; });
  Value weights[] = {op.getWq(), op.getWk(), op.getWv(), op.getWo()};
  bool latent = op.getSharingScheme() == Sharing::latent;
  for (int w = 0; w < 4; ++w) {
    auto quantized = weights[w].getDefiningOp<QuantizedOp>();
    lp.int8Weights[w] =
        quantized && !(latent && w == 2) && (w != 3 || woQuads) &&
        QuantizedOp::hasQuadGroups(
            quantized.getGroupSize(),
            cast<RankedTensorType>(quantized.getType()).getDimSize(0));
  }
  return lp;
}

/// The elements of `v` in f64: an argument's from `argValues`, a dense
/// constant's, or down . up for an mha.low_rank.
static std::vector<double>
resolveTensor(Value v,
              const llvm::DenseMap<Value, std::vector<double>> &argValues) {
  if (auto it = argValues.find(v); it != argValues.end())
    return it->second;
  if (auto quantized = v.getDefiningOp<QuantizedOp>()) {
    std::vector<double> values =
                            resolveTensor(quantized.getValues(), argValues),
                        scale = resolveTensor(quantized.getScale(), argValues);
    auto type = cast<RankedTensorType>(quantized.getType());
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    int64_t groupSize = quantized.getGroupSize();
    bool int4 = quantized.getBits() == 4;
    if (values.empty() || scale.empty())
      return {};
    std::vector<double> w(k * n);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double value;
        if (int4) {
          auto byte = int8_t(values[i * (n / 2) + j / 2]);
          value = QuantizedOp::unpackInt4(byte, /*high=*/j % 2 == 1);
        } else {
          value = values[i * n + j];
        }
        w[i * n + j] = value * scale[i / groupSize * n + j];
      }
    return w;
  }
  if (auto factors = v.getDefiningOp<LowRankOp>()) {
    std::vector<double> down = resolveTensor(factors.getDown(), argValues),
                        up = resolveTensor(factors.getUp(), argValues);
    auto type = cast<RankedTensorType>(factors.getDown().getType());
    int64_t m = type.getDimSize(0), r = type.getDimSize(1);
    int64_t n = int64_t(up.size()) / r;
    std::vector<double> w(m * n, 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t k = 0; k < r; ++k)
        for (int64_t j = 0; j < n; ++j)
          w[i * n + j] += down[i * r + k] * up[k * n + j];
    return w;
  }
  std::vector<double> values;
  auto constant = v ? v.getDefiningOp<arith::ConstantOp>() : nullptr;
  auto dense =
      constant ? dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
  if (!dense)
    return values;
  if (dense.getElementType().isInteger()) {
    for (APInt x : dense.getValues<APInt>())
      values.push_back(double(x.getSExtValue()));
    return values;
  }
  for (APFloat x : dense.getValues<APFloat>()) {
    bool lost;
    x.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    values.push_back(x.convertToDouble());
  }
  return values;
}

void mlir::mha::analysis::getLayerTensors(
    MultiHeadOp op, const llvm::DenseMap<Value, std::vector<double>> &argValues,
    reference::LayerTensors &tensors) {
  std::pair<Value, std::vector<double> *> slots[] = {
      {op.getInput(), &tensors.x}, {op.getWq(), &tensors.wq},
      {op.getWk(), &tensors.wk},   {op.getWv(), &tensors.wv},
      {op.getWo(), &tensors.wo},   {op.getBq(), &tensors.bq},
      {op.getBk(), &tensors.bk},   {op.getBv(), &tensors.bv},
      {op.getBo(), &tensors.bo}};
  for (auto [value, slot] : slots)
    if (value)
      *slot = resolveTensor(value, argValues);
  // A latent layer normalises a low-rank Wq's rank product: the factors
  // stay apart.
  auto factors = op.getWq().getDefiningOp<LowRankOp>();
  if (factors && op.getRmsNormEps()) {
    tensors.wqDown = resolveTensor(factors.getDown(), argValues);
    tensors.wqUp = resolveTensor(factors.getUp(), argValues);
    tensors.wq.clear();
  }
}

std::string mlir::mha::analysis::describeLayer(MultiHeadOp op) {
  int64_t hq = op.getNumHeads(), hkv = op.getKvHeadCount();
  auto v = AttentionVariant::get(op, hq, hkv, op.getQueryHeadDim());
  std::string s = hkv == hq ? "MHA" : hkv == 1 ? "MQA" : "GQA";
  if (op.getSharingScheme() == Sharing::latent)
    s = "MLA r=" + std::to_string(op.getLatentRank());
  if (op.getSharingScheme() == Sharing::shared_head_bias)
    s += " shared";
  if (op.getSharingScheme() == Sharing::grouped)
    s += " grouped";
  if (llvm::any_of(ValueRange{op.getWq(), op.getWk(), op.getWv(), op.getWo()},
                   [](Value w) { return w.getDefiningOp<LowRankOp>(); }))
    s += " low-rank";
  // The quantized weights' widths: " int8", " int4" or " int8+int4".
  bool bits[2] = {false, false};
  for (Value w : {op.getWq(), op.getWk(), op.getWv(), op.getWo()})
    if (auto quantized = w.getDefiningOp<QuantizedOp>())
      bits[quantized.getBits() == 4] = true;
  if (bits[0] || bits[1])
    s += std::string(" ") + (bits[0] ? "int8" : "") +
         (bits[0] && bits[1] ? "+" : "") + (bits[1] ? "int4" : "");
  if (op.getHasQkvBias())
    s += " qkv-bias";
  if (op.getHasOutBias())
    s += " out-bias";
  if (op.getRopeTheta())
    s += " rope";
  if (op.getRmsNormEps())
    s += " rms-norm";
  if (v.causal)
    s += " causal";
  if (v.hasWindows())
    s += " windows";
  if (v.hasPrunedHeads())
    s += " pruned";
  return s;
}
