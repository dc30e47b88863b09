//===- KeyVisibility.cpp - The masks as IR --------------------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/KeyVisibility.h"

#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::mha;

KeyRanges mlir::mha::computeKeyRanges(CodegenBuilder &cb,
                                      const MaskParams<Value> &masks,
                                      Value row0, Value rows, Value queryLen,
                                      Value keyLen) {
  // p = i + Lk - Lq is row i's diagonal key.
  return computeKeyRangesAt(cb, masks, row0, rows, cb.sub(keyLen, queryLen),
                            keyLen);
}

KeyRanges mlir::mha::computeKeyRangesAt(CodegenBuilder &cb,
                                        const MaskParams<Value> &masks,
                                        Value row0, Value rows,
                                        Value diagOffset, Value keyLen) {
  Value zero = cb.index(0), one = cb.index(1);
  KeyRanges r;
  r.pFirst = cb.add(row0, diagOffset);
  r.pLast = cb.add(cb.sub(cb.add(row0, rows), one), diagOffset);
  Value hiCausal = masks.causal
                       ? cb.maxSI(zero, cb.minSI(keyLen, cb.add(r.pLast, one)))
                       : keyLen;
  r.rightBounded = cb.ge(masks.windowRight, zero);
  Value hiWindow = cb.select(
      r.rightBounded,
      cb.maxSI(zero, cb.minSI(keyLen,
                              cb.add(cb.add(r.pLast, masks.windowRight), one))),
      keyLen);
  r.windowHi = cb.minSI(hiCausal, hiWindow);
  r.leftBounded = cb.ge(masks.windowLeft, zero);
  Value lo = cb.select(
      r.leftBounded, cb.maxSI(zero, cb.sub(r.pFirst, masks.windowLeft)), zero);
  Value sinkEnd = cb.minSI(masks.sinkTokens, keyLen);
  r.sinkHi = cb.minSI(sinkEnd, hiCausal);
  r.windowLo = cb.maxSI(lo, sinkEnd);
  return r;
}

Value mlir::mha::windowTileNeedsMask(CodegenBuilder &cb,
                                     const MaskParams<Value> &masks,
                                     const KeyRanges &ranges, Value j0,
                                     Value j1) {
  Value last = cb.sub(j1, cb.index(1));
  Value mask = cb.boolean(false);
  if (masks.causal)
    mask = cb.orI(mask, cb.gt(last, ranges.pFirst));
  // window_left: the last row's lower bound pLast - wl must be <= j0.
  Value leftEdge = cb.sub(ranges.pLast, masks.windowLeft);
  mask = cb.orI(mask, cb.andI(ranges.leftBounded, cb.lt(j0, leftEdge)));
  // window_right: the first row's upper bound pFirst + wr must be >= last.
  Value rightEdge = cb.add(ranges.pFirst, masks.windowRight);
  mask = cb.orI(mask, cb.andI(ranges.rightBounded, cb.gt(last, rightEdge)));
  return mask;
}

Value mlir::mha::sinkTileNeedsMask(CodegenBuilder &cb,
                                   const MaskParams<Value> &masks,
                                   const KeyRanges &ranges, Value j1) {
  if (!masks.causal)
    return cb.boolean(false);
  Value last = cb.sub(j1, cb.index(1));
  return cb.gt(last, ranges.pFirst);
}

CallPositions mlir::mha::readCallPositions(CodegenBuilder &cb, Value callWords,
                                           Value queryLen, Value keyLen) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  auto word = [&](int64_t i) -> Value {
    return memref::LoadOp::create(b, loc, callWords, ValueRange{cb.index(i)});
  };
  Type i64 = b.getI64Type();
  auto position = [&](int64_t lo, int64_t hi) {
    Value low = arith::ExtUIOp::create(b, loc, i64, word(lo));
    Value high = arith::ShLIOp::create(
        b, loc, arith::ExtUIOp::create(b, loc, i64, word(hi)),
        arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(32)));
    return cb.indexCast(b.getIndexType(),
                        arith::OrIOp::create(b, loc, high, low));
  };
  Value used =
      cb.cmpI(arith::CmpIPredicate::ne, word(MHA_POSITIONS_USED), cb.i32(0));
  Value qs = position(MHA_POSITIONS_QUERY_LO, MHA_POSITIONS_QUERY_HI);
  Value ks = position(MHA_POSITIONS_KEY_LO, MHA_POSITIONS_KEY_HI);
  Value zero = cb.index(0);
  return {cb.select(used, cb.sub(qs, ks), cb.sub(keyLen, queryLen)),
          cb.select(used, qs, zero), cb.select(used, ks, zero)};
}
