//===- TileLayer.cpp - Expanded layers to phased kernels --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-tile for a function computing an expanded layer (mha-expand-layer):
// one kernel whose work items belong to phases the runtime runs in order,
// each over its own grid (#mha.layer_plan):
//
//   rope table   cos/sin of every (position, frequency), from f64 angles
//   projections  Q, K, V = x W (+ b), RoPE; one item = a row tile of one
//                head's columns (K and V items beside Q's in one grid)
//   attention    the flash work items of mha.attention, reading Q, K, V and
//                writing O through [B, H, L, D] strided views of the
//                [B, L, H*D] temporaries: no transpose is ever stored
//   output       y = O Wo (+ bo); one item = a row tile of a column block
//
// The temporaries are allocated by the runtime per call: bf16 for bf16
// layers (the projections round to the element type, as SPEC.md allows, and
// the attention and output GEMM read half the bytes), f32 otherwise. The
// GEMMs are register-blocked vector kernels written here directly: MR rows
// by NV vectors of f32 accumulators stay in registers over the whole
// reduction while a K-block of the item's weight columns, packed per item,
// stays in L2. With AVX512-BF16 (bf16 layers, bf16-dot) the weights are
// packed as pairs of rows and the kernels use vdpbf16ps, two products per
// lane and instruction. Bias and RoPE are applied in the epilogue, on the
// f32 accumulators, before the one store of each result.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"

#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/KernelBuilder.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/SmallPtrSet.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Rows of a projection work item.
constexpr int64_t kProjectionRows = 192;
/// Rows of a phase whose grid has one tile whatever L.
constexpr int64_t kWholeSequence = int64_t(1) << 40;
/// Weight columns of an output-projection work item (a multiple of every
/// ISA's nv * vw).
constexpr int64_t kColumnBlock = 128;

/// One weight (part) of an mha.linear of the layer and how its work is
/// split.
struct LinearPlan {
  LinearOp op;
  Value weightValue, biasValue; // The function's (bias may be null).
  int64_t yOffset = 0;          // First column of the part in y.
  Value x, w, bias, y;          // Kernel memrefs (bias may be null).
  int64_t k = 0, n = 0, replicas = 1, headDim = 0;
  int64_t colBlock = 0;        // Weight columns per work item.
  SmallVector<int64_t> blocks; // The column blocks the grid visits.
  SmallVector<int64_t> liveReplicas;
  SmallVector<std::pair<int64_t, int64_t>> segments; // Reduction ranges.
  bool rope = false;
  std::string name;
  // The weights packed once per call (LayerKernelEmitter::planPacking):
  // one panel [packedRows, panelWidth] per visited block, at packOffset +
  // i * panelSize of the packed temporary for blocks[i]; segment s starts
  // at panel row segmentRows[s].
  int64_t colPad = 0, kc = 0, packedRows = 0, panelWidth = 0, panelSize = 0;
  int64_t packOffset = 0;
  SmallVector<int64_t> segmentRows;
  // Constant weights are packed at compile time into a global of their
  // own (offset 0); `panels` is that global or the packed temporary.
  DenseElementsAttr constantWeight;
  Value panels;
};

/// The value of `v` if an arith.constant with dense elements defines it.
DenseElementsAttr getDenseConstant(Value v) {
  auto constant = v ? v.getDefiningOp<arith::ConstantOp>() : nullptr;
  return constant ? dyn_cast<DenseElementsAttr>(constant.getValue())
                  : DenseElementsAttr();
}

int64_t getColumns(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

/// One part of a projection's weight (all of it, or one operand of the
/// tensor.concat mha-fuse made) with its bias part and its first column.
struct WeightPart {
  Value weight, bias;
  int64_t column = 0;
};

/// The parts of `linear`'s weight, in column order.
SmallVector<WeightPart> getWeightParts(LinearOp linear) {
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
std::optional<WeightPart> getViewedPart(Value operand) {
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

/// The functions's parts, found by matchLayer.
struct LayerParts {
  SmallVector<LinearOp> projections; // Reading the layer input.
  AttentionOp attention;
  LinearOp output;
};

FailureOr<LayerParts> matchLayer(func::FuncOp func) {
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
    if (linear.getReplicas() > 1 &&
        int64_t(linear.getHeadDim().value_or(0)) !=
            cast<RankedTensorType>(linear.getWeight().getType()).getDimSize(1))
      return fail(linear, "a replicated projection needs head_dim = N");
  }
  if (!cast<RankedTensorType>(parts.output.getType())
           .getElementType()
           .isF32() &&
      !isa<FloatType>(
          cast<RankedTensorType>(parts.output.getType()).getElementType()))
    return fail(parts.output, "the layer output must be a float tensor");
  return parts;
}

/// The role of each function argument.
FailureOr<SmallVector<TensorRole>> getArgumentRoles(func::FuncOp func,
                                                    const LayerParts &parts) {
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

/// Emits the layer kernel.
class LayerKernelEmitter {
public:
  LayerKernelEmitter(OpBuilder &b, Location loc, ModuleOp module,
                     StringRef name, int64_t vectorWidth, bool bf16Pairs)
      : b(b), loc(loc), module(module), name(name), vw(vectorWidth),
        bf16Pairs(bf16Pairs), w(b, loc, module, name) {
    // 32 vector registers with AVX-512, 16 below: MR x NV accumulators plus
    // NV weight vectors and one broadcast.
    mr = 6;
    nv = vw >= 16 ? 4 : 2;
  }

  void emitRopeTable(Value table, Value batch, Value tile, Value len,
                     int64_t headDim, double theta);
  /// Sizes the panels of `plan` and places them at `offset` of the packed
  /// weights; returns the offset past them.
  int64_t planPacking(LinearPlan &plan, int64_t offset) const;
  /// The element type of the packed weights.
  Type packedType() const {
    return bf16Pairs ? Type(b.getBF16Type()) : Type(b.getF32Type());
  }
  /// A read-only global holding `value` (biases of a layer), as a memref.
  Value getConstantMemRef(DenseElementsAttr value, StringRef symbol);
  /// The panels of constant weights, packed now as the packing phase would
  /// at run time, in a global: memref<1x1xN x packedType>.
  Value getPackedConstant(const LinearPlan &plan);
  /// Packs the weight columns of blocks[local] into their panel.
  void emitPackItem(const LinearPlan &plan, Value local);
  void emitProjectionItem(const LinearPlan &plan, Value local, Value block,
                          Value batch, Value tile, Value len, Value ropeTable);

  /// Columns of an output-projection item. The grid is in the signature,
  /// which every ISA's kernel shares: it must not depend on the ISA.
  int64_t defaultColumnBlock() const { return kColumnBlock; }

private:
  Value index(int64_t v) { return w.index(v); }
  /// scf.for over [lb, ub) by `step`, `body(iv)` emitted before its yield.
  void forLoop(Value lb, Value ub, int64_t step,
               function_ref<void(Value)> body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, index(step));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  }
  /// `v` rounded up to whole vectors.
  Value roundUpToVector(Value v) {
    return w.mul(
        arith::DivUIOp::create(b, loc, w.add(v, index(vw - 1)), index(vw)),
        index(vw));
  }
  Value ext(Value v) {
    auto type = cast<VectorType>(v.getType());
    if (type.getElementType().isF32())
      return v;
    return arith::ExtFOp::create(
        b, loc, VectorType::get(type.getShape(), b.getF32Type()), v);
  }
  Value scalarExt(Value v) {
    if (v.getType().isF32())
      return v;
    return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
  }
  /// The `vw` elements of `m` at `prefix..., col + i` for i < valid (0
  /// beyond), widened to f32. f32 uses a masked load; 16-bit types gather
  /// lanes at clamped (in-bounds) columns, because masked 16-bit vector
  /// memory ops legalise to calls of libgcc helpers Debian's libgcc lacks.
  Value loadTail(Value m, ValueRange prefix, Value col, Value valid);
  /// Stores lanes i < valid of the f32 vector `value` to `m` at
  /// `prefix..., col + i`, narrowed to m's element type.
  void storeTail(Value value, Value m, ValueRange prefix, Value col,
                 Value valid);
  /// cs[rb + i][c + v*vw] += sum over k < kn of x[b, row0 + rb + i, k0 + k]
  /// * wp[k][c + v*vw] for i < rows, v < nv: MR x NV accumulators stay in
  /// registers over the whole k loop.
  void emitMicroKernel(const LinearPlan &plan, Value batch, Value row0,
                       Value rb, int64_t rows, Value c, Value k0, Value kn,
                       Value cs, Value wp);
  /// The same with vdpbf16ps on pairs of k: wp holds pairs of rows.
  void emitMicroKernelPairs(const LinearPlan &plan, Value batch, Value row0,
                            Value rb, int64_t rows, Value c, Value k0, Value kn,
                            Value cs, Value wp);
  /// The panel of blocks[local] in plan.panels.
  Value panelOf(const LinearPlan &plan, Value local);
  /// wp[k][c] = W[k0 + k, col0 + c] in f32, zero past `cols`.
  void emitPack(const LinearPlan &plan, Value k0, Value kn, Value col0,
                Value cols, Value wp, int64_t colPad);
  /// wp[p][2c + t] = W[k0 + 2p + t, col0 + c] in bf16, zero past `cols`
  /// and past `kn` (the second row of an odd last pair).
  void emitPackPairs(const LinearPlan &plan, Value k0, Value kn, Value col0,
                     Value cols, Value wp, int64_t colPad);
  /// The bf16 pair at x[idx] (x[idx] and 0 when `single`) in every 32-bit
  /// lane, as vector<2 vw x bf16>.
  Value broadcastPair(Value x, ValueRange idx, bool single);
  /// The `lanes` bias values of `replica` at weight column `wcol`, f32;
  /// lanes past `valid` are 0 (a null `valid`: all lanes are inside).
  Value loadBias(const LinearPlan &plan, int64_t replica, Value wcol,
                 int64_t lanes, Value valid);
  /// y = cs (+ bias) for every live replica, narrowed to y's type.
  void emitEpilogue(const LinearPlan &plan, Value batch, Value row0, Value rows,
                    Value col0, Value cols, Value cs);
  /// y = RoPE(cs (+ bias)) for every live replica: the item holds one head.
  void emitRopeEpilogue(const LinearPlan &plan, Value batch, Value row0,
                        Value rows, Value col0, Value cs, Value table);

  OpBuilder &b;
  Location loc;
  ModuleOp module;
  StringRef name;
  int64_t vw, mr, nv;
  bool bf16Pairs;
  KernelBuilder w;
};

void LayerKernelEmitter::emitRopeTable(Value table, Value batch, Value tile,
                                       Value len, int64_t headDim,
                                       double theta) {
  // One table for the whole call: batch 0's items compute it.
  Value first = w.cmp(arith::CmpIPredicate::eq, batch, index(0));
  auto ifFirst = scf::IfOp::create(b, loc, first, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifFirst.thenBlock());
  int64_t half = headDim / 2;
  // Frequencies in f64; the angle l * freq too, so long sequences keep
  // f32 accuracy after the reduction mod 2 pi inside cos/sin.
  SmallVector<double> freqs;
  for (int64_t t = 0; t < half; ++t)
    freqs.push_back(std::pow(theta, -2.0 * double(t) / double(headDim)));
  auto freqType = MemRefType::get({half}, b.getF64Type());
  std::string symbol = (name + "__rope_freqs").str();
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(module.getBody());
    memref::GlobalOp::create(
        b, loc, symbol, b.getStringAttr("private"), freqType,
        DenseElementsAttr::get(RankedTensorType::get({half}, b.getF64Type()),
                               ArrayRef<double>(freqs)),
        /*constant=*/true, IntegerAttr());
  }
  Value freqTable = memref::GetGlobalOp::create(b, loc, freqType, symbol);
  Value row0 = w.mul(tile, index(kProjectionRows));
  Value rowEnd = w.minIdx(len, w.add(row0, index(kProjectionRows)));
  scf::ForOp::create(
      b, loc, row0, rowEnd, index(1), ValueRange{},
      [&](OpBuilder &rb, Location rl, Value l, ValueRange) {
        Value pos = arith::UIToFPOp::create(
            rb, rl, rb.getF64Type(),
            arith::IndexCastUIOp::create(rb, rl, rb.getI64Type(), l));
        scf::ForOp::create(
            rb, rl, arith::ConstantIndexOp::create(rb, rl, 0),
            arith::ConstantIndexOp::create(rb, rl, half),
            arith::ConstantIndexOp::create(rb, rl, 1), ValueRange{},
            [&](OpBuilder &tb, Location tl, Value t, ValueRange) {
              Value freq = memref::LoadOp::create(tb, tl, freqTable, t);
              Value angle = arith::MulFOp::create(tb, tl, pos, freq);
              Value c = arith::TruncFOp::create(
                  tb, tl, tb.getF32Type(), math::CosOp::create(tb, tl, angle));
              Value s = arith::TruncFOp::create(
                  tb, tl, tb.getF32Type(), math::SinOp::create(tb, tl, angle));
              Value zero = arith::ConstantIndexOp::create(tb, tl, 0);
              Value tHalf = arith::AddIOp::create(
                  tb, tl, t, arith::ConstantIndexOp::create(tb, tl, half));
              memref::StoreOp::create(tb, tl, c, table, ValueRange{zero, l, t});
              memref::StoreOp::create(tb, tl, s, table,
                                      ValueRange{zero, l, tHalf});
              scf::YieldOp::create(tb, tl);
            });
        scf::YieldOp::create(rb, rl);
      });
}

Value LayerKernelEmitter::loadTail(Value m, ValueRange prefix, Value col,
                                   Value valid) {
  Type elt = cast<MemRefType>(m.getType()).getElementType();
  SmallVector<Value> idx(prefix);
  if (elt.isF32()) {
    auto vecType = VectorType::get({vw}, elt);
    idx.push_back(col);
    Value mask = vector::CreateMaskOp::create(
        b, loc, VectorType::get({vw}, b.getI1Type()), ValueRange{valid});
    Value pad = arith::ConstantOp::create(
        b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
    return vector::MaskedLoadOp::create(b, loc, vecType, m, idx, mask, pad);
  }
  Value last = w.sub(w.maxIdx(valid, index(1)), index(1));
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  SmallVector<Value> lanes;
  for (int64_t i = 0; i < vw; ++i) {
    idx.resize(prefix.size());
    idx.push_back(w.add(col, w.minIdx(index(i), last)));
    Value x = scalarExt(memref::LoadOp::create(b, loc, m, idx));
    lanes.push_back(
        w.select(w.cmp(arith::CmpIPredicate::slt, index(i), valid), x, zero));
  }
  return vector::FromElementsOp::create(
      b, loc, VectorType::get({vw}, b.getF32Type()), lanes);
}

void LayerKernelEmitter::storeTail(Value value, Value m, ValueRange prefix,
                                   Value col, Value valid) {
  Type elt = cast<MemRefType>(m.getType()).getElementType();
  SmallVector<Value> idx(prefix);
  if (elt.isF32()) {
    idx.push_back(col);
    Value mask = vector::CreateMaskOp::create(
        b, loc, VectorType::get({vw}, b.getI1Type()), ValueRange{valid});
    vector::MaskedStoreOp::create(b, loc, m, idx, mask, value);
    return;
  }
  for (int64_t i = 0; i < vw; ++i) {
    Value inside = w.cmp(arith::CmpIPredicate::slt, index(i), valid);
    auto ifInside = scf::IfOp::create(b, loc, inside, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifInside.thenBlock());
    Value x = vector::ExtractOp::create(b, loc, value, i);
    x = arith::TruncFOp::create(b, loc, elt, x);
    idx.resize(prefix.size());
    idx.push_back(w.add(col, index(i)));
    memref::StoreOp::create(b, loc, x, m, idx);
  }
}

void LayerKernelEmitter::emitMicroKernel(const LinearPlan &plan, Value batch,
                                         Value row0, Value rb, int64_t rows,
                                         Value c, Value k0, Value kn, Value cs,
                                         Value wp) {
  auto vecType = VectorType::get({vw}, b.getF32Type());
  SmallVector<Value> rowIdx, colIdx;
  for (int64_t r = 0; r < rows; ++r)
    rowIdx.push_back(w.add(rb, index(r)));
  for (int64_t v = 0; v < nv; ++v)
    colIdx.push_back(w.add(c, index(v * vw)));
  SmallVector<Value> acc;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < nv; ++v)
      acc.push_back(vector::LoadOp::create(b, loc, vecType, cs,
                                           ValueRange{rowIdx[r], colIdx[v]}));
  auto loop = scf::ForOp::create(b, loc, index(0), kn, index(1), acc);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value k = loop.getInductionVar();
    Value kx = w.add(k0, k);
    SmallVector<Value> wv;
    for (int64_t v = 0; v < nv; ++v)
      wv.push_back(vector::LoadOp::create(b, loc, vecType, wp,
                                          ValueRange{k, colIdx[v]}));
    SmallVector<Value> next;
    for (int64_t r = 0; r < rows; ++r) {
      Value xs = scalarExt(memref::LoadOp::create(
          b, loc, plan.x, ValueRange{batch, w.add(row0, rowIdx[r]), kx}));
      Value xb = vector::BroadcastOp::create(b, loc, vecType, xs);
      for (int64_t v = 0; v < nv; ++v)
        next.push_back(vector::FMAOp::create(
            b, loc, xb, wv[v], loop.getRegionIterArgs()[r * nv + v]));
    }
    scf::YieldOp::create(b, loc, next);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < nv; ++v)
      vector::StoreOp::create(b, loc, loop.getResult(r * nv + v), cs,
                              ValueRange{rowIdx[r], colIdx[v]});
}

Value LayerKernelEmitter::broadcastPair(Value x, ValueRange idx, bool single) {
  Type i32 = b.getI32Type();
  auto wordsType = VectorType::get({vw}, i32);
  Value words;
  if (single) {
    // Little endian: the element goes to the low half, the first of the
    // pair.
    Value h = memref::LoadOp::create(b, loc, x, idx);
    h = arith::BitcastOp::create(b, loc, b.getI16Type(), h);
    words = vector::BroadcastOp::create(b, loc, wordsType,
                                        arith::ExtUIOp::create(b, loc, i32, h));
  } else {
    Value pair = vector::LoadOp::create(
        b, loc, VectorType::get({2}, b.getBF16Type()), x, idx);
    pair = vector::BitCastOp::create(b, loc, VectorType::get({1}, i32), pair);
    words = vector::BroadcastOp::create(b, loc, wordsType, pair);
  }
  return vector::BitCastOp::create(
      b, loc, VectorType::get({2 * vw}, b.getBF16Type()), words);
}

void LayerKernelEmitter::emitMicroKernelPairs(const LinearPlan &plan,
                                              Value batch, Value row0, Value rb,
                                              int64_t rows, Value c, Value k0,
                                              Value kn, Value cs, Value wp) {
  auto vecType = VectorType::get({vw}, b.getF32Type());
  auto pairsType = VectorType::get({2 * vw}, b.getBF16Type());
  SmallVector<Value> xRows, rowIdx, pairCols;
  for (int64_t r = 0; r < rows; ++r) {
    rowIdx.push_back(w.add(rb, index(r)));
    xRows.push_back(w.add(row0, rowIdx.back()));
  }
  SmallVector<Value> colIdx;
  for (int64_t v = 0; v < nv; ++v) {
    colIdx.push_back(w.add(c, index(v * vw)));
    pairCols.push_back(w.add(colIdx.back(), colIdx.back()));
  }
  SmallVector<Value> acc;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < nv; ++v)
      acc.push_back(vector::LoadOp::create(b, loc, vecType, cs,
                                           ValueRange{rowIdx[r], colIdx[v]}));
  // acc += x[k..k+1] . wp[p] on every (row, vector).
  auto step = [&](Value p, Value k, bool single, ValueRange in) {
    SmallVector<Value> wv, out;
    for (int64_t v = 0; v < nv; ++v)
      wv.push_back(vector::LoadOp::create(b, loc, pairsType, wp,
                                          ValueRange{p, pairCols[v]}));
    for (int64_t r = 0; r < rows; ++r) {
      Value xb = broadcastPair(plan.x, ValueRange{batch, xRows[r], k}, single);
      for (int64_t v = 0; v < nv; ++v)
        out.push_back(
            x86vector::DotBF16Op::create(b, loc, in[r * nv + v], xb, wv[v]));
    }
    return out;
  };
  Value pairs = arith::DivUIOp::create(b, loc, kn, index(2));
  auto loop = scf::ForOp::create(b, loc, index(0), pairs, index(1), acc);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value p = loop.getInductionVar();
    scf::YieldOp::create(b, loc,
                         step(p, w.add(k0, w.add(p, p)), /*single=*/false,
                              loop.getRegionIterArgs()));
  }
  // An odd last k: its row is alone in the last pair.
  Value odd = w.cmp(arith::CmpIPredicate::ne,
                    arith::RemUIOp::create(b, loc, kn, index(2)), index(0));
  auto ifOdd = scf::IfOp::create(b, loc, loop.getResultTypes(), odd,
                                 /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOdd.thenBlock());
    scf::YieldOp::create(b, loc,
                         step(pairs, w.add(k0, w.sub(kn, index(1))),
                              /*single=*/true, loop.getResults()));
    b.setInsertionPointToStart(ifOdd.elseBlock());
    scf::YieldOp::create(b, loc, loop.getResults());
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < nv; ++v)
      vector::StoreOp::create(b, loc, ifOdd.getResult(r * nv + v), cs,
                              ValueRange{rowIdx[r], colIdx[v]});
}

void LayerKernelEmitter::emitPack(const LinearPlan &plan, Value k0, Value kn,
                                  Value col0, Value cols, Value wp,
                                  int64_t colPad) {
  Type wElt = cast<MemRefType>(plan.w.getType()).getElementType();
  auto wVecType = VectorType::get({vw}, wElt);
  auto vecType = VectorType::get({vw}, b.getF32Type());
  Value zeros = arith::ConstantOp::create(
      b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
  // Whole vectors inside the block, the partial one, zeros up to colPad
  // (nothing is read past `cols`).
  Value full = w.sub(cols, arith::RemUIOp::create(b, loc, cols, index(vw)));
  Value partialEnd = roundUpToVector(cols);
  forLoop(index(0), kn, 1, [&](Value k) {
    Value kx = w.add(k0, k);
    forLoop(index(0), full, vw, [&](Value c) {
      Value v = ext(vector::LoadOp::create(b, loc, wVecType, plan.w,
                                           ValueRange{kx, w.add(col0, c)}));
      vector::StoreOp::create(b, loc, v, wp, ValueRange{k, c});
    });
    forLoop(full, partialEnd, vw, [&](Value c) {
      Value v =
          loadTail(plan.w, ValueRange{kx}, w.add(col0, c), w.sub(cols, c));
      vector::StoreOp::create(b, loc, v, wp, ValueRange{k, c});
    });
    forLoop(partialEnd, index(colPad), vw, [&](Value c) {
      vector::StoreOp::create(b, loc, zeros, wp, ValueRange{k, c});
    });
  });
}

void LayerKernelEmitter::emitPackPairs(const LinearPlan &plan, Value k0,
                                       Value kn, Value col0, Value cols,
                                       Value wp, int64_t colPad) {
  Type bf16 = b.getBF16Type();
  auto halfType = VectorType::get({vw}, bf16);
  Value zeros = arith::ConstantOp::create(
      b, loc, halfType, DenseElementsAttr::get(halfType, 0.0f));
  Value full = w.sub(cols, arith::RemUIOp::create(b, loc, cols, index(vw)));
  Value partialEnd = roundUpToVector(cols);
  Value pairs = arith::DivUIOp::create(b, loc, w.add(kn, index(1)), index(2));
  // The vw bf16 elements of row k at column col (lanes past `valid` 0).
  auto loadRow = [&](Value k, Value col, Value valid) -> Value {
    Value v;
    if (!valid)
      v = vector::LoadOp::create(
          b, loc,
          VectorType::get({vw},
                          cast<MemRefType>(plan.w.getType()).getElementType()),
          plan.w, ValueRange{k, col});
    else
      v = loadTail(plan.w, ValueRange{k}, col, valid);
    if (v.getType() != halfType)
      v = arith::TruncFOp::create(b, loc, halfType, v);
    return v;
  };
  forLoop(index(0), pairs, 1, [&](Value p) {
    Value kEven = w.add(k0, w.add(p, p));
    // An odd last pair reads its first row twice and zeroes the copy.
    Value hasOdd =
        w.cmp(arith::CmpIPredicate::slt, w.add(w.add(p, p), index(1)), kn);
    Value kOdd = w.select(hasOdd, w.add(kEven, index(1)), kEven);
    auto packVector = [&](Value c, Value valid) {
      Value col = w.add(col0, c);
      Value even = loadRow(kEven, col, valid);
      Value odd = w.select(hasOdd, loadRow(kOdd, col, valid), zeros);
      Value both = vector::InterleaveOp::create(b, loc, even, odd);
      vector::StoreOp::create(b, loc, both, wp, ValueRange{p, w.add(c, c)});
    };
    forLoop(index(0), full, vw, [&](Value c) { packVector(c, Value()); });
    forLoop(full, partialEnd, vw,
            [&](Value c) { packVector(c, w.sub(cols, c)); });
    forLoop(partialEnd, index(colPad), vw, [&](Value c) {
      Value both = vector::InterleaveOp::create(b, loc, zeros, zeros);
      vector::StoreOp::create(b, loc, both, wp, ValueRange{p, w.add(c, c)});
    });
  });
}

Value LayerKernelEmitter::loadBias(const LinearPlan &plan, int64_t replica,
                                   Value wcol, int64_t lanes, Value valid) {
  auto biasType = cast<MemRefType>(plan.bias.getType());
  // [replicas, N] biases have a row per replica; [N] ones are indexed by
  // the output column.
  SmallVector<Value> prefix;
  Value col = wcol;
  if (biasType.getRank() == 2)
    prefix.push_back(index(replica));
  else
    col = w.add(wcol, index(replica * plan.n));
  if (valid)
    return loadTail(plan.bias, prefix, col, valid);
  prefix.push_back(col);
  return ext(vector::LoadOp::create(
      b, loc, VectorType::get({lanes}, biasType.getElementType()), plan.bias,
      prefix));
}

void LayerKernelEmitter::emitEpilogue(const LinearPlan &plan, Value batch,
                                      Value row0, Value rows, Value col0,
                                      Value cols, Value cs) {
  auto vecType = VectorType::get({vw}, b.getF32Type());
  Type yElt = cast<MemRefType>(plan.y.getType()).getElementType();
  auto yVecType = VectorType::get({vw}, yElt);
  forLoop(index(0), cols, vw, [&](Value c) {
    Value valid = w.sub(cols, c);
    Value whole = w.cmp(arith::CmpIPredicate::sge, valid, index(vw));
    Value wcol = w.add(col0, c);
    auto ifWhole = scf::IfOp::create(b, loc, whole, /*withElse=*/true);
    for (bool masked : {false, true}) {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(masked ? ifWhole.elseBlock()
                                        : ifWhole.thenBlock());
      for (int64_t replica : plan.liveReplicas) {
        Value ycol = w.add(wcol, index(plan.yOffset + replica * plan.n));
        Value bias = plan.bias ? loadBias(plan, replica, wcol, vw,
                                          masked ? valid : Value())
                               : Value();
        forLoop(index(0), rows, 1, [&](Value r) {
          Value value =
              vector::LoadOp::create(b, loc, vecType, cs, ValueRange{r, c});
          if (bias)
            value = arith::AddFOp::create(b, loc, value, bias);
          Value row = w.add(row0, r);
          if (masked) {
            storeTail(value, plan.y, ValueRange{batch, row}, ycol, valid);
            return;
          }
          if (!yElt.isF32())
            value = arith::TruncFOp::create(b, loc, yVecType, value);
          vector::StoreOp::create(b, loc, value, plan.y,
                                  ValueRange{batch, row, ycol});
        });
      }
    }
  });
}

void LayerKernelEmitter::emitRopeEpilogue(const LinearPlan &plan, Value batch,
                                          Value row0, Value rows, Value col0,
                                          Value cs, Value table) {
  int64_t half = plan.headDim / 2;
  // The widest vector that divides the half head.
  int64_t rw = 1;
  for (int64_t c : {vw, int64_t(8), int64_t(4), int64_t(2)})
    if (c <= vw && half % c == 0) {
      rw = c;
      break;
    }
  Type f32 = b.getF32Type();
  auto vecType = VectorType::get({rw}, f32);
  Type yElt = cast<MemRefType>(plan.y.getType()).getElementType();
  auto yVecType = VectorType::get({rw}, yElt);
  for (int64_t replica : plan.liveReplicas) {
    Value head0 = w.add(col0, index(plan.yOffset + replica * plan.n));
    forLoop(index(0), index(half), rw, [&](Value t) {
      Value t2 = w.add(t, index(half));
      Value bias1, bias2;
      if (plan.bias) {
        bias1 = loadBias(plan, replica, w.add(col0, t), rw, Value());
        bias2 = loadBias(plan, replica, w.add(col0, t2), rw, Value());
      }
      forLoop(index(0), rows, 1, [&](Value r) {
        Value l = w.add(row0, r);
        auto load = [&](Value m, ValueRange idx) -> Value {
          return vector::LoadOp::create(b, loc, vecType, m, idx);
        };
        auto mul = [&](Value p, Value q) -> Value {
          return arith::MulFOp::create(b, loc, p, q);
        };
        Value x1 = load(cs, {r, t}), x2 = load(cs, {r, t2});
        if (bias1) {
          x1 = arith::AddFOp::create(b, loc, x1, bias1);
          x2 = arith::AddFOp::create(b, loc, x2, bias2);
        }
        Value cos = load(table, {index(0), l, t});
        Value sin = load(table, {index(0), l, t2});
        Value y1 = arith::SubFOp::create(b, loc, mul(x1, cos), mul(x2, sin));
        Value y2 = arith::AddFOp::create(b, loc, mul(x2, cos), mul(x1, sin));
        for (auto [value, col] : {std::pair(y1, t), std::pair(y2, t2)}) {
          if (!yElt.isF32())
            value = arith::TruncFOp::create(b, loc, yVecType, value);
          vector::StoreOp::create(b, loc, value, plan.y,
                                  ValueRange{batch, l, w.add(head0, col)});
        }
      });
    });
  }
}

int64_t LayerKernelEmitter::planPacking(LinearPlan &plan,
                                        int64_t offset) const {
  plan.colPad = roundUp(plan.colBlock, nv * vw);
  // The K-block of a panel the micro-kernels sweep stays about 128 KB (L2)
  // whatever the columns; pairs of rows need an even K-block.
  int64_t packedBytes = bf16Pairs ? 2 : 4;
  plan.kc =
      std::clamp<int64_t>(131072 / (packedBytes * plan.colPad), 16, 1024) &
      ~int64_t(1);
  plan.packedRows = 0;
  plan.segmentRows.clear();
  for (auto [start, length] : plan.segments) {
    plan.segmentRows.push_back(plan.packedRows);
    plan.packedRows += bf16Pairs ? (length + 1) / 2 : length;
  }
  plan.panelWidth = bf16Pairs ? 2 * plan.colPad : plan.colPad;
  plan.panelSize = plan.packedRows * plan.panelWidth;
  plan.packOffset = offset;
  return offset + plan.panelSize * int64_t(plan.blocks.size());
}

Value LayerKernelEmitter::panelOf(const LinearPlan &plan, Value local) {
  MLIRContext *ctx = b.getContext();
  auto type = MemRefType::get(
      {plan.packedRows, plan.panelWidth}, packedType(),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {plan.panelWidth, 1}));
  Value offset =
      w.add(index(plan.packOffset), w.mul(local, index(plan.panelSize)));
  return memref::ReinterpretCastOp::create(
      b, loc, type, plan.panels, OpFoldResult(offset),
      ArrayRef<OpFoldResult>{b.getIndexAttr(plan.packedRows),
                             b.getIndexAttr(plan.panelWidth)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(plan.panelWidth),
                             b.getIndexAttr(1)});
}

Value LayerKernelEmitter::getConstantMemRef(DenseElementsAttr value,
                                            StringRef symbol) {
  auto type = MemRefType::get(value.getType().getShape(),
                              value.getType().getElementType());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    memref::GlobalOp::create(b, loc, symbol, b.getStringAttr("private"), type,
                             value, /*constant=*/true, b.getI64IntegerAttr(64));
  }
  return memref::GetGlobalOp::create(b, loc, type, symbol);
}

Value LayerKernelEmitter::getPackedConstant(const LinearPlan &plan) {
  // W as f32, row-major [K, N].
  DenseElementsAttr weight = plan.constantWeight;
  SmallVector<float> w;
  w.reserve(weight.getNumElements());
  for (APFloat v : weight.getValues<APFloat>()) {
    bool lost;
    v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
    w.push_back(v.convertToFloat());
  }
  auto at = [&](int64_t k, int64_t c) { return w[k * plan.n + c]; };
  int64_t size = plan.panelSize * int64_t(plan.blocks.size());
  SmallVector<float> packed(size, 0.0f);
  for (auto [i, block] : llvm::enumerate(plan.blocks)) {
    int64_t col0 = block * plan.colBlock;
    int64_t cols = std::min(plan.colBlock, plan.n - col0);
    float *panel = packed.data() + i * plan.panelSize;
    for (auto [segment, row] : llvm::zip(plan.segments, plan.segmentRows)) {
      auto [start, length] = segment;
      for (int64_t k = 0; k < length; ++k)
        for (int64_t c = 0; c < cols; ++c) {
          // Pairs: row k goes to panel row k / 2, lane 2c + k % 2.
          int64_t r = bf16Pairs ? row + k / 2 : row + k;
          int64_t col = bf16Pairs ? 2 * c + k % 2 : c;
          panel[r * plan.panelWidth + col] = at(start + k, col0 + c);
        }
    }
  }
  auto tensorType = RankedTensorType::get({1, 1, size}, packedType());
  DenseElementsAttr value;
  if (bf16Pairs) {
    SmallVector<APFloat> values;
    values.reserve(size);
    for (float f : packed) {
      APFloat v(f);
      bool lost;
      v.convert(APFloat::BFloat(), APFloat::rmNearestTiesToEven, &lost);
      values.push_back(v);
    }
    value = DenseElementsAttr::get(tensorType, values);
  } else {
    value = DenseElementsAttr::get(tensorType, ArrayRef<float>(packed));
  }
  return getConstantMemRef(value, (name + "__" + plan.name + "_packed").str());
}

void LayerKernelEmitter::emitPackItem(const LinearPlan &plan, Value local) {
  Value block = w.perHeadIndex(plan.name + "_blocks", plan.blocks, local);
  Value col0 = w.mul(block, index(plan.colBlock));
  Value cols = w.minIdx(index(plan.colBlock), w.sub(index(plan.n), col0));
  Value panel = panelOf(plan, local);
  for (auto [segment, row] : llvm::zip(plan.segments, plan.segmentRows)) {
    auto [start, length] = segment;
    int64_t rows = bf16Pairs ? (length + 1) / 2 : length;
    Value part = memref::SubViewOp::create(
        b, loc, panel,
        ArrayRef<OpFoldResult>{b.getIndexAttr(row), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(rows),
                               b.getIndexAttr(plan.panelWidth)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    if (bf16Pairs)
      emitPackPairs(plan, index(start), index(length), col0, cols, part,
                    plan.colPad);
    else
      emitPack(plan, index(start), index(length), col0, cols, part,
               plan.colPad);
  }
}

void LayerKernelEmitter::emitProjectionItem(const LinearPlan &plan, Value local,
                                            Value block, Value batch,
                                            Value tile, Value len,
                                            Value ropeTable) {
  Value row0 = w.mul(tile, index(kProjectionRows));
  Value rows = w.minIdx(index(kProjectionRows), w.sub(len, row0));
  Value col0 = w.mul(block, index(plan.colBlock));
  Value cols = w.minIdx(index(plan.colBlock), w.sub(index(plan.n), col0));
  int64_t step = nv * vw, colPad = plan.colPad, kc = plan.kc;
  Type f32 = b.getF32Type();
  Value cs = memref::AllocaOp::create(
      b, loc, MemRefType::get({kProjectionRows, colPad}, f32), ValueRange{},
      b.getI64IntegerAttr(64));
  Value panel = panelOf(plan, local);
  auto vecType = VectorType::get({vw}, f32);
  Value zeroVec = arith::ConstantOp::create(
      b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
  forLoop(index(0), rows, 1, [&](Value r) {
    for (int64_t c = 0; c < colPad; c += vw)
      vector::StoreOp::create(b, loc, zeroVec, cs, ValueRange{r, index(c)});
  });
  // Row blocks of MR rows, then the remaining rows one at a time.
  Value fullRows = w.sub(rows, arith::RemUIOp::create(b, loc, rows, index(mr)));
  for (auto [segment, row] : llvm::zip(plan.segments, plan.segmentRows)) {
    int64_t start = segment.first, segmentRow = row;
    Value end = index(start + segment.second);
    forLoop(index(start), end, kc, [&](Value k0) {
      Value kn = w.minIdx(index(kc), w.sub(end, k0));
      // The K-block's rows of the panel (k0 - start is even).
      Value skipped = w.sub(k0, index(start));
      if (bf16Pairs)
        skipped = arith::DivUIOp::create(b, loc, skipped, index(2));
      Value wp = memref::SubViewOp::create(
          b, loc, panel,
          ArrayRef<OpFoldResult>{w.add(index(segmentRow), skipped),
                                 b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{
              bf16Pairs ? arith::DivUIOp::create(b, loc, w.add(kn, index(1)),
                                                 index(2))
                              .getResult()
                        : kn,
              b.getIndexAttr(plan.panelWidth)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
      auto rowLoop = [&](Value begin, Value stop, int64_t blockRows) {
        forLoop(begin, stop, blockRows, [&](Value rbIdx) {
          forLoop(index(0), index(colPad), step, [&](Value c) {
            if (bf16Pairs)
              emitMicroKernelPairs(plan, batch, row0, rbIdx, blockRows, c, k0,
                                   kn, cs, wp);
            else
              emitMicroKernel(plan, batch, row0, rbIdx, blockRows, c, k0, kn,
                              cs, wp);
          });
        });
      };
      rowLoop(index(0), fullRows, mr);
      rowLoop(fullRows, rows, 1);
    });
  }
  if (plan.rope)
    emitRopeEpilogue(plan, batch, row0, rows, col0, cs, ropeTable);
  else
    emitEpilogue(plan, batch, row0, rows, col0, cols, cs);
}

/// The plan of one projection (its kernel memrefs are set by the caller).
LinearPlan planLinear(LinearOp op, const WeightPart &part,
                      int64_t defaultColBlock, StringRef name) {
  LinearPlan plan;
  plan.op = op;
  plan.weightValue = part.weight;
  plan.biasValue = part.bias;
  plan.yOffset = part.column;
  auto wType = cast<RankedTensorType>(part.weight.getType());
  plan.k = wType.getDimSize(0);
  plan.n = wType.getDimSize(1);
  plan.replicas = op.getReplicas();
  plan.headDim = op.getHeadDim().value_or(0);
  // A part is rotated whole or not at all (matchLayer).
  plan.rope = op.getRopeTheta() &&
              (!op.getRopeBlocks() ||
               part.column < int64_t(*op.getRopeBlocks()) * plan.headDim);
  plan.name = name.str();
  // Items own whole heads where heads matter (RoPE pairs, pruned blocks).
  bool byHead = plan.rope || op.getLiveBlocks() || plan.replicas > 1;
  plan.colBlock = byHead ? plan.headDim : std::min(plan.n, defaultColBlock);
  if (plan.replicas > 1) {
    plan.blocks = {0};
    if (auto live = op.getLiveBlocks())
      plan.liveReplicas.assign(live->begin(), live->end());
    else
      for (int64_t r = 0; r < plan.replicas; ++r)
        plan.liveReplicas.push_back(r);
  } else {
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
  return plan;
}

} // namespace

LogicalResult mlir::mha::tileLayerFunction(
    ModuleOp module, func::FuncOp func,
    function_ref<TileChoice(int64_t, int64_t, Type, bool)> chooseTiles,
    int64_t vectorWidth, bool bf16Dot) {
  FailureOr<LayerParts> matched = matchLayer(func);
  if (failed(matched))
    return failure();
  LayerParts parts = *matched;
  FailureOr<SmallVector<TensorRole>> argRoles = getArgumentRoles(func, parts);
  if (failed(argRoles))
    return failure();
  AttentionOp attention = parts.attention;
  MLIRContext *ctx = func.getContext();
  Location loc = func.getLoc();
  AttentionShape shape = AttentionShape::get(attention);
  constexpr int64_t kMaxHeadDim = 1024;
  if (shape.headDim > kMaxHeadDim)
    return attention.emitError()
           << "head dim D = " << shape.headDim
           << " is not supported by the CPU pipeline (at most " << kMaxHeadDim
           << ")";
  // The temporaries have the projections' element type (bf16 in bf16
  // layers, see mha-expand-layer).
  Type inputElt =
      getElementTypeOrSelf(parts.projections.front().getInput().getType());
  Type tempElt = getElementTypeOrSelf(parts.projections.front().getType());
  Type f32 = Float32Type::get(ctx);
  auto variant = AttentionVariant::get(attention, shape.numHeads,
                                       shape.numKvHeads, shape.headDim);
  TileChoice tiles = chooseTiles(shape.headDim, shape.valueDim, tempElt,
                                 variant.allHeadsWindowed());
  if (failed(checkScratchBudget(attention, tiles, tempElt)))
    return failure();

  // Parameters: the arguments, then the result.
  SmallVector<Type> argTypes;
  SmallVector<Attribute> roles, types;
  auto addParam = [&](Type tensorType, TensorRole role) {
    MemRefType t = getParameterMemRefType(cast<RankedTensorType>(tensorType));
    argTypes.push_back(t);
    roles.push_back(TensorRoleAttr::get(ctx, role));
    types.push_back(TypeAttr::get(t));
  };
  for (auto [arg, role] : llvm::zip(func.getArguments(), *argRoles))
    addParam(arg.getType(), role);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value v : ret.getOperands())
    addParam(v.getType(), v == Value(parts.output)    ? TensorRole::layer_output
                          : v == attention.getLse()   ? TensorRole::lse
                          : v == attention.getProbs() ? TensorRole::probs
                                                      : TensorRole::entropy);
  unsigned numParams = argTypes.size();

  std::string name = func.getSymName().str();
  OpBuilder b(func);
  // vdpbf16ps GEMMs where every GEMM input (x and the attention output)
  // is bf16.
  bool bf16Pairs =
      bf16Dot && vectorWidth == 16 && inputElt.isBF16() && tempElt.isBF16();
  LayerKernelEmitter emitter(b, loc, module, name, vectorWidth, bf16Pairs);

  // The GEMMs: Q, K, V (one grid over their blocks) and the output
  // projection, their weights packed once per call into one buffer.
  SmallVector<LinearPlan, 4> plans;
  SmallVector<unsigned, 4> planLinearIndex; // Into parts.projections.
  for (auto [i, linear] : llvm::enumerate(parts.projections))
    for (const WeightPart &part : getWeightParts(linear)) {
      plans.push_back(planLinear(linear, part, emitter.defaultColumnBlock(),
                                 "proj" + std::to_string(plans.size())));
      planLinearIndex.push_back(i);
    }
  plans.push_back(planLinear(parts.output, getWeightParts(parts.output)[0],
                             emitter.defaultColumnBlock(), "out"));
  int64_t packedSize = 0;
  SmallVector<LinearPlan *> packedAtRunTime;
  for (LinearPlan &plan : plans) {
    plan.constantWeight = getDenseConstant(plan.weightValue);
    if (plan.constantWeight) {
      emitter.planPacking(plan, 0);
      continue;
    }
    packedSize = emitter.planPacking(plan, packedSize);
    packedAtRunTime.push_back(&plan);
  }
  MutableArrayRef<LinearPlan> projectionPlans =
      MutableArrayRef<LinearPlan>(plans).drop_back();
  LinearPlan &outPlan = plans.back();

  // Temporaries: one per projection (Q, K, V), the attention output, the
  // RoPE table and the packed weights. The runtime gives every element 4
  // bytes: a bf16 one uses (and the OS maps) the first half.
  SmallVector<int64_t> tempCols, tempShapes;
  auto addTemp = [&](int64_t cols, int64_t shape, Type elt) {
    tempCols.push_back(cols);
    tempShapes.push_back(shape);
    argTypes.push_back(MemRefType::get(
        {shape == MHA_TEMP_PER_BATCH ? ShapedType::kDynamic : 1,
         shape == MHA_TEMP_FIXED ? 1 : ShapedType::kDynamic, cols},
        elt));
    return argTypes.size() - 1;
  };
  SmallVector<unsigned> projectionTemps;
  for (LinearOp linear : parts.projections)
    projectionTemps.push_back(
        addTemp(cast<RankedTensorType>(linear.getType()).getDimSize(2),
                MHA_TEMP_PER_BATCH, tempElt));
  auto mergeType = cast<RankedTensorType>(parts.output.getInput().getType());
  unsigned outTemp =
      addTemp(mergeType.getDimSize(2), MHA_TEMP_PER_BATCH, tempElt);
  std::optional<float> ropeTheta;
  for (LinearOp linear : parts.projections)
    if (auto theta = linear.getRopeTheta()) {
      if (ropeTheta && *ropeTheta != theta->convertToFloat())
        return linear.emitError()
               << "the projections of a layer must share rope_theta";
      ropeTheta = theta->convertToFloat();
    }
  std::optional<unsigned> ropeTemp;
  if (ropeTheta)
    ropeTemp = addTemp(shape.headDim, MHA_TEMP_PER_TOKEN, f32);
  // The signature of the exported (f32-packing) copy sizes it for all
  // copies: bf16 pair panels, odd segments rounded up, take less than half
  // the bytes of f32 ones.
  std::optional<unsigned> packedTemp;
  if (packedSize > 0)
    packedTemp = addTemp(packedSize, MHA_TEMP_FIXED, emitter.packedType());
  IndexType indexType = IndexType::get(ctx);
  argTypes.append(
      {indexType, indexType, indexType, indexType, IntegerType::get(ctx, 1)});

  auto kernel = func::FuncOp::create(b, loc, name + "__kernel",
                                     FunctionType::get(ctx, argTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  kernel->setAttr("mha.entry_point",
                  EntryPointAttr::get(ctx, name, tiles.rows, shape.numHeads,
                                      ArrayAttr::get(ctx, roles),
                                      ArrayAttr::get(ctx, types)));
  Block *entry = kernel.addEntryBlock();
  b.setInsertionPointToStart(entry);
  KernelBuilder w(b, loc, module, name);

  unsigned numTemps = tempCols.size();
  Value phase = entry->getArgument(numParams + numTemps);
  Value batch = entry->getArgument(numParams + numTemps + 1);
  Value head = entry->getArgument(numParams + numTemps + 2);
  Value tile = entry->getArgument(numParams + numTemps + 3);
  Value alive = entry->getArgument(numParams + numTemps + 4);
  auto argFor = [&](Value v) -> Value {
    if (!v)
      return Value();
    return getParameterArgument(func, *entry, v);
  };
  Value x = argFor(parts.projections.front().getInput());
  Value len = memref::DimOp::create(b, loc, x, 1);
  Value ropeTable = ropeTemp ? entry->getArgument(*ropeTemp) : Value();
  Value packed = packedTemp ? entry->getArgument(*packedTemp) : Value();
  auto setMemRefs = [&](LinearPlan &plan, Value input, Value output) {
    plan.x = input;
    plan.y = output;
    if (plan.constantWeight)
      plan.panels = emitter.getPackedConstant(plan);
    else {
      plan.w = argFor(plan.weightValue);
      plan.panels = packed;
    }
    if (DenseElementsAttr bias = getDenseConstant(plan.biasValue))
      plan.bias =
          emitter.getConstantMemRef(bias, name + "__" + plan.name + "_bias");
    else
      plan.bias = argFor(plan.biasValue);
  };
  for (auto [plan, linearIndex] : llvm::zip(projectionPlans, planLinearIndex))
    setMemRefs(plan, x, entry->getArgument(projectionTemps[linearIndex]));
  setMemRefs(outPlan, entry->getArgument(outTemp),
             argFor(parts.output.getResult()));

  SmallVector<int64_t> phaseHeads, phaseRows, phaseMasked;
  auto inPhase = [&](int64_t p, function_ref<void()> body) {
    Value is = w.cmp(arith::CmpIPredicate::eq, phase, w.index(p));
    auto ifPhase = scf::IfOp::create(b, loc, is, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifPhase.thenBlock());
    body();
  };
  // Items of `plans`' blocks side by side in one grid: `body(plan, local)`
  // for blocks[local] of `plan`.
  auto forEachBlock = [&](ArrayRef<LinearPlan> grid,
                          function_ref<void(const LinearPlan &, Value)> body) {
    int64_t start = 0;
    for (const LinearPlan &plan : grid) {
      int64_t count = plan.blocks.size();
      Value inRange = w.andI(
          w.cmp(arith::CmpIPredicate::sge, head, w.index(start)),
          w.cmp(arith::CmpIPredicate::slt, head, w.index(start + count)));
      auto ifMine = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifMine.thenBlock());
      body(plan, w.sub(head, w.index(start)));
      start += count;
    }
    return start;
  };
  auto emitProjections = [&](ArrayRef<LinearPlan> grid) {
    return forEachBlock(grid, [&](const LinearPlan &plan, Value local) {
      Value block = w.perHeadIndex(plan.name + "_blocks", plan.blocks, local);
      emitter.emitProjectionItem(plan, local, block, batch, tile, len,
                                 ropeTable);
    });
  };

  // Phase: the weights that are arguments packed, one item per block, batch
  // 0 and one tile (its rows are "all of L").
  if (!packedAtRunTime.empty()) {
    SmallVector<LinearPlan, 4> packing;
    for (LinearPlan *plan : packedAtRunTime)
      packing.push_back(*plan);
    int64_t p = phaseHeads.size();
    int64_t items = 0;
    inPhase(p, [&] {
      Value first = w.andI(w.cmp(arith::CmpIPredicate::eq, batch, w.index(0)),
                           w.cmp(arith::CmpIPredicate::eq, tile, w.index(0)));
      auto ifFirst = scf::IfOp::create(b, loc, first, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifFirst.thenBlock());
      items = forEachBlock(packing, [&](const LinearPlan &plan, Value local) {
        emitter.emitPackItem(plan, local);
      });
    });
    phaseHeads.push_back(items);
    phaseRows.push_back(kWholeSequence);
    phaseMasked.push_back(0);
  }

  // Phase: the RoPE table.
  if (ropeTheta) {
    int64_t p = phaseHeads.size();
    phaseHeads.push_back(1);
    phaseRows.push_back(kProjectionRows);
    phaseMasked.push_back(0);
    inPhase(p, [&] {
      emitter.emitRopeTable(ropeTable, batch, tile, len, shape.headDim,
                            double(*ropeTheta));
    });
  }
  // Phase: Q, K and V.
  {
    int64_t p = phaseHeads.size();
    int64_t heads = 0;
    inPhase(p, [&] { heads = emitProjections(projectionPlans); });
    phaseHeads.push_back(heads);
    phaseRows.push_back(kProjectionRows);
    phaseMasked.push_back(0);
  }
  // Phase: the attention, on [B, H, L, D] views of the temporaries.
  {
    int64_t p = phaseHeads.size();
    phaseHeads.push_back(shape.numHeads);
    phaseRows.push_back(tiles.rows);
    phaseMasked.push_back(1);
    inPhase(p, [&] {
      auto view = [&](Value operand) -> Value {
        // Heads at column `offset` of a [B, L, cols] temporary.
        Value flat;
        int64_t offset = 0;
        if (auto split = operand.getDefiningOp<SplitHeadsOp>()) {
          auto it = llvm::find(parts.projections,
                               split.getInput().getDefiningOp<LinearOp>());
          flat = entry->getArgument(
              projectionTemps[it - parts.projections.begin()]);
          offset = split.getColumnOffset();
        } else {
          flat = entry->getArgument(outTemp);
        }
        auto type = cast<RankedTensorType>(operand.getType());
        int64_t heads = type.getDimSize(1), d = type.getDimSize(3);
        int64_t cols = cast<MemRefType>(flat.getType()).getDimSize(2);
        Value batchSize = memref::DimOp::create(b, loc, flat, 0);
        auto viewType = MemRefType::get(
            {ShapedType::kDynamic, heads, ShapedType::kDynamic, d}, tempElt,
            StridedLayoutAttr::get(ctx, offset,
                                   {ShapedType::kDynamic, d, cols, 1}));
        OpFoldResult batchStride = w.mul(len, w.index(cols));
        return memref::ReinterpretCastOp::create(
            b, loc, viewType, flat, b.getIndexAttr(offset),
            ArrayRef<OpFoldResult>{batchSize, b.getIndexAttr(heads), len,
                                   b.getIndexAttr(d)},
            ArrayRef<OpFoldResult>{batchStride, b.getIndexAttr(d),
                                   b.getIndexAttr(cols), b.getIndexAttr(1)});
      };
      emitAttentionWorkItem(
          b, module, name, attention, tiles,
          {view(attention.getQuery()), view(attention.getKey()),
           view(attention.getValue()), view(attention.getOutput()),
           argFor(attention.getLse()), argFor(attention.getProbs()),
           argFor(attention.getEntropy()), batch, head, tile, alive});
    });
  }
  // Phase: the output projection.
  {
    int64_t p = phaseHeads.size();
    int64_t heads = 0;
    inPhase(p, [&] { heads = emitProjections(outPlan); });
    phaseHeads.push_back(heads);
    phaseRows.push_back(kProjectionRows);
    phaseMasked.push_back(0);
  }
  func::ReturnOp::create(b, loc);
  kernel->setAttr("mha.layer_plan",
                  LayerPlanAttr::get(ctx, tempCols, tempShapes, phaseHeads,
                                     phaseRows, phaseMasked));
  func.erase();
  return success();
}
