//===- GpuPipeline.cpp - mha specs to NVPTX kernels and host glue ---------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// convert-mha-to-nvvm builds the kernels; the upstream GPU passes lower them
// to NVVM and serialise one PTX object per chip with LLVM's NVPTX back end
// (no CUDA toolkit needed); mha-emit-gpu-entry-points embeds the objects and
// emits the exported host functions from each declaration's
// #mha.gpu_launch. mha-compile runs the two halves separately to add cubins
// in between when ptxas is found.
//
//===----------------------------------------------------------------------===//

#include "mha/Conversion/MhaToNVVM/MhaToNVVM.h"
#include "mha/Conversion/Passes.h"
#include "mha/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"

using namespace mlir;

FailureOr<std::string> mlir::mha::getPtxFeaturesForChip(StringRef chip) {
  StringRef digits = chip;
  if (!digits.consume_front("sm_"))
    return failure();
  digits.consume_back("a");
  unsigned sm;
  if (digits.getAsInteger(10, sm))
    return failure();
  // mma.sync m16n8k16 with bf16 operands and cp.async need sm_80.
  if (sm < 80)
    return failure();
  // The oldest PTX ISA that knows the chip (LLVM refuses older ones).
  if (sm <= 90)
    return std::string("+ptx80");
  if (sm <= 101)
    return std::string("+ptx86");
  return std::string("+ptx87");
}

void mlir::mha::useShortSharedPointers() {
  // 32-bit shared-memory addresses (the hardware's): the kernels compute many
  // ldmatrix/cp.async addresses, and 64-bit ones cost registers that the
  // accumulators need (with them some variants spill). An explicit
  // --nvptx-short-ptr=false on the command line still wins.
  auto &options = llvm::cl::getRegisteredOptions();
  auto it = options.find("nvptx-short-ptr");
  if (it != options.end() && it->second->getNumOccurrences() == 0)
    static_cast<llvm::cl::opt<bool> *>(it->second)->setValue(true);
}

void mlir::mha::buildMhaNvptxDevicePipeline(
    OpPassManager &pm, const MhaNvptxPipelineOptions &options) {
  ConvertMhaToNVVMPassOptions kernels;
  kernels.warps = options.warps;
  kernels.rowTiles = options.rowTiles;
  kernels.packGqa = options.packGqa;
  kernels.keysPerTile = options.keysPerTile;
  SmallVector<std::string> chips;
  for (StringRef chip : llvm::split(options.chips.getValue(), ','))
    chips.push_back(chip.trim().str());
  // wgmma kernels exist for sm_90a only (its cubin runs on exactly 9.0).
  kernels.sm90a = llvm::is_contained(chips, "sm_90a");
  kernels.sm90aKeysPerTile = options.sm90aKeysPerTile;
  kernels.sm90aWarpgroups = options.sm90aWarpgroups;
  pm.addPass(createConvertMhaToNVVMPass(kernels));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  for (const std::string &chip : chips) {
    GpuNVVMAttachTargetOptions target;
    target.chip = chip;
    FailureOr<std::string> features = getPtxFeaturesForChip(target.chip);
    // Invalid chips are diagnosed by mha-compile; keep the pass valid.
    target.features = succeeded(features) ? *features : "+ptx80";
    target.optLevel = 3;
    // Every chip gets the portable kernels, sm_90a also its own.
    target.moduleMatcher = ("^" + kGpuModuleName + "$").str();
    pm.addPass(createGpuNVVMAttachTarget(target));
    if (chip == "sm_90a") {
      target.moduleMatcher = ("^" + kGpuSm90aModuleName + "$").str();
      pm.addPass(createGpuNVVMAttachTarget(target));
    }
  }
  OpPassManager &device = pm.nest<gpu::GPUModuleOp>();
  // Subviews become explicit offset arithmetic before reaching LLVM.
  device.addPass(memref::createExpandStridedMetadataPass());
  device.addPass(createLowerAffinePass());
  device.addPass(createSCFToControlFlowPass());
  device.addPass(createConvertNVGPUToNVVMPass());
  // GPU ops first: convert-vector-to-llvm cannot map the workgroup address
  // space of shared-memory memrefs; it then lowers what vector ops remain
  // (the n-D extracts of ldmatrix results).
  device.addPass(createConvertGpuOpsToNVVMOps());
  device.addPass(createConvertVectorToLLVMPass());
  device.addPass(createCanonicalizerPass());
  device.addPass(createCSEPass());
  device.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void mlir::mha::buildMhaNvptxHostPipeline(OpPassManager &pm) {
  pm.addPass(createMhaEmitGpuEntryPointsPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::mha::buildMhaNvptxPipeline(OpPassManager &pm,
                                      const MhaNvptxPipelineOptions &options) {
  buildMhaNvptxDevicePipeline(pm, options);
  buildMhaNvptxHostPipeline(pm);
}
