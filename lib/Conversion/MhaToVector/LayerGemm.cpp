//===- LayerGemm.cpp - Register-blocked GEMMs of a layer ----------*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Lowers the GEMM work mha-tile plans for a layer's projections:
//
//  - mha.pack_panel copies a block of weight columns into its panel: f32
//    rows padded with zeros to whole vectors, (bf16 panels) pairs of rows
//    interleaved for vdpbf16ps, or (i8 panels) quads of rows of a quantized
//    weight for vpdpbusd, each K-block followed by its column offsets and
//    scales; int8 and int4 weights are widened and scaled on the way;
//  - mha.gemm_tile zeroes the item's f32 accumulators, then for each
//    K-block of each reduction segment runs the micro-kernels of
//    mha/Codegen/MicroKernels.h over the rows (blocks of block_rows, then one
//    row at a time) and the panel's vectors: block_rows x block_vectors
//    accumulators stay in registers over the K-block while it stays in L2; the
//    epilogue adds the bias, applies RoPE, and narrows on the one store of each
//    result, for every live replica.
//
// Masked 16-bit vector memory ops are avoided: they legalise to calls of
// libgcc helpers Debian's libgcc lacks. Partial vectors of f16/bf16 are
// gathered lane by lane at clamped (in-bounds) columns and stored lane by
// lane.
//
//===----------------------------------------------------------------------===//

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

#define DEBUG_TYPE "convert-mha-to-vector"

using namespace mlir;
using namespace mlir::mha;

namespace {

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

} // namespace

Value GemmLowering::loadTail(Value m, ValueRange prefix, Value col,
                             Value valid) {
  return vec::loadTail(cb, vw, m, prefix, col, valid);
}

void GemmLowering::storeTail(Value value, Value m, ValueRange prefix, Value col,
                             Value valid) {
  vec::storeTail(cb, vw, value, m, prefix, col, valid);
}

Value GemmLowering::loadQuantized(const Weight &w, Value k, Value col,
                                  Value valid) {
  auto bytesType = VectorType::get({vw}, b.getI8Type());
  auto maskType = VectorType::get({vw}, b.getI1Type());
  Value zeros = arith::ConstantOp::create(
      b, loc, bytesType, DenseElementsAttr::get(bytesType, int8_t(0)));
  if (!w.int4 && !valid)
    return vector::LoadOp::create(b, loc, bytesType, w.values,
                                  ValueRange{k, col});
  Value count = valid ? valid : cb.index(vw);
  if (!w.int4) {
    Value mask =
        vector::CreateMaskOp::create(b, loc, maskType, ValueRange{count});
    return vector::MaskedLoadOp::create(b, loc, bytesType, w.values,
                                        ValueRange{k, col}, mask, zeros);
  }
  auto fours = [&](VectorType type) -> Value {
    return arith::ConstantOp::create(b, loc, type,
                                     DenseElementsAttr::get(type, int8_t(4)));
  };
  Value inside =
      vector::CreateMaskOp::create(b, loc, maskType, ValueRange{count});
  if (w.oddColumns == 0) {
    // From an even column: the vw / 2 bytes' low and high nibbles,
    // sign-extended by shifts, interleaved.
    auto halfType = VectorType::get({vw / 2}, b.getI8Type());
    auto halfMaskType = VectorType::get({vw / 2}, b.getI1Type());
    Value byteMask = vector::CreateMaskOp::create(
        b, loc, halfMaskType,
        ValueRange{cb.divUI(cb.add(cb.maxSI(count, cb.index(0)), cb.index(1)),
                            cb.index(2))});
    Value halfZeros = arith::ConstantOp::create(
        b, loc, halfType, DenseElementsAttr::get(halfType, int8_t(0)));
    Value bytes = vector::MaskedLoadOp::create(
        b, loc, halfType, w.values, ValueRange{k, cb.divUI(col, cb.index(2))},
        byteMask, halfZeros);
    Value four = fours(halfType);
    Value low = arith::ShRSIOp::create(
        b, loc, arith::ShLIOp::create(b, loc, bytes, four), four);
    Value high = arith::ShRSIOp::create(b, loc, bytes, four);
    return cb.select(inside, vector::InterleaveOp::create(b, loc, low, high),
                     zeros);
  }
  // Column j is nibble j % 2 of byte j / 2: lane i of a vector from an
  // even column reads byte i / 2, from an odd one byte (i + 1) / 2; the
  // bytes the lanes touch, no more, are loaded.
  Value odd = w.oddColumns >= 0
                  ? Value(arith::ConstantOp::create(
                        b, loc, b.getBoolAttr(w.oddColumns == 1)))
                  : cb.cmpI(arith::CmpIPredicate::ne,
                            arith::RemUIOp::create(b, loc, col, cb.index(2)),
                            cb.index(0));
  Value first = cb.divUI(col, cb.index(2));
  Value last =
      cb.divUI(cb.add(col, cb.sub(cb.maxSI(count, cb.index(1)), cb.index(1))),
               cb.index(2));
  Value touched =
      cb.select(cb.lt(cb.index(0), count),
                cb.add(cb.sub(last, first), cb.index(1)), cb.index(0));
  Value byteMask =
      vector::CreateMaskOp::create(b, loc, maskType, ValueRange{touched});
  Value bytes = vector::MaskedLoadOp::create(
      b, loc, bytesType, w.values, ValueRange{k, first}, byteMask, zeros);
  SmallVector<int64_t> fromEven, fromOdd;
  SmallVector<bool> lowIfEven, lowIfOdd;
  for (int64_t i = 0; i < vw; ++i) {
    fromEven.push_back(i / 2);
    fromOdd.push_back((i + 1) / 2);
    lowIfEven.push_back(i % 2 == 0);
    lowIfOdd.push_back(i % 2 == 1);
  }
  auto shuffle = [&](ArrayRef<int64_t> lanes) -> Value {
    return vector::ShuffleOp::create(b, loc, bytes, bytes, lanes);
  };
  auto lanes = [&](ArrayRef<bool> v) -> Value {
    return arith::ConstantOp::create(b, loc, maskType,
                                     DenseElementsAttr::get(maskType, v));
  };
  // Both nibbles of every lane's byte, sign-extended by uniform shifts;
  // each lane keeps the one its column names.
  Value spread = cb.select(odd, shuffle(fromOdd), shuffle(fromEven));
  Value four = fours(bytesType);
  Value low = arith::ShRSIOp::create(
      b, loc, arith::ShLIOp::create(b, loc, spread, four), four);
  Value high = arith::ShRSIOp::create(b, loc, spread, four);
  Value values =
      cb.select(cb.select(odd, lanes(lowIfOdd), lanes(lowIfEven)), low, high);
  return cb.select(inside, values, zeros);
}

void GemmLowering::emitPack(const Weight &w, Value k0, Value kn, Value col0,
                            Value cols, Value wp, int64_t colPad) {
  auto vecType = vec::getF32Vector(cb, vw);
  Value zeros = arith::ConstantOp::create(
      b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
  // Whole vectors inside the block, the partial one, zeros up to colPad
  // (nothing is read past `cols`).
  Value full = cb.sub(cols, arith::RemUIOp::create(b, loc, cols, cb.index(vw)));
  Value partialEnd = roundUpToVector(cols);
  cb.forLoop(cb.index(0), kn, 1, [&](Value k) {
    Value kx = cb.add(k0, k);
    cb.forLoop(cb.index(0), full, vw, [&](Value c) {
      Value v = loadWeights(w, kx, cb.add(col0, c), Value());
      vector::StoreOp::create(b, loc, v, wp, ValueRange{k, c});
    });
    cb.forLoop(full, partialEnd, vw, [&](Value c) {
      Value v = loadWeights(w, kx, cb.add(col0, c), cb.sub(cols, c));
      vector::StoreOp::create(b, loc, v, wp, ValueRange{k, c});
    });
    cb.forLoop(partialEnd, cb.index(colPad), vw, [&](Value c) {
      vector::StoreOp::create(b, loc, zeros, wp, ValueRange{k, c});
    });
  });
}

void GemmLowering::emitPackPairs(const Weight &w, Value k0, Value kn,
                                 Value col0, Value cols, Value wp,
                                 int64_t colPad) {
  Type bf16 = b.getBF16Type();
  auto halfType = VectorType::get({vw}, bf16);
  Value zeros = arith::ConstantOp::create(
      b, loc, halfType, DenseElementsAttr::get(halfType, 0.0f));
  Value full = cb.sub(cols, arith::RemUIOp::create(b, loc, cols, cb.index(vw)));
  Value partialEnd = roundUpToVector(cols);
  Value pairs = cb.divUI(cb.add(kn, cb.index(1)), cb.index(2));
  // The vw bf16 elements of row k at column col (lanes past `valid` 0).
  auto loadRow = [&](Value k, Value col, Value valid) -> Value {
    Type elt = cast<MemRefType>(w.values.getType()).getElementType();
    if (elt.isBF16() && !valid && !w.transposed)
      return vector::LoadOp::create(b, loc, halfType, w.values,
                                    ValueRange{k, col});
    return arith::TruncFOp::create(b, loc, halfType,
                                   loadWeights(w, k, col, valid));
  };
  cb.forLoop(cb.index(0), pairs, 1, [&](Value p) {
    Value kEven = cb.add(k0, cb.add(p, p));
    // An odd last pair reads its first row twice and zeroes the copy.
    Value hasOdd = cb.lt(cb.add(cb.add(p, p), cb.index(1)), kn);
    Value kOdd = cb.select(hasOdd, cb.add(kEven, cb.index(1)), kEven);
    auto packVector = [&](Value c, Value valid) {
      Value col = cb.add(col0, c);
      Value even = loadRow(kEven, col, valid);
      Value odd = cb.select(hasOdd, loadRow(kOdd, col, valid), zeros);
      Value both = vector::InterleaveOp::create(b, loc, even, odd);
      vector::StoreOp::create(b, loc, both, wp, ValueRange{p, cb.add(c, c)});
    };
    cb.forLoop(cb.index(0), full, vw, [&](Value c) { packVector(c, Value()); });
    cb.forLoop(full, partialEnd, vw,
               [&](Value c) { packVector(c, cb.sub(cols, c)); });
    cb.forLoop(partialEnd, cb.index(colPad), vw, [&](Value c) {
      Value both = vector::InterleaveOp::create(b, loc, zeros, zeros);
      vector::StoreOp::create(b, loc, both, wp, ValueRange{p, cb.add(c, c)});
    });
  });
}

Value GemmLowering::getWidenedRowsBuffer(Operation *op, int64_t rows,
                                         int64_t cols) {
  constexpr StringLiteral kMarker = "mha.widened_rows";
  auto type = MemRefType::get({rows, cols}, b.getF32Type());
  Block &entry =
      op->getParentOfType<FunctionOpInterface>().getFunctionBody().front();
  for (auto alloca : entry.getOps<memref::AllocaOp>())
    if (alloca->hasAttr(kMarker) && alloca.getType() == type)
      return alloca;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  auto alloca = memref::AllocaOp::create(b, loc, type, ValueRange{},
                                         b.getI64IntegerAttr(64));
  alloca->setAttr(kMarker, b.getUnitAttr());
  return alloca;
}

void GemmLowering::emitWidenRows(const Item &item, Value rb, int64_t rows,
                                 Value k0, Value kn, Value xw) {
  Type elt = cast<MemRefType>(item.x.getType()).getElementType();
  auto rowType = VectorType::get({vw}, elt);
  Value fullEnd = cb.sub(kn, arith::RemUIOp::create(b, loc, kn, cb.index(vw)));
  for (int64_t r = 0; r < rows; ++r) {
    Value row = cb.add(item.row0, cb.add(rb, cb.index(r)));
    cb.forLoop(cb.index(0), fullEnd, vw, [&](Value k) {
      Value v = vector::LoadOp::create(
          b, loc, rowType, item.x, ValueRange{item.batch, row, cb.add(k0, k)});
      vector::StoreOp::create(b, loc, ext(v), xw, ValueRange{cb.index(r), k});
    });
    // The last partial vector (lanes past kn are never read).
    cb.ifThen(cb.cmpI(arith::CmpIPredicate::ult, fullEnd, kn), [&] {
      Value v = loadTail(item.x, {item.batch, row}, cb.add(k0, fullEnd),
                         cb.sub(kn, fullEnd));
      vector::StoreOp::create(b, loc, v, xw, ValueRange{cb.index(r), fullEnd});
    });
  }
}

void GemmLowering::emitMicroKernel(const Item &item, Value rb, int64_t rows,
                                   Value c, Value k0, Value kn, Value wp,
                                   Value xw) {
  auto vecType = vec::getF32Vector(cb, vw);
  BlockIndices at = getBlockIndices(item, rb, rows, c);
  Value kx;
  SmallVector<Value> results = vec::emitBlockLoop(
      cb, {rows, item.block.vectors, DotProduct::fma}, kn, loadBlock(item, at),
      [&](Value k) { kx = cb.add(k0, k); },
      [&](Value k, int64_t v) {
        return vector::LoadOp::create(b, loc, vecType, wp,
                                      ValueRange{k, at.cols[v]});
      },
      [&](Value k, int64_t r) {
        Value xs =
            xw ? memref::LoadOp::create(b, loc, xw, ValueRange{cb.index(r), k})
               : scalarExt(memref::LoadOp::create(
                     b, loc, item.x,
                     ValueRange{item.batch, cb.add(item.row0, at.rows[r]),
                                kx}));
        return vec::broadcast(cb, xs, vw);
      });
  storeBlock(item, at, results);
}

void GemmLowering::emitMicroKernelPairs(const Item &item, Value rb,
                                        int64_t rows, Value c, Value k0,
                                        Value kn, Value wp) {
  vec::RegisterBlock block{rows, item.block.vectors, DotProduct::bf16_pairs};
  BlockIndices at = getBlockIndices(item, rb, rows, c);
  SmallVector<Value> xRows, pairCols;
  for (Value row : at.rows)
    xRows.push_back(cb.add(item.row0, row));
  for (Value col : at.cols)
    pairCols.push_back(cb.add(col, col));
  SmallVector<Value> acc = loadBlock(item, at);
  // acc += x[k..k+1] . wp[p] on every (row, vector); `single`: x[k] alone.
  auto rhs = [&](Value p, int64_t v) {
    return vec::loadPairs(cb, wp, {p, pairCols[v]}, vw);
  };
  auto lhs = [&](Value k, int64_t r, bool single) {
    return vec::broadcastPair(cb, item.x, {item.batch, xRows[r], k}, vw,
                              single);
  };
  Value pairs = cb.divUI(kn, cb.index(2));
  Value k;
  SmallVector<Value> loopResults = vec::emitBlockLoop(
      cb, block, pairs, acc, [&](Value p) { k = cb.add(k0, cb.add(p, p)); },
      rhs, [&](Value, int64_t r) { return lhs(k, r, /*single=*/false); });
  // An odd last k: its row is alone in the last pair.
  Value odd =
      cb.cmpI(arith::CmpIPredicate::ne,
              arith::RemUIOp::create(b, loc, kn, cb.index(2)), cb.index(0));
  auto ifOdd =
      scf::IfOp::create(b, loc, ValueRange(loopResults).getTypes(), odd,
                        /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOdd.thenBlock());
    Value kLast = cb.add(k0, cb.sub(kn, cb.index(1)));
    scf::YieldOp::create(
        b, loc,
        vec::emitBlockStep(
            cb, block, loopResults, [&](int64_t v) { return rhs(pairs, v); },
            [&](int64_t r) { return lhs(kLast, r, /*single=*/true); }));
    b.setInsertionPointToStart(ifOdd.elseBlock());
    scf::YieldOp::create(b, loc, loopResults);
  }
  storeBlock(item, at, ifOdd.getResults());
}

Value GemmLowering::loadBias(const Item &item, int64_t replica, Value wcol,
                             int64_t lanes, Value valid) {
  auto biasType = cast<MemRefType>(item.bias.getType());
  // [replicas, N] biases have a row per replica; [N] ones are indexed by
  // the output column.
  SmallVector<Value> prefix;
  Value col = wcol;
  if (biasType.getRank() == 2)
    prefix.push_back(cb.index(replica));
  else
    col = cb.add(wcol, cb.index(replica * item.replicaStride));
  if (valid)
    return loadTail(item.bias, prefix, col, valid);
  prefix.push_back(col);
  return ext(vector::LoadOp::create(
      b, loc, VectorType::get({lanes}, biasType.getElementType()), item.bias,
      prefix));
}

void GemmLowering::emitInputRmsScale(const Item &item, Value rows,
                                     ArrayRef<int64_t> segments, float eps,
                                     int64_t colPad) {
  auto vecType = vec::getF32Vector(cb, vw);
  int64_t n = 0;
  for (size_t s = 1; s < segments.size(); s += 2)
    n += segments[s];
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    SmallVector<Value> prefix{item.batch, cb.add(item.row0, r)};
    Value zero = arith::ConstantOp::create(
        b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
    Value sum =
        foldSegments(segments, zero, [&](Value acc, Value k, Value left) {
          Value x = loadTail(item.x, prefix, k, cb.minSI(cb.index(vw), left));
          return vector::FMAOp::create(b, loc, x, x, acc).getResult();
        });
    Value total =
        vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sum);
    Value meanEps = arith::AddFOp::create(
        b, loc,
        arith::DivFOp::create(b, loc, total, cb.f32(static_cast<float>(n))),
        cb.f32(eps));
    Value scale = vector::BroadcastOp::create(
        b, loc, vecType, math::RsqrtOp::create(b, loc, meanEps));
    for (int64_t c = 0; c < colPad; c += vw) {
      SmallVector<Value> at{r, cb.index(c)};
      Value acc = vector::LoadOp::create(b, loc, vecType, item.cs, at);
      vector::StoreOp::create(b, loc, cb.fmul(acc, scale), item.cs, at);
    }
  });
}

void GemmLowering::emitEpilogue(const Item &item, Value rows, Value col0,
                                Value cols) {
  auto vecType = vec::getF32Vector(cb, vw);
  Type yElt = cast<MemRefType>(item.y.getType()).getElementType();
  auto yVecType = VectorType::get({vw}, yElt);
  int64_t yOffset = item.yOffset, stride = item.replicaStride;
  cb.forLoop(cb.index(0), cols, vw, [&](Value c) {
    Value valid = cb.sub(cols, c);
    Value whole = cb.ge(valid, cb.index(vw));
    Value wcol = cb.add(col0, c);
    auto ifWhole = scf::IfOp::create(b, loc, whole, /*withElseRegion=*/true);
    for (bool masked : {false, true}) {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(masked ? ifWhole.elseBlock()
                                        : ifWhole.thenBlock());
      for (int64_t replica : item.replicas) {
        Value ycol = cb.add(wcol, cb.index(yOffset + replica * stride));
        Value bias = item.bias ? loadBias(item, replica, wcol, vw,
                                          masked ? valid : Value())
                               : Value();
        cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
          Value value = vector::LoadOp::create(b, loc, vecType, item.cs,
                                               ValueRange{r, c});
          if (bias)
            value = cb.fadd(value, bias);
          Value row = cb.add(item.row0, r);
          if (masked) {
            storeTail(value, item.y, ValueRange{item.batch, row}, ycol, valid);
            return;
          }
          if (!yElt.isF32())
            value = arith::TruncFOp::create(b, loc, yVecType, value);
          vector::StoreOp::create(b, loc, value, item.y,
                                  ValueRange{item.batch, row, ycol});
        });
      }
    }
  });
}

void GemmLowering::emitRopeEpilogue(const Item &item, Value rows, Value col0,
                                    Value table, int64_t offset) {
  int64_t half = cast<MemRefType>(table.getType()).getDimSize(2) / 2;
  // The widest vector that divides the half head.
  int64_t rw = 1;
  for (int64_t c : {vw, int64_t(8), int64_t(4), int64_t(2)})
    if (c <= vw && half % c == 0) {
      rw = c;
      break;
    }
  auto vecType = vec::getF32Vector(cb, rw);
  Type yElt = cast<MemRefType>(item.y.getType()).getElementType();
  auto yVecType = VectorType::get({rw}, yElt);
  int64_t yOffset = item.yOffset, stride = item.replicaStride;
  // One table for every sequence ([1, L, D]) or one per sequence. Rows
  // past the table's wrap around: flat rows [1, B L] of B sequences
  // read the positions of their own sequence.
  Value tableBatch = cast<MemRefType>(table.getType()).getDimSize(0) == 1
                         ? cb.index(0)
                         : item.batch;
  Value tableRows = memref::DimOp::create(b, loc, table, 1);
  // The table row of the item's first row; the row loop advances it,
  // wrapping at the table's end (no division per row).
  Value firstPosition = arith::RemUIOp::create(b, loc, item.row0, tableRows);
  for (int64_t replica : item.replicas) {
    Value head0 = cb.add(col0, cb.index(yOffset + replica * stride));
    cb.forLoop(cb.index(0), cb.index(half), rw, [&](Value t) {
      // Columns of the pair in the head; t indexes the table.
      Value c1 = cb.add(t, cb.index(offset));
      Value c2 = cb.add(c1, cb.index(half));
      Value t2 = cb.add(t, cb.index(half));
      Value bias1, bias2;
      if (item.bias) {
        bias1 = loadBias(item, replica, cb.add(col0, c1), rw, Value());
        bias2 = loadBias(item, replica, cb.add(col0, c2), rw, Value());
      }
      cb.forLoopCarrying(
          rows, firstPosition,
          [&](Value r, ValueRange carried) -> SmallVector<Value> {
            Value l = cb.add(item.row0, r);
            Value position = carried[0];
            auto load = [&](Value m, ValueRange idx) -> Value {
              return vector::LoadOp::create(b, loc, vecType, m, idx);
            };
            Value x1 = load(item.cs, {r, c1}), x2 = load(item.cs, {r, c2});
            if (bias1) {
              x1 = cb.fadd(x1, bias1);
              x2 = cb.fadd(x2, bias2);
            }
            Value cos = load(table, {tableBatch, position, t});
            Value sin = load(table, {tableBatch, position, t2});
            Value y1 = cb.fsub(cb.fmul(x1, cos), cb.fmul(x2, sin));
            Value y2 = cb.fadd(cb.fmul(x2, cos), cb.fmul(x1, sin));
            for (auto [value, col] : {std::pair(y1, c1), std::pair(y2, c2)}) {
              if (!yElt.isF32())
                value = arith::TruncFOp::create(b, loc, yVecType, value);
              vector::StoreOp::create(
                  b, loc, value, item.y,
                  ValueRange{item.batch, l, cb.add(head0, col)});
            }
            Value next = cb.add(position, cb.index(1));
            return {
                cb.select(cb.cmpI(arith::CmpIPredicate::eq, next, tableRows),
                          cb.index(0), next)};
          });
    });
  }
}

void GemmLowering::emitPackPanel(PackPanelOp op, const Weight &w) {
  // Every vector of an int4 block starts at the parity of its first
  // column: one copy of the loop for each, no per-load choice.
  if (w.int4 && w.oddColumns < 0) {
    Value odd = cb.cmpI(
        arith::CmpIPredicate::ne,
        arith::RemUIOp::create(b, loc, op.getColumnOffset(), cb.index(2)),
        cb.index(0));
    auto packWithParity = [&](int64_t parity) {
      Weight known = w;
      known.oddColumns = parity;
      emitPackPanel(op, known);
    };
    cb.ifThenElse(odd, [&] { packWithParity(1); }, [&] { packWithParity(0); });
    return;
  }
  MemRefType panel = op.getPanel().getType();
  Value k0 = op.getRowOffset(), kn = op.getRows();
  Value col0 = op.getColumnOffset(), cols = op.getColumns();
  if (panel.getElementType().isSignlessInteger(8))
    emitPackQuads(w, k0, kn, col0, cols, op.getPanel(), panel.getDimSize(1) / 4,
                  *op.getKBlock());
  else if (panel.getElementType().isBF16())
    emitPackPairs(w, k0, kn, col0, cols, op.getPanel(),
                  panel.getDimSize(1) / 2);
  else
    emitPack(w, k0, kn, col0, cols, op.getPanel(), panel.getDimSize(1));
}

void GemmLowering::emitPackQuads(const Weight &w, Value k0, Value kn,
                                 Value col0, Value cols, Value wp,
                                 int64_t colPad, int64_t kc) {
  auto byteType = VectorType::get({vw}, b.getI8Type());
  auto i32Type = VectorType::get({vw}, b.getI32Type());
  auto wordBytesType = VectorType::get({4 * vw}, b.getI8Type());
  Value zeros = arith::ConstantOp::create(
      b, loc, byteType, DenseElementsAttr::get(byteType, int8_t(0)));
  Value zeroSum = arith::ConstantOp::create(
      b, loc, i32Type, DenseElementsAttr::get(i32Type, int32_t(0)));
  Value ones = arith::ConstantOp::create(
      b, loc, wordBytesType, DenseElementsAttr::get(wordBytesType, int8_t(1)));
  StringAttr dot = b.getStringAttr("llvm.x86.avx512.vpdpbusd.512");
  Value lastRow = cb.add(k0, cb.sub(kn, cb.index(1)));
  Value blocks = cb.divUI(cb.add(kn, cb.index(kc - 1)), cb.index(kc));
  // The panel's vectors of columns: each quad of rows is read along whole
  // rows (all the block's columns), the column sums carried in registers.
  SmallVector<Value> colOffsets, colsValid;
  for (int64_t c = 0; c < colPad; c += vw) {
    colOffsets.push_back(cb.add(col0, cb.index(c)));
    colsValid.push_back(cb.minSI(cb.index(vw), cb.sub(cols, cb.index(c))));
  }
  cb.forLoop(cb.index(0), blocks, 1, [&](Value blk) {
    Value kb = cb.mul(blk, cb.index(kc));
    Value bn = cb.minSI(cb.index(kc), cb.sub(kn, kb));
    Value quads = cb.divUI(cb.add(bn, cb.index(3)), cb.index(4));
    Value row0 = cb.mul(blk, cb.index(kc / 4 + 2));
    SmallVector<Value> zeroSums(colOffsets.size(), zeroSum);
    // One quad of rows p for every vector of columns; `partial`: the rows
    // past the block (read at its last row, in bounds) are zeroed.
    auto packQuad = [&](Value p, ValueRange acc,
                        bool partial) -> SmallVector<Value> {
      SmallVector<Value> rows, inside;
      for (int64_t t = 0; t < 4; ++t) {
        Value k = cb.add(kb, cb.add(cb.mul(p, cb.index(4)), cb.index(t)));
        rows.push_back(partial ? cb.minSI(cb.add(k0, k), lastRow)
                               : cb.add(k0, k));
        inside.push_back(cb.lt(k, cb.add(kb, bn)));
      }
      SmallVector<Value> sums;
      for (auto [v, col] : llvm::enumerate(colOffsets)) {
        SmallVector<Value> rowsOfQuad;
        for (int64_t t = 0; t < 4; ++t) {
          Value q = loadQuantized(w, rows[t], col, colsValid[v]);
          rowsOfQuad.push_back(partial ? cb.select(inside[t], q, zeros) : q);
        }
        Value even =
            vector::InterleaveOp::create(b, loc, rowsOfQuad[0], rowsOfQuad[2]);
        Value odd =
            vector::InterleaveOp::create(b, loc, rowsOfQuad[1], rowsOfQuad[3]);
        Value quad = vector::InterleaveOp::create(b, loc, even, odd);
        vector::StoreOp::create(
            b, loc, quad, wp,
            ValueRange{cb.add(row0, p), cb.index(4 * int64_t(v) * vw)});
        // Each lane's four values summed by vpdpbusd against ones.
        sums.push_back(LLVM::CallIntrinsicOp::create(
                           b, loc, i32Type, dot, ValueRange{acc[v], ones, quad})
                           .getResult(0));
      }
      return sums;
    };
    Value fullQuads = cb.divUI(bn, cb.index(4));
    scf::ForOp full =
        cb.forLoopCarrying(fullQuads, zeroSums, [&](Value p, ValueRange acc) {
          return packQuad(p, acc, /*partial=*/false);
        });
    auto last = scf::IfOp::create(b, loc, full.getResultTypes(),
                                  cb.lt(fullQuads, quads),
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(last.thenBlock());
      scf::YieldOp::create(
          b, loc, packQuad(fullQuads, full.getResults(), /*partial=*/true));
      b.setInsertionPointToStart(last.elseBlock());
      scf::YieldOp::create(b, loc, full.getResults());
    }
    // The activations are q + 128: the offsets take 128 x the sums off.
    Value minus128 = arith::ConstantOp::create(
        b, loc, i32Type, DenseElementsAttr::get(i32Type, int32_t(-128)));
    Value tail = cb.add(row0, quads);
    for (auto [v, col] : llvm::enumerate(colOffsets)) {
      Value offsets =
          arith::MulIOp::create(b, loc, last.getResult(v), minus128);
      Value scales = loadScales(w, cb.add(k0, kb), col, colsValid[v]);
      std::array<Value, 2> rows = {offsets, scales};
      for (auto [i, words] : llvm::enumerate(rows))
        vector::StoreOp::create(
            b, loc, vector::BitCastOp::create(b, loc, wordBytesType, words), wp,
            ValueRange{cb.add(tail, cb.index(i)),
                       cb.index(4 * int64_t(v) * vw)});
    }
  });
}

void GemmLowering::emitMicroKernelQuads(const Item &item, Value rb,
                                        int64_t rows, Value c, Value k0,
                                        Value kn, Value wp) {
  auto i32Type = VectorType::get({vw}, b.getI32Type());
  auto bytesType = VectorType::get({4 * vw}, b.getI8Type());
  auto quadType = VectorType::get({4}, b.getI8Type());
  auto f32Type = vec::getF32Vector(cb, vw);
  int64_t nv = item.block.vectors;
  BlockIndices at = getBlockIndices(item, rb, rows, c);
  Value quads = cb.divUI(cb.add(kn, cb.index(3)), cb.index(4));
  // The K-block's rows after its quads: column offsets (i32), scales (f32).
  auto loadTailRow = [&](int64_t after, int64_t v, Type type) -> Value {
    Value bytes =
        vector::LoadOp::create(b, loc, bytesType, wp,
                               ValueRange{cb.add(quads, cb.index(after)),
                                          cb.mul(at.cols[v], cb.index(4))});
    return vector::BitCastOp::create(b, loc, VectorType::get({vw}, type),
                                     bytes);
  };
  SmallVector<Value> offsets, init;
  for (int64_t v = 0; v < nv; ++v)
    offsets.push_back(loadTailRow(0, v, b.getI32Type()));
  for (int64_t r = 0; r < rows; ++r)
    init.append(offsets);
  StringAttr dot = b.getStringAttr("llvm.x86.avx512.vpdpbusd.512");
  scf::ForOp loop = cb.forLoopCarrying(
      quads, init, [&](Value p, ValueRange acc) -> SmallVector<Value> {
        Value kx = cb.add(k0, cb.mul(p, cb.index(4)));
        SmallVector<Value> weights;
        for (int64_t v = 0; v < nv; ++v) {
          // 16 columns x 4 k: the intrinsic's signed bytes.
          weights.push_back(vector::LoadOp::create(
              b, loc, bytesType, wp,
              ValueRange{p, cb.mul(at.cols[v], cb.index(4))}));
        }
        SmallVector<Value> next;
        for (int64_t r = 0; r < rows; ++r) {
          // The row's four unsigned bytes, one i32 broadcast to every lane.
          Value quad = vector::LoadOp::create(
              b, loc, quadType, item.x,
              ValueRange{item.batch, cb.add(item.row0, at.rows[r]), kx});
          Value word = vector::ExtractOp::create(
              b, loc,
              vector::BitCastOp::create(
                  b, loc, VectorType::get({1}, b.getI32Type()), quad),
              int64_t(0));
          Value xs = vector::BitCastOp::create(
              b, loc, bytesType,
              vector::BroadcastOp::create(b, loc, i32Type, word));
          for (int64_t v = 0; v < nv; ++v)
            next.push_back(LLVM::CallIntrinsicOp::create(
                               b, loc, i32Type, dot,
                               ValueRange{acc[r * nv + v], xs, weights[v]})
                               .getResult(0));
        }
        return next;
      });
  // cs += f32(sums) * the block's scales.
  SmallVector<Value> scales;
  for (int64_t v = 0; v < nv; ++v)
    scales.push_back(loadTailRow(1, v, b.getF32Type()));
  SmallVector<Value> acc = loadBlock(item, at);
  for (size_t i = 0; i < acc.size(); ++i) {
    Value part = arith::SIToFPOp::create(b, loc, f32Type, loop.getResult(i));
    acc[i] = vector::FMAOp::create(b, loc, part, scales[i % nv], acc[i]);
  }
  storeBlock(item, at, acc);
}

void GemmLowering::emitDequantize(const Item &item, Value rows,
                                  Value inputScale, int64_t colPad) {
  auto f32Type = vec::getF32Vector(cb, vw);
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    Value rowScale = vector::BroadcastOp::create(
        b, loc, f32Type,
        memref::LoadOp::create(
            b, loc, inputScale,
            ValueRange{item.batch, cb.add(item.row0, r), cb.index(0)}));
    for (int64_t c = 0; c < colPad; c += vw) {
      SmallVector<Value> at{r, cb.index(c)};
      Value acc = vector::LoadOp::create(b, loc, f32Type, item.cs, at);
      vector::StoreOp::create(b, loc, cb.fmul(acc, rowScale), item.cs, at);
    }
  });
}

void GemmLowering::emitQuantizeRows(QuantizeRowsOp op) {
  auto f32Type = vec::getF32Vector(cb, vw);
  auto i32Type = VectorType::get({vw}, b.getI32Type());
  auto bytesType = VectorType::get({vw}, b.getI8Type());
  auto maskType = VectorType::get({vw}, b.getI1Type());
  Value x = op.getInput(), q = op.getOutput();
  int64_t k = op.getInput().getType().getDimSize(2);
  int64_t padded = op.getOutput().getType().getDimSize(2);
  Value kEnd = cb.index(k);
  cb.forLoop(cb.index(0), op.getRows(), 1, [&](Value r) {
    Value row = cb.add(op.getRowOffset(), r);
    SmallVector<Value> prefix{op.getBatch(), row};
    auto load = [&](Value col) {
      return loadTail(x, prefix, col, cb.sub(kEnd, col));
    };
    Value zero = arith::ConstantOp::create(
        b, loc, f32Type, DenseElementsAttr::get(f32Type, 0.0f));
    Value amax = cb.forLoopCarrying(
                       cb.index((k + vw - 1) / vw), zero,
                       [&](Value i, ValueRange acc) -> SmallVector<Value> {
                         Value v = load(cb.mul(i, cb.index(vw)));
                         return {arith::MaximumFOp::create(
                             b, loc, acc[0], math::AbsFOp::create(b, loc, v))};
                       })
                     .getResult(0);
    Value m = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::MAXIMUMF, amax);
    Value scale = cb.select(
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m,
                              cb.f32(0.0f)),
        arith::DivFOp::create(b, loc, m, cb.f32(127.0f)), cb.f32(1.0f));
    memref::StoreOp::create(b, loc, scale, op.getScale(),
                            ValueRange{op.getBatch(), row, cb.index(0)});
    Value inv = vector::BroadcastOp::create(
        b, loc, f32Type, arith::DivFOp::create(b, loc, cb.f32(1.0f), scale));
    Value lo = vector::BroadcastOp::create(b, loc, f32Type, cb.f32(-127.0f));
    Value hi = vector::BroadcastOp::create(b, loc, f32Type, cb.f32(127.0f));
    // q + 128 as an unsigned byte is q with its sign bit flipped. Columns
    // past K load as 0: the padding is q = 0.
    Value signBit = arith::ConstantOp::create(
        b, loc, bytesType, DenseElementsAttr::get(bytesType, int8_t(-128)));
    cb.forLoop(cb.index(0), cb.index(padded), vw, [&](Value col) {
      Value v = math::RoundEvenOp::create(b, loc, cb.fmul(load(col), inv));
      v = arith::MinimumFOp::create(
          b, loc, arith::MaximumFOp::create(b, loc, v, lo), hi);
      Value bytes = arith::XOrIOp::create(
          b, loc,
          arith::TruncIOp::create(b, loc, bytesType,
                                  arith::FPToSIOp::create(b, loc, i32Type, v)),
          signBit);
      Value mask = vector::CreateMaskOp::create(
          b, loc, maskType, ValueRange{cb.sub(cb.index(padded), col)});
      SmallVector<Value> at(prefix);
      at.push_back(col);
      vector::MaskedStoreOp::create(b, loc, q, at, mask, bytes);
    });
  });
}

void GemmLowering::emitGemmTile(GemmTileOp op) {
  Item item{op.getInput(),
            op.getBias(),
            op.getOutput(),
            op.getAccScratch(),
            op.getBatch(),
            op.getRowOffset(),
            {int64_t(op.getBlockRows()), int64_t(op.getBlockVectors()),
             op.hasPairs() ? DotProduct::bf16_pairs : DotProduct::fma},
            int64_t(op.getOutputOffset()),
            int64_t(op.getReplicaStride()),
            SmallVector<int64_t>(op.getReplicas())};
  bool pairs = op.hasPairs(), quads = op.hasQuads();
  // Panel rows per k: bf16 pairs and int8 quads hold 2 and 4 k per row.
  int64_t group = pairs ? 2 : quads ? 4 : 1;
  int64_t mr = item.block.rows, step = item.block.vectors * vw;
  int64_t colPad = op.getPaddedColumns(), kc = op.getKBlock();
  int64_t panelWidth = op.getPanel().getType().getDimSize(1);
  Value rows = op.getRows(), panel = op.getPanel();
  auto vecType = vec::getF32Vector(cb, vw);
  Value zeroVec = arith::ConstantOp::create(
      b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    for (int64_t c = 0; c < colPad; c += vw)
      vector::StoreOp::create(b, loc, zeroVec, item.cs,
                              ValueRange{r, cb.index(c)});
  });
  // The FMA kernels' buffer of widened 16-bit x rows.
  Value widened;
  auto xType = cast<MemRefType>(item.x.getType());
  if (!pairs && !quads && isa<FloatType>(xType.getElementType()) &&
      xType.getElementTypeBitWidth() == 16)
    widened = getWidenedRowsBuffer(op, mr, (kc + vw - 1) / vw * vw);
  // Row blocks of MR rows, then the remaining rows one at a time.
  Value fullRows =
      cb.sub(rows, arith::RemUIOp::create(b, loc, rows, cb.index(mr)));
  ArrayRef<int64_t> segments = op.getSegments();
  int64_t segmentRow = 0;
  for (size_t s = 0; s < segments.size(); s += 2) {
    int64_t start = segments[s], length = segments[s + 1];
    Value end = cb.index(start + length);
    cb.forLoop(cb.index(start), end, kc, [&](Value k0) {
      Value kn = cb.minSI(cb.index(kc), cb.sub(end, k0));
      // The K-block's rows of the panel (k0 - start is a multiple of the
      // group); an i8 panel's K-blocks end with their offsets and scales.
      int64_t extra = quads ? 2 : 0;
      Value skipped =
          quads ? cb.mul(cb.divUI(cb.sub(k0, cb.index(start)), cb.index(kc)),
                         cb.index(kc / 4 + extra))
                : cb.divUI(cb.sub(k0, cb.index(start)), cb.index(group));
      Value wp = memref::SubViewOp::create(
          b, loc, panel,
          ArrayRef<OpFoldResult>{cb.add(cb.index(segmentRow), skipped),
                                 b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{
              cb.add(cb.divUI(cb.add(kn, cb.index(group - 1)), cb.index(group)),
                     cb.index(extra)),
              b.getIndexAttr(panelWidth)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
      auto rowLoop = [&](Value begin, Value stop, int64_t blockRows) {
        cb.forLoop(begin, stop, blockRows, [&](Value rb) {
          // Full row blocks of 16-bit x widen their rows once for all the
          // column blocks.
          Value xw = blockRows == mr ? widened : Value();
          if (xw)
            emitWidenRows(item, rb, blockRows, k0, kn, xw);
          cb.forLoop(cb.index(0), cb.index(colPad), step, [&](Value c) {
            if (pairs)
              emitMicroKernelPairs(item, rb, blockRows, c, k0, kn, wp);
            else if (quads)
              emitMicroKernelQuads(item, rb, blockRows, c, k0, kn, wp);
            else
              emitMicroKernel(item, rb, blockRows, c, k0, kn, wp, xw);
          });
        });
      };
      rowLoop(cb.index(0), fullRows, mr);
      rowLoop(fullRows, rows, 1);
    });
    segmentRow += GemmTileOp::getSegmentPanelRows(length, group, kc);
  }
  if (quads)
    emitDequantize(item, rows, op.getInputScale(), colPad);
  if (std::optional<APFloat> eps = op.getInputRmsEps())
    emitInputRmsScale(item, rows, segments, eps->convertToFloat(), colPad);
  if (Value table = op.getRopeTable()) {
    int64_t offset = op.getRopeOffset();
    if (offset > 0)
      emitEpilogue(item, rows, op.getColumnOffset(), cb.index(offset));
    emitRopeEpilogue(item, rows, op.getColumnOffset(), table, offset);
  } else
    emitEpilogue(item, rows, op.getColumnOffset(), op.getColumns());
}

namespace {

struct LowerPackPanel : OpRewritePattern<PackPanelOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PackPanelOp op,
                                PatternRewriter &rewriter) const override {
    GemmLowering lowering(rewriter, op.getLoc(), op.getVectorWidth());
    GemmLowering::Weight weight{op.getWeight(), op.getScale(), op.getInt4()};
    weight.transposed = op.getTranspose();
    lowering.emitPackPanel(op, weight);
    rewriter.eraseOp(op);
    return success();
  }
};

struct LowerQuantizeRows : OpRewritePattern<QuantizeRowsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(QuantizeRowsOp op,
                                PatternRewriter &rewriter) const override {
    // 16 lanes: the rows feed the AVX-512 vpdpbusd micro-kernels.
    GemmLowering(rewriter, op.getLoc(), 16).emitQuantizeRows(op);
    rewriter.eraseOp(op);
    return success();
  }
};

struct LowerGemmTile : OpRewritePattern<GemmTileOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GemmTileOp op,
                                PatternRewriter &rewriter) const override {
    GemmLowering(rewriter, op.getLoc(), op.getVectorWidth()).emitGemmTile(op);
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::mha::populateLayerGemmLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerPackPanel, LowerQuantizeRows, LowerGemmTile>(
      patterns.getContext());
}
