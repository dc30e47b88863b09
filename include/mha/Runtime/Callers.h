//===- Callers.h - Calling an exported function of any arity ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// An exported mha function takes N `DLTensor *` then `const mha_options *`.
// kCallers[N] calls one through a pointer, for N up to kMaxTensors: for the
// programs that call generated libraries they did not link against (the
// Python extension, the JAX FFI handler, mha-run and mha-analyze through
// callExported). Header-only C++, beside the C runtime headers.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_RUNTIME_CALLERS_H
#define MHA_RUNTIME_CALLERS_H

#include "mha/runtime.h"

#include <array>
#include <cstddef>
#include <utility>

namespace mha::callers {

/// The most tensors one exported function takes (a layer backward with
/// every bias has 20, a low-rank layer with its analysis results 14).
constexpr int kMaxTensors = 32;

using TensorPtr = DLTensor *;

/// Calls `fn` (N DLTensor pointers, then the options) with a fixed arity.
template <size_t... I>
int callWith(void *fn, TensorPtr *t, const mha_options *o,
             std::index_sequence<I...>) {
  using Fn = int (*)(decltype((void)I, TensorPtr())..., const mha_options *);
  return reinterpret_cast<Fn>(fn)(t[I]..., o);
}

template <size_t... N> constexpr auto makeTable(std::index_sequence<N...>) {
  using Caller = int (*)(void *, TensorPtr *, const mha_options *);
  return std::array<Caller, sizeof...(N)>{
      +[](void *fn, TensorPtr *t, const mha_options *o) {
        return callWith(fn, t, o, std::make_index_sequence<N>());
      }...};
}

/// kCallers[n](fn, tensors, options) calls `fn` with n tensors.
constexpr auto kCallers =
    makeTable(std::make_index_sequence<kMaxTensors + 1>());

} // namespace mha::callers

#endif // MHA_RUNTIME_CALLERS_H
