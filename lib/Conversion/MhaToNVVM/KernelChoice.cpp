//===- KernelChoice.cpp - The shape of the GPU kernels ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "KernelChoice.h"

#include "mha/Runtime/GpuAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "convert-mha-to-nvvm"

using namespace mlir;
using namespace mlir::mha;

namespace {
/// Dynamic shared memory every sm_90 GPU gives a block.
constexpr int64_t kMaxSm90aSharedBytes = 227 * 1024;
} // namespace

/// GQA packing: query heads of one KV group per block.
static int64_t choosePackedHeads(const KernelSpec &spec,
                                 const KernelTuning &tuning,
                                 const FlashKernelConfig &config) {
  // The query heads of a KV group share one block's K/V tiles, which
  // matters when few query rows fill the block (decoding). Only groups
  // whose heads see the same windows are packed, so a local head keeps
  // costing what its window costs.
  const AttentionVariant &variant = spec.variant;
  int64_t group = variant.groupSize();
  bool uniformWindows = true;
  for (int64_t h = 0; h < variant.numQueryHeads; ++h) {
    int64_t first = h - h % group;
    uniformWindows &= variant.windowLeft(h) == variant.windowLeft(first) &&
                      variant.windowRight(h) == variant.windowRight(first);
  }
  int64_t rowTiles = config.warps * config.rowTilesPerWarp, heads = 1;
  while (tuning.packGqa && uniformWindows && group % (2 * heads) == 0 &&
         rowTiles % (2 * heads) == 0)
    heads *= 2;
  return heads;
}

FlashKernelConfig mlir::mha::choosePortableConfig(const KernelSpec &spec,
                                                  const KernelTuning &tuning,
                                                  int64_t rowTilesPerWarp) {
  FlashKernelConfig config;
  config.headDim = spec.shape.headDim;
  config.valueDim = spec.shape.valueDim;
  // Tensor cores multiply f16/bf16; f32 specs are rounded to bf16 (f32
  // range, 8-bit mantissa) when staged into shared memory, and accumulate
  // in f32 like the others.
  config.elementType = spec.elementType.isF32()
                           ? BFloat16Type::get(spec.elementType.getContext())
                           : spec.elementType;
  config.warps = tuning.warps;
  // Two row tiles per warp halve the shared-memory reads per MMA; their
  // accumulators only fit in registers up to head dim 128.
  int64_t maxDim = spec.maxDim();
  config.rowTilesPerWarp = rowTilesPerWarp   ? rowTilesPerWarp
                           : tuning.rowTiles ? tuning.rowTiles
                           : maxDim <= 128   ? 2
                                             : 1;
  // Key tiles: S holds rowTiles x cols / 2 registers per thread, and the
  // masked path (causal, windows, sinks) and ALiBi/softcap keep more values
  // live. The choice keeps every variant free of spills (ptxas -v over all
  // of scripts/gpu/cases.py in test/Target/NVPTX/variants.test).
  int64_t cols;
  if (config.rowTilesPerWarp == 1)
    cols = maxDim <= 128 ? 64 : spec.heavyScores() ? 16 : 32;
  else if (maxDim <= 64)
    cols = !spec.heavyScores() && !spec.masks() ? 64 : 32;
  else
    cols = spec.variant.hasWindows() ? 16 : 32;
  config.cols = tuning.keysPerTile ? tuning.keysPerTile : cols;
  config.headsPerBlock = choosePackedHeads(spec, tuning, config);
  return config;
}

std::optional<FlashKernelConfig>
mlir::mha::chooseSplitConfig(const KernelSpec &spec,
                             const KernelTuning &tuning) {
  // A cache of a static length too short for two parts never splits.
  int64_t capacity = spec.shape.key.getDimSize(2);
  if (!AttentionOp(spec.attention).getBlockTable() &&
      !ShapedType::isDynamic(capacity) && capacity < 2 * MHA_GPU_SPLIT_MIN_KEYS)
    return std::nullopt;
  // Split calls have few query rows (decoding): one row tile per warp
  // wastes fewer MMAs on padding rows, and packed GQA heads fill them.
  FlashKernelConfig split =
      choosePortableConfig(spec, tuning, /*rowTilesPerWarp=*/1);
  split.splitKeys = true;
  // 64-key tiles spill with the masked path or ALiBi and softcap when GQA
  // heads are packed (test/Target/NVPTX/variants.test).
  if (!tuning.keysPerTile && split.cols > 32 &&
      (spec.masks() || spec.heavyScores()))
    split.cols = 32;
  // Packed sequences keep their offsets live beside them: 16-key tiles.
  AttentionOp attention = spec.attention;
  if (!tuning.keysPerTile &&
      (attention.getCuSeqlensQ() || attention.getCuSeqlensK()))
    split.cols = 16;
  return split;
}

std::optional<FlashKernelConfig>
mlir::mha::chooseSm90aConfig(const KernelSpec &spec, const KernelTuning &tuning,
                             const FlashKernelConfig &portable) {
  [[maybe_unused]] StringRef name =
      cast<func::FuncOp>(spec.attention->getParentOp()).getSymName();
  if (!tuning.sm90a)
    return std::nullopt;
  if (spec.shape.headDim % 64 != 0 || spec.shape.valueDim % 64 != 0) {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE << ": no sm_90a kernel for @" << name
                            << ": head dims " << spec.shape.headDim << " and "
                            << spec.shape.valueDim
                            << " are not both multiples of 64 (wgmma atoms)\n");
    return std::nullopt;
  }
  // Warpgroups of 4 warps x 16 rows.
  FlashKernelConfig hopper = portable;
  hopper.warpgroupMma = true;
  hopper.rowTilesPerWarp = 1;
  // Measured on an H200 (docs/gpu-runs/h200-s3-tune*): two warpgroups
  // up to head dim 128, with 256-key tiles at head dim 64 (+11% over 128
  // keys; masked specs spill with them and keep 128) and 128-key tiles at
  // 128; one warpgroup above.
  int64_t maxDim = spec.maxDim();
  hopper.warps = 4 * (tuning.sm90aWarpgroups ? tuning.sm90aWarpgroups
                      : maxDim <= 128        ? 2
                                             : 1);
  hopper.pad = 0;
  hopper.headsPerBlock = choosePackedHeads(spec, tuning, hopper);
  // K and V by TMA with a producer warp, where the tensors hold the MMA
  // element type (f32 specs are rounded on the way, by the consumers).
  // (Not from page pools: a tile's keys lie on several pages; nor from
  // packed keys, whose sequences start on any row.)
  AttentionOp attention = spec.attention;
  hopper.tmaLoads = !spec.elementType.isF32() && hopper.warps == 8 &&
                    !attention.getBlockTable() && !attention.getCuSeqlensK();
  // S (cols / 2 f32) and O (Dv / 2 f32) per thread; the masked path and
  // ALiBi/softcap keep more values live (no spills over the check's
  // variants, test/Target/NVPTX/variants.test).
  bool heavy = spec.heavyScores(), masks = spec.masks();
  if (tuning.sm90aKeysPerTile)
    hopper.cols = tuning.sm90aKeysPerTile;
  else if (maxDim <= 64)
    hopper.cols = heavy || masks ? 128 : 256;
  else if (maxDim <= 128)
    hopper.cols = heavy ? 64 : 128;
  else
    hopper.cols = heavy || masks ? 32 : 64;
  // Packed sequences keep their offsets live beside S and O.
  if (!tuning.sm90aKeysPerTile &&
      (attention.getCuSeqlensQ() || attention.getCuSeqlensK()))
    hopper.cols = std::min<int64_t>(hopper.cols, 64);
  int64_t sharedBytes = getFlashKernelSharedBytes(hopper);
  if (sharedBytes > kMaxSm90aSharedBytes) {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE << ": no sm_90a kernel for @" << name
                            << ": it would need " << sharedBytes
                            << " bytes of shared memory\n");
    return std::nullopt;
  }
  return hopper;
}
