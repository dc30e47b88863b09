//===- MhaEnums.td - Enumerations of the mha dialect -------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_ENUMS_TD
#define MHA_DIALECT_MHA_ENUMS_TD

include "mlir/IR/EnumAttr.td"

def Mha_SharingIndependent
    : I32EnumAttrCase<"independent", 0, "independent">;
def Mha_SharingSharedHeadBias
    : I32EnumAttrCase<"shared_head_bias", 1, "shared_head_bias">;

def Mha_Sharing : I32EnumAttr<"Sharing",
    "how the heads of a layer share projection parameters",
    [Mha_SharingIndependent, Mha_SharingSharedHeadBias]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mha";
}

#endif // MHA_DIALECT_MHA_ENUMS_TD
