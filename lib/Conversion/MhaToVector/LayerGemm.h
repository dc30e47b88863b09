//===- LayerGemm.h - Lowering a layer's GEMMs -------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to the lowering of a layer's GEMM ops: LayerGemm.cpp (panels,
// micro-kernels, epilogues, the patterns) and LayerGemmQuantized.cpp (int8
// and int4 weights, vpdpbusd panels, dynamically quantized rows). This is
// the state they share while they lower one op.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATOVECTOR_LAYERGEMM_H
#define MHA_LIB_CONVERSION_MHATOVECTOR_LAYERGEMM_H

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/MicroKernels.h"
#include "mha/Conversion/MhaToVector/MhaToVector.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <array>
#include <utility>

namespace mlir::mha::detail {

/// The vector code of one GEMM op, `vw` f32 lanes wide.
class GemmLowering {
public:
  GemmLowering(OpBuilder &b, Location loc, int64_t vw)
      : b(b), loc(loc), cb(b, loc), vw(vw) {}

  /// A weight: float, or quantized (`scale` set: i8 values, int8 or with
  /// `int4` two nibbles per byte, scales [N] or [G, N]).
  struct Weight {
    Value values, scale;
    bool int4 = false;
    // int4: whether the columns read start odd (0 or 1) when known for
    // the whole op, -1 when each load must look.
    int64_t oddColumns = -1;
    // Read as W^T (mha.pack_panel's `transpose`): "row k, column c" is
    // values[c, k].
    bool transposed = false;
  };
  /// wp[k][c] = W[k0 + k, col0 + c] in f32, zero past `cols` up to
  /// `colPad`; a quantized W is multiplied by its scales.
  void emitPack(const Weight &w, Value k0, Value kn, Value col0, Value cols,
                Value wp, int64_t colPad);
  /// wp[p][2c + t] = W[k0 + 2p + t, col0 + c] in bf16, zero past `cols`
  /// and past `kn` (the second row of an odd last pair).
  void emitPackPairs(const Weight &w, Value k0, Value kn, Value col0,
                     Value cols, Value wp, int64_t colPad);
  /// The i8 panel of a quantized W (mha.pack_panel): per K-block of `kc`
  /// rows, wp[p][4c + t] = values[k0 + 4p + t, col0 + c] (0 past `cols`
  /// and `kn`), then -128 x the block's column sums (i32), then the
  /// block's column scales (f32).
  void emitPackQuads(const Weight &w, Value k0, Value kn, Value col0,
                     Value cols, Value wp, int64_t colPad, int64_t kc);
  /// mha.pack_panel of `w` into its panel's layout.
  void emitPackPanel(PackPanelOp op, const Weight &w);
  void emitGemmTile(GemmTileOp op);
  void emitQuantizeRows(QuantizeRowsOp op);

private:
  /// `v` rounded up to whole vectors.
  Value roundUpToVector(Value v) {
    return cb.mul(cb.divUI(cb.add(v, cb.index(vw - 1)), cb.index(vw)),
                  cb.index(vw));
  }
  /// `v` widened to f32: 16-bit floats extended, int8 converted.
  Value ext(Value v) {
    auto type = cast<VectorType>(v.getType());
    if (type.getElementType().isF32())
      return v;
    auto f32Type = VectorType::get(type.getShape(), b.getF32Type());
    if (type.getElementType().isInteger())
      return arith::SIToFPOp::create(b, loc, f32Type, v);
    return arith::ExtFOp::create(b, loc, f32Type, v);
  }
  Value scalarExt(Value v) {
    if (v.getType().isF32())
      return v;
    if (v.getType().isInteger())
      return arith::SIToFPOp::create(b, loc, b.getF32Type(), v);
    return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
  }
  /// The vw weights of row `k` at column `col` in f32 (lanes past `valid`
  /// 0; a null `valid`: all inside), times their scales when the weight is
  /// quantized.
  Value loadWeights(const Weight &w, Value k, Value col, Value valid) {
    if (w.scale)
      return cb.fmul(ext(loadQuantized(w, k, col, valid)),
                     loadScales(w, k, col, valid));
    if (w.transposed)
      return loadTransposed(w, k, col, valid);
    Type elt = cast<MemRefType>(w.values.getType()).getElementType();
    return valid
               ? loadTail(w.values, ValueRange{k}, col, valid)
               : ext(vector::LoadOp::create(b, loc, VectorType::get({vw}, elt),
                                            w.values, ValueRange{k, col}));
  }
  /// values[col + i, k] for i < vw in f32, 0 past `valid` (null: all
  /// inside): a column of W read as a row of W^T, lane by lane (packing
  /// reads each weight once per call; the GEMM reads the panel many times).
  Value loadTransposed(const Weight &w, Value k, Value col, Value valid) {
    Value zero = cb.f32(0.0f);
    SmallVector<Value> lanes;
    for (int64_t i = 0; i < vw; ++i) {
      Value c = cb.add(col, cb.index(i));
      Value inside = valid ? cb.lt(cb.index(i), valid) : Value();
      if (inside)
        c = cb.select(inside, c, col); // In bounds: valid > 0.
      Value x =
          scalarExt(memref::LoadOp::create(b, loc, w.values, ValueRange{c, k}));
      lanes.push_back(inside ? cb.select(inside, x, zero) : x);
    }
    return vector::FromElementsOp::create(b, loc, vec::getF32Vector(cb, vw),
                                          lanes);
  }
  /// The vw values of row `k` of a quantized weight at column `col` as
  /// signed bytes, 0 past `valid` (null: all inside).
  Value loadQuantized(const Weight &w, Value k, Value col, Value valid);
  /// The vw f32 scales of row `k`'s group at column `col`, 0 past `valid`.
  Value loadScales(const Weight &w, Value k, Value col, Value valid) {
    auto scaleType = cast<MemRefType>(w.scale.getType());
    SmallVector<Value> prefix;
    if (scaleType.getRank() == 2) {
      int64_t rows = cast<MemRefType>(w.values.getType()).getDimSize(0);
      prefix.push_back(cb.divUI(k, cb.index(rows / scaleType.getDimSize(0))));
    }
    if (valid)
      return loadTail(w.scale, prefix, col, valid);
    prefix.push_back(col);
    return vector::LoadOp::create(b, loc, vec::getF32Vector(cb, vw), w.scale,
                                  prefix);
  }
  /// vec::loadTail at this lowering's width (also of int8 values).
  Value loadTail(Value m, ValueRange prefix, Value col, Value valid);
  /// vec::storeTail at this lowering's width.
  void storeTail(Value value, Value m, ValueRange prefix, Value col,
                 Value valid);

  /// The operands of the item being lowered.
  struct Item {
    Value x, bias, y, cs;
    Value batch, row0;
    vec::RegisterBlock block;
    int64_t yOffset, replicaStride;
    SmallVector<int64_t> replicas;
  };
  /// The scratch rows rb + r (r < rows) and columns c + v * vw (v < block
  /// vectors) of a micro-kernel's block of accumulators.
  struct BlockIndices {
    SmallVector<Value> rows, cols;
  };
  BlockIndices getBlockIndices(const Item &item, Value rb, int64_t rows,
                               Value c) {
    BlockIndices at;
    for (int64_t r = 0; r < rows; ++r)
      at.rows.push_back(cb.add(rb, cb.index(r)));
    for (int64_t v = 0; v < item.block.vectors; ++v)
      at.cols.push_back(cb.add(c, cb.index(v * vw)));
    return at;
  }
  /// The block's f32 accumulators from cs, row by row.
  SmallVector<Value> loadBlock(const Item &item, const BlockIndices &at) {
    SmallVector<Value> acc;
    for (Value row : at.rows)
      for (Value col : at.cols)
        acc.push_back(vector::LoadOp::create(b, loc, vec::getF32Vector(cb, vw),
                                             item.cs, ValueRange{row, col}));
    return acc;
  }
  void storeBlock(const Item &item, const BlockIndices &at, ValueRange acc) {
    size_t i = 0;
    for (Value row : at.rows)
      for (Value col : at.cols)
        vector::StoreOp::create(b, loc, acc[i++], item.cs,
                                ValueRange{row, col});
  }
  /// cs[rb + i][c + v*vw] += sum over k < kn of x[b, row0 + rb + i, k0 + k]
  /// * wp[k][c + v*vw] for i < rows, v < block vectors: the accumulators
  /// stay in registers over the whole k loop. With `xw`, x's rows come
  /// widened from xw[i][k] (emitWidenRows).
  void emitMicroKernel(const Item &item, Value rb, int64_t rows, Value c,
                       Value k0, Value kn, Value wp, Value xw);
  /// xw[i][k] = x[b, row0 + rb + i, k0 + k] in f32 for i < rows, k < kn:
  /// the FMA micro-kernel then broadcasts 16-bit inputs from memory, where
  /// each would otherwise cross a general register once per column block.
  void emitWidenRows(const Item &item, Value rb, int64_t rows, Value k0,
                     Value kn, Value xw);
  /// The f32 [rows, cols] buffer of emitWidenRows: one stack slot at the
  /// function's entry, shared by its GEMMs of that shape.
  Value getWidenedRowsBuffer(Operation *op, int64_t rows, int64_t cols);
  /// The same with vdpbf16ps on pairs of k: wp holds pairs of rows.
  void emitMicroKernelPairs(const Item &item, Value rb, int64_t rows, Value c,
                            Value k0, Value kn, Value wp);
  /// The same with vpdpbusd on quads of k of x's unsigned bytes and an i8
  /// panel (wp: the K-block's quads of rows, offsets, scales): i32
  /// accumulators from the offsets over the K-block, then added to cs in
  /// f32 times the block's scales.
  void emitMicroKernelQuads(const Item &item, Value rb, int64_t rows, Value c,
                            Value k0, Value kn, Value wp);
  /// cs[r, :] *= inputScale[b, row0 + r]: the int8 products in the
  /// input's units.
  void emitDequantize(const Item &item, Value rows, Value inputScale,
                      int64_t colPad);
  /// The `lanes` bias values of `replica` at weight column `wcol`, f32;
  /// lanes past `valid` are 0 (a null `valid`: all lanes are inside).
  Value loadBias(const Item &item, int64_t replica, Value wcol, int64_t lanes,
                 Value valid);
  /// `step(acc, k, left)` folded over the (start, length) `segments` of a
  /// row in chunks of vw columns from k (`left` columns of its segment
  /// remain, possibly more than vw), from `init`.
  Value foldSegments(ArrayRef<int64_t> segments, Value init,
                     function_ref<Value(Value, Value, Value)> step) {
    for (size_t s = 0; s < segments.size(); s += 2) {
      int64_t start = segments[s], end = start + segments[s + 1];
      Value chunks = cb.index((end - start + vw - 1) / vw);
      init = cb.forLoopCarrying(
                   chunks, init,
                   [&](Value i, ValueRange acc) -> SmallVector<Value> {
                     Value k = cb.add(cb.index(start), cb.mul(i, cb.index(vw)));
                     return {step(acc[0], k, cb.sub(cb.index(end), k))};
                   })
                 .getResult(0);
    }
    return init;
  }
  /// cs[r, :] /= sqrt(sum of x[b, row0 + r, k]^2 over the segments / n +
  /// eps): an RMS norm of the input rows, applied to the products.
  void emitInputRmsScale(const Item &item, Value rows,
                         ArrayRef<int64_t> segments, float eps, int64_t colPad);
  /// y = cs (+ bias) for every live replica, narrowed to y's type.
  void emitEpilogue(const Item &item, Value rows, Value col0, Value cols);
  /// y = RoPE(cs (+ bias)) for every live replica: the item holds one head,
  /// whose columns from `offset` are rotated.
  void emitRopeEpilogue(const Item &item, Value rows, Value col0, Value table,
                        int64_t offset);

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  int64_t vw;
};

} // namespace mlir::mha::detail

#endif // MHA_LIB_CONVERSION_MHATOVECTOR_LAYERGEMM_H
