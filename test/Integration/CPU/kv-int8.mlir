// Quantized (i8) KV caches end to end (docs/language.md 4.8): mha-run fills
// k and v with i8 values and the scales per KV head with values in
// [0.01, 0.05), and compares with the float64 reference over the
// dequantized cache: f32 queries (the steps dequantize as they pack), f16
// and bf16 queries (rows dequantized into tiles of the query's type), with
// masks, score modifiers, pruned heads and the extra results, head dims
// that are not multiples of the vector width; this CPU's copies
// (--isa=host) and an AVX2 library.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libkv8.so
// RUN: mha-compile %s --isa=avx2 -o %t/libkv8-avx2.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libkv8.h
// RUN: mha-run %s %t/libkv8.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: mha-run %s %t/libkv8.so --batch 1 --seq-len 1 | FileCheck %s
// RUN: mha-run %s %t/libkv8.so --batch 3 --seq-len 203 --num-threads 3 | FileCheck %s
// RUN: mha-run %s %t/libkv8-avx2.so --batch 2 --seq-len 37 | FileCheck %s

// HEADER: k: [B, 2, Lk, 64] i8 (key)
// HEADER: k_scale: [2] f32 (key_scale)
// HEADER: mha_status gqa_f32(const DLTensor *q, const DLTensor *k, const DLTensor *v, const DLTensor *k_scale, const DLTensor *v_scale, DLTensor *o, DLTensor *lse, const mha_options *opts);

// CHECK: gqa_f32 {{.*}}GQA causal int8-kv{{.*}} ok
func.func @gqa_f32(%q: tensor<?x8x?x64xf32>, %k: tensor<?x2x?x64xi8>, %v: tensor<?x2x?x64xi8>,
                   %ks: tensor<2xf32>, %vs: tensor<2xf32>) -> (tensor<?x8x?x64xf32>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>) {causal, return_lse}
      : tensor<?x8x?x64xf32>, tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8> -> tensor<?x8x?x64xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xf32>, tensor<?x8x?xf32>
}

// CHECK: windows_bf16 {{.*}}GQA causal windows sinks int8-kv{{.*}} ok
func.func @windows_bf16(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xi8>, %v: tensor<?x2x?x32xi8>,
                        %ks: tensor<2xf32>, %vs: tensor<2xf32>) -> tensor<?x4x?x32xbf16> {
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>)
      {causal, window_left = array<i64: 4, -1, 9, 0>, sink_tokens = 2}
      : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xi8>, tensor<?x2x?x32xi8> -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}

// CHECK: mods_f16 {{.*}}MHA softcap alibi temp pruned int8-kv{{.*}} ok
func.func @mods_f16(%q: tensor<?x3x?x80xf16>, %k: tensor<?x3x?x80xi8>, %v: tensor<?x3x?x48xi8>,
                    %ks: tensor<3xf32>, %vs: tensor<3xf32>)
    -> (tensor<?x3x?x48xf16>, tensor<?x3x?xf32>, tensor<?x3x?xf32>) {
  %o, %lse, %ent = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<3xf32>, tensor<3xf32>)
      {softcap = 10.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.125>,
       temperature = array<f32: 1.0, 2.0, 0.5>, head_mask = array<i1: true, false, true>,
       return_lse, return_entropy}
      : tensor<?x3x?x80xf16>, tensor<?x3x?x80xi8>, tensor<?x3x?x48xi8>
      -> tensor<?x3x?x48xf16>, tensor<?x3x?xf32>, tensor<?x3x?xf32>
  return %o, %lse, %ent : tensor<?x3x?x48xf16>, tensor<?x3x?xf32>, tensor<?x3x?xf32>
}

// Decoding (Lq = 1) with 6 query heads per KV head: a step of 6 rows sums
// its scores along D, one pass of 4 rows (each key chunk widened once for
// them) and two of one; D = 72 ends in a partial vector.
// CHECK: decode6_f32 {{.*}} ok
func.func @decode6_f32(%q: tensor<?x6x1x72xf32>, %k: tensor<?x1x?x72xi8>, %v: tensor<?x1x?x72xi8>,
                       %ks: tensor<1xf32>, %vs: tensor<1xf32>) -> tensor<?x6x1x72xf32> {
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<1xf32>, tensor<1xf32>)
      {causal, softcap = 20.0 : f32, window_left = array<i64: 5, -1, 40, 0, 100, 7>}
      : tensor<?x6x1x72xf32>, tensor<?x1x?x72xi8>, tensor<?x1x?x72xi8> -> tensor<?x6x1x72xf32>
  return %o : tensor<?x6x1x72xf32>
}
