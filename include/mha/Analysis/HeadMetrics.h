//===- HeadMetrics.h - Per-head metrics of attention patterns ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The metrics of mha-analyze (README.md, "Head analysis"), computed from what a
// generated library returns: probabilities [B, Hq, Lq, Lk], entropies
// [B, Hq, Lq] and outputs with and without each head. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_ANALYSIS_HEADMETRICS_H
#define MHA_ANALYSIS_HEADMETRICS_H

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::mha::analysis {

/// Sizes of the probabilities [B, Hq, Lq, Lk].
struct PatternSizes {
  int64_t batch = 1, heads = 1, queryLen = 1, keyLen = 1;
};

struct HeadMetrics {
  int64_t head = 0;
  /// Mean entropy (nats) over the rows that have a visible key (probability
  /// sum > 0) in every batch; 0 when no row has one.
  double entropy = 0.0;
  /// Rows with a visible key, all batches together.
  int64_t visibleRows = 0;
  /// ||o - o_without_head|| / ||o|| (0 when ||o|| is 0).
  double importance = 0.0;
  /// The largest Pearson correlation of this head's probabilities (all
  /// batches, rows and keys) with another head's, and that head; none when
  /// the head's pattern is constant (a pruned head) or no other head has a
  /// non-constant pattern.
  std::optional<double> maxCorrelation;
  std::optional<int64_t> mostSimilarHead;
  /// Mean over visible rows of sum_j p_ij |i + Lk - Lq - j|: how far back
  /// (or ahead) the head looks, in positions.
  double meanDistance = 0.0;
};

/// Entropy, correlation and distance metrics of every head; `probs` and
/// `entropy` are compact f32 arrays of the given sizes.
std::vector<HeadMetrics> computePatternMetrics(const PatternSizes &sizes,
                                               const float *probs,
                                               const float *entropy);

/// The Pearson correlation matrix of the heads' probabilities (Hq x Hq,
/// row-major); NaN where a head's pattern is constant.
std::vector<double> computeCorrelations(const PatternSizes &sizes,
                                        const float *probs);

/// ||a - b|| / ||a||, or 0 when ||a|| is 0.
double relativeChange(const std::vector<double> &a,
                      const std::vector<double> &b);

} // namespace mlir::mha::analysis

#endif // MHA_ANALYSIS_HEADMETRICS_H
