//===- Passes.td - Conversions out of the mha dialect ------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_PASSES_TD
#define MHA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMhaToVectorPass : Pass<"convert-mha-to-vector"> {
  let summary = "Lower the tiled online-softmax and layer GEMM ops to loops over vectors";
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

    A layer's GEMM work, `mha.pack_panel` and `mha.gemm_tile`, becomes the
    same register-blocked micro-kernels (vector FMAs on f32 panels,
    `x86vector.avx512.dot` on bf16 pair panels) with the bias, RoPE and
    narrowing epilogue of each item.

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
    "::mlir::vector::VectorDialect", "::mlir::x86vector::X86VectorDialect",
    "::mlir::LLVM::LLVMDialect"
  ];
}

def ConvertMhaToNVVMPass : Pass<"convert-mha-to-nvvm", "::mlir::ModuleOp"> {
  let summary = "Lower exported mha.attention functions to tensor-core GPU kernels";
  let description = [{
    For each public function computing one `mha.attention` (the functions
    `mha-compile` exports), builds `gpu.func @<name>__kernel` in
    `gpu.module @mha_kernels` (one module for every function of the spec):
    a FlashAttention-2 style kernel on `nvvm.mma.sync` m16n8k16 (f16/bf16
    operands, f32 accumulation), `nvgpu.ldmatrix` fragments and
    `nvgpu.device_async_copy` (cp.async) double buffering of K/V tiles,
    online softmax in registers with `ex2.approx` and quad shuffles. One
    CTA computes the query rows of one (batch, head block, q-tile); each
    head visits only the key tiles its causal mask, windows and sinks can
    make visible, so multi-scale heads run in one launch and a local head
    costs what its window costs. `@<name>__kernel_unaligned` is the same
    kernel for tensors whose rows are not 16-byte aligned (element loads
    instead of cp.async).

    With `sm90a`, functions whose head dims are multiples of 64 also get
    `@<name>__kernel_sm90a` in `gpu.module @mha_kernels_sm90a` (compiled
    for sm_90a only): warpgroup MMA (`wgmma.mma_async`) on
    128-byte-swizzled shared-memory tiles, P from registers, and for f16/bf16
    a producer warpgroup that loads K/V by TMA through mbarrier-guarded
    stages (the runtime passes the tensor maps); the runtime launches it on
    compute capability 9.0 and the portable kernel elsewhere.

    Split-KV decoding: unless its cache has a static length under 512 keys,
    a function also gets `@<name>__split_kernel` (the portable kernel with
    64-row blocks over (query tile, part), writing each part's f32 rows and
    lse to two more memref parameters) and `@<name>__merge_kernel` (one warp
    per row, combining the parts as mha.merge_states does), which the
    runtime launches instead when a call's grid has fewer blocks than the
    GPU has multiprocessors (docs/gpu.md, "Split-KV decoding").

    A function computing one `mha.merge_states` becomes
    `@<name>__merge_kernel` alone, one computing one `mha.append_kv`
    `@<name>__append_kernel` (a warp per new key, writes that would land
    outside the caches dropped).

    The function itself becomes a private declaration carrying
    `mha.entry_point` (`#mha.entry_point`: the C signature) and
    `mha.gpu_launch`, a `#mha.gpu_launch` naming each kernel with how to
    launch it (`#mha.gpu_kernel`: module, block threads, dynamic shared
    memory, rows and heads per block, requirements, TMA box), which
    `mha-emit-gpu-entry-points` turns into the exported host function once
    the modules are serialised. The kernels' parameters are the memref
    descriptors of the tensors, then a `memref<?xi8>` runtime head mask,
    then for TMA kernels the tensor maps' device address
    (include/mha/Runtime/GpuAbi.h).

    ```mlir
    func.func private @f() attributes {
      mha.entry_point = #mha.entry_point<name = "f", ...>,
      mha.gpu_launch = #mha.gpu_launch<
        kernel = #mha.gpu_kernel<module = "mha_kernels", name = "f__kernel",
                                 block_threads = 128, shared_bytes = 69632,
                                 rows_per_block = 128, heads_per_block = 1,
                                 requirements = aligned_rows>,
        fallback_kernel = "f__kernel_unaligned">}
    gpu.module @mha_kernels {
      gpu.func @f__kernel(...) kernel { ... nvvm.mma.sync ... }
      gpu.func @f__kernel_unaligned(...) kernel { ... }
    }
    ```
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

def MhaEmitEntryPointsPass : Pass<"mha-emit-entry-points", "ModuleOp"> {
  let summary = "Export each work-item kernel as a C function over DLTensors";
  let description = [{
    Runs on the LLVM dialect. For each kernel marked `#mha.entry_point`
    (its C wrapper `_mlir_ciface_<kernel>` made by func-to-llvm), emits:
    - `<name>__signature`: the constant table (KernelAbi.h) describing each
      tensor parameter's role, dtype, static sizes and shared size symbols;
    - `<name>__work`: `void (void **descriptors, i64 b, i64 h, i64 t,
      const uint8_t *alive)`, which unpacks the descriptors and calls the
      kernel;
    - `<name>`: the exported `mha_status name(const DLTensor *..., const
      mha_options *)`, which calls `mha_rt_launch` with the three above.

    A library may hold one copy of the kernels per vector ISA, each module
    compiled separately: `work-suffix` names this module's work functions
    (`<name>__work_<suffix>`), `export=false` leaves the exported function
    and its table to the primary module, and `dispatch` makes the exported
    function pick `<name>__work_{avx512,avx2,generic}` by
    `mha_rt_cpu_isa()` at run time, and `<name>__work_avx512bf16` too for
    functions with bf16 queries (the copy with AVX512-BF16 micro-kernels,
    which mha-compile builds for them only). `copies` lists the copies the
    library has when it lacks some (mha-compile --isa=host keeps those the
    host picks, and a single `--isa` copy): on a CPU below all of a
    function's copies the exported function passes no work function, and
    the runtime reports MHA_ERR_NO_DEVICE. A library of one copy holds
    every function in it: each runs it where `mha_rt_cpu_isa()` reaches
    the copy's level.
  }];
  let options = [
    Option<"workSuffix", "work-suffix", "std::string", /*default=*/"\"\"",
           "Suffix of this module's work functions">,
    Option<"exportFunctions", "export", "bool", /*default=*/"true",
           "Emit the exported C functions and signature tables">,
    Option<"dispatch", "dispatch", "bool", /*default=*/"false",
           "Exported functions pick the work function of the CPU's ISA">,
    ListOption<"copies", "copies", "std::string",
               "The library's ISA copies (generic, avx2, avx512, "
               "avx512bf16) where it lacks some">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def MhaEmitGpuEntryPointsPass
    : Pass<"mha-emit-gpu-entry-points", "ModuleOp"> {
  let summary = "Export each serialised GPU kernel as a C function over DLTensors";
  let description = [{
    Runs after `gpu-module-to-binary`. For each declaration that
    `convert-mha-to-nvvm` left (marked `mha.entry_point` and
    `mha.gpu_launch = #mha.gpu_launch<...>`), embeds the objects of the
    `gpu.binary` of each kernel's module (PTX, and cubins when made; each
    binary once) as constant data, emits an `mha_gpu_kernel` descriptor per
    kernel (include/mha/Runtime/GpuAbi.h: kernel name, block size, dynamic
    shared memory, rows and heads per block, requirements, images per chip;
    the unaligned fallback, and the sm_90a kernel pointing to the fallback
    and to the portable kernel), the signature table, and the exported
    `mha_status name(const DLTensor *..., const mha_options *)`, which calls
    `mha_rt_cuda_launch` with the first kernel's descriptor. The
    declarations and binaries are erased: what remains is host LLVM
    dialect. A declaration without `mha.entry_point`, a `mha.gpu_launch`
    that is not a `#mha.gpu_launch`, or a kernel whose module has no
    `gpu.binary` is an error.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // MHA_CONVERSION_PASSES_TD
