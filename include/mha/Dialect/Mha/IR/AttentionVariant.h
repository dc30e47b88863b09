//===- AttentionVariant.h - Per-head variant attributes ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Answers the per-head questions about an attention variant (window of head
// h, ALiBi slope of head h, is head h alive, KV head of query head h) in one
// place, so no pass re-derives them from the raw attributes.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_IR_ATTENTIONVARIANT_H
#define MHA_DIALECT_MHA_IR_ATTENTIONVARIANT_H

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cmath>
#include <optional>

namespace mlir::mha {

/// The variant attributes of an `mha.attention` or `mha.multi_head`, with
/// per-head arrays broadcast to `numQueryHeads` values. Only valid for ops
/// that passed the verifier.
class AttentionVariant {
public:
  template <typename OpTy>
  static AttentionVariant get(OpTy op, int64_t numQueryHeads,
                              int64_t numKvHeads, int64_t headDim) {
    AttentionVariant v;
    v.numQueryHeads = numQueryHeads;
    v.numKvHeads = numKvHeads;
    v.scale = op.getScaleAttr() ? op.getScaleAttr().getValue().convertToFloat()
                                : 1.0f / std::sqrt(static_cast<float>(headDim));
    v.temperatures = v.template broadcast<float>(op.getTemperature(), 1.0f);
    if (op.getSoftcapAttr())
      v.softcap = op.getSoftcapAttr().getValue().convertToFloat();
    v.hasAlibi = op.getAlibiSlopes().has_value();
    v.alibiSlopes = v.template broadcast<float>(op.getAlibiSlopes(), 0.0f);
    v.causal = op.getCausal();
    v.windowLefts = v.template broadcast<int64_t>(op.getWindowLeft(), -1);
    v.windowRights = v.template broadcast<int64_t>(op.getWindowRight(), -1);
    v.sinkTokens = op.getSinkTokensAttr() ? op.getSinkTokensAttr().getInt() : 0;
    v.headAlive = v.template broadcast<bool>(op.getHeadMask(), true);
    v.hasDropout = op.getDropout().has_value();
    v.dropoutRates = v.template broadcast<float>(op.getDropout(), 0.0f);
    return v;
  }

  int64_t numQueryHeads = 1;
  int64_t numKvHeads = 1;
  float scale = 1.0f;
  std::optional<float> softcap;
  bool hasAlibi = false;
  bool causal = false;
  int64_t sinkTokens = 0;
  /// The op has a `dropout` attribute (some heads may still have p = 0).
  bool hasDropout = false;

  /// Query heads that read one KV head.
  int64_t groupSize() const { return numQueryHeads / numKvHeads; }
  /// The KV head query head `h` reads.
  int64_t kvHead(int64_t h) const { return h / groupSize(); }
  float temperature(int64_t h) const { return temperatures[h]; }
  float alibiSlope(int64_t h) const { return alibiSlopes[h]; }
  /// -1 means unbounded.
  int64_t windowLeft(int64_t h) const { return windowLefts[h]; }
  int64_t windowRight(int64_t h) const { return windowRights[h]; }
  bool isHeadAlive(int64_t h) const { return headAlive[h]; }
  float dropoutRate(int64_t h) const { return dropoutRates[h]; }

  llvm::ArrayRef<float> getTemperatures() const { return temperatures; }
  llvm::ArrayRef<float> getAlibiSlopes() const { return alibiSlopes; }
  llvm::ArrayRef<int64_t> getWindowLefts() const { return windowLefts; }
  llvm::ArrayRef<int64_t> getWindowRights() const { return windowRights; }
  llvm::ArrayRef<bool> getHeadAlive() const { return headAlive; }
  llvm::ArrayRef<float> getDropoutRates() const { return dropoutRates; }

  /// True when some key is a sink (a key before sink_tokens): never without
  /// sink_tokens, since positions are >= 0. The tilers emit no loop over
  /// sink keys then (half a kernel's code).
  bool hasSinkKeys() const { return sinkTokens > 0; }
  /// True when some head's keys are limited by a window (not counting causal).
  bool hasWindows() const {
    return llvm::any_of(windowLefts, [](int64_t w) { return w >= 0; }) ||
           llvm::any_of(windowRights, [](int64_t w) { return w >= 0; });
  }
  /// True when every head's keys are limited by a window.
  bool allHeadsWindowed() const {
    for (auto [left, right] : llvm::zip(windowLefts, windowRights))
      if (left < 0 && right < 0)
        return false;
    return true;
  }
  /// True when the query heads of each KV head share their temperature,
  /// windows and head_mask entry (and ALiBi slope and dropout rate): their
  /// rows can be computed as one tile.
  bool groupsShareParameters() const {
    for (int64_t h = 0; h < numQueryHeads; ++h) {
      int64_t first = h - h % groupSize();
      if (temperatures[h] != temperatures[first] ||
          alibiSlopes[h] != alibiSlopes[first] ||
          windowLefts[h] != windowLefts[first] ||
          windowRights[h] != windowRights[first] ||
          headAlive[h] != headAlive[first] ||
          dropoutRates[h] != dropoutRates[first])
        return false;
    }
    return true;
  }
  bool hasPrunedHeads() const {
    return llvm::any_of(headAlive, [](bool a) { return !a; });
  }

private:
  template <typename T, typename ArrayT>
  llvm::SmallVector<T> broadcast(const ArrayT &attr, T dflt) const {
    llvm::SmallVector<T> values(numQueryHeads, dflt);
    if (!attr)
      return values;
    llvm::ArrayRef<T> given = *attr;
    for (int64_t h = 0; h < numQueryHeads; ++h)
      values[h] = given.size() == 1 ? given[0] : given[h];
    return values;
  }

  llvm::SmallVector<float> temperatures;
  llvm::SmallVector<float> alibiSlopes;
  llvm::SmallVector<int64_t> windowLefts;
  llvm::SmallVector<int64_t> windowRights;
  llvm::SmallVector<bool> headAlive;
  llvm::SmallVector<float> dropoutRates;
};

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_IR_ATTENTIONVARIANT_H
