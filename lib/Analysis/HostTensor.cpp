//===- HostTensor.cpp - Host tensors for calling generated libraries ------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HostTensor.h"

#include "mha/Reference/AttentionReference.h"
#include "mha/Runtime/Callers.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace mlir::mha::analysis;
using namespace mlir::mha::reference;

const char *mlir::mha::analysis::getElementKindName(ElementKind kind) {
  switch (kind) {
  case ElementKind::f32:
    return "f32";
  case ElementKind::f16:
    return "f16";
  case ElementKind::bf16:
    return "bf16";
  case ElementKind::i8:
    return "i8";
  }
  return "?";
}

HostTensor::HostTensor(ElementKind kind, std::vector<int64_t> shape)
    : kind(kind), shape(std::move(shape)) {
  allocate();
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  return n;
}

void HostTensor::allocate() { bytes.assign(numElements() * elementBytes(), 0); }

std::vector<double> HostTensor::store(const std::vector<double> &values) {
  std::vector<double> stored(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    if (kind == ElementKind::f32) {
      std::memcpy(&bytes[4 * i], &f, 4);
      stored[i] = f;
      continue;
    }
    if (kind == ElementKind::i8) {
      double q = std::clamp(std::nearbyint(values[i]), -127.0, 127.0);
      bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(q));
      stored[i] = q;
      continue;
    }
    bool bf16 = kind == ElementKind::bf16;
    uint16_t bits = bf16 ? floatToBFloat(f) : floatToHalf(f);
    std::memcpy(&bytes[2 * i], &bits, 2);
    stored[i] = bf16 ? bfloatToFloat(bits) : halfToFloat(bits);
  }
  return stored;
}

std::vector<double> HostTensor::load() const {
  std::vector<double> values(numElements());
  for (size_t i = 0; i < values.size(); ++i) {
    if (kind == ElementKind::f32) {
      float f;
      std::memcpy(&f, &bytes[4 * i], 4);
      values[i] = f;
      continue;
    }
    if (kind == ElementKind::i8) {
      values[i] = static_cast<int8_t>(bytes[i]);
      continue;
    }
    uint16_t bits;
    std::memcpy(&bits, &bytes[2 * i], 2);
    values[i] =
        kind == ElementKind::bf16 ? bfloatToFloat(bits) : halfToFloat(bits);
  }
  return values;
}

DLTensor *HostTensor::getDLTensor() {
  tensor.data = bytes.data();
  tensor.device = {kDLCPU, 0};
  tensor.ndim = static_cast<int>(shape.size());
  tensor.dtype.code = kind == ElementKind::bf16 ? kDLBfloat
                      : kind == ElementKind::i8 ? kDLInt
                                                : kDLFloat;
  tensor.dtype.bits = static_cast<uint8_t>(8 * elementBytes());
  tensor.dtype.lanes = 1;
  tensor.shape = shape.data();
  tensor.strides = nullptr;
  tensor.byte_offset = 0;
  return &tensor;
}

mha_status
mlir::mha::analysis::callExported(void *fn, const std::vector<DLTensor *> &args,
                                  const mha_options *opts) {
  using namespace ::mha::callers;
  if (args.empty() || args.size() > size_t(kMaxTensors))
    return MHA_ERR_INTERNAL;
  // The callee only reads the pointers.
  return static_cast<mha_status>(
      kCallers[args.size()](fn, const_cast<DLTensor **>(args.data()), opts));
}

mha_status
mlir::mha::analysis::timeExported(void *fn, const std::vector<DLTensor *> &args,
                                  const mha_options *opts, int warmups,
                                  int calls, std::vector<double> &times) {
  times.clear();
  for (int i = 0; i < warmups + calls; ++i) {
    auto start = std::chrono::steady_clock::now();
    mha_status status = callExported(fn, args, opts);
    std::chrono::duration<double, std::milli> ms =
        std::chrono::steady_clock::now() - start;
    if (status != MHA_OK)
      return status;
    if (i >= warmups)
      times.push_back(ms.count());
  }
  std::sort(times.begin(), times.end());
  return MHA_OK;
}
