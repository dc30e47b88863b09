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
      *this, "rows", llvm::cl::desc("Query rows per work item"),
      llvm::cl::init(16)};
  PassOptions::Option<int64_t> keysPerTile{
      *this, "cols", llvm::cl::desc("Keys per kv tile"), llvm::cl::init(64)};
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
