//===- LayerReference.cpp - float64 reference of mha.multi_head ---*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Reference/LayerReference.h"

#include <cmath>

using namespace mlir::mha::reference;

namespace {

/// [B, L, H*D] = x W (+ bias), W with `cols` columns in groups of
/// `headDim`, each read by outCols / cols consecutive heads.
std::vector<double> project(const std::vector<double> &x,
                            const std::vector<double> &w,
                            const std::vector<double> &bias, int64_t rows,
                            int64_t k, int64_t cols, int64_t outCols,
                            int64_t headDim) {
  int64_t span = outCols / cols * headDim; // Columns of y per group.
  std::vector<double> y(rows * outCols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < outCols; ++c) {
      int64_t wc = c / span * headDim + c % headDim;
      double sum = 0.0;
      for (int64_t i = 0; i < k; ++i)
        sum += x[r * k + i] * w[i * cols + wc];
      y[r * outCols + c] = sum + (bias.empty() ? 0.0 : bias[c]);
    }
  return y;
}

/// Rotates pairs (t, t + D/2) of every head of [B, L, H*D] at position l.
void applyRope(std::vector<double> &t, int64_t batch, int64_t len,
               int64_t heads, int64_t headDim, double theta) {
  int64_t half = headDim / 2;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t h = 0; h < heads; ++h) {
        double *row = &t[((b * len + l) * heads + h) * headDim];
        for (int64_t i = 0; i < half; ++i) {
          double angle =
              double(l) * std::pow(theta, -2.0 * double(i) / double(headDim));
          double c = std::cos(angle), s = std::sin(angle);
          double x1 = row[i], x2 = row[i + half];
          row[i] = x1 * c - x2 * s;
          row[i + half] = x2 * c + x1 * s;
        }
      }
}

/// [B, L, H*D] -> [B, H, L, D].
std::vector<double> splitHeads(const std::vector<double> &t, int64_t batch,
                               int64_t len, int64_t heads, int64_t headDim) {
  std::vector<double> out(t.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < headDim; ++d)
          out[((b * heads + h) * len + l) * headDim + d] =
              t[((b * len + l) * heads + h) * headDim + d];
  return out;
}

} // namespace

std::vector<double> mlir::mha::reference::computeLayer(
    const LayerProblem &pr, const LayerTensors &t, AttentionResult *attention) {
  const AttentionProblem &a = pr.attention;
  int64_t B = a.batch, L = a.queryLen, Hq = a.queryHeads, Hkv = a.kvHeads,
          D = a.headDim, d = pr.modelDim;
  int64_t qCols = pr.queryGroups * D, kvCols = pr.kvGroups * D;
  std::vector<double> q = project(t.x, t.wq, t.bq, B * L, d, qCols, Hq * D, D);
  std::vector<double> k =
      project(t.x, t.wk, t.bk, B * L, d, kvCols, Hkv * D, D);
  std::vector<double> v =
      project(t.x, t.wv, t.bv, B * L, d, kvCols, Hkv * D, D);
  if (pr.ropeTheta) {
    applyRope(q, B, L, Hq, D, *pr.ropeTheta);
    applyRope(k, B, L, Hkv, D, *pr.ropeTheta);
  }
  AttentionResult o = computeAttention(a, splitHeads(q, B, L, Hq, D),
                                       splitHeads(k, B, L, Hkv, D),
                                       splitHeads(v, B, L, Hkv, D));
  // concat_h: head h's output at columns h*D.. of the input of Wo.
  std::vector<double> merged(B * L * Hq * D);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t i = 0; i < D; ++i)
          merged[((b * L + l) * Hq + h) * D + i] =
              o.output[((b * Hq + h) * L + l) * D + i];
  if (attention)
    *attention = o;
  return project(merged, t.wo, t.bo, B * L, Hq * D, d, d, d);
}
