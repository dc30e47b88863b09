//===- HostTensor.cpp - Host tensors for calling generated libraries ------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HostTensor.h"

#include "mha/Reference/AttentionReference.h"

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
  tensor.dtype.code = kind == ElementKind::bf16 ? kDLBfloat : kDLFloat;
  tensor.dtype.bits = kind == ElementKind::f32 ? 32 : 16;
  tensor.dtype.lanes = 1;
  tensor.shape = shape.data();
  tensor.strides = nullptr;
  tensor.byte_offset = 0;
  return &tensor;
}

mha_status
mlir::mha::analysis::callExported(void *fn, const std::vector<DLTensor *> &args,
                                  const mha_options *opts) {
  using T = DLTensor *;
  using O = const mha_options *;
  const std::vector<DLTensor *> &a = args;
  switch (args.size()) {
  case 2:
    return reinterpret_cast<mha_status (*)(T, T, O)>(fn)(a[0], a[1], opts);
  case 3:
    return reinterpret_cast<mha_status (*)(T, T, T, O)>(fn)(a[0], a[1], a[2],
                                                            opts);
  case 4:
    return reinterpret_cast<mha_status (*)(T, T, T, T, O)>(fn)(a[0], a[1], a[2],
                                                               a[3], opts);
  case 5:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, O)>(fn)(
        a[0], a[1], a[2], a[3], a[4], opts);
  case 6:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, O)>(fn)(
        a[0], a[1], a[2], a[3], a[4], a[5], opts);
  case 7:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, O)>(fn)(
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], opts);
  case 8:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, T, O)>(fn)(
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], opts);
  case 9:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, T, T, O)>(fn)(
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], opts);
  case 10:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, T, T, T, O)>(
        fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], opts);
  case 11:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, T, T, T, T, O)>(
        fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
            opts);
  case 12:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, T, T, T, T, T,
                                           O)>(fn)(a[0], a[1], a[2], a[3], a[4],
                                                   a[5], a[6], a[7], a[8], a[9],
                                                   a[10], a[11], opts);
  case 13:
    return reinterpret_cast<mha_status (*)(T, T, T, T, T, T, T, T, T, T, T, T,
                                           T, O)>(fn)(
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
        a[11], a[12], opts);
  default:
    return MHA_ERR_INTERNAL;
  }
}
