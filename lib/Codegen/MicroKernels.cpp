//===- MicroKernels.cpp - Register-blocked vector products ----------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/MicroKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::mha;

VectorType vec::getF32Vector(CodegenBuilder &cb, int64_t n) {
  return VectorType::get({n}, cb.builder().getF32Type());
}

VectorType vec::getPairVector(CodegenBuilder &cb, int64_t n) {
  return VectorType::get({2 * n}, cb.builder().getBF16Type());
}

Value vec::broadcast(CodegenBuilder &cb, Value scalar, int64_t n) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  return vector::BroadcastOp::create(
      b, loc, VectorType::get({n}, scalar.getType()), scalar);
}

Value vec::broadcastPair(CodegenBuilder &cb, Value memref, ValueRange indices,
                         int64_t vw, bool single) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  Type i32 = b.getI32Type();
  Value words;
  if (elt.isF32()) {
    words = broadcast(cb, memref::LoadOp::create(b, loc, memref, indices), vw);
  } else if (single) {
    // Little endian: the element goes to the low half, the first of the
    // pair.
    Value h = memref::LoadOp::create(b, loc, memref, indices);
    h = arith::BitcastOp::create(b, loc, b.getI16Type(), h);
    words = broadcast(cb, arith::ExtUIOp::create(b, loc, i32, h), vw);
  } else {
    Value pair = vector::LoadOp::create(b, loc, VectorType::get({2}, elt),
                                        memref, indices);
    pair = vector::BitCastOp::create(b, loc, VectorType::get({1}, i32), pair);
    words =
        vector::BroadcastOp::create(b, loc, VectorType::get({vw}, i32), pair);
  }
  return vector::BitCastOp::create(b, loc, getPairVector(cb, vw), words);
}

Value vec::loadPairs(CodegenBuilder &cb, Value memref, ValueRange indices,
                     int64_t vw) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  return vector::LoadOp::create(b, loc, getPairVector(cb, vw), memref, indices);
}

SmallVector<Value> vec::emitBlockStep(CodegenBuilder &cb,
                                      const RegisterBlock &block,
                                      ValueRange accs,
                                      function_ref<Value(int64_t)> rhs,
                                      function_ref<Value(int64_t)> lhs) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  SmallVector<Value> rhsVectors, next;
  for (int64_t j = 0; j < block.vectors; ++j)
    rhsVectors.push_back(rhs(j));
  for (int64_t i = 0; i < block.rows; ++i) {
    Value a = lhs(i);
    for (int64_t j = 0; j < block.vectors; ++j) {
      Value acc = accs[i * block.vectors + j];
      if (block.dot == DotProduct::bf16_pairs)
        next.push_back(
            x86vector::DotBF16Op::create(b, loc, acc, a, rhsVectors[j]));
      else
        next.push_back(vector::FMAOp::create(b, loc, a, rhsVectors[j], acc));
    }
  }
  return next;
}

SmallVector<Value> vec::emitBlockLoop(CodegenBuilder &cb,
                                      const RegisterBlock &block, Value n,
                                      ValueRange init,
                                      function_ref<void(Value)> begin,
                                      function_ref<Value(Value, int64_t)> rhs,
                                      function_ref<Value(Value, int64_t)> lhs) {
  scf::ForOp loop = cb.forLoopCarrying(n, init, [&](Value k, ValueRange accs) {
    if (begin)
      begin(k);
    return emitBlockStep(
        cb, block, accs, [&](int64_t j) { return rhs(k, j); },
        [&](int64_t i) { return lhs(k, i); });
  });
  return SmallVector<Value>(loop.getResults());
}

Value vec::widen(CodegenBuilder &cb, Value v) {
  Type elt = getElementTypeOrSelf(v.getType());
  if (elt.isF32())
    return v;
  Type f32 = cb.builder().getF32Type();
  if (auto type = dyn_cast<VectorType>(v.getType()))
    f32 = VectorType::get(type.getShape(), f32);
  return arith::ExtFOp::create(cb.builder(), cb.getLoc(), f32, v);
}

Value vec::rowsNeedCopy(CodegenBuilder &cb, Value m, int64_t rowDim,
                        int64_t rowElems) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, m);
  Value apart = cb.cmpI(arith::CmpIPredicate::ne, meta.getStrides()[rowDim],
                        cb.index(rowElems));
  int64_t bytes = cast<MemRefType>(m.getType()).getElementTypeBitWidth() / 8;
  Value start =
      cb.add(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, m),
             cb.mul(meta.getOffset(), cb.index(bytes)));
  Value offLine =
      cb.cmpI(arith::CmpIPredicate::ne,
              arith::RemUIOp::create(b, loc, start, cb.index(64)), cb.index(0));
  return arith::OrIOp::create(b, loc, apart, offLine);
}

Value vec::loadTail(CodegenBuilder &cb, int64_t vw, Value m, ValueRange prefix,
                    Value col, Value valid) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
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
  Value last = cb.sub(cb.maxSI(valid, cb.index(1)), cb.index(1));
  Value zero = cb.f32(0.0f);
  SmallVector<Value> lanes;
  for (int64_t i = 0; i < vw; ++i) {
    idx.resize(prefix.size());
    idx.push_back(cb.add(col, cb.minSI(cb.index(i), last)));
    Value x = memref::LoadOp::create(b, loc, m, idx);
    if (elt.isInteger())
      x = arith::SIToFPOp::create(b, loc, b.getF32Type(), x);
    else
      x = arith::ExtFOp::create(b, loc, b.getF32Type(), x);
    lanes.push_back(cb.select(cb.lt(cb.index(i), valid), x, zero));
  }
  return vector::FromElementsOp::create(b, loc, vec::getF32Vector(cb, vw),
                                        lanes);
}

void vec::storeTail(CodegenBuilder &cb, int64_t vw, Value value, Value m,
                    ValueRange prefix, Value col, Value valid) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
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
    Value inside = cb.lt(cb.index(i), valid);
    cb.ifThen(inside, [&] {
      Value x = vector::ExtractOp::create(b, loc, value, i);
      x = arith::TruncFOp::create(b, loc, elt, x);
      idx.resize(prefix.size());
      idx.push_back(cb.add(col, cb.index(i)));
      memref::StoreOp::create(b, loc, x, m, idx);
    });
  }
}

void vec::storeVector(CodegenBuilder &cb, int64_t vw, Value value, Value m,
                      ValueRange prefix, Value col, Value valid) {
  if (valid) {
    storeTail(cb, vw, value, m, prefix, col, valid);
    return;
  }
  OpBuilder &b = cb.builder();
  Type elt = cast<MemRefType>(m.getType()).getElementType();
  if (!elt.isF32())
    value = arith::TruncFOp::create(b, cb.getLoc(), VectorType::get({vw}, elt),
                                    value);
  SmallVector<Value> idx(prefix);
  idx.push_back(col);
  vector::StoreOp::create(b, cb.getLoc(), value, m, idx);
}
