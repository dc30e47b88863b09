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
def Mha_SharingGrouped : I32EnumAttrCase<"grouped", 2, "grouped">;
def Mha_SharingLatent : I32EnumAttrCase<"latent", 3, "latent">;

def Mha_Sharing : I32EnumAttr<"Sharing",
    "how the heads of a layer share projection parameters",
    [Mha_SharingIndependent, Mha_SharingSharedHeadBias, Mha_SharingGrouped,
     Mha_SharingLatent]> {
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
// The tensors of a layer (mha.multi_head).
def Mha_RoleLayerInput : I32EnumAttrCase<"layer_input", 7>;
def Mha_RoleQueryWeight : I32EnumAttrCase<"query_weight", 8>;
def Mha_RoleKeyWeight : I32EnumAttrCase<"key_weight", 9>;
def Mha_RoleValueWeight : I32EnumAttrCase<"value_weight", 10>;
def Mha_RoleOutWeight : I32EnumAttrCase<"out_weight", 11>;
def Mha_RoleQueryBias : I32EnumAttrCase<"query_bias", 12>;
def Mha_RoleKeyBias : I32EnumAttrCase<"key_bias", 13>;
def Mha_RoleValueBias : I32EnumAttrCase<"value_bias", 14>;
def Mha_RoleOutBias : I32EnumAttrCase<"out_bias", 15>;
def Mha_RoleLayerOutput : I32EnumAttrCase<"layer_output", 16>;
// The tensors of a backward function (<name>_backward): the forward's o and
// lse, read back, the incoming gradient of o and the gradients it writes.
def Mha_RoleSavedOutput : I32EnumAttrCase<"saved_output", 17>;
def Mha_RoleSavedLse : I32EnumAttrCase<"saved_lse", 18>;
def Mha_RoleGradOutput : I32EnumAttrCase<"grad_output", 19>;
def Mha_RoleGradQuery : I32EnumAttrCase<"grad_query", 20>;
def Mha_RoleGradKey : I32EnumAttrCase<"grad_key", 21>;
def Mha_RoleGradValue : I32EnumAttrCase<"grad_value", 22>;
// dentropy: the gradient of the forward's entropy, read.
def Mha_RoleGradEntropy : I32EnumAttrCase<"grad_entropy", 23>;
// The two partial results an mha.merge_states function reads.
def Mha_RolePartialOutputA : I32EnumAttrCase<"partial_output_a", 24>;
def Mha_RolePartialLseA : I32EnumAttrCase<"partial_lse_a", 25>;
def Mha_RolePartialOutputB : I32EnumAttrCase<"partial_output_b", 26>;
def Mha_RolePartialLseB : I32EnumAttrCase<"partial_lse_b", 27>;
// The serving operands of an mha.attention (i32, read).
def Mha_RoleKvLens : I32EnumAttrCase<"kv_lens", 28>;
def Mha_RoleQLens : I32EnumAttrCase<"q_lens", 29>;
def Mha_RoleBlockTable : I32EnumAttrCase<"block_table", 30>;
def Mha_RoleCuSeqlensQ : I32EnumAttrCase<"cu_seqlens_q", 31>;
def Mha_RoleCuSeqlensK : I32EnumAttrCase<"cu_seqlens_k", 32>;
// The tensors of an mha.append_kv function: the new keys and values (read)
// and the caches they are written into (written in place).
def Mha_RoleKeyNew : I32EnumAttrCase<"key_new", 33>;
def Mha_RoleValueNew : I32EnumAttrCase<"value_new", 34>;
def Mha_RoleKeyCache : I32EnumAttrCase<"key_cache", 35>;
def Mha_RoleValueCache : I32EnumAttrCase<"value_cache", 36>;
// The factors of a layer's low-rank weights (mha.low_rank): W = down . up.
def Mha_RoleQueryWeightDown : I32EnumAttrCase<"query_weight_down", 37>;
def Mha_RoleQueryWeightUp : I32EnumAttrCase<"query_weight_up", 38>;
def Mha_RoleKeyWeightDown : I32EnumAttrCase<"key_weight_down", 39>;
def Mha_RoleKeyWeightUp : I32EnumAttrCase<"key_weight_up", 40>;
def Mha_RoleValueWeightDown : I32EnumAttrCase<"value_weight_down", 41>;
def Mha_RoleValueWeightUp : I32EnumAttrCase<"value_weight_up", 42>;
def Mha_RoleOutWeightDown : I32EnumAttrCase<"out_weight_down", 43>;
def Mha_RoleOutWeightUp : I32EnumAttrCase<"out_weight_up", 44>;
// The f32 scales of a quantized (i8) key and value cache (kv_scales).
def Mha_RoleKeyScale : I32EnumAttrCase<"key_scale", 45>;
def Mha_RoleValueScale : I32EnumAttrCase<"value_scale", 46>;
// The attention-transfer loss (mha.attention_kl) and its gradient.
def Mha_RoleTeacherQuery : I32EnumAttrCase<"teacher_query", 47>;
def Mha_RoleTeacherKey : I32EnumAttrCase<"teacher_key", 48>;
def Mha_RoleStudentQuery : I32EnumAttrCase<"student_query", 49>;
def Mha_RoleStudentKey : I32EnumAttrCase<"student_key", 50>;
def Mha_RoleKl : I32EnumAttrCase<"kl", 51>;
def Mha_RoleTeacherLse : I32EnumAttrCase<"teacher_lse", 52>;
def Mha_RoleStudentLse : I32EnumAttrCase<"student_lse", 53>;
def Mha_RoleSavedTeacherLse : I32EnumAttrCase<"saved_teacher_lse", 54>;
def Mha_RoleSavedStudentLse : I32EnumAttrCase<"saved_student_lse", 55>;
def Mha_RoleGradKl : I32EnumAttrCase<"grad_kl", 56>;
def Mha_RoleGradStudentQuery : I32EnumAttrCase<"grad_student_query", 57>;
def Mha_RoleGradStudentKey : I32EnumAttrCase<"grad_student_key", 58>;
// The f32 column scales of a layer's int8 weights (mha.quantized).
def Mha_RoleQueryWeightScale : I32EnumAttrCase<"query_weight_scale", 59>;
def Mha_RoleKeyWeightScale : I32EnumAttrCase<"key_weight_scale", 60>;
def Mha_RoleValueWeightScale : I32EnumAttrCase<"value_weight_scale", 61>;
def Mha_RoleOutWeightScale : I32EnumAttrCase<"out_weight_scale", 62>;
// The tensors of a layer's backward (<name>_backward of an mha.multi_head):
// the incoming gradient of y, read, and the gradients it writes.
def Mha_RoleGradLayerOutput : I32EnumAttrCase<"grad_layer_output", 63>;
def Mha_RoleGradLayerInput : I32EnumAttrCase<"grad_layer_input", 64>;
def Mha_RoleGradQueryWeight : I32EnumAttrCase<"grad_query_weight", 65>;
def Mha_RoleGradKeyWeight : I32EnumAttrCase<"grad_key_weight", 66>;
def Mha_RoleGradValueWeight : I32EnumAttrCase<"grad_value_weight", 67>;
def Mha_RoleGradOutWeight : I32EnumAttrCase<"grad_out_weight", 68>;
def Mha_RoleGradQueryBias : I32EnumAttrCase<"grad_query_bias", 69>;
def Mha_RoleGradKeyBias : I32EnumAttrCase<"grad_key_bias", 70>;
def Mha_RoleGradValueBias : I32EnumAttrCase<"grad_value_bias", 71>;
def Mha_RoleGradOutBias : I32EnumAttrCase<"grad_out_bias", 72>;
// The gradients of low-rank factors (mha.low_rank's down and up).
def Mha_RoleGradQueryWeightDown : I32EnumAttrCase<"grad_query_weight_down", 73>;
def Mha_RoleGradQueryWeightUp : I32EnumAttrCase<"grad_query_weight_up", 74>;
def Mha_RoleGradKeyWeightDown : I32EnumAttrCase<"grad_key_weight_down", 75>;
def Mha_RoleGradKeyWeightUp : I32EnumAttrCase<"grad_key_weight_up", 76>;
def Mha_RoleGradValueWeightDown : I32EnumAttrCase<"grad_value_weight_down", 77>;
def Mha_RoleGradValueWeightUp : I32EnumAttrCase<"grad_value_weight_up", 78>;
def Mha_RoleGradOutWeightDown : I32EnumAttrCase<"grad_out_weight_down", 79>;
def Mha_RoleGradOutWeightUp : I32EnumAttrCase<"grad_out_weight_up", 80>;

// Values match mha_tensor_role of include/mha/Runtime/KernelAbi.h.
def Mha_TensorRole : I32EnumAttr<"TensorRole",
    "what a tensor parameter of a generated entry point is",
    [Mha_RoleQuery, Mha_RoleKey, Mha_RoleValue, Mha_RoleOutput, Mha_RoleLse,
     Mha_RoleProbs, Mha_RoleEntropy, Mha_RoleLayerInput, Mha_RoleQueryWeight,
     Mha_RoleKeyWeight, Mha_RoleValueWeight, Mha_RoleOutWeight,
     Mha_RoleQueryBias, Mha_RoleKeyBias, Mha_RoleValueBias, Mha_RoleOutBias,
     Mha_RoleLayerOutput, Mha_RoleSavedOutput, Mha_RoleSavedLse,
     Mha_RoleGradOutput, Mha_RoleGradQuery, Mha_RoleGradKey,
     Mha_RoleGradValue, Mha_RoleGradEntropy, Mha_RolePartialOutputA,
     Mha_RolePartialLseA, Mha_RolePartialOutputB, Mha_RolePartialLseB,
     Mha_RoleKvLens, Mha_RoleQLens, Mha_RoleBlockTable, Mha_RoleCuSeqlensQ,
     Mha_RoleCuSeqlensK, Mha_RoleKeyNew, Mha_RoleValueNew, Mha_RoleKeyCache,
     Mha_RoleValueCache, Mha_RoleQueryWeightDown, Mha_RoleQueryWeightUp,
     Mha_RoleKeyWeightDown, Mha_RoleKeyWeightUp, Mha_RoleValueWeightDown,
     Mha_RoleValueWeightUp, Mha_RoleOutWeightDown, Mha_RoleOutWeightUp,
     Mha_RoleKeyScale, Mha_RoleValueScale,
     Mha_RoleTeacherQuery, Mha_RoleTeacherKey, Mha_RoleStudentQuery, Mha_RoleStudentKey, Mha_RoleKl,
     Mha_RoleTeacherLse, Mha_RoleStudentLse, Mha_RoleSavedTeacherLse, Mha_RoleSavedStudentLse, Mha_RoleGradKl, Mha_RoleGradStudentQuery, Mha_RoleGradStudentKey,
     Mha_RoleQueryWeightScale, Mha_RoleKeyWeightScale, Mha_RoleValueWeightScale,
     Mha_RoleOutWeightScale, Mha_RoleGradLayerOutput, Mha_RoleGradLayerInput,
     Mha_RoleGradQueryWeight, Mha_RoleGradKeyWeight, Mha_RoleGradValueWeight,
     Mha_RoleGradOutWeight, Mha_RoleGradQueryBias, Mha_RoleGradKeyBias,
     Mha_RoleGradQueryWeightDown, Mha_RoleGradQueryWeightUp, Mha_RoleGradKeyWeightDown, Mha_RoleGradKeyWeightUp,
     Mha_RoleGradValueWeightDown, Mha_RoleGradValueWeightUp, Mha_RoleGradOutWeightDown, Mha_RoleGradOutWeightUp,
     Mha_RoleGradValueBias, Mha_RoleGradOutBias]> {
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
