//===- Dropout.cpp - Emitting the dropout keep rule -----------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/Dropout.h"

#include "mha/Semantics/Philox.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// i32 arithmetic on values of one type (i32 or a vector of i32); scalar
/// operands are broadcast to it.
class WordOps {
public:
  WordOps(CodegenBuilder &cb, Type type)
      : b(cb.builder()), loc(cb.getLoc()), type(type) {}

  Value constant(uint32_t v) {
    Value c =
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(int32_t(v)));
    return splat(c);
  }
  Value splat(Value scalar) {
    if (scalar.getType() == type)
      return scalar;
    return vector::BroadcastOp::create(b, loc, type, scalar);
  }
  Value xorI(Value x, Value y) { return arith::XOrIOp::create(b, loc, x, y); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value shr(Value x, uint32_t n) {
    return arith::ShRUIOp::create(b, loc, x, constant(n));
  }
  Value andI(Value x, uint32_t m) {
    return arith::AndIOp::create(b, loc, x, constant(m));
  }
  Value eq(Value x, uint32_t v) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x,
                                 constant(v));
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  /// (high, low) halves of the 64-bit product m * x.
  std::pair<Value, Value> mulHiLo(uint32_t m, Value x) {
    auto product = arith::MulUIExtendedOp::create(b, loc, constant(m), x);
    return {product.getHigh(), product.getLow()};
  }

private:
  OpBuilder &b;
  Location loc;
  Type type;
};

} // namespace

Value mlir::mha::emitDropoutWord(CodegenBuilder &cb,
                                 const DropoutStream &stream, Value keys) {
  WordOps w(cb, keys.getType());
  // The rounds of philox4x32_10 (Philox.h), unrolled.
  Value c[4] = {w.shr(keys, 2), w.splat(stream.row), w.splat(stream.stream),
                w.splat(stream.offset)};
  Value key0 = w.splat(stream.seedLo), key1 = w.splat(stream.seedHi);
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      key0 = w.add(key0, w.constant(kPhiloxW0));
      key1 = w.add(key1, w.constant(kPhiloxW1));
    }
    auto [hi0, lo0] = w.mulHiLo(kPhiloxM0, c[0]);
    auto [hi1, lo1] = w.mulHiLo(kPhiloxM1, c[2]);
    c[0] = w.xorI(w.xorI(hi1, c[1]), key0);
    c[1] = lo1;
    c[2] = w.xorI(w.xorI(hi0, c[3]), key1);
    c[3] = lo0;
  }
  Value lane = w.andI(keys, 3);
  return w.select(
      w.eq(lane, 0), c[0],
      w.select(w.eq(lane, 1), c[1], w.select(w.eq(lane, 2), c[2], c[3])));
}

Value mlir::mha::emitDropoutKeeps(CodegenBuilder &cb,
                                  const DropoutStream &stream, Value keys,
                                  Value threshold) {
  WordOps w(cb, keys.getType());
  return cb.cmpI(arith::CmpIPredicate::uge, emitDropoutWord(cb, stream, keys),
                 w.splat(threshold));
}
