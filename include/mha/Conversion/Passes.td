//===- Passes.td - Conversions out of the mha dialect ------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_PASSES_TD
#define MHA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMhaToVectorPass : Pass<"convert-mha-to-vector"> {
  let summary = "Lower the tiled online-softmax ops to loops over vectors";
  let description = [{
    Rewrites `mha.online_softmax_step`, `mha.online_softmax_finalize` and
    `mha.attention_probs` into `scf.for` loops whose bodies work on
    `vector<D x f32>` rows: dot products as vector multiply + reduction,
    `P.V` as vector FMAs into the accumulator row, masks as index compares,
    softmax in base 2 with `math.exp2`. f16/bf16 tiles are widened to f32 on
    load and narrowed on store, except in steps whose micro-kernel says
    `dot = bf16_pairs`: there S = Q.K^T and P.V are `x86vector.avx512.dot`
    (vdpbf16ps) blocks on bf16 pairs, P rounded to bf16 with
    `x86vector.avx512.cvt.packed.f32_to_bf16`.

    Before:
    ```mlir
    mha.online_softmax_step ins(%q, %k, %v : ...) outs(%acc, %m, %l, %t : ...)
        scale(%s, %a) at(%p, %j) window(%wl, %wr, %sinks) {causal, masked}
    ```
    After (abridged):
    ```mlir
    scf.for %r = %c0 to %rows step %c1 {
      %qrow = vector.transfer_read %q[%r, %c0] ... : vector<64xf32>
      scf.for %c = %c0 to %cols step %c1 { ... vector.reduction <add> ... }
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::x86vector::X86VectorDialect"
  ];
}

def ConvertMhaToNVVMPass : Pass<"convert-mha-to-nvvm", "::mlir::ModuleOp"> {
  let summary = "Lower exported mha.attention functions to tensor-core GPU kernels";
  let description = [{
    For each public function computing one `mha.attention` (the functions
    `mha-compile` exports), builds a `gpu.module @<name>__gpu` holding
    `gpu.func @<name>__kernel`: a FlashAttention-2 style kernel on
    `nvvm.mma.sync` m16n8k16 (f16/bf16 operands, f32 accumulation),
    `nvgpu.ldmatrix` fragments and `nvgpu.device_async_copy` (cp.async)
    double buffering of K/V tiles, online softmax in registers with
    `ex2.approx` and quad shuffles. One CTA computes the query rows of one
    (batch, head, q-tile); each head visits only the key tiles its causal
    mask, windows and sinks can make visible, so multi-scale heads run in one
    launch and a local head costs what its window costs.

    With `sm90a`, functions whose head dims are multiples of 64 also get
    `@<name>__kernel_sm90a` in `gpu.module @mha_kernels_sm90a` (compiled
    for sm_90a only): warpgroup MMA (`wgmma.mma_async`) on
    128-byte-swizzled shared-memory tiles, P from registers, and for f16/bf16
    a producer warpgroup that loads K/V by TMA through mbarrier-guarded
    stages (the runtime passes the tensor maps); the runtime launches it on
    compute capability 9.0 and the portable kernel elsewhere.

    The function itself becomes a private declaration carrying
    `mha.entry_point` (the C signature) and `mha.gpu_launch` (kernel name,
    block size, dynamic shared memory, requirements), which
    `mha-emit-gpu-entry-points` turns into the exported host function once
    the gpu.module is serialised. The kernel's parameters are the memref
    descriptors of the tensors, then a `memref<?xi8>` runtime head mask
    (include/mha/Runtime/GpuAbi.h).
  }];
  let options = [
    Option<"warps", "warps", "int64_t", /*default=*/"4",
           "Warps per CTA">,
    Option<"rowTiles", "row-tiles", "int64_t", /*default=*/"0",
           "16-row MMA tiles per warp, 1 or 2 (0 = 2 for D, Dv <= 128, "
           "else 1)">,
    Option<"packGqa", "pack-gqa", "bool", /*default=*/"true",
           "One block computes the query heads of a KV group that share "
           "their windows (GQA packing)">,
    Option<"keysPerTile", "cols", "int64_t", /*default=*/"0",
           "Keys per K/V tile (multiple of 16; 0 = chosen with row-tiles to fit the registers)">,
    Option<"sm90a", "sm90a", "bool", /*default=*/"false",
           "Also build sm_90a kernels (warpgroup MMA) into gpu.module "
           "@mha_kernels_sm90a for the functions they support (head dims "
           "multiples of 64)">,
    Option<"sm90aKeysPerTile", "sm90a-cols", "int64_t", /*default=*/"0",
           "Keys per K/V tile of the sm_90a kernels (multiple of 16, at "
           "most 256; 0 = chosen by head dim)">,
    Option<"sm90aWarpgroups", "sm90a-warpgroups", "int64_t", /*default=*/"0",
           "Warpgroups (64 query rows each) per CTA of the sm_90a kernels, "
           "1 to 4 (0 = chosen by head dim)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::memref::MemRefDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

#endif // MHA_CONVERSION_PASSES_TD
