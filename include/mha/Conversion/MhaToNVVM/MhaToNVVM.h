//===- MhaToNVVM.h - mha.attention to GPU kernels ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_MHATONVVM_MHATONVVM_H
#define MHA_CONVERSION_MHATONVVM_MHATONVVM_H

#include "mha/Dialect/Mha/IR/MhaAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::mha {

/// Name of the discardable attribute on the declaration that
/// convert-mha-to-nvvm leaves for each exported function, beside
/// `mha.entry_point`: a #mha.gpu_launch (GpuLaunchAttr, MhaAttrs.td) naming
/// the portable kernel, its unaligned-rows fallback and, when the function
/// has one, the sm_90a kernel, each a #mha.gpu_kernel with its module, block
/// size, shared memory, rows and heads per block and requirements.
/// mha-emit-gpu-entry-points reads it through the typed accessors.
inline constexpr llvm::StringLiteral kGpuLaunchAttrName = "mha.gpu_launch";

/// The gpu.module holding every portable kernel of a spec.
inline constexpr llvm::StringLiteral kGpuModuleName = "mha_kernels";
/// The gpu.module holding the sm_90a (wgmma) kernels, compiled for sm_90a
/// only.
inline constexpr llvm::StringLiteral kGpuSm90aModuleName = "mha_kernels_sm90a";

} // namespace mlir::mha

#endif // MHA_CONVERSION_MHATONVVM_MHATONVVM_H
