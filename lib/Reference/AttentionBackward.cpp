//===- AttentionBackward.cpp - float64 gradients of attention -------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Per row (b, h, i) with visible keys, in the notation of docs/language.md
// 6.7: t_ij the scaled score before the softcap, s_ij the final score,
// P_ij = exp(s_ij - lse_i), F_ij the dropout factor and O_i = sum_j P F v_j.
//
//   dV_j  += P_ij F_ij dO_i
//   dP_ij  = F_ij (dO_i . v_j)
//   dS_ij  = P_ij (dP_ij - D_i),  D_i = sum_j P_ij dP_ij = dO_i . O_i
//          - dH_i P_ij (s_ij - lse_i + H_i)             (entropy term)
//   dT_ij  = dS_ij (1 - tanh^2(t_ij / c))               (softcap c)
//   dq_i  += dT_ij scale / temperature[h] k_j,  dk_j += ... q_i
//
// ALiBi and the masks are constants of s; a dropped key still moves the
// softmax through D_i.
//
//===----------------------------------------------------------------------===//

#include "mha/Reference/AttentionBackward.h"

#include <cassert>
#include <cmath>
#include <limits>

using namespace mlir::mha::reference;

namespace {

/// One score before and after the softcap and ALiBi.
struct Score {
  double scaled; // t = q.k * scale / temperature[h]
  double final;  // s
};

/// The backward of one problem: inputs, outputs and sizes.
class Backward {
public:
  Backward(const AttentionProblem &pr, const std::vector<double> &q,
           const std::vector<double> &k, const std::vector<double> &v,
           const std::vector<double> &dO, const std::vector<double> &dH,
           AttentionGradients &out)
      : pr(pr), q(q), k(k), v(v), dO(dO), dH(dH), out(out) {}

  void run();

private:
  const double *queryRow(int64_t b, int64_t h, int64_t i) const {
    return &q[((b * pr.queryHeads + h) * pr.queryLen + i) * pr.headDim];
  }
  int64_t keyRow(int64_t b, int64_t h, int64_t j) const {
    int64_t g = h / (pr.queryHeads / pr.kvHeads);
    return (b * pr.kvHeads + g) * pr.keyLen + j;
  }
  Score score(int64_t b, int64_t h, int64_t i, int64_t j) const;
  double scoreGradient(int64_t b, int64_t h, int64_t i, int64_t j,
                       double dotOutput) const;
  void row(int64_t b, int64_t h, int64_t i);

  const AttentionProblem &pr;
  const std::vector<double> &q, &k, &v, &dO, &dH;
  AttentionGradients &out;
};

} // namespace

static double dot(const double *x, const double *y, int64_t n) {
  double sum = 0.0;
  for (int64_t d = 0; d < n; ++d)
    sum += x[d] * y[d];
  return sum;
}

/// y += alpha * x.
static void axpy(double alpha, const double *x, double *y, int64_t n) {
  for (int64_t d = 0; d < n; ++d)
    y[d] += alpha * x[d];
}

/// The same arithmetic as computeAttention, so that s - lse is log P to the
/// last bit.
Score Backward::score(int64_t b, int64_t h, int64_t i, int64_t j) const {
  const double *kj = &k[keyRow(b, h, j) * pr.headDim];
  Score sc;
  sc.scaled =
      dot(queryRow(b, h, i), kj, pr.headDim) * pr.scale / pr.temperature[h];
  sc.final = sc.scaled;
  if (pr.softcap)
    sc.final = *pr.softcap * std::tanh(sc.scaled / *pr.softcap);
  if (pr.hasAlibi)
    sc.final -=
        pr.alibiSlopes[h] * std::fabs(static_cast<double>(pr.diagonal(i) - j));
  return sc;
}

/// dL/dt_ij for visible key j of a row with keys; `dotOutput` is D_i.
double Backward::scoreGradient(int64_t b, int64_t h, int64_t i, int64_t j,
                               double dotOutput) const {
  int64_t row = (b * pr.queryHeads + h) * pr.queryLen + i;
  double p = out.forward.probs[row * pr.keyLen + j];
  const double *vj = &v[keyRow(b, h, j) * pr.valueDim];
  double dP = pr.dropoutFactor(b, h, i, j) *
              dot(&dO[row * pr.valueDim], vj, pr.valueDim);
  double dS = p * (dP - dotOutput);
  Score sc = score(b, h, i, j);
  // dH/ds_ij = -P_ij (log P_ij + H_i), with log P_ij = s_ij - lse_i: finite
  // where P_ij underflows to 0, unlike log(P_ij).
  if (!dH.empty())
    dS -= dH[row] * p *
          (sc.final - out.forward.lse[row] + out.forward.entropy[row]);
  if (pr.softcap) {
    double th = std::tanh(sc.scaled / *pr.softcap);
    dS *= 1.0 - th * th;
  }
  return dS;
}

void Backward::row(int64_t b, int64_t h, int64_t i) {
  int64_t row = (b * pr.queryHeads + h) * pr.queryLen + i;
  // Pruned heads and rows with no visible key keep their zero gradients.
  if (!pr.headAlive[h] ||
      out.forward.lse[row] == -std::numeric_limits<double>::infinity())
    return;
  const int64_t D = pr.headDim, Dv = pr.valueDim;
  const double *dOi = &dO[row * Dv];
  // D_i = sum_j P_ij dP_ij: with the dropout factor in both dP_ij and O_i
  // this is dO_i . O_i, as without dropout.
  double dotOutput = dot(dOi, &out.forward.output[row * Dv], Dv);
  double toQK = pr.scale / pr.temperature[h];
  double *dQi = &out.dQuery[row * D];
  for (int64_t j = 0; j < pr.keyLen; ++j) {
    if (!pr.isVisible(h, i, j))
      continue;
    int64_t kv = keyRow(b, h, j);
    double p = out.forward.probs[row * pr.keyLen + j];
    axpy(p * pr.dropoutFactor(b, h, i, j), dOi, &out.dValue[kv * Dv], Dv);
    double dQK = scoreGradient(b, h, i, j, dotOutput) * toQK;
    axpy(dQK, &k[kv * D], dQi, D);
    axpy(dQK, queryRow(b, h, i), &out.dKey[kv * D], D);
  }
}

void Backward::run() {
  for (int64_t b = 0; b < pr.batch; ++b)
    for (int64_t h = 0; h < pr.queryHeads; ++h)
      for (int64_t i = 0; i < pr.queryLen; ++i)
        row(b, h, i);
}

AttentionGradients mlir::mha::reference::computeAttentionBackward(
    const AttentionProblem &pr, const std::vector<double> &q,
    const std::vector<double> &k, const std::vector<double> &v,
    const std::vector<double> &dO, const std::vector<double> &dH) {
  const int64_t rows = pr.batch * pr.queryHeads * pr.queryLen;
  const int64_t keys = pr.batch * pr.kvHeads * pr.keyLen;
  assert(static_cast<int64_t>(dO.size()) == rows * pr.valueDim);
  assert(dH.empty() || static_cast<int64_t>(dH.size()) == rows);
  AttentionGradients out;
  out.forward = computeAttention(pr, q, k, v);
  out.dQuery.assign(rows * pr.headDim, 0.0);
  out.dKey.assign(keys * pr.headDim, 0.0);
  out.dValue.assign(keys * pr.valueDim, 0.0);
  Backward(pr, q, k, v, dO, dH, out).run();
  return out;
}

std::vector<char>
mlir::mha::reference::computeDropoutMask(const AttentionProblem &pr) {
  std::vector<char> mask;
  mask.reserve(pr.batch * pr.queryHeads * pr.queryLen * pr.keyLen);
  for (int64_t b = 0; b < pr.batch; ++b)
    for (int64_t h = 0; h < pr.queryHeads; ++h)
      for (int64_t i = 0; i < pr.queryLen; ++i)
        for (int64_t j = 0; j < pr.keyLen; ++j)
          mask.push_back(pr.dropoutFactor(b, h, i, j) != 0.0);
  return mask;
}
