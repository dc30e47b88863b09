//===- MhaAttrs.td - Attributes of the mha dialect ---------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_ATTRS_TD
#define MHA_DIALECT_MHA_ATTRS_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mha/MhaDialect.td"
include "mha/MhaEnums.td"

def Mha_SharingAttr : EnumAttr<Mha_Dialect, Mha_Sharing, "sharing"> {
  let summary = "projection sharing scheme of a layer's heads";
  let description = [{
    `#mha.sharing<independent>`: every head has its own projection columns
    (`Wq [d, Hq*D]`, `Wk`/`Wv [d, Hkv*D]`); with `num_kv_heads < num_heads`
    this is grouped-query attention, with `num_kv_heads = 1` multi-query.

    `#mha.sharing<shared_head_bias>`: one projection `[d, D]` shared by all
    heads; heads differ only by their per-head biases `[H, D]`.

    `#mha.sharing<grouped>`: between the two. The heads form groups of
    consecutive heads, one projection `[d, D]` per group (`Wq [d, Gq*D]`,
    `Wk`/`Wv [d, Gkv*D]`, the group counts read from the columns), and
    per-head biases `[H, D]`.
  }];
  let assemblyFormat = "`<` $value `>`";
}

def Mha_TensorRoleAttr : EnumAttr<Mha_Dialect, Mha_TensorRole, "role"> {
  let summary = "role of a tensor parameter of a generated entry point";
  let assemblyFormat = "`<` $value `>`";
}

def Mha_EntryPointAttr : AttrDef<Mha_Dialect, "EntryPoint"> {
  let mnemonic = "entry_point";
  let summary = "marks the work-item kernel of an exported C function";
  let description = [{
    Attached by `mha-tile` to the kernel that computes one work item
    `(b, h, t)` of the exported function `name`: query rows
    `[t * rowsPerItem, (t + 1) * rowsPerItem)` of head `h` of batch `b`. The
    grid has `gridHeads` heads. `roles` and `types` describe the tensor
    parameters in C order (arguments, then results); `mha-emit-entry-points`
    turns them into the signature table the runtime checks calls against.
  }];
  let parameters = (ins
    StringRefParameter<"exported C function name">:$name,
    "int64_t":$rowsPerItem,
    "int64_t":$gridHeads,
    "ArrayAttr":$roles,
    "ArrayAttr":$types
  );
  let assemblyFormat = "`<` struct(params) `>`";
}

def Mha_LayerPlanAttr : AttrDef<Mha_Dialect, "LayerPlan"> {
  let mnemonic = "layer_plan";
  let summary = "the phases and temporaries of a layer's work-item kernel";
  let description = [{
    Attached by `mha-tile` (beside `mha.entry_point`) to the kernel of an
    exported `mha.multi_head` function. The runtime allocates one temporary
    per entry of `tempCols`, of shape `[1, L, cols]`, `[B, L, cols]` or
    `[1, 1, cols]` where `tempShapes` is 0, 1 or 2 (`MHA_TEMP_*` of
    KernelAbi.h), of `tempBytes` bytes per element (the most any of the
    function's ISA copies uses), and runs the phases in order, each
    over its own grid `B x phaseHeads[p] x ceil(L / phaseRows[p])`; the
    kernel takes the phase number before `(b, h, t)`. `phaseKinds` are
    `MHA_PHASE_*` of KernelAbi.h: 1 (the attention) is the phase the
    runtime head mask applies to, 2 a phase packing weights into the fixed
    temporaries (skipped when a call reuses the panels of an earlier one,
    `mha_options.reuse_packed_weights`), 0 any other.
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$tempCols,
    ArrayRefParameter<"int64_t">:$tempShapes,
    ArrayRefParameter<"int64_t">:$tempBytes,
    ArrayRefParameter<"int64_t">:$phaseHeads,
    ArrayRefParameter<"int64_t">:$phaseRows,
    ArrayRefParameter<"int64_t">:$phaseKinds
  );
  // Brackets around each list: the parser cannot tell where a bare comma
  // list ends.
  let assemblyFormat = [{
    `<` `tempCols` `=` `[` $tempCols `]` `,`
    `tempShapes` `=` `[` $tempShapes `]` `,`
    `tempBytes` `=` `[` $tempBytes `]` `,`
    `phaseHeads` `=` `[` $phaseHeads `]` `,`
    `phaseRows` `=` `[` $phaseRows `]` `,`
    `phaseKinds` `=` `[` $phaseKinds `]` `>`
  }];
}

def Mha_MicroKernelAttr : AttrDef<Mha_Dialect, "MicroKernel"> {
  let mnemonic = "micro_kernel";
  let summary = "shape of the register-blocked micro-kernels of a flash step";
  let description = [{
    `vectorWidth` f32 lanes per vector (16 for AVX-512, 8 for AVX2).
    `S = Q.K^T` is computed in blocks of `scoreRows` query rows by
    `scoreVectors` vectors of keys, `acc += P.V` in blocks of `outputRows`
    rows by `outputVectors` vectors of the value dim: each block's
    accumulators stay in registers across its reduction loop.

    `dot` says how the products are formed: `fma` (the default, omitted
    when printed) multiplies f32 operands with vector FMAs; `bf16_pairs`
    (bf16 specs, 16 lanes, CPUs with AVX512-BF16) keeps query, keys and
    values in bf16 and sums products of pairs with `vdpbf16ps`
    (`x86vector.avx512.dot`, f32 accumulation): pairs of head-dim elements
    in `S = Q.K^T`, pairs of keys in `acc += P.V` with `P` rounded to bf16.
    Each instruction does twice the multiply-adds of an f32 FMA.
  }];
  let parameters = (ins
    "int64_t":$vectorWidth,
    "int64_t":$scoreRows,
    "int64_t":$scoreVectors,
    "int64_t":$outputRows,
    "int64_t":$outputVectors,
    DefaultValuedParameter<"::mlir::mha::DotProduct",
                           "::mlir::mha::DotProduct::fma",
                           "fma or bf16_pairs">:$dot
  );
  let assemblyFormat = "`<` struct(params) `>`";
}

//===----------------------------------------------------------------------===//
// The GPU launch description
//===----------------------------------------------------------------------===//

// What a GPU kernel asks of its tensors; the values are the MHA_GPU_REQ_*
// bits of include/mha/Runtime/GpuAbi.h (the passes static_assert this). Only
// the launch description uses it, so it lives beside it.
def Mha_GpuRequirementsNone : I32BitEnumAttrCaseNone<"none">;
def Mha_GpuRequirementsAlignedRows : I32BitEnumAttrCaseBit<"aligned_rows", 0>;
def Mha_GpuRequirementsTensorMaps : I32BitEnumAttrCaseBit<"tensor_maps", 1>;
def Mha_GpuRequirements : I32BitEnumAttr<"GpuRequirements",
    "what a GPU kernel requires of its tensors",
    [Mha_GpuRequirementsNone, Mha_GpuRequirementsAlignedRows,
     Mha_GpuRequirementsTensorMaps]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mha";
}

// A #mha.gpu_kernel parameter printed and parsed with its mnemonic (the
// default, the stripped `<...>`, says less to a reader).
class Mha_GpuKernelParameter<string desc>
    : AttrParameter<"::mlir::mha::GpuKernelAttr", desc> {
  let printer = "$_printer.printAttribute($_self)";
  let parser = [{
    [&]() -> ::mlir::FailureOr<::mlir::mha::GpuKernelAttr> {
      ::mlir::mha::GpuKernelAttr kernel;
      if (::mlir::failed($_parser.parseAttribute(kernel)))
        return ::mlir::failure();
      return kernel;
    }()
  }];
}
class Mha_OptionalGpuKernelParameter<string desc>
    : Mha_GpuKernelParameter<desc> {
  let defaultValue = cppStorageType # "()";
}

def Mha_GpuKernelAttr : AttrDef<Mha_Dialect, "GpuKernel"> {
  let mnemonic = "gpu_kernel";
  let summary = "one GPU kernel and how to launch it";
  let description = [{
    The kernel `name` of `gpu.module @module` (after `gpu-module-to-binary`,
    of the `gpu.binary` of that name), launched with `block_threads` threads
    per block and `shared_bytes` bytes of dynamic shared memory on the grid
    `(ceil(Lq / rows_per_block), Hq / heads_per_block, B)`: each block
    computes `rows_per_block` query rows of each of `heads_per_block` query
    heads of one KV group. With `over_keys` the grid is
    `(ceil(Lk / rows_per_block), Hkv, B)` instead: each block computes
    `rows_per_block` keys of one KV head (the backward's dk/dv kernel).
    `requirements` says what the kernel needs of a
    call's tensors (`aligned_rows`: q, k and v rows start on 16-byte
    boundaries; `tensor_maps`: it takes the device address of k's and v's
    TMA tensor maps, boxes of `tma_box_rows` keys, as one more parameter).
    These are the fields of `mha_gpu_kernel` (include/mha/Runtime/GpuAbi.h).

    ```mlir
    #mha.gpu_kernel<module = "mha_kernels", name = "f__kernel",
                    block_threads = 128, shared_bytes = 69632,
                    rows_per_block = 32, heads_per_block = 4,
                    requirements = aligned_rows>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"gpu.module (gpu.binary) holding the kernel">:$module,
    StringRefParameter<"kernel (gpu.func) name">:$name,
    "int32_t":$block_threads,
    "int32_t":$shared_bytes,
    "int32_t":$rows_per_block,
    "int32_t":$heads_per_block,
    EnumParameter<Mha_GpuRequirements>:$requirements,
    DefaultValuedParameter<"int32_t", "0",
                           "keys per TMA box (with tensor_maps)">:$tma_box_rows,
    DefaultValuedParameter<"bool", "false",
                           "the grid walks keys, not query rows">:$over_keys
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Mha_GpuLaunchAttr : AttrDef<Mha_Dialect, "GpuLaunch"> {
  let mnemonic = "gpu_launch";
  let summary = "how to launch the GPU kernels of an exported function";
  let description = [{
    Attached by `convert-mha-to-nvvm` (as `mha.gpu_launch`, beside
    `mha.entry_point`) to the declaration it leaves for each exported
    function; `mha-emit-gpu-entry-points` turns it into the function's
    `mha_gpu_kernel` descriptors. `kernel` is the portable kernel (every
    chip); `fallback_kernel`, in the same module with the same launch shape
    and no requirements, is launched when a call's rows are not 16-byte
    aligned. `sm90a_kernel`, when present, is the warpgroup-MMA kernel of
    its own sm_90a-only module: the runtime launches it on compute
    capability 9.0 and `kernel` elsewhere. `then_kernel` (with its own
    `then_fallback_kernel`) runs after it on the same stream with the same
    parameters: a backward's dk/dv kernel after its dq kernel.
    `split_kernel` and `merge_kernel` (both or neither, in `kernel`'s
    module) are split-KV decoding: when a call has too few blocks to fill
    the device, the runtime launches `split_kernel` on the grid
    `(ceil(Lq / rows_per_block) * parts, Hq / heads_per_block, B)`, each
    block one part of its rows' keys, with two more parameters after the
    head mask (the parts' f32 outputs `[parts, B, Hq, Lq, Dv]` and lse
    `[parts, B, Hq, Lq]`, a stream-ordered buffer of the call), then
    `merge_kernel` with the same parameters, which combines the parts.

    ```mlir
    #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "f__kernel",
                               block_threads = 128, shared_bytes = 73728,
                               rows_per_block = 128, heads_per_block = 1,
                               requirements = aligned_rows>,
      fallback_kernel = "f__kernel_unaligned",
      sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a",
                                     name = "f__kernel_sm90a",
                                     block_threads = 384,
                                     shared_bytes = 164896,
                                     rows_per_block = 128, heads_per_block = 1,
                                     requirements = "aligned_rows|tensor_maps",
                                     tma_box_rows = 128>>
    ```
  }];
  let parameters = (ins
    Mha_GpuKernelParameter<"the portable kernel">:$kernel,
    StringRefParameter<"the kernel for rows that are not 16-byte aligned",
                       [{""}]>:$fallback_kernel,
    Mha_OptionalGpuKernelParameter<"the sm_90a kernel">:$sm90a_kernel,
    Mha_OptionalGpuKernelParameter<"the kernel launched after it">:$then_kernel,
    StringRefParameter<"then_kernel's kernel for unaligned rows",
                       [{""}]>:$then_fallback_kernel,
    Mha_OptionalGpuKernelParameter<"the split-KV kernel">:$split_kernel,
    Mha_OptionalGpuKernelParameter<"the split-KV merge">:$merge_kernel
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // MHA_DIALECT_MHA_ATTRS_TD
