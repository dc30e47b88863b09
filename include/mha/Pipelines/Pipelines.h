//===- Pipelines.h - The mha pass pipelines -----------------------*- C++ -*-===//
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
      *this, "cols", llvm::cl::desc("Keys per kv tile (0: chosen per head dim)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per vector (16: AVX-512, 8: AVX2)"),
      llvm::cl::init(16)};
};

/// mha.attention specs -> LLVM dialect with exported C entry points:
/// mha-tile, convert-mha-to-vector, mha-approximate-math, the upstream
/// lowering to LLVM, mha-emit-entry-points.
void buildMhaCpuPipeline(OpPassManager &pm,
                         const MhaCpuPipelineOptions &options);

/// Registers `mha-cpu-pipeline` with the pass registry.
void registerMhaPipelines();

} // namespace mlir::mha

#endif // MHA_PIPELINES_PIPELINES_H
