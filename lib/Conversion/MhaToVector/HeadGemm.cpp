//===- HeadGemm.cpp - Absorbed latent products ------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Lowers mha.head_gemm, one head's rows of an mha.head_linear, to register
// blocks of mha/Codegen/MicroKernels.h that read the weight slice in place
// (a decoding step has a few rows: packing would cost more than it saves).
// Rows come in blocks of `mr`; the last block repeats the last row, whose
// results are then stored twice, identically, so no lane or row needs a
// mask.
//
//   as it is:    y[l, n] = sum_k x[l, k] W[k, n]: k-loop of x[l, k]
//                broadcast times `nv` vectors of row k of W (the layer
//                GEMMs' micro-kernel, columns in static groups);
//   transposed:  y[l, n] = sum_k x[l, k] W[n, k]: k-loop over vectors of
//                x's row and of `nv` rows n of W (contiguous in k), each
//                accumulator reduced at the end.
//
//===----------------------------------------------------------------------===//

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/MicroKernels.h"
#include "mha/Conversion/MhaToVector/MhaToVector.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#define DEBUG_TYPE "convert-mha-to-vector"

using namespace mlir;
using namespace mlir::mha;

namespace {

class HeadGemmLowering {
public:
  HeadGemmLowering(OpBuilder &b, HeadGemmOp op)
      : b(b), loc(op.getLoc()), cb(b, loc), op(op), vw(op.getVectorWidth()),
        dims(op.getDims()), mr(vw >= 16 ? 4 : 2) {}

  void emit() {
    Value head = op.getHead();
    xCol0 = cb.mul(head, cb.index(dims.xStride));
    yCol0 = cb.mul(head, cb.index(dims.yStride));
    wCol0 = cb.add(cb.mul(head, cb.index(dims.weightStride)),
                   cb.index(op.getWeightOffset()));
    Value rows = op.getRows();
    Value row0 = op.getRowOffset();
    Value lastRow = cb.sub(rows, cb.index(1));
    cb.forLoop(cb.index(0), rows, mr, [&](Value rb) {
      SmallVector<Value> rowIdx;
      for (int64_t i = 0; i < mr; ++i)
        rowIdx.push_back(
            cb.add(row0, cb.minSI(cb.add(rb, cb.index(i)), lastRow)));
      if (op.getTransposeWeight())
        emitTransposedBlock(rowIdx);
      else
        emitBlock(rowIdx);
      emitCarry(rowIdx);
    });
  }

private:
  Value ext(Value x) { return vec::widen(cb, x); }

  /// `vw` elements of `m` at (prefix..., col), `valid` of them (static).
  Value load(Value m, ValueRange prefix, Value col, int64_t valid) {
    if (valid < vw)
      return vec::loadTail(cb, vw, m, prefix, col, cb.index(valid));
    SmallVector<Value> idx(prefix);
    idx.push_back(col);
    Type elt = cast<MemRefType>(m.getType()).getElementType();
    return ext(
        vector::LoadOp::create(b, loc, VectorType::get({vw}, elt), m, idx));
  }

  /// Stores `valid` (static) lanes of the f32 vector `v` at (prefix...,
  /// col), narrowed to `m`'s element type.
  void store(Value v, Value m, ValueRange prefix, Value col, int64_t valid) {
    vec::storeVector(cb, vw, v, m, prefix, col,
                     valid < vw ? cb.index(valid) : Value());
  }

  /// y[l, n] = sum_k x[l, k] W[k, wCol0 + n] for the rows of the block:
  /// the columns in groups of `nv` vectors, the last one maybe partial.
  void emitBlock(ArrayRef<Value> rowIdx) {
    Value x = op.getInput(), w = op.getWeight(), y = op.getOutput();
    Value batch = op.getBatch();
    int64_t nv = 4;
    for (int64_t n0 = 0; n0 < dims.n; n0 += nv * vw) {
      int64_t vectors = std::min(nv, (dims.n - n0 + vw - 1) / vw);
      auto valid = [&](int64_t j) {
        return std::min(vw, dims.n - n0 - j * vw);
      };
      vec::RegisterBlock block{mr, vectors, DotProduct::fma};
      Value zero = arith::ConstantOp::create(
          b, loc, vec::getF32Vector(cb, vw),
          DenseElementsAttr::get(vec::getF32Vector(cb, vw), 0.0f));
      SmallVector<Value> init(mr * vectors, zero);
      SmallVector<Value> accs = vec::emitBlockLoop(
          cb, block, cb.index(dims.k), init, nullptr,
          [&](Value k, int64_t j) {
            return load(w, k, cb.add(wCol0, cb.index(n0 + j * vw)), valid(j));
          },
          [&](Value k, int64_t i) {
            Value a = memref::LoadOp::create(
                b, loc, x, ValueRange{batch, rowIdx[i], cb.add(xCol0, k)});
            return vec::broadcast(cb, ext(a), vw);
          });
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < vectors; ++j)
          store(accs[i * vectors + j], y, ValueRange{batch, rowIdx[i]},
                cb.add(yCol0, cb.index(n0 + j * vw)), valid(j));
    }
  }

  /// y[l, n] = sum_k x[l, k] W[wRow(n), wCol0 + k]: `nv` rows of W at a
  /// time (the last group repeats the last row), dot products of whole
  /// vectors along k, then a partial vector, then one reduction each.
  void emitTransposedBlock(ArrayRef<Value> rowIdx) {
    Value x = op.getInput(), w = op.getWeight(), y = op.getOutput();
    Value batch = op.getBatch();
    int64_t nv = 4;
    Value lastN = cb.index(dims.n - 1);
    auto vecType = vec::getF32Vector(cb, vw);
    Value zero = arith::ConstantOp::create(
        b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
    vec::RegisterBlock block{mr, nv, DotProduct::fma};
    cb.forLoop(cb.index(0), cb.index(dims.n), nv, [&](Value n0) {
      SmallVector<Value> wRow;
      for (int64_t j = 0; j < nv; ++j)
        wRow.push_back(cb.minSI(cb.add(n0, cb.index(j)), lastN));
      // Whole vectors along k, then the partial one.
      auto rhs = [&](Value col, int64_t j, int64_t valid) {
        return load(w, wRow[j], cb.add(wCol0, col), valid);
      };
      auto lhs = [&](Value col, int64_t i, int64_t valid) {
        return load(x, ValueRange{batch, rowIdx[i]}, cb.add(xCol0, col), valid);
      };
      int64_t whole = dims.k / vw, rest = dims.k % vw;
      SmallVector<Value> accs = vec::emitBlockLoop(
          cb, block, cb.index(whole), SmallVector<Value>(mr * nv, zero),
          nullptr,
          [&](Value kv, int64_t j) {
            return rhs(cb.mul(kv, cb.index(vw)), j, vw);
          },
          [&](Value kv, int64_t i) {
            return lhs(cb.mul(kv, cb.index(vw)), i, vw);
          });
      if (rest)
        accs = vec::emitBlockStep(
            cb, block, accs,
            [&](int64_t j) { return rhs(cb.index(whole * vw), j, rest); },
            [&](int64_t i) { return lhs(cb.index(whole * vw), i, rest); });
      Type elt = cast<MemRefType>(y.getType()).getElementType();
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nv; ++j) {
          Value sum = vector::ReductionOp::create(
              b, loc, vector::CombiningKind::ADD, accs[i * nv + j],
              arith::FastMathFlags::reassoc);
          if (!elt.isF32())
            sum = arith::TruncFOp::create(b, loc, elt, sum);
          memref::StoreOp::create(
              b, loc, sum, y,
              ValueRange{batch, rowIdx[i], cb.add(yCol0, wRow[j])});
        }
    });
  }

  /// The carried columns: y[l, N + t] = x[l, K + t].
  void emitCarry(ArrayRef<Value> rowIdx) {
    if (dims.carry == 0)
      return;
    Value x = op.getInput(), y = op.getOutput(), batch = op.getBatch();
    Type elt = cast<MemRefType>(y.getType()).getElementType();
    Value xFrom = cb.add(xCol0, cb.index(dims.k));
    Value yFrom = cb.add(yCol0, cb.index(dims.n));
    for (Value row : rowIdx)
      cb.forLoop(cb.index(0), cb.index(dims.carry), 1, [&](Value t) {
        Value v = ext(memref::LoadOp::create(
            b, loc, x, ValueRange{batch, row, cb.add(xFrom, t)}));
        if (!elt.isF32())
          v = arith::TruncFOp::create(b, loc, elt, v);
        memref::StoreOp::create(b, loc, v, y,
                                ValueRange{batch, row, cb.add(yFrom, t)});
      });
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  HeadGemmOp op;
  int64_t vw;
  HeadLinearDims dims;
  int64_t mr; // Rows per register block.
  Value xCol0, yCol0, wCol0;
};

struct LowerHeadGemm : OpRewritePattern<HeadGemmOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(HeadGemmOp op,
                                PatternRewriter &rewriter) const override {
    HeadGemmLowering(rewriter, op).emit();
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::mha::populateHeadGemmLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerHeadGemm>(patterns.getContext());
}
