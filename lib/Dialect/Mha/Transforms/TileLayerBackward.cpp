//===- TileLayerBackward.cpp - A layer backward's kernel --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-tile for a layer function marked mha.backward: the kernel of
// `<name>_backward(x, weights..., biases..., dy, dx, dweights...,
// dbiases...)` (docs/language.md 7.1). By default nothing is saved
// between the forward and the backward call (gradient checkpointing): the
// kernel recomputes the forward's phases up to the attention, which also
// writes its lse, then runs the gradients' phases. The same kernel serves
// `<name>_forward_train`, which runs only the recomputation and a GEMM
// for y and keeps the recomputed temporaries in the caller's buffer for a
// backward that then skips its recomputation (KernelAbi.h,
// MHA_PHASE_RECOMPUTATION and MHA_TEMP_SAVED). The gradients' phases:
//
//   output grad  dO = dy Wo^T (a GEMM of the forward's kind whose panels
//                hold Wo transposed, mha.pack_panel `transpose`)
//   key items    dK, dV of a key tile (mha-tile-backward's items, on
//                [B, H, L, D] views of the temporaries)
//   query items  dQ of a query tile
//   latent keys  a latent layer's dK split back: key parts to the
//                latent's up-projection, the shared RoPE key summed
//   rope         dQ, dK rotated back (R^T) where the forward rotated
//   factors      dT = dY B^T of each low-rank (or latent) product, then
//                through its RMS norm where the forward normalised it
//   input grad   dx = dQKV W^T: one GEMM whose reduction segments are the
//                projections' gradient columns, each packed from its own
//                transposed weight (replicated heads: one segment each)
//   weights      dW = x^T dQKV, dWo = O^T dy and the biases' column sums
//                (mha.weight_grad_tile: one item per block of a weight,
//                summed over every row in a fixed order)
//
// The gradients dO and dQKV are f32 temporaries [B, L, cols] (dQKV holds
// every projection's output gradient at its columns: dQ, dK, dV, or a
// fused projection's). A bf16 layer's AVX512-BF16 copy multiplies bf16
// pairs as PyTorch's bf16 autograd does: the GEMMs on bf16 inputs (x, dy)
// take the forward's pair panels, dO is rounded to bf16 for the
// attention's pair items, dQKV is rounded once into a bf16 copy that dx =
// dQKV W^T and the weight gradients read; the GEMMs on the f32 O and on
// the low-rank factors' dT keep f32 panels, in a packed temporary of
// their own (placePanels). Every gradient element is written by exactly
// one item in a fixed order: no atomics, the same bytes for any thread
// count.
//
//===----------------------------------------------------------------------===//

#include "LayerTiler.h"

#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/MicroKernels.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <numeric>

#define DEBUG_TYPE "mha-tile"

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::layer;

/// Rows and columns of a weight-gradient work item. Each item reads its
/// rows of A and columns of G over the whole batch, so a square block
/// reads the least per flop; its stack scratch (f32 accumulators [256,
/// 256] and the K-block panels, 512 KiB) stays within the work-item limit
/// and in a Zen 4 core's 1 MiB L2. [256, 256] measured 9% faster than
/// [256, 128] on the f32 LLaMA layer's weight gradients (docs/
/// performance.md, "Layer backward").
static constexpr int64_t kWeightGradRows = 256;
static constexpr int64_t kWeightGradColumns = 256;
// (The panels hold 128 rows of A and G: WeightGrad.cpp's K-block.)
static_assert((kWeightGradRows * kWeightGradColumns +
               (kWeightGradRows + kWeightGradColumns) * 128) *
                      4 <=
                  MHA_WORK_ITEM_SCRATCH_LIMIT,
              "a weight-gradient item's accumulators and panels fit the "
              "work-item stack");

/// The role of the gradient of a parameter of `role`.
static std::optional<TensorRole> getGradientRole(TensorRole role) {
  switch (role) {
  case TensorRole::layer_input:
    return TensorRole::grad_layer_input;
  case TensorRole::query_weight:
    return TensorRole::grad_query_weight;
  case TensorRole::key_weight:
    return TensorRole::grad_key_weight;
  case TensorRole::value_weight:
    return TensorRole::grad_value_weight;
  case TensorRole::out_weight:
    return TensorRole::grad_out_weight;
  case TensorRole::query_bias:
    return TensorRole::grad_query_bias;
  case TensorRole::key_bias:
    return TensorRole::grad_key_bias;
  case TensorRole::value_bias:
    return TensorRole::grad_value_bias;
  case TensorRole::out_bias:
    return TensorRole::grad_out_bias;
  case TensorRole::query_weight_down:
    return TensorRole::grad_query_weight_down;
  case TensorRole::query_weight_up:
    return TensorRole::grad_query_weight_up;
  case TensorRole::key_weight_down:
    return TensorRole::grad_key_weight_down;
  case TensorRole::key_weight_up:
    return TensorRole::grad_key_weight_up;
  case TensorRole::value_weight_down:
    return TensorRole::grad_value_weight_down;
  case TensorRole::value_weight_up:
    return TensorRole::grad_value_weight_up;
  case TensorRole::out_weight_down:
    return TensorRole::grad_out_weight_down;
  case TensorRole::out_weight_up:
    return TensorRole::grad_out_weight_up;
  default:
    return std::nullopt;
  }
}

LogicalResult LayerTiler::addGradientParameters(ArrayRef<TensorRole> argRoles) {
  for (auto [arg, role] : llvm::zip(func.getArguments(), argRoles))
    params.push_back({arg.getType(), role});
  params.push_back(
      {parts.output.getResult().getType(), TensorRole::grad_layer_output});
  for (auto [arg, role] : llvm::zip(func.getArguments(), argRoles)) {
    // The sequences' lengths and offsets are indices: no gradient.
    if (role == TensorRole::q_lens || role == TensorRole::cu_seqlens_q) {
      gradientArguments.push_back(-1);
      continue;
    }
    std::optional<TensorRole> grad = getGradientRole(role);
    if (!grad)
      return func.emitError()
             << "'mha.backward' of a layer: argument " << arg.getArgNumber()
             << " ('" << stringifyTensorRole(role) << "') has no gradient";
    gradientArguments.push_back(params.size());
    params.push_back({arg.getType(), *grad});
  }
  signature = buildKernelSignature(ctx, params);
  argTypes = signature.argTypes;
  return success();
}

Value LayerTiler::getGradient(Value v) {
  int64_t index = gradientArguments[cast<BlockArgument>(v).getArgNumber()];
  assert(index >= 0 && "an argument without a gradient");
  return entry->getArgument(index);
}

/// A plan of a GEMM by a transposed weight: `k` rows in `segments`, `n`
/// columns (the transposed weights' rows) in blocks.
static LinearPlan planTransposed(StringRef name, int64_t k, int64_t n) {
  LinearPlan plan;
  plan.name = name.str();
  plan.k = k;
  plan.n = n;
  plan.colBlock = std::min(n, kColumnBlock);
  for (int64_t c = 0; c * plan.colBlock < n; ++c)
    plan.blocks.push_back(c);
  plan.liveReplicas = {0};
  return plan;
}

/// The plan of `x W^T` for one weight: its columns `segment` of x.
static LinearPlan planTransposedWeight(StringRef name, Value weight,
                                       std::pair<int64_t, int64_t> segment) {
  auto type = cast<RankedTensorType>(weight.getType());
  LinearPlan plan = planTransposed(name, segment.second, type.getDimSize(0));
  plan.segments = {segment};
  plan.transposedWeights = {weight};
  plan.transposedColumns = {0};
  return plan;
}

void LayerTiler::planBackwardGemms() {
  // dO = dy Wo^T: K = d (Wo's columns), N = Hq Dv (its rows); with Wo =
  // A_o B_o, dT_o = dy B_o^T (in dQKV's columns, below) and dO = dT_o A_o^T.
  Value wo = parts.output.getWeight();
  int64_t dModel = cast<RankedTensorType>(wo.getType()).getDimSize(1);
  if (!parts.outputDown)
    outputGrad = planTransposedWeight("grad_out", wo, {0, dModel});

  // dx = dQKV W^T over every projection's gradient columns; a low-rank
  // projection's (x A) B contributes dT A^T, dT = dY B^T.
  int64_t d = cast<RankedTensorType>(parts.input.getType()).getDimSize(2);
  SmallVector<std::pair<int64_t, int64_t>> segments;
  SmallVector<Value> weights;
  SmallVector<int64_t> columns;
  int64_t col = 0;
  for (LinearOp linear : parts.projections) {
    gradientColumns[linear] = col;
    col += cast<RankedTensorType>(linear.getResult().getType()).getDimSize(2);
  }
  // A latent layer's keys (each head's key part and the shared RoPE key):
  // dK, split back by addLatentKeysBackwardPhase.
  if (LatentKeysOp keys = parts.latentKeys) {
    gradientColumns[keys] = col;
    col += cast<RankedTensorType>(keys.getResult().getType()).getDimSize(2);
  }
  auto factorColumns = [&](LinearOp down) {
    gradientColumns[down] = col;
    int64_t rank =
        cast<RankedTensorType>(down.getResult().getType()).getDimSize(2);
    col += rank;
    return std::pair<int64_t, int64_t>{gradientColumns[down], rank};
  };
  for (LinearOp linear : parts.projections) {
    int64_t first = gradientColumns[linear];
    int64_t replicas = linear.getReplicas();
    int64_t headDim = linear.getHeadDim().value_or(0);
    LinearOp down = getDownProjection(linear);
    for (const WeightPart &part : getWeightParts(linear)) {
      // dY W^T over this part's gradient columns: one segment, or with
      // replicated heads one per head, head h reading the columns of its
      // group h / replicas.
      LinearPlan plan;
      if (replicas == 1) {
        plan.segments.push_back({first + part.column, part.columns});
        plan.transposedColumns.push_back(0);
      } else {
        for (int64_t h = 0; h < replicas * part.columns / headDim; ++h) {
          plan.segments.push_back({first + h * headDim, headDim});
          plan.transposedColumns.push_back(h / replicas * headDim);
        }
      }
      plan.transposedWeights.assign(plan.segments.size(), part.weight);
      if (!down) {
        llvm::append_range(segments, plan.segments);
        llvm::append_range(weights, plan.transposedWeights);
        llvm::append_range(columns, plan.transposedColumns);
        continue;
      }
      // A low-rank projection's (x A) B: dT = dY B^T, and dx gets dT A^T.
      std::pair<int64_t, int64_t> dT = factorColumns(down);
      int64_t reduced = 0;
      for (auto [start, length] : plan.segments)
        reduced += length;
      LinearPlan factor = planTransposed(
          "grad_factor" + std::to_string(factorGrads.size()), reduced,
          cast<RankedTensorType>(part.weight.getType()).getDimSize(0));
      factor.segments = std::move(plan.segments);
      factor.transposedWeights = std::move(plan.transposedWeights);
      factor.transposedColumns = std::move(plan.transposedColumns);
      factor.yOffset = dT.first;
      factorGrads.push_back(std::move(factor));
      segments.push_back(dT);
      weights.push_back(down.getWeight());
      columns.push_back(0);
    }
  }
  if (LinearOp down = parts.outputDown) {
    std::pair<int64_t, int64_t> dT = factorColumns(down);
    outputFactorGrad = planTransposedWeight("grad_out_factor", wo, {0, dModel});
    outputFactorGrad->yOffset = dT.first;
    outputGrad = planTransposedWeight("grad_out", down.getWeight(), dT);
  }
  dQkvColumns = col;
  inputGrad = planTransposed("grad_in", dQkvColumns, d);
  // The reduction walks its segments in column order.
  SmallVector<unsigned> order(segments.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::stable_sort(order, [&](unsigned i, unsigned j) {
    return segments[i].first < segments[j].first;
  });
  for (unsigned i : order) {
    inputGrad.segments.push_back(segments[i]);
    inputGrad.transposedWeights.push_back(weights[i]);
    inputGrad.transposedColumns.push_back(columns[i]);
  }

  // Whether each GEMM reads an f32 temporary: dO's reads dy (bf16 in a
  // bf16 layer) or, below a low-rank Wo, dT_o in dQKV; dx reads dQKV's
  // rounded copy where the copy has pairs (addRoundGradientsPhase); the
  // factors' dT = dY B^T read the f32 dQKV.
  bool dyF32 = !getElementTypeOrSelf(parts.output.getResult()).isBF16();
  SmallVector<std::pair<LinearPlan *, bool>> backwardPlans = {
      {&outputGrad, outputFactorGrad.has_value() || dyF32},
      {&inputGrad, false}};
  if (outputFactorGrad)
    backwardPlans.push_back({&*outputFactorGrad, dyF32});
  for (LinearPlan &plan : factorGrads)
    backwardPlans.push_back({&plan, true});
  for (auto [plan, f32Input] : backwardPlans) {
    placePanels(*plan, f32Input);
    packedAtRunTime.push_back(plan);
  }
}

void LayerTiler::addBackwardTemporaries() {
  Type f32 = Float32Type::get(ctx);
  lseTemp = addTemp(shape.numHeads, MHA_TEMP_PER_BATCH, f32);
  tempShapes.back() |= MHA_TEMP_SAVED;
  // One row of head-alive bytes (row 0 of a per-token temporary: the
  // fixed ones are the packed weights').
  aliveTemp =
      addTemp(shape.numHeads, MHA_TEMP_PER_TOKEN, IntegerType::get(ctx, 8));
  tempShapes.back() |= MHA_TEMP_SAVED;
  // dO rounded to bf16 where the attention's items run on bf16 pairs (as
  // PyTorch's bf16 autograd keeps it); D_i = dO . O and dP = dO V^T read
  // the same rounded dO.
  dOutTemp =
      addTemp(shape.numHeads * shape.valueDim, MHA_TEMP_PER_BATCH,
              backwardItems.bf16Pairs ? Type(BFloat16Type::get(ctx)) : f32,
              /*bytes=*/4);
  dQkvTemp = addTemp(dQkvColumns, MHA_TEMP_PER_BATCH, f32);
  if (getElementTypeOrSelf(parts.input).isBF16())
    dQkvBf16Temp =
        addTemp(dQkvColumns, MHA_TEMP_PER_BATCH, BFloat16Type::get(ctx));
  if (outputReadsRoundedO())
    outBf16Temp = addTemp(shape.numHeads * shape.valueDim, MHA_TEMP_PER_BATCH,
                          BFloat16Type::get(ctx));
  if (int64_t norms = getNormalizedUps().size()) {
    rmsScaleTemp = addTemp(norms, MHA_TEMP_PER_BATCH, f32);
    tempShapes.back() |= MHA_TEMP_SAVED;
  }
}

void LayerTiler::setBackwardMemRefs() {
  auto weightMemRefs = [&](LinearPlan &plan) {
    for (Value w : plan.transposedWeights)
      plan.transposedMemRefs.push_back(getParameterArgument(func, *entry, w));
    plan.panels = getPackedTemp(plan);
  };
  Value dy = entry->getArgument(func.getNumArguments());
  Value dQkv = entry->getArgument(dQkvTemp);
  weightMemRefs(outputGrad);
  outputGrad.x = outputFactorGrad ? dQkv : dy;
  outputGrad.y = entry->getArgument(dOutTemp);
  if (outputFactorGrad) {
    weightMemRefs(*outputFactorGrad);
    outputFactorGrad->x = dy;
    outputFactorGrad->y = dQkv;
  }
  for (LinearPlan &plan : factorGrads) {
    weightMemRefs(plan);
    plan.x = plan.y = dQkv;
  }
  weightMemRefs(inputGrad);
  inputGrad.x = getGradientGemmInput();
  inputGrad.y = getGradient(parts.input);
}

Value LayerTiler::getLseView() {
  // lse [B, L, Hq] as [B, Hq, L].
  Value temp = entry->getArgument(lseTemp);
  int64_t heads = shape.numHeads, dyn = ShapedType::kDynamic;
  auto viewType =
      MemRefType::get({dyn, heads, dyn}, b.getF32Type(),
                      StridedLayoutAttr::get(ctx, 0, {dyn, 1, heads}));
  return memref::ReinterpretCastOp::create(
      b, loc, viewType, temp, b.getIndexAttr(0),
      ArrayRef<OpFoldResult>{memref::DimOp::create(b, loc, temp, 0).getResult(),
                             b.getIndexAttr(heads), len},
      ArrayRef<OpFoldResult>{cb.mul(len, cb.index(heads)), b.getIndexAttr(1),
                             b.getIndexAttr(heads)});
}

void LayerTiler::recordForBackward(AttentionWorkItem &item) {
  if (!backward)
    return;
  item.lse = getLseView();
  // The runtime mask of each head, for the key items, which visit every
  // query head of their group.
  Value first = cb.andI(cb.cmpI(arith::CmpIPredicate::eq, batch, cb.index(0)),
                        cb.cmpI(arith::CmpIPredicate::eq, tile, cb.index(0)));
  cb.ifThen(first, [&] {
    Value byte = arith::ExtUIOp::create(b, loc, b.getI8Type(), alive);
    memref::StoreOp::create(b, loc, byte, entry->getArgument(aliveTemp),
                            ValueRange{cb.index(0), cb.index(0), head});
  });
}

Value LayerTiler::getGradientView(Value operand) {
  auto split = operand.getDefiningOp<SplitHeadsOp>();
  auto type = cast<RankedTensorType>(operand.getType());
  int64_t d = type.getDimSize(3);
  return getHeadsView(entry->getArgument(dQkvTemp),
                      getGradientColumn(split.getInput().getDefiningOp()) +
                          split.getColumnOffset(),
                      type.getDimSize(1), d, split.getHeadStride().value_or(d));
}

void LayerTiler::addRecomputationPhases() {
  phaseFlags = MHA_PHASE_RECOMPUTATION;
  addPhasesThroughAttention();
  // The normalised products in place and their 1/RMS: what the gradients
  // read, which then leave the saved activations as they are.
  addInputNormPhase();
  if (parts.outputDown)
    addGemmPhase({parts.outputDown});
  phaseFlags = MHA_PHASE_FORWARD_OUTPUT;
  emitPackingPhase(MHA_PHASE_FORWARD_OUTPUT);
  SmallVector<LinearPlan, 4> output = getPlans({parts.output});
  if (outBf16Temp) {
    // y from O rounded to bf16, as the forward computes it (on bf16 pairs
    // where the copy has them).
    Value rounded = entry->getArgument(*outBf16Temp);
    addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
      emitRoundRows(entry->getArgument(outTemp), rounded,
                    shape.numHeads * shape.valueDim);
      return int64_t(1);
    });
    for (LinearPlan &plan : output)
      plan.x = rounded;
  }
  addPlansPhase(output);
  phaseFlags = 0;
}

void LayerTiler::addAttentionBackwardPhases() {
  AttentionOp attention = parts.attention;
  BackwardWorkItem item;
  item.q = getAttentionView(attention.getQuery());
  item.k = getAttentionView(attention.getKey());
  item.v = getAttentionView(attention.getValue());
  item.o = getAttentionView(attention.getOutput());
  item.lse = getLseView();
  item.dout = getHeadsView(entry->getArgument(dOutTemp), 0, shape.numHeads,
                           shape.valueDim, shape.valueDim);
  item.dq = getGradientView(attention.getQuery());
  item.dk = getGradientView(attention.getKey());
  item.dv = getGradientView(attention.getValue());
  Value aliveBytes = entry->getArgument(aliveTemp);
  item.aliveMask = memref::ReinterpretCastOp::create(
      b, loc, MemRefType::get({shape.numHeads}, b.getI8Type()), aliveBytes,
      b.getIndexAttr(0), ArrayRef<OpFoldResult>{b.getIndexAttr(shape.numHeads)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  item.callWords = callWords;
  item.batch = batch;
  item.head = head;
  item.tile = tile;
  item.alive = alive;
  // Sequences of different lengths: packed (the same offsets for queries
  // and keys) or padded (kv_lens = q_lens); the key items run on the
  // sequences' grid too.
  auto argFor = [&](Value v) -> Value {
    return v ? getParameterArgument(func, *entry, v) : Value();
  };
  item.cuSeqlensQ = argFor(attention.getCuSeqlensQ());
  item.cuSeqlensK = argFor(attention.getCuSeqlensK());
  item.qLens = argFor(attention.getQLens());
  item.kvLens = argFor(attention.getKvLens());
  int64_t keyPhase =
      attention.hasServingOperands() ? MHA_PHASE_SEQUENCES : MHA_PHASE_PLAIN;
  addPhase(backwardItems.getGridKeys(), keyPhase, [&] {
    emitBackwardWorkItem(b, module, name, attention, backwardItems, item,
                         BackwardItemKind::key);
    return shape.numKvHeads;
  });
  addPhase(backwardItems.rows, MHA_PHASE_MASKED, [&] {
    emitBackwardWorkItem(b, module, name, attention, backwardItems, item,
                         BackwardItemKind::query);
    return shape.numHeads;
  });
}

void LayerTiler::addRopeBackwardPhase() {
  if (!ropeTheta)
    return;
  // The first rotated column of every live rotated head, in dQKV.
  SmallVector<int64_t> heads;
  for (const LinearPlan &plan : plans) {
    if (!plan.rope)
      continue;
    int64_t first = getGradientColumn(plan.op) + plan.yOffset + plan.ropeOffset;
    for (int64_t block : plan.blocks)
      for (int64_t r : plan.liveReplicas)
        heads.push_back(first + r * plan.n + block * plan.colBlock);
  }
  if (heads.empty())
    return;
  int64_t half = ropeDim / 2;
  addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
    ConstantTables tables(cb, module, name);
    Value g = entry->getArgument(dQkvTemp);
    auto [row0, rows] = getRowTile();
    cb.forLoop(row0, cb.add(row0, rows), 1, [&](Value l) {
      cb.forLoop(cb.index(0), cb.index(heads.size()), 1, [&](Value i) {
        Value c0 = tables.index("rope_grad_heads", heads, i);
        cb.forLoop(cb.index(0), cb.index(half), 1, [&](Value t) {
          // The forward's y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin.
          Value c1 = cb.add(c0, t), c2 = cb.add(c1, cb.index(half));
          SmallVector<Value> at1{batch, l, c1}, at2{batch, l, c2};
          Value d1 = memref::LoadOp::create(b, loc, g, at1);
          Value d2 = memref::LoadOp::create(b, loc, g, at2);
          Value cos = memref::LoadOp::create(b, loc, ropeTable,
                                             ValueRange{cb.index(0), l, t});
          Value sin = memref::LoadOp::create(
              b, loc, ropeTable,
              ValueRange{cb.index(0), l, cb.add(t, cb.index(half))});
          memref::StoreOp::create(
              b, loc, cb.fadd(cb.fmul(d1, cos), cb.fmul(d2, sin)), g, at1);
          memref::StoreOp::create(
              b, loc, cb.fsub(cb.fmul(d2, cos), cb.fmul(d1, sin)), g, at2);
        });
      });
    });
    return int64_t(1);
  });
}

void LayerTiler::addLatentKeysBackwardPhase() {
  LatentKeysOp keys = parts.latentKeys;
  if (!keys)
    return;
  int64_t heads = keys.getNumHeads(), nope = keys.getNopeDim();
  int64_t rope = keys.getRopeKeyDim(), keyDim = nope + rope;
  auto columnsOf = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getDimSize(2);
  };
  int64_t kvStride = columnsOf(keys.getKv()) / heads;
  int64_t dKeys = getGradientColumn(keys);
  int64_t dKv = getGradientColumn(keys.getKv().getDefiningOp());
  int64_t dRope = getGradientColumn(keys.getLatent().getDefiningOp()) +
                  columnsOf(keys.getLatent()) - rope;
  // One item per row tile: the RoPE key's sum over the heads in a fixed
  // order.
  addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
    Value g = entry->getArgument(dQkvTemp);
    auto [row0, rows] = getRowTile();
    cb.forLoop(row0, cb.add(row0, rows), 1, [&](Value l) {
      auto load = [&](Value col) {
        return memref::LoadOp::create(b, loc, g, ValueRange{batch, l, col});
      };
      auto store = [&](Value v, Value col) {
        memref::StoreOp::create(b, loc, v, g, ValueRange{batch, l, col});
      };
      cb.forLoop(cb.index(0), cb.index(heads), 1, [&](Value h) {
        Value from = cb.add(cb.index(dKeys), cb.mul(h, cb.index(keyDim)));
        Value to = cb.add(cb.index(dKv), cb.mul(h, cb.index(kvStride)));
        cb.forLoop(cb.index(0), cb.index(nope), 1, [&](Value t) {
          store(load(cb.add(from, t)), cb.add(to, t));
        });
      });
      cb.forLoop(cb.index(0), cb.index(rope), 1, [&](Value t) {
        Value first = cb.add(cb.index(dKeys + nope), t);
        auto sum = scf::ForOp::create(
            b, loc, cb.index(0), cb.index(heads), cb.index(1),
            ValueRange{cb.f32(0)},
            [&](OpBuilder &, Location, Value h, ValueRange acc) {
              Value v = load(cb.add(first, cb.mul(h, cb.index(keyDim))));
              scf::YieldOp::create(b, loc, cb.fadd(acc[0], v));
            });
        store(sum.getResult(0), cb.add(cb.index(dRope), t));
      });
    });
    return int64_t(1);
  });
}

SmallVector<LinearOp, 2> LayerTiler::getNormalizedUps() const {
  SmallVector<LinearOp, 2> ups;
  for (LinearOp linear : parts.projections)
    if (linear.getInputRmsEps() && getDownProjection(linear))
      ups.push_back(linear);
  return ups;
}

/// The columns of its input an up projection reads (its weight's rows).
static int64_t getReducedColumns(LinearOp up) {
  return cast<RankedTensorType>(up.getWeight().getType()).getDimSize(0);
}

void LayerTiler::addInputNormPhase() {
  SmallVector<LinearOp, 2> ups = getNormalizedUps();
  if (ups.empty())
    return;
  addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
    for (auto [i, up] : llvm::enumerate(ups))
      emitRmsNormRows(
          entry->getArgument(linearTemps.lookup(getDownProjection(up))),
          getReducedColumns(up), up.getInputRmsEps()->convertToFloat(),
          entry->getArgument(rmsScaleTemp), i);
    return int64_t(1);
  });
}

void LayerTiler::addRmsNormBackwardPhase() {
  SmallVector<LinearOp, 2> ups = getNormalizedUps();
  if (ups.empty())
    return;
  addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
    Value g = entry->getArgument(dQkvTemp);
    Value scales = entry->getArgument(rmsScaleTemp);
    auto [row0, rows] = getRowTile();
    for (auto [index, up] : llvm::enumerate(ups)) {
      int64_t i = index; // The lambdas below capture it (not a binding).
      LinearOp down = getDownProjection(up);
      Value n = entry->getArgument(linearTemps.lookup(down));
      Type elt = cast<MemRefType>(n.getType()).getElementType();
      int64_t columns = getReducedColumns(up);
      Value first = cb.index(getGradientColumn(down));
      cb.forLoop(row0, cb.add(row0, rows), 1, [&](Value l) {
        auto loadN = [&](Value c) -> Value {
          Value v = memref::LoadOp::create(b, loc, n, ValueRange{batch, l, c});
          return elt.isF32() ? v
                             : arith::ExtFOp::create(b, loc, b.getF32Type(), v);
        };
        auto gradAt = [&](Value c) {
          return SmallVector<Value>{batch, l, cb.add(first, c)};
        };
        auto dot = scf::ForOp::create(
            b, loc, cb.index(0), cb.index(columns), cb.index(1),
            ValueRange{cb.f32(0)},
            [&](OpBuilder &, Location, Value c, ValueRange acc) {
              Value dn = memref::LoadOp::create(b, loc, g, gradAt(c));
              scf::YieldOp::create(b, loc,
                                   cb.fadd(acc[0], cb.fmul(dn, loadN(c))));
            });
        Value mean = cb.fdiv(dot.getResult(0), cb.f32(float(columns)));
        Value scale = memref::LoadOp::create(
            b, loc, scales, ValueRange{batch, l, cb.index(int64_t(i))});
        cb.forLoop(cb.index(0), cb.index(columns), 1, [&](Value c) {
          Value dn = memref::LoadOp::create(b, loc, g, gradAt(c));
          Value dc = cb.fmul(cb.fsub(dn, cb.fmul(loadN(c), mean)), scale);
          memref::StoreOp::create(b, loc, dc, g, gradAt(c));
        });
      });
    }
    return int64_t(1);
  });
}

/// `bias` [N] as [1, N], or row `row` of a per-head bias [H, D] as [1, D].
static Value getBiasRow(OpBuilder &b, Location loc, Value bias, int64_t row) {
  auto type = cast<MemRefType>(bias.getType());
  if (type.getRank() == 1)
    return memref::ExpandShapeOp::create(
        b, loc, ArrayRef<int64_t>{1, type.getDimSize(0)}, bias,
        ArrayRef<ReassociationIndices>{{0, 1}});
  return memref::SubViewOp::create(
      b, loc, bias,
      ArrayRef<OpFoldResult>{b.getIndexAttr(row), b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                             b.getIndexAttr(type.getDimSize(1))},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

Value LayerTiler::getGradientGemmInput() {
  return entry->getArgument(roundedGradients() ? *dQkvBf16Temp : dQkvTemp);
}

void LayerTiler::addRoundGradientsPhase() {
  if (!dQkvBf16Temp)
    return;
  addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
    if (roundedGradients())
      emitRoundRows(entry->getArgument(dQkvTemp),
                    entry->getArgument(*dQkvBf16Temp), dQkvColumns);
    return int64_t(1);
  });
}

void LayerTiler::emitRoundRows(Value from, Value to, int64_t columns) {
  int64_t vw = kernel.vw, whole = columns / vw * vw;
  auto [row0, rows] = getRowTile();
  cb.forLoop(row0, cb.add(row0, rows), 1, [&](Value l) {
    auto round = [&](Value c, Value valid) {
      Value v = valid
                    ? vec::loadTail(cb, vw, from, {batch, l}, c, valid)
                    : vector::LoadOp::create(b, loc, vec::getF32Vector(cb, vw),
                                             from, ValueRange{batch, l, c});
      vec::storeVector(cb, vw, v, to, {batch, l}, c, valid);
    };
    cb.forLoop(cb.index(0), cb.index(whole), vw,
               [&](Value c) { round(c, Value()); });
    if (whole < columns)
      round(cb.index(whole), cb.index(columns - whole));
  });
}

void LayerTiler::addInputGradientPhases() {
  // dT = dY B^T of the low-rank projections, then dx.
  if (!factorGrads.empty())
    addPlansPhase(factorGrads);
  addRmsNormBackwardPhase();
  addRoundGradientsPhase();
  addPlansPhase({inputGrad});
  SmallVector<WeightGrad> grads;
  Value dQkv = getGradientGemmInput();
  // dA = x^T dT of a low-rank weight's down factor A ([rows, r]).
  auto addFactorGrad = [&](Value a, LinearOp down) {
    Value dw = getGradient(down.getWeight());
    auto type = cast<MemRefType>(dw.getType());
    grads.push_back({a, dQkv, dw, type.getDimSize(0), type.getDimSize(1), 0,
                     getGradientColumn(down), 1, 0});
  };
  for (LinearOp linear : parts.projections) {
    int64_t col = getGradientColumn(linear);
    int64_t replicas = linear.getReplicas();
    int64_t headDim = linear.getHeadDim().value_or(0);
    // A low-rank projection's input is x A; its weight is B.
    LinearOp down = getDownProjection(linear);
    Value x = down ? entry->getArgument(linearTemps.lookup(down)) : layerInput;
    if (down)
      addFactorGrad(layerInput, down);
    for (const WeightPart &part : getWeightParts(linear)) {
      Value dw = getGradient(part.weight);
      int64_t rows = cast<MemRefType>(dw.getType()).getDimSize(0);
      if (replicas == 1) {
        grads.push_back(
            {x, dQkv, dw, rows, part.columns, 0, col + part.column, 1, 0});
      } else {
        // Group j's columns sum the gradients of its `replicas` heads,
        // D apart in dQKV from head j * replicas.
        for (int64_t j = 0; j * headDim < part.columns; ++j)
          grads.push_back({x, dQkv, dw, rows, headDim, j * headDim,
                           col + j * (replicas - 1) * headDim, replicas,
                           headDim});
      }
      if (!part.bias)
        continue;
      // The bias's gradient: the column sums of its columns of dQKV.
      Value db = getGradient(part.bias);
      auto biasType = cast<MemRefType>(db.getType());
      int64_t biasRows = biasType.getRank() == 1 ? 1 : biasType.getDimSize(0);
      int64_t width = biasType.getRank() == 1 ? biasType.getDimSize(0)
                                              : biasType.getDimSize(1);
      // (Summed from the f32 dQKV: no product to pair.)
      for (int64_t r = 0; r < biasRows; ++r)
        grads.push_back({Value(), entry->getArgument(dQkvTemp),
                         getBiasRow(b, loc, db, r), 1, width, 0,
                         col + part.column + r * width, 1, 0});
    }
  }
  // dWo = O^T dy (with Wo = A_o B_o: dB_o = (O A_o)^T dy, dA_o = O^T
  // dT_o) and dbo.
  Value dy = entry->getArgument(func.getNumArguments());
  Value dwo = getGradient(parts.output.getWeight());
  auto woType = cast<MemRefType>(dwo.getType());
  Value outputInput = entry->getArgument(outTemp);
  if (parts.outputDown) {
    addFactorGrad(outputInput, parts.outputDown);
    outputInput = entry->getArgument(linearTemps.lookup(parts.outputDown));
  }
  grads.push_back({outputInput, dy, dwo, woType.getDimSize(0),
                   woType.getDimSize(1), 0, 0, 1, 0});
  if (Value bo = parts.output.getBias())
    grads.push_back({Value(), dy, getBiasRow(b, loc, getGradient(bo), 0), 1,
                     cast<MemRefType>(dy.getType()).getDimSize(2), 0, 0, 1, 0});
  addWeightGradPhase(grads);
}

void LayerTiler::addWeightGradPhase(ArrayRef<WeightGrad> grads) {
  addPhase(kWholeSequence, MHA_PHASE_PLAIN, [&] {
    int64_t start = 0;
    // Each gradient's blocks, side by side in one grid of batch 0.
    Value first = cb.cmpI(arith::CmpIPredicate::eq, batch, cb.index(0));
    cb.ifThen(first, [&] {
      for (const WeightGrad &grad : grads) {
        int64_t rowBlocks = (grad.rows + kWeightGradRows - 1) / kWeightGradRows;
        int64_t colBlocks =
            (grad.columns + kWeightGradColumns - 1) / kWeightGradColumns;
        int64_t count = rowBlocks * colBlocks;
        Value inRange = cb.andI(cb.ge(head, cb.index(start)),
                                cb.lt(head, cb.index(start + count)));
        cb.ifThen(inRange, [&] {
          Value local = cb.sub(head, cb.index(start));
          Value row0 = cb.mul(cb.divUI(local, cb.index(colBlocks)),
                              cb.index(kWeightGradRows));
          Value col0 =
              cb.mul(arith::RemUIOp::create(b, loc, local, cb.index(colBlocks)),
                     cb.index(kWeightGradColumns));
          Value rows = cb.minSI(cb.index(kWeightGradRows),
                                cb.sub(cb.index(grad.rows), row0));
          Value cols = cb.minSI(cb.index(kWeightGradColumns),
                                cb.sub(cb.index(grad.columns), col0));
          WeightGradTileOp::create(
              b, loc, grad.a, grad.g, grad.dw, row0, rows,
              cb.add(col0, cb.index(grad.columnOffset)), cols,
              /*a_offset=*/0, grad.gOffset, grad.replicas, grad.replicaStride,
              kernel.vw, kWeightGradRows, kWeightGradColumns,
              /*bf16_pairs=*/grad.a && kernel.bf16Pairs);
        });
        start += count;
      }
    });
    return start;
  });
}

LogicalResult LayerTiler::runBackward(ArrayRef<TensorRole> argRoles) {
  backward = true;
  name += "_backward";
  if (failed(addGradientParameters(argRoles)))
    return failure();
  // The layer's dq is an f32 temporary: whole heads sum in it in place
  // (on bf16 pairs of Q, K, V and dO in a bf16 layer's copy with pairs).
  FailureOr<BackwardItemChoice> items =
      chooseBackwardItems(parts.attention, kernel.vw, 0, 0,
                          WholeHeadItems::inPlace, kernel.bf16Pairs);
  if (failed(items))
    return failure();
  backwardItems = *items;
  planGemms();
  planBackwardGemms();
  if (failed(addTemporaries()))
    return failure();
  // What the recomputation writes and the gradients read: the forward's
  // temporaries but the packed weights (and, below, lse, the alive bytes
  // and the norms' 1/RMS).
  for (int64_t &tempShape : tempShapes)
    if (tempShape != MHA_TEMP_FIXED)
      tempShape |= MHA_TEMP_SAVED;
  addBackwardTemporaries();
  addTrailingArguments();
  createKernel();
  setBackwardMemRefs();
  addRecomputationPhases();
  emitPackingPhase(/*flags=*/0); // The gradients' transposed weights.
  // dO = dy Wo^T, or with Wo = A_o B_o: dT_o = dy B_o^T, dO = dT_o A_o^T
  // (O A_o, which dB_o reads, is recomputed with the forward).
  if (outputFactorGrad)
    addPlansPhase({*outputFactorGrad});
  addPlansPhase({outputGrad});
  addAttentionBackwardPhases();
  addLatentKeysBackwardPhase();
  addRopeBackwardPhase();
  addInputGradientPhases();
  if (failed(finishKernel()))
    return failure();
  // The backward items' packing transposes become shuffles now, as in
  // mha-tile-backward.
  RewritePatternSet transposes(ctx);
  vector::populateVectorTransposeLoweringPatterns(
      transposes, vector::VectorTransposeLowering::Shuffle16x16);
  return applyPatternsGreedily(kernelFunc, std::move(transposes));
}
