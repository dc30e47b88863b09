// RUN: mha-opt %s -split-input-file -mha-expand-layer -mha-prune-heads -mha-fuse | FileCheck %s

// GQA 4:2 with biases, RoPE and heads 1 and 2 pruned: one projection over
// [Wq | Wk | Wv] and [bq | bk | bv]; RoPE on the 4 + 2 Q and K heads; the
// live blocks renumbered (Q 0 and 3, both K heads at 4-5, both V heads at
// 6-7); the attention reads column offsets 0, 64 and 96.
// CHECK-LABEL: func.func @gqa_rope_bias
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x64xf32>, %[[WQ:.+]]: tensor<64x64xf32>, %[[WK:.+]]: tensor<64x32xf32>, %[[WV:.+]]: tensor<64x32xf32>, %[[WO:.+]]: tensor<64x64xf32>, %[[BQ:.+]]: tensor<64xf32>, %[[BK:.+]]: tensor<32xf32>, %[[BV:.+]]: tensor<32xf32>)
// CHECK: %[[W:.+]] = tensor.concat dim(1) %[[WQ]], %[[WK]], %[[WV]] : (tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x128xf32>
// CHECK: %[[B:.+]] = tensor.concat dim(0) %[[BQ]], %[[BK]], %[[BV]] : (tensor<64xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<128xf32>
// CHECK: %[[QKV:.+]] = mha.linear %[[X]], %[[W]], %[[B]] {head_dim = 16 : i64, live_blocks = array<i64: 0, 3, 4, 5, 6, 7>, rope_blocks = 6 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x64xf32>, tensor<64x128xf32>, tensor<128xf32> -> tensor<?x?x128xf32>
// CHECK: %[[Q:.+]] = mha.split_heads %[[QKV]] : tensor<?x?x128xf32> -> tensor<?x4x?x16xf32>
// CHECK: %[[K:.+]] = mha.split_heads %[[QKV]] {column_offset = 64 : i64} : tensor<?x?x128xf32> -> tensor<?x2x?x16xf32>
// CHECK: %[[V:.+]] = mha.split_heads %[[QKV]] {column_offset = 96 : i64} : tensor<?x?x128xf32> -> tensor<?x2x?x16xf32>
// CHECK: mha.attention %[[Q]], %[[K]], %[[V]]
// CHECK: mha.linear %{{.+}}, %[[WO]] {head_dim = 16 : i64, live_input_blocks = array<i64: 0, 3>}
func.func @gqa_rope_bias(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>, %bq: tensor<64xf32>, %bk: tensor<32xf32>, %bv: tensor<32xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, has_qkv_bias, rope_theta = 10000.0 : f32, causal, head_mask = array<i1: true, false, false, true>}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32>, tensor<64xf32>, tensor<32xf32>, tensor<32xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// No RoPE, no bias, bf16 (bf16 intermediates): no rope_blocks, no bias
// concatenation.
// CHECK-LABEL: func.func @plain_bf16
// CHECK: %[[W:.+]] = tensor.concat dim(1) %{{.+}}, %{{.+}}, %{{.+}} : (tensor<32x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16>) -> tensor<32x96xbf16>
// CHECK-NOT: tensor.concat
// CHECK: mha.linear %{{.+}}, %[[W]] {head_dim = 16 : i64} : tensor<2x?x32xbf16>, tensor<32x96xbf16> -> tensor<2x?x96xbf16>
func.func @plain_bf16(%x: tensor<2x?x32xbf16>, %wq: tensor<32x32xbf16>, %wk: tensor<32x32xbf16>, %wv: tensor<32x32xbf16>, %wo: tensor<32x32xbf16>) -> tensor<2x?x32xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<2x?x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16> -> tensor<2x?x32xbf16>
  return %y : tensor<2x?x32xbf16>
}

// -----

// Shared projections (one product replicated per head) are left alone.
// CHECK-LABEL: func.func @shared
// CHECK-NOT: tensor.concat
// CHECK-COUNT-3: mha.linear %{{.+}} {head_dim = 16 : i64, replicas = 2 : i64}
func.func @shared(%x: tensor<?x?x32xf32>, %wq: tensor<32x16xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>, %bq: tensor<2x16xf32>, %bk: tensor<2x16xf32>, %bv: tensor<2x16xf32>) -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias}
     : tensor<?x?x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// Projections of different inputs are not fused.
// CHECK-LABEL: func.func @two_inputs
// CHECK-NOT: tensor.concat
func.func @two_inputs(%x: tensor<1x8x32xf32>, %z: tensor<1x8x32xf32>, %w: tensor<32x32xf32>) -> tensor<1x2x8x16xf32> {
  %q = mha.linear %x, %w {head_dim = 16 : i64} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  %k = mha.linear %z, %w {head_dim = 16 : i64} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  %v = mha.linear %x, %w {head_dim = 16 : i64} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  %qh = mha.split_heads %q : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  %kh = mha.split_heads %k : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  %vh = mha.split_heads %v : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  %o = mha.attention %qh, %kh, %vh : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Packed sequences: the fused projection rotates its Q and K heads at the
// positions of the same offsets.
// CHECK-LABEL: func.func @packed
// CHECK-SAME: %[[CU:[^:]+]]: tensor<?xi32>)
// CHECK: mha.linear %{{.+}}, %{{.+}} cu_seqlens(%[[CU]] : tensor<?xi32>) {head_dim = 16 : i64, rope_blocks = 6 : i64, rope_theta = 1.000000e+04 : f32} : tensor<1x?x64xf32>, tensor<64x128xf32> -> tensor<1x?x128xf32>
// CHECK: mha.attention {{.*}} cu_seqlens_q(%[[CU]] : tensor<?xi32>) cu_seqlens_k(%[[CU]] : tensor<?xi32>)
func.func @packed(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
                  %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                  %wo: tensor<64x64xf32>, %cu: tensor<?xi32>)
    -> tensor<1x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}
