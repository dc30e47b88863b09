// Whole layers (mha.multi_head) end to end against the float64 layer
// reference (lib/Reference/LayerReference.cpp): both sharing schemes, with
// and without biases, RoPE, GQA/MQA, causal and windows, pruned heads,
// f32/f16/bf16, odd sizes, static and dynamic B and L, every ISA copy.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=cpu -o %t/liblayers.so
// RUN: mha-run %s %t/liblayers.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: mha-run %s %t/liblayers.so --batch 1 --seq-len 1 | FileCheck %s
// RUN: mha-run %s %t/liblayers.so --batch 3 --seq-len 203 --num-threads 3 | FileCheck %s
// RUN: env MHA_ISA=avx512 mha-run %s %t/liblayers.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: env MHA_ISA=avx2 mha-run %s %t/liblayers.so --batch 2 --seq-len 101 | FileCheck %s
// RUN: env MHA_ISA=generic mha-run %s %t/liblayers.so --batch 2 --seq-len 37 --num-threads 1 | FileCheck %s

// CHECK: mha_plain MHA f32 {{.*}} ok
// Plain multi-head, no bias, no RoPE; d = 96 is not a multiple of the
// 128-column blocks of the output projection, D = 24 not of the vector.
func.func @mha_plain(%x: tensor<?x?x96xf32>, %wq: tensor<96x96xf32>, %wk: tensor<96x96xf32>, %wv: tensor<96x96xf32>, %wo: tensor<96x96xf32>) -> tensor<?x?x96xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
     : tensor<?x?x96xf32>, tensor<96x96xf32>, tensor<96x96xf32>, tensor<96x96xf32>, tensor<96x96xf32> -> tensor<?x?x96xf32>
  return %y : tensor<?x?x96xf32>
}

// CHECK: gqa_all GQA qkv-bias out-bias rope causal windows f32 {{.*}} ok
// GQA 8:2 with every bias, RoPE, causal and per-head windows; d = 160 is
// more than one output block.
func.func @gqa_all(%x: tensor<?x?x160xf32>, %wq: tensor<160x128xf32>, %wk: tensor<160x32xf32>, %wv: tensor<160x32xf32>, %wo: tensor<128x160xf32>, %bq: tensor<128xf32>, %bk: tensor<32xf32>, %bv: tensor<32xf32>, %bo: tensor<160xf32>) -> tensor<?x?x160xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 8, num_kv_heads = 2, has_qkv_bias, has_out_bias, rope_theta = 500.0 : f32, causal, window_left = array<i64: 5, 9, -1, 3, 7, -1, 2, 20>}
     : tensor<?x?x160xf32>, tensor<160x128xf32>, tensor<160x32xf32>, tensor<160x32xf32>, tensor<128x160xf32>, tensor<128xf32>, tensor<32xf32>, tensor<32xf32>, tensor<160xf32> -> tensor<?x?x160xf32>
  return %y : tensor<?x?x160xf32>
}

// CHECK: mqa_bf16 MQA out-bias rope bf16 {{.*}} ok
// MQA in bf16 with static B, RoPE and only the output bias.
func.func @mqa_bf16(%x: tensor<2x?x64xbf16>, %wq: tensor<64x64xbf16>, %wk: tensor<64x16xbf16>, %wv: tensor<64x16xbf16>, %wo: tensor<64x64xbf16>, %bo: tensor<64xbf16>) -> tensor<2x?x64xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 4, num_kv_heads = 1, has_out_bias, rope_theta = 10000.0 : f32}
     : tensor<2x?x64xbf16>, tensor<64x64xbf16>, tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64x64xbf16>, tensor<64xbf16> -> tensor<2x?x64xbf16>
  return %y : tensor<2x?x64xbf16>
}

// CHECK: shared_f16 GQA shared qkv-bias out-bias rope causal f16 {{.*}} ok
// Shared projections with per-head biases, GQA 4:2, RoPE, f16.
func.func @shared_f16(%x: tensor<?x?x48xf16>, %wq: tensor<48x32xf16>, %wk: tensor<48x32xf16>, %wv: tensor<48x32xf16>, %wo: tensor<128x48xf16>, %bq: tensor<4x32xf16>, %bk: tensor<2x32xf16>, %bv: tensor<2x32xf16>, %bo: tensor<48xf16>) -> tensor<?x?x48xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, has_out_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x48xf16>, tensor<48x32xf16>, tensor<48x32xf16>, tensor<48x32xf16>, tensor<128x48xf16>, tensor<4x32xf16>, tensor<2x32xf16>, tensor<2x32xf16>, tensor<48xf16> -> tensor<?x?x48xf16>
  return %y : tensor<?x?x48xf16>
}

// CHECK: shared_f32 MHA shared qkv-bias windows f32 {{.*}} ok
// Shared projections in f32 (tolerance 1e-5), no RoPE, sliding window.
func.func @shared_f32(%x: tensor<?x?x64xf32>, %wq: tensor<64x16xf32>, %wk: tensor<64x16xf32>, %wv: tensor<64x16xf32>, %wo: tensor<48x64xf32>, %bq: tensor<3x16xf32>, %bk: tensor<3x16xf32>, %bv: tensor<3x16xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 3, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, window_left = array<i64: 8>, window_right = array<i64: 8>}
     : tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<48x64xf32>, tensor<3x16xf32>, tensor<3x16xf32>, tensor<3x16xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// CHECK: pruned_f16 GQA qkv-bias causal pruned f16 {{.*}} ok
// Heads 1 and 2 of 4 pruned (mha-prune-heads): their columns and rows of
// Wo are never computed, the output matches the reference's zero heads.
func.func @pruned_f16(%x: tensor<?x?x80xf16>, %wq: tensor<80x80xf16>, %wk: tensor<80x40xf16>, %wv: tensor<80x40xf16>, %wo: tensor<80x80xf16>, %bq: tensor<80xf16>, %bk: tensor<40xf16>, %bv: tensor<40xf16>) -> tensor<?x?x80xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, has_qkv_bias, head_mask = array<i1: true, false, false, true>, causal}
     : tensor<?x?x80xf16>, tensor<80x80xf16>, tensor<80x40xf16>, tensor<80x40xf16>, tensor<80x80xf16>, tensor<80xf16>, tensor<40xf16>, tensor<40xf16> -> tensor<?x?x80xf16>
  return %y : tensor<?x?x80xf16>
}

// CHECK: pruned_group GQA rope pruned f32 {{.*}} ok
// A whole KV group pruned, with RoPE.
func.func @pruned_group(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, head_mask = array<i1: false, false, true, true>, rope_theta = 10000.0 : f32}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// CHECK: pruned_shared MHA shared qkv-bias pruned bf16 {{.*}} ok
// A pruned head of a shared layer, bf16.
func.func @pruned_shared(%x: tensor<?x?x32xbf16>, %wq: tensor<32x16xbf16>, %wk: tensor<32x16xbf16>, %wv: tensor<32x16xbf16>, %wo: tensor<32x32xbf16>, %bq: tensor<2x16xbf16>, %bk: tensor<2x16xbf16>, %bv: tensor<2x16xbf16>) -> tensor<?x?x32xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, head_mask = array<i1: false, true>}
     : tensor<?x?x32xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x32xbf16>, tensor<2x16xbf16>, tensor<2x16xbf16>, tensor<2x16xbf16> -> tensor<?x?x32xbf16>
  return %y : tensor<?x?x32xbf16>
}

// CHECK: with_extras GQA rope causal windows pruned f32 {{.*}} ok
// The attention's lse, probabilities and entropy of a layer, returned
// beside y (before it), with a pruned head and windows.
func.func @with_extras(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>) -> (tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x?x64xf32>, tensor<?x4x?xf32>) {
  %y, %lse, %p, %e = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal, window_left = array<i64: 3, -1, 6, -1>, head_mask = array<i1: true, true, false, true>, return_lse, return_probs, return_entropy}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
  return %lse, %p, %y, %e : tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x?x64xf32>, tensor<?x4x?xf32>
}

// CHECK: wide_heads MQA rope causal f32 {{.*}} ok
// Head dim 512: GEMM items wider than the 128-column blocks, RoPE over
// 256-column halves.
func.func @wide_heads(%x: tensor<?x?x96xf32>, %wq: tensor<96x1024xf32>, %wk: tensor<96x512xf32>, %wv: tensor<96x512xf32>, %wo: tensor<1024x96xf32>) -> tensor<?x?x96xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, num_kv_heads = 1, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x96xf32>, tensor<96x1024xf32>, tensor<96x512xf32>, tensor<96x512xf32>, tensor<1024x96xf32> -> tensor<?x?x96xf32>
  return %y : tensor<?x?x96xf32>
}

// CHECK: static_len MHA rope causal f32 {{.*}} ok
// Static B and L (the flags do not apply), a softcap and ALiBi passed
// through to the attention.
func.func @static_len(%x: tensor<2x19x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x32xf32>, %wv: tensor<32x32xf32>, %wo: tensor<32x32xf32>) -> tensor<2x19x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, rope_theta = 10000.0 : f32, causal, softcap = 5.0 : f32, alibi_slopes = array<f32: 0.5, 0.25>}
     : tensor<2x19x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32> -> tensor<2x19x32xf32>
  return %y : tensor<2x19x32xf32>
}
