//===- GradImportance.h - Gradient-based head importance --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Michel et al. 2019 ("Are Sixteen Heads Really Better than One?"): a gate
// xi_h multiplies head h's output, and the head's importance is the
// magnitude of dL/dxi_h at xi = 1, averaged over the examples:
//
//   I_h = 1/B sum_b | sum_{rows, columns of batch element b}
//                     G[b, ...] * dOut_h[b, ...] |
//
// with G = dL/dOut (dout.npy for an attention function's o, dy.npy for a
// layer's y, or the proxy loss L = sum R * Out with R seeded standard
// normal, so G = R) and dOut_h = dOut/dxi_h: head h's part of the output.
// The output is linear in each gate (o_h = xi_h * attention_h; a layer's
// y = sum_h xi_h o_h Wo_h + bo), so dOut_h = Out(xi_h = 1) - Out(xi_h = 0)
// exactly, and Out(xi_h = 0) is the output with head h ablated through the
// run-time head mask, which mha-analyze computes anyway for the ablation
// importance. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_TOOLS_MHA_ANALYZE_GRADIMPORTANCE_H
#define MHA_TOOLS_MHA_ANALYZE_GRADIMPORTANCE_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// dL/dOut, compact row-major in the output's shape, and where it came from.
struct OutputGradient {
  std::vector<double> values;
  /// "dout.npy" / "dy.npy" (the file's path) or the proxy's description.
  std::string source;
  bool proxy = false;
};

/// Reads the gradient from the .npy file `path` (<f2, <f4 or <f8), which
/// must have exactly `shape`. The error names the file and the expected
/// shape; `what` names the output ("the attention output o").
std::optional<std::string> readOutputGradient(const std::string &path,
                                              const std::vector<int64_t> &shape,
                                              const std::string &what,
                                              OutputGradient &gradient);

/// The proxy gradient: R of `shape`, standard normal from std::mt19937
/// seeded with `seed` + 1 (the inputs use `seed`), rounded to f32 so that
/// the copy written by writeProxyGradient is exact.
OutputGradient makeProxyGradient(const std::vector<int64_t> &shape,
                                 unsigned seed, const std::string &name);

/// Writes `gradient` as a <f4 .npy file of `shape`; false and `error` on
/// failure.
bool writeProxyGradient(const std::string &path,
                        const std::vector<int64_t> &shape,
                        const OutputGradient &gradient, std::string &error);

/// 1/B sum_b |sum G[b] * (output[b] - without[b])| over the `batch` equal
/// slices (batch element first) of the compact arrays.
double computeGateImportance(const std::vector<double> &gradient,
                             const std::vector<double> &output,
                             const std::vector<double> &without, int64_t batch);

/// `importance` divided by its L2 norm over the heads (all 0 when it is 0).
std::vector<double> normalizeImportance(const std::vector<double> &importance);

} // namespace mlir::mha::analysis

#endif // MHA_TOOLS_MHA_ANALYZE_GRADIMPORTANCE_H
