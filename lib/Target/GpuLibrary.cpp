//===- GpuLibrary.cpp - Device objects of GPU libraries -------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Target/GpuLibrary.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace mlir;

std::optional<std::string> mlir::mha::findPtxas() {
  if (const char *env = std::getenv("MHA_PTXAS")) {
    if (*env && llvm::sys::fs::can_execute(env))
      return std::string(env);
    return std::nullopt; // MHA_PTXAS= (empty) disables cubins.
  }
  SmallVector<StringRef> dirs;
  std::string cudaBin;
  for (const char *var : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (const char *home = std::getenv(var)) {
      cudaBin = (llvm::Twine(home) + "/bin").str();
      dirs.push_back(cudaBin);
      break;
    }
  if (auto path = llvm::sys::findProgramByName("ptxas", dirs))
    return *path;
  if (auto path = llvm::sys::findProgramByName("ptxas"))
    return *path;
  if (auto path = llvm::sys::findProgramByName("ptxas", {"/usr/local/cuda/bin"}))
    return *path;
  return std::nullopt;
}

LogicalResult mlir::mha::addCubins(ModuleOp module, StringRef ptxas) {
  WalkResult result = module.walk([&](gpu::BinaryOp binary) -> WalkResult {
    SmallVector<Attribute> objects(binary.getObjectsAttr().begin(),
                                   binary.getObjectsAttr().end());
    for (Attribute a : binary.getObjectsAttr()) {
      auto object = cast<gpu::ObjectAttr>(a);
      auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget());
      if (!target || object.getFormat() != gpu::CompilationTarget::Assembly)
        continue;
      SmallString<128> ptxPath, cubinPath, logPath;
      if (llvm::sys::fs::createTemporaryFile("mha-kernel", "ptx", ptxPath) ||
          llvm::sys::fs::createTemporaryFile("mha-kernel", "cubin",
                                             cubinPath) ||
          llvm::sys::fs::createTemporaryFile("mha-ptxas", "log", logPath))
        return binary.emitError() << "cannot create temporary files";
      llvm::FileRemover removePtx(ptxPath), removeCubin(cubinPath),
          removeLog(logPath);
      {
        std::error_code ec;
        llvm::raw_fd_ostream os(ptxPath, ec);
        if (ec)
          return binary.emitError() << "cannot write " << ptxPath;
        os << object.getObject().getValue();
      }
      std::string arch = ("-arch=" + target.getChip()).str();
      SmallVector<StringRef> argv{ptxas, arch, "-O3", ptxPath, "-o",
                                  cubinPath};
      std::optional<StringRef> redirects[] = {std::nullopt, logPath, logPath};
      std::string error;
      int rc = llvm::sys::ExecuteAndWait(ptxas, argv, std::nullopt, redirects,
                                         0, 0, &error);
      if (rc != 0) {
        auto log = llvm::MemoryBuffer::getFile(logPath);
        return binary.emitError()
               << "ptxas rejected the PTX for " << target.getChip() << " ("
               << error << "): " << (log ? (*log)->getBuffer() : "");
      }
      auto cubin = llvm::MemoryBuffer::getFile(cubinPath, /*IsText=*/false);
      if (!cubin)
        return binary.emitError() << "ptxas wrote no cubin";
      objects.push_back(gpu::ObjectAttr::get(
          module.getContext(), target, gpu::CompilationTarget::Binary,
          StringAttr::get(module.getContext(), (*cubin)->getBuffer()),
          DictionaryAttr(), /*kernels=*/nullptr));
    }
    binary.setObjectsAttr(ArrayAttr::get(module.getContext(), objects));
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

FailureOr<SmallVector<std::pair<std::string, std::string>>>
mlir::mha::getPtx(ModuleOp module) {
  SmallVector<std::pair<std::string, std::string>> modules;
  for (auto binary : module.getOps<gpu::BinaryOp>())
    for (Attribute a : binary.getObjectsAttr()) {
      auto object = cast<gpu::ObjectAttr>(a);
      if (object.getFormat() != gpu::CompilationTarget::Assembly)
        continue;
      modules.emplace_back(binary.getSymName().str(),
                           object.getObject().getValue().str());
      break;
    }
  if (modules.empty())
    return failure();
  return modules;
}
