//===- GpuLibrary.h - Device objects of GPU libraries -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Between the device and host halves of the NVPTX pipeline, mha-compile
// turns PTX objects into cubins with ptxas when the CUDA toolkit is there
// (the driver then loads them without compiling), or writes the PTX out.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_TARGET_GPULIBRARY_H
#define MHA_TARGET_GPULIBRARY_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <optional>
#include <string>

namespace mlir::mha {

/// ptxas from $MHA_PTXAS, $CUDA_HOME/bin, $PATH or /usr/local/cuda/bin.
std::optional<std::string> findPtxas();

/// Assembles every PTX object of every gpu.binary of `module` with `ptxas`
/// and adds the cubin beside it (same target). Fails with the assembler's
/// message if ptxas rejects the PTX.
LogicalResult addCubins(ModuleOp module, StringRef ptxas);

/// The PTX of the first chip of each gpu.binary (the portable kernels, then
/// the sm_90a kernels when there are any), by binary name, for
/// `-o file.ptx`.
FailureOr<SmallVector<std::pair<std::string, std::string>>>
getPtx(ModuleOp module);

} // namespace mlir::mha

#endif // MHA_TARGET_GPULIBRARY_H
