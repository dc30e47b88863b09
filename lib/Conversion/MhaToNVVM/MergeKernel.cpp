//===- MergeKernel.cpp - Merging split-KV partial results -----------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// One warp per row: every lane reads the row's partial lse values
// (one broadcast load each), and lane l sums columns l, l + 32, ... of the
// parts' outputs, so that each load of a warp is one contiguous run.
// Memory-bound and small next to the split kernel (it reads parts x Dv
// floats per row, the split kernel the whole cache).
//
//===----------------------------------------------------------------------===//

#include "MergeKernel.h"
#include "PtxBuilder.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/Constants.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::mha;

void mlir::mha::emitMergeKernel(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                                int64_t valueDim, const MergeKernelArgs &args) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  CodegenBuilder cb(b, loc);
  // PtxBuilder's float intrinsics only; the MMA type does not matter.
  PtxBuilder ptx(cb, b.getBF16Type());
  Type indexType = b.getIndexType(), f32 = b.getF32Type();
  Value tid = gpu::ThreadIdOp::create(b, loc, indexType, gpu::Dimension::x);
  Value tile = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::x);
  Value head = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::y);
  Value batch = gpu::BlockIdOp::create(b, loc, indexType, gpu::Dimension::z);
  Value lane = arith::RemUIOp::create(b, loc, tid, cb.index(kWarpSize));
  Value row = cb.add(cb.mul(tile, cb.index(kMergeRowsPerBlock)),
                     cb.divUI(tid, cb.index(kWarpSize)));
  const bool split = static_cast<bool>(args.partialLse);
  Value rows = split ? memref::DimOp::create(b, loc, args.partialLse, 3)
                     : memref::DimOp::create(b, loc, args.states[0].second, 2);
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  Value zeroF = cb.f32(0.0f);

  // Part s: an index into the partial buffers, or state number s.
  struct Part {
    Value index;
    int64_t state = -1;
  };
  auto partLse = [&](Part s) -> Value {
    if (split)
      return memref::LoadOp::create(b, loc, args.partialLse,
                                    ValueRange{s.index, batch, head, row});
    return memref::LoadOp::create(b, loc, args.states[s.state].second,
                                  ValueRange{batch, head, row});
  };
  const int64_t columnsPerLane = (valueDim + kWarpSize - 1) / kWarpSize;
  auto column = [&](int64_t k) {
    return cb.add(lane, cb.index(k * kWarpSize));
  };
  // Lanes past Dv in the last group of 32 columns (Dv = 16, 48, ...) skip
  // their column k.
  auto allLanes = [&](int64_t k) { return (k + 1) * kWarpSize <= valueDim; };
  auto inColumns = [&](int64_t k) {
    return cb.lt(column(k), cb.index(valueDim));
  };
  auto loadColumn = [&](Part s, int64_t k) -> Value {
    auto load = [&]() -> Value {
      if (split)
        return memref::LoadOp::create(
            b, loc, args.partialO,
            ValueRange{s.index, batch, head, row, column(k)});
      Value x = memref::LoadOp::create(b, loc, args.states[s.state].first,
                                       ValueRange{batch, head, row, column(k)});
      return x.getType() == f32 ? x : arith::ExtFOp::create(b, loc, f32, x);
    };
    if (allLanes(k))
      return load();
    return cb.ifValue(inColumns(k), f32, load, [&] { return zeroF; });
  };
  // Folds `step` over the parts in order: an scf.for over the split
  // buffer's parts, or the states one after the other.
  auto foldParts =
      [&](ValueRange init,
          function_ref<SmallVector<Value>(Part, ValueRange)> step) {
        if (split) {
          Value parts = memref::DimOp::create(b, loc, args.partialLse, 0);
          scf::ForOp loop =
              cb.forLoopCarrying(parts, init, [&](Value s, ValueRange acc) {
                return step(Part{s}, acc);
              });
          return SmallVector<Value>(loop.getResults());
        }
        SmallVector<Value> acc(init.begin(), init.end());
        for (int64_t s = 0; s < static_cast<int64_t>(args.states.size()); ++s)
          acc = step(Part{Value(), s}, acc);
        return acc;
      };

  cb.ifThen(cb.lt(row, rows), [&] {
    // The largest lse (maxnum skips NaN, which `poisoned` remembers).
    SmallVector<Value> maxed = foldParts(
        ValueRange{negInf, cb.boolean(false)},
        [&](Part s, ValueRange acc) -> SmallVector<Value> {
          Value l = partLse(s);
          return {ptx.fmax(acc[0], l),
                  cb.orI(acc[1], cb.cmpF(arith::CmpFPredicate::UNO, l, l))};
        });
    Value maxLse = maxed[0], poisoned = maxed[1];
    Value empty =
        cb.andI(cb.cmpF(arith::CmpFPredicate::OEQ, maxLse, negInf),
                cb.cmpI(arith::CmpIPredicate::eq, poisoned, cb.boolean(false)));
    // Weights exp(lse_s - max) and the weighted sums of the lane's columns;
    // a part of weight 0 adds nothing (its output may hold anything).
    SmallVector<Value> init(columnsPerLane + 1, zeroF);
    SmallVector<Value> sums =
        foldParts(init, [&](Part s, ValueRange acc) -> SmallVector<Value> {
          Value w =
              ptx.exp2(cb.fmul(cb.fsub(partLse(s), maxLse), cb.f32(kLog2e)));
          Value none = cb.cmpF(arith::CmpFPredicate::OEQ, w, zeroF);
          SmallVector<Value> next{cb.fadd(acc[0], w)};
          for (int64_t k = 0; k < columnsPerLane; ++k)
            next.push_back(
                cb.fadd(acc[k + 1],
                        cb.select(none, zeroF, cb.fmul(w, loadColumn(s, k)))));
          return next;
        });
    Value sum = sums[0];
    Value inv = cb.fdiv(cb.f32(1.0f), sum);
    if (args.o) {
      Type oElt = cast<MemRefType>(args.o.getType()).getElementType();
      for (int64_t k = 0; k < columnsPerLane; ++k) {
        auto store = [&] {
          Value x = cb.select(empty, zeroF, cb.fmul(sums[k + 1], inv));
          if (oElt != f32)
            x = arith::TruncFOp::create(b, loc, oElt, x);
          memref::StoreOp::create(b, loc, x, args.o,
                                  ValueRange{batch, head, row, column(k)});
        };
        if (allLanes(k))
          store();
        else
          cb.ifThen(inColumns(k), store);
      }
    }
    if (args.lse)
      cb.ifThen(cb.cmpI(arith::CmpIPredicate::eq, lane, cb.index(0)), [&] {
        Value lse = cb.fadd(maxLse, cb.fmul(ptx.log2(sum), cb.f32(kLn2)));
        memref::StoreOp::create(b, loc, cb.select(empty, negInf, lse), args.lse,
                                ValueRange{batch, head, row});
      });
  });
  gpu::ReturnOp::create(b, loc);
}
