//===- LayerReference.cpp - float64 mha.multi_head --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Reference/LayerReference.h"

#include <algorithm>
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

/// Rotates pairs (o + t, o + t + R/2) of every head of [B, L, H*D] at
/// position l, o = D - R: the last R = ropeDim columns of each head; with
/// `inverse`, by minus the angles (R^T: a gradient carried back).
void applyRope(std::vector<double> &t, int64_t batch, int64_t len,
               int64_t heads, int64_t headDim, double theta, int64_t ropeDim,
               bool inverse = false) {
  int64_t half = ropeDim / 2, first = headDim - ropeDim;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t h = 0; h < heads; ++h) {
        double *row = &t[((b * len + l) * heads + h) * headDim + first];
        for (int64_t i = 0; i < half; ++i) {
          double angle =
              double(l) * std::pow(theta, -2.0 * double(i) / double(ropeDim));
          double c = std::cos(angle), s = std::sin(angle);
          if (inverse)
            s = -s;
          double x1 = row[i], x2 = row[i + half];
          row[i] = x1 * c - x2 * s;
          row[i + half] = x2 * c + x1 * s;
        }
      }
}

/// [B, H, L, D] -> [B, L, H*D].
std::vector<double> mergeHeads(const std::vector<double> &t, int64_t batch,
                               int64_t len, int64_t heads, int64_t headDim) {
  std::vector<double> out(t.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < headDim; ++d)
          out[((b * len + l) * heads + h) * headDim + d] =
              t[((b * heads + h) * len + l) * headDim + d];
  return out;
}

/// The gradients of y = x W (+ bias) (`project`'s layout) given g = dL/dy
/// [rows, outCols]: dW += x^T g summed over the heads of each group's
/// columns, dbias = column sums of g (if `dBias` is not null), and
/// dx += g W^T.
void projectBackward(const std::vector<double> &x, const std::vector<double> &w,
                     const std::vector<double> &g, int64_t rows, int64_t k,
                     int64_t cols, int64_t outCols, int64_t headDim,
                     std::vector<double> &dx, std::vector<double> &dw,
                     std::vector<double> *dBias) {
  int64_t span = outCols / cols * headDim;
  dw.assign(k * cols, 0.0);
  if (dBias)
    dBias->assign(outCols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < outCols; ++c) {
      int64_t wc = c / span * headDim + c % headDim;
      double gv = g[r * outCols + c];
      if (dBias)
        (*dBias)[c] += gv;
      for (int64_t i = 0; i < k; ++i) {
        dw[i * cols + wc] += x[r * k + i] * gv;
        dx[r * k + i] += gv * w[i * cols + wc];
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

/// The rows of x [rows, k] as an int8 GEMM sees them: q * s with
/// s = max|x| / 127 and q = round(x / s) to nearest even, in float32 as
/// mha.quantize_rows computes them.
std::vector<double> quantizeRows(const std::vector<double> &x, int64_t rows,
                                 int64_t k) {
  std::vector<double> out(x.size());
  for (int64_t i = 0; i < rows; ++i) {
    float m = 0.0f;
    for (int64_t j = 0; j < k; ++j)
      m = std::max(m, std::fabs(float(x[i * k + j])));
    float s = m > 0.0f ? m / 127.0f : 1.0f, inv = 1.0f / s;
    for (int64_t j = 0; j < k; ++j) {
      float q = std::nearbyint(float(x[i * k + j]) * inv);
      out[i * k + j] = double(std::clamp(q, -127.0f, 127.0f)) * double(s);
    }
  }
  return out;
}

/// What projection `w` (0..3: wq, wk, wv, wo) of the layer reads: `x`, or
/// its int8 rows where that projection runs in int8.
const std::vector<double> &inputOf(const LayerProblem &pr, int w,
                                   const std::vector<double> &x,
                                   const std::vector<double> &quantized) {
  return pr.int8Activations && pr.int8Weights[w] ? quantized : x;
}

/// Q, K and V as [B, L, H*D] (V: [B, L, Hkv*Dv]).
struct Projections {
  std::vector<double> q, k, v;
};

Projections projectHeads(const LayerProblem &pr, const LayerTensors &t) {
  const AttentionProblem &a = pr.attention;
  int64_t B = a.batch, L = a.queryLen, Hq = a.queryHeads, Hkv = a.kvHeads,
          D = a.headDim, d = pr.modelDim;
  int64_t qCols = pr.queryGroups * D, kvCols = pr.kvGroups * D;
  std::vector<double> xq = quantizeRows(t.x, B * L, d);
  Projections p{
      project(inputOf(pr, 0, t.x, xq), t.wq, t.bq, B * L, d, qCols, Hq * D, D),
      project(inputOf(pr, 1, t.x, xq), t.wk, t.bk, B * L, d, kvCols, Hkv * D,
              D),
      project(inputOf(pr, 2, t.x, xq), t.wv, t.bv, B * L, d, kvCols, Hkv * D,
              D)};
  if (pr.ropeTheta) {
    applyRope(p.q, B, L, Hq, D, *pr.ropeTheta, D);
    applyRope(p.k, B, L, Hkv, D, *pr.ropeTheta, D);
  }
  return p;
}

/// The first `n` columns of the `rows` rows of `t` ([rows, cols]).
std::vector<double> firstColumns(const std::vector<double> &t, int64_t rows,
                                 int64_t cols, int64_t n) {
  std::vector<double> out(rows * n);
  for (int64_t i = 0; i < rows; ++i)
    std::copy(&t[i * cols], &t[i * cols + n], &out[i * n]);
  return out;
}

/// Divides each row of `t` ([rows, n]) by sqrt(mean of its squares + eps).
void rmsNormalize(std::vector<double> &t, int64_t rows, int64_t n, double eps) {
  for (int64_t i = 0; i < rows; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j)
      sum += t[i * n + j] * t[i * n + j];
    double inv = 1.0 / std::sqrt(sum / double(n) + eps);
    for (int64_t j = 0; j < n; ++j)
      t[i * n + j] *= inv;
  }
}

/// #mha.sharing<latent>: the latent c and RoPE key x wk = [c, k_r], every
/// head's key part and value c wv = [k_h, v_h], and K_h = [k_h, k_r].
Projections projectLatentHeads(const LayerProblem &pr, const LayerTensors &t) {
  const AttentionProblem &a = pr.attention;
  int64_t B = a.batch, L = a.queryLen, H = a.queryHeads, D = a.headDim,
          Dv = a.valueDim, d = pr.modelDim, r = pr.latentRank,
          Dr = pr.ropeKeyDim, Dn = pr.nopeDim, rows = B * L;
  std::vector<double> xq = quantizeRows(t.x, rows, d);
  std::vector<double> latent = project(inputOf(pr, 1, t.x, xq), t.wk, {}, rows,
                                       d, r + Dr, r + Dr, r + Dr);
  Projections p;
  if (t.wqDown.empty()) {
    p.q = project(inputOf(pr, 0, t.x, xq), t.wq, {}, rows, d, H * D, H * D, D);
  } else {
    // rms_norm(x wq_down) wq_up.
    int64_t rank = int64_t(t.wqDown.size()) / d;
    std::vector<double> down =
        project(t.x, t.wqDown, {}, rows, d, rank, rank, rank);
    rmsNormalize(down, rows, rank, *pr.rmsNormEps);
    p.q = project(down, t.wqUp, {}, rows, rank, H * D, H * D, D);
  }
  if (pr.ropeTheta) {
    applyRope(p.q, B, L, H, D, *pr.ropeTheta, Dr);
    applyRope(latent, B, L, 1, r + Dr, *pr.ropeTheta, Dr);
  }
  std::vector<double> c = firstColumns(latent, rows, r + Dr, r);
  if (pr.rmsNormEps)
    rmsNormalize(c, rows, r, *pr.rmsNormEps);
  int64_t perHead = Dn + Dv;
  std::vector<double> kv =
      project(c, t.wv, {}, rows, r, H * perHead, H * perHead, perHead);
  p.k.assign(rows * H * D, 0.0);
  p.v.assign(rows * H * Dv, 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t h = 0; h < H; ++h) {
      const double *head = &kv[(i * H + h) * perHead];
      double *k = &p.k[(i * H + h) * D];
      std::copy(head, head + Dn, k);
      std::copy(&latent[i * (r + Dr) + r], &latent[(i + 1) * (r + Dr)], k + Dn);
      std::copy(head + Dn, head + perHead, &p.v[(i * H + h) * Dv]);
    }
  return p;
}

/// The gradient of c given dn, the gradient of n = c / sqrt(mean(c^2) +
/// eps) per row of c [rows, n].
std::vector<double> rmsNormBackward(const std::vector<double> &c,
                                    const std::vector<double> &dn, int64_t rows,
                                    int64_t n, double eps) {
  std::vector<double> dc(c.size());
  for (int64_t i = 0; i < rows; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j)
      sum += c[i * n + j] * c[i * n + j];
    double inv = 1.0 / std::sqrt(sum / double(n) + eps), dot = 0.0;
    for (int64_t j = 0; j < n; ++j)
      dot += dn[i * n + j] * c[i * n + j] * inv;
    for (int64_t j = 0; j < n; ++j)
      dc[i * n + j] =
          inv * (dn[i * n + j] - c[i * n + j] * inv * dot / double(n));
  }
  return dc;
}

/// dx, dwq (or dwqDown and dwqUp), dwk and dwv of a latent layer from
/// the gradients of its attention's Q, K [rows, H*(Dn+Dr)] and V [rows,
/// H*Dv]: K_h = [kn_h, kr] gives kn_h's to each head's columns of c wv
/// and the sum over the heads to the RoPE key, both carried back through
/// projectLatentHeads' steps.
void latentBackward(const LayerProblem &pr, const LayerTensors &t,
                    std::vector<double> dq, const std::vector<double> &dk,
                    const std::vector<double> &dv, LayerGradients &g) {
  const AttentionProblem &a = pr.attention;
  int64_t B = a.batch, L = a.queryLen, H = a.queryHeads, D = a.headDim,
          Dv = a.valueDim, d = pr.modelDim, r = pr.latentRank,
          Dr = pr.ropeKeyDim, Dn = pr.nopeDim, rows = B * L, perHead = Dn + Dv;
  if (pr.ropeTheta)
    applyRope(dq, B, L, H, D, *pr.ropeTheta, Dr, /*inverse=*/true);
  if (t.wqDown.empty()) {
    projectBackward(t.x, t.wq, dq, rows, d, H * D, H * D, D, g.dx, g.dwq,
                    nullptr);
  } else {
    int64_t rank = int64_t(t.wqDown.size()) / d;
    std::vector<double> down =
        project(t.x, t.wqDown, {}, rows, d, rank, rank, rank);
    std::vector<double> normalized = down, dn(rows * rank, 0.0);
    rmsNormalize(normalized, rows, rank, *pr.rmsNormEps);
    projectBackward(normalized, t.wqUp, dq, rows, rank, H * D, H * D, D, dn,
                    g.dwqUp, nullptr);
    projectBackward(t.x, t.wqDown,
                    rmsNormBackward(down, dn, rows, rank, *pr.rmsNormEps), rows,
                    d, rank, rank, rank, g.dx, g.dwqDown, nullptr);
  }
  std::vector<double> dKv(rows * H * perHead), dLatent(rows * (r + Dr), 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t h = 0; h < H; ++h) {
      const double *k = &dk[(i * H + h) * D];
      double *kv = &dKv[(i * H + h) * perHead];
      std::copy(k, k + Dn, kv);
      std::copy(&dv[(i * H + h) * Dv], &dv[(i * H + h + 1) * Dv], kv + Dn);
      for (int64_t j = 0; j < Dr; ++j)
        dLatent[i * (r + Dr) + r + j] += k[Dn + j];
    }
  if (pr.ropeTheta)
    applyRope(dLatent, B, L, 1, r + Dr, *pr.ropeTheta, Dr, /*inverse=*/true);
  std::vector<double> c = firstColumns(
      project(t.x, t.wk, {}, rows, d, r + Dr, r + Dr, r + Dr), rows, r + Dr, r);
  std::vector<double> normalized = c, dn(rows * r, 0.0);
  if (pr.rmsNormEps)
    rmsNormalize(normalized, rows, r, *pr.rmsNormEps);
  projectBackward(normalized, t.wv, dKv, rows, r, H * perHead, H * perHead,
                  perHead, dn, g.dwv, nullptr);
  if (pr.rmsNormEps)
    dn = rmsNormBackward(c, dn, rows, r, *pr.rmsNormEps);
  for (int64_t i = 0; i < rows; ++i)
    std::copy(&dn[i * r], &dn[(i + 1) * r], &dLatent[i * (r + Dr)]);
  projectBackward(t.x, t.wk, dLatent, rows, d, r + Dr, r + Dr, r + Dr, g.dx,
                  g.dwk, nullptr);
}

} // namespace

LayerGradients
mlir::mha::reference::computeLayerBackward(const LayerProblem &pr,
                                           const LayerTensors &t,
                                           const std::vector<double> &dy) {
  const AttentionProblem &a = pr.attention;
  int64_t B = a.batch, L = a.queryLen, Hq = a.queryHeads, Hkv = a.kvHeads,
          D = a.headDim, Dv = a.valueDim, d = pr.modelDim, rows = B * L;
  bool latent = pr.latentRank > 0;
  Projections p = latent ? projectLatentHeads(pr, t) : projectHeads(pr, t);
  // dO = dy Wo^T, as [B, Hq, L, Dv].
  std::vector<double> dMerged(rows * Hq * Dv, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < Hq * Dv; ++c) {
      double sum = 0.0;
      for (int64_t j = 0; j < d; ++j)
        sum += dy[r * d + j] * t.wo[c * d + j];
      dMerged[r * Hq * Dv + c] = sum;
    }
  AttentionGradients ag = computeAttentionBackward(
      a, splitHeads(p.q, B, L, Hq, D), splitHeads(p.k, B, L, Hkv, D),
      splitHeads(p.v, B, L, Hkv, Dv), splitHeads(dMerged, B, L, Hq, Dv));
  LayerGradients g;
  g.dx.assign(rows * d, 0.0);
  // The output projection: its input is O (with dropout) merged.
  std::vector<double> merged = mergeHeads(ag.forward.output, B, L, Hq, Dv);
  std::vector<double> unusedDx(rows * Hq * Dv, 0.0);
  projectBackward(merged, t.wo, dy, rows, Hq * Dv, d, d, d, unusedDx, g.dwo,
                  pr.hasOutBias ? &g.dbo : nullptr);
  std::vector<double> dq = mergeHeads(ag.dQuery, B, L, Hq, D);
  std::vector<double> dk = mergeHeads(ag.dKey, B, L, Hkv, D);
  std::vector<double> dv = mergeHeads(ag.dValue, B, L, Hkv, Dv);
  if (latent) {
    latentBackward(pr, t, std::move(dq), dk, dv, g);
    return g;
  }
  if (pr.ropeTheta) {
    applyRope(dq, B, L, Hq, D, *pr.ropeTheta, D, /*inverse=*/true);
    applyRope(dk, B, L, Hkv, D, *pr.ropeTheta, D, /*inverse=*/true);
  }
  int64_t qCols = pr.queryGroups * D, kvCols = pr.kvGroups * D;
  bool bias = pr.hasQkvBias;
  projectBackward(t.x, t.wq, dq, rows, d, qCols, Hq * D, D, g.dx, g.dwq,
                  bias ? &g.dbq : nullptr);
  projectBackward(t.x, t.wk, dk, rows, d, kvCols, Hkv * D, D, g.dx, g.dwk,
                  bias ? &g.dbk : nullptr);
  projectBackward(t.x, t.wv, dv, rows, d, kvCols, Hkv * Dv, D, g.dx, g.dwv,
                  bias ? &g.dbv : nullptr);
  return g;
}

std::vector<double> mlir::mha::reference::computeLayer(
    const LayerProblem &pr, const LayerTensors &t, AttentionResult *attention) {
  const AttentionProblem &a = pr.attention;
  int64_t B = a.batch, L = a.queryLen, Hq = a.queryHeads, Hkv = a.kvHeads,
          D = a.headDim, Dv = a.valueDim, d = pr.modelDim;
  Projections p =
      pr.latentRank > 0 ? projectLatentHeads(pr, t) : projectHeads(pr, t);
  AttentionResult o = computeAttention(a, splitHeads(p.q, B, L, Hq, D),
                                       splitHeads(p.k, B, L, Hkv, D),
                                       splitHeads(p.v, B, L, Hkv, Dv));
  // concat_h: head h's output at columns h*Dv.. of the input of Wo.
  std::vector<double> merged(B * L * Hq * Dv);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t i = 0; i < Dv; ++i)
          merged[((b * L + l) * Hq + h) * Dv + i] =
              o.output[((b * Hq + h) * L + l) * Dv + i];
  if (attention)
    *attention = o;
  std::vector<double> mergedQ = quantizeRows(merged, B * L, Hq * Dv);
  return project(inputOf(pr, 3, merged, mergedQ), t.wo, t.bo, B * L, Hq * Dv, d,
                 d, d);
}
