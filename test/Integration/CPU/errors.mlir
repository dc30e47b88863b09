// Argument checking end to end: every bad argument gives its exact status,
// mha_last_error() names the function, the argument (and the dimension),
// mha_status_string() names the status, no input or output byte changes, and
// a valid call afterwards succeeds and clears the message.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/liberrors.so

// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt null-tensor --corrupt-arg k --expect-status MHA_ERR_NULL_POINTER
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt null-tensor --corrupt-arg lse --expect-status MHA_ERR_NULL_POINTER
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt null-data --corrupt-arg v --expect-status MHA_ERR_NULL_POINTER
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt null-data --corrupt-arg o --expect-status MHA_ERR_NULL_POINTER
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt null-shape --corrupt-arg q --expect-status MHA_ERR_NULL_POINTER
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt rank --corrupt-arg k --expect-status MHA_ERR_RANK
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt rank --corrupt-arg lse --expect-status MHA_ERR_RANK
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt dtype --corrupt-arg v --expect-status MHA_ERR_DTYPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt dtype --corrupt-arg lse --expect-status MHA_ERR_DTYPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-batch --corrupt-arg k --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-batch --corrupt-arg o --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-heads --corrupt-arg k --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-heads --corrupt-arg lse --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-dim --corrupt-arg q --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-dim --corrupt-arg o --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-dim --corrupt-arg lse --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt shape-lk-mismatch --corrupt-arg v --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt device --corrupt-arg o --expect-status MHA_ERR_DEVICE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt device --corrupt-arg q --expect-status MHA_ERR_DEVICE
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt stride-last --corrupt-arg o --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt stride-last --corrupt-arg k --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt negative-stride --corrupt-arg q --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt misaligned-offset --corrupt-arg k --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt misaligned-offset --corrupt-arg lse --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt alias --corrupt-arg o --alias-with q --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt alias --corrupt-arg lse --alias-with o --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt self-overlap --corrupt-arg o --expect-status MHA_ERR_LAYOUT
// RUN: mha-check %t/liberrors.so --fn dyn --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 16 --Dv 8 --causal --lse --corrupt negative-threads --expect-status MHA_ERR_INVALID_ARGUMENT
func.func @dyn(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}

// Static sizes and half precision: static B and L mismatches, f16 vs bf16,
// 2-byte misalignment, a strided (blhd) layout.
// RUN: mha-check %t/liberrors.so --fn static_f16 --dtype f16 --B 2 --Hq 4 --Lq 9 --Lk 11 --D 8 --corrupt shape-batch --corrupt-arg q --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn static_f16 --dtype f16 --B 2 --Hq 4 --Lq 9 --Lk 11 --D 8 --corrupt shape-lk-mismatch --corrupt-arg k --expect-status MHA_ERR_SHAPE
// RUN: mha-check %t/liberrors.so --fn static_f16 --dtype f16 --B 2 --Hq 4 --Lq 9 --Lk 11 --D 8 --corrupt dtype --corrupt-arg q --expect-status MHA_ERR_DTYPE
// RUN: mha-check %t/liberrors.so --fn static_f16 --dtype f16 --B 2 --Hq 4 --Lq 9 --Lk 11 --D 8 --corrupt misaligned-offset --corrupt-arg o --expect-status MHA_ERR_LAYOUT --layout blhd
// RUN: mha-check %t/liberrors.so --fn static_f16 --dtype f16 --B 2 --Hq 4 --Lq 9 --Lk 11 --D 8 --corrupt alias --corrupt-arg o --alias-with v --expect-status MHA_ERR_LAYOUT --layout blhd
// RUN: mha-check %t/liberrors.so --fn static_f16 --dtype f16 --B 2 --Hq 4 --Lq 9 --Lk 11 --D 8 --corrupt negative-stride --corrupt-arg v --expect-status MHA_ERR_LAYOUT --layout padded
func.func @static_f16(%q: tensor<2x4x9x8xf16>, %k: tensor<2x4x11x8xf16>,
                      %v: tensor<2x4x11x8xf16>) -> tensor<2x4x9x8xf16> {
  %o = mha.attention %q, %k, %v
       : tensor<2x4x9x8xf16>, tensor<2x4x11x8xf16>, tensor<2x4x11x8xf16>
       -> tensor<2x4x9x8xf16>
  return %o : tensor<2x4x9x8xf16>
}
