//===- HostTensor.h - Host tensors for the libraries ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// What the tools that call a library made by mha-compile share (mha-run,
// mha-analyze): a compact [B, H, L, D] tensor that owns its bytes and lends
// them as a DLTensor, conversions to and from float64, and the call of an
// exported function through its address. Plain C++ on mha/runtime.h.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_ANALYSIS_HOSTTENSOR_H
#define MHA_ANALYSIS_HOSTTENSOR_H

#include "mha/runtime.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// Element types of spec tensors (i8: a quantized KV cache).
enum class ElementKind { f32, f16, bf16, i8 };

/// "f32", "f16", "bf16" or "i8".
const char *getElementKindName(ElementKind kind);

/// A compact row-major tensor in host memory.
struct HostTensor {
  ElementKind kind = ElementKind::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  HostTensor() = default;
  HostTensor(ElementKind kind, std::vector<int64_t> shape);

  int64_t numElements() const;
  size_t elementBytes() const {
    return kind == ElementKind::f32 ? 4 : kind == ElementKind::i8 ? 1 : 2;
  }
  /// Sets the size for `shape` and zeroes the bytes.
  void allocate();
  /// Stores `values` rounded to the element type (i8: to nearest, ties to
  /// even, clamped to [-127, 127]); returns what was stored.
  std::vector<double> store(const std::vector<double> &values);
  std::vector<double> load() const;
  /// The f32 elements (kind must be f32).
  const float *f32Data() const {
    return reinterpret_cast<const float *>(bytes.data());
  }
  /// A DLTensor on this storage (valid while the tensor is neither resized
  /// nor moved).
  DLTensor *getDLTensor();

private:
  DLTensor tensor{};
};

/// Calls an exported `mha_status fn(DLTensor *x N, const mha_options *)`
/// with N = args.size() tensor pointers (1 to 32); MHA_ERR_INTERNAL for
/// another count.
mha_status callExported(void *fn, const std::vector<DLTensor *> &args,
                        const mha_options *opts);

/// Calls `fn` on `args` `warmups + calls` times and puts the milliseconds of
/// the last `calls` into `times`, sorted; stops at the first failing call
/// and returns its status.
mha_status timeExported(void *fn, const std::vector<DLTensor *> &args,
                        const mha_options *opts, int warmups, int calls,
                        std::vector<double> &times);

} // namespace mlir::mha::analysis

#endif // MHA_ANALYSIS_HOSTTENSOR_H
