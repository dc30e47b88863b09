//===- AttentionReference.cpp - float64 reference of the spec -------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Reference/AttentionReference.h"
#include "mha/Semantics/KeyVisibility.h"
#include "mha/Semantics/Philox.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace mlir::mha;
using namespace mlir::mha::reference;

bool AttentionProblem::isVisible(int64_t h, int64_t i, int64_t j) const {
  // Sinks are the first keys of the sequence: positions, not indices.
  int64_t sinks = usePositions ? sinkTokens - keyStart : sinkTokens;
  return isKeyVisible({causal, windowLeft[h], windowRight[h], sinks}, j,
                      diagonal(i), keyLen);
}

double AttentionProblem::dropoutFactor(int64_t b, int64_t h, int64_t i,
                                       int64_t j) const {
  if (dropout.empty() || dropout[h] == 0.0f)
    return 1.0;
  if (usePositions) {
    i += queryStart;
    j += keyStart;
  }
  if (!dropoutKeeps(dropoutSeed, dropoutOffset, dropout[h], b, queryHeads, h, i,
                    j))
    return 0.0;
  return 1.0 / (1.0 - static_cast<double>(dropout[h]));
}

AttentionResult mlir::mha::reference::computeAttention(
    const AttentionProblem &pr, const std::vector<double> &q,
    const std::vector<double> &k, const std::vector<double> &v) {
  const int64_t B = pr.batch, Hq = pr.queryHeads, Hkv = pr.kvHeads,
                Lq = pr.queryLen, Lk = pr.keyLen, D = pr.headDim,
                Dv = pr.valueDim;
  AttentionResult r;
  r.output.assign(B * Hq * Lq * Dv, 0.0);
  r.lse.assign(B * Hq * Lq, -std::numeric_limits<double>::infinity());
  r.probs.assign(B * Hq * Lq * Lk, 0.0);
  r.entropy.assign(B * Hq * Lq, 0.0);
  std::vector<double> s(Lk);
  std::vector<char> visible(Lk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      int64_t g = h / (Hq / Hkv);
      for (int64_t i = 0; i < Lq; ++i) {
        const double *qi = &q[((b * Hq + h) * Lq + i) * D];
        double maxScore = -std::numeric_limits<double>::infinity();
        bool any = false;
        for (int64_t j = 0; j < Lk; ++j) {
          const double *kj = &k[((b * Hkv + g) * Lk + j) * D];
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d)
            dot += qi[d] * kj[d];
          double score = dot * pr.scale / pr.temperature[h];
          if (pr.softcap)
            score = *pr.softcap * std::tanh(score / *pr.softcap);
          if (pr.hasAlibi)
            score -= pr.alibiSlopes[h] *
                     std::fabs(static_cast<double>(pr.diagonal(i) - j));
          s[j] = score;
          visible[j] = pr.isVisible(h, i, j);
          if (visible[j]) {
            any = true;
            maxScore = std::max(maxScore, score);
          }
        }
        int64_t row = (b * Hq + h) * Lq + i;
        // Rows without visible keys and pruned heads stay 0 (lse -inf; a
        // pruned head's lse is unspecified by docs/language.md).
        if (!any || !pr.headAlive[h])
          continue;
        double sum = 0.0;
        for (int64_t j = 0; j < Lk; ++j)
          if (visible[j])
            sum += std::exp(s[j] - maxScore);
        double lse = maxScore + std::log(sum);
        r.lse[row] = lse;
        double entropy = 0.0;
        double *oi = &r.output[row * Dv];
        for (int64_t j = 0; j < Lk; ++j) {
          if (!visible[j])
            continue;
          double p = std::exp(s[j] - lse);
          r.probs[row * Lk + j] = p;
          // p != 0 rather than p > 0: a NaN probability makes the entropy
          // NaN, as IEEE arithmetic would.
          if (p != 0.0)
            entropy -= p * (s[j] - lse);
          double weight = p * pr.dropoutFactor(b, h, i, j);
          const double *vj = &v[((b * Hkv + g) * Lk + j) * Dv];
          for (int64_t d = 0; d < Dv; ++d)
            oi[d] += weight * vj[d];
        }
        r.entropy[row] = entropy;
      }
    }
  return r;
}

MergedStates mlir::mha::reference::mergeStates(
    const std::vector<double> &outputA, const std::vector<double> &lseA,
    const std::vector<double> &outputB, const std::vector<double> &lseB,
    int64_t rows, int64_t dv) {
  MergedStates r;
  r.output.assign(rows * dv, 0.0);
  r.lse.assign(rows, -std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < rows; ++i) {
    double m = std::max(lseA[i], lseB[i]);
    if (std::isnan(lseA[i]) || std::isnan(lseB[i]))
      m = std::numeric_limits<double>::quiet_NaN();
    if (m == -std::numeric_limits<double>::infinity())
      continue;
    double wa = std::exp(lseA[i] - m), wb = std::exp(lseB[i] - m);
    r.lse[i] = m + std::log(wa + wb);
    for (int64_t d = 0; d < dv; ++d) {
      // A side of weight 0 contributes 0, whatever its output holds.
      double a = wa == 0.0 ? 0.0 : wa * outputA[i * dv + d];
      double b = wb == 0.0 ? 0.0 : wb * outputB[i * dv + d];
      r.output[i * dv + d] = (a + b) / (wa + wb);
    }
  }
  return r;
}

double mlir::mha::reference::relativeError(const std::vector<double> &a,
                                           const std::vector<double> &b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (std::isnan(a[i]))
      return std::numeric_limits<double>::quiet_NaN();
    double d = a[i] - b[i];
    diff += d * d;
    norm += b[i] * b[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

uint16_t mlir::mha::reference::floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) // NaN
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (absx >= 0x477ff000u) // overflows to inf after rounding
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) { // subnormal or zero in half
    float af;
    std::memcpy(&af, &absx, 4);
    // Scale so the half subnormal unit (2^-24) becomes 1, then round.
    float scaled = af * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t exp = ((absx >> 23) - 127 + 15) << 10;
  uint32_t mant = absx & 0x7fffffu;
  uint32_t h = exp | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h;
  return static_cast<uint16_t>(sign | h);
}

float mlir::mha::reference::halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  float value;
  if (exp == 0) {
    value = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    value = mant ? std::numeric_limits<float>::quiet_NaN()
                 : std::numeric_limits<float>::infinity();
  } else {
    value = std::ldexp(static_cast<float>(mant | 0x400u),
                       static_cast<int>(exp) - 25);
  }
  return sign ? -value : value;
}

uint16_t mlir::mha::reference::floatToBFloat(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

float mlir::mha::reference::bfloatToFloat(uint16_t b) {
  uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
