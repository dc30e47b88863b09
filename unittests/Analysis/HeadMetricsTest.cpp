//===- HeadMetricsTest.cpp - Tests of the per-head metrics ----------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HeadMetrics.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir::mha::analysis;

namespace {

// Three heads, B = 1, Lq = 2, Lk = 2: head 0 attends to the diagonal, head 1
// like head 0 but softer, head 2 is pruned (all zeros).
TEST(HeadMetricsTest, EntropyCorrelationDistance) {
  PatternSizes sizes{1, 3, 2, 2};
  const float probs[] = {1.0f, 0.0f, 0.0f, 1.0f,  // head 0
                         0.75f, 0.25f, 0.25f, 0.75f, // head 1
                         0, 0, 0, 0};              // head 2
  double h1 = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  const float entropy[] = {0, 0, static_cast<float>(h1),
                           static_cast<float>(h1), 0, 0};
  std::vector<HeadMetrics> m = computePatternMetrics(sizes, probs, entropy);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].visibleRows, 2);
  EXPECT_NEAR(m[1].entropy, h1, 1e-6);
  EXPECT_EQ(m[2].visibleRows, 0);
  EXPECT_EQ(m[2].entropy, 0.0);
  // Head 1 = 0.5 * head 0 + 0.25: correlation 1.
  ASSERT_TRUE(m[0].maxCorrelation.has_value());
  EXPECT_NEAR(*m[0].maxCorrelation, 1.0, 1e-12);
  EXPECT_EQ(m[0].mostSimilarHead, 1);
  EXPECT_EQ(m[1].mostSimilarHead, 0);
  EXPECT_FALSE(m[2].maxCorrelation.has_value());
  EXPECT_FALSE(m[2].mostSimilarHead.has_value());
  // Distance |i + Lk - Lq - j|: head 0 looks at itself, head 1 a quarter off.
  EXPECT_NEAR(m[0].meanDistance, 0.0, 1e-12);
  EXPECT_NEAR(m[1].meanDistance, 0.25, 1e-12);
}

TEST(HeadMetricsTest, RelativeChange) {
  EXPECT_NEAR(relativeChange({3, 4}, {0, 0}), 1.0, 1e-12);
  EXPECT_NEAR(relativeChange({3, 4}, {3, 4}), 0.0, 1e-12);
  EXPECT_NEAR(relativeChange({3, 4}, {3, 3}), 0.2, 1e-12);
  EXPECT_EQ(relativeChange({0, 0}, {1, 1}), 0.0);
}

} // namespace
