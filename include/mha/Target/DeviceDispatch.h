//===- DeviceDispatch.h - One library for the CPU and the GPU ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-compile --target=auto links the CPU pipeline's and the GPU pipeline's
// exported functions into one library. Each pipeline's function NAME is
// renamed NAME__cpu or NAME__gpu (hidden), and a dispatcher NAME with the
// same C signature calls one of them by the device of its first tensor.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_TARGET_DEVICEDISPATCH_H
#define MHA_TARGET_DEVICEDISPATCH_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

namespace mlir::mha {

/// The suffixes of the two halves' exported functions.
inline constexpr StringLiteral kCpuHalfSuffix = "__cpu";
inline constexpr StringLiteral kGpuHalfSuffix = "__gpu";

/// Renames every exported function (`#mha.entry_point`) of `module`, an
/// LLVM-dialect module from the CPU or the GPU pipeline, to NAME + `suffix`
/// with hidden visibility. The entry points keep their public names in
/// their attribute (the header and the manifest read them there).
LogicalResult renameEntryPoints(ModuleOp module, StringRef suffix);

/// The dispatchers of a --target=auto library: for every exported function
/// of `cpuModule` (renamed), NAME calling NAME__gpu when its first tensor is
/// on a CUDA device (the runtime's mha_rt_on_cuda) and NAME__cpu otherwise,
/// whose checks then name any wrong device. Fails, naming the function,
/// when `gpuModule` does not export the same functions with the same
/// parameters.
FailureOr<OwningOpRef<ModuleOp>> buildDeviceDispatchers(ModuleOp cpuModule,
                                                        ModuleOp gpuModule);

} // namespace mlir::mha

#endif // MHA_TARGET_DEVICEDISPATCH_H
