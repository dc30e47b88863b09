//===- LayerGemm.cpp - Register-blocked GEMMs of a layer --------*- C++ -*-===//
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

#include "LayerGemm.h"

#define DEBUG_TYPE "convert-mha-to-vector"

using namespace mlir;
using namespace mlir::mha;
using mlir::mha::detail::GemmLowering;

Value GemmLowering::loadTail(Value m, ValueRange prefix, Value col,
                             Value valid) {
  return vec::loadTail(cb, vw, m, prefix, col, valid);
}

void GemmLowering::storeTail(Value value, Value m, ValueRange prefix, Value col,
                             Value valid) {
  vec::storeTail(cb, vw, value, m, prefix, col, valid);
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
