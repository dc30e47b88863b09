//===- HostTensor.cpp - Host tensors for calling generated libraries ------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HostTensor.h"

#include "mha/Reference/AttentionReference.h"

#include <array>
#include <cstring>
#include <utility>

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

namespace {

/// The most tensors callExported passes (a low-rank layer with every bias
/// and every extra result has 18).
constexpr size_t kMaxTensors = 32;

template <size_t... I>
mha_status callWith(void *fn, DLTensor *const *t, const mha_options *o,
                    std::index_sequence<I...>) {
  using Fn = mha_status (*)(decltype((void)I, (DLTensor *)nullptr)...,
                            const mha_options *);
  return reinterpret_cast<Fn>(fn)(t[I]..., o);
}

template <size_t... N> constexpr auto makeCallers(std::index_sequence<N...>) {
  using Caller = mha_status (*)(void *, DLTensor *const *, const mha_options *);
  return std::array<Caller, sizeof...(N)>{
      +[](void *fn, DLTensor *const *t, const mha_options *o) {
        return callWith(fn, t, o, std::make_index_sequence<N>());
      }...};
}

/// kCallers[n] calls a function of n tensors.
constexpr auto kCallers =
    makeCallers(std::make_index_sequence<kMaxTensors + 1>());

} // namespace

mha_status
mlir::mha::analysis::callExported(void *fn, const std::vector<DLTensor *> &args,
                                  const mha_options *opts) {
  if (args.empty() || args.size() > kMaxTensors)
    return MHA_ERR_INTERNAL;
  return kCallers[args.size()](fn, args.data(), opts);
}
