//===- AppendKernel.cpp - mha.append_kv on the GPU ------------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// One warp per new key: lanes over the columns (each warp store is one
// contiguous run of the cache row), and with RoPE over the pairs (i, i +
// D/2). The lengths and the block table stay on the device: the host never
// waits for the stream, so every index is checked here instead, and a key
// that would land outside the caches is dropped.
//
//===----------------------------------------------------------------------===//

#include "AppendKernel.h"
#include "PtxBuilder.h"
#include "ScoreMods.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/HeadParams.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::mha;

namespace {

class AppendKernelEmitter {
public:
  AppendKernelEmitter(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
                      StringRef prefix, std::optional<double> ropeTheta,
                      const AppendKernelArgs &args)
      : b(b), loc(loc), cb(b, loc), ptx(cb, b.getBF16Type()), module(module),
        prefix(prefix), ropeTheta(ropeTheta), args(args) {}

  void emit() {
    Type indexType = b.getIndexType();
    Value tid = gpu::ThreadIdOp::create(b, loc, indexType, gpu::Dimension::x);
    Value tile = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::x);
    kvHead = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::y);
    sequence = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::z);
    lane = arith::RemUIOp::create(b, loc, tid, cb.index(kWarpSize));
    newRow = cb.add(cb.mul(tile, cb.index(kAppendRowsPerBlock)),
                    cb.divUI(tid, cb.index(kWarpSize)));
    newBatch = sequence;
    Value newRows = memref::DimOp::create(b, loc, args.kNew, 2);
    // The key's index among its sequence's new keys, and whether it is one.
    Value index = newRow, valid;
    if (args.cuSeqlensQ) {
      std::tie(sequence, index, valid) = findPackedRow(newRows);
      newBatch = cb.index(0);
    } else {
      valid =
          cb.lt(newRow, loadClampedLength(cb, args.qLens, sequence, newRows));
    }
    cb.ifThen(valid, [&] { appendAt(index); });
    gpu::ReturnOp::create(b, loc);
  }

private:
  /// Packed new keys: the sequence of row `newRow` of batch 0 (the s with
  /// cu[s] <= row < cu[s + 1], offsets clamped to the tensor), its index
  /// among the sequence's keys, and whether it belongs to one whose length
  /// and table row exist (rows past the last sequence are not appended).
  std::tuple<Value, Value, Value> findPackedRow(Value total) {
    Value entries = memref::DimOp::create(b, loc, args.cuSeqlensQ, 0);
    Value sequences = cb.maxSI(cb.sub(entries, cb.index(1)), cb.index(0));
    auto offsetAt = [&](Value i) {
      Value n = cb.indexCast(
          b.getIndexType(), memref::LoadOp::create(b, loc, args.cuSeqlensQ, i));
      return cb.minSI(cb.maxSI(n, cb.index(0)), total);
    };
    Value zero = cb.index(0), falseV = cb.boolean(false);
    scf::ForOp scan = cb.forLoopCarrying(
        sequences, ValueRange{zero, zero, falseV},
        [&](Value s, ValueRange acc) -> SmallVector<Value> {
          Value start = offsetAt(s);
          Value end = cb.maxSI(offsetAt(cb.add(s, cb.index(1))), start);
          Value hit =
              cb.andI(cb.cmpI(arith::CmpIPredicate::eq, acc[2], falseV),
                      cb.andI(cb.ge(newRow, start), cb.lt(newRow, end)));
          return {cb.select(hit, s, acc[0]), cb.select(hit, start, acc[1]),
                  cb.orI(acc[2], hit)};
        });
    Value s = scan.getResult(0);
    Value found = scan.getResult(2);
    // The host cannot relate S + 1 offsets to the lengths' and the table's
    // rows.
    found =
        cb.andI(found, cb.lt(s, memref::DimOp::create(b, loc, args.kvLens, 0)));
    if (args.blockTable)
      found = cb.andI(
          found, cb.lt(s, memref::DimOp::create(b, loc, args.blockTable, 0)));
    return {s, cb.sub(newRow, scan.getResult(1)), found};
  }

  /// Writes the key `index` of the sequence's new keys at kv_lens + index,
  /// when that lands inside the caches.
  void appendAt(Value index) {
    Type indexType = b.getIndexType();
    Value base = cb.indexCast(
        indexType, memref::LoadOp::create(b, loc, args.kvLens, sequence));
    position = cb.add(base, index);
    cb.ifThen(cb.ge(base, cb.index(0)), [&] {
      if (!args.blockTable) {
        Value capacity = memref::DimOp::create(b, loc, args.kCache, 2);
        cb.ifThen(cb.lt(position, capacity),
                  [&] { writeRow({sequence, kvHead, position}); });
        return;
      }
      Value pageSize = memref::DimOp::create(b, loc, args.kCache, 2);
      Value column = cb.divUI(position, pageSize);
      Value columns = memref::DimOp::create(b, loc, args.blockTable, 1);
      cb.ifThen(cb.lt(column, columns), [&] {
        Value page = cb.indexCast(
            indexType, memref::LoadOp::create(b, loc, args.blockTable,
                                              ValueRange{sequence, column}));
        Value pages = memref::DimOp::create(b, loc, args.kCache, 0);
        cb.ifThen(cb.andI(cb.ge(page, cb.index(0)), cb.lt(page, pages)), [&] {
          writeRow({page, kvHead,
                    arith::RemUIOp::create(b, loc, position, pageSize)});
        });
      });
    });
  }

  /// The lane's columns lane, lane + 32, ... below `width`, each by `body`.
  template <typename Fn> void forLaneColumns(int64_t width, Fn body) {
    for (int64_t k = 0; k * kWarpSize < width; ++k) {
      Value c = cb.add(lane, cb.index(k * kWarpSize));
      if ((k + 1) * kWarpSize <= width)
        body(c);
      else
        cb.ifThen(cb.lt(c, cb.index(width)), [&] { body(c); });
    }
  }

  int64_t width(Value m) { return cast<MemRefType>(m.getType()).getDimSize(3); }

  void copyColumn(Value from, Value to, ArrayRef<Value> slot, Value c) {
    Value x = memref::LoadOp::create(b, loc, from,
                                     ValueRange{newBatch, kvHead, newRow, c});
    memref::StoreOp::create(b, loc, x, to,
                            ValueRange{slot[0], slot[1], slot[2], c});
  }

  void writeRow(SmallVector<Value> slot) {
    forLaneColumns(width(args.vNew), [&](Value c) {
      copyColumn(args.vNew, args.vCache, slot, c);
    });
    if (!ropeTheta) {
      forLaneColumns(width(args.kNew), [&](Value c) {
        copyColumn(args.kNew, args.kCache, slot, c);
      });
      return;
    }
    rotateRow(slot);
  }

  /// k_cache[slot] = rope(k_new row, position) over the pairs (i, i + D/2).
  void rotateRow(ArrayRef<Value> slot) {
    int64_t headDim = width(args.kNew), half = headDim / 2;
    Type elt = cast<MemRefType>(args.kNew.getType()).getElementType();
    Type f32 = b.getF32Type(), f64 = b.getF64Type();
    Value freqs = getRopeFrequencies(cb, module, prefix, *ropeTheta, headDim);
    Value p = arith::UIToFPOp::create(
        b, loc, f64,
        arith::IndexCastUIOp::create(b, loc, b.getI64Type(), position));
    auto f64Const = [&](double v) {
      return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
    };
    // 2 pi in two parts, so that n * 2 pi is exact to f64 for the angles of
    // any cache position.
    const double twoPi = 2.0 * llvm::numbers::pi;
    const double twoPiHi = static_cast<float>(twoPi);
    const double twoPiLo = twoPi - twoPiHi;
    auto widen = [&](Value x) -> Value {
      return elt == f32 ? x : arith::ExtFOp::create(b, loc, f32, x);
    };
    auto narrow = [&](Value x) -> Value {
      return elt == f32 ? x : arith::TruncFOp::create(b, loc, elt, x);
    };
    forLaneColumns(half, [&](Value i) {
      Value angle = arith::MulFOp::create(
          b, loc, p, memref::LoadOp::create(b, loc, freqs, i));
      Value turns = ptx.roundEven64(
          arith::MulFOp::create(b, loc, angle, f64Const(1.0 / twoPi)));
      Value reduced = arith::SubFOp::create(
          b, loc,
          arith::SubFOp::create(
              b, loc, angle,
              arith::MulFOp::create(b, loc, turns, f64Const(twoPiHi))),
          arith::MulFOp::create(b, loc, turns, f64Const(twoPiLo)));
      Value r = arith::TruncFOp::create(b, loc, f32, reduced);
      Value c = ptx.cos(r), s = ptx.sin(r);
      Value iHigh = cb.add(i, cb.index(half));
      auto load = [&](Value col) {
        return widen(memref::LoadOp::create(
            b, loc, args.kNew, ValueRange{newBatch, kvHead, newRow, col}));
      };
      Value x1 = load(i), x2 = load(iHigh);
      Value y1 = cb.fsub(cb.fmul(x1, c), cb.fmul(x2, s));
      Value y2 = cb.fadd(cb.fmul(x2, c), cb.fmul(x1, s));
      memref::StoreOp::create(b, loc, narrow(y1), args.kCache,
                              ValueRange{slot[0], slot[1], slot[2], i});
      memref::StoreOp::create(b, loc, narrow(y2), args.kCache,
                              ValueRange{slot[0], slot[1], slot[2], iHigh});
    });
  }

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  PtxBuilder ptx;
  gpu::GPUModuleOp module;
  StringRef prefix;
  std::optional<double> ropeTheta;
  const AppendKernelArgs &args;
  Value kvHead, sequence, lane, position;
  /// The warp's new key: its batch element and row in k_new and v_new.
  Value newBatch, newRow;
};

} // namespace

void mlir::mha::emitAppendKernel(OpBuilder &b, Location loc,
                                 gpu::GPUModuleOp module, gpu::GPUFuncOp func,
                                 StringRef prefix,
                                 std::optional<double> ropeTheta,
                                 const AppendKernelArgs &args) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  AppendKernelEmitter(b, loc, module, prefix, ropeTheta, args).emit();
}
