//===- mha-opt.cpp - The mha optimizer driver -------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mlir-opt with the mha dialect, passes and pipelines: every upstream
// dialect, pass and LLVM IR translation is registered too, so a spec can be
// followed through any stage down to LLVM and PTX.
//
//===----------------------------------------------------------------------===//

#include "mha/InitAllDialects.h"
#include "mha/InitAllPasses.h"
#include "mha/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::mha::registerAllMhaPasses();
  // Before MlirOptMain parses the command line, so a flag can override it.
  mlir::mha::useShortSharedPointers();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary needs the LLVM IR translations of every dialect that
  // can appear in a gpu.module.
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::registerAllGPUToLLVMIRTranslations(registry);
  mlir::mha::registerAllMhaDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "mha optimizer: attention specs to CPU and GPU code\n",
      registry));
}
