//===- TileVectors.cpp - Work-item vector helpers ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "TileVectors.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// The register blocks hold at most this many rows and vectors.
constexpr int64_t kBlockRows = 4, kMaxBlockVectors = 4;

/// The largest divisor of `vectors` that is at most kMaxBlockVectors.
int64_t blockVectors(int64_t vectors) {
  for (int64_t v = kMaxBlockVectors; v > 1; --v)
    if (vectors % v == 0)
      return v;
  return 1;
}

} // namespace

Value TileVectorEmitter::scratch(int64_t rows, int64_t cols, Type elt) {
  return memref::AllocaOp::create(
      b, loc, MemRefType::get({rows, cols}, elt ? elt : f32), ValueRange{},
      b.getI64IntegerAttr(64));
}

Value TileVectorEmitter::scratch1(int64_t n, Type elt) {
  return memref::AllocaOp::create(b, loc, MemRefType::get({n}, elt ? elt : f32),
                                  ValueRange{}, b.getI64IntegerAttr(64));
}

Value TileVectorEmitter::laneIndices(int64_t j) {
  SmallVector<int32_t> lanes;
  for (int64_t l = 0; l < vw; ++l)
    lanes.push_back(static_cast<int32_t>(j * vw + l));
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vec32(), ArrayRef<int32_t>(lanes)));
}

Value TileVectorEmitter::loadInput(Value mem, Value batch, Value head,
                                   Value row, int64_t d0) {
  auto type = cast<MemRefType>(mem.getType());
  Type elt = type.getElementType();
  int64_t valid = type.getDimSize(3) - d0;
  auto read = [&](int64_t n) -> Value {
    Value v =
        vector::LoadOp::create(b, loc, VectorType::get({n}, elt), mem,
                               ValueRange{batch, head, row, cb.index(d0)});
    if (!elt.isF32())
      v = arith::ExtFOp::create(b, loc, VectorType::get({n}, f32), v);
    return v;
  };
  if (valid >= vw)
    return read(vw);
  Value zeros =
      arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vec(), 0.0f));
  if (valid <= 0)
    return zeros;
  return vector::InsertStridedSliceOp::create(
      b, loc, read(valid), zeros, ArrayRef<int64_t>{0}, ArrayRef<int64_t>{1});
}

void TileVectorEmitter::storeOutput(Value v, Value mem, Value batch, Value head,
                                    Value row, int64_t d0) {
  auto type = cast<MemRefType>(mem.getType());
  Type elt = type.getElementType();
  int64_t valid = std::min(vw, type.getDimSize(3) - d0);
  if (valid <= 0)
    return;
  if (valid < vw)
    v = vector::ExtractStridedSliceOp::create(b, loc, v, ArrayRef<int64_t>{0},
                                              ArrayRef<int64_t>{valid},
                                              ArrayRef<int64_t>{1});
  if (!elt.isF32())
    v = arith::TruncFOp::create(b, loc, VectorType::get({valid}, elt), v);
  vector::StoreOp::create(b, loc, v, mem,
                          ValueRange{batch, head, row, cb.index(d0)});
}

void TileVectorEmitter::packRows(Value src, Value batch, Value head,
                                 Value first, Value count, Value dst) {
  int64_t padded = cast<MemRefType>(dst.getType()).getDimSize(1);
  cb.forLoop(cb.index(0), count, 1, [&](Value r) {
    Value row = cb.add(first, r);
    for (int64_t d0 = 0; d0 < padded; d0 += vw)
      storeVec(loadInput(src, batch, head, row, d0), dst, {r, cb.index(d0)});
  });
}

void TileVectorEmitter::packTransposedBlocks(
    Value first, Value count, int64_t cols, int64_t units, Type lane,
    function_ref<Value(Value, int64_t)> loadRow,
    function_ref<void(int64_t, Value, Value)> storeColumn) {
  Value last = cb.sub(count, cb.index(1));
  auto blockType = VectorType::get({vw, vw}, lane);
  cb.forLoop(cb.index(0), cb.index(cols), vw, [&](Value c0) {
    SmallVector<Value> srcRows;
    for (int64_t i = 0; i < vw; ++i)
      srcRows.push_back(cb.add(first, cb.minSI(cb.add(c0, cb.index(i)), last)));
    for (int64_t u0 = 0; u0 < units; u0 += vw) {
      Value block = arith::ConstantOp::create(
          b, loc, cast<TypedAttr>(b.getZeroAttr(blockType)));
      for (int64_t i = 0; i < vw; ++i)
        block =
            vector::InsertOp::create(b, loc, loadRow(srcRows[i], u0), block, i);
      Value transposed =
          vector::TransposeOp::create(b, loc, block, ArrayRef<int64_t>{1, 0});
      for (int64_t i = 0; i < std::min(vw, units - u0); ++i)
        storeColumn(u0 + i, c0,
                    vector::ExtractOp::create(b, loc, transposed, i));
    }
  });
}

void TileVectorEmitter::packTransposed(Value src, Value batch, Value head,
                                       Value first, Value count, int64_t cols,
                                       Value dst) {
  packTransposedBlocks(
      first, count, cols, cast<MemRefType>(src.getType()).getDimSize(3), f32,
      [&](Value row, int64_t d0) {
        return loadInput(src, batch, head, row, d0);
      },
      [&](int64_t d, Value c0, Value column) {
        storeVec(column, dst, {cb.index(d), c0});
      });
}

Value TileVectorEmitter::loadRowPart(Value mem, Value batch, Value head,
                                     Value row, Value col, int64_t width,
                                     int64_t valid) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  auto type = VectorType::get({width}, elt);
  SmallVector<Value, 4> at{batch, head, row, col};
  if (valid >= width)
    return vector::LoadOp::create(b, loc, type, mem, at);
  Value zeros =
      arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(type)));
  if (valid <= 0)
    return zeros;
  Value part =
      vector::LoadOp::create(b, loc, VectorType::get({valid}, elt), mem, at);
  return vector::InsertStridedSliceOp::create(
      b, loc, part, zeros, ArrayRef<int64_t>{0}, ArrayRef<int64_t>{1});
}

void TileVectorEmitter::packTransposedPairs(Value src, Value batch, Value head,
                                            Value first, Value count,
                                            int64_t cols, Value dst) {
  // Each pair is one 32-bit lane of the transposed blocks.
  int64_t pairs = cast<MemRefType>(src.getType()).getDimSize(3) / 2;
  packTransposedBlocks(
      first, count, cols, pairs, i32,
      [&](Value row, int64_t p0) -> Value {
        Value part = loadRowPart(src, batch, head, row, cb.index(2 * p0),
                                 2 * vw, 2 * std::min(vw, pairs - p0));
        return vector::BitCastOp::create(b, loc, vec32(), part);
      },
      [&](int64_t p, Value c0, Value column) {
        storeVec(vector::BitCastOp::create(b, loc, vec::getPairVector(cb, vw),
                                           column),
                 dst, {cb.index(p), cb.add(c0, c0)});
      });
}

void TileVectorEmitter::packInterleavedRows(Value src, Value batch, Value head,
                                            Value first, Value count,
                                            Value dst) {
  int64_t X = cast<MemRefType>(src.getType()).getDimSize(3);
  int64_t padded = cast<MemRefType>(dst.getType()).getDimSize(1) / 2;
  Type elt = cast<MemRefType>(src.getType()).getElementType();
  Value zeros = arith::ConstantOp::create(
      b, loc, cast<TypedAttr>(b.getZeroAttr(VectorType::get({vw}, elt))));
  Value pairs = cb.divUI(cb.add(count, cb.index(1)), cb.index(2));
  Value last = cb.sub(count, cb.index(1));
  cb.forLoop(cb.index(0), pairs, 1, [&](Value p) {
    Value even = cb.add(p, p);
    Value odd = cb.add(even, cb.index(1));
    Value hasOdd = cb.lt(odd, count);
    Value oddRow = cb.add(first, cb.minSI(odd, last));
    for (int64_t x0 = 0; x0 < padded; x0 += vw) {
      Value e = loadRowPart(src, batch, head, cb.add(first, even), cb.index(x0),
                            vw, X - x0);
      Value o = loadRowPart(src, batch, head, oddRow, cb.index(x0), vw, X - x0);
      o = cb.select(hasOdd, o, zeros);
      storeVec(vector::InterleaveOp::create(b, loc, e, o), dst,
               {p, cb.index(2 * x0)});
    }
  });
}

Value TileVectorEmitter::interleaveBf16(Value a0, Value a1) {
  auto round = [&](Value a) -> Value {
    return x86vector::CvtPackedF32ToBF16Op::create(
        b, loc, VectorType::get({vw}, b.getBF16Type()), a);
  };
  return vector::InterleaveOp::create(b, loc, round(a0), round(a1));
}

void TileVectorEmitter::emitProduct(const Tile &out, Value numRows,
                                    int64_t numVectors, Value kLen,
                                    function_ref<Value(Value, Value)> lhs,
                                    const Tile &rhs, bool accumulate,
                                    bool clampRows) {
  emitBlockedProduct(
      out, numRows, numVectors, kLen, DotProduct::fma,
      [&](Value k, Value row) { return splat(lhs(k, row)); },
      [&](Value k, Value col) { return loadVec(rhs.mem, at(rhs, k, col)); },
      accumulate, clampRows);
}

void TileVectorEmitter::emitPairProduct(
    const Tile &out, Value numRows, int64_t numVectors, Value kPairs,
    function_ref<Value(Value, Value)> lhsPair, const Tile &rhs, bool accumulate,
    bool clampRows) {
  emitBlockedProduct(
      out, numRows, numVectors, kPairs, DotProduct::bf16_pairs, lhsPair,
      [&](Value k, Value col) {
        return vec::loadPairs(cb, rhs.mem, at(rhs, k, cb.add(col, col)), vw);
      },
      accumulate, clampRows);
}

void TileVectorEmitter::emitBlockedProduct(
    const Tile &out, Value numRows, int64_t numVectors, Value kLen,
    DotProduct dot, function_ref<Value(Value, Value)> lhs,
    function_ref<Value(Value, Value)> rhs, bool accumulate, bool clampRows) {
  int64_t vectors = blockVectors(numVectors);
  vec::RegisterBlock block{kBlockRows, vectors, dot};
  Value last = cb.sub(numRows, cb.index(1));
  cb.forLoop(cb.index(0), numRows, kBlockRows, [&](Value r0) {
    SmallVector<Value> rs;
    for (int64_t i = 0; i < kBlockRows; ++i) {
      Value r = cb.add(r0, cb.index(i));
      rs.push_back(clampRows ? cb.minSI(r, last) : r);
    }
    cb.forLoop(
        cb.index(0), cb.index(numVectors * vw), vectors * vw, [&](Value c0) {
          SmallVector<Value> cs, init;
          for (int64_t j = 0; j < vectors; ++j)
            cs.push_back(cb.add(c0, cb.index(j * vw)));
          for (int64_t i = 0; i < kBlockRows; ++i)
            for (int64_t j = 0; j < vectors; ++j)
              init.push_back(accumulate
                                 ? loadVec(out.mem, at(out, rs[i], cs[j]))
                                 : splatF(0.0f));
          SmallVector<Value> accs = vec::emitBlockLoop(
              cb, block, kLen, init, nullptr,
              [&](Value k, int64_t j) { return rhs(k, cs[j]); },
              [&](Value k, int64_t i) { return lhs(k, rs[i]); });
          for (int64_t i = 0; i < kBlockRows; ++i)
            for (int64_t j = 0; j < vectors; ++j)
              storeVec(accs[i * vectors + j], out.mem, at(out, rs[i], cs[j]));
        });
  });
}
