// RUN: mha-opt %s --convert-mha-to-nvvm -verify-diagnostics -split-input-file
// RUN: not mha-compile %s --target=nvptx -o %t.so 2>&1 | FileCheck %s

// mha-compile stops at the first refusal it meets: a quantized cache.
// CHECK: quantized caches (kv_scales) are not yet supported on the GPU: compile this function with --target=cpu

// Packed sequences (docs/language.md 4.6) run forward on the GPU, not yet
// backward (kv_lens and q_lens do).
func.func @varlen(%q: tensor<1x4x?x64xf16>, %k: tensor<1x4x?x64xf16>, %v: tensor<1x4x?x64xf16>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> (tensor<1x4x?x64xf16>, tensor<1x4x?xf32>)
    attributes {mha.backward} {
  // expected-error @+1 {{the GPU backward does not yet take packed sequences (cu_seqlens_q, cu_seqlens_k; kv_lens and q_lens it does): compile this function with --target=cpu}}
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {return_lse}
       : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16> -> tensor<1x4x?x64xf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x64xf16>, tensor<1x4x?xf32>
}

// -----

// Quantized caches are CPU-only in append functions too (contiguous and
// paged caches, kv_lens, q_lens and packed new keys run on the GPU).
func.func @append_int8(%kn: tensor<?x2x1x64xf16>, %vn: tensor<?x2x1x64xf16>, %l: tensor<?xi32>,
                       %ks: tensor<2xf32>, %vs: tensor<2xf32>,
                       %kc: tensor<?x2x?x64xi8>, %vc: tensor<?x2x?x64xi8>)
    -> (tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8>) {
  // expected-error @+1 {{quantized caches (kv_scales) are not yet supported on the GPU: compile this function with --target=cpu}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>) kv_lens(%l : tensor<?xi32>)
      : tensor<?x2x1x64xf16>, tensor<?x2x1x64xf16>, tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8>
      -> tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8>
  return %k, %v : tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8>
}

// -----

// Quantized caches (kv_scales) are CPU-only too.
func.func @int8_cache(%q: tensor<?x4x1x64xf16>, %k: tensor<?x2x?x64xi8>, %v: tensor<?x2x?x64xi8>,
                      %ks: tensor<2xf32>, %vs: tensor<2xf32>) -> tensor<?x4x1x64xf16> {
  // expected-error @+1 {{quantized caches (kv_scales) are not yet supported on the GPU: compile this function with --target=cpu}}
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>)
       : tensor<?x4x1x64xf16>, tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8> -> tensor<?x4x1x64xf16>
  return %o : tensor<?x4x1x64xf16>
}
