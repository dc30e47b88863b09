//===- AttentionBackwardTest.cpp - the float64 backward, checked ----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The analytic gradients of computeAttentionBackward against central finite
// differences of computeAttention (the forward everything else is checked
// against), on small random problems of every variant; and the exact zeros
// and the absence of NaN that docs/language.md promises.
//
//===----------------------------------------------------------------------===//

#include "mha/Reference/AttentionBackward.h"
#include "mha/Semantics/Philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace mlir::mha;
using namespace mlir::mha::reference;

namespace {

/// A problem of the given sizes with every attribute at its default.
AttentionProblem makeProblem(int64_t B, int64_t Hq, int64_t Hkv, int64_t Lq,
                             int64_t Lk, int64_t D, int64_t Dv) {
  AttentionProblem pr;
  pr.batch = B;
  pr.queryHeads = Hq;
  pr.kvHeads = Hkv;
  pr.queryLen = Lq;
  pr.keyLen = Lk;
  pr.headDim = D;
  pr.valueDim = Dv;
  pr.scale = 1.0 / std::sqrt(double(D));
  pr.temperature.assign(Hq, 1.0);
  pr.alibiSlopes.assign(Hq, 0.0);
  pr.windowLeft.assign(Hq, -1);
  pr.windowRight.assign(Hq, -1);
  pr.headAlive.assign(Hq, true);
  return pr;
}

/// Inputs, output gradients and the entropy gradient of one problem.
struct Tensors {
  std::vector<double> q, k, v, dO, dH;
};

std::vector<double> randomVector(std::mt19937_64 &rng, size_t n,
                                 double stddev = 1.0) {
  std::normal_distribution<double> normal(0.0, stddev);
  std::vector<double> x(n);
  for (double &e : x)
    e = normal(rng);
  return x;
}

Tensors randomTensors(const AttentionProblem &pr, uint64_t seed,
                      bool withEntropy, double inputScale = 1.0) {
  std::mt19937_64 rng(seed);
  int64_t rows = pr.batch * pr.queryHeads * pr.queryLen;
  int64_t keys = pr.batch * pr.kvHeads * pr.keyLen;
  Tensors t;
  t.q = randomVector(rng, rows * pr.headDim, inputScale);
  t.k = randomVector(rng, keys * pr.headDim, inputScale);
  t.v = randomVector(rng, keys * pr.valueDim);
  t.dO = randomVector(rng, rows * pr.valueDim);
  if (withEntropy)
    t.dH = randomVector(rng, rows);
  return t;
}

/// The loss whose gradient computeAttentionBackward returns.
double loss(const AttentionProblem &pr, const Tensors &t) {
  AttentionResult r = computeAttention(pr, t.q, t.k, t.v);
  double sum = 0.0;
  for (size_t e = 0; e < r.output.size(); ++e)
    sum += t.dO[e] * r.output[e];
  for (size_t e = 0; e < t.dH.size(); ++e)
    sum += t.dH[e] * r.entropy[e];
  return sum;
}

/// Central differences of the loss with respect to every element of the
/// input `which` (&Tensors::q, ::k or ::v).
std::vector<double> finiteDifferences(const AttentionProblem &pr, Tensors t,
                                      std::vector<double> Tensors::*which) {
  const double step = 1e-5;
  std::vector<double> &x = t.*which;
  std::vector<double> grad(x.size());
  for (size_t e = 0; e < x.size(); ++e) {
    double saved = x[e];
    x[e] = saved + step;
    double up = loss(pr, t);
    x[e] = saved - step;
    double down = loss(pr, t);
    x[e] = saved;
    grad[e] = (up - down) / (2 * step);
  }
  return grad;
}

bool allFinite(const std::vector<double> &x) {
  for (double e : x)
    if (!std::isfinite(e))
      return false;
  return true;
}

double norm(const std::vector<double> &x) {
  double sum = 0.0;
  for (double e : x)
    sum += e * e;
  return std::sqrt(sum);
}

/// Checks the three analytic gradients against finite differences.
void checkGradients(const AttentionProblem &pr, uint64_t seed,
                    bool withEntropy) {
  Tensors t = randomTensors(pr, seed, withEntropy);
  AttentionGradients g =
      computeAttentionBackward(pr, t.q, t.k, t.v, t.dO, t.dH);
  struct Case {
    const char *name;
    const std::vector<double> &analytic;
    std::vector<double> Tensors::*input;
  } cases[] = {{"dq", g.dQuery, &Tensors::q},
               {"dk", g.dKey, &Tensors::k},
               {"dv", g.dValue, &Tensors::v}};
  for (const Case &c : cases) {
    std::vector<double> numeric = finiteDifferences(pr, t, c.input);
    ASSERT_TRUE(allFinite(c.analytic)) << c.name;
    ASSERT_GT(norm(numeric), 1e-3) << c.name << ": a vacuous check";
    EXPECT_LT(relativeError(c.analytic, numeric), 1e-7) << c.name;
  }
}

// --- Analytic against finite differences, one variant at a time. ----------

TEST(AttentionBackwardTest, Plain) {
  checkGradients(makeProblem(2, 2, 2, 5, 5, 4, 4), 1, false);
}

TEST(AttentionBackwardTest, CausalMoreQueriesThanKeys) {
  // Queries 0-2 see no key.
  AttentionProblem pr = makeProblem(1, 2, 2, 7, 4, 4, 4);
  pr.causal = true;
  checkGradients(pr, 2, false);
}

TEST(AttentionBackwardTest, CausalMoreKeysThanQueries) {
  AttentionProblem pr = makeProblem(1, 2, 2, 4, 7, 4, 4);
  pr.causal = true;
  checkGradients(pr, 3, false);
}

TEST(AttentionBackwardTest, PerHeadWindowsAndSinks) {
  AttentionProblem pr = makeProblem(1, 3, 3, 8, 8, 4, 4);
  pr.windowLeft = {2, -1, 1};
  pr.windowRight = {1, 0, -1};
  pr.sinkTokens = 2;
  checkGradients(pr, 4, false);
  pr.causal = true;
  checkGradients(pr, 5, false);
}

TEST(AttentionBackwardTest, Softcap) {
  AttentionProblem pr = makeProblem(1, 2, 2, 5, 6, 4, 4);
  pr.scale = 1.5; // scores well into tanh's bend
  pr.softcap = 2.0;
  checkGradients(pr, 6, false);
}

TEST(AttentionBackwardTest, Alibi) {
  AttentionProblem pr = makeProblem(1, 2, 2, 5, 7, 4, 4);
  pr.hasAlibi = true;
  pr.alibiSlopes = {0.5, -0.25};
  checkGradients(pr, 7, false);
}

TEST(AttentionBackwardTest, Temperature) {
  AttentionProblem pr = makeProblem(1, 3, 3, 5, 5, 4, 4);
  pr.temperature = {0.5, 1.0, 3.0};
  checkGradients(pr, 8, false);
}

TEST(AttentionBackwardTest, GroupedQueryHeads) {
  checkGradients(makeProblem(2, 4, 2, 5, 6, 4, 4), 9, false);
}

TEST(AttentionBackwardTest, MultiQuery) {
  checkGradients(makeProblem(1, 4, 1, 5, 6, 4, 4), 10, false);
}

TEST(AttentionBackwardTest, ValueDimDiffers) {
  checkGradients(makeProblem(1, 2, 2, 4, 5, 3, 6), 11, false);
}

TEST(AttentionBackwardTest, StaticHeadMask) {
  AttentionProblem pr = makeProblem(1, 4, 2, 5, 5, 4, 4);
  pr.headAlive = {true, false, false, true};
  checkGradients(pr, 12, false);
}

TEST(AttentionBackwardTest, EntropyGradient) {
  checkGradients(makeProblem(2, 2, 2, 5, 6, 4, 4), 13, true);
  AttentionProblem pr = makeProblem(1, 2, 1, 6, 6, 4, 4);
  pr.causal = true;
  pr.scale = 2.0; // peaked rows
  checkGradients(pr, 14, true);
}

TEST(AttentionBackwardTest, Dropout) {
  AttentionProblem pr = makeProblem(2, 4, 2, 6, 9, 4, 4);
  pr.dropout = {0.3f, 0.5f, 0.0f, 0.7f};
  pr.dropoutSeed = 0x0123456789abcdefull;
  pr.dropoutOffset = 5;
  checkGradients(pr, 15, false);
  checkGradients(pr, 16, true);
}

TEST(AttentionBackwardTest, EverythingCombined) {
  AttentionProblem pr = makeProblem(2, 4, 2, 9, 7, 3, 5);
  pr.scale = 0.9;
  pr.temperature = {0.75, 1.0, 1.5, 2.0};
  pr.softcap = 3.0;
  pr.hasAlibi = true;
  pr.alibiSlopes = {0.25, 0.125, 0.5, 0.0625};
  pr.causal = true;
  pr.windowLeft = {2, -1, 3, 1};
  pr.windowRight = {-1, -1, 0, -1};
  pr.sinkTokens = 1;
  pr.headAlive = {true, true, false, true};
  pr.dropout = {0.25f, 0.0f, 0.5f, 0.4f};
  pr.dropoutSeed = 99;
  pr.dropoutOffset = 0x100000003ull;
  checkGradients(pr, 17, true);
}

// --- The forward with dropout. --------------------------------------------

TEST(AttentionBackwardTest, ForwardAppliesTheDropoutMask) {
  AttentionProblem pr = makeProblem(2, 2, 1, 5, 12, 4, 3);
  pr.causal = true;
  Tensors t = randomTensors(pr, 18, false);
  AttentionResult plain = computeAttention(pr, t.q, t.k, t.v);
  pr.dropout = {0.5f, 0.2f};
  pr.dropoutSeed = 7;
  pr.dropoutOffset = 3;
  AttentionResult dropped = computeAttention(pr, t.q, t.k, t.v);
  // lse, probs and entropy are those before dropout.
  EXPECT_EQ(dropped.lse, plain.lse);
  EXPECT_EQ(dropped.probs, plain.probs);
  EXPECT_EQ(dropped.entropy, plain.entropy);
  std::vector<char> mask = computeDropoutMask(pr);
  size_t dropCount = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 5; ++i)
        for (int64_t d = 0; d < 3; ++d) {
          int64_t row = (b * 2 + h) * 5 + i;
          double o = 0.0;
          for (int64_t j = 0; j < 12; ++j) {
            bool keep = dropoutKeeps(7, 3, pr.dropout[h], b, 2, h, i, j);
            ASSERT_EQ(mask[row * 12 + j], keep);
            dropCount += !keep;
            if (keep)
              o += plain.probs[row * 12 + j] / (1.0 - double(pr.dropout[h])) *
                   t.v[(b * 12 + j) * 3 + d];
          }
          EXPECT_NEAR(dropped.output[row * 3 + d], o, 1e-14);
        }
  EXPECT_GT(dropCount, 0u);
}

TEST(AttentionBackwardTest, ZeroDropoutChangesNothing) {
  AttentionProblem pr = makeProblem(1, 2, 2, 4, 6, 4, 4);
  Tensors t = randomTensors(pr, 19, false);
  AttentionResult plain = computeAttention(pr, t.q, t.k, t.v);
  pr.dropout = {0.0f, 0.0f};
  pr.dropoutSeed = 12345;
  EXPECT_EQ(computeAttention(pr, t.q, t.k, t.v).output, plain.output);
}

// --- Exact zeros and no NaN. -----------------------------------------------

/// Whether rows [first, last) of a [rows, width] tensor are exactly zero.
bool rowsAreZero(const std::vector<double> &x, int64_t width, int64_t first,
                 int64_t last) {
  for (int64_t e = first * width; e < last * width; ++e)
    if (x[e] != 0.0)
      return false;
  return true;
}

TEST(AttentionBackwardTest, EmptyRowsGetZeroGradients) {
  AttentionProblem pr = makeProblem(1, 1, 1, 6, 3, 4, 4);
  pr.causal = true; // queries 0-2 see nothing
  Tensors t = randomTensors(pr, 20, true);
  AttentionGradients g =
      computeAttentionBackward(pr, t.q, t.k, t.v, t.dO, t.dH);
  EXPECT_TRUE(rowsAreZero(g.dQuery, 4, 0, 3));
  // Query 3 sees key 0 alone, a softmax of one key: its gradient is 0 too.
  EXPECT_FALSE(rowsAreZero(g.dQuery, 4, 4, 6));
  EXPECT_TRUE(allFinite(g.dQuery) && allFinite(g.dKey) && allFinite(g.dValue));
}

TEST(AttentionBackwardTest, PrunedHeadsGetZeroGradients) {
  // Both query heads of KV head 0 pruned, one of KV head 1.
  AttentionProblem pr = makeProblem(1, 4, 2, 4, 5, 4, 4);
  pr.headAlive = {false, false, true, false};
  pr.dropout = {0.5f, 0.5f, 0.5f, 0.5f};
  Tensors t = randomTensors(pr, 21, true);
  AttentionGradients g =
      computeAttentionBackward(pr, t.q, t.k, t.v, t.dO, t.dH);
  const int64_t Lq = 4, Lk = 5;
  EXPECT_TRUE(rowsAreZero(g.dQuery, 4, 0, 2 * Lq));
  EXPECT_FALSE(rowsAreZero(g.dQuery, 4, 2 * Lq, 3 * Lq));
  EXPECT_TRUE(rowsAreZero(g.dQuery, 4, 3 * Lq, 4 * Lq));
  EXPECT_TRUE(rowsAreZero(g.dKey, 4, 0, Lk));
  EXPECT_TRUE(rowsAreZero(g.dValue, 4, 0, Lk));
  EXPECT_FALSE(rowsAreZero(g.dKey, 4, Lk, 2 * Lk));
}

TEST(AttentionBackwardTest, UnseenKeysGetZeroGradients) {
  // Query 0 sits on key 6 and sees keys 5-6, query 1 keys 6-7: keys 0-4 are
  // seen by nobody.
  AttentionProblem pr = makeProblem(1, 2, 1, 2, 8, 4, 4);
  pr.causal = true;
  pr.windowLeft = {1, 1};
  Tensors t = randomTensors(pr, 22, true);
  AttentionGradients g =
      computeAttentionBackward(pr, t.q, t.k, t.v, t.dO, t.dH);
  EXPECT_TRUE(rowsAreZero(g.dKey, 4, 0, 5));
  EXPECT_TRUE(rowsAreZero(g.dValue, 4, 0, 5));
  EXPECT_FALSE(rowsAreZero(g.dKey, 4, 5, 8));
  EXPECT_FALSE(rowsAreZero(g.dValue, 4, 5, 8));
}

TEST(AttentionBackwardTest, NoNaNWithExtremeScores) {
  // Scores of hundreds: most probabilities underflow to exactly 0, where
  // P log P must give 0, not 0 * -inf.
  AttentionProblem pr = makeProblem(1, 4, 2, 6, 8, 4, 4);
  pr.causal = true;
  pr.sinkTokens = 1;
  pr.windowLeft = {2, -1, 2, -1};
  pr.dropout = {0.5f, 0.1f, 0.0f, 0.9f};
  Tensors t = randomTensors(pr, 23, true, 30.0);
  for (bool capped : {false, true}) {
    pr.softcap = capped ? std::optional<double>(20.0) : std::nullopt;
    AttentionGradients g =
        computeAttentionBackward(pr, t.q, t.k, t.v, t.dO, t.dH);
    EXPECT_TRUE(allFinite(g.dQuery));
    EXPECT_TRUE(allFinite(g.dKey));
    EXPECT_TRUE(allFinite(g.dValue));
    EXPECT_TRUE(allFinite(g.forward.entropy));
  }
}

TEST(AttentionBackwardTest, NoKeysAtAll) {
  AttentionProblem pr = makeProblem(2, 2, 2, 3, 0, 4, 4);
  Tensors t = randomTensors(pr, 24, true);
  AttentionGradients g =
      computeAttentionBackward(pr, t.q, t.k, t.v, t.dO, t.dH);
  EXPECT_TRUE(rowsAreZero(g.dQuery, 4, 0, 2 * 2 * 3));
  EXPECT_TRUE(g.dKey.empty() && g.dValue.empty());
}

} // namespace
