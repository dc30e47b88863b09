//===- AttentionReference.h - float64 reference of the spec -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A direct, unoptimised float64 implementation of docs/language.md's attention
// (order of operations: scale and temperature, softcap, ALiBi, masks,
// softmax over visible keys), used to check generated libraries. No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_REFERENCE_ATTENTIONREFERENCE_H
#define MHA_REFERENCE_ATTENTIONREFERENCE_H

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::mha::reference {

/// One attention problem: sizes and the variant, per-head arrays already
/// broadcast to Hq entries.
struct AttentionProblem {
  int64_t batch = 1, queryHeads = 1, kvHeads = 1, queryLen = 1, keyLen = 1,
          headDim = 1, valueDim = 1;
  double scale = 1.0;
  std::vector<double> temperature; // Hq values
  std::optional<double> softcap;
  bool hasAlibi = false;
  std::vector<double> alibiSlopes; // Hq values
  bool causal = false;
  std::vector<int64_t> windowLeft, windowRight; // Hq values, -1 unbounded
  int64_t sinkTokens = 0;
  std::vector<bool> headAlive; // Hq values
  // Head-specific dropout (docs/language.md, 6.7): empty for none, or Hq
  // probabilities in [0, 1), kept as the f32 attribute values because the
  // keep threshold is computed from them.
  std::vector<float> dropout;
  uint64_t dropoutSeed = 0, dropoutOffset = 0; // mha_options' fields
  // Explicit positions (mha_options.use_positions, docs/language.md 7.4):
  // query i at queryStart + i and key j at keyStart + j, instead of the
  // bottom-right alignment (i + Lk - Lq and j).
  bool usePositions = false;
  int64_t queryStart = 0, keyStart = 0;

  /// Row i's diagonal key: the key index at the query's position.
  int64_t diagonal(int64_t i) const {
    return usePositions ? queryStart + i - keyStart : i + keyLen - queryLen;
  }
  /// Whether key j is visible to query i of head h.
  bool isVisible(int64_t h, int64_t i, int64_t j) const;

  /// The factor dropout applies to probability (b, h, i, j) before it weights
  /// v: keep / (1 - p[h]), so 0 for a dropped key; 1 without dropout.
  double dropoutFactor(int64_t b, int64_t h, int64_t i, int64_t j) const;
};

/// Results, compact row-major: o [B,Hq,Lq,Dv], lse/entropy [B,Hq,Lq],
/// probs [B,Hq,Lq,Lk]. lse is -inf for rows with no visible key. With
/// dropout, o uses the dropped probabilities; lse, probs and entropy are
/// those before dropout.
struct AttentionResult {
  std::vector<double> output, lse, probs, entropy;
};

/// Computes every result from compact [B,H,L,D] inputs.
AttentionResult computeAttention(const AttentionProblem &problem,
                                 const std::vector<double> &query,
                                 const std::vector<double> &key,
                                 const std::vector<double> &value);

/// mha.merge_states on compact rows: `rows` lse values and rows of `dv`
/// outputs per side; results in `output` and `lse` (the op's formula, in
/// float64: a side with lse = -inf weighs 0, both give 0 and -inf).
struct MergedStates {
  std::vector<double> output, lse;
};
MergedStates mergeStates(const std::vector<double> &outputA,
                         const std::vector<double> &lseA,
                         const std::vector<double> &outputB,
                         const std::vector<double> &lseB, int64_t rows,
                         int64_t dv);

/// ||a - b|| / ||b|| (or ||a - b|| when ||b|| is 0); NaN in `a` gives NaN.
double relativeError(const std::vector<double> &a,
                     const std::vector<double> &b);

/// Rounding to the storage types, round-to-nearest-even.
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBFloat(float f);
float bfloatToFloat(uint16_t b);

} // namespace mlir::mha::reference

#endif // MHA_REFERENCE_ATTENTIONREFERENCE_H
