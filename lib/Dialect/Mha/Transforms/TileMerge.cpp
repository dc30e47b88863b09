//===- TileMerge.cpp - mha.merge_states to work-item kernels ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Part of mha-tile: the kernel of an exported merge function, one work item
// (b, h, t) per tile of rows of one head. Each row reads its two lse values
// and, when some side has keys, its two output rows, and writes the merged
// row and lse (the formula of mha.merge_states: weights exp(lse_x - m) with
// m the larger lse, applied in f32). The kernel goes through the same
// entry-point glue and runtime launcher as an attention's.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/EntryPoint.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Rows per work item: a row is a few vector operations, so items are
/// large enough to amortise their dispatch.
constexpr int64_t kMergeRowsPerItem = 256;

/// Emits the body of one merge work item.
class MergeEmitter {
public:
  MergeEmitter(OpBuilder &b, Location loc, Value oa, Value lseA, Value ob,
               Value lseB, Value out, Value lse, Value batch, Value head,
               Value tile)
      : b(b), loc(loc), cb(b, loc), oa(oa), lseA(lseA), ob(ob), lseB(lseB),
        out(out), lse(lse), batch(batch), head(head), tile(tile) {}

  void emit();

private:
  /// Row i of an [B, H, L, Dv] memref, widened to f32.
  Value loadRow(Value mem, Value i) {
    auto type = cast<MemRefType>(mem.getType());
    Type elt = type.getElementType();
    int64_t dv = type.getDimSize(3);
    Value row = vector::LoadOp::create(b, loc, VectorType::get({dv}, elt), mem,
                                       ValueRange{batch, head, i, cb.index(0)});
    return elt.isF32()
               ? row
               : arith::ExtFOp::create(
                     b, loc, VectorType::get({dv}, b.getF32Type()), row);
  }
  void storeRow(Value row, Value i) {
    auto type = cast<MemRefType>(out.getType());
    Type elt = type.getElementType();
    if (!elt.isF32())
      row = arith::TruncFOp::create(
          b, loc, VectorType::get({type.getDimSize(3)}, elt), row);
    vector::StoreOp::create(b, loc, row, out,
                            ValueRange{batch, head, i, cb.index(0)});
  }
  Value splat(Value x) {
    int64_t dv = cast<MemRefType>(oa.getType()).getDimSize(3);
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({dv}, b.getF32Type()), x);
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  Value oa, lseA, ob, lseB, out, lse;
  Value batch, head, tile;
};

void MergeEmitter::emit() {
  Value rowsConst = cb.index(kMergeRowsPerItem);
  Value len = memref::DimOp::create(b, loc, lseA, 2);
  Value row0 = cb.mul(tile, rowsConst);
  Value rows = cb.minSI(rowsConst, cb.sub(len, row0));
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  Value zero = cb.f32(0.0f);
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    Value i = cb.add(row0, r);
    SmallVector<Value> at{batch, head, i};
    Value la = memref::LoadOp::create(b, loc, lseA, at);
    Value lb = memref::LoadOp::create(b, loc, lseB, at);
    // maximumf propagates NaN; a side with lse = -inf weighs exp(-inf) = 0.
    Value m = cb.maximumF(la, lb);
    Value empty = cb.cmpF(arith::CmpFPredicate::OEQ, m, negInf);
    Value mSafe = cb.select(empty, zero, m);
    Value wa = math::ExpOp::create(b, loc, cb.fsub(la, mSafe));
    Value wb = math::ExpOp::create(b, loc, cb.fsub(lb, mSafe));
    Value sum = cb.fadd(wa, wb);
    if (lse) {
      Value merged = cb.fadd(m, math::LogOp::create(b, loc, sum));
      memref::StoreOp::create(b, loc, cb.select(empty, negInf, merged), lse,
                              at);
    }
    if (!out)
      return;
    // Each side scaled by its weight, or 0 for a weight of 0: 0 * inf never
    // comes from a side with no keys, and both empty give 0 (1 / sum is
    // then inf, but no side uses it).
    Value inv = cb.fdiv(cb.f32(1.0f), sum);
    auto side = [&](Value w, Value mem) {
      return cb.select(cb.cmpF(arith::CmpFPredicate::OEQ, w, zero), splat(zero),
                       cb.fmul(loadRow(mem, i), splat(cb.fmul(w, inv))));
    };
    storeRow(cb.fadd(side(wa, oa), side(wb, ob)), i);
  });
}

} // namespace

LogicalResult mlir::mha::tileMergeFunction(func::FuncOp func,
                                           MergeStatesOp merge) {
  FailureOr<SmallVector<Parameter>> params = matchMergeFunction(func, merge);
  if (failed(params))
    return failure();
  int64_t heads =
      cast<RankedTensorType>(merge.getOutputA().getType()).getDimSize(1);
  OpBuilder b(func);
  func::FuncOp kernel =
      createWorkItemKernel(b, func, *params, kMergeRowsPerItem, heads);
  Block *entry = &kernel.front();
  auto argFor = [&](Value v) { return getParameterArgument(func, *entry, v); };
  unsigned n = params->size();
  MergeEmitter(b, merge.getLoc(), argFor(merge.getOutputA()),
               argFor(merge.getLseA()), argFor(merge.getOutputB()),
               argFor(merge.getLseB()), argFor(merge.getOutput()),
               argFor(merge.getLse()), entry->getArgument(n),
               entry->getArgument(n + 1), entry->getArgument(n + 2))
      .emit();
  func::ReturnOp::create(b, merge.getLoc());
  func.erase();
  return success();
}
