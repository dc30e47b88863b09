//===- PhiloxTest.cpp - Philox4x32-10 and the dropout keep rule -----------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Semantics/Philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace mlir::mha;

namespace {

struct KnownAnswer {
  PhiloxCounter counter;
  PhiloxKey key;
  PhiloxCounter expected;
};

// The three "philox4x32 10" lines of Random123's tests/kat_vectors
// (https://github.com/DEShawResearch/random123, commit 9545ff64, lines
// 27-29): counter (4 words), key (2 words), expected output (4 words).
constexpr KnownAnswer kKnownAnswers[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

// Usable in constant expressions, as generated-code constant folding and
// host-side tables may need (std::array's == is constexpr only from C++20).
constexpr bool matchesKnownAnswer(const KnownAnswer &kat) {
  PhiloxCounter out = philox4x32_10(kat.counter, kat.key);
  return out[0] == kat.expected[0] && out[1] == kat.expected[1] &&
         out[2] == kat.expected[2] && out[3] == kat.expected[3];
}
static_assert(matchesKnownAnswer(kKnownAnswers[0]) &&
              matchesKnownAnswer(kKnownAnswers[1]) &&
              matchesKnownAnswer(kKnownAnswers[2]));

TEST(PhiloxTest, Random123KnownAnswers) {
  for (const KnownAnswer &kat : kKnownAnswers)
    EXPECT_EQ(philox4x32_10(kat.counter, kat.key), kat.expected);
}

TEST(PhiloxTest, ThresholdFromTheFloatValue) {
  EXPECT_EQ(dropoutThreshold(0.0f), 0u);
  EXPECT_EQ(dropoutThreshold(0.5f), 0x80000000u);
  // 0.1f = 13421773 * 2^-27; double 0.1 would give 429496729.
  EXPECT_EQ(dropoutThreshold(0.1f), 429496736u);
  // The largest float below 1: 2^32 - 2^8, still 32 bits.
  EXPECT_EQ(dropoutThreshold(std::nextafter(1.0f, 0.0f)), 0xffffff00u);
}

// The rule of the language reference, spelled out once by hand.
TEST(PhiloxTest, CounterKeyAndWordOfTheSpec) {
  uint64_t seed = 0x0123456789abcdefull, offset = 0xfedcba9876543210ull;
  // b = 1 of Hq = 3, h = 2, i = 5, j = 7: counter (1, 5, 5, offset's low
  // word), key (seed's low word, high word), word 3.
  PhiloxCounter words =
      philox4x32_10({1, 5, 5, 0x76543210u}, {0x89abcdefu, 0x01234567u});
  EXPECT_EQ(dropoutRandomWord(seed, offset, 1, 3, 2, 5, 7), words[3]);
  for (int64_t j = 4; j < 8; ++j)
    EXPECT_EQ(dropoutRandomWord(seed, offset, 1, 3, 2, 5, j), words[j % 4]);
  float p = 0.3f;
  EXPECT_EQ(dropoutKeeps(seed, offset, p, 1, 3, 2, 5, 7),
            words[3] >= dropoutThreshold(p));
}

TEST(PhiloxTest, OnlyTheOffsetsLowWordCounts) {
  uint64_t seed = 42;
  for (int64_t j = 0; j < 64; ++j) {
    EXPECT_EQ(dropoutRandomWord(seed, 7, 0, 2, 1, 3, j),
              dropoutRandomWord(seed, 7 + (uint64_t(5) << 32), 0, 2, 1, 3, j));
  }
  // Batch and head meet in one counter word: b * Hq + h.
  EXPECT_EQ(dropoutRandomWord(seed, 0, 1, 2, 0, 3, 9),
            dropoutRandomWord(seed, 0, 0, 4, 2, 3, 9));
}

TEST(PhiloxTest, ZeroProbabilityKeepsEverything) {
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 64; ++j)
      ASSERT_TRUE(dropoutKeeps(i * 977, 3, 0.0f, 0, 1, 0, i, j));
}

/// The keep mask of one [rows x cols] tile.
std::vector<bool> keepMask(uint64_t seed, uint64_t offset, float p, int64_t b,
                           int64_t h, int64_t iBase, int64_t jBase,
                           int64_t rows, int64_t cols) {
  std::vector<bool> mask;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      mask.push_back(
          dropoutKeeps(seed, offset, p, b, 4, h, iBase + i, jBase + j));
  return mask;
}

TEST(PhiloxTest, KeepRateIsOneMinusP) {
  const int64_t rows = 256, cols = 1024;
  const double n = double(rows * cols);
  for (float p : {0.05f, 0.25f, 0.5f, 0.9f}) {
    std::vector<bool> mask =
        keepMask(0x9e3779b97f4a7c15ull, 11, p, 1, 2, 0, 0, rows, cols);
    double kept = 0;
    for (bool keep : mask)
      kept += keep;
    // Six binomial standard deviations.
    double sigma = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(kept, n * (1 - double(p)), 6 * sigma) << "p = " << p;
  }
}

/// The fraction of equal entries; independent masks of p = 0.5 agree on
/// half of them.
double agreement(const std::vector<bool> &a, const std::vector<bool> &b) {
  double same = 0;
  for (size_t e = 0; e < a.size(); ++e)
    same += a[e] == b[e];
  return same / double(a.size());
}

TEST(PhiloxTest, MaskChangesWithSeedOffsetAndPosition) {
  const int64_t rows = 128, cols = 512;
  const uint64_t seed = 1234567, offset = 89;
  auto mask = [&](uint64_t s, uint64_t o, int64_t b, int64_t h, int64_t i0,
                  int64_t j0) {
    return keepMask(s, o, 0.5f, b, h, i0, j0, rows, cols);
  };
  std::vector<bool> base = mask(seed, offset, 0, 1, 0, 0);
  EXPECT_EQ(agreement(base, mask(seed, offset, 0, 1, 0, 0)), 1.0);
  // Six standard deviations of the agreement of independent masks.
  const double bound = 6 * 0.5 / std::sqrt(double(rows * cols));
  std::vector<std::vector<bool>> others = {
      mask(seed + 1, offset, 0, 1, 0, 0),
      mask(seed + (uint64_t(1) << 32), offset, 0, 1, 0, 0), // seed's high word
      mask(seed, offset + 1, 0, 1, 0, 0),
      mask(seed, offset, 1, 1, 0, 0), // batch
      mask(seed, offset, 0, 2, 0, 0), // head
      mask(seed, offset, 0, 1, 1, 0), // query position
      mask(seed, offset, 0, 1, 0, 1), // key position: another word
      mask(seed, offset, 0, 1, 0, 4), // key position: another counter
  };
  for (size_t c = 0; c < others.size(); ++c)
    EXPECT_NEAR(agreement(base, others[c]), 0.5, bound) << "case " << c;
}

} // namespace
