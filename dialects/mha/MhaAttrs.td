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
    per entry of `tempCols` (4 bytes per element), of shape `[1, L, cols]`,
    `[B, L, cols]` or `[1, 1, cols]` where `tempShapes` is 0, 1 or 2
    (`MHA_TEMP_*` of KernelAbi.h), and runs the phases in order, each
    over its own grid `B x phaseHeads[p] x ceil(L / phaseRows[p])`; the
    kernel takes the phase number before `(b, h, t)`. The runtime head mask
    applies to the phase whose `phaseMasked` is 1 (the attention).
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$tempCols,
    ArrayRefParameter<"int64_t">:$tempShapes,
    ArrayRefParameter<"int64_t">:$phaseHeads,
    ArrayRefParameter<"int64_t">:$phaseRows,
    ArrayRefParameter<"int64_t">:$phaseMasked
  );
  let assemblyFormat = "`<` struct(params) `>`";
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

#endif // MHA_DIALECT_MHA_ATTRS_TD
