//===- LayerMatching.cpp - The parts of an expanded layer ---------*- C++
//-*-===//
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

/// The parts of `linear`'s weight, in column order.
SmallVector<WeightPart> layer::getWeightParts(LinearOp linear) {
  auto concatOf = [](Value v) {
    return v ? v.getDefiningOp<tensor::ConcatOp>() : tensor::ConcatOp();
  };
  tensor::ConcatOp weights = concatOf(linear.getWeight());
  if (!weights)
    return {{linear.getWeight(), linear.getBias(), 0}};
  tensor::ConcatOp biases = concatOf(linear.getBias());
  SmallVector<WeightPart> parts;
  int64_t column = 0;
  for (auto [i, w] : llvm::enumerate(weights.getInputs())) {
    Value bias = biases && i < biases.getInputs().size() ? biases.getInputs()[i]
                                                         : Value();
    parts.push_back({w, bias, column});
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
        int64_t(linear.getReplicas()) * getColumns(part.weight) == columns)
      return part;
  return std::nullopt;
}

FailureOr<LayerParts> layer::matchLayer(func::FuncOp func) {
  LayerParts parts;
  auto fail = [&](Operation *op, const Twine &message) {
    op->emitError() << message;
    return failure();
  };
  for (Operation &op : func.getBody().front()) {
    if (isa<func::ReturnOp, SplitHeadsOp, MergeHeadsOp, arith::ConstantOp,
            tensor::ConcatOp>(op))
      continue;
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      if (parts.attention)
        return fail(&op, "a layer function may compute one mha.attention");
      parts.attention = attention;
      continue;
    }
    if (auto linear = dyn_cast<LinearOp>(op)) {
      if (isa<BlockArgument>(linear.getInput()))
        parts.projections.push_back(linear);
      else if (parts.output)
        return fail(&op, "a layer function may have one output projection");
      else
        parts.output = linear;
      continue;
    }
    return fail(&op, "'" + op.getName().getStringRef() +
                         "' is not supported in a layer function");
  }
  AttentionOp attention = parts.attention;
  if (!attention)
    return fail(func, "layer function '" + func.getSymName() +
                          "' has no mha.attention");
  for (Value operand : attention->getOperands()) {
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
    returnsOk &= returned.insert(v).second &&
                 (v == Value(parts.output) ||
                  (v.getDefiningOp() == attention.getOperation() &&
                   v != attention.getOutput()));
  if (!parts.output || !merge || parts.output.getInput() != merge || !returnsOk)
    return fail(func, "layer function '" + func.getSymName() +
                          "' must return the output projection of the "
                          "merged heads of its mha.attention (and may "
                          "return the attention's extra results), each "
                          "once");
  for (LinearOp linear : parts.projections) {
    if (!llvm::all_of(linear->getUsers(),
                      [](Operation *user) { return isa<SplitHeadsOp>(user); }))
      return fail(linear, "a projection must only feed mha.split_heads");
  }
  SmallVector<LinearOp> linears(parts.projections);
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
      if (!argumentOrConstant(part.weight) || !argumentOrConstant(part.bias))
        return fail(linear, "weights and biases must be function arguments "
                            "or dense constants (arith.constant dense<...>)");
      int64_t end = part.column + getColumns(part.weight);
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
  Value x = LinearOp(parts.projections.front()).getInput();
  for (LinearOp linear : parts.projections)
    if (linear.getInput() != x) {
      linear.emitError()
          << "the Q, K and V projections must read the same input";
      return failure();
    }
  // matchLayer checked that each operand views one weight part.
  WeightPart q = *getViewedPart(a.getQuery()), k = *getViewedPart(a.getKey()),
             v = *getViewedPart(a.getValue());
  LinearOp o = parts.output;
  for (BlockArgument arg : func.getArguments()) {
    std::optional<TensorRole> role;
    if (arg == x)
      role = TensorRole::layer_input;
    else if (arg == q.weight)
      role = TensorRole::query_weight;
    else if (arg == k.weight)
      role = TensorRole::key_weight;
    else if (arg == v.weight)
      role = TensorRole::value_weight;
    else if (arg == o.getWeight())
      role = TensorRole::out_weight;
    else if (arg == q.bias)
      role = TensorRole::query_bias;
    else if (arg == k.bias)
      role = TensorRole::key_bias;
    else if (arg == v.bias)
      role = TensorRole::value_bias;
    else if (arg == o.getBias())
      role = TensorRole::out_bias;
    if (!role) {
      func.emitError() << "argument #" << arg.getArgNumber() << " of '"
                       << func.getSymName() << "' is not used by its layer";
      return failure();
    }
    roles.push_back(*role);
  }
  return roles;
}
