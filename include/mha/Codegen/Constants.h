//===- Constants.h - Numbers the code generators share ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_CONSTANTS_H
#define MHA_CODEGEN_CONSTANTS_H

#include <cstdint>

namespace mlir::mha {

/// log2(e) and ln(2): the kernels compute softmax in base 2.
inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

/// Largest head dim (D or Dv) of the CPU pipeline: rows of the head dims
/// live in vector registers and the work item's scratch.
inline constexpr int64_t kMaxCpuHeadDim = 1024;

/// The cache line of the CPUs we target (x86-64, AArch64): the unit of the
/// software prefetches.
inline constexpr int64_t kCacheLineBytes = 64;

/// Largest head dim of the GPU kernels (O accumulators and Q fragments live
/// in registers).
inline constexpr int64_t kMaxGpuHeadDim = 256;

} // namespace mlir::mha

#endif // MHA_CODEGEN_CONSTANTS_H
