//===- KernelBuilder.cpp - Shared pieces of the CPU and GPU kernels -------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/Transforms/KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace mlir::mha;

namespace mlir::mha {

FailureOr<SmallVector<func::FuncOp>> collectExportedFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> funcs;
  for (auto func : module.getOps<func::FuncOp>()) {
    bool hasMha = false;
    func.walk([&](Operation *op) {
      if (isa<AttentionOp, MultiHeadOp>(op))
        hasMha = true;
    });
    if (!hasMha)
      continue;
    if (func.isPrivate() || func.isDeclaration())
      return func.emitError()
             << "only public function definitions are exported; '"
             << func.getSymName() << "' is private";
    funcs.push_back(func);
  }
  return funcs;
}

/// Checks that `func` is a function mha-compile can export: it computes one
/// mha.attention of its arguments and returns its results.
FailureOr<AttentionOp> matchExportableFunction(func::FuncOp func) {
  AttentionOp attention;
  for (Operation &op : func.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      continue;
    if (auto a = dyn_cast<AttentionOp>(op)) {
      if (attention)
        return func.emitError()
               << "function '" << func.getSymName()
               << "' computes more than one mha.attention; export each as "
               << "its own function";
      attention = a;
      continue;
    }
    if (isa<MultiHeadOp>(op))
      return op.emitError()
             << "mha.multi_head is compiled for the CPU only, after "
             << "mha-expand-layer (mha-cpu-pipeline runs it); the GPU back "
             << "end compiles mha.attention functions";
    return op.emitError() << "'" << op.getName()
                          << "' is not supported in an exported function: "
                          << "its body must be one mha.attention of the "
                          << "function arguments";
  }
  if (!attention)
    return func.emitError() << "function '" << func.getSymName()
                            << "' has no mha.attention to compile";
  for (Value operand : attention->getOperands())
    if (!isa<BlockArgument>(operand))
      return attention.emitError()
             << "the operands of an exported mha.attention must be function "
             << "arguments";
  for (BlockArgument arg : func.getArguments())
    if (!llvm::is_contained(attention->getOperands(), Value(arg)))
      return func.emitError() << "argument #" << arg.getArgNumber()
                              << " of '" << func.getSymName()
                              << "' is not used by its mha.attention";
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  SmallPtrSet<Value, 4> seen;
  for (Value v : ret.getOperands()) {
    if (v.getDefiningOp() != attention.getOperation())
      return func.emitError() << "'" << func.getSymName()
                              << "' must return results of its mha.attention";
    if (!seen.insert(v).second)
      return func.emitError() << "'" << func.getSymName()
                              << "' returns the same result twice";
  }
  return attention;
}

SmallVector<Parameter> getExportedParameters(func::FuncOp func,
                                             AttentionOp attention) {
  SmallVector<Parameter> params;
  for (BlockArgument arg : func.getArguments()) {
    TensorRole role = arg == attention.getQuery() ? TensorRole::query
                      : arg == attention.getKey() ? TensorRole::key
                                                  : TensorRole::value;
    params.push_back({arg.getType(), role});
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value v : ret.getOperands()) {
    TensorRole role = v == attention.getOutput()  ? TensorRole::output
                      : v == attention.getLse()   ? TensorRole::lse
                      : v == attention.getProbs() ? TensorRole::probs
                                                  : TensorRole::entropy;
    params.push_back({v.getType(), role});
  }
  return params;
}

AttentionShape AttentionShape::get(AttentionOp attention) {
  AttentionShape s;
  s.query = cast<RankedTensorType>(attention.getQuery().getType());
  s.key = cast<RankedTensorType>(attention.getKey().getType());
  s.value = cast<RankedTensorType>(attention.getValue().getType());
  s.numHeads = s.query.getDimSize(1);
  s.numKvHeads = s.key.getDimSize(1);
  s.headDim = s.query.getDimSize(3);
  s.valueDim = s.value.getDimSize(3);
  return s;
}

Value getParameterArgument(func::FuncOp func, Block &kernelBody,
                           Value tensor) {
  if (!tensor)
    return Value();
  for (auto [i, arg] : llvm::enumerate(func.getArguments()))
    if (arg == tensor)
      return kernelBody.getArgument(i);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (v == tensor)
      return kernelBody.getArgument(func.getNumArguments() + i);
  return Value();
}

MemRefType getParameterMemRefType(RankedTensorType type) {
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout = StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic,
                                       strides);
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

//===----------------------------------------------------------------------===//
// KernelBuilder
//===----------------------------------------------------------------------===//

Value KernelBuilder::perHeadF32(StringRef name, ArrayRef<float> values,
                                Value h) {
  if (llvm::all_equal(values))
    return f32(values.front());
  auto type = RankedTensorType::get({(int64_t)values.size()}, b.getF32Type());
  return loadFromTable(name, DenseElementsAttr::get(type, values),
                       b.getF32Type(), h);
}

Value KernelBuilder::perHeadIndex(StringRef name, ArrayRef<int64_t> values,
                                  Value h) {
  if (llvm::all_equal(values))
    return index(values.front());
  auto type = RankedTensorType::get({(int64_t)values.size()}, b.getIndexType());
  return loadFromTable(name, DenseElementsAttr::get(type, values),
                       b.getIndexType(), h);
}

Value KernelBuilder::perHeadBool(StringRef name, ArrayRef<bool> values,
                                 Value h) {
  if (llvm::all_equal(values))
    return boolean(values.front());
  auto type = RankedTensorType::get({(int64_t)values.size()}, b.getI1Type());
  return loadFromTable(name, DenseElementsAttr::get(type, values),
                       b.getI1Type(), h);
}

Value KernelBuilder::loadFromTable(StringRef name, DenseElementsAttr values,
                                   Type eltType, Value h) {
  auto memrefType = MemRefType::get({values.getNumElements()}, eltType);
  std::string symbol = (prefix + "__" + name).str();
  if (!SymbolTable::lookupSymbolIn(symbolTable, symbol)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&symbolTable->getRegion(0).front());
    memref::GlobalOp::create(b, loc, symbol, b.getStringAttr("private"),
                             memrefType, values, /*constant=*/true,
                             /*alignment=*/IntegerAttr());
  }
  Value table = memref::GetGlobalOp::create(b, loc, memrefType, symbol);
  return memref::LoadOp::create(b, loc, table, ValueRange{h});
}

//===----------------------------------------------------------------------===//
// Key ranges
//===----------------------------------------------------------------------===//

KeyRanges computeKeyRanges(KernelBuilder &w, const AttentionVariant &variant,
                           Value row0, Value rows, Value queryLen,
                           Value keyLen, Value windowLeft, Value windowRight,
                           Value sinks) {
  Value zero = w.index(0), one = w.index(1);
  KeyRanges r;
  // p = i + Lk - Lq is row i's diagonal key.
  Value diagOffset = w.sub(keyLen, queryLen);
  r.pFirst = w.add(row0, diagOffset);
  r.pLast = w.add(w.sub(w.add(row0, rows), one), diagOffset);
  Value hiCausal =
      variant.causal ? w.maxIdx(zero, w.minIdx(keyLen, w.add(r.pLast, one)))
                     : keyLen;
  r.rightBounded = w.cmp(arith::CmpIPredicate::sge, windowRight, zero);
  Value hiWindow = w.select(
      r.rightBounded,
      w.maxIdx(zero,
               w.minIdx(keyLen, w.add(w.add(r.pLast, windowRight), one))),
      keyLen);
  r.windowHi = w.minIdx(hiCausal, hiWindow);
  r.leftBounded = w.cmp(arith::CmpIPredicate::sge, windowLeft, zero);
  Value lo = w.select(r.leftBounded,
                      w.maxIdx(zero, w.sub(r.pFirst, windowLeft)), zero);
  Value sinkEnd = w.minIdx(sinks, keyLen);
  r.sinkHi = w.minIdx(sinkEnd, hiCausal);
  r.windowLo = w.maxIdx(lo, sinkEnd);
  return r;
}

Value windowTileNeedsMask(KernelBuilder &w, const AttentionVariant &variant,
                          const KeyRanges &ranges, Value j0, Value j1,
                          Value windowLeft, Value windowRight) {
  Value last = w.sub(j1, w.index(1));
  Value mask = w.boolean(false);
  if (variant.causal)
    mask = w.orI(mask, w.cmp(arith::CmpIPredicate::sgt, last, ranges.pFirst));
  // window_left: the last row's lower bound pLast - wl must be <= j0.
  Value leftEdge = w.sub(ranges.pLast, windowLeft);
  mask = w.orI(mask, w.andI(ranges.leftBounded,
                            w.cmp(arith::CmpIPredicate::slt, j0, leftEdge)));
  // window_right: the first row's upper bound pFirst + wr must be >= last.
  Value rightEdge = w.add(ranges.pFirst, windowRight);
  mask = w.orI(mask, w.andI(ranges.rightBounded,
                            w.cmp(arith::CmpIPredicate::sgt, last, rightEdge)));
  return mask;
}

Value sinkTileNeedsMask(KernelBuilder &w, const AttentionVariant &variant,
                        const KeyRanges &ranges, Value j1) {
  if (!variant.causal)
    return w.boolean(false);
  Value last = w.sub(j1, w.index(1));
  return w.cmp(arith::CmpIPredicate::sgt, last, ranges.pFirst);
}

} // namespace mlir::mha
