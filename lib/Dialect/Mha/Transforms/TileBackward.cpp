//===- TileBackward.cpp - Work-item kernels of <name>_backward ----*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-tile-backward: for a function marked mha.backward, the kernel of the
// exported gradient function `<name>_backward` (docs/language.md, 6.7 and
// 7.1), in the FlashAttention-2 split:
//
//  - key items (phase 0) (b, g, t): dk and dv of key tile t of KV head g,
//    summed in stack scratch over every query head of the group and every
//    query tile whose key ranges (KeyVisibility.h, as in the forward) reach
//    the tile; per row, only the keys of its own ranges inside the tile;
//  - query items (phase 1) (b, h, t): dq of the rows of query tile t of
//    head h, over the keys of each row's ranges.
//
// Both recompute t = q.k * scale / temperature, the softcapped and ALiBi'd
// score s and P = exp(s - lse) from the forward's lse, with
// D_i = dout_i . o_i, then dS = P (dout_i . v_j - D_i) (times the softcap's
// 1 - tanh^2). Every gradient element is written by exactly one item that
// sums in a fixed order: no atomics, the same bytes for any thread count.
// This first slice uses plain vector loops (one key at a time, f32
// accumulation); the forward's micro-kernels can come later.
//
//===----------------------------------------------------------------------===//

#include "TileAttention.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/Constants.h"
#include "mha/Codegen/Dropout.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Codegen/HeadParams.h"
#include "mha/Codegen/KeyVisibility.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <limits>
#include <optional>

#define DEBUG_TYPE "mha-tile-backward"

namespace mlir::mha {
#define GEN_PASS_DEF_MHATILEBACKWARDPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

/// The arguments of a backward kernel: the memrefs in C parameter order,
/// the runtime's descriptors, then the grid position. `dentropy` exists only
/// when the forward returns entropy (BackwardEmitter::arg skips it).
enum BackwardArg {
  kQ,
  kK,
  kV,
  kO,
  kLse,
  kDout,
  kDentropy,
  kDq,
  kDk,
  kDv,
  kAliveMask,
  kRowStats,
  kDropoutRng,
  kPhase,
  kBatch,
  kHead,
  kTile,
  kAlive
};

/// What one query row needs for its pairs (i, j).
struct RowState {
  Value query, dout; // vector<D x f32>, vector<Dv x f32>
  // D_i = dout_i . o_i; with the entropy gradient, E_i = D_i + dH_i (H_i -
  // lse_i) from the row items (phase 2), which pairGradient also needs
  // dH_i for.
  Value rowConstant, dEntropy;
  Value lse;         // lse_i less the row's ALiBi bias (alibiRowBias)
  Value alibiOrigin; // index: the key ALiBi's distances start from
  const HeadParams *head;
  std::optional<DropoutStream> dropout; // the row's Philox words
};

/// The final score of a pair and, with softcap, its tanh (PairGradient's
/// chain rule needs it).
struct PairScore {
  Value s, th;
};

/// What one visible pair adds: P_ij Z_ij, the weight of dout_i in dv_j (Z
/// is dropout's keep / (1 - p), 1 without), and dL/dt_ij * scale /
/// temperature.
struct PairGradient {
  Value valueWeight, dScore;
};

class BackwardEmitter {
public:
  BackwardEmitter(OpBuilder &b, ModuleOp module, StringRef prefix,
                  AttentionOp attention, Block *entry, int64_t rows,
                  int64_t keys)
      : b(b), loc(attention.getLoc()), cb(b, loc), module(module),
        prefix(prefix), shape(AttentionShape::get(attention)),
        variant(AttentionVariant::get(attention, shape.numHeads,
                                      shape.numKvHeads, shape.headDim)),
        entry(entry), rowsPerItem(rows), keysPerItem(keys),
        hasEntropy(attention.getReturnEntropy()), f32(b.getF32Type()) {}

  void emit();

private:
  Value arg(BackwardArg a) {
    assert((a != kDentropy || hasEntropy) && "no dentropy parameter");
    return entry->getArgument(hasEntropy || a < kDentropy ? a : a - 1);
  }
  VectorType vec(int64_t n) { return VectorType::get({n}, f32); }
  Value splat(Value scalar, int64_t n) {
    return vector::BroadcastOp::create(b, loc, vec(n), scalar);
  }
  Value dot(Value x, Value y) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                       cb.fmul(x, y));
  }
  /// Row [i0, i1, i2, :] of `mem` (n elements) widened to f32.
  Value loadRow(Value mem, ValueRange at, int64_t n);
  /// Stores an f32 row into row [i0, i1, i2, :] of `mem`, rounded.
  void storeRow(Value row, Value mem, ValueRange at);
  /// `then` and `otherwise` each yield one value of `type`.
  Value ifElse(Value cond, Type type, function_ref<Value()> then,
               function_ref<Value()> otherwise);

  /// lse_i, to test for an empty row (-inf) before anything else is read.
  Value loadLse(Value batch, Value head, Value i) {
    Value lse =
        memref::LoadOp::create(b, loc, arg(kLse), ValueRange{batch, head, i});
    return lse.getType().isF32() ? lse
                                 : arith::ExtFOp::create(b, loc, f32, lse);
  }
  /// Whether a row has keys: lse != -inf (NaN passes and propagates).
  Value rowHasKeys(Value lse) {
    return cb.cmpF(arith::CmpFPredicate::UNE, lse,
                   cb.f32(-std::numeric_limits<float>::infinity()));
  }
  /// What row i needs; `rowStats`: read E_i and dH_i (phases 0 and 1 of a
  /// backward with the entropy gradient), else compute D_i.
  RowState loadRow(const HeadParams &head, Value batch, Value h, Value i,
                   Value lse, bool rowStats = true);
  PairGradient pairGradient(const RowState &row, Value key, Value value,
                            Value j);
  MaskParams<Value> masks(const HeadParams &head) const {
    return head.masks(variant);
  }

  /// The final score s of pair (i, j) (shifted by the row's ALiBi bias as
  /// the forward's) and, with softcap, tanh(t / softcap) of the score t
  /// after scale and temperature.
  PairScore score(const RowState &row, Value key, Value j);
  /// Calls `body(lo, hi)` for the row's sink and window key ranges.
  void forEachKeyRange(const HeadParams &head, Value i,
                       function_ref<void(Value, Value)> body);

  void emitKeyItem();
  void emitQueryItem();
  void emitRowStatsItem();

  OpBuilder &b;
  Location loc;
  CodegenBuilder cb;
  ModuleOp module;
  StringRef prefix;
  AttentionShape shape;
  AttentionVariant variant;
  Block *entry;
  int64_t rowsPerItem, keysPerItem;
  bool hasEntropy;
  Type f32;
  Value queryLen, keyLen;
};

Value BackwardEmitter::loadRow(Value mem, ValueRange at, int64_t n) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  SmallVector<Value> indices(at.begin(), at.end());
  indices.push_back(cb.index(0));
  Value row =
      vector::LoadOp::create(b, loc, VectorType::get({n}, elt), mem, indices);
  return elt.isF32() ? row : arith::ExtFOp::create(b, loc, vec(n), row);
}

void BackwardEmitter::storeRow(Value row, Value mem, ValueRange at) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  int64_t n = cast<VectorType>(row.getType()).getNumElements();
  if (!elt.isF32())
    row = arith::TruncFOp::create(b, loc, VectorType::get({n}, elt), row);
  SmallVector<Value> indices(at.begin(), at.end());
  indices.push_back(cb.index(0));
  vector::StoreOp::create(b, loc, row, mem, indices);
}

Value BackwardEmitter::ifElse(Value cond, Type type, function_ref<Value()> then,
                              function_ref<Value()> otherwise) {
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{type}, cond,
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, loc, then());
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, loc, otherwise());
  return ifOp.getResult(0);
}

RowState BackwardEmitter::loadRow(const HeadParams &head, Value batch, Value h,
                                  Value i, Value lse, bool rowStats) {
  RowState row;
  row.head = &head;
  row.query = loadRow(arg(kQ), {batch, h, i}, shape.headDim);
  row.dout = loadRow(arg(kDout), {batch, h, i}, shape.valueDim);
  if (hasEntropy && rowStats) {
    row.rowConstant =
        memref::LoadOp::create(b, loc, arg(kRowStats), ValueRange{batch, h, i});
    row.dEntropy =
        memref::LoadOp::create(b, loc, arg(kDentropy), ValueRange{batch, h, i});
  } else {
    row.rowConstant =
        dot(row.dout, loadRow(arg(kO), {batch, h, i}, shape.valueDim));
  }
  // The forward's scores leave each row's largest ALiBi bias out and its
  // lse adds it back (HeadParams.h): s - lse is the same without it.
  Value diag = cb.add(i, cb.sub(keyLen, queryLen));
  row.lse = alibiShiftsRows(variant)
                ? cb.fsub(lse, alibiRowBias(cb, head.alibiSlope, diag))
                : lse;
  row.alibiOrigin = alibiOrigin(cb, diag, variant.causal);
  if (variant.hasDropout) {
    Type i32 = b.getI32Type();
    auto word = [&](int64_t w) -> Value {
      return memref::LoadOp::create(b, loc, arg(kDropoutRng),
                                    ValueRange{cb.index(w)});
    };
    Value stream = cb.add(cb.mul(batch, cb.index(shape.numHeads)), h);
    row.dropout =
        DropoutStream{word(MHA_DROPOUT_SEED_LO), word(MHA_DROPOUT_SEED_HI),
                      cb.indexCast(i32, i), cb.indexCast(i32, stream),
                      word(MHA_DROPOUT_OFFSET_LO)};
  }
  return row;
}

PairScore BackwardEmitter::score(const RowState &row, Value key, Value j) {
  const HeadParams &head = *row.head;
  Value t = cb.fmul(dot(row.query, key), head.scoreScale);
  Value s = t, th;
  if (variant.softcap) {
    Value cap = cb.f32(*variant.softcap);
    th = math::TanhOp::create(b, loc, cb.fdiv(t, cap));
    s = cb.fmul(cap, th);
  }
  if (variant.hasAlibi) {
    Value dist =
        cb.select(cb.gt(j, row.alibiOrigin), cb.sub(j, row.alibiOrigin),
                  cb.sub(row.alibiOrigin, j));
    Value distF = arith::SIToFPOp::create(b, loc, f32,
                                          cb.indexCast(b.getI64Type(), dist));
    s = cb.fsub(s, cb.fmul(head.alibiSlope, distF));
  }
  return {s, th};
}

void BackwardEmitter::forEachKeyRange(const HeadParams &head, Value i,
                                      function_ref<void(Value, Value)> body) {
  KeyRanges ranges =
      computeKeyRanges(cb, masks(head), i, cb.index(1), queryLen, keyLen);
  body(cb.index(0), ranges.sinkHi);
  body(ranges.windowLo, ranges.windowHi);
}

PairGradient BackwardEmitter::pairGradient(const RowState &row, Value key,
                                           Value value, Value j) {
  const HeadParams &head = *row.head;
  auto [s, th] = score(row, key, j);
  Value prob = cb.exp2(cb.fmul(cb.fsub(s, row.lse), cb.f32(kLog2e)));
  // o_i = sum_j P_ij Z_ij v_j: dL/dP_ij = Z_ij (dout_i . v_j), and D_i =
  // dout_i . o_i = sum_j P_ij dL/dP_ij as without dropout.
  Value dProb = dot(row.dout, value);
  Value valueWeight = prob;
  if (row.dropout) {
    Value keeps =
        emitDropoutKeeps(cb, *row.dropout, cb.indexCast(b.getI32Type(), j),
                         head.dropoutThreshold);
    Value z = cb.select(keeps, head.dropoutKeepScale, cb.f32(0.0f));
    dProb = cb.fmul(dProb, z);
    valueWeight = cb.fmul(prob, z);
  }
  // dH_i/ds_ij = -P_ij (s_ij - lse_i + H_i): with E_i it is one more term.
  Value diff = cb.fsub(dProb, row.rowConstant);
  if (hasEntropy)
    diff = cb.fsub(diff, cb.fmul(row.dEntropy, s));
  Value dS = cb.fmul(prob, diff);
  if (variant.softcap)
    dS = cb.fmul(dS, cb.fsub(cb.f32(1.0f), cb.fmul(th, th)));
  return {valueWeight, cb.fmul(dS, head.scoreScale)};
}

void BackwardEmitter::emitQueryItem() {
  int64_t D = shape.headDim, Dv = shape.valueDim;
  Value batch = arg(kBatch), h = arg(kHead);
  Value kvHead = cb.divUI(h, cb.index(variant.groupSize()));
  HeadParams head = emitHeadParams(cb, module, prefix, variant, h);
  Value alive = cb.andI(arg(kAlive), head.staticAlive);
  Value rowsConst = cb.index(rowsPerItem);
  Value row0 = cb.mul(arg(kTile), rowsConst);
  Value rows = cb.minSI(rowsConst, cb.sub(queryLen, row0));
  Value zeroRow = splat(cb.f32(0.0f), D);
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    Value i = cb.add(row0, r);
    Value dq = ifElse(
        alive, vec(D),
        [&] {
          Value lse = loadLse(batch, h, i);
          return ifElse(
              rowHasKeys(lse), vec(D),
              [&] {
                RowState row = loadRow(head, batch, h, i, lse);
                KeyRanges ranges = computeKeyRanges(
                    cb, masks(head), i, cb.index(1), queryLen, keyLen);
                auto sumKeys = [&](Value lo, Value hi, Value acc) -> Value {
                  Value n = cb.maxSI(cb.sub(hi, lo), cb.index(0));
                  return cb
                      .forLoopCarrying(
                          n, acc,
                          [&](Value iv, ValueRange carried) {
                            Value j = cb.add(lo, iv);
                            Value key = loadRow(arg(kK), {batch, kvHead, j}, D);
                            Value value =
                                loadRow(arg(kV), {batch, kvHead, j}, Dv);
                            PairGradient g = pairGradient(row, key, value, j);
                            return SmallVector<Value>{cb.fadd(
                                carried[0], cb.fmul(splat(g.dScore, D), key))};
                          })
                      .getResult(0);
                };
                Value acc = sumKeys(cb.index(0), ranges.sinkHi, zeroRow);
                return sumKeys(ranges.windowLo, ranges.windowHi, acc);
              },
              [&] { return zeroRow; });
        },
        [&] { return zeroRow; });
    storeRow(dq, arg(kDq), {batch, h, i});
  });
}

void BackwardEmitter::emitKeyItem() {
  int64_t D = shape.headDim, Dv = shape.valueDim, C = keysPerItem;
  Value batch = arg(kBatch), g = arg(kHead);
  Value zero = cb.index(0), one = cb.index(1);
  Value colsConst = cb.index(C);
  Value j0 = cb.mul(arg(kTile), colsConst);
  Value n = cb.minSI(colsConst, cb.sub(keyLen, j0));
  Value j1 = cb.add(j0, n);
  // dk and dv of the tile's keys, summed in f32 on the stack.
  auto buffer = [&](int64_t cols) {
    return memref::AllocaOp::create(b, loc, MemRefType::get({C, cols}, f32),
                                    ValueRange{}, b.getI64IntegerAttr(64));
  };
  Value dkAcc = buffer(D), dvAcc = buffer(Dv);
  Value zeroK = splat(cb.f32(0.0f), D), zeroV = splat(cb.f32(0.0f), Dv);
  cb.forLoop(zero, n, 1, [&](Value jj) {
    vector::StoreOp::create(b, loc, zeroK, dkAcc, ValueRange{jj, zero});
    vector::StoreOp::create(b, loc, zeroV, dvAcc, ValueRange{jj, zero});
  });

  int64_t groupSize = variant.groupSize();
  Value rowsConst = cb.index(rowsPerItem);
  Value queryTiles =
      cb.divUI(cb.add(queryLen, cb.index(rowsPerItem - 1)), rowsConst);
  cb.forLoop(zero, cb.index(groupSize), 1, [&](Value member) {
    Value h = cb.add(cb.mul(g, cb.index(groupSize)), member);
    HeadParams head = emitHeadParams(cb, module, prefix, variant, h);
    Value runtimeAlive =
        cb.cmpI(arith::CmpIPredicate::ne,
                memref::LoadOp::create(b, loc, arg(kAliveMask), ValueRange{h}),
                arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0)));
    MaskParams<Value> m = masks(head);
    cb.ifThen(cb.andI(runtimeAlive, head.staticAlive), [&] {
      cb.forLoop(zero, queryTiles, 1, [&](Value qt) {
        Value row0 = cb.mul(qt, rowsConst);
        Value rows = cb.minSI(rowsConst, cb.sub(queryLen, row0));
        // The query tile's key ranges, as the forward computes them: a
        // tile whose ranges miss [j0, j1) has no row that sees a key here.
        KeyRanges tileRanges =
            computeKeyRanges(cb, m, row0, rows, queryLen, keyLen);
        Value seesSinks = cb.lt(j0, cb.minSI(tileRanges.sinkHi, j1));
        Value seesWindow = cb.lt(cb.maxSI(tileRanges.windowLo, j0),
                                 cb.minSI(tileRanges.windowHi, j1));
        cb.ifThen(cb.orI(seesSinks, seesWindow), [&] {
          cb.forLoop(zero, rows, 1, [&](Value r) {
            Value i = cb.add(row0, r);
            KeyRanges ranges =
                computeKeyRanges(cb, m, i, one, queryLen, keyLen);
            Value sinkHi = cb.minSI(ranges.sinkHi, j1);
            Value windowLo = cb.maxSI(ranges.windowLo, j0);
            Value windowHi = cb.minSI(ranges.windowHi, j1);
            Value sees = cb.orI(cb.lt(j0, sinkHi), cb.lt(windowLo, windowHi));
            cb.ifThen(sees, [&] {
              Value lse = loadLse(batch, h, i);
              cb.ifThen(rowHasKeys(lse), [&] {
                RowState row = loadRow(head, batch, h, i, lse);
                Value kvHead = g;
                auto visit = [&](Value lo, Value hi) {
                  cb.forLoop(lo, hi, 1, [&](Value j) {
                    Value jj = cb.sub(j, j0);
                    Value key = loadRow(arg(kK), {batch, kvHead, j}, D);
                    Value value = loadRow(arg(kV), {batch, kvHead, j}, Dv);
                    PairGradient pg = pairGradient(row, key, value, j);
                    SmallVector<Value> at{jj, zero};
                    Value dv =
                        vector::LoadOp::create(b, loc, vec(Dv), dvAcc, at);
                    dv = cb.fadd(dv,
                                 cb.fmul(splat(pg.valueWeight, Dv), row.dout));
                    vector::StoreOp::create(b, loc, dv, dvAcc, at);
                    Value dk =
                        vector::LoadOp::create(b, loc, vec(D), dkAcc, at);
                    dk = cb.fadd(dk, cb.fmul(splat(pg.dScore, D), row.query));
                    vector::StoreOp::create(b, loc, dk, dkAcc, at);
                  });
                };
                visit(j0, sinkHi);
                visit(windowLo, windowHi);
              });
            });
          });
        });
      });
    });
  });

  cb.forLoop(zero, n, 1, [&](Value jj) {
    Value j = cb.add(j0, jj);
    SmallVector<Value> at{jj, zero};
    storeRow(vector::LoadOp::create(b, loc, vec(D), dkAcc, at), arg(kDk),
             {batch, g, j});
    storeRow(vector::LoadOp::create(b, loc, vec(Dv), dvAcc, at), arg(kDv),
             {batch, g, j});
  });
}

void BackwardEmitter::emitRowStatsItem() {
  int64_t D = shape.headDim;
  Value batch = arg(kBatch), h = arg(kHead);
  Value kvHead = cb.divUI(h, cb.index(variant.groupSize()));
  HeadParams head = emitHeadParams(cb, module, prefix, variant, h);
  Value alive = cb.andI(arg(kAlive), head.staticAlive);
  Value rowsConst = cb.index(rowsPerItem);
  Value row0 = cb.mul(arg(kTile), rowsConst);
  Value rows = cb.minSI(rowsConst, cb.sub(queryLen, row0));
  Value zero = cb.f32(0.0f);
  cb.forLoop(cb.index(0), rows, 1, [&](Value r) {
    Value i = cb.add(row0, r);
    Value lse = loadLse(batch, h, i);
    Value stat = ifElse(
        cb.andI(alive, rowHasKeys(lse)), f32,
        [&] {
          RowState row = loadRow(head, batch, h, i, lse, /*rowStats=*/false);
          // H_i = lse_i - sum_j P_ij s_ij over the visible keys.
          Value sum = zero;
          forEachKeyRange(head, i, [&](Value lo, Value hi) {
            Value n = cb.maxSI(cb.sub(hi, lo), cb.index(0));
            sum = cb.forLoopCarrying(n, sum, [&](Value iv, ValueRange carried) {
                      Value j = cb.add(lo, iv);
                      Value key = loadRow(arg(kK), {batch, kvHead, j}, D);
                      Value s = score(row, key, j).s;
                      Value p =
                          cb.exp2(cb.fmul(cb.fsub(s, row.lse), cb.f32(kLog2e)));
                      return SmallVector<Value>{
                          cb.fadd(carried[0], cb.fmul(p, s))};
                    }).getResult(0);
          });
          Value entropy = cb.fsub(row.lse, sum);
          Value dEntropy = memref::LoadOp::create(b, loc, arg(kDentropy),
                                                  ValueRange{batch, h, i});
          return cb.fadd(row.rowConstant,
                         cb.fmul(dEntropy, cb.fsub(entropy, row.lse)));
        },
        [&] { return zero; });
    memref::StoreOp::create(b, loc, stat, arg(kRowStats),
                            ValueRange{batch, h, i});
  });
}

void BackwardEmitter::emit() {
  queryLen = memref::DimOp::create(b, loc, arg(kQ), 2);
  keyLen = memref::DimOp::create(b, loc, arg(kK), 2);
  auto isPhase = [&](int64_t p) {
    return cb.cmpI(arith::CmpIPredicate::eq, arg(kPhase), cb.index(p));
  };
  cb.ifThenElse(
      isPhase(0), [&] { emitKeyItem(); },
      [&] {
        if (!hasEntropy)
          return emitQueryItem();
        cb.ifThenElse(
            isPhase(1), [&] { emitQueryItem(); }, [&] { emitRowStatsItem(); });
      });
}

struct MhaTileBackwardPass
    : public mha::impl::MhaTileBackwardPassBase<MhaTileBackwardPass> {
  using MhaTileBackwardPassBase::MhaTileBackwardPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (rowsPerItem < 1 || keysPerItem < 1) {
      module.emitError() << "mha-tile-backward: rows and cols must be >= 1";
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> funcs;
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr(MhaDialect::kBackwardAttrName))
        funcs.push_back(func);
    for (func::FuncOp func : funcs)
      if (failed(tileBackward(module, func)))
        return signalPassFailure();
  }

  LogicalResult tileBackward(ModuleOp module, func::FuncOp func);
};

LogicalResult MhaTileBackwardPass::tileBackward(ModuleOp module,
                                                func::FuncOp func) {
  FailureOr<AttentionOp> matched = matchExportableFunction(func);
  if (failed(matched))
    return failure();
  AttentionOp attention = *matched;
  MLIRContext *ctx = func.getContext();
  AttentionShape shape = AttentionShape::get(attention);
  int64_t D = shape.headDim, Dv = shape.valueDim;
  if (D > kMaxCpuHeadDim || Dv > kMaxCpuHeadDim)
    return attention.emitError()
           << "head dims D = " << D << ", Dv = " << Dv
           << " are not supported by the CPU pipeline (at most "
           << kMaxCpuHeadDim << ")";
  // The key items keep dk and dv of their tile on the stack.
  int64_t keys = keysPerItem, rows = rowsPerItem;
  int64_t scratch = 4 * keys * (D + Dv);
  if (scratch > kMaxWorkItemScratchBytes)
    return attention.emitError()
           << "backward key tiles of " << keys << " keys need " << scratch
           << " bytes of scratch per work item, more than the "
           << kMaxWorkItemScratchBytes << " allowed: use fewer cols";
  if (!attention.getReturnLse())
    return attention.emitError() << "mha-tile-backward: the verifier admits "
                                 << "only forwards returning lse";
  bool hasEntropy = attention.getReturnEntropy();

  Type outputType = attention.getOutput().getType();
  SmallVector<Parameter> params = {
      {attention.getQuery().getType(), TensorRole::query},
      {attention.getKey().getType(), TensorRole::key},
      {attention.getValue().getType(), TensorRole::value},
      {outputType, TensorRole::saved_output},
      {attention.getLse().getType(), TensorRole::saved_lse},
      {outputType, TensorRole::grad_output}};
  if (hasEntropy)
    params.push_back(
        {attention.getEntropy().getType(), TensorRole::grad_entropy});
  params.append({{attention.getQuery().getType(), TensorRole::grad_query},
                 {attention.getKey().getType(), TensorRole::grad_key},
                 {attention.getValue().getType(), TensorRole::grad_value}});
  KernelSignature signature = buildKernelSignature(ctx, params);
  SmallVector<Type> argTypes = signature.argTypes;
  IndexType indexType = IndexType::get(ctx);
  int64_t dyn = ShapedType::kDynamic;
  argTypes.append({MemRefType::get({dyn}, IntegerType::get(ctx, 8)),
                   MemRefType::get({dyn, dyn, dyn}, Float32Type::get(ctx)),
                   getDropoutRngType(ctx), indexType, indexType, indexType,
                   indexType, IntegerType::get(ctx, 1)});

  OpBuilder b(func);
  std::string name = (func.getSymName() + "_backward").str();
  auto kernel = func::FuncOp::create(b, func.getLoc(), name + "__kernel",
                                     FunctionType::get(ctx, argTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  kernel->setAttr("mha.entry_point",
                  EntryPointAttr::get(ctx, name, rows, shape.numHeads,
                                      signature.roles, signature.types));
  // Backward kernels always take the dropout words (unread without
  // dropout).
  kernel->setAttr(kDropoutRngAttrName, UnitAttr::get(ctx));
  kernel->setAttr(
      kBackwardGridAttrName,
      b.getDenseI64ArrayAttr(
          {shape.numKvHeads, keys, /*index of k=*/kK, int64_t(hasEntropy)}));
  Block *entry = kernel.addEntryBlock();
  b.setInsertionPointToStart(entry);
  BackwardEmitter(b, module, name, attention, entry, rows, keys).emit();
  func::ReturnOp::create(b, attention.getLoc());
  return success();
}

} // namespace
