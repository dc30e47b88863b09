//===- TileVectors.h - Work-item vector helpers -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// What the emitters of mha-tile-backward (TileBackward.cpp) and of the
// attention-transfer loss (TileKl.cpp) share: f32 vectors of vw lanes,
// stack scratch, rows of [B, H, L, X] tensors widened to f32 and packed
// (as rows, or transposed for the score products), and register-blocked
// products on the micro-kernels of mha/Codegen/MicroKernels.h.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_DIALECT_MHA_TRANSFORMS_TILEVECTORS_H
#define MHA_LIB_DIALECT_MHA_TRANSFORMS_TILEVECTORS_H

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/MicroKernels.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::mha {

/// An operand of a product: rows of a 2-D view of `mem`, whose indices are
/// `prefix` then (rowOffset + row, column).
struct Tile {
  Tile(Value mem) : mem(mem) {}
  Tile(Value mem, ValueRange prefix, Value rowOffset)
      : mem(mem), prefix(prefix.begin(), prefix.end()), rowOffset(rowOffset) {}
  Value mem;
  SmallVector<Value, 2> prefix;
  Value rowOffset; // null: 0
};

class TileVectorEmitter {
protected:
  TileVectorEmitter(OpBuilder &b, Location loc, int64_t vw)
      : b(b), loc(loc), cb(b, loc), vw(vw), f32(b.getF32Type()),
        i32(b.getI32Type()) {}

  VectorType vec() { return VectorType::get({vw}, f32); }
  VectorType vec32() { return VectorType::get({vw}, i32); }
  Value splat(Value scalar) { return vec::broadcast(cb, scalar, vw); }
  Value splatF(float v) { return splat(cb.f32(v)); }
  Value toI32(Value index) { return cb.indexCast(i32, index); }
  /// 64-byte aligned f32 (or `elt`) stack scratch.
  Value scratch(int64_t rows, int64_t cols, Type elt = {});
  Value scratch1(int64_t n, Type elt = {});
  Value load(Value mem, ValueRange at) {
    return memref::LoadOp::create(b, loc, mem, at);
  }
  void store(Value v, Value mem, ValueRange at) {
    memref::StoreOp::create(b, loc, v, mem, at);
  }
  Value loadVec(Value mem, ValueRange at) {
    auto elt = cast<MemRefType>(mem.getType()).getElementType();
    return vector::LoadOp::create(b, loc, VectorType::get({vw}, elt), mem, at);
  }
  void storeVec(Value v, Value mem, ValueRange at) {
    vector::StoreOp::create(b, loc, v, mem, at);
  }
  /// The lanes j * vw + l of vector j, as i32 constants.
  Value laneIndices(int64_t j);
  Value sumLanes(Value v) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, v);
  }

  /// vw lanes of row `row` of the [B, H, L, X] tensor `mem` (b, h) from
  /// column d0, widened to f32; lanes at or past column X are zero and
  /// their memory is not read.
  Value loadInput(Value mem, Value batch, Value head, Value row, int64_t d0);
  /// Stores the lanes of an f32 vector that lie before column X into row
  /// `row` at column d0, narrowed to the tensor's element type.
  void storeOutput(Value v, Value mem, Value batch, Value head, Value row,
                   int64_t d0);
  /// dst[r, :] = rows first + r of `src` (b, h), widened and zero-padded,
  /// for r in [0, count).
  void packRows(Value src, Value batch, Value head, Value first, Value count,
                Value dst);
  /// dst[x, c] = src[first + min(c, count - 1), x] for x < X (the tensor's
  /// last dim) and c < `cols`: vw x vw blocks loaded as rows, transposed in
  /// registers and stored as rows of dst. count >= 1.
  void packTransposed(Value src, Value batch, Value head, Value first,
                      Value count, int64_t cols, Value dst);

  /// The bf16 pairs of a [B, H, L, X] bf16 tensor, for vdpbf16ps products
  /// (X even): dst[p, 2c + t] = src[first + min(c, count - 1), 2p + t] for
  /// p < X / 2 and c < `cols` (a row's pairs as the 32-bit lanes of a
  /// column, transposed in vw x vw blocks). count >= 1.
  void packTransposedPairs(Value src, Value batch, Value head, Value first,
                           Value count, int64_t cols, Value dst);
  /// Rows first + 2p and first + 2p + 1 of `src` (b, h) interleaved, for
  /// p < ceil(count / 2): dst[p, 2x + t] = src[first + 2p + t, x], 0 for
  /// rows at or past `count` and for x >= X (dst has 2 roundUp(X, vw)
  /// columns).
  void packInterleavedRows(Value src, Value batch, Value head, Value first,
                           Value count, Value dst);
  /// f32 rows a0 and a1 of vw lanes rounded to bf16 (vcvtneps2bf16) and
  /// interleaved: the pairs (a0[l], a1[l]).
  Value interleaveBf16(Value a0, Value a1);

  /// Register-blocked C[rows, vectors] (+)= sum_k lhs[row, k] rhs[k, vec]
  /// over the rows [0, numRows) (clamped to numRows - 1 past it: those
  /// rows duplicate the last one's work and stores) and the vectors
  /// [0, numVectors) of `out`: `lhs(k, row)` is a scalar, `rhs` a memref
  /// read as rhs[k, vector]; with `accumulate` the block starts from `out`.
  void emitProduct(const Tile &out, Value numRows, int64_t numVectors,
                   Value kLen, function_ref<Value(Value, Value)> lhs,
                   const Tile &rhs, bool accumulate, bool clampRows);
  /// The same with vdpbf16ps over k pairs: `lhsPair(k, row)` is the
  /// broadcast pair (vec::broadcastPair) and `rhs` a bf16 memref of pairs
  /// read as rhs[k, 2 column] (vec::loadPairs).
  void emitPairProduct(const Tile &out, Value numRows, int64_t numVectors,
                       Value kPairs, function_ref<Value(Value, Value)> lhsPair,
                       const Tile &rhs, bool accumulate, bool clampRows);
  SmallVector<Value> at(const Tile &t, Value row, Value col) {
    SmallVector<Value> indices(t.prefix.begin(), t.prefix.end());
    indices.push_back(t.rowOffset ? cb.add(t.rowOffset, row) : row);
    indices.push_back(col);
    return indices;
  }

private:
  /// emitProduct and emitPairProduct: `lhs(k, row)` and `rhs(k, column)`
  /// give the block's operands, `dot` how they multiply.
  void emitBlockedProduct(const Tile &out, Value numRows, int64_t numVectors,
                          Value kLen, DotProduct dot,
                          function_ref<Value(Value, Value)> lhs,
                          function_ref<Value(Value, Value)> rhs,
                          bool accumulate, bool clampRows);
  /// The transposing packers: for each vw columns c0 of dst, rows first +
  /// min(c0 + i, count - 1), `loadRow(row, u0)` giving vw `lane`s of units
  /// [u0, u0 + vw), blocks transposed in registers and unit u's column
  /// handed to `storeColumn(u, c0, column)` for u < units.
  void
  packTransposedBlocks(Value first, Value count, int64_t cols, int64_t units,
                       Type lane, function_ref<Value(Value, int64_t)> loadRow,
                       function_ref<void(int64_t, Value, Value)> storeColumn);
  /// `width` elements of row `row` of `mem` (b, h) from column `col`, as
  /// stored; lanes at or past `valid` are zero and not read.
  Value loadRowPart(Value mem, Value batch, Value head, Value row, Value col,
                    int64_t width, int64_t valid);

protected:
  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  int64_t vw;
  Type f32, i32;
};

} // namespace mlir::mha

#endif // MHA_LIB_DIALECT_MHA_TRANSFORMS_TILEVECTORS_H
