//===- AttentionKlReference.cpp - float64 attention-transfer loss ---------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Reference/AttentionKlReference.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir::mha::reference;

namespace {

/// One row's scores of both models over its visible keys [0, n), their
/// log-sum-exps and probabilities.
struct RowPair {
  std::vector<double> st, ss;
  double lseT = -std::numeric_limits<double>::infinity();
  double lseS = -std::numeric_limits<double>::infinity();
  double probT(size_t j) const { return std::exp(st[j] - lseT); }
  double probS(size_t j) const { return std::exp(ss[j] - lseS); }
};

double dot(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t d = 0; d < n; ++d)
    s += a[d] * b[d];
  return s;
}

double logSumExp(const std::vector<double> &x) {
  if (x.empty())
    return -std::numeric_limits<double>::infinity();
  double m = *std::max_element(x.begin(), x.end());
  double s = 0.0;
  for (double v : x)
    s += std::exp(v - m);
  return m + std::log(s);
}

/// Keys [0, n) are visible to row i: Lk, or with causal i + Lk - Lq + 1.
int64_t visibleKeys(const KlProblem &p, int64_t i) {
  if (!p.causal)
    return p.keyLen;
  return std::clamp<int64_t>(i + p.keyLen - p.queryLen + 1, 0, p.keyLen);
}

RowPair rowPair(const KlProblem &p, const std::vector<double> &qt,
                const std::vector<double> &kt, const std::vector<double> &qs,
                const std::vector<double> &ks, int64_t b, int64_t h,
                int64_t i) {
  int64_t gt = h / (p.heads / p.teacherKvHeads);
  int64_t gs = h / (p.heads / p.studentKvHeads);
  const double *qtRow =
      &qt[((b * p.heads + h) * p.queryLen + i) * p.teacherDim];
  const double *qsRow =
      &qs[((b * p.heads + h) * p.queryLen + i) * p.studentDim];
  RowPair r;
  for (int64_t j = 0, n = visibleKeys(p, i); j < n; ++j) {
    r.st.push_back(
        p.teacherScale *
        dot(qtRow,
            &kt[((b * p.teacherKvHeads + gt) * p.keyLen + j) * p.teacherDim],
            p.teacherDim));
    r.ss.push_back(
        p.studentScale *
        dot(qsRow,
            &ks[((b * p.studentKvHeads + gs) * p.keyLen + j) * p.studentDim],
            p.studentDim));
  }
  r.lseT = logSumExp(r.st);
  r.lseS = logSumExp(r.ss);
  return r;
}

} // namespace

KlResults mlir::mha::reference::attentionKl(const KlProblem &p,
                                            const std::vector<double> &qt,
                                            const std::vector<double> &kt,
                                            const std::vector<double> &qs,
                                            const std::vector<double> &ks) {
  size_t rows = p.batch * p.heads * p.queryLen;
  KlResults out{std::vector<double>(rows), std::vector<double>(rows),
                std::vector<double>(rows)};
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t i = 0; i < p.queryLen; ++i) {
        size_t row = (b * p.heads + h) * p.queryLen + i;
        RowPair r = rowPair(p, qt, kt, qs, ks, b, h, i);
        double kl = 0.0;
        for (size_t j = 0; j < r.st.size(); ++j)
          kl += r.probT(j) * ((r.st[j] - r.lseT) - (r.ss[j] - r.lseS));
        out.kl[row] = kl;
        out.teacherLse[row] = r.lseT;
        out.studentLse[row] = r.lseS;
      }
  return out;
}

KlGradients mlir::mha::reference::attentionKlGradients(
    const KlProblem &p, const std::vector<double> &qt,
    const std::vector<double> &kt, const std::vector<double> &qs,
    const std::vector<double> &ks, const std::vector<double> &dkl) {
  KlGradients g{std::vector<double>(qs.size()), std::vector<double>(ks.size())};
  int64_t ds = p.studentDim;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      int64_t gs = h / (p.heads / p.studentKvHeads);
      for (int64_t i = 0; i < p.queryLen; ++i) {
        size_t row = (b * p.heads + h) * p.queryLen + i;
        RowPair r = rowPair(p, qt, kt, qs, ks, b, h, i);
        for (size_t j = 0; j < r.st.size(); ++j) {
          double dS = dkl[row] * p.studentScale * (r.probS(j) - r.probT(j));
          size_t key = ((b * p.studentKvHeads + gs) * p.keyLen + j) * ds;
          for (int64_t d = 0; d < ds; ++d) {
            g.dq[row * ds + d] += dS * ks[key + d];
            g.dk[key + d] += dS * qs[row * ds + d];
          }
        }
      }
    }
  return g;
}
