//===- KernelChoice.h - The shape of the GPU kernels ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to convert-mha-to-nvvm: what an exported function's attention is
// (KernelSpec) and the kernels chosen for it: the portable one, the
// split-KV one for decoding, and the sm_90a one, each tiled so that no
// variant spills registers (test/Target/NVPTX/variants.test) and as fast
// as the measurements in docs/gpu-runs found.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_KERNELCHOICE_H
#define MHA_LIB_CONVERSION_MHATONVVM_KERNELCHOICE_H

#include "FlashKernel.h"

#include "mha/Codegen/EntryPoint.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include <optional>

namespace mlir::mha {

/// The function's attention: its shapes and variant.
struct KernelSpec {
  AttentionOp attention;
  AttentionShape shape;
  AttentionVariant variant;
  Type elementType;

  int64_t maxDim() const { return std::max(shape.headDim, shape.valueDim); }
  /// ALiBi and softcap keep more values live per score.
  bool heavyScores() const {
    return variant.hasAlibi || variant.softcap.has_value();
  }
  bool masks() const {
    return variant.causal || variant.hasWindows() || variant.sinkTokens;
  }
};

/// The pass's options that shape the kernels (0: chosen per spec).
struct KernelTuning {
  int64_t warps = 4, rowTiles = 0, keysPerTile = 0;
  bool packGqa = true, sm90a = false;
  int64_t sm90aKeysPerTile = 0, sm90aWarpgroups = 0;
};

/// The portable kernel: tiles that fit the registers of every variant,
/// with `rowTilesPerWarp` (0: the option's or the best for the head dims).
FlashKernelConfig choosePortableConfig(const KernelSpec &spec,
                                       const KernelTuning &tuning,
                                       int64_t rowTilesPerWarp = 0);
/// The split-KV kernel, where a call can have keys to split.
std::optional<FlashKernelConfig> chooseSplitConfig(const KernelSpec &spec,
                                                   const KernelTuning &tuning);
/// The sm_90a kernel, where the head dims and shared memory allow one.
std::optional<FlashKernelConfig>
chooseSm90aConfig(const KernelSpec &spec, const KernelTuning &tuning,
                  const FlashKernelConfig &portable);

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_KERNELCHOICE_H
