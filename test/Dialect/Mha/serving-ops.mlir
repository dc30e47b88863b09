// RUN: mha-opt %s | mha-opt | FileCheck %s
// RUN: mha-opt %s --mlir-print-op-generic | mha-opt | FileCheck %s

// Round trips of mha.attention's serving operands (docs/language.md 4.6)
// through the custom and the generic form.

// CHECK-LABEL: func.func @paged_decode
// CHECK: mha.attention %{{.*}}, %{{.*}}, %{{.*}} kv_lens(%{{.*}} : tensor<?xi32>) block_table(%{{.*}} : tensor<?x?xi32>) {causal}
func.func @paged_decode(%q: tensor<?x32x1x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                        %v: tensor<?x8x?x128xbf16>, %l: tensor<?xi32>,
                        %t: tensor<?x?xi32>) -> tensor<?x32x1x128xbf16> {
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) block_table(%t : tensor<?x?xi32>) {causal}
      : tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16> -> tensor<?x32x1x128xbf16>
  return %o : tensor<?x32x1x128xbf16>
}

// CHECK-LABEL: func.func @padded
// CHECK: mha.attention %{{.*}}, %{{.*}}, %{{.*}} kv_lens(%{{.*}} : tensor<3xi32>) q_lens(%{{.*}} : tensor<3xi32>) {return_lse}
func.func @padded(%q: tensor<3x4x8x16xf32>, %k: tensor<3x2x32x16xf32>,
                  %v: tensor<3x2x32x16xf32>, %kl: tensor<3xi32>, %ql: tensor<3xi32>)
    -> (tensor<3x4x8x16xf32>, tensor<3x4x8xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kl : tensor<3xi32>) q_lens(%ql : tensor<3xi32>) {return_lse}
      : tensor<3x4x8x16xf32>, tensor<3x2x32x16xf32>, tensor<3x2x32x16xf32> -> tensor<3x4x8x16xf32>, tensor<3x4x8xf32>
  return %o, %lse : tensor<3x4x8x16xf32>, tensor<3x4x8xf32>
}

// CHECK-LABEL: func.func @varlen
// CHECK: mha.attention %{{.*}}, %{{.*}}, %{{.*}} cu_seqlens_q(%{{.*}} : tensor<?xi32>) cu_seqlens_k(%{{.*}} : tensor<?xi32>) {causal}
func.func @varlen(%q: tensor<1x8x?x64xf16>, %k: tensor<1x8x?x64xf16>,
                  %v: tensor<1x8x?x64xf16>, %cq: tensor<?xi32>, %ck: tensor<?xi32>)
    -> tensor<1x8x?x64xf16> {
  %o = mha.attention %q, %k, %v cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {causal}
      : tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16> -> tensor<1x8x?x64xf16>
  return %o : tensor<1x8x?x64xf16>
}

// CHECK-LABEL: func.func @varlen_paged
// CHECK: mha.attention %{{.*}}, %{{.*}}, %{{.*}} kv_lens(%{{.*}} : tensor<?xi32>) block_table(%{{.*}} : tensor<?x?xi32>) cu_seqlens_q(%{{.*}} : tensor<?xi32>)
func.func @varlen_paged(%q: tensor<1x8x?x64xf32>, %k: tensor<?x2x16x64xf32>,
                        %v: tensor<?x2x16x64xf32>, %l: tensor<?xi32>,
                        %t: tensor<?x?xi32>, %cq: tensor<?xi32>) -> tensor<1x8x?x64xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) block_table(%t : tensor<?x?xi32>) cu_seqlens_q(%cq : tensor<?xi32>)
      : tensor<1x8x?x64xf32>, tensor<?x2x16x64xf32>, tensor<?x2x16x64xf32> -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// Quantized caches: i8 keys and values with their scales, per KV head or
// per page.
// CHECK-LABEL: func.func @int8_cache
// CHECK: mha.attention %{{.*}}, %{{.*}}, %{{.*}} kv_scales(%{{.*}}, %{{.*}} : tensor<2xf32>, tensor<2xf32>) {causal}
// CHECK: mha.attention %{{.*}}, %{{.*}}, %{{.*}} kv_scales(%{{.*}}, %{{.*}} : tensor<?x2xf32>, tensor<?x2xf32>) kv_lens(%{{.*}} : tensor<?xi32>) block_table(%{{.*}} : tensor<?x?xi32>)
func.func @int8_cache(%q: tensor<?x8x?x64xf32>, %k: tensor<?x2x?x64xi8>, %v: tensor<?x2x?x64xi8>,
                      %ks: tensor<2xf32>, %vs: tensor<2xf32>, %kp: tensor<?x2x16x64xi8>,
                      %vp: tensor<?x2x16x64xi8>, %kps: tensor<?x2xf32>, %vps: tensor<?x2xf32>,
                      %l: tensor<?xi32>, %t: tensor<?x?xi32>) -> (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>) {
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>) {causal}
      : tensor<?x8x?x64xf32>, tensor<?x2x?x64xi8>, tensor<?x2x?x64xi8> -> tensor<?x8x?x64xf32>
  %o2 = mha.attention %q, %kp, %vp kv_scales(%kps, %vps : tensor<?x2xf32>, tensor<?x2xf32>) kv_lens(%l : tensor<?xi32>) block_table(%t : tensor<?x?xi32>)
      : tensor<?x8x?x64xf32>, tensor<?x2x16x64xi8>, tensor<?x2x16x64xi8> -> tensor<?x8x?x64xf32>
  return %o, %o2 : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>
}

// CHECK-LABEL: func.func @append
// CHECK: mha.append_kv %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}} kv_lens(%{{.*}} : tensor<?xi32>) block_table(%{{.*}} : tensor<?x?xi32>) {rope_theta = 1.000000e+04 : f32}
func.func @append(%kn: tensor<?x8x1x128xbf16>, %vn: tensor<?x8x1x128xbf16>, %l: tensor<?xi32>,
                  %t: tensor<?x?xi32>, %kc: tensor<?x8x16x128xbf16>, %vc: tensor<?x8x16x128xbf16>)
    -> (tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>) {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>) block_table(%t : tensor<?x?xi32>) {rope_theta = 1.0e4 : f32}
      : tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
      -> tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
  return %k, %v : tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
}

// CHECK-LABEL: func.func @append_int8
// CHECK: mha.append_kv %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}} kv_scales(%{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<?x8xf32>) kv_lens(%{{.*}} : tensor<?xi32>) block_table(%{{.*}} : tensor<?x?xi32>)
func.func @append_int8(%kn: tensor<?x8x1x128xbf16>, %vn: tensor<?x8x1x128xbf16>, %l: tensor<?xi32>,
                       %t: tensor<?x?xi32>, %ks: tensor<?x8xf32>, %vs: tensor<?x8xf32>,
                       %kc: tensor<?x8x16x128xi8>, %vc: tensor<?x8x16x128xi8>)
    -> (tensor<?x8x16x128xi8>, tensor<?x8x16x128xi8>) {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_scales(%ks, %vs : tensor<?x8xf32>, tensor<?x8xf32>) kv_lens(%l : tensor<?xi32>) block_table(%t : tensor<?x?xi32>)
      : tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x16x128xi8>, tensor<?x8x16x128xi8>
      -> tensor<?x8x16x128xi8>, tensor<?x8x16x128xi8>
  return %k, %v : tensor<?x8x16x128xi8>, tensor<?x8x16x128xi8>
}
