//===- LayerGemmPlan.cpp - Layer GEMM work items ----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// How mha-tile splits a layer's projections: each weight (part) into column
// blocks, one work item per block and row tile (whole heads where heads
// matter: RoPE pairs, pruned blocks, replicas); the reduction into the
// segments of live input blocks; and the weights packed once per call into
// one panel per block whose K-blocks stay in L2 while the micro-kernels
// sweep them. Constant weights are packed here, at compile time, exactly as
// mha.pack_panel packs the others at run time.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"
#include "TileLayer.h"

#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::layer;

GemmKernel GemmKernel::get(int64_t vectorWidth, bool bf16Pairs, bool int8Dot) {
  // 32 vector registers with AVX-512, 16 below: rows x vectors accumulators
  // plus the weight vectors and one broadcast.
  return {vectorWidth, 6, vectorWidth >= 16 ? 4 : 2, bf16Pairs, int8Dot};
}

Type GemmKernel::getPackedType(MLIRContext *ctx) const {
  return bf16Pairs ? Type(BFloat16Type::get(ctx)) : Type(Float32Type::get(ctx));
}

/// The plan of group `group` of a replicated projection: its W columns
/// computed once, written for each of its live heads.
static std::optional<LinearPlan> planGroup(LinearPlan plan, LinearOp op,
                                           int64_t group) {
  int64_t first = group * plan.replicas;
  plan.groupColumn = group * plan.headDim;
  plan.groupHead = first;
  plan.yOffset += first * plan.headDim;
  plan.n = plan.headDim;
  plan.blocks = {0};
  plan.colBlock = plan.headDim;
  plan.name += "_g" + std::to_string(group);
  for (int64_t r = 0; r < plan.replicas; ++r)
    if (!op.getLiveBlocks() ||
        llvm::is_contained(*op.getLiveBlocks(), first + r))
      plan.liveReplicas.push_back(r);
  if (plan.liveReplicas.empty())
    return std::nullopt;
  return plan;
}

SmallVector<LinearPlan, 1>
layer::planLinear(LinearOp op, const WeightPart &part, StringRef name) {
  LinearPlan plan;
  plan.op = op;
  plan.weightValue = part.weight;
  plan.biasValue = part.bias;
  plan.scaleValue = part.scale;
  plan.int4 = part.int4;
  plan.groupSize = part.groupSize;
  plan.yOffset = part.column;
  plan.k = cast<RankedTensorType>(part.weight.getType()).getDimSize(0);
  plan.n = part.columns;
  plan.replicas = op.getReplicas();
  plan.headDim = op.getHeadDim().value_or(0);
  // A part is rotated whole or not at all (matchLayer).
  plan.rope = op.getRopeTheta() &&
              (!op.getRopeBlocks() ||
               part.column < int64_t(*op.getRopeBlocks()) * plan.headDim);
  if (plan.rope)
    plan.ropeOffset = plan.headDim - op.getRopeDim().value_or(plan.headDim);
  plan.inputRmsEps = op.getInputRmsEpsAttr();
  plan.name = name.str();
  // Items own whole heads where heads matter (RoPE pairs, pruned blocks).
  bool byHead = plan.rope || op.getLiveBlocks();
  plan.colBlock = byHead ? plan.headDim : std::min(plan.n, kColumnBlock);
  plan.liveReplicas = {0};
  if (auto live = op.getLiveBlocks()) {
    // Live heads of the whole projection, renumbered into the part's.
    int64_t first = part.column / plan.headDim,
            end = (part.column + plan.n) / plan.headDim;
    for (int64_t b : *live)
      if (b >= first && b < end)
        plan.blocks.push_back(b - first);
  } else {
    for (int64_t c = 0; c * plan.colBlock < plan.n; ++c) // NOLINT
      plan.blocks.push_back(c);
  }
  // Reduction ranges: contiguous runs of live input blocks.
  if (auto liveIn = op.getLiveInputBlocks()) {
    for (int64_t blk : *liveIn) {
      int64_t start = blk * plan.headDim;
      if (!plan.segments.empty() &&
          plan.segments.back().first + plan.segments.back().second == start)
        plan.segments.back().second += plan.headDim;
      else
        plan.segments.push_back({start, plan.headDim});
    }
  } else {
    plan.segments.push_back({0, plan.k});
  }
  if (plan.replicas == 1)
    return {plan};
  SmallVector<LinearPlan, 1> groups;
  plan.liveReplicas.clear();
  for (int64_t g = 0; g * plan.headDim < plan.n; ++g)
    if (std::optional<LinearPlan> group = planGroup(plan, op, g))
      groups.push_back(std::move(*group));
  return groups;
}

/// The K-block of an int8 plan: at most `limit`, a multiple of 4 that
/// divides the weight's groups (one scale row per K-block). Its i32 sums
/// (at most 255 * 128 per k) stay exact in f32 up to 256 k.
static int64_t getQuadKBlock(const LinearPlan &plan, int64_t limit) {
  int64_t kc = std::clamp<int64_t>(limit, 4, 256) & ~int64_t(3);
  if (plan.groupSize == plan.k)
    return kc;
  while (plan.groupSize % kc != 0)
    kc -= 4;
  return kc;
}

int64_t layer::planPacking(LinearPlan &plan, const GemmKernel &kernel,
                           int64_t offset) {
  bool pairs = !plan.int8 && plan.pairs;
  // k per panel row: bf16 pairs, int8 quads.
  int64_t group = plan.int8 ? 4 : pairs ? 2 : 1;
  plan.colPad = roundUp(plan.colBlock, kernel.vectors * kernel.vw);
  // The K-block of a panel the micro-kernels sweep stays about 128 KB (L2)
  // whatever the columns, a multiple of the group.
  int64_t packedBytes = plan.int8 ? 1 : pairs ? 2 : 4;
  int64_t l2Rows = 131072 / (packedBytes * plan.colPad);
  plan.kc = plan.int8 ? getQuadKBlock(plan, l2Rows)
                      : std::clamp<int64_t>(l2Rows, 16, 1024) & ~(group - 1);
  plan.packedRows = 0;
  plan.segmentRows.clear();
  for (auto [start, length] : plan.segments) {
    plan.segmentRows.push_back(plan.packedRows);
    plan.packedRows += GemmTileOp::getSegmentPanelRows(length, group, plan.kc);
  }
  plan.panelWidth = group * plan.colPad;
  plan.panelSize = plan.packedRows * plan.panelWidth;
  plan.packOffset = offset;
  return offset + plan.panelSize * int64_t(plan.blocks.size());
}

/// Calls `place(at, k, n)` for every weight element `plan`'s panels hold,
/// `group` k per panel row (1, bf16 pairs 2, int8 quads 4): `at` its
/// index in the packed panels, `k` and `n` its row and column in W.
static void
forEachPanelElement(const LinearPlan &plan, int64_t group,
                    function_ref<void(int64_t, int64_t, int64_t)> place) {
  for (auto [i, block] : llvm::enumerate(plan.blocks)) {
    int64_t col0 = block * plan.colBlock;
    int64_t cols = std::min(plan.colBlock, plan.n - col0);
    for (auto [segment, row] : llvm::zip(plan.segments, plan.segmentRows)) {
      auto [start, length] = segment;
      for (int64_t k = 0; k < length; ++k)
        for (int64_t c = 0; c < cols; ++c)
          place(int64_t(i) * plan.panelSize +
                    (row + k / group) * plan.panelWidth + group * c + k % group,
                start + k, plan.groupColumn + col0 + c);
    }
  }
}

/// The values of a constant quantized weight, [K, N] row-major (int4
/// nibbles sign-extended, column 2j in the low nibble of byte j).
static SmallVector<int8_t> getQuantizedValues(const LinearPlan &plan,
                                              DenseElementsAttr weight) {
  SmallVector<int8_t> values;
  for (APInt v : weight.getValues<APInt>()) {
    auto byte = int8_t(v.getSExtValue());
    if (!plan.int4) {
      values.push_back(byte);
      continue;
    }
    values.push_back(QuantizedOp::unpackInt4(byte, /*high=*/false));
    values.push_back(QuantizedOp::unpackInt4(byte, /*high=*/true));
  }
  return values;
}

/// The int8 panels of a constant quantized weight, as mha.pack_panel packs
/// them at run time: each K-block's quads of rows, its column offsets
/// (-128 x the block's column sums, i32) and its group's column scales.
static DenseElementsAttr packConstantQuads(const LinearPlan &plan,
                                           ArrayRef<int8_t> values,
                                           ArrayRef<float> scales,
                                           int64_t width, int64_t size) {
  SmallVector<int8_t> packed(size, 0);
  auto putWord = [&](int64_t at, uint32_t word) {
    for (int64_t byte = 0; byte < 4; ++byte)
      packed[at + byte] = int8_t(word >> (8 * byte)); // Little-endian.
  };
  int64_t rowsPerBlock = plan.kc / 4 + 2;
  for (auto [i, block] : llvm::enumerate(plan.blocks)) {
    int64_t col0 = plan.groupColumn + block * plan.colBlock;
    int64_t cols = std::min(plan.colBlock, plan.n - block * plan.colBlock);
    for (int64_t k0 = 0; k0 < plan.k; k0 += plan.kc) {
      int64_t kn = std::min(plan.kc, plan.k - k0);
      int64_t row = int64_t(i) * plan.packedRows + k0 / plan.kc * rowsPerBlock;
      int64_t tail = row + (kn + 3) / 4;
      for (int64_t c = 0; c < cols; ++c) {
        int64_t n = col0 + c;
        int32_t sum = 0;
        for (int64_t k = 0; k < kn; ++k) {
          int8_t v = values[(k0 + k) * width + n];
          packed[(row + k / 4) * plan.panelWidth + 4 * c + k % 4] = v;
          sum += v;
        }
        putWord(tail * plan.panelWidth + 4 * c, uint32_t(-128 * sum));
        float scale = scales[k0 / plan.groupSize * width + n];
        putWord((tail + 1) * plan.panelWidth + 4 * c,
                llvm::bit_cast<uint32_t>(scale));
      }
    }
  }
  auto type = RankedTensorType::get(
      {1, 1, size}, IntegerType::get(plan.constantWeight.getContext(), 8));
  return DenseElementsAttr::get(type, ArrayRef<int8_t>(packed));
}

DenseElementsAttr layer::packConstantWeight(const LinearPlan &plan) {
  bool pairs = plan.pairs;
  DenseElementsAttr weight = plan.constantWeight;
  MLIRContext *ctx = weight.getContext();
  int64_t size = plan.panelSize * int64_t(plan.blocks.size());
  // All of W's columns (a replicated plan's are a group of them).
  int64_t width = weight.getNumElements() / plan.k * (plan.int4 ? 2 : 1);
  // W as f32, row-major [K, width]; quantized values times their scales.
  SmallVector<float> w;
  w.reserve(plan.k * width);
  if (DenseElementsAttr scaleAttr = plan.constantScale) {
    SmallVector<float> scales(scaleAttr.getValues<float>());
    SmallVector<int8_t> values = getQuantizedValues(plan, weight);
    if (plan.int8)
      return packConstantQuads(plan, values, scales, width, size);
    for (auto [i, v] : llvm::enumerate(values)) {
      int64_t k = int64_t(i) / width, n = int64_t(i) % width;
      w.push_back(float(v) * scales[k / plan.groupSize * width + n]);
    }
  } else {
    for (APFloat v : weight.getValues<APFloat>()) {
      bool lost;
      v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
      w.push_back(v.convertToFloat());
    }
  }
  SmallVector<float> packed(size, 0.0f);
  forEachPanelElement(
      plan, pairs ? 2 : 1,
      [&](int64_t at, int64_t k, int64_t n) { packed[at] = w[k * width + n]; });
  auto tensorType =
      RankedTensorType::get({1, 1, size}, pairs ? Type(BFloat16Type::get(ctx))
                                                : Float32Type::get(ctx));
  if (!pairs)
    return DenseElementsAttr::get(tensorType, ArrayRef<float>(packed));
  SmallVector<APFloat> values;
  values.reserve(size);
  for (float f : packed) {
    APFloat v(f);
    bool lost;
    v.convert(APFloat::BFloat(), APFloat::rmNearestTiesToEven, &lost);
    values.push_back(v);
  }
  return DenseElementsAttr::get(tensorType, values);
}
