//===- LayerMatching.cpp - The parts of an expanded layer -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// What mha-tile accepts as a layer function (mha-expand-layer's output,
// possibly pruned and fused): projections of one input, one mha.attention
// of split_heads views of them, the output projection of its merged heads;
// and which C parameter each function argument is.
//
//===----------------------------------------------------------------------===//

#include "TileLayer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::layer;

/// The value of `v` if an arith.constant with dense elements defines it.
DenseElementsAttr layer::getDenseConstant(Value v) {
  auto constant = v ? v.getDefiningOp<arith::ConstantOp>() : nullptr;
  return constant ? dyn_cast<DenseElementsAttr>(constant.getValue())
                  : DenseElementsAttr();
}

static int64_t getColumns(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

WeightPart WeightPart::get(Value weight, Value bias, int64_t column) {
  if (auto quantized = weight.getDefiningOp<QuantizedOp>())
    return {quantized.getValues(),   bias,
            quantized.getScale(),    column,
            getColumns(weight),      quantized.getBits() == 4,
            quantized.getGroupSize()};
  return {weight, bias, Value(), column, getColumns(weight)};
}

/// The parts of `linear`'s weight, in column order.
SmallVector<WeightPart> layer::getWeightParts(LinearOp linear) {
  auto concatOf = [](Value v) {
    return v ? v.getDefiningOp<tensor::ConcatOp>() : tensor::ConcatOp();
  };
  tensor::ConcatOp weights = concatOf(linear.getWeight());
  if (!weights)
    return {WeightPart::get(linear.getWeight(), linear.getBias(), 0)};
  tensor::ConcatOp biases = concatOf(linear.getBias());
  SmallVector<WeightPart> parts;
  int64_t column = 0;
  for (auto [i, w] : llvm::enumerate(weights.getInputs())) {
    Value bias = biases && i < biases.getInputs().size() ? biases.getInputs()[i]
                                                         : Value();
    parts.push_back(WeightPart::get(w, bias, column));
    column += getColumns(w);
  }
  return parts;
}

/// The weight part an attention operand (a split_heads view of a
/// projection) reads, if the view is exactly one part.
static std::optional<WeightPart> getViewedPart(Value operand) {
  auto split = operand.getDefiningOp<SplitHeadsOp>();
  auto linear = split ? split.getInput().getDefiningOp<LinearOp>() : LinearOp();
  if (!linear)
    return std::nullopt;
  auto heads = cast<RankedTensorType>(split.getType());
  int64_t columns = heads.getDimSize(1) * heads.getDimSize(3);
  for (WeightPart part : getWeightParts(linear))
    if (part.column == int64_t(split.getColumnOffset()) &&
        int64_t(linear.getReplicas()) * part.columns == columns)
      return part;
  return std::nullopt;
}

/// Whether every user of `linear` is an mha.linear (it is a down
/// projection of a low-rank weight or a latent layer's latent, which
/// mha.latent_keys reads too).
static bool feedsProjections(LinearOp linear) {
  return !linear->use_empty() &&
         llvm::any_of(linear->getUsers(),
                      [](Operation *user) { return isa<LinearOp>(user); }) &&
         llvm::all_of(linear->getUsers(), [&](Operation *user) {
           auto keys = dyn_cast<LatentKeysOp>(user);
           return isa<LinearOp>(user) ||
                  (keys && keys.getLatent() == linear.getResult());
         });
}

/// A latent layer's mha.latent_keys reads the per-head up-projection (a
/// projection of the latent) and the latent (a down projection of x) with
/// its RoPE key; the attention reads the keys whole and the values as every
/// head's last Dv columns of the up-projection.
static LogicalResult checkLatentParts(const LayerParts &parts) {
  LatentKeysOp keys = parts.latentKeys;
  AttentionOp attention = parts.attention;
  auto kv = keys.getKv().getDefiningOp<LinearOp>();
  auto latent = keys.getLatent().getDefiningOp<LinearOp>();
  auto keyView = attention.getKey().getDefiningOp<SplitHeadsOp>();
  auto valueView = attention.getValue().getDefiningOp<SplitHeadsOp>();
  int64_t perHead = kv ? getColumns(kv.getOutput()) / keys.getNumHeads() : 0;
  bool ok =
      kv && latent && llvm::is_contained(parts.projections, kv) &&
      llvm::is_contained(parts.downProjections, latent) &&
      kv.getInput() == latent.getResult() && kv.getReplicas() == 1 &&
      !kv.getBias() && !kv.getRopeTheta() && !kv.getLiveBlocks() &&
      !latent.getBias() && latent.getReplicas() == 1 &&
      !latent.getLiveBlocks() && keyView &&
      keyView.getInput() == keys.getOutput() &&
      keyView.getColumnOffset() == 0 && !keyView.getHeadStride() && valueView &&
      valueView.getInput() == kv.getOutput() &&
      int64_t(valueView.getColumnOffset()) == int64_t(keys.getNopeDim()) &&
      int64_t(valueView.getHeadStride().value_or(0)) == perHead &&
      (!latent.getRopeTheta() || int64_t(latent.getRopeDim().value_or(0)) ==
                                     int64_t(keys.getRopeKeyDim()));
  if (!ok)
    return keys.emitError()
           << "a latent layer's keys must gather the up-projection of its "
              "latent and the latent's RoPE key, and the attention must "
              "read them whole and the values from the up-projection";
  return success();
}

/// Whether `lens` is what mha-expand-layer writes for the lengths after a
/// step appends its rows to `kvLens`: `kvLens + L` (L = dim 1 of `input`),
/// `kvLens + qLens`, or `kvLens + (cu[1:] - cu[:-1])`.
static bool isAppendedLengths(Value lens, Value kvLens, Value input,
                              Value qLens, Value cu) {
  auto addi = lens ? lens.getDefiningOp<arith::AddIOp>() : arith::AddIOp();
  if (!addi || addi.getLhs() != kvLens)
    return false;
  Value added = addi.getRhs();
  if (qLens)
    return added == qLens;
  if (cu) {
    auto sub = added.getDefiningOp<arith::SubIOp>();
    auto sliceAt = [&](Value v, int64_t offset) {
      auto slice = v.getDefiningOp<tensor::ExtractSliceOp>();
      return slice && slice.getSource() == cu &&
             slice.getStaticOffsets() == ArrayRef<int64_t>{offset} &&
             slice.hasUnitStride();
    };
    return sub && sliceAt(sub.getLhs(), 1) && sliceAt(sub.getRhs(), 0);
  }
  auto splat = added.getDefiningOp<tensor::SplatOp>();
  auto toI32 = splat ? splat.getInput().getDefiningOp<arith::IndexCastOp>()
                     : arith::IndexCastOp();
  auto dim =
      toI32 ? toI32.getIn().getDefiningOp<tensor::DimOp>() : tensor::DimOp();
  return dim && dim.getSource() == input && dim.getConstantIndex() == 1;
}

/// A decoding step appends the new keys and values to the function's
/// caches and attends over the appended caches with the lengths after the
/// append (what mha-expand-layer writes); its rows per sequence (q_lens
/// or packed cu_seqlens_q), if any, are the append's and the attention's.
static LogicalResult checkAppendParts(const LayerParts &parts) {
  AppendKvOp append = parts.append;
  AttentionOp attention = parts.attention;
  Value qLens = append.getQLens(), cu = append.getCuSeqlensQ();
  // A latent step's values are the first columns of its one cache.
  auto slice = attention.getValue().getDefiningOp<tensor::ExtractSliceOp>();
  bool valuesOk = append.getValueCache()
                      ? attention.getValue() == append.getValueCacheOut() &&
                            isa<BlockArgument>(append.getValueCache())
                      : slice && slice.getSource() == append.getKeyCacheOut() &&
                            slice.hasZeroOffset() && slice.hasUnitStride();
  auto isArgument = [](Value v) { return !v || isa<BlockArgument>(v); };
  bool ok =
      attention.getKey() == append.getKeyCacheOut() && valuesOk &&
      isa<BlockArgument>(append.getKeyCache()) &&
      isa<BlockArgument>(append.getKvLens()) && !append.getRopeTheta() &&
      attention.getKeyScale() == append.getKeyScale() &&
      attention.getValueScale() == append.getValueScale() &&
      (!append.getKeyScale() || (isa<BlockArgument>(append.getKeyScale()) &&
                                 isa<BlockArgument>(append.getValueScale()))) &&
      attention.getBlockTable() == append.getBlockTable() &&
      isArgument(append.getBlockTable()) && isArgument(qLens) &&
      isArgument(cu) && attention.getQLens() == qLens &&
      attention.getCuSeqlensQ() == cu && !attention.getCuSeqlensK() &&
      isAppendedLengths(attention.getKvLens(), append.getKvLens(), parts.input,
                        qLens, cu);
  if (!ok)
    return append.emitError()
           << "a layer's decoding step must append its new keys and values "
              "to caches that are function arguments and attend over the "
              "appended caches with the lengths after the append";
  return success();
}

/// A layer without a cache over packed sequences attends with the
/// function's offsets as both cu_seqlens_q and cu_seqlens_k, and its
/// rotated projections count positions from the same offsets; over padded
/// ones, with its q_lens as both q_lens and kv_lens (what
/// mha-expand-layer writes).
static LogicalResult checkLengthParts(const LayerParts &parts) {
  AttentionOp attention = parts.attention;
  Value cu = attention.getCuSeqlensQ(), qLens = attention.getQLens();
  bool packed = cu && isa<BlockArgument>(cu) &&
                attention.getCuSeqlensK() == cu && !attention.getKvLens() &&
                !qLens;
  bool padded = qLens && isa<BlockArgument>(qLens) &&
                attention.getKvLens() == qLens && !cu &&
                !attention.getCuSeqlensK();
  bool ok = (packed || padded) && !attention.getBlockTable();
  for (ArrayRef<LinearOp> linears :
       {ArrayRef(parts.downProjections), ArrayRef(parts.projections)})
    for (LinearOp linear : linears)
      ok &= !linear.getPositions() &&
            (!linear.getCuSeqlens() || linear.getCuSeqlens() == cu);
  if (!ok)
    return attention.emitError()
           << "a layer without a cache attends over packed sequences with "
              "one function argument as cu_seqlens_q and cu_seqlens_k (and "
              "as the cu_seqlens of its projections), or over padded ones "
              "with one as q_lens and kv_lens, and no other serving operand";
  return success();
}

/// An absorbed latent step (mha-expand-layer's expandLatentStep): the
/// queries' projection absorbed by the first mha.head_linear, the attention
/// over the one cache with the absorbed queries, its merged heads absorbed
/// by the second, both reading one weight (Wv); the latent, RMS-normalised
/// or not, appended as the only new keys.
static LogicalResult checkAbsorbedParts(const LayerParts &parts) {
  HeadLinearOp query = parts.absorbQuery, output = parts.absorbOutput;
  AttentionOp attention = parts.attention;
  AppendKvOp append = parts.append;
  auto queryView = attention.getQuery().getDefiningOp<SplitHeadsOp>();
  auto qLinear =
      query ? query.getInput().getDefiningOp<LinearOp>() : LinearOp();
  auto merge =
      output ? output.getInput().getDefiningOp<MergeHeadsOp>() : MergeHeadsOp();
  auto newKeys = append ? append.getKeyNew().getDefiningOp<SplitHeadsOp>()
                        : SplitHeadsOp();
  Value latent = newKeys ? newKeys.getInput() : Value();
  RmsNormOp norm = parts.latentNorm;
  if (norm && latent == norm.getResult())
    latent = norm.getInput();
  auto latentLinear = latent ? latent.getDefiningOp<LinearOp>() : LinearOp();
  Value weight = query ? query.getWeight() : Value();
  bool ok = query && output && append && !append.getValueNew() &&
            !parts.latentKeys && queryView && queryView.getInput() == query &&
            queryView.getColumnOffset() == 0 && !queryView.getHeadStride() &&
            qLinear && llvm::is_contained(parts.projections, qLinear) &&
            merge && merge.getInput() == attention.getOutput() &&
            output.getWeight() == weight &&
            (isa<BlockArgument>(weight) || getDenseConstant(weight)) &&
            newKeys && newKeys.getColumnOffset() == 0 && latentLinear &&
            llvm::is_contained(parts.projections, latentLinear) &&
            (!norm || (newKeys.getInput() == norm.getResult() &&
                       norm.getInput().hasOneUse()));
  if (!ok)
    return attention.emitError()
           << "an absorbed latent step must attend with queries absorbed by "
              "an mha.head_linear of a projection, over the cache its "
              "latent projection is appended to, and absorb the merged "
              "heads with the same weight";
  return success();
}

/// Files `linear` among the parts by what it reads (the ops come in
/// order: what it reads is filed already).
static LogicalResult classifyLinear(LinearOp linear, LayerParts &parts) {
  Value input = linear.getInput();
  auto producer = input.getDefiningOp<LinearOp>();
  if (isa<BlockArgument>(input)) {
    if (parts.input && parts.input != input)
      return linear.emitError()
             << "the Q, K and V projections must read the same input";
    parts.input = input;
    if (feedsProjections(linear))
      parts.downProjections.push_back(linear);
    else
      parts.projections.push_back(linear);
    return success();
  }
  if (producer && llvm::is_contained(parts.downProjections, producer)) {
    parts.projections.push_back(linear);
    return success();
  }
  // The merged heads, absorbed or not.
  bool heads = input.getDefiningOp<MergeHeadsOp>() ||
               input.getDefiningOp<HeadLinearOp>();
  bool ofHeads = heads || (producer && producer == parts.outputDown);
  if (!ofHeads)
    return linear.emitError()
           << "a layer's projection must read the layer input, the merged "
              "heads of its mha.attention, or a rank-r product of either";
  if (parts.output)
    return linear.emitError() << "a layer function may have one output "
                                 "projection";
  if (heads && feedsProjections(linear) && !parts.outputDown)
    parts.outputDown = linear;
  else
    parts.output = linear;
  return success();
}

FailureOr<LayerParts> layer::matchLayer(func::FuncOp func) {
  LayerParts parts;
  auto fail = [&](Operation *op, const Twine &message) {
    op->emitError() << message;
    return failure();
  };
  for (Operation &op : func.getBody().front()) {
    // (arith and tensor ops: a decoding step's kv_lens + L,
    // checkAppendParts; a latent step's value view of its cache.)
    if (isa<func::ReturnOp, SplitHeadsOp, MergeHeadsOp, arith::ConstantOp,
            tensor::ConcatOp, QuantizedOp, arith::AddIOp, arith::SubIOp,
            arith::IndexCastOp, tensor::SplatOp, tensor::DimOp,
            tensor::ExtractSliceOp>(op))
      continue;
    if (auto absorb = dyn_cast<HeadLinearOp>(op)) {
      HeadLinearOp &slot =
          absorb.getTransposeWeight() ? parts.absorbQuery : parts.absorbOutput;
      if (slot)
        return fail(&op, "a layer function may absorb its queries and its "
                         "output once each");
      slot = absorb;
      continue;
    }
    if (auto norm = dyn_cast<RmsNormOp>(op)) {
      if (parts.latentNorm)
        return fail(&op, "a layer function may normalise its latent once");
      parts.latentNorm = norm;
      continue;
    }
    if (auto append = dyn_cast<AppendKvOp>(op)) {
      if (parts.append)
        return fail(&op, "a layer function may append to its caches once");
      parts.append = append;
      continue;
    }
    if (auto keys = dyn_cast<LatentKeysOp>(op)) {
      if (parts.latentKeys)
        return fail(&op, "a layer function may gather its keys once");
      parts.latentKeys = keys;
      continue;
    }
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      if (parts.attention)
        return fail(&op, "a layer function may compute one mha.attention");
      parts.attention = attention;
      continue;
    }
    if (auto linear = dyn_cast<LinearOp>(op)) {
      if (failed(classifyLinear(linear, parts)))
        return failure();
      continue;
    }
    return fail(&op, "'" + op.getName().getStringRef() +
                         "' is not supported in a layer function");
  }
  AttentionOp attention = parts.attention;
  if (!attention)
    return fail(func, "layer function '" + func.getSymName() +
                          "' has no mha.attention");
  if (parts.latentKeys && failed(checkLatentParts(parts)))
    return failure();
  if (parts.append && failed(checkAppendParts(parts)))
    return failure();
  if (!parts.append && attention.hasServingOperands() &&
      failed(checkLengthParts(parts)))
    return failure();
  bool absorbed = parts.absorbQuery || parts.absorbOutput || parts.latentNorm;
  if (absorbed && failed(checkAbsorbedParts(parts)))
    return failure();
  SmallVector<Value, 3> projected;
  if (!absorbed)
    projected.push_back(attention.getQuery());
  if (!parts.latentKeys && !absorbed)
    projected.append({parts.getNewKeys(), parts.getNewValues()});
  for (Value operand : projected) {
    auto split = operand.getDefiningOp<SplitHeadsOp>();
    auto linear =
        split ? split.getInput().getDefiningOp<LinearOp>() : LinearOp();
    if (!linear || !llvm::is_contained(parts.projections, linear) ||
        !getViewedPart(operand))
      return fail(attention, "the operands of a layer's mha.attention must "
                             "be mha.split_heads of projections of a "
                             "function argument, each viewing one weight");
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  auto merge = attention.getOutput().hasOneUse()
                   ? dyn_cast<MergeHeadsOp>(*attention.getOutput().user_begin())
                   : MergeHeadsOp();
  // y, and the attention's extra results (lse, probs, entropy) if any,
  // each returned once.
  SmallPtrSet<Value, 4> returned;
  bool returnsOk = llvm::is_contained(ret.getOperands(), Value(parts.output));
  for (Value v : ret.getOperands())
    returnsOk &=
        returned.insert(v).second &&
        (v == Value(parts.output) ||
         (v.getDefiningOp() == attention.getOperation() &&
          v != attention.getOutput()) ||
         (parts.append && v.getDefiningOp() == parts.append.getOperation()));
  Value heads = parts.absorbOutput ? Value(parts.absorbOutput) : Value(merge);
  Value outputInput = parts.outputDown ? parts.outputDown.getInput() : heads;
  if (parts.outputDown && parts.output &&
      parts.output.getInput() != parts.outputDown.getResult())
    return fail(parts.output, "a low-rank output projection must read its "
                              "down projection");
  if (!parts.output || !merge || outputInput != heads || !returnsOk)
    return fail(func, "layer function '" + func.getSymName() +
                          "' must return the output projection of the "
                          "merged heads of its mha.attention (and may "
                          "return the attention's extra results and the "
                          "updated caches), each once");
  for (LinearOp linear : parts.projections) {
    if (!llvm::all_of(linear->getUsers(), [](Operation *user) {
          return isa<SplitHeadsOp, LatentKeysOp, HeadLinearOp, RmsNormOp>(user);
        }))
      return fail(linear, "a projection must only feed mha.split_heads");
  }
  for (LinearOp down : parts.downProjections) {
    // A latent layer's latent was checked by checkLatentParts.
    bool latent =
        parts.latentKeys && down.getResult() == parts.latentKeys.getLatent();
    if (!latent &&
        (down.getBias() || down.getRopeTheta() || down.getReplicas() != 1 ||
         down.getLiveBlocks() || !down->hasOneUse()))
      return fail(down, "the down projection of a low-rank weight has no "
                        "bias, RoPE, replicas or pruned blocks, and feeds "
                        "one projection");
  }
  if (parts.outputDown &&
      (parts.outputDown.getBias() || !parts.outputDown->hasOneUse()))
    return fail(parts.outputDown, "the down projection of a low-rank output "
                                  "weight has no bias and feeds the output "
                                  "projection only");
  SmallVector<LinearOp> linears(parts.projections);
  llvm::append_range(linears, parts.downProjections);
  if (parts.outputDown)
    linears.push_back(parts.outputDown);
  linears.push_back(parts.output);
  auto argumentOrConstant = [](Value v) {
    return !v || isa<BlockArgument>(v) || getDenseConstant(v);
  };
  for (LinearOp linear : linears) {
    SmallVector<WeightPart> weightParts = getWeightParts(linear);
    if (auto concat = linear.getWeight().getDefiningOp<tensor::ConcatOp>()) {
      auto biases = linear.getBias()
                        ? linear.getBias().getDefiningOp<tensor::ConcatOp>()
                        : tensor::ConcatOp();
      if (concat.getDim() != 1 || linear.getReplicas() != 1 ||
          (linear.getBias() &&
           (!biases || biases.getDim() != 0 ||
            biases.getInputs().size() != weightParts.size())))
        return fail(linear, "a concatenated weight must be column blocks "
                            "(tensor.concat dim(1)), with one replica and "
                            "a bias concatenated alike (dim(0)) or none");
    }
    int64_t headDim = linear.getHeadDim().value_or(1);
    int64_t ropeColumns = linear.getRopeTheta()
                              ? linear.getRopeBlocks().value_or(
                                    getColumns(linear.getOutput()) / headDim) *
                                    headDim
                              : 0;
    for (const WeightPart &part : weightParts) {
      if (!argumentOrConstant(part.weight) || !argumentOrConstant(part.bias) ||
          !argumentOrConstant(part.scale))
        return fail(linear, "weights and biases must be function arguments "
                            "or dense constants (arith.constant dense<...>)");
      if (part.scale && bool(getDenseConstant(part.weight)) !=
                            bool(getDenseConstant(part.scale)))
        return fail(linear, "an int8 weight and its scales must both be "
                            "function arguments or both be constants");
      int64_t end = part.column + part.columns;
      if (weightParts.size() > 1 &&
          (part.column % headDim || end % headDim ||
           (part.column < ropeColumns && end > ropeColumns)))
        return fail(linear, "each part of a concatenated weight must be "
                            "whole heads, rotated (rope_blocks) or not");
    }
  }
  if (!cast<RankedTensorType>(parts.output.getType())
           .getElementType()
           .isF32() &&
      !isa<FloatType>(
          cast<RankedTensorType>(parts.output.getType()).getElementType()))
    return fail(parts.output, "the layer output must be a float tensor");
  return parts;
}

FailureOr<SmallVector<TensorRole>>
layer::getArgumentRoles(func::FuncOp func, const LayerParts &parts) {
  SmallVector<TensorRole> roles;
  AttentionOp a = parts.attention;
  // matchLayer checked that each operand views one weight part (a latent
  // layer's K and V: the latent's and its up-projection's weights).
  auto latentPart = [](Value v) {
    auto linear = v.getDefiningOp<LinearOp>();
    return WeightPart::get(linear.getWeight(), linear.getBias(), 0);
  };
  LatentKeysOp keys = parts.latentKeys;
  HeadLinearOp absorbed = parts.absorbQuery;
  // The projection of Q: an absorbed latent step's queries absorb it.
  LinearOp qLinear = absorbed ? absorbed.getInput().getDefiningOp<LinearOp>()
                              : a.getQuery()
                                    .getDefiningOp<SplitHeadsOp>()
                                    .getInput()
                                    .getDefiningOp<LinearOp>();
  // An absorbed step's K is its latent projection and Wv the weight of
  // the absorptions.
  WeightPart q = absorbed ? WeightPart::get(qLinear.getWeight(), Value(), 0)
                          : *getViewedPart(a.getQuery());
  WeightPart k = absorbed ? latentPart(parts.getLatent().getResult())
                 : keys   ? latentPart(keys.getLatent())
                          : *getViewedPart(parts.getNewKeys());
  WeightPart v = absorbed ? WeightPart::get(absorbed.getWeight(), Value(), 0)
                 : keys   ? latentPart(keys.getKv())
                          : *getViewedPart(parts.getNewValues());
  LinearOp o = parts.output;
  WeightPart outPart = WeightPart::get(o.getWeight(), o.getBias(), 0);
  // The down factor of a projection read through one, else null.
  auto downOfLinear = [](LinearOp linear) -> Value {
    auto down = linear.getInput().getDefiningOp<LinearOp>();
    return down ? down.getWeight() : Value();
  };
  auto downOf = [&](Value operand) -> Value {
    return downOfLinear(operand.getDefiningOp<SplitHeadsOp>()
                            .getInput()
                            .getDefiningOp<LinearOp>());
  };
  Value qDown = downOfLinear(qLinear);
  bool latent = keys || absorbed;
  Value kDown = latent ? Value() : downOf(parts.getNewKeys());
  Value vDown = latent ? Value() : downOf(parts.getNewValues());
  LinearOp outputDown = parts.outputDown;
  Value oDown = outputDown ? outputDown.getWeight() : Value();
  auto weightRole = [](Value down, TensorRole whole, TensorRole up) {
    return down ? up : whole;
  };
  for (BlockArgument arg : func.getArguments()) {
    std::optional<TensorRole> role;
    if (arg == parts.input)
      role = TensorRole::layer_input;
    else if (arg == q.weight)
      role = weightRole(qDown, TensorRole::query_weight,
                        TensorRole::query_weight_up);
    else if (arg == k.weight)
      role =
          weightRole(kDown, TensorRole::key_weight, TensorRole::key_weight_up);
    else if (arg == v.weight)
      role = weightRole(vDown, TensorRole::value_weight,
                        TensorRole::value_weight_up);
    else if (arg == outPart.weight)
      role =
          weightRole(oDown, TensorRole::out_weight, TensorRole::out_weight_up);
    else if (arg == q.scale)
      role = TensorRole::query_weight_scale;
    else if (arg == k.scale)
      role = TensorRole::key_weight_scale;
    else if (arg == v.scale)
      role = TensorRole::value_weight_scale;
    else if (arg == outPart.scale)
      role = TensorRole::out_weight_scale;
    else if (arg == qDown)
      role = TensorRole::query_weight_down;
    else if (arg == kDown)
      role = TensorRole::key_weight_down;
    else if (arg == vDown)
      role = TensorRole::value_weight_down;
    else if (arg == oDown)
      role = TensorRole::out_weight_down;
    else if (arg == q.bias)
      role = TensorRole::query_bias;
    else if (arg == k.bias)
      role = TensorRole::key_bias;
    else if (arg == v.bias)
      role = TensorRole::value_bias;
    else if (arg == o.getBias())
      role = TensorRole::out_bias;
    else if (arg == parts.getPackedOffsets())
      role = TensorRole::cu_seqlens_q;
    else if (arg == AttentionOp(parts.attention).getQLens())
      role = TensorRole::q_lens;
    else if (AppendKvOp append = parts.append) {
      if (arg == append.getKvLens())
        role = TensorRole::kv_lens;
      else if (arg == append.getBlockTable())
        role = TensorRole::block_table;
      else if (arg == append.getQLens())
        role = TensorRole::q_lens;
      else if (arg == append.getKeyCache())
        role = TensorRole::key_cache;
      else if (arg == append.getValueCache())
        role = TensorRole::value_cache;
      else if (arg == append.getKeyScale())
        role = TensorRole::key_scale;
      else if (arg == append.getValueScale())
        role = TensorRole::value_scale;
    }
    if (!role) {
      func.emitError() << "argument #" << arg.getArgNumber() << " of '"
                       << func.getSymName() << "' is not used by its layer";
      return failure();
    }
    roles.push_back(*role);
  }
  return roles;
}
