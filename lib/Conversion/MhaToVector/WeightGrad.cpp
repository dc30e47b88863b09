//===- WeightGrad.cpp - Weight gradients of a layer's backward --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Lowers mha.weight_grad_tile, a block of dW = A^T G summed over every row
// of the batch: a GEMM whose reduction runs over the rows. Per K-block of
// up to kKBlock rows of one batch element, the item packs
//
//   ap[rb][k][r] = a[b, l0 + k, row0 + 4 rb + r]     (micro-panels of 4
//                                                     rows of dW, r < 4)
//   gp[cb][k][c] = sum_q g[b, l0 + k, q stride + col0 + nc cb + c]
//                                                    (panels of nc = nv vw
//                                                     columns, nv = 4 with
//                                                     AVX-512, 2 below)
//
// zero-padded, then runs register blocks of 4 rows by nv vectors over the
// block (4 broadcasts of ap and nv vector loads of gp per k, both
// contiguous: no strided row of A or G is walked by the hot loop), adding
// into f32 accumulators acc [max_rows, max_columns] on the stack, narrowed
// to dW at the end. The column panels are the outer loop, so one (32 KB)
// stays in L1 while every row block streams its micro-panel. A bias's
// gradient (no A) sums G's rows in place, vector by vector.
//
// With bf16_pairs both panels hold bf16 pairs of consecutive rows (k, k +
// 1) in place of single rows, rounded as they are packed, and the register
// blocks run vdpbf16ps: ap[rb][p][2 r + e], gp[cb][p][2 c + e] for rows
// l0 + 2 p + e, an odd last row paired with zeros.
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

/// Rows of a K-block: its two panels (f32, 4 vw columns and 4 rows each)
/// stay in L1 and L2.
constexpr int64_t kKBlock = 128;
/// Rows of a K-block of bf16 pairs: the same panel bytes.
constexpr int64_t kPairKBlock = 256;
/// Panel rows of an A micro-panel in a 64-byte line (4 f32 or 8 bf16 per
/// row).
constexpr int64_t kLineRows = 4;

class WeightGradLowering {
public:
  WeightGradLowering(OpBuilder &b, WeightGradTileOp op)
      : b(b), loc(op.getLoc()), cb(b, loc), op(op), vw(op.getVectorWidth()),
        nv(vw >= 16 ? 4 : 2), nc(nv * vw), maxRows(roundUp(op.getMaxRows(), 4)),
        maxCols(roundUp(op.getMaxColumns(), nc)), pairs(op.getBf16Pairs()),
        group(pairs ? 2 : 1), kBlock(pairs ? kPairKBlock : kKBlock) {}

  void emit() {
    if (op.getA())
      emitPacked();
    else
      emitColumnSums();
  }

private:
  static int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
  Value ext(Value x) { return vec::widen(cb, x); }

  Value zeros(int64_t n) {
    auto type = vec::getF32Vector(cb, n);
    return arith::ConstantOp::create(b, loc, type,
                                     DenseElementsAttr::get(type, 0.0f));
  }
  Value stackBuffer(ArrayRef<int64_t> shape, Type elt) {
    return memref::AllocaOp::create(b, loc, MemRefType::get(shape, elt),
                                    ValueRange{}, b.getI64IntegerAttr(64));
  }
  /// The panels' element type.
  Type panelType() {
    return pairs ? Type(b.getBF16Type()) : Type(b.getF32Type());
  }

  /// `v` as a panel row: itself, or with bf16 pairs `v` and `odd` (the next
  /// row) rounded and interleaved.
  Value panelRow(Value v, Value odd) {
    if (!pairs)
      return v;
    auto half = VectorType::get(cast<VectorType>(v.getType()).getShape(),
                                b.getBF16Type());
    return vector::InterleaveOp::create(
        b, loc, arith::TruncFOp::create(b, loc, half, v),
        arith::TruncFOp::create(b, loc, half, odd));
  }

  /// The panel rows of a K-block of `kn` rows: kn, or kn / 2 pairs
  /// rounded up.
  Value getPanelRows(Value kn) {
    return pairs ? cb.divUI(cb.add(kn, cb.index(1)), cb.index(2)) : kn;
  }

  /// Panel row p of the K-block of `kn` rows from l0: the f32 vector
  /// load(l) of row l0 + p, or (pairs) rows l0 + 2p and l0 + 2p + 1
  /// rounded and interleaved, the second zeros past kn.
  Value loadPanelRow(Value l0, Value kn, Value p,
                     function_ref<Value(Value)> load) {
    if (!pairs)
      return load(cb.add(l0, p));
    Value first = cb.add(p, p), second = cb.add(first, cb.index(1));
    Value hasOdd = cb.lt(second, kn);
    Value even = load(cb.add(l0, first));
    // Past kn the odd load reads row `first` again (in bounds), unused.
    Value odd = load(cb.add(l0, cb.select(hasOdd, second, first)));
    int64_t lanes = cast<VectorType>(even.getType()).getNumElements();
    return panelRow(even, cb.select(hasOdd, odd, zeros(lanes)));
  }

  /// The f32 vector of g at row (batch, l), column `col` of the item's
  /// block, `valid` lanes (null: all), summed over the replicas.
  Value loadGradient(Value batch, Value l, Value col, Value valid) {
    Value g = op.getG();
    Value sum;
    for (int64_t q = 0; q < int64_t(op.getReplicas()); ++q) {
      Value at = cb.add(cb.add(col, op.getColumnOffset()),
                        cb.index(op.getGOffset() + q * op.getReplicaStride()));
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

  /// `body(c, valid)` for the column vectors of the item: whole ones
  /// (valid null), then the partial one; then zeros up to `padTo`.
  void forColumnVectors(Value padTo, function_ref<void(Value, Value)> body,
                        function_ref<void(Value)> pad) {
    Value columns = op.getColumns();
    Value whole = cb.mul(cb.divUI(columns, cb.index(vw)), cb.index(vw));
    cb.forLoop(cb.index(0), whole, vw, [&](Value c) { body(c, Value()); });
    cb.forLoop(whole, columns, vw,
               [&](Value c) { body(c, cb.sub(columns, c)); });
    Value padded =
        cb.mul(cb.divUI(cb.add(columns, cb.index(vw - 1)), cb.index(vw)),
               cb.index(vw));
    cb.forLoop(padded, padTo, vw, pad);
  }

  /// Packs rows [l0, l0 + kn) of batch element `batch` into ap and gp.
  void pack(Value batch, Value l0, Value kn, Value ap, Value gp,
            Value rowBlocks, Value colPad) {
    Value a = op.getA(), rows = op.getRows();
    Type aElt = cast<MemRefType>(a.getType()).getElementType();
    Value aCol0 = cb.add(op.getRowOffset(), cb.index(op.getAOffset()));
    Value wholeBlocks = cb.divUI(rows, cb.index(4));
    Value panelRows = getPanelRows(kn);
    auto quadType = vec::getF32Vector(cb, 4);
    // Micro-panels of 4 rows of dW, one vector<4> of each of a's rows. The
    // panel rows are the outer loop, `unroll` at a time: a's rows are read
    // along (rows of a layer's activations are often a multiple of 4 KiB
    // apart, so walking down a column would evict its own lines from L1),
    // and each micro-panel gets whole cache lines. The last micro-panel
    // is masked (rows past `rows` are zeros).
    auto packQuads = [&](Value p0, int64_t unroll, Value from, Value to,
                         bool masked) {
      cb.forLoop(from, to, 1, [&](Value rb) {
        Value first = cb.mul(rb, cb.index(4));
        Value col = cb.add(aCol0, first);
        auto loadQuad = [&](Value l) -> Value {
          if (masked)
            return vec::loadTail(cb, 4, a, ValueRange{batch, l}, col,
                                 cb.sub(rows, first));
          Value quad = vector::LoadOp::create(
              b, loc, VectorType::get({4}, aElt), a, ValueRange{batch, l, col});
          return aElt.isF32() ? quad
                              : arith::ExtFOp::create(b, loc, quadType, quad);
        };
        for (int64_t i = 0; i < unroll; ++i) {
          Value p = cb.add(p0, cb.index(i));
          vector::StoreOp::create(b, loc, loadPanelRow(l0, kn, p, loadQuad), ap,
                                  ValueRange{rb, p, cb.index(0)});
        }
      });
    };
    auto packPanelRows = [&](Value from, Value to, int64_t unroll) {
      cb.forLoop(from, to, unroll, [&](Value p0) {
        packQuads(p0, unroll, cb.index(0), wholeBlocks, /*masked=*/false);
        packQuads(p0, unroll, wholeBlocks, rowBlocks, /*masked=*/true);
      });
    };
    Value wholeLines =
        cb.mul(cb.divUI(panelRows, cb.index(kLineRows)), cb.index(kLineRows));
    packPanelRows(cb.index(0), wholeLines, kLineRows);
    packPanelRows(wholeLines, panelRows, 1);
    // Panels of nc columns of g's rows (the replicas summed), zeros past
    // the item's columns.
    cb.forLoop(cb.index(0), panelRows, 1, [&](Value p) {
      auto store = [&](Value v, Value c) {
        Value panel = cb.divUI(c, cb.index(nc));
        Value within = arith::RemUIOp::create(b, loc, c, cb.index(nc));
        vector::StoreOp::create(
            b, loc, v, gp,
            ValueRange{panel, p, cb.mul(within, cb.index(group))});
      };
      forColumnVectors(
          colPad,
          [&](Value c, Value valid) {
            store(loadPanelRow(l0, kn, p,
                               [&](Value l) {
                                 return loadGradient(batch, l, c, valid);
                               }),
                  c);
          },
          [&](Value c) { store(panelRow(zeros(vw), zeros(vw)), c); });
    });
  }

  void emitPacked() {
    Value rows = op.getRows(), columns = op.getColumns();
    Value rowBlocks = cb.divUI(cb.add(rows, cb.index(3)), cb.index(4));
    Value colPanels = cb.divUI(cb.add(columns, cb.index(nc - 1)), cb.index(nc));
    Value colPad = cb.mul(colPanels, cb.index(nc));
    Value acc = stackBuffer({maxRows, maxCols}, b.getF32Type());
    Value ap =
        stackBuffer({maxRows / 4, kBlock / group, 4 * group}, panelType());
    Value gp =
        stackBuffer({maxCols / nc, kBlock / group, nc * group}, panelType());
    Value zero = zeros(vw);
    cb.forLoop(cb.index(0), cb.mul(rowBlocks, cb.index(4)), 1, [&](Value r) {
      cb.forLoop(cb.index(0), colPad, vw, [&](Value c) {
        vector::StoreOp::create(b, loc, zero, acc, ValueRange{r, c});
      });
    });
    Value g = op.getG();
    Value batchSize = memref::DimOp::create(b, loc, g, 0);
    Value len = memref::DimOp::create(b, loc, g, 1);
    auto vecType = vec::getF32Vector(cb, vw);
    // 4 x nv accumulators, nv vectors of gp and a broadcast: 21 of the
    // 32 AVX-512 registers, 13 of AVX2's 16.
    vec::RegisterBlock block{4, nv,
                             pairs ? DotProduct::bf16_pairs : DotProduct::fma};
    cb.forLoop(cb.index(0), batchSize, 1, [&](Value batch) {
      cb.forLoop(cb.index(0), len, kBlock, [&](Value l0) {
        Value kn = cb.minSI(cb.index(kBlock), cb.sub(len, l0));
        pack(batch, l0, kn, ap, gp, rowBlocks, colPad);
        cb.forLoop(cb.index(0), colPanels, 1, [&](Value panel) {
          Value c0 = cb.mul(panel, cb.index(nc));
          cb.forLoop(cb.index(0), rowBlocks, 1, [&](Value rb) {
            Value r0 = cb.mul(rb, cb.index(4));
            SmallVector<Value> init;
            for (int64_t r = 0; r < 4; ++r)
              for (int64_t j = 0; j < nv; ++j)
                init.push_back(vector::LoadOp::create(
                    b, loc, vecType, acc,
                    ValueRange{cb.add(r0, cb.index(r)),
                               cb.add(c0, cb.index(j * vw))}));
            SmallVector<Value> sums = vec::emitBlockLoop(
                cb, block, getPanelRows(kn), init, nullptr,
                [&](Value p, int64_t j) -> Value {
                  SmallVector<Value, 3> at{panel, p, cb.index(j * vw * group)};
                  if (pairs)
                    return vec::loadPairs(cb, gp, at, vw);
                  return vector::LoadOp::create(b, loc, vecType, gp, at);
                },
                [&](Value p, int64_t r) -> Value {
                  SmallVector<Value, 3> at{rb, p, cb.index(r * group)};
                  if (pairs)
                    return vec::broadcastPair(cb, ap, at, vw);
                  return vec::broadcast(
                      cb, memref::LoadOp::create(b, loc, ap, at), vw);
                });
            for (int64_t r = 0; r < 4; ++r)
              for (int64_t j = 0; j < nv; ++j)
                vector::StoreOp::create(
                    b, loc, sums[r * nv + j], acc,
                    ValueRange{cb.add(r0, cb.index(r)),
                               cb.add(c0, cb.index(j * vw))});
          });
        });
      });
    });
    // dw = acc, narrowed: the item's rows, its columns' vectors.
    Value dw = op.getDw();
    cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
      Value row = cb.add(op.getRowOffset(), r);
      forColumnVectors(
          cb.index(0),
          [&](Value c, Value valid) {
            Value v =
                vector::LoadOp::create(b, loc, vecType, acc, ValueRange{r, c});
            store(v, dw, row, cb.add(op.getColumnOffset(), c), valid);
          },
          [&](Value) {});
    });
  }

  /// A bias's gradient: column sums of g, vector by vector.
  void emitColumnSums() {
    Value g = op.getG(), dw = op.getDw();
    Value batchSize = memref::DimOp::create(b, loc, g, 0);
    Value len = memref::DimOp::create(b, loc, g, 1);
    Value row = op.getRowOffset();
    forColumnVectors(
        cb.index(0),
        [&](Value c, Value valid) {
          auto overBatch = scf::ForOp::create(
              b, loc, cb.index(0), batchSize, cb.index(1),
              ValueRange{zeros(vw)},
              [&](OpBuilder &, Location, Value batch, ValueRange sum) {
                auto overRows = scf::ForOp::create(
                    b, loc, cb.index(0), len, cb.index(1), sum,
                    [&](OpBuilder &, Location, Value l, ValueRange s) {
                      scf::YieldOp::create(
                          b, loc,
                          cb.fadd(s[0], loadGradient(batch, l, c, valid)));
                    });
                scf::YieldOp::create(b, loc, overRows.getResults());
              });
          store(overBatch.getResult(0), dw, row,
                cb.add(op.getColumnOffset(), c), valid);
        },
        [&](Value) {});
  }

  /// Stores the f32 vector `v` at dw[row, col] narrowed to its element
  /// type, `valid` lanes of it (null: all).
  void store(Value v, Value dw, Value row, Value col, Value valid) {
    vec::storeVector(cb, vw, v, dw, ValueRange{row}, col, valid);
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  WeightGradTileOp op;
  int64_t vw;
  int64_t nv; // Vectors of a register block.
  int64_t nc; // Columns of a G panel: nv vectors.
  int64_t maxRows, maxCols;
  bool pairs;     // vdpbf16ps on bf16 pairs of rows.
  int64_t group;  // Rows per panel row: 2 with pairs.
  int64_t kBlock; // Rows of a K-block.
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
