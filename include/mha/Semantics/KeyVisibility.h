//===- KeyVisibility.h - Which keys a query row sees ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The one definition of the masks of docs/language.md ("Visibility"): key j
// is visible to query row i of head h iff
//
//   j < Lk  and  (j < sinkEnd  or  lo <= j <= hi)
//
// where, with p = i + Lk - Lq the row's diagonal key,
//   hi      = min(causal ? p : +inf, window_right[h] >= 0 ? p + wr : +inf)
//   lo      = window_left[h] >= 0 ? p - window_left[h] : -inf
//   sinkEnd = causal ? min(sink_tokens, p + 1) : sink_tokens
//
// Plain C++ templates over an arithmetic `A`, so that the float64 reference
// (A = IntArith, plain int64_t) and the code generators (A = an IR builder,
// whose values are index scalars on the GPU and i32 lanes on the CPU)
// instantiate the same text. A provides, on its `Int` and `Bool` types:
// constant(int64_t), add, sub, minSI, select(Bool, Int, Int), cmp tests
// lt/le/ge, andI and orI.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_SEMANTICS_KEYVISIBILITY_H
#define MHA_SEMANTICS_KEYVISIBILITY_H

#include <algorithm>
#include <cstdint>

namespace mlir::mha {

/// Stands for an unbounded side of a window: farther than any sequence.
inline constexpr int64_t kUnboundedKey = int64_t(1) << 40;

/// The visible keys of one query row: [lo, hi] and [0, sinkEnd), in absolute
/// key positions (not yet clipped to [0, Lk)).
template <typename Int> struct KeyBounds {
  Int lo, hi, sinkEnd;
};

/// The masks that apply to one head: causal is a property of the function,
/// the window and the sinks may be per-head values.
template <typename Int> struct MaskParams {
  bool causal;
  Int windowLeft, windowRight, sinkTokens; // -1: unbounded window side
};

/// The bounds of the row whose diagonal key is `diag` (p = i + Lk - Lq).
template <typename A, typename Int>
KeyBounds<Int> getKeyBounds(A &a, const MaskParams<Int> &m, Int diag) {
  Int hi = m.causal ? diag : a.constant(kUnboundedKey);
  auto rightBounded = a.ge(m.windowRight, a.constant(0));
  hi = a.select(rightBounded, a.minSI(hi, a.add(diag, m.windowRight)), hi);
  auto leftBounded = a.ge(m.windowLeft, a.constant(0));
  Int lo = a.select(leftBounded, a.sub(diag, m.windowLeft),
                    a.constant(-kUnboundedKey));
  Int sinkEnd = m.causal ? a.minSI(m.sinkTokens, a.add(diag, a.constant(1)))
                         : m.sinkTokens;
  return {lo, hi, sinkEnd};
}

/// Whether `key` is inside `bounds` (the caller also checks key < Lk).
template <typename A, typename Int>
auto isKeyInBounds(A &a, const KeyBounds<Int> &bounds, Int key) {
  auto inWindow = a.andI(a.ge(key, bounds.lo), a.le(key, bounds.hi));
  return a.orI(inWindow, a.lt(key, bounds.sinkEnd));
}

/// The arithmetic of plain integers, for host code and the reference.
struct IntArith {
  int64_t constant(int64_t v) const { return v; }
  int64_t add(int64_t x, int64_t y) const { return x + y; }
  int64_t sub(int64_t x, int64_t y) const { return x - y; }
  int64_t minSI(int64_t x, int64_t y) const { return std::min(x, y); }
  int64_t select(bool c, int64_t x, int64_t y) const { return c ? x : y; }
  bool lt(int64_t x, int64_t y) const { return x < y; }
  bool le(int64_t x, int64_t y) const { return x <= y; }
  bool ge(int64_t x, int64_t y) const { return x >= y; }
  bool andI(bool x, bool y) const { return x && y; }
  bool orI(bool x, bool y) const { return x || y; }
};

/// Key j of a sequence of `keyLen` keys is visible to the query row whose
/// diagonal key is `diag` (i + Lk - Lq by default) under masks `m`.
inline bool isKeyVisible(const MaskParams<int64_t> &m, int64_t j, int64_t diag,
                         int64_t keyLen) {
  IntArith a;
  if (j < 0 || j >= keyLen)
    return false;
  return isKeyInBounds(a, getKeyBounds(a, m, diag), j);
}

} // namespace mlir::mha

#endif // MHA_SEMANTICS_KEYVISIBILITY_H
