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

#endif // MHA_DIALECT_MHA_ATTRS_TD
