//===- Report.h - metrics.json and report.html of mha-analyze ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_TOOLS_MHA_ANALYZE_REPORT_H
#define MHA_TOOLS_MHA_ANALYZE_REPORT_H

#include "mha/Analysis/HeadMetrics.h"

#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// Everything mha-analyze reports about one function.
struct FunctionAnalysis {
  std::string name;
  std::string variant;     // "GQA causal windows"
  std::string elementType; // "f16"
  std::string inputs;      // where the inputs came from
  int64_t batch = 1, queryHeads = 1, kvHeads = 1, queryLen = 1, keyLen = 1,
          headDim = 1, valueDim = 1;
  /// Per head: its KV head, windows (-1 unbounded) and static pruning.
  std::vector<int64_t> kvHead, windowLeft, windowRight;
  std::vector<bool> pruned;
  std::vector<HeadMetrics> heads;
  /// Per head: the gradient importance of GradImportance.h, raw and divided
  /// by its L2 norm over the heads; where dL/dOut came from (a path or the
  /// proxy loss) and, for the proxy, the file it was written to; the
  /// output it is the gradient of ("o", or "y" for a layer).
  std::vector<double> gradImportance, gradImportanceNormalized;
  std::string gradientSource, gradientFile, gradientOf;
  /// Queries/keys per cell side of head_<h>.png and of heatmaps.png.
  int64_t headFactor = 1, gridFactor = 1;
  /// The lowest probability of the colour scale.
  double scaleLow = 1e-3;
  /// --prune: the heads the plan prunes (besides those pruned already), the
  /// measure that ranked them, the relative change of the output with them
  /// ablated, and the function's time before and after recompiling it with
  /// them pruned (ms, median of `pruneCalls` calls each).
  struct PrunePlan {
    std::vector<int64_t> heads;
    std::string rankedBy;
    double outputChange = 0.0;
    double originalMs = 0.0, prunedMs = 0.0;
    int64_t calls = 0;
  };
  std::optional<PrunePlan> prune;
};

/// Writes metrics.json (README.md, "Head analysis").
llvm::Error writeMetricsJson(const std::string &path,
                             const FunctionAnalysis &analysis);

/// Writes a function's report.html; its images are beside it.
llvm::Error writeFunctionReport(const std::string &path,
                                const FunctionAnalysis &analysis);

/// Writes OUT/report.html linking the functions' folders (named after
/// them), and listing the functions that were skipped with the reason.
llvm::Error writeIndexReport(
    const std::string &path, const std::vector<FunctionAnalysis> &analyses,
    const std::vector<std::pair<std::string, std::string>> &skipped);

} // namespace mlir::mha::analysis

#endif // MHA_TOOLS_MHA_ANALYZE_REPORT_H
