//===- VectorEmitter.h - Helpers of the mha-to-vector lowering ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToVector: builder shorthands, the score and
// mask definition shared by the lowerings, and loop helpers.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATOVECTOR_VECTOREMITTER_H
#define MHA_LIB_CONVERSION_MHATOVECTOR_VECTOREMITTER_H

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>

namespace mlir::mha::detail {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// Small arithmetic helpers bound to one builder and location.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value boolean(bool v) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(v));
  }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  /// `x > y ? x : y`: a NaN `x` yields `y`, a NaN `y` stays. One vmaxps on
  /// x86, where maximumf takes four instructions (NaN and signed-zero
  /// checks): for hot loops whose NaNs propagate by another path.
  Value selectMax(Value x, Value y) {
    return select(fcmp(arith::CmpFPredicate::OGT, x, y), x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value icmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value iadd(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value isub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value andi(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value ori(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value exp2(Value x) { return math::Exp2Op::create(b, loc, x); }
  Value log2(Value x) { return math::Log2Op::create(b, loc, x); }

  /// Loads row `r` of a [rows, n] tile as vector<n x f32>, widening f16/bf16.
  Value loadRow(Value tile, Value r) {
    auto type = cast<MemRefType>(tile.getType());
    auto vecType = VectorType::get({type.getDimSize(1)}, type.getElementType());
    Value row = vector::LoadOp::create(b, loc, vecType, tile,
                                       ValueRange{r, idx(0)});
    if (type.getElementType().isF32())
      return row;
    return arith::ExtFOp::create(
        b, loc, VectorType::get(vecType.getShape(), b.getF32Type()), row);
  }
  /// Stores an f32 row into a [rows, n] tile, narrowing to its element type.
  void storeRow(Value row, Value tile, Value r) {
    auto type = cast<MemRefType>(tile.getType());
    if (!type.getElementType().isF32())
      row = arith::TruncFOp::create(
          b, loc,
          VectorType::get(cast<VectorType>(row.getType()).getShape(),
                          type.getElementType()),
          row);
    vector::StoreOp::create(b, loc, row, tile, ValueRange{r, idx(0)});
  }
  Value dot(Value x, Value y) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                       fmul(x, y));
  }
};

/// The operands and attributes that define scores and masks; shared by the
/// step and probs ops.
struct ScoreSpec {
  Value scale, slope, queryPos, keyPos, windowLeft, windowRight, sinks;
  std::optional<float> softcap;
  bool causal, hasAlibi;

  template <typename OpTy> static ScoreSpec get(OpTy op) {
    ScoreSpec s;
    s.scale = op.getScoreScale();
    s.slope = op.getAlibiSlope();
    s.queryPos = op.getQueryPos();
    s.keyPos = op.getKeyPos();
    s.windowLeft = op.getWindowLeft();
    s.windowRight = op.getWindowRight();
    s.sinks = op.getSinkTokens();
    if (FloatAttr cap = op.getSoftcapAttr())
      s.softcap = cap.getValue().convertToFloat();
    s.causal = op.getCausal();
    s.hasAlibi = op.getHasAlibi();
    return s;
  }

};

/// The final statistics of row `r` of a tile.
struct RowStats {
  Value max, sum;
  Value any;     // some key was visible (sum > 0)
  Value valid;   // any && the head is alive
  Value safeSum; // sum, or 1 for empty rows so no NaN or inf is formed
  static RowStats load(Emitter &e, Value rowMax, Value rowSum, Value alive,
                       Value r) {
    RowStats st;
    st.max = memref::LoadOp::create(e.b, e.loc, rowMax, r);
    st.sum = memref::LoadOp::create(e.b, e.loc, rowSum, r);
    st.any = e.fcmp(arith::CmpFPredicate::OGT, st.sum, e.f32(0.0f));
    st.valid = e.andi(st.any, alive);
    st.safeSum = e.select(st.any, st.sum, e.f32(1.0f));
    return st;
  }
};

/// Loop over [0, n) with unit step carrying `init`.
inline scf::ForOp buildLoop(
    OpBuilder &b, Location loc, Value n, ValueRange init,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
        body) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  return scf::ForOp::create(
      b, loc, zero, n, one, init,
      [&](OpBuilder &nb, Location nl, Value iv, ValueRange args) {
        scf::YieldOp::create(nb, nl, body(nb, nl, iv, args));
      });
}


} // namespace mlir::mha::detail

#endif // MHA_LIB_CONVERSION_MHATOVECTOR_VECTOREMITTER_H
