//===- Pipelines.h - The mha pass pipelines ---------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_PIPELINES_PIPELINES_H
#define MHA_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::mha {

struct MhaCpuPipelineOptions
    : public PassPipelineOptions<MhaCpuPipelineOptions> {
  PassOptions::Option<int64_t> rowsPerItem{
      *this, "rows",
      llvm::cl::desc("Query rows per work item (0: chosen per head dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> keysPerTile{
      *this, "cols",
      llvm::cl::desc("Keys per kv tile (0: chosen per head dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> bandRows{
      *this, "band-rows",
      llvm::cl::desc("Query rows per score band of a step (0: chosen per head "
                     "dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per vector (16: AVX-512, 8: AVX2)"),
      llvm::cl::init(16)};
  PassOptions::Option<int64_t> scoreRows{
      *this, "score-rows", llvm::cl::desc("Rows of the S micro-kernel"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> scoreVectors{
      *this, "score-vectors",
      llvm::cl::desc("Key vectors of the S micro-kernel"), llvm::cl::init(0)};
  PassOptions::Option<int64_t> outputRows{
      *this, "output-rows", llvm::cl::desc("Rows of the P.V micro-kernel"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> outputVectors{
      *this, "output-vectors",
      llvm::cl::desc("Value vectors of the P.V micro-kernel"),
      llvm::cl::init(0)};
  PassOptions::Option<bool> bf16Dot{
      *this, "bf16-dot",
      llvm::cl::desc("bf16 specs use AVX512-BF16 pair dot products "
                     "(the target must have avx512bf16)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> useFma{
      *this, "fma",
      llvm::cl::desc("The target has FMA instructions (else mul + add)"),
      llvm::cl::init(true)};
  PassOptions::Option<std::string> workSuffix{
      *this, "work-suffix",
      llvm::cl::desc("Suffix of the work functions (one module per ISA)"),
      llvm::cl::init("")};
  PassOptions::Option<bool> exportFunctions{
      *this, "export",
      llvm::cl::desc("Emit the exported C functions in this module"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> dispatch{
      *this, "dispatch",
      llvm::cl::desc("Exported functions pick the work function of the "
                     "CPU's ISA at run time"),
      llvm::cl::init(false)};
  PassOptions::ListOption<std::string> copies{
      *this, "copies",
      llvm::cl::desc("The library's ISA copies the exported functions "
                     "dispatch to, where it lacks some")};
};

/// mha.attention specs -> LLVM dialect with exported C entry points:
/// mha-tile, convert-mha-to-vector, mha-approximate-math, the upstream
/// lowering to LLVM, mha-emit-entry-points.
void buildMhaCpuPipeline(OpPassManager &pm,
                         const MhaCpuPipelineOptions &options);

/// Registers `mha-cpu-pipeline` with the pass registry.
struct MhaNvptxPipelineOptions
    : public PassPipelineOptions<MhaNvptxPipelineOptions> {
  PassOptions::Option<std::string> chips{
      *this, "chips",
      llvm::cl::desc("Comma-separated GPU chips, one PTX object each "
                     "(sm_80 or newer)"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<int64_t> warps{
      *this, "warps", llvm::cl::desc("Warps per CTA"), llvm::cl::init(4)};
  PassOptions::Option<int64_t> rowTiles{
      *this, "row-tiles",
      llvm::cl::desc("16-row MMA tiles per warp (0: chosen per head dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> keysPerTile{
      *this, "cols",
      llvm::cl::desc("Keys per K/V tile (0: chosen per head dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<bool> packGqa{
      *this, "pack-gqa",
      llvm::cl::desc("Pack the query heads of a KV group into one block"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> sm90aKeysPerTile{
      *this, "sm90a-cols",
      llvm::cl::desc("Keys per K/V tile of the sm_90a (wgmma) kernels, "
                     "built when `chips` has sm_90a (0: chosen per head dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> sm90aWarpgroups{
      *this, "sm90a-warpgroups",
      llvm::cl::desc("Warpgroups per CTA of the sm_90a kernels (0: chosen "
                     "per head dim)"),
      llvm::cl::init(0)};
};

/// Kernels to gpu.binary ops holding one PTX object per chip.
void buildMhaNvptxDevicePipeline(OpPassManager &pm,
                                 const MhaNvptxPipelineOptions &options);
/// gpu.binary ops and launch declarations to exported host functions.
void buildMhaNvptxHostPipeline(OpPassManager &pm);
/// Both halves.
void buildMhaNvptxPipeline(OpPassManager &pm,
                           const MhaNvptxPipelineOptions &options);

/// Makes LLVM's NVPTX back end use 32-bit shared-memory pointers unless the
/// command line said otherwise. Call after parsing the command line.
void useShortSharedPointers();

/// The PTX ISA feature ("+ptx80") LLVM needs for `chip` ("sm_90a"), or
/// failure when the chip is malformed or older than sm_80.
FailureOr<std::string> getPtxFeaturesForChip(llvm::StringRef chip);

void registerMhaPipelines();

} // namespace mlir::mha

#endif // MHA_PIPELINES_PIPELINES_H
