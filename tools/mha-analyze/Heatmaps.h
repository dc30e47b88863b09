//===- Heatmaps.h - Attention heatmaps drawn with Cairo ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-analyze's pictures: one heatmap per head (queries top to bottom, keys
// left to right) on a log10 colour scale (viridis), with a colour bar, and a
// grid of all heads.
//
// Geometry (the tests check it). A head's [Lq, Lk] probabilities are
// averaged over f x f blocks, f = ceil(max(Lq, Lk) / maxCells) (partial blocks
// at the edges average what they hold), giving rows = ceil(Lq / f) by
// cols = ceil(Lk / f) cells, each drawn as zoom x zoom pixels with
// zoom = max(1, target / max(rows, cols)). With W = cols * zoom and
// H = rows * zoom:
//   head_<h>.png  (maxCells 512, target 256): W + 96 by max(H, 128) + 32
//   heatmaps.png  (maxCells 256, target 160), n heads in nc = ceil(sqrt(n))
//                 columns and nr = ceil(n / nc) rows:
//                 8 + nc * (W + 8) + 80 by 32 + max(nr * (H + 24), 152) + 8
//
//===----------------------------------------------------------------------===//

#ifndef MHA_TOOLS_MHA_ANALYZE_HEATMAPS_H
#define MHA_TOOLS_MHA_ANALYZE_HEATMAPS_H

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// One head's probabilities, block-averaged.
struct Heatmap {
  int64_t rows = 0, cols = 0;
  /// Queries and keys per cell side.
  int64_t factor = 1;
  /// Pixels per cell side.
  int64_t zoom = 1;
  std::vector<double> cells; // rows x cols
};

/// Averages `probs` ([queryLen, keyLen], row-major) into at most maxCells x
/// maxCells cells and picks the zoom for `target` pixels.
Heatmap downsample(const float *probs, int64_t queryLen, int64_t keyLen,
                   int64_t maxCells, int64_t target);

/// The lowest probability of the colour scale for `keyLen` keys: the power
/// of ten at or below 0.1 / keyLen (a tenth of a uniform row).
double getScaleLow(int64_t keyLen);

/// Writes one head's picture with its title and a colour bar from `low`
/// to 1. Returns false and sets `error` on failure.
bool writeHeadPng(const std::string &path, const Heatmap &map,
                  const std::string &title, double low, std::string &error);

/// Writes the grid of every head ("head h" above each) with one colour bar.
bool writeGridPng(const std::string &path, const std::vector<Heatmap> &maps,
                  const std::string &title, double low, std::string &error);

} // namespace mlir::mha::analysis

#endif // MHA_TOOLS_MHA_ANALYZE_HEATMAPS_H
