//===- Builder.h - The builder facade of mha's code generators --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// One set of shorthands for every kernel emitter (CPU work items, vector
// micro-kernels, layer GEMMs, GPU kernels): constants, index and float
// arithmetic (elementwise on vectors too), and loops.
//
// It wraps the caller's OpBuilder by reference, as upstream's ArithBuilder
// does, rather than being an ImplicitLocOpBuilder: the emitters move one
// shared insertion point through nested regions, and an
// ImplicitLocOpBuilder is a builder of its own with its own insertion point.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_BUILDER_H
#define MHA_CODEGEN_BUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"

namespace mlir::mha {

class CodegenBuilder {
public:
  CodegenBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  OpBuilder &builder() const { return b; }
  Location getLoc() const { return loc; }

  // There is deliberately no `create<OpTy>(...)`: ops are built with
  // `OpTy::create(builder(), getLoc(), ...)`, the form upstream recommends;
  // scripts/lint.py rejects the deprecated `builder.create<OpTy>` spelling.

  // Constants.
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value boolean(bool v) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(v));
  }
  /// An index constant; the name the templates of
  /// mha/Semantics/KeyVisibility.h call.
  Value constant(int64_t v) { return index(v); }

  // Integer and index arithmetic.
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value divUI(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value minSI(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxSI(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value cmpI(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmpI(arith::CmpIPredicate::slt, x, y); }
  Value le(Value x, Value y) { return cmpI(arith::CmpIPredicate::sle, x, y); }
  Value gt(Value x, Value y) { return cmpI(arith::CmpIPredicate::sgt, x, y); }
  Value ge(Value x, Value y) { return cmpI(arith::CmpIPredicate::sge, x, y); }
  // (A known i1 operand decides or drops out, as for the branches below.)
  Value andI(Value x, Value y) {
    if (std::optional<bool> known = getKnown(x))
      return *known ? y : x;
    if (std::optional<bool> known = getKnown(y))
      return *known ? x : y;
    return arith::AndIOp::create(b, loc, x, y);
  }
  Value orI(Value x, Value y) {
    if (std::optional<bool> known = getKnown(x))
      return *known ? x : y;
    if (std::optional<bool> known = getKnown(y))
      return *known ? y : x;
    return arith::OrIOp::create(b, loc, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value indexCast(Type type, Value x) {
    return arith::IndexCastOp::create(b, loc, type, x);
  }

  // Float arithmetic.
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value maximumF(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  /// `x > y ? x : y`: a NaN `x` yields `y`, a NaN `y` stays. One vmaxps on
  /// x86, where maximumf takes four instructions (NaN and signed-zero
  /// checks): for hot loops whose NaNs propagate by another path.
  Value selectMax(Value x, Value y) {
    return select(cmpF(arith::CmpFPredicate::OGT, x, y), x, y);
  }
  Value cmpF(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value exp2(Value x) { return math::Exp2Op::create(b, loc, x); }
  Value log2(Value x) { return math::Log2Op::create(b, loc, x); }

  // Loops.
  /// scf.for over [lb, ub) by `step` at the insertion point; `body(iv)`
  /// fills it with the insertion point inside, restored afterwards.
  template <typename Fn>
  scf::ForOp forLoop(Value lb, Value ub, Value step, Fn body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
    return loop;
  }
  template <typename Fn>
  scf::ForOp forLoop(Value lb, Value ub, int64_t step, Fn body) {
    return forLoop(lb, ub, index(step), body);
  }
  /// scf.for over [0, n) by 1 carrying `init`; `body(iv, args)` returns the
  /// values to yield.
  scf::ForOp
  forLoopCarrying(Value n, ValueRange init,
                  function_ref<SmallVector<Value>(Value, ValueRange)> body);
  // The branches below are emitted only where `cond` may take them: a
  // constant condition (a static bound the caller knows) emits its branch
  // in place, so that code never run is never built (nor compiled).

  /// scf.if on `cond` without results; `body()` fills the then-block.
  template <typename Fn> void ifThen(Value cond, Fn body) {
    if (std::optional<bool> known = getKnown(cond)) {
      if (*known)
        body();
      return;
    }
    auto ifOp = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    body();
  }

  /// scf.if on `cond` without results; `thenBody()` and `elseBody()` fill
  /// the two blocks.
  template <typename Then, typename Else>
  void ifThenElse(Value cond, Then thenBody, Else elseBody) {
    if (std::optional<bool> known = getKnown(cond)) {
      if (*known)
        thenBody();
      else
        elseBody();
      return;
    }
    auto ifOp = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    thenBody();
    b.setInsertionPointToStart(ifOp.elseBlock());
    elseBody();
  }

  /// scf.if on `cond` yielding one value of `type`, which `thenValue()`
  /// and `elseValue()` build in their blocks.
  template <typename Then, typename Else>
  Value ifValue(Value cond, Type type, Then thenValue, Else elseValue) {
    if (std::optional<bool> known = getKnown(cond)) {
      if (*known)
        return thenValue();
      return elseValue();
    }
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{type}, cond,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, ValueRange{thenValue()});
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, ValueRange{elseValue()});
    return ifOp.getResult(0);
  }

private:
  /// The value of an i1 constant `cond`.
  static std::optional<bool> getKnown(Value cond) {
    if (!cond.getType().isInteger(1))
      return std::nullopt;
    if (std::optional<int64_t> c = getConstantIntValue(cond))
      return *c != 0;
    return std::nullopt;
  }

  OpBuilder &b;
  Location loc;
};

} // namespace mlir::mha

#endif // MHA_CODEGEN_BUILDER_H
