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

def Mha_RoleQuery : I32EnumAttrCase<"query", 0>;
def Mha_RoleKey : I32EnumAttrCase<"key", 1>;
def Mha_RoleValue : I32EnumAttrCase<"value", 2>;
def Mha_RoleOutput : I32EnumAttrCase<"output", 3>;
def Mha_RoleLse : I32EnumAttrCase<"lse", 4>;
def Mha_RoleProbs : I32EnumAttrCase<"probs", 5>;
def Mha_RoleEntropy : I32EnumAttrCase<"entropy", 6>;

// Values match mha_tensor_role of include/mha/Runtime/KernelAbi.h.
def Mha_TensorRole : I32EnumAttr<"TensorRole",
    "what a tensor parameter of a generated entry point is",
    [Mha_RoleQuery, Mha_RoleKey, Mha_RoleValue, Mha_RoleOutput, Mha_RoleLse,
     Mha_RoleProbs, Mha_RoleEntropy]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mha";
}

def Mha_DotFma : I32EnumAttrCase<"fma", 0>;
def Mha_DotBf16Pairs : I32EnumAttrCase<"bf16_pairs", 1>;

// How the micro-kernels of a flash step form their dot products.
def Mha_DotProduct : I32EnumAttr<"DotProduct",
    "how the micro-kernels of a flash step form their dot products",
    [Mha_DotFma, Mha_DotBf16Pairs]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mha";
}

#endif // MHA_DIALECT_MHA_ENUMS_TD
