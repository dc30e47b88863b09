//===- GradImportance.cpp - Gradient-based head importance ----------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "GradImportance.h"

#include "mha/Analysis/HostTensor.h"
#include "mha/Analysis/Npy.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstring>
#include <random>

using namespace mlir::mha::analysis;

/// The elements of a float .npy array as float64.
static std::optional<std::vector<double>> loadFloats(const NpyArray &array) {
  std::vector<double> values(array.numElements());
  if (array.descr == "<f8") {
    std::memcpy(values.data(), array.data.data(), values.size() * 8);
    return values;
  }
  if (array.descr != "<f4" && array.descr != "<f2")
    return std::nullopt;
  HostTensor t(array.descr == "<f2" ? ElementKind::f16 : ElementKind::f32,
               array.shape);
  t.bytes = array.data;
  return t.load();
}

std::optional<std::string> mlir::mha::analysis::readOutputGradient(
    const std::string &path, const std::vector<int64_t> &shape,
    const std::string &what, OutputGradient &gradient) {
  NpyArray array;
  std::string error;
  if (!readNpy(path, array, error))
    return error;
  if (array.shape != shape)
    return llvm::formatv("'{0}': shape {1} does not match {2} (expected {3})",
                         path, formatNpyShape(array.shape), what,
                         formatNpyShape(shape))
        .str();
  std::optional<std::vector<double>> values = loadFloats(array);
  if (!values)
    return llvm::formatv("'{0}': dtype '{1}' is not a float type (expected "
                         "'<f2', '<f4' or '<f8')",
                         path, array.descr)
        .str();
  gradient.values = std::move(*values);
  gradient.source = path;
  gradient.proxy = false;
  return std::nullopt;
}

OutputGradient
mlir::mha::analysis::makeProxyGradient(const std::vector<int64_t> &shape,
                                       unsigned seed, const std::string &name) {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  OutputGradient g;
  g.values.resize(n);
  std::mt19937 rng(seed + 1);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (double &r : g.values)
    r = static_cast<float>(normal(rng));
  g.source = llvm::formatv("proxy loss sum(R * {0}), R standard normal, "
                           "seed {1}",
                           name, seed + 1)
                 .str();
  g.proxy = true;
  return g;
}

bool mlir::mha::analysis::writeProxyGradient(const std::string &path,
                                             const std::vector<int64_t> &shape,
                                             const OutputGradient &gradient,
                                             std::string &error) {
  std::vector<float> f(gradient.values.begin(), gradient.values.end());
  return writeNpy(path, "<f4", shape, f.data(), f.size() * sizeof(float),
                  error);
}

double mlir::mha::analysis::computeGateImportance(
    const std::vector<double> &gradient, const std::vector<double> &output,
    const std::vector<double> &without, int64_t batch) {
  if (batch <= 0)
    return 0.0;
  size_t slice = output.size() / batch;
  double sum = 0.0;
  for (int64_t b = 0; b < batch; ++b) {
    double gate = 0.0;
    for (size_t e = b * slice; e < (b + 1) * slice; ++e)
      gate += gradient[e] * (output[e] - without[e]);
    sum += std::abs(gate);
  }
  return sum / batch;
}

std::vector<double> mlir::mha::analysis::normalizeImportance(
    const std::vector<double> &importance) {
  double norm = 0.0;
  for (double v : importance)
    norm += v * v;
  norm = std::sqrt(norm);
  std::vector<double> result(importance.size(), 0.0);
  if (norm > 0)
    for (size_t h = 0; h < importance.size(); ++h)
      result[h] = importance[h] / norm;
  return result;
}
