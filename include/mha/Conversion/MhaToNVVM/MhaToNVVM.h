//===- MhaToNVVM.h - mha.attention to GPU kernels -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_MHATONVVM_MHATONVVM_H
#define MHA_CONVERSION_MHATONVVM_MHATONVVM_H

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
/// convert-mha-to-nvvm leaves for each exported function: a dictionary with
/// `module` and `kernel` (strings), `block_threads`, `shared_bytes`,
/// `rows_per_block`, `heads_per_block` and `requirements` (i32,
/// MHA_GPU_REQ_* bits), `fallback_kernel`, and when the function also has an
/// sm_90a kernel `arch_module`, `arch_kernel`, `arch_block_threads`,
/// `arch_shared_bytes`, `arch_rows_per_block`, `arch_heads_per_block`,
/// `arch_requirements` and `arch_tma_box_rows`.
inline constexpr llvm::StringLiteral kGpuLaunchAttrName = "mha.gpu_launch";

/// The gpu.module holding every portable kernel of a spec.
inline constexpr llvm::StringLiteral kGpuModuleName = "mha_kernels";
/// The gpu.module holding the sm_90a (wgmma) kernels, compiled for sm_90a
/// only.
inline constexpr llvm::StringLiteral kGpuSm90aModuleName = "mha_kernels_sm90a";

} // namespace mlir::mha

#endif // MHA_CONVERSION_MHATONVVM_MHATONVVM_H
