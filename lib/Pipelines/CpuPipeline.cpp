//===- CpuPipeline.cpp - Specs to LLVM for the CPU --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::mha::buildMhaCpuPipeline(OpPassManager &pm,
                                    const MhaCpuPipelineOptions &options) {
  pm.addPass(createMhaExpandLayerPass());
  pm.addPass(createMhaPruneHeadsPass());
  pm.addPass(createMhaFusePass());
  MhaTilePassOptions tile;
  tile.rowsPerItem = options.rowsPerItem;
  tile.keysPerTile = options.keysPerTile;
  tile.bandRows = options.bandRows;
  tile.vectorWidth = options.vectorWidth;
  tile.scoreRows = options.scoreRows;
  tile.scoreVectors = options.scoreVectors;
  tile.outputRows = options.outputRows;
  tile.outputVectors = options.outputVectors;
  tile.bf16Dot = options.bf16Dot;
  // Before mha-tile, which replaces the forward function by its kernel.
  MhaTileBackwardPassOptions backward;
  backward.vectorWidth = options.vectorWidth;
  backward.bf16Dot = options.bf16Dot;
  pm.addPass(createMhaTileBackwardPass(backward));
  pm.addPass(createMhaTilePass(tile));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createConvertMhaToVectorPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  MhaApproximateMathPassOptions math;
  math.useFma = options.useFma;
  pm.addPass(createMhaApproximateMathPass(math));
  // bf16 <-> f32 as integer ops: only CPUs with AVX512-BF16 convert in one
  // instruction, and the libgcc of Debian 12 lacks __truncsfbf2.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  // The upstream lowering. Order matters: subviews must be expanded before
  // memrefs reach LLVM, and expand-strided-metadata emits affine.apply.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  // x86vector.avx512.dot and .cvt of bf16_pairs micro-kernels become
  // AVX512-BF16 intrinsics.
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.x86Vector = options.bf16Dot;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  MhaEmitEntryPointsPassOptions entryPoints;
  entryPoints.workSuffix = options.workSuffix;
  entryPoints.exportFunctions = options.exportFunctions;
  entryPoints.dispatch = options.dispatch;
  entryPoints.copies.assign(options.copies.begin(), options.copies.end());
  pm.addPass(createMhaEmitEntryPointsPass(entryPoints));
}

void mlir::mha::registerMhaPipelines() {
  PassPipelineRegistration<MhaCpuPipelineOptions>(
      "mha-cpu-pipeline",
      "Compile mha specs to LLVM dialect kernels with C entry points",
      buildMhaCpuPipeline);
  PassPipelineRegistration<MhaNvptxPipelineOptions>(
      "mha-nvptx-pipeline",
      "Compile mha specs to PTX kernels (one object per chip) and the host "
      "functions that launch them",
      buildMhaNvptxPipeline);
}
