//===- LayerGemmQuantized.cpp - Quantized weights ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The quantized-weight parts of LayerGemm.cpp's lowering: int8 and int4
// weights loaded (int4 unpacked by column parity), packed as quads of rows
// for vpdpbusd (each K-block followed by its column offsets and scales),
// the vpdpbusd micro-kernel, the rows' dynamic quantization to u8 and the
// dequantization of the i32 sums.
//
//===----------------------------------------------------------------------===//

#include "LayerGemm.h"

using namespace mlir;
using namespace mlir::mha;

namespace mlir::mha::detail {

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

} // namespace mlir::mha::detail
