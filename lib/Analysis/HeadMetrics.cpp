//===- HeadMetrics.cpp - Per-head metrics of attention patterns -----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HeadMetrics.h"

#include <cmath>
#include <cstdlib>

using namespace mlir::mha::analysis;

std::vector<double>
mlir::mha::analysis::computeCorrelations(const PatternSizes &s,
                                         const float *probs) {
  const int64_t H = s.heads, rows = s.queryLen * s.keyLen;
  const int64_t n = s.batch * rows;
  std::vector<double> mean(H, 0.0), norm(H, 0.0);
  for (int64_t h = 0; h < H; ++h) {
    double sum = 0.0;
    for (int64_t b = 0; b < s.batch; ++b) {
      const float *x = probs + (b * H + h) * rows;
      for (int64_t r = 0; r < rows; ++r)
        sum += x[r];
    }
    mean[h] = sum / static_cast<double>(n);
    double sq = 0.0;
    for (int64_t b = 0; b < s.batch; ++b) {
      const float *x = probs + (b * H + h) * rows;
      for (int64_t r = 0; r < rows; ++r)
        sq += (x[r] - mean[h]) * (x[r] - mean[h]);
    }
    norm[h] = std::sqrt(sq);
  }
  std::vector<double> corr(H * H, NAN);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t g = h; g < H; ++g) {
      if (norm[h] == 0.0 || norm[g] == 0.0)
        continue;
      double dot = 0.0;
      for (int64_t b = 0; b < s.batch; ++b) {
        const float *x = probs + (b * H + h) * rows;
        const float *y = probs + (b * H + g) * rows;
        for (int64_t r = 0; r < rows; ++r)
          dot += (x[r] - mean[h]) * (y[r] - mean[g]);
      }
      corr[h * H + g] = corr[g * H + h] = dot / (norm[h] * norm[g]);
    }
  }
  return corr;
}

std::vector<HeadMetrics>
mlir::mha::analysis::computePatternMetrics(const PatternSizes &s,
                                           const float *probs,
                                           const float *entropy) {
  const int64_t H = s.heads, Lq = s.queryLen, Lk = s.keyLen;
  std::vector<HeadMetrics> metrics(H);
  for (int64_t h = 0; h < H; ++h) {
    HeadMetrics &m = metrics[h];
    m.head = h;
    double entropySum = 0.0, distanceSum = 0.0;
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t i = 0; i < Lq; ++i) {
        const float *row = probs + ((b * H + h) * Lq + i) * Lk;
        double sum = 0.0, distance = 0.0;
        for (int64_t j = 0; j < Lk; ++j) {
          sum += row[j];
          distance += row[j] * static_cast<double>(std::llabs(i + Lk - Lq - j));
        }
        if (!(sum > 0.0))
          continue;
        ++m.visibleRows;
        entropySum += entropy[(b * H + h) * Lq + i];
        distanceSum += distance;
      }
    }
    if (m.visibleRows) {
      m.entropy = entropySum / static_cast<double>(m.visibleRows);
      m.meanDistance = distanceSum / static_cast<double>(m.visibleRows);
    }
  }
  std::vector<double> corr = computeCorrelations(s, probs);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t g = 0; g < H; ++g) {
      double c = corr[h * H + g];
      if (g == h || std::isnan(c))
        continue;
      if (!metrics[h].maxCorrelation || c > *metrics[h].maxCorrelation) {
        metrics[h].maxCorrelation = c;
        metrics[h].mostSimilarHead = g;
      }
    }
  }
  return metrics;
}

double mlir::mha::analysis::relativeChange(const std::vector<double> &a,
                                           const std::vector<double> &b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += a[i] * a[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : 0.0;
}
