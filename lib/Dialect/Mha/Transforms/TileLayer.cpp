//===- TileLayer.cpp - Expanded layers to phased kernels --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-tile for a function computing an expanded layer (mha-expand-layer):
// one kernel whose work items belong to phases the runtime runs in order,
// each over its own grid (#mha.layer_plan):
//
//   packing      the weights that are arguments packed once per call into
//                the panels of their column blocks (mha.pack_panel)
//   rope table   cos/sin of every (position, frequency), from f64 angles
//                (per sequence in a decoding step: kv_lens[s] + l)
//   projections  Q, K, V = x W (+ b), RoPE; one item = a row tile of one
//                head's columns (K and V items beside Q's in one grid)
//   latent keys  a latent layer's keys: each head's key part beside the
//                RoPE key all heads share (mha.latent_keys), copied
//   latent norm  an absorbed latent step's latent divided by its RMS
//                (mha.rms_norm), in place
//   absorption   an absorbed latent step's queries times each head's slice
//                of Wv (mha.head_linear -> mha.head_gemm); after the
//                attention, its output times the other slice
//   append       a decoding step's new keys and values written into the
//                caller's caches at positions kv_lens[s] + l (mha.append_kv)
//   attention    the flash work items of mha.attention, reading Q, K, V and
//                writing O through [B, H, L, D] strided views of the
//                [B, L, H*D] temporaries: no transpose is ever stored
//   output       y = O Wo (+ bo); one item = a row tile of a column block
//
// The temporaries are allocated by the runtime per call: bf16 for bf16
// layers (the projections round to the element type, as SPEC.md allows, and
// the attention and output GEMM read half the bytes), f32 otherwise. Each
// GEMM item is one mha.gemm_tile whose register blocking (MR rows by NV
// vectors of f32 accumulators, kept in registers over a K-block of the
// item's packed weight columns that stays in L2) and epilogue (bias, RoPE,
// replicas) are attributes; convert-mha-to-vector writes its vector code.
// With AVX512-BF16 (bf16 layers, bf16-dot) the weights are packed as pairs
// of rows and the micro-kernels use vdpbf16ps.
//
// This file is the driver: the kernel's signature and temporaries, and the
// phases. The layer's parts are found by LayerMatching.cpp, the GEMM work
// planned by LayerGemmPlan.cpp.
//
//===----------------------------------------------------------------------===//

#include "LayerTiler.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/Constants.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

#define DEBUG_TYPE "mha-tile"

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::layer;

void LayerTiler::addParameters(ArrayRef<TensorRole> argRoles) {
  AttentionOp attention = parts.attention;
  for (auto [arg, role] : llvm::zip(func.getArguments(), argRoles))
    params.push_back({arg.getType(), role});
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value v : ret.getOperands()) {
    // The updated caches: the caller's, written in place.
    if (parts.append && v.getDefiningOp() == parts.append.getOperation())
      continue;
    params.push_back(
        {v.getType(), v == Value(parts.output)    ? TensorRole::layer_output
                      : v == attention.getLse()   ? TensorRole::lse
                      : v == attention.getProbs() ? TensorRole::probs
                                                  : TensorRole::entropy});
  }
  signature = buildKernelSignature(ctx, params);
  argTypes = signature.argTypes;
}

/// Whether `plan`'s int8 weight can be multiplied in integers: it reads x
/// or all of the attention output (quantized once for all their GEMMs;
/// pruned heads leave columns of O unwritten, which a row's scale must not
/// see). SpecProblem.cpp's float64 reference follows the same rule.
static bool isInt8Eligible(const LinearPlan &plan) {
  LinearOp op = plan.op;
  Value input = op.getInput();
  if (op.getInputRmsEps() || op.getLiveInputBlocks())
    return false;
  if (!QuantizedOp::hasQuadGroups(plan.groupSize, plan.k))
    return false;
  return isa<BlockArgument>(input) || input.getDefiningOp<MergeHeadsOp>();
}

void LayerTiler::planGemms() {
  auto plan = [&](LinearOp linear, StringRef prefix) {
    for (const WeightPart &part : getWeightParts(linear))
      for (LinearPlan &p : planLinear(
               linear, part, prefix.str() + std::to_string(plans.size())))
        plans.push_back(std::move(p));
  };
  for (LinearOp linear : parts.downProjections)
    plan(linear, "down");
  for (LinearOp linear : parts.projections)
    plan(linear, "proj");
  if (parts.outputDown)
    plan(parts.outputDown, "outdown");
  // The output projection is never replicated: one plan. A backward
  // computes y for <name>_forward_train only (addRecomputationPhases).
  plan(parts.output, "out");
  for (LinearPlan &p : plans) {
    p.constantWeight = getDenseConstant(p.weightValue);
    p.constantScale = getDenseConstant(p.scaleValue);
    // The temporaries and phases of the int8 path exist in every ISA's
    // copy (they share one signature); only the VNNI copy uses them.
    p.quantizedInput = p.scaleValue && isInt8Eligible(p);
    p.int8 = kernel.int8Dot && p.quantizedInput;
    // A backward keeps the attention output in f32 (addTemporaries); a
    // bf16 layer's y reads it rounded to bf16 (outBf16Temp).
    bool f32Input = backward &&
                    LinearOp(p.op).getInput().getDefiningOp<MergeHeadsOp>() &&
                    !(p.op == parts.output && outputReadsRoundedO());
    if (p.constantWeight) {
      p.pairs = kernel.bf16Pairs && !f32Input;
      planPacking(p, kernel, 0);
      continue;
    }
    packedAtRunTime.push_back(&p);
    if (!p.quantizedInput) {
      placePanels(p, f32Input);
      continue;
    }
    // The int8 panels as the AVX-512 VNNI copy lays them out.
    LinearPlan quads = p;
    quads.int8 = true;
    packedInt8Size = planPacking(
        quads, GemmKernel::get(16, /*bf16Pairs=*/false, /*int8Dot=*/true),
        packedInt8Size);
    if (p.int8)
      p = quads;
    else
      placePanels(p, f32Input);
  }
}

void LayerTiler::placePanels(LinearPlan &plan, bool f32Input) {
  // Only a bf16 layer's backward mixes bf16 inputs (x, dy) with f32 ones
  // (O, dQKV); an f32 layer's panels stay in one temporary.
  plan.f32Input = f32Input && getElementTypeOrSelf(parts.input).isBF16();
  plan.pairs = kernel.bf16Pairs && !f32Input;
  int64_t &size = plan.f32Input ? packedF32Size : packedSize;
  size = planPacking(plan, kernel, size);
}

Value LayerTiler::getPackedTemp(const LinearPlan &plan) const {
  if (plan.int8)
    return entry->getArgument(*packedInt8Temp);
  return entry->getArgument(plan.f32Input ? *packedF32Temp : *packedTemp);
}

SmallVector<LinearPlan, 4>
LayerTiler::getPlans(ArrayRef<LinearOp> linears) const {
  SmallVector<LinearPlan, 4> selected;
  for (const LinearPlan &p : plans)
    if (llvm::is_contained(linears, p.op))
      selected.push_back(p);
  return selected;
}

unsigned LayerTiler::addTemp(int64_t cols, int64_t tempShape, Type elt,
                             int64_t bytes) {
  tempCols.push_back(cols);
  tempShapes.push_back(tempShape);
  tempBytes.push_back(bytes ? bytes : elt.getIntOrFloatBitWidth() / 8);
  argTypes.push_back(MemRefType::get(
      {tempShape == MHA_TEMP_PER_BATCH ? ShapedType::kDynamic : 1,
       tempShape == MHA_TEMP_FIXED ? 1 : ShapedType::kDynamic, cols},
      elt));
  return argTypes.size() - 1;
}

LogicalResult LayerTiler::addTemporaries() {
  SmallVector<LinearOp> temps(parts.downProjections);
  llvm::append_range(temps, parts.projections);
  if (parts.outputDown)
    temps.push_back(parts.outputDown);
  // A temporary per result, of the result's columns and element type
  // (an absorbed latent step's attention works in its cache's type).
  auto addResultTemp = [&](Operation *op) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    return addTemp(type.getDimSize(2), MHA_TEMP_PER_BATCH,
                   type.getElementType());
  };
  SmallVector<Operation *> results(temps.begin(), temps.end());
  for (Operation *op :
       {parts.latentKeys.getOperation(), parts.absorbQuery.getOperation(),
        parts.absorbOutput.getOperation()})
    if (op)
      results.push_back(op);
  for (Operation *op : results)
    linearTemps[op] = addResultTemp(op);
  // The latent is normalised in place.
  if (RmsNormOp norm = parts.latentNorm)
    linearTemps[norm] = linearTemps.at(norm.getInput().getDefiningOp());
  // A backward keeps O in f32: D_i = dO . O of the attention's gradient
  // then matches its f32 probabilities (a rounded O leaves D_i - sum_j P
  // dP, which every gradient of the row carries, at O's rounding level).
  Operation *merge = *parts.attention.getOutput().getUsers().begin();
  outTemp = backward
                ? addTemp(cast<RankedTensorType>(merge->getResult(0).getType())
                              .getDimSize(2),
                          MHA_TEMP_PER_BATCH, Float32Type::get(ctx))
                : addResultTemp(merge);
  // One RoPE table: every rotated projection (a latent layer's latent too)
  // has the same angles.
  for (LinearOp linear : temps)
    if (auto theta = linear.getRopeTheta()) {
      int64_t dim = linear.getRopeDim().value_or(*linear.getHeadDim());
      if ((ropeTheta && *ropeTheta != theta->convertToFloat()) ||
          (ropeDim && ropeDim != dim))
        return linear.emitError()
               << "the projections of a layer must share rope_theta and "
                  "rope_dim";
      ropeTheta = theta->convertToFloat();
      ropeDim = dim;
    }
  // A decoding step's positions differ per sequence: a table per batch
  // element.
  if (ropeTheta)
    ropeTemp =
        addTemp(ropeDim, parts.append ? MHA_TEMP_PER_BATCH : MHA_TEMP_PER_TOKEN,
                Float32Type::get(ctx));
  // The signature of the exported (f32-packing) copy sizes it for all
  // copies, 4 bytes per element: bf16 pair panels, odd segments rounded
  // up, take less than half the bytes of f32 ones.
  // Present in every copy alike (the other copies pack int8 weights as
  // floats), though the VNNI copy may pack no float weight.
  if (!packedAtRunTime.empty())
    packedTemp = addTemp(std::max<int64_t>(packedSize, 1), MHA_TEMP_FIXED,
                         kernel.getPackedType(ctx), /*bytes=*/4);
  if (packedF32Size > 0)
    packedF32Temp =
        addTemp(packedF32Size, MHA_TEMP_FIXED, Float32Type::get(ctx));
  if (packedInt8Size > 0)
    packedInt8Temp =
        addTemp(packedInt8Size, MHA_TEMP_FIXED, IntegerType::get(ctx, 8));
  // The int8 copies of what int8 plans read, padded to whole quads.
  for (const LinearPlan &p : plans) {
    Value input = LinearOp(p.op).getInput();
    if (!p.quantizedInput || quantizedInputs.contains(input))
      continue;
    int64_t k = cast<RankedTensorType>(input.getType()).getDimSize(2);
    unsigned values =
        addTemp(roundUp(k, 4), MHA_TEMP_PER_BATCH, IntegerType::get(ctx, 8));
    unsigned scales = addTemp(1, MHA_TEMP_PER_BATCH, Float32Type::get(ctx));
    quantizedInputs[input] = {values, scales};
  }
  return success();
}

void LayerTiler::addTrailingArguments() {
  // The call words follow the temporaries (KernelAbi.h), then a splitting
  // step's partial outputs, partial lse and arrival counts.
  argTypes.push_back(getCallWordsType(ctx));
  if (splitsKeys()) {
    Type f32 = Float32Type::get(ctx);
    int64_t dyn = ShapedType::kDynamic;
    argTypes.append({MemRefType::get({dyn, shape.valueDim}, f32),
                     MemRefType::get({dyn}, f32),
                     MemRefType::get({dyn}, IntegerType::get(ctx, 32))});
  }
  IndexType indexType = IndexType::get(ctx);
  argTypes.append(
      {indexType, indexType, indexType, indexType, IntegerType::get(ctx, 1)});
}

void LayerTiler::createKernel() {
  kernelFunc = createKernelFunction(b, loc, name, argTypes, tiles.rows,
                                    shape.numHeads, signature);
  entry = kernelFunc.addEntryBlock();
  b.setInsertionPointToStart(entry);

  unsigned first = params.size() + tempCols.size();
  kernelFunc->setAttr(kCallWordsAttrName, UnitAttr::get(ctx));
  callWords = entry->getArgument(first++);
  if (splitsKeys()) {
    splitOutputs = entry->getArgument(first++);
    splitLse = entry->getArgument(first++);
    splitArrivals = entry->getArgument(first++);
    kernelFunc->setAttr(kSplitKvAttrName,
                        b.getDenseI64ArrayAttr(
                            {shape.numKvHeads, shape.valueDim,
                             findParameter(params, TensorRole::key_cache),
                             findParameter(params, TensorRole::block_table)}));
  }
  phase = entry->getArgument(first);
  batch = entry->getArgument(first + 1);
  head = entry->getArgument(first + 2);
  tile = entry->getArgument(first + 3);
  alive = entry->getArgument(first + 4);
  auto argFor = [&](Value v) -> Value {
    return v ? getParameterArgument(func, *entry, v) : Value();
  };
  Value x = layerInput = argFor(parts.input);
  len = memref::DimOp::create(b, loc, x, 1);
  ropeTable = ropeTemp ? entry->getArgument(*ropeTemp) : Value();
  auto setMemRefs = [&](LinearPlan &plan, Value input, Value output) {
    plan.x = input;
    plan.y = output;
    if (plan.constantWeight) {
      plan.panels = getConstantMemRef(packConstantWeight(plan),
                                      (name + "__" + plan.name + "_packed"));
    } else {
      plan.w = argFor(plan.weightValue);
      plan.scale = argFor(plan.scaleValue);
      plan.panels = getPackedTemp(plan);
    }
    // An int8 plan reads the int8 copy of its input (its panels hold the
    // weight's scales).
    if (plan.int8) {
      auto [values, scales] = quantizedInputs.at(plan.op.getInput());
      plan.x = entry->getArgument(values);
      plan.inputScale = entry->getArgument(scales);
    }
    if (DenseElementsAttr bias = getDenseConstant(plan.biasValue))
      plan.bias = getConstantMemRef(bias, name + "__" + plan.name + "_bias");
    else
      plan.bias = argFor(plan.biasValue);
    if (plan.replicas > 1)
      viewGroup(plan);
  };
  // What a linear reads or writes: x, the attention output or a temporary.
  auto memrefOf = [&](Value v) -> Value {
    if (v == parts.input)
      return x;
    if (v.getDefiningOp<MergeHeadsOp>())
      return entry->getArgument(outTemp);
    return entry->getArgument(linearTemps.at(v.getDefiningOp()));
  };
  for (LinearPlan &plan : plans) {
    LinearOp op = plan.op;
    setMemRefs(plan, memrefOf(op.getInput()),
               op == parts.output ? argFor(op.getResult())
                                  : memrefOf(op.getResult()));
  }
}

void LayerTiler::addPhase(int64_t rows, int64_t kind,
                          function_ref<int64_t()> body) {
  int64_t p = phaseHeads.size();
  int64_t heads = 0;
  cb.ifThen(cb.cmpI(arith::CmpIPredicate::eq, phase, cb.index(p)),
            [&] { heads = body(); });
  phaseHeads.push_back(heads);
  phaseRows.push_back(rows);
  phaseKinds.push_back(kind | phaseFlags);
}

int64_t
LayerTiler::forEachBlock(ArrayRef<LinearPlan> grid,
                         function_ref<void(const LinearPlan &, Value)> body) {
  int64_t start = 0;
  for (const LinearPlan &plan : grid) {
    int64_t count = plan.blocks.size();
    Value inRange = cb.andI(cb.ge(head, cb.index(start)),
                            cb.lt(head, cb.index(start + count)));
    cb.ifThen(inRange, [&] { body(plan, cb.sub(head, cb.index(start))); });
    start += count;
  }
  return start;
}

Value LayerTiler::getConstantMemRef(DenseElementsAttr value, StringRef symbol) {
  auto type = MemRefType::get(value.getType().getShape(),
                              value.getType().getElementType());
  if (!module.lookupSymbol(symbol)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    memref::GlobalOp::create(b, loc, symbol, b.getStringAttr("private"), type,
                             value, /*constant=*/true, b.getI64IntegerAttr(64));
  }
  return memref::GetGlobalOp::create(b, loc, type, symbol);
}

void LayerTiler::viewGroup(LinearPlan &plan) {
  auto subview = [&](Value m, ArrayRef<int64_t> offsets,
                     ArrayRef<int64_t> sizes) -> Value {
    SmallVector<OpFoldResult> o, z, st;
    for (auto [offset, size] : llvm::zip(offsets, sizes)) {
      o.push_back(b.getIndexAttr(offset));
      z.push_back(b.getIndexAttr(size));
      st.push_back(b.getIndexAttr(1));
    }
    return memref::SubViewOp::create(b, loc, m, o, z, st);
  };
  // The weight is packed from its columns [groupColumn, + headDim)
  // (emitPackItem).
  if (!plan.bias)
    return;
  // The bias of the group's heads: rows, or their span of a flat bias.
  if (cast<MemRefType>(plan.bias.getType()).getRank() == 2)
    plan.bias =
        subview(plan.bias, {plan.groupHead, 0}, {plan.replicas, plan.headDim});
  else
    plan.bias = subview(plan.bias, {plan.groupHead * plan.headDim},
                        {plan.replicas * plan.headDim});
}

Value LayerTiler::getPanel(const LinearPlan &plan, Value local) {
  auto type = MemRefType::get(
      {plan.packedRows, plan.panelWidth}, getPanelType(plan),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {plan.panelWidth, 1}));
  Value offset = cb.add(cb.index(plan.packOffset),
                        cb.mul(local, cb.index(plan.panelSize)));
  return memref::ReinterpretCastOp::create(
      b, loc, type, plan.panels, OpFoldResult(offset),
      ArrayRef<OpFoldResult>{b.getIndexAttr(plan.packedRows),
                             b.getIndexAttr(plan.panelWidth)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(plan.panelWidth),
                             b.getIndexAttr(1)});
}

void LayerTiler::emitPackItem(const LinearPlan &plan, Value local) {
  ConstantTables tables(cb, module, name);
  Value block = tables.index(plan.name + "_blocks", plan.blocks, local);
  Value col0 = cb.mul(block, cb.index(plan.colBlock));
  Value cols =
      cb.minSI(cb.index(plan.colBlock), cb.sub(cb.index(plan.n), col0));
  Value weightCol0 = cb.add(col0, cb.index(plan.groupColumn));
  Value panel = getPanel(plan, local);
  for (auto [s, segment, row] :
       llvm::enumerate(plan.segments, plan.segmentRows)) {
    auto [start, length] = segment;
    int64_t rows = GemmTileOp::getSegmentPanelRows(
        length, plan.panelWidth / plan.colPad, plan.kc);
    Value part = memref::SubViewOp::create(
        b, loc, panel,
        ArrayRef<OpFoldResult>{b.getIndexAttr(row), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(rows),
                               b.getIndexAttr(plan.panelWidth)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    // A backward's segment: rows of W^T from its own weight.
    bool transposed = !plan.transposedMemRefs.empty();
    PackPanelOp::create(
        b, loc, transposed ? plan.transposedMemRefs[s] : plan.w, plan.scale,
        part, cb.index(transposed ? plan.transposedColumns[s] : start),
        cb.index(length), weightCol0, cols, kernel.vw, plan.int4,
        plan.int8 ? b.getI64IntegerAttr(plan.kc) : nullptr, transposed);
  }
}

void LayerTiler::emitProjectionItem(const LinearPlan &plan, Value local,
                                    Value block) {
  auto [row0, rows] = getRowTile();
  Value col0 = cb.mul(block, cb.index(plan.colBlock));
  Value cols =
      cb.minSI(cb.index(plan.colBlock), cb.sub(cb.index(plan.n), col0));
  Value cs = memref::AllocaOp::create(
      b, loc, MemRefType::get({kProjectionRows, plan.colPad}, b.getF32Type()),
      ValueRange{}, b.getI64IntegerAttr(64));
  Value panel = getPanel(plan, local);
  SmallVector<int64_t> segments;
  for (auto [start, length] : plan.segments)
    segments.append({start, length});
  GemmTileOp::create(
      b, loc, plan.x, panel, plan.bias, plan.rope ? ropeTable : Value(),
      plan.inputScale, plan.y, cs, batch, row0, rows, col0, cols, segments,
      plan.kc, kernel.vw, kernel.rows, kernel.vectors, plan.yOffset, plan.n,
      plan.liveReplicas, plan.ropeOffset, plan.inputRmsEps);
}

void LayerTiler::addQuantizePhase(Value source) {
  auto it = quantizedInputs.find(source);
  if (it == quantizedInputs.end())
    return;
  unsigned values = it->second.first, scales = it->second.second;
  addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
    Value input = source == parts.input
                      ? getParameterArgument(func, *entry, source)
                      : entry->getArgument(outTemp);
    auto [row0, rows] = getRowTile();
    // The other copies multiply the widened weights: nothing to do.
    if (kernel.int8Dot)
      QuantizeRowsOp::create(b, loc, input, entry->getArgument(values),
                             entry->getArgument(scales), batch, row0, rows);
    return int64_t(1);
  });
}

void LayerTiler::emitLatentKeys() {
  LatentKeysOp keys = parts.latentKeys;
  auto temp = [&](Value v) {
    return entry->getArgument(linearTemps.at(v.getDefiningOp()));
  };
  Value kv = temp(keys.getKv()), latent = temp(keys.getLatent());
  Value y = temp(keys.getOutput());
  int64_t heads = keys.getNumHeads(), nope = keys.getNopeDim();
  int64_t rope = keys.getRopeKeyDim();
  int64_t kvStride = cast<MemRefType>(kv.getType()).getDimSize(2) / heads;
  int64_t ropeStart = cast<MemRefType>(latent.getType()).getDimSize(2) - rope;
  auto [row0, rows] = getRowTile();
  Value rowEnd = cb.add(row0, rows);
  Value yHead = cb.mul(head, cb.index(nope + rope));
  Value kvHead = cb.mul(head, cb.index(kvStride));
  // Plain loops over contiguous columns: LLVM vectorizes the copies.
  auto copy = [&](Value src, Value srcCol, Value l, Value yCol, int64_t n) {
    cb.forLoop(cb.index(0), cb.index(n), 1, [&](Value t) {
      Value x = memref::LoadOp::create(b, loc, src,
                                       ValueRange{batch, l, cb.add(srcCol, t)});
      memref::StoreOp::create(b, loc, x, y,
                              ValueRange{batch, l, cb.add(yCol, t)});
    });
  };
  cb.forLoop(row0, rowEnd, 1, [&](Value l) {
    copy(kv, kvHead, l, yHead, nope);
    if (rope > 0)
      copy(latent, cb.index(ropeStart), l, cb.add(yHead, cb.index(nope)), rope);
  });
}

int64_t LayerTiler::emitProjections(ArrayRef<LinearPlan> grid) {
  ConstantTables tables(cb, module, name);
  return forEachBlock(grid, [&](const LinearPlan &plan, Value local) {
    Value block = tables.index(plan.name + "_blocks", plan.blocks, local);
    emitProjectionItem(plan, local, block);
  });
}

Value LayerTiler::getFlatRows(Value m) {
  auto type = cast<MemRefType>(m.getType());
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, m);
  Value batchSize = meta.getSizes()[0], rowsPerBatch = meta.getSizes()[1];
  Value rowStride = arith::SelectOp::create(
      b, loc, cb.cmpI(arith::CmpIPredicate::eq, rowsPerBatch, cb.index(1)),
      meta.getStrides()[0], meta.getStrides()[1]);
  Value rows = cb.mul(batchSize, rowsPerBatch);
  int64_t cols = type.getDimSize(2);
  int64_t dyn = ShapedType::kDynamic;
  auto flatType =
      MemRefType::get({1, dyn, cols}, type.getElementType(),
                      StridedLayoutAttr::get(ctx, dyn, {dyn, dyn, 1}));
  return memref::ReinterpretCastOp::create(
      b, loc, flatType, meta.getBaseBuffer(), OpFoldResult(meta.getOffset()),
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), rows, b.getIndexAttr(cols)},
      ArrayRef<OpFoldResult>{cb.mul(rows, rowStride), rowStride,
                             b.getIndexAttr(1)});
}

int64_t LayerTiler::emitFlatOrPerBatch(
    function_ref<int64_t(function_ref<Value(Value)>)> body) {
  Value flat =
      cb.cmpI(arith::CmpIPredicate::ne,
              memref::LoadOp::create(b, loc, callWords,
                                     ValueRange{cb.index(MHA_LAYER_FLAT_ROWS)}),
              cb.i32(0));
  int64_t items = 0;
  cb.ifThenElse(
      flat,
      [&] {
        // Batch 0 of one sequence of B L rows. A decoding step's RoPE
        // table has a row per (sequence, row) in the same order; a
        // prefill's has L rows, and gemm_tile reads row f mod L.
        Value savedBatch = batch, savedLen = len, savedTable = ropeTable;
        len = cb.mul(memref::DimOp::create(b, loc, layerInput, 0), len);
        batch = cb.index(0);
        if (ropeTable)
          ropeTable = getFlatRows(ropeTable);
        items = body([&](Value m) { return getFlatRows(m); });
        batch = savedBatch;
        len = savedLen;
        ropeTable = savedTable;
      },
      [&] { items = body([](Value m) { return m; }); });
  return items;
}

void LayerTiler::addGemmPhase(ArrayRef<LinearOp> linears) {
  addPlansPhase(getPlans(linears));
}

void LayerTiler::addPlansPhase(ArrayRef<LinearPlan> grid) {
  addPhase(kProjectionRows, MHA_PHASE_FLAT, [&] {
    return emitFlatOrPerBatch([&](function_ref<Value(Value)> rows) {
      SmallVector<LinearPlan, 4> rowGrid(grid);
      for (LinearPlan &plan : rowGrid) {
        plan.x = rows(plan.x);
        plan.y = rows(plan.y);
        if (plan.inputScale)
          plan.inputScale = rows(plan.inputScale);
      }
      return emitProjections(rowGrid);
    });
  });
}

Value LayerTiler::getWeightMemRef(Value weight, StringRef symbol) {
  if (DenseElementsAttr constant = getDenseConstant(weight))
    return getConstantMemRef(constant, symbol);
  return getParameterArgument(func, *entry, weight);
}

void LayerTiler::addAbsorbPhase(HeadLinearOp absorb) {
  Value input = absorb.getInput();
  Value x = input.getDefiningOp<MergeHeadsOp>()
                ? entry->getArgument(outTemp)
                : entry->getArgument(linearTemps.at(input.getDefiningOp()));
  Value y = entry->getArgument(linearTemps.at(absorb));
  int64_t heads = absorb.getNumHeads();
  addPhase(kProjectionRows, MHA_PHASE_FLAT, [&] {
    Value w = getWeightMemRef(absorb.getWeight(), name + "__absorbed_weight");
    return emitFlatOrPerBatch([&](function_ref<Value(Value)> rows) {
      auto [row0, count] = getRowTile();
      HeadGemmOp::create(b, loc, rows(x), w, rows(y), batch, row0, count, head,
                         heads, absorb.getWeightOffset(),
                         absorb.getTransposeWeight(), kernel.vw);
      return heads;
    });
  });
}

void LayerTiler::emitLatentNorm() {
  RmsNormOp norm = parts.latentNorm;
  emitRmsNormRows(entry->getArgument(linearTemps.at(norm)), norm.getColumns(),
                  norm.getEps().convertToFloat());
}

void LayerTiler::emitRmsNormRows(Value temp, int64_t columns, float eps,
                                 Value scales, int64_t scaleColumn) {
  Type elt = cast<MemRefType>(temp.getType()).getElementType();
  auto [row0, rows] = getRowTile();
  auto load = [&](Value l, Value c) -> Value {
    Value x = memref::LoadOp::create(b, loc, temp, ValueRange{batch, l, c});
    return elt.isF32() ? x : arith::ExtFOp::create(b, loc, b.getF32Type(), x);
  };
  cb.forLoop(row0, cb.add(row0, rows), 1, [&](Value l) {
    auto sum = scf::ForOp::create(
        b, loc, cb.index(0), cb.index(columns), cb.index(1),
        ValueRange{cb.f32(0)},
        [&](OpBuilder &, Location, Value c, ValueRange acc) {
          Value x = load(l, c);
          scf::YieldOp::create(b, loc, cb.fadd(acc[0], cb.fmul(x, x)));
        });
    Value meanEps =
        cb.fadd(cb.fdiv(sum.getResult(0), cb.f32(float(columns))), cb.f32(eps));
    Value scale = math::RsqrtOp::create(b, loc, meanEps);
    if (scales)
      memref::StoreOp::create(b, loc, scale, scales,
                              ValueRange{batch, l, cb.index(scaleColumn)});
    cb.forLoop(cb.index(0), cb.index(columns), 1, [&](Value c) {
      Value y = cb.fmul(load(l, c), scale);
      if (!elt.isF32())
        y = arith::TruncFOp::create(b, loc, elt, y);
      memref::StoreOp::create(b, loc, y, temp, ValueRange{batch, l, c});
    });
  });
}

int64_t LayerTiler::getPackingFlags(const LinearPlan &plan) const {
  if (!backward || !plan.op)
    return 0; // The forward's, or a gradient GEMM's (transposed weights).
  return plan.op == parts.output ? MHA_PHASE_FORWARD_OUTPUT
                                 : MHA_PHASE_RECOMPUTATION;
}

void LayerTiler::emitPackingPhase(int64_t flags) {
  // The weights that are arguments packed, one item per block, batch 0 and
  // one tile (its rows are "all of L"): those of the phases with `flags`.
  SmallVector<LinearPlan, 4> packing;
  for (LinearPlan *plan : packedAtRunTime)
    if (getPackingFlags(*plan) == flags)
      packing.push_back(*plan);
  if (packing.empty())
    return;
  addPhase(kWholeSequence, MHA_PHASE_PACKING | flags, [&] {
    Value first = cb.andI(cb.cmpI(arith::CmpIPredicate::eq, batch, cb.index(0)),
                          cb.cmpI(arith::CmpIPredicate::eq, tile, cb.index(0)));
    int64_t items = 0;
    cb.ifThen(first, [&] {
      items = forEachBlock(packing, [&](const LinearPlan &plan, Value local) {
        emitPackItem(plan, local);
      });
    });
    return items;
  });
}

void LayerTiler::emitRopeTable() {
  int64_t half = ropeDim / 2;
  // One table for the whole call, which batch 0's items compute, or one
  // per sequence of a decoding step, from its cache length. Packed
  // sequences (one batch element) count each row from its sequence's
  // first (and its cache length, in a step).
  Value lens = parts.append ? getParameterArgument(func, *entry,
                                                   parts.append.getKvLens())
                            : Value();
  Value offsets = parts.getPackedOffsets();
  if (offsets)
    offsets = getParameterArgument(func, *entry, offsets);
  bool perSequence = lens && !offsets;
  Value tableBatch = perSequence ? batch : cb.index(0);
  // Frequencies in f64; the angle l * freq too, so long sequences keep
  // f32 accuracy after the reduction mod 2 pi inside cos/sin.
  auto getFrequencies = [&] {
    return getRopeFrequencies(cb, module, name, double(*ropeTheta), ropeDim);
  };
  // Rows [first, end) of the table at positions l + shift.
  auto emitRows = [&](Value freqTable, Value first, Value end, Value shift) {
    cb.forLoop(first, end, 1, [&](Value l) {
      Value pos = arith::UIToFPOp::create(
          b, loc, b.getF64Type(),
          arith::IndexCastUIOp::create(b, loc, b.getI64Type(),
                                       cb.add(shift, l)));
      cb.forLoop(cb.index(0), cb.index(half), 1, [&](Value t) {
        Value freq = memref::LoadOp::create(b, loc, freqTable, t);
        Value angle = arith::MulFOp::create(b, loc, pos, freq);
        Value c = arith::TruncFOp::create(b, loc, b.getF32Type(),
                                          math::CosOp::create(b, loc, angle));
        Value s = arith::TruncFOp::create(b, loc, b.getF32Type(),
                                          math::SinOp::create(b, loc, angle));
        Value tHalf = cb.add(t, cb.index(half));
        memref::StoreOp::create(b, loc, c, ropeTable,
                                ValueRange{tableBatch, l, t});
        memref::StoreOp::create(b, loc, s, ropeTable,
                                ValueRange{tableBatch, l, tHalf});
      });
    });
  };
  auto emitTable = [&] {
    Value freqTable = getFrequencies();
    std::pair<Value, Value> tile = getRowTile();
    Value row0 = tile.first, rowEnd = cb.add(tile.first, tile.second);
    if (!offsets) {
      Value base =
          lens ? cb.indexCast(b.getIndexType(),
                              memref::LoadOp::create(b, loc, lens, batch))
               : cb.index(0);
      emitRows(freqTable, row0, rowEnd, base);
      return;
    }
    // The part of the tile in each sequence s (its rows cu[s] ..
    // cu[s+1] - 1; the last "sequence" is the rows past cu[S]).
    Value sequences =
        cb.sub(memref::DimOp::create(b, loc, offsets, 0), cb.index(1));
    auto offsetAt = [&](Value s) {
      return cb.indexCast(b.getIndexType(),
                          memref::LoadOp::create(b, loc, offsets, s));
    };
    cb.forLoop(cb.index(0), cb.add(sequences, cb.index(1)), 1, [&](Value s) {
      Value start = offsetAt(s);
      Value isSequence = cb.lt(s, sequences);
      Value stop = cb.ifValue(
          isSequence, b.getIndexType(),
          [&] { return offsetAt(cb.add(s, cb.index(1))); },
          [&] { return rowEnd; });
      Value cached = cb.index(0);
      if (lens)
        cached = cb.ifValue(
            isSequence, b.getIndexType(),
            [&] {
              return cb.indexCast(b.getIndexType(),
                                  memref::LoadOp::create(b, loc, lens, s));
            },
            [&] { return cb.index(0); });
      emitRows(freqTable, cb.maxSI(row0, start), cb.minSI(rowEnd, stop),
               cb.sub(cached, start));
    });
  };
  if (perSequence)
    emitTable();
  else
    cb.ifThen(cb.cmpI(arith::CmpIPredicate::eq, batch, cb.index(0)), emitTable);
}

Value LayerTiler::getAttentionView(Value operand) {
  // Heads at column `offset` of a [B, L, cols] temporary.
  Value flat;
  int64_t offset = 0;
  if (auto split = operand.getDefiningOp<SplitHeadsOp>()) {
    flat = entry->getArgument(linearTemps.at(split.getInput().getDefiningOp()));
    offset = split.getColumnOffset();
  } else {
    flat = entry->getArgument(outTemp);
  }
  auto type = cast<RankedTensorType>(operand.getType());
  int64_t heads = type.getDimSize(1), d = type.getDimSize(3);
  auto split = operand.getDefiningOp<SplitHeadsOp>();
  int64_t headStride = split ? split.getHeadStride().value_or(d) : d;
  return getHeadsView(flat, offset, heads, d, headStride);
}

Value LayerTiler::getHeadsView(Value flat, int64_t offset, int64_t heads,
                               int64_t d, int64_t headStride) {
  int64_t cols = cast<MemRefType>(flat.getType()).getDimSize(2);
  Value batchSize = memref::DimOp::create(b, loc, flat, 0);
  auto viewType = MemRefType::get(
      {ShapedType::kDynamic, heads, ShapedType::kDynamic, d},
      cast<MemRefType>(flat.getType()).getElementType(),
      StridedLayoutAttr::get(ctx, offset,
                             {ShapedType::kDynamic, headStride, cols, 1}));
  OpFoldResult batchStride = cb.mul(len, cb.index(cols));
  return memref::ReinterpretCastOp::create(
      b, loc, viewType, flat, b.getIndexAttr(offset),
      ArrayRef<OpFoldResult>{batchSize, b.getIndexAttr(heads), len,
                             b.getIndexAttr(d)},
      ArrayRef<OpFoldResult>{batchStride, b.getIndexAttr(headStride),
                             b.getIndexAttr(cols), b.getIndexAttr(1)});
}

void LayerTiler::emitAppend() {
  AppendKvOp append = parts.append;
  auto argFor = [&](Value v) -> Value {
    return v ? getParameterArgument(func, *entry, v) : Value();
  };
  emitAppendWorkItem(
      b, loc, module, name, /*ropeTheta=*/std::nullopt,
      {getAttentionView(append.getKeyNew()),
       append.getValueNew() ? getAttentionView(append.getValueNew()) : Value(),
       argFor(append.getKvLens()), argFor(append.getBlockTable()),
       argFor(append.getKeyCache()), argFor(append.getValueCache()),
       argFor(append.getKeyScale()), argFor(append.getValueScale()), batch,
       head, tile, argFor(append.getQLens()), argFor(append.getCuSeqlensQ())});
}

Value LayerTiler::getAppendedRows() {
  AppendKvOp append = parts.append;
  auto load = [&](Value m, Value i) {
    return cb.indexCast(b.getIndexType(), memref::LoadOp::create(b, loc, m, i));
  };
  if (Value qLens = append.getQLens())
    return load(getParameterArgument(func, *entry, qLens), batch);
  Value cu = append.getCuSeqlensQ();
  if (!cu)
    return len;
  // cu[s + 1] - cu[s]; none for the item row past the last sequence.
  cu = getParameterArgument(func, *entry, cu);
  Value last = cb.sub(memref::DimOp::create(b, loc, cu, 0), cb.index(1));
  return cb.sub(load(cu, cb.minSI(cb.add(batch, cb.index(1)), last)),
                load(cu, cb.minSI(batch, last)));
}

void LayerTiler::emitAttention() {
  AttentionOp attention = parts.attention;
  AppendKvOp append = parts.append;
  auto argFor = [&](Value v) -> Value {
    return v ? getParameterArgument(func, *entry, v) : Value();
  };
  AttentionWorkItem item;
  item.q = getAttentionView(attention.getQuery());
  // A decoding step reads the caches, which the append phase has
  // extended by the L new rows.
  item.k = append ? argFor(append.getKeyCache())
                  : getAttentionView(attention.getKey());
  item.v = append ? argFor(append.getValueCache())
                  : getAttentionView(attention.getValue());
  // An absorbed latent step's values: the first r columns of its cache.
  if (append && !append.getValueCache()) {
    auto valueType = cast<RankedTensorType>(attention.getValue().getType());
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < 4; ++d)
      sizes.push_back(
          d == 3 ? OpFoldResult(b.getIndexAttr(valueType.getDimSize(3)))
                 : OpFoldResult(
                       memref::DimOp::create(b, loc, item.k, d).getResult()));
    item.v = memref::SubViewOp::create(
        b, loc, item.k, SmallVector<OpFoldResult>(4, b.getIndexAttr(0)), sizes,
        SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
  }
  item.o = getAttentionView(attention.getOutput());
  item.lse = argFor(attention.getLse());
  item.probs = argFor(attention.getProbs());
  item.entropy = argFor(attention.getEntropy());
  item.cuSeqlensQ = argFor(attention.getCuSeqlensQ());
  item.cuSeqlensK = argFor(attention.getCuSeqlensK());
  item.qLens = argFor(attention.getQLens());
  item.kvLens = argFor(attention.getKvLens()); // Padded rows: their q_lens.
  if (append) {
    item.kvLens = argFor(append.getKvLens());
    item.blockTable = argFor(append.getBlockTable());
    item.kvLensOffset = getAppendedRows();
    item.keyScale = argFor(append.getKeyScale());
    item.valueScale = argFor(append.getValueScale());
  }
  item.batch = batch;
  item.head = head;
  item.tile = tile;
  item.alive = alive;
  item.callWords = attentionReadsCallWords() ? callWords : Value();
  item.splitOutputs = splitOutputs;
  item.splitLse = splitLse;
  item.splitArrivals = splitArrivals;
  recordForBackward(item);
  emitAttentionWorkItem(b, module, name, attention, tiles, item);
}

void LayerTiler::addPhasesThroughAttention() {
  emitPackingPhase(backward ? MHA_PHASE_RECOMPUTATION : 0);
  if (ropeTheta)
    addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
      emitRopeTable();
      return int64_t(1);
    });
  addQuantizePhase(parts.input);
  // x . down of the low-rank projections.
  if (!parts.downProjections.empty())
    addGemmPhase(parts.downProjections);
  // Q, K and V.
  addGemmPhase(parts.projections);
  if (parts.latentKeys)
    addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
      emitLatentKeys();
      return int64_t(parts.latentKeys.getNumHeads());
    });
  if (parts.latentNorm)
    addPhase(kProjectionRows, MHA_PHASE_PLAIN, [&] {
      emitLatentNorm();
      return int64_t(1);
    });
  if (parts.absorbQuery)
    addAbsorbPhase(parts.absorbQuery);
  // Packed rows are appended per sequence, on the sequences' grid.
  if (parts.append)
    addPhase(kAppendRows,
             parts.getPackedOffsets() ? MHA_PHASE_SEQUENCES : MHA_PHASE_PLAIN,
             [&] {
               emitAppend();
               return shape.numKvHeads;
             });
  // The attention, on [B, H, L, D] views of the temporaries.
  addPhase(tiles.rows, MHA_PHASE_MASKED, [&] {
    emitAttention();
    return shape.numHeads;
  });
}

LogicalResult LayerTiler::finishKernel() {
  func::ReturnOp::create(b, loc);
  if (tempCols.size() > MHA_LAYER_MAX_TEMPS ||
      phaseKinds.size() > MHA_LAYER_MAX_PHASES)
    return func.emitError()
           << "the layer's kernel needs " << tempCols.size()
           << " temporaries and " << phaseKinds.size()
           << " phases; the runtime runs at most " << MHA_LAYER_MAX_TEMPS
           << " and " << MHA_LAYER_MAX_PHASES;
  // Every copy marks int8 weights: the entry point dispatches to the
  // AVX512-BF16 (and VNNI) copy for them as for bf16 layers.
  if (llvm::any_of(plans, [](const LinearPlan &p) { return p.scaleValue; }))
    kernelFunc->setAttr(kInt8WeightsAttrName, UnitAttr::get(ctx));
  kernelFunc->setAttr("mha.layer_plan",
                      LayerPlanAttr::get(ctx, tempCols, tempShapes, tempBytes,
                                         phaseHeads, phaseRows, phaseKinds));
  return success();
}

LogicalResult LayerTiler::run(ArrayRef<TensorRole> argRoles) {
  addParameters(argRoles);
  planGemms();
  if (failed(addTemporaries()))
    return failure();
  addTrailingArguments();
  createKernel();
  addPhasesThroughAttention();
  for (Value input : {Value(parts.output.getInput()),
                      parts.outputDown ? parts.outputDown.getInput() : Value()})
    if (input && input.getDefiningOp<MergeHeadsOp>())
      addQuantizePhase(input);
  if (parts.absorbOutput)
    addAbsorbPhase(parts.absorbOutput);
  // O . down of a low-rank output projection, then the output projection.
  if (parts.outputDown)
    addGemmPhase(parts.outputDown);
  addGemmPhase(parts.output);
  if (failed(finishKernel()))
    return failure();
  func.erase();
  return success();
}

LogicalResult mlir::mha::tileLayerFunction(
    ModuleOp module, func::FuncOp func,
    function_ref<TileChoice(int64_t, int64_t, Type, bool, int64_t)> chooseTiles,
    int64_t vectorWidth, bool bf16Dot) {
  FailureOr<LayerParts> matched = matchLayer(func);
  if (failed(matched))
    return failure();
  FailureOr<SmallVector<TensorRole>> argRoles =
      getArgumentRoles(func, *matched);
  if (failed(argRoles))
    return failure();
  AttentionOp attention = matched->attention;
  AttentionShape shape = AttentionShape::get(attention);
  if (shape.headDim > kMaxCpuHeadDim)
    return attention.emitError()
           << "head dim D = " << shape.headDim
           << " is not supported by the CPU pipeline (at most "
           << kMaxCpuHeadDim << ")";
  // The temporaries have the projections' element type (bf16 in bf16
  // layers, see mha-expand-layer).
  Type inputElt = getElementTypeOrSelf(matched->input.getType());
  Type tempElt = getElementTypeOrSelf(attention.getQuery().getType());
  auto variant = AttentionVariant::get(attention, shape.numHeads,
                                       shape.numKvHeads, shape.headDim);
  TileChoice tiles = chooseGroupedTiles(
      attention, variant,
      chooseTiles(shape.headDim, shape.valueDim, tempElt,
                  variant.allHeadsWindowed(),
                  getGatheredBytesPerKey(attention, tempElt)));
  if (failed(checkScratchBudget(attention, tiles, tempElt)))
    return failure();
  // vdpbf16ps GEMMs where every GEMM input (x and the attention output)
  // is bf16.
  bool bf16Pairs =
      bf16Dot && vectorWidth == 16 && inputElt.isBF16() && tempElt.isBF16();
  // vpdpbusd in the AVX512-BF16 copy: every such CPU has AVX512-VNNI.
  bool int8Dot = bf16Dot && vectorWidth == 16;
  // The backward's GEMMs on x and dy take the forward's panels; those on
  // its f32 temporaries f32 panels (LayerTiler::placePanels).
  if (func->hasAttr(MhaDialect::kBackwardAttrName) &&
      failed(LayerTiler(module, func, *matched, tiles,
                        GemmKernel::get(vectorWidth, bf16Pairs,
                                        /*int8Dot=*/false))
                 .runBackward(*argRoles)))
    return failure();
  return LayerTiler(module, func, *matched, tiles,
                    GemmKernel::get(vectorWidth, bf16Pairs, int8Dot))
      .run(*argRoles);
}
