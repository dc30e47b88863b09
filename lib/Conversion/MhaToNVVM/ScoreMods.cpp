//===- ScoreMods.cpp - Per-head parameters and score modifiers ------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The per-key mask is the shared rule (mha/Semantics/KeyVisibility.h):
// getKeyBounds once per row, isKeyInBounds per score, plus the end of the
// key tile. The rule is written for any head; a head without a window or
// sinks must not pay for them in every score, so it is instantiated over
// an arithmetic that knows the ranges of its values (keys and diagonals lie
// within +-kUnboundedKey, the windows within their per-head tables) and
// decides at compile time what those ranges decide: a causal head's test
// is then `key <= diag`, as if written by hand.
//
//===----------------------------------------------------------------------===//

#include "ScoreMods.h"

#include "mha/Codegen/Constants.h"
#include "mha/Semantics/KeyVisibility.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include "llvm/Support/MathExtras.h"

#include <limits>
#include <memory>

using namespace mlir;
using namespace mlir::mha;

//===----------------------------------------------------------------------===//
// Head parameters
//===----------------------------------------------------------------------===//

GpuHeadParams mlir::mha::emitGpuHeadParams(CodegenBuilder &cb,
                                           Operation *symbolTable,
                                           StringRef prefix,
                                           const AttentionVariant &variant,
                                           Value head, Value headMask) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  GpuHeadParams hp;
  hp.head = head;
  hp.params = emitHeadParams(cb, symbolTable, prefix, variant, head);
  // The runtime mask: empty when every head is alive.
  Value maskSize = memref::DimOp::create(b, loc, headMask, 0);
  Value hasMask = cb.cmpI(arith::CmpIPredicate::ne, maskSize, cb.index(0));
  auto maskIf = scf::IfOp::create(b, loc, TypeRange{b.getI1Type()}, hasMask,
                                  /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(maskIf.thenBlock());
    Value byte = memref::LoadOp::create(b, loc, headMask, head);
    Value keep =
        cb.cmpI(arith::CmpIPredicate::ne, byte,
                arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0)));
    scf::YieldOp::create(b, loc, keep);
    b.setInsertionPointToStart(maskIf.elseBlock());
    scf::YieldOp::create(b, loc, cb.boolean(true));
  }
  hp.alive = cb.andI(hp.params.staticAlive, maskIf.getResult(0));
  return hp;
}

//===----------------------------------------------------------------------===//
// Index arithmetic over known ranges
//===----------------------------------------------------------------------===//

namespace {

/// An index value and the range [min, max] it is known to lie in; a
/// constant when min == max (its IR value is then made only when used).
struct KnownIndex {
  Value value;
  int64_t min, max;
  /// When the value is the minimum of two others: them.
  std::shared_ptr<std::pair<KnownIndex, KnownIndex>> minOf = nullptr;
};

/// An i1 value, or its value when known at compile time.
struct KnownBool {
  Value value;
  std::optional<bool> known;
};

/// x + y, or the int64 bound it overflows past; `overflow` is set then.
int64_t saturatingAdd(int64_t x, int64_t y, bool &overflow) {
  int64_t r;
  if (!llvm::AddOverflow(x, y, r))
    return r;
  overflow = true;
  return x < 0 ? std::numeric_limits<int64_t>::min()
               : std::numeric_limits<int64_t>::max();
}

int64_t saturatingSub(int64_t x, int64_t y, bool &overflow) {
  int64_t r;
  if (!llvm::SubOverflow(x, y, r))
    return r;
  overflow = true;
  return x < 0 ? std::numeric_limits<int64_t>::min()
               : std::numeric_limits<int64_t>::max();
}

/// The arithmetic the templates of mha/Semantics/KeyVisibility.h call:
/// emits an op only where the operands' ranges do not decide its result.
/// Ops whose results then go unused are left to the canonicalizer.
class RangeArith {
public:
  explicit RangeArith(CodegenBuilder &cb) : cb(cb) {}

  KnownIndex constant(int64_t v) { return {Value(), v, v}; }
  /// `v`, known to be one of `values`.
  KnownIndex known(Value v, ArrayRef<int64_t> values) {
    auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return {v, *lo, *hi};
  }
  KnownIndex within(Value v, int64_t min, int64_t max) { return {v, min, max}; }

  Value get(const KnownIndex &x) {
    return x.min == x.max ? cb.index(x.min) : x.value;
  }
  Value get(const KnownBool &x) {
    return x.known ? cb.boolean(*x.known) : x.value;
  }

  // Sums and differences whose ranges cannot overflow are `nsw`, which
  // lets LLVM fold `key < diag + 1` into `key <= diag`.
  KnownIndex add(const KnownIndex &x, const KnownIndex &y) {
    bool overflow = false;
    KnownIndex r{Value(), saturatingAdd(x.min, y.min, overflow),
                 saturatingAdd(x.max, y.max, overflow)};
    if (r.min != r.max)
      r.value = arith::AddIOp::create(cb.builder(), cb.getLoc(), get(x), get(y),
                                      flags(overflow));
    return r;
  }
  KnownIndex sub(const KnownIndex &x, const KnownIndex &y) {
    bool overflow = false;
    KnownIndex r{Value(), saturatingSub(x.min, y.max, overflow),
                 saturatingSub(x.max, y.min, overflow)};
    if (r.min != r.max)
      r.value = arith::SubIOp::create(cb.builder(), cb.getLoc(), get(x), get(y),
                                      flags(overflow));
    return r;
  }
  KnownIndex minSI(const KnownIndex &x, const KnownIndex &y) {
    if (x.max <= y.min)
      return x;
    if (y.max <= x.min)
      return y;
    return {cb.minSI(get(x), get(y)), std::min(x.min, y.min),
            std::min(x.max, y.max),
            std::make_shared<std::pair<KnownIndex, KnownIndex>>(x, y)};
  }
  KnownIndex select(const KnownBool &c, const KnownIndex &x,
                    const KnownIndex &y) {
    if (c.known)
      return *c.known ? x : y;
    return {cb.select(c.value, get(x), get(y)), std::min(x.min, y.min),
            std::max(x.max, y.max)};
  }

  // x < min(a, b) is x < a and x < b: the two tests a sink end
  // min(sinks, diag + 1) or a bound min(diag, diag + wr) means (LLVM then
  // shares `key <= diag` between them).
  KnownBool lt(const KnownIndex &x, const KnownIndex &y) {
    if (y.minOf)
      return andI(lt(x, y.minOf->first), lt(x, y.minOf->second));
    return compare(arith::CmpIPredicate::slt, x, y, x.max < y.min,
                   x.min >= y.max);
  }
  KnownBool le(const KnownIndex &x, const KnownIndex &y) {
    if (y.minOf)
      return andI(le(x, y.minOf->first), le(x, y.minOf->second));
    return compare(arith::CmpIPredicate::sle, x, y, x.max <= y.min,
                   x.min > y.max);
  }
  KnownBool ge(const KnownIndex &x, const KnownIndex &y) {
    return compare(arith::CmpIPredicate::sge, x, y, x.min >= y.max,
                   x.max < y.min);
  }

  KnownBool andI(const KnownBool &x, const KnownBool &y) {
    if (x.known)
      return *x.known ? y : x;
    if (y.known)
      return *y.known ? x : y;
    return {cb.andI(x.value, y.value), std::nullopt};
  }
  KnownBool orI(const KnownBool &x, const KnownBool &y) {
    if (x.known)
      return *x.known ? x : y;
    if (y.known)
      return *y.known ? y : x;
    return {cb.orI(x.value, y.value), std::nullopt};
  }

private:
  static arith::IntegerOverflowFlags flags(bool overflow) {
    return overflow ? arith::IntegerOverflowFlags::none
                    : arith::IntegerOverflowFlags::nsw;
  }
  KnownBool compare(arith::CmpIPredicate pred, const KnownIndex &x,
                    const KnownIndex &y, bool alwaysTrue, bool alwaysFalse) {
    if (alwaysTrue || alwaysFalse)
      return {Value(), alwaysTrue};
    return {cb.cmpI(pred, get(x), get(y)), std::nullopt};
  }

  CodegenBuilder &cb;
};

/// Key positions and diagonals of a row: within +-kUnboundedKey, which is
/// farther than any sequence.
constexpr int64_t kMaxKey = kUnboundedKey - 1;

} // namespace

Value mlir::mha::loadClampedLength(CodegenBuilder &cb, Value lengths,
                                   Value batch, Value size) {
  if (!lengths)
    return size;
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  Value n = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(b, loc, lengths, ValueRange{batch}));
  return cb.minSI(cb.maxSI(n, cb.index(0)), size);
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

SmallVector<Value> ScoreModifier::apply(ArrayRef<Frag> s,
                                        const GpuHeadParams &hp, Value rowBase,
                                        Value j0, Value jEnd, bool masked,
                                        SmallVector<Value> *capSlopes) {
  OpBuilder &b = cb.builder();
  Location loc = cb.getLoc();
  Type f32 = b.getF32Type();
  Value scoreScale = hp.params.scoreScale;
  bool softcap = variant.softcap.has_value();
  Value negInf = cb.f32(-std::numeric_limits<float>::infinity());
  Value capIn, capOut;
  if (softcap) {
    capIn = cb.fmul(scoreScale, cb.f32(1.0f / *variant.softcap));
    capOut = cb.f32(*variant.softcap * kLog2e);
  }
  Value base2Scale = softcap ? Value() : cb.fmul(scoreScale, cb.f32(kLog2e));
  Value slope2 = variant.hasAlibi
                     ? cb.fmul(hp.params.alibiSlope, cb.f32(kLog2e))
                     : Value();

  // Rows g and g + 8 (halves 0 and 1): their diagonal keys and, with the
  // masks, the keys they see.
  RangeArith ra(cb);
  MaskParams<KnownIndex> masks{
      variant.causal, ra.known(hp.params.windowLeft, variant.getWindowLefts()),
      ra.known(hp.params.windowRight, variant.getWindowRights()),
      ra.known(hp.params.sinks, {variant.sinkTokens})};
  // ALiBi's distances are taken from the row's key nearest its diagonal
  // (alibiOrigin): the row's largest bias stays out of its scores, and
  // storeRow adds it back to lse.
  Value diag[2], origin[2];
  std::optional<KeyBounds<KnownIndex>> bounds[2];
  for (int64_t half = 0; half < 2 && (variant.hasAlibi || masked); ++half) {
    Value row = cb.add(rowBase, cb.add(groupId, cb.index(8 * half)));
    diag[half] = cb.add(row, diagOffset);
    if (variant.hasAlibi)
      origin[half] = alibiOrigin(cb, diag[half], variant.causal);
    if (masked)
      bounds[half] =
          getKeyBounds(ra, masks, ra.within(diag[half], -kMaxKey, kMaxKey));
  }

  SmallVector<Value> out;
  for (auto [t, frag] : llvm::enumerate(s)) {
    for (int64_t e = 0; e < 4; ++e) {
      int64_t half = e / 2;
      Value x = frag[e];
      if (softcap) {
        Value t = ptx.tanh(cb.fmul(x, capIn));
        if (capSlopes)
          capSlopes->push_back(cb.fsub(cb.f32(1.0f), cb.fmul(t, t)));
        x = cb.fmul(t, capOut);
      } else
        x = cb.fmul(x, base2Scale);
      if (!variant.hasAlibi && !masked) {
        out.push_back(x);
        continue;
      }
      Value key = cb.add(j0, cb.add(cb.mul(threadInGroup, cb.index(2)),
                                    cb.index(int64_t(t) * 8 + (e & 1))));
      if (variant.hasAlibi) {
        Value dist = cb.sub(origin[half], key);
        Value absDist = cb.select(cb.lt(dist, cb.index(0)),
                                  cb.sub(cb.index(0), dist), dist);
        Value distF = arith::SIToFPOp::create(
            b, loc, f32, cb.indexCast(b.getI64Type(), absDist));
        x = cb.fsub(x, cb.fmul(slope2, distF));
      }
      if (masked) {
        Value inTile = cb.lt(key, jEnd);
        KnownBool visible =
            isKeyInBounds(ra, *bounds[half], ra.within(key, 0, kMaxKey));
        visible = ra.andI({inTile, std::nullopt}, visible);
        x = cb.select(ra.get(visible), x, negInf);
      }
      out.push_back(x);
    }
  }
  return out;
}
