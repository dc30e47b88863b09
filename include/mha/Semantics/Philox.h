//===- Philox.h - Philox4x32-10 and the dropout keep rule -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The counter-based generator of head-specific dropout (docs/language.md,
// 6.7): Random123's philox4x32_10(ctr, key) (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11), written with plain 32- and 64-bit
// integer operations only (the high half of a 32x32 product is taken from a
// 64-bit product), so that the code generators can mirror it op for op and
// the float64 reference and the kernels draw the same bits.
//
// Which keys dropout keeps, for batch b, query head h of Hq, query i, key j:
//
//   key     = (seed mod 2^32, seed div 2^32)
//   counter = (j div 4, i, b * Hq + h, offset mod 2^32)
//   u       = philox4x32_10(counter, key)[j mod 4]
//   keep    = u >= floor(p[h] * 2^32)   (in double, from the f32 value p[h])
//
// Counter words wrap modulo 2^32. One Philox call serves four consecutive
// keys of a row.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_SEMANTICS_PHILOX_H
#define MHA_SEMANTICS_PHILOX_H

#include <array>
#include <cstdint>

namespace mlir::mha {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

/// Random123's multipliers and Weyl key increments for philox4x32.
inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
inline constexpr int kPhiloxRounds = 10;

/// One Philox round (Random123's _philox4x32round).
constexpr PhiloxCounter philoxRound(const PhiloxCounter &c,
                                    const PhiloxKey &key) {
  uint64_t product0 = uint64_t(kPhiloxM0) * c[0];
  uint64_t product1 = uint64_t(kPhiloxM1) * c[2];
  uint32_t hi0 = uint32_t(product0 >> 32), lo0 = uint32_t(product0);
  uint32_t hi1 = uint32_t(product1 >> 32), lo1 = uint32_t(product1);
  return {hi1 ^ c[1] ^ key[0], lo1, hi0 ^ c[3] ^ key[1], lo0};
}

/// Random123's philox4x32_10(ctr, key): ten rounds, the key bumped by the
/// Weyl increments before every round but the first.
constexpr PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      key[0] += kPhiloxW0;
      key[1] += kPhiloxW1;
    }
    counter = philoxRound(counter, key);
  }
  return counter;
}

/// The drop threshold of probability p: floor(p * 2^32), evaluated in double
/// from the f32 attribute value (exact: a float times a power of two). It
/// fits in 32 bits for 0 <= p < 1; p = 0 gives 0, which keeps every key.
constexpr uint64_t dropoutThreshold(float p) {
  // The conversion truncates, which is floor for the non-negative values
  // the verifier allows (anything else, NaN included, keeps every key).
  return !(p > 0.0f) ? 0 : uint64_t(double(p) * 4294967296.0);
}

/// The Philox counter of key j of query i, head h, batch b (the header
/// comment's formula); key j uses word j mod 4 of the result.
constexpr PhiloxCounter dropoutCounter(uint64_t offset, int64_t b, int64_t Hq,
                                       int64_t h, int64_t i, int64_t j) {
  return {uint32_t(uint64_t(j) / 4), uint32_t(i), uint32_t(b * Hq + h),
          uint32_t(offset)};
}

/// The uniform 32-bit word that decides whether key j is dropped.
constexpr uint32_t dropoutRandomWord(uint64_t seed, uint64_t offset, int64_t b,
                                     int64_t Hq, int64_t h, int64_t i,
                                     int64_t j) {
  PhiloxKey key = {uint32_t(seed), uint32_t(seed >> 32)};
  return philox4x32_10(dropoutCounter(offset, b, Hq, h, i, j),
                       key)[uint64_t(j) % 4];
}

/// Whether dropout with probability p (head h's f32 value) keeps key j for
/// query i of head h (of Hq query heads) in batch b.
constexpr bool dropoutKeeps(uint64_t seed, uint64_t offset, float p, int64_t b,
                            int64_t Hq, int64_t h, int64_t i, int64_t j) {
  return dropoutRandomWord(seed, offset, b, Hq, h, i, j) >= dropoutThreshold(p);
}

} // namespace mlir::mha

#endif // MHA_SEMANTICS_PHILOX_H
