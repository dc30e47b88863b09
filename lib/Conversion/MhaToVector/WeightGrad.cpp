//===- WeightGrad.cpp - Weight gradients of a layer's backward ----*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Lowers mha.weight_grad_tile, a block of dW = A^T G summed over every row
// of the batch, to register blocks of mha/Codegen/MicroKernels.h whose
// reduction index is the row: per row, `mr` elements of A broadcast (the
// block's rows of dW) times `nv` vectors of G (its columns), both read in
// place. The item's column blocks are its outer loop, so one block of G
// (B L rows of nv * vw columns) stays in L2 while every row block of dW
// streams it. The last row block repeats the last row (stored twice,
// identically); the columns end in single vectors whose last one is
// partial (masked), so no hot loop tests a lane.
//
//===----------------------------------------------------------------------===//

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/MicroKernels.h"
#include "mha/Conversion/MhaToVector/MhaToVector.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#define DEBUG_TYPE "convert-mha-to-vector"

using namespace mlir;
using namespace mlir::mha;

namespace {

class WeightGradLowering {
public:
  WeightGradLowering(OpBuilder &b, WeightGradTileOp op)
      : b(b), loc(op.getLoc()), cb(b, loc), op(op), vw(op.getVectorWidth()),
        mr(op.getA() ? (vw >= 16 ? 4 : 2) : 1), nv(vw >= 16 ? 4 : 2) {}

  void emit() {
    Value columns = op.getColumns();
    // Whole blocks of nv vectors, then single vectors (the last partial).
    Value blockWidth = cb.index(nv * vw);
    Value wholeBlocks = cb.mul(cb.divUI(columns, blockWidth), blockWidth);
    cb.forLoop(cb.index(0), wholeBlocks, nv * vw,
               [&](Value c) { emitColumns(c, nv, Value()); });
    cb.forLoop(wholeBlocks, columns, vw, [&](Value c) {
      emitColumns(c, 1, cb.minSI(cb.index(vw), cb.sub(columns, c)));
    });
  }

private:
  Value ext(Value x) {
    Type elt = getElementTypeOrSelf(x.getType());
    if (elt.isF32())
      return x;
    Type f32 = b.getF32Type();
    if (auto type = dyn_cast<VectorType>(x.getType()))
      f32 = VectorType::get(type.getShape(), f32);
    return arith::ExtFOp::create(b, loc, f32, x);
  }

  /// The f32 vector of g at row (batch, l), column `col`, `valid` lanes
  /// (null: all), summed over the replicas.
  Value loadGradient(Value batch, Value l, Value col, Value valid) {
    Value g = op.getG();
    Value sum;
    for (int64_t q = 0; q < int64_t(op.getReplicas()); ++q) {
      Value at =
          cb.add(col, cb.index(op.getGOffset() + q * op.getReplicaStride()));
      Value v;
      if (valid) {
        v = vec::loadTail(cb, vw, g, ValueRange{batch, l}, at, valid);
      } else {
        Type elt = cast<MemRefType>(g.getType()).getElementType();
        v = ext(vector::LoadOp::create(b, loc, VectorType::get({vw}, elt), g,
                                       ValueRange{batch, l, at}));
      }
      sum = sum ? cb.fadd(sum, v) : v;
    }
    return sum;
  }

  /// Columns [c, c + vectors * vw) of the item's block (`valid` lanes of
  /// a single partial vector, or null) for every row block.
  void emitColumns(Value c, int64_t vectors, Value valid) {
    Value a = op.getA(), g = op.getG(), dw = op.getDw();
    Value rows = op.getRows(), row0 = op.getRowOffset();
    Value col0 = cb.add(op.getColumnOffset(), c);
    Value lastRow = cb.sub(rows, cb.index(1));
    Value batchSize = memref::DimOp::create(b, loc, g, 0);
    Value len = memref::DimOp::create(b, loc, g, 1);
    auto vecType = vec::getF32Vector(cb, vw);
    Value zero = arith::ConstantOp::create(
        b, loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
    vec::RegisterBlock block{mr, vectors, DotProduct::fma};
    cb.forLoop(cb.index(0), rows, mr, [&](Value rb) {
      SmallVector<Value> rowIdx;
      for (int64_t i = 0; i < mr; ++i)
        rowIdx.push_back(
            cb.add(row0, cb.minSI(cb.add(rb, cb.index(i)), lastRow)));
      // The sums over b carried by an scf.for, over l by the block loop.
      auto overBatch = scf::ForOp::create(
          b, loc, cb.index(0), batchSize, cb.index(1),
          SmallVector<Value>(mr * vectors, zero),
          [&](OpBuilder &, Location, Value batch, ValueRange accs) {
            SmallVector<Value> sums = vec::emitBlockLoop(
                cb, block, len, accs, nullptr,
                [&](Value l, int64_t j) {
                  return loadGradient(batch, l, cb.add(col0, cb.index(j * vw)),
                                      valid);
                },
                [&](Value l, int64_t i) -> Value {
                  if (!a)
                    return vec::broadcast(cb, cb.f32(1.0f), vw);
                  Value x = memref::LoadOp::create(
                      b, loc, a,
                      ValueRange{batch, l,
                                 cb.add(rowIdx[i], cb.index(op.getAOffset()))});
                  return vec::broadcast(cb, ext(x), vw);
                });
            scf::YieldOp::create(b, loc, sums);
          });
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < vectors; ++j)
          store(overBatch.getResult(i * vectors + j), dw, rowIdx[i],
                cb.add(col0, cb.index(j * vw)), valid);
    });
  }

  /// Stores the f32 vector `v` at dw[row, col] narrowed to its element
  /// type, `valid` lanes of it (null: all).
  void store(Value v, Value dw, Value row, Value col, Value valid) {
    if (valid) {
      vec::storeTail(cb, vw, v, dw, ValueRange{row}, col, valid);
      return;
    }
    Type elt = cast<MemRefType>(dw.getType()).getElementType();
    if (!elt.isF32())
      v = arith::TruncFOp::create(b, loc, VectorType::get({vw}, elt), v);
    vector::StoreOp::create(b, loc, v, dw, ValueRange{row, col});
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  WeightGradTileOp op;
  int64_t vw;
  int64_t mr; // Rows of dW per register block.
  int64_t nv; // Vectors of columns per register block.
};

struct LowerWeightGradTile : OpRewritePattern<WeightGradTileOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(WeightGradTileOp op,
                                PatternRewriter &rewriter) const override {
    WeightGradLowering(rewriter, op).emit();
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::mha::populateWeightGradLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerWeightGradTile>(patterns.getContext());
}
