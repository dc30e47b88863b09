//===- TileAppend.cpp - mha.append_kv to work-item kernels ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Turns an exported function computing one mha.append_kv into the kernel of
// one work item (s, g, t) (a layer's decoding step appends with the same
// items, TileLayer.cpp): new keys [t * R, (t + 1) * R) of KV head g of
// sequence s, written (rotated by RoPE when asked) with their values into
// the caller's caches at positions kv_lens[s] + i, quantized to i8 by the
// given scales for a quantized cache. The runtime has checked every
// position, page and scale before the first item runs.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Codegen/HeadParams.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Emits the body of one append work item.
class AppendEmitter {
public:
  AppendEmitter(OpBuilder &b, Location loc, ModuleOp module, StringRef name,
                std::optional<double> ropeTheta, const AppendWorkItem &item)
      : b(b), loc(loc), cb(b, loc), module(module), name(name),
        ropeTheta(ropeTheta), kNew(item.kNew), vNew(item.vNew),
        lens(item.kvLens), table(item.blockTable), kCache(item.kCache),
        vCache(item.vCache), batch(item.batch), kvHead(item.kvHead),
        tile(item.tile), kScales(item.keyScale), vScales(item.valueScale),
        qLens(item.qLens), cuSeqlensQ(item.cuSeqlensQ) {}

  void emit() {
    newBatch = batch;
    rowBase = cb.index(0);
    if (!cuSeqlensQ) {
      emitRows(qLens ? loadIndex(qLens, batch)
                     : Value(memref::DimOp::create(b, loc, kNew, 2)));
      return;
    }
    // Packed: sequence `batch`'s rows of batch 0; the grid's item row past
    // the last sequence has none.
    Value sequences =
        cb.sub(memref::DimOp::create(b, loc, cuSeqlensQ, 0), cb.index(1));
    cb.ifThen(cb.lt(batch, sequences), [&] {
      newBatch = cb.index(0);
      rowBase = loadIndex(cuSeqlensQ, batch);
      emitRows(
          cb.sub(loadIndex(cuSeqlensQ, cb.add(batch, cb.index(1))), rowBase));
    });
  }

private:
  Value loadIndex(Value m, Value i) {
    return cb.indexCast(b.getIndexType(), memref::LoadOp::create(b, loc, m, i));
  }

  /// The item's rows of the sequence's `newLen` new keys.
  void emitRows(Value newLen) {
    Value rowsConst = cb.index(kAppendRows);
    Value row0 = cb.mul(tile, rowsConst);
    Value rows = cb.minSI(rowsConst, cb.sub(newLen, row0));
    Value base = loadIndex(lens, batch);
    Value freqs = ropeTheta ? ropeFrequencies() : Value();
    cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
      Value i = cb.add(row0, r);
      Value pos = cb.add(base, i);
      Value row = cb.add(rowBase, i);
      SmallVector<Value> slot = cacheSlot(pos);
      if (vNew) // (A latent step's cache has no values of its own.)
        copyRow(vNew, row, vCache, slot, scaleAt(vScales, slot));
      Value kScale = scaleAt(kScales, slot);
      if (!freqs)
        copyRow(kNew, row, kCache, slot, kScale);
      else
        rotateRow(row, pos, slot, freqs, kScale);
    });
  }

  /// The cache indices [page or batch, head, slot, 0] of position `pos`.
  SmallVector<Value> cacheSlot(Value pos) {
    Value zero = cb.index(0);
    if (!table)
      return {batch, kvHead, pos, zero};
    Value pageSize = memref::DimOp::create(b, loc, kCache, 2);
    Value page = cb.indexCast(
        b.getIndexType(),
        memref::LoadOp::create(b, loc, table,
                               ValueRange{batch, cb.divUI(pos, pageSize)}));
    return {page, kvHead, arith::RemUIOp::create(b, loc, pos, pageSize), zero};
  }

  /// The scale of an i8 cache's `slot`: per KV head, or per page and KV
  /// head; null for a cache that is not quantized.
  Value scaleAt(Value scales, ArrayRef<Value> slot) {
    if (!scales)
      return Value();
    if (cast<MemRefType>(scales.getType()).getRank() == 1)
      return memref::LoadOp::create(b, loc, scales, kvHead);
    return memref::LoadOp::create(b, loc, scales, ValueRange{slot[0], kvHead});
  }

  /// f32 `x` (a scalar or a vector) as the i8 of docs/language.md 4.8:
  /// clamp(round_half_even(x / scale), -127, 127), NaN as 0.
  Value quantize(Value x, Value scale) {
    Type type = x.getType();
    Type i8 = b.getI8Type();
    if (auto vector = dyn_cast<VectorType>(type)) {
      scale = vector::BroadcastOp::create(b, loc, vector, scale);
      i8 = VectorType::get(vector.getShape(), i8);
    }
    auto constant = [&](float c) -> Value {
      Value scalar = cb.f32(c);
      if (isa<VectorType>(type))
        return vector::BroadcastOp::create(b, loc, type, scalar);
      return scalar;
    };
    Value y = math::RoundEvenOp::create(
        b, loc, arith::DivFOp::create(b, loc, x, scale));
    y = arith::MinimumFOp::create(
        b, loc, arith::MaximumFOp::create(b, loc, y, constant(-127.0f)),
        constant(127.0f));
    Value isNan = cb.cmpF(arith::CmpFPredicate::UNO, x, x);
    y = arith::SelectOp::create(b, loc, isNan, constant(0.0f), y);
    return arith::FPToSIOp::create(b, loc, i8, y);
  }

  /// cache[slot] = new row i (of newBatch), quantized by `scale` when
  /// given.
  void copyRow(Value from, Value i, Value to, ArrayRef<Value> slot,
               Value scale) {
    auto type = cast<MemRefType>(from.getType());
    Type elt = type.getElementType();
    int64_t width = type.getDimSize(3);
    Value row =
        vector::LoadOp::create(b, loc, VectorType::get({width}, elt), from,
                               ValueRange{newBatch, kvHead, i, cb.index(0)});
    if (scale) {
      if (!elt.isF32())
        row = arith::ExtFOp::create(
            b, loc, VectorType::get({width}, b.getF32Type()), row);
      row = quantize(row, scale);
    }
    vector::StoreOp::create(b, loc, row, to, slot);
  }

  Value ropeFrequencies() {
    return getRopeFrequencies(cb, module, name, *ropeTheta,
                              cast<MemRefType>(kNew.getType()).getDimSize(3));
  }

  /// k_cache[slot] = rope(k_new[newBatch, g, i], pos): pairs (t, t + D/2),
  /// quantized by `scale` when given.
  void rotateRow(Value i, Value pos, ArrayRef<Value> slot, Value freqs,
                 Value scale) {
    auto type = cast<MemRefType>(kNew.getType());
    Type elt = type.getElementType(), f32 = b.getF32Type();
    int64_t half = type.getDimSize(3) / 2;
    Value position = arith::UIToFPOp::create(
        b, loc, b.getF64Type(),
        arith::IndexCastUIOp::create(b, loc, b.getI64Type(), pos));
    auto widen = [&](Value x) -> Value {
      return elt.isF32() ? x : arith::ExtFOp::create(b, loc, f32, x);
    };
    auto narrow = [&](Value x) -> Value {
      if (scale)
        return quantize(x, scale);
      return elt.isF32() ? x : arith::TruncFOp::create(b, loc, elt, x);
    };
    cb.forLoop(cb.index(0), cb.index(half), 1, [&](Value t) {
      Value angle = arith::MulFOp::create(
          b, loc, position, memref::LoadOp::create(b, loc, freqs, t));
      Value c = arith::TruncFOp::create(b, loc, f32,
                                        math::CosOp::create(b, loc, angle));
      Value s = arith::TruncFOp::create(b, loc, f32,
                                        math::SinOp::create(b, loc, angle));
      Value tHigh = cb.add(t, cb.index(half));
      Value x1 = widen(memref::LoadOp::create(
          b, loc, kNew, ValueRange{newBatch, kvHead, i, t}));
      Value x2 = widen(memref::LoadOp::create(
          b, loc, kNew, ValueRange{newBatch, kvHead, i, tHigh}));
      Value y1 = cb.fsub(cb.fmul(x1, c), cb.fmul(x2, s));
      Value y2 = cb.fadd(cb.fmul(x2, c), cb.fmul(x1, s));
      memref::StoreOp::create(b, loc, narrow(y1), kCache,
                              ValueRange{slot[0], slot[1], slot[2], t});
      memref::StoreOp::create(b, loc, narrow(y2), kCache,
                              ValueRange{slot[0], slot[1], slot[2], tHigh});
    });
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  ModuleOp module;
  StringRef name;
  std::optional<double> ropeTheta;
  Value kNew, vNew, lens, table, kCache, vCache, batch, kvHead, tile;
  Value kScales, vScales;  // Of an i8 cache; null otherwise.
  Value qLens, cuSeqlensQ; // A layer step's new rows per sequence, or null.
  // Where the sequence's new keys are: batch element and first row.
  Value newBatch, rowBase;
};

} // namespace

void mlir::mha::emitAppendWorkItem(OpBuilder &b, Location loc, ModuleOp module,
                                   StringRef name,
                                   std::optional<double> ropeTheta,
                                   const AppendWorkItem &item) {
  AppendEmitter(b, loc, module, name, ropeTheta, item).emit();
}

LogicalResult mlir::mha::tileAppendFunction(ModuleOp module, func::FuncOp func,
                                            AppendKvOp append) {
  FailureOr<SmallVector<Parameter>> params = matchAppendFunction(func, append);
  if (failed(params))
    return failure();
  int64_t kvHeads =
      cast<RankedTensorType>(append.getKeyNew().getType()).getDimSize(1);
  OpBuilder b(func);
  func::FuncOp kernel =
      createWorkItemKernel(b, func, *params, kAppendRows, kvHeads);
  std::string name = func.getSymName().str();
  Block &entry = kernel.front();
  auto arg = [&](Value v) { return getParameterArgument(func, entry, v); };
  unsigned n = func.getNumArguments();
  AppendWorkItem item = {
      arg(append.getKeyNew()),    arg(append.getValueNew()),
      arg(append.getKvLens()),    arg(append.getBlockTable()),
      arg(append.getKeyCache()),  arg(append.getValueCache()),
      arg(append.getKeyScale()),  arg(append.getValueScale()),
      entry.getArgument(n),       entry.getArgument(n + 1),
      entry.getArgument(n + 2),   arg(append.getQLens()),
      arg(append.getCuSeqlensQ())};
  std::optional<double> theta;
  if (append.getRopeTheta())
    theta = append.getRopeTheta()->convertToDouble();
  emitAppendWorkItem(b, append.getLoc(), module, name, theta, item);
  func::ReturnOp::create(b, append.getLoc());
  func.erase();
  return success();
}
