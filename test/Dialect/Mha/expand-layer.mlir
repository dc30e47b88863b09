// RUN: mha-opt %s -split-input-file -mha-expand-layer | FileCheck %s

// Independent projections, GQA 8:2: Q [B, L, 8*16], K and V [B, L, 2*16],
// bf16 like the layer (f32 for f32 and f16 layers); RoPE on Q and K only; every attention
// attribute passes through unchanged; the output projection reads the
// merged heads and writes the layer's type.
// CHECK-LABEL: func.func @gqa_rope
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x64xbf16>, %[[WQ:.+]]: tensor<64x128xbf16>, %[[WK:.+]]: tensor<64x32xbf16>, %[[WV:.+]]: tensor<64x32xbf16>, %[[WO:.+]]: tensor<128x64xbf16>)
// CHECK: %[[Q:.+]] = mha.linear %[[X]], %[[WQ]] {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x64xbf16>, tensor<64x128xbf16> -> tensor<?x?x128xbf16>
// CHECK: %[[QH:.+]] = mha.split_heads %[[Q]] : tensor<?x?x128xbf16> -> tensor<?x8x?x16xbf16>
// CHECK: %[[K:.+]] = mha.linear %[[X]], %[[WK]] {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x64xbf16>, tensor<64x32xbf16> -> tensor<?x?x32xbf16>
// CHECK: %[[KH:.+]] = mha.split_heads %[[K]] : tensor<?x?x32xbf16> -> tensor<?x2x?x16xbf16>
// CHECK: %[[V:.+]] = mha.linear %[[X]], %[[WV]] {head_dim = 16 : i64} : tensor<?x?x64xbf16>, tensor<64x32xbf16> -> tensor<?x?x32xbf16>
// CHECK: %[[VH:.+]] = mha.split_heads %[[V]]
// CHECK: %[[O:.+]] = mha.attention %[[QH]], %[[KH]], %[[VH]] {causal, scale = 5.000000e-01 : f32, softcap = 3.000000e+01 : f32, window_left = array<i64: 4, -1, 4, -1, 4, -1, 4, -1>} : tensor<?x8x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16> -> tensor<?x8x?x16xbf16>
// CHECK: %[[M:.+]] = mha.merge_heads %[[O]] : tensor<?x8x?x16xbf16> -> tensor<?x?x128xbf16>
// CHECK: %[[Y:.+]] = mha.linear %[[M]], %[[WO]] {head_dim = 16 : i64} : tensor<?x?x128xbf16>, tensor<128x64xbf16> -> tensor<?x?x64xbf16>
// CHECK: return %[[Y]]
// CHECK-NOT: mha.multi_head
func.func @gqa_rope(%x: tensor<?x?x64xbf16>, %wq: tensor<64x128xbf16>, %wk: tensor<64x32xbf16>, %wv: tensor<64x32xbf16>, %wo: tensor<128x64xbf16>) -> tensor<?x?x64xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal, scale = 0.5 : f32, softcap = 30.0 : f32, window_left = array<i64: 4, -1, 4, -1, 4, -1, 4, -1>}
     : tensor<?x?x64xbf16>, tensor<64x128xbf16>, tensor<64x32xbf16>, tensor<64x32xbf16>, tensor<128x64xbf16> -> tensor<?x?x64xbf16>
  return %y : tensor<?x?x64xbf16>
}

// -----

// Shared projections: one [d, D] product replicated per head with the
// per-head bias rows; the output bias goes to the output projection.
// CHECK-LABEL: func.func @shared_bias
// CHECK-SAME: %[[BQ:[a-z0-9]+]]: tensor<4x16xf32>, %[[BK:[a-z0-9]+]]: tensor<2x16xf32>, %[[BV:[a-z0-9]+]]: tensor<2x16xf32>, %[[BO:[a-z0-9]+]]: tensor<32xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}}, %[[BQ]] {head_dim = 16 : i64, replicas = 4 : i64} : tensor<2x?x32xf32>, tensor<32x16xf32>, tensor<4x16xf32> -> tensor<2x?x64xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}}, %[[BK]] {head_dim = 16 : i64, replicas = 2 : i64} : tensor<2x?x32xf32>, tensor<32x16xf32>, tensor<2x16xf32> -> tensor<2x?x32xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}}, %[[BV]] {head_dim = 16 : i64, replicas = 2 : i64}
// CHECK: mha.attention %{{.+}}, %{{.+}}, %{{.+}} : tensor<2x4x?x16xf32>, tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32> -> tensor<2x4x?x16xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}}, %[[BO]] {head_dim = 16 : i64} : tensor<2x?x64xf32>, tensor<64x32xf32>, tensor<32xf32> -> tensor<2x?x32xf32>
func.func @shared_bias(%x: tensor<2x?x32xf32>, %wq: tensor<32x16xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<64x32xf32>, %bq: tensor<4x16xf32>, %bk: tensor<2x16xf32>, %bv: tensor<2x16xf32>, %bo: tensor<32xf32>) -> tensor<2x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, has_out_bias}
     : tensor<2x?x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<64x32xf32>, tensor<4x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<32xf32> -> tensor<2x?x32xf32>
  return %y : tensor<2x?x32xf32>
}

// -----

// Grouped projections: each group's columns are computed once for its heads
// (replicas = heads per group), the per-head biases index y's heads.
// CHECK-LABEL: func.func @grouped
// CHECK: mha.linear %{{.+}}, %{{.+}}, %{{.+}} {head_dim = 16 : i64, replicas = 3 : i64} : tensor<2x?x32xf32>, tensor<32x32xf32>, tensor<6x16xf32> -> tensor<2x?x96xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}}, %{{.+}} {head_dim = 16 : i64, replicas = 2 : i64} : tensor<2x?x32xf32>, tensor<32x16xf32>, tensor<2x16xf32> -> tensor<2x?x32xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}}, %{{.+}} {head_dim = 16 : i64, replicas = 2 : i64} : tensor<2x?x32xf32>, tensor<32x16xf32>, tensor<2x16xf32> -> tensor<2x?x32xf32>
// CHECK: mha.attention %{{.+}}, %{{.+}}, %{{.+}} : tensor<2x6x?x16xf32>, tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32> -> tensor<2x6x?x16xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 16 : i64} : tensor<2x?x96xf32>, tensor<96x32xf32> -> tensor<2x?x32xf32>
func.func @grouped(%x: tensor<2x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<96x32xf32>, %bq: tensor<6x16xf32>, %bk: tensor<2x16xf32>, %bv: tensor<2x16xf32>) -> tensor<2x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 6, num_kv_heads = 2, sharing = #mha.sharing<grouped>, has_qkv_bias}
     : tensor<2x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<96x32xf32>, tensor<6x16xf32>, tensor<2x16xf32>, tensor<2x16xf32> -> tensor<2x?x32xf32>
  return %y : tensor<2x?x32xf32>
}

// -----

// Extra results of the layer are the attention's.
// CHECK-LABEL: func.func @with_lse
// CHECK: %{{.+}}, %[[LSE:.+]] = mha.attention {{.+}} {return_lse}
// CHECK: return %{{.+}}, %[[LSE]]
func.func @with_lse(%x: tensor<1x8x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x32xf32>, %wv: tensor<32x32xf32>, %wo: tensor<32x32xf32>) -> (tensor<1x8x32xf32>, tensor<1x2x8xf32>) {
  %y, %lse = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, return_lse}
     : tensor<1x8x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>, tensor<1x2x8xf32>
  return %y, %lse : tensor<1x8x32xf32>, tensor<1x2x8xf32>
}

// -----

// f16 layers keep f32 intermediates (f16's range is too small to round the
// projections to it safely).
// CHECK-LABEL: func.func @f16_f32_intermediates
// CHECK: mha.linear {{.*}} : tensor<2x?x32xf16>, tensor<32x32xf16> -> tensor<2x?x32xf32>
// CHECK: mha.attention {{.*}} -> tensor<2x2x?x16xf32>
// CHECK: mha.linear {{.*}} : tensor<2x?x32xf32>, tensor<32x32xf16> -> tensor<2x?x32xf16>
func.func @f16_f32_intermediates(%x: tensor<2x?x32xf16>, %wq: tensor<32x32xf16>, %wk: tensor<32x32xf16>, %wv: tensor<32x32xf16>, %wo: tensor<32x32xf16>) -> tensor<2x?x32xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<2x?x32xf16>, tensor<32x32xf16>, tensor<32x32xf16>, tensor<32x32xf16>, tensor<32x32xf16> -> tensor<2x?x32xf16>
  return %y : tensor<2x?x32xf16>
}

// -----

// Low-rank weights (mha.low_rank) project through their factors: Q from
// x . wq_down [B, L, 8], y from O . wo_down [B, L, 4]; the factors'
// mha.low_rank ops are gone.
// CHECK-LABEL: func.func @low_rank_q_o
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x64xf32>, %[[QD:.+]]: tensor<64x8xf32>, %[[QU:.+]]: tensor<8x64xf32>, %{{.+}}: tensor<64x32xf32>, %{{.+}}: tensor<64x32xf32>, %[[OD:.+]]: tensor<64x4xf32>, %[[OU:.+]]: tensor<4x64xf32>)
// CHECK-NOT: mha.low_rank
// CHECK: %[[T:.+]] = mha.linear %[[X]], %[[QD]] : tensor<?x?x64xf32>, tensor<64x8xf32> -> tensor<?x?x8xf32>
// CHECK: mha.linear %[[T]], %[[QU]] {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x8xf32>, tensor<8x64xf32> -> tensor<?x?x64xf32>
// CHECK: %[[M:.+]] = mha.merge_heads
// CHECK: %[[U:.+]] = mha.linear %[[M]], %[[OD]] {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<64x4xf32> -> tensor<?x?x4xf32>
// CHECK: %[[Y:.+]] = mha.linear %[[U]], %[[OU]] : tensor<?x?x4xf32>, tensor<4x64xf32> -> tensor<?x?x64xf32>
// CHECK: return %[[Y]]
func.func @low_rank_q_o(%x: tensor<?x?x64xf32>, %wq_down: tensor<64x8xf32>, %wq_up: tensor<8x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo_down: tensor<64x4xf32>, %wo_up: tensor<4x64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  %wo = mha.low_rank %wo_down, %wo_up : tensor<64x4xf32>, tensor<4x64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, head_mask = array<i1: true, false, true, true>}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// Multi-head latent attention (#mha.sharing<latent>), 3 heads, latent rank
// r = 20, RoPE key Dr = 8, key part Dn = 12, value Dv = 10: x Wk is the
// latent with the RoPE key in its last 8 columns (rotated alone, rope_dim),
// the latent's first 20 columns times Wv every head's key part and value;
// the keys gather both (mha.latent_keys), the values are a strided view
// (column 12 of every 22), Q rotates the last 8 of each 20-column head.
// CHECK-LABEL: func.func @latent
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x48xf32>, %[[WQ:.+]]: tensor<48x60xf32>, %[[WK:.+]]: tensor<48x28xf32>, %[[WV:.+]]: tensor<20x66xf32>, %[[WO:.+]]: tensor<30x48xf32>)
// CHECK: %[[Q:.+]] = mha.linear %[[X]], %[[WQ]] {head_dim = 20 : i64, rope_dim = 8 : i64, rope_theta = 1.000000e+04 : f32} : {{.*}} -> tensor<?x?x60xf32>
// CHECK: %[[QH:.+]] = mha.split_heads %[[Q]] : tensor<?x?x60xf32> -> tensor<?x3x?x20xf32>
// CHECK: %[[C:.+]] = mha.linear %[[X]], %[[WK]] {head_dim = 28 : i64, rope_dim = 8 : i64, rope_theta = 1.000000e+04 : f32} : {{.*}} -> tensor<?x?x28xf32>
// CHECK: %[[KV:.+]] = mha.linear %[[C]], %[[WV]] {head_dim = 22 : i64} : tensor<?x?x28xf32>, tensor<20x66xf32> -> tensor<?x?x66xf32>
// CHECK: %[[K:.+]] = mha.latent_keys %[[KV]], %[[C]] {nope_dim = 12 : i64, num_heads = 3 : i64} : tensor<?x?x66xf32>, tensor<?x?x28xf32> -> tensor<?x?x60xf32>
// CHECK: %[[KH:.+]] = mha.split_heads %[[K]] : tensor<?x?x60xf32> -> tensor<?x3x?x20xf32>
// CHECK: %[[VH:.+]] = mha.split_heads %[[KV]] {column_offset = 12 : i64, head_stride = 22 : i64} : tensor<?x?x66xf32> -> tensor<?x3x?x10xf32>
// CHECK: %[[O:.+]] = mha.attention %[[QH]], %[[KH]], %[[VH]] {causal} : {{.*}} -> tensor<?x3x?x10xf32>
// CHECK: %[[M:.+]] = mha.merge_heads %[[O]] : tensor<?x3x?x10xf32> -> tensor<?x?x30xf32>
// CHECK: mha.linear %[[M]], %[[WO]] {head_dim = 10 : i64}
func.func @latent(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                  %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
                  %wo: tensor<30x48xf32>) -> tensor<?x?x48xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// -----

// rms_norm_eps: the latent's up-projection and the up factor of a low-rank
// Wq normalise the rows they read (input_rms_eps); Wq's down projection
// and the latent itself do not.
// CHECK-LABEL: func.func @latent_rms
// CHECK: %[[QD:.+]] = mha.linear %{{.+}}, %{{.+}} : tensor<?x?x48xf32>, tensor<48x6xf32> -> tensor<?x?x6xf32>
// CHECK: mha.linear %[[QD]], %{{.+}} {head_dim = 20 : i64, input_rms_eps = 9.99999997E-7 : f32, rope_dim = 8 : i64
// CHECK: %[[C:.+]] = mha.linear %{{.+}}, %{{.+}} {head_dim = 28 : i64, rope_dim = 8 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK: mha.linear %[[C]], %{{.+}} {head_dim = 22 : i64, input_rms_eps = 9.99999997E-7 : f32}
func.func @latent_rms(%x: tensor<?x?x48xf32>, %qa: tensor<48x6xf32>,
                      %qb: tensor<6x60xf32>, %wk: tensor<48x28xf32>,
                      %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>)
    -> tensor<?x?x48xf32> {
  %wq = mha.low_rank %qa, %qb
      : tensor<48x6xf32>, tensor<6x60xf32> -> tensor<48x60xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32,
         rms_norm_eps = 1.0e-6 : f32}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// -----

// A decoding step: Q and K rotate at the positions after each cache
// (positions(kv_lens)), K and V are appended to the caches, and the
// attention reads the appended caches with kv_lens + L keys (L = dim 1 of
// x) through the block table; the updated caches are the layer's results.
// CHECK-LABEL: func.func @decoding_step
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x64xf32>, %[[WQ:.+]]: tensor<64x64xf32>, %[[WK:.+]]: tensor<64x32xf32>, %[[WV:.+]]: tensor<64x32xf32>, %[[WO:.+]]: tensor<64x64xf32>, %[[L:.+]]: tensor<?xi32>, %[[T:.+]]: tensor<?x?xi32>, %[[KC:.+]]: tensor<?x2x16x16xf32>, %[[VC:.+]]: tensor<?x2x16x16xf32>)
// CHECK: %[[Q:.+]] = mha.linear %[[X]], %[[WQ]] positions(%[[L]] : tensor<?xi32>) {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK: %[[QH:.+]] = mha.split_heads %[[Q]]
// CHECK: %[[K:.+]] = mha.linear %[[X]], %[[WK]] positions(%[[L]] : tensor<?xi32>) {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK: %[[KH:.+]] = mha.split_heads %[[K]]
// CHECK: %[[V:.+]] = mha.linear %[[X]], %[[WV]] {head_dim = 16 : i64}
// CHECK: %[[VH:.+]] = mha.split_heads %[[V]]
// CHECK: %[[K2:.+]], %[[V2:.+]] = mha.append_kv %[[KH]], %[[VH]] into %[[KC]], %[[VC]] kv_lens(%[[L]] : tensor<?xi32>) block_table(%[[T]] : tensor<?x?xi32>)
// CHECK: %[[C1:.+]] = arith.constant 1 : index
// CHECK: %[[LEN:.+]] = tensor.dim %[[X]], %[[C1]]
// CHECK: %[[LEN32:.+]] = arith.index_cast %[[LEN]] : index to i32
// CHECK: %[[SPLAT:.+]] = tensor.splat %[[LEN32]][%{{.+}}] : tensor<?xi32>
// CHECK: %[[LENS:.+]] = arith.addi %[[L]], %[[SPLAT]]
// CHECK: %[[O:.+]] = mha.attention %[[QH]], %[[K2]], %[[V2]] kv_lens(%[[LENS]] : tensor<?xi32>) block_table(%[[T]] : tensor<?x?xi32>) {causal}
// CHECK: %[[M:.+]] = mha.merge_heads %[[O]]
// CHECK: %[[Y:.+]] = mha.linear %[[M]], %[[WO]]
// CHECK: return %[[Y]], %[[K2]], %[[V2]]
func.func @decoding_step(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
                         %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                         %wo: tensor<64x64xf32>, %lens: tensor<?xi32>,
                         %table: tensor<?x?xi32>,
                         %kc: tensor<?x2x16x16xf32>, %vc: tensor<?x2x16x16xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>) {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
      kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
        cache(tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
  return %y, %k, %v : tensor<?x?x64xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>
}

// -----

// An f16 step attends in f16 over its f16 caches: Q, K, V and the
// attention output are f16 (an f16 prefill keeps them in f32).
// CHECK-LABEL: func.func @f16_decoding_step
// CHECK: mha.linear %{{.+}} positions(%{{.+}} : tensor<?xi32>) {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x64xf16>, tensor<64x64xf16> -> tensor<?x?x64xf16>
// CHECK: mha.append_kv %{{.+}}, %{{.+}} into %{{.+}}, %{{.+}} kv_lens(%{{.+}} : tensor<?xi32>) : tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
// CHECK: mha.attention %{{.+}} : tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16> -> tensor<?x4x?x16xf16>
// CHECK: mha.merge_heads %{{.+}} : tensor<?x4x?x16xf16> -> tensor<?x?x64xf16>
func.func @f16_decoding_step(%x: tensor<?x?x64xf16>, %wq: tensor<64x64xf16>,
                             %wk: tensor<64x32xf16>, %wv: tensor<64x32xf16>,
                             %wo: tensor<64x64xf16>, %lens: tensor<?xi32>,
                             %kc: tensor<?x2x?x16xf16>, %vc: tensor<?x2x?x16xf16>)
    -> (tensor<?x?x64xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>) {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>)
      kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<?x?x64xf16>, tensor<64x64xf16>, tensor<64x32xf16>,
        tensor<64x32xf16>, tensor<64x64xf16> -> tensor<?x?x64xf16>
        cache(tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>)
  return %y, %k, %v : tensor<?x?x64xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
}

// -----

// A latent step (one cache of latents and RoPE keys, rms_norm_eps): the
// latent normalised and appended alone, the queries absorbed by the
// transposed key part of Wv (the RoPE part carried), multi-query attention
// of head dim r+Dr = 28 over the cache with its first r = 20 columns as
// values and the layer's scale 1/sqrt(Dn+Dr), then the value part of Wv.
// CHECK-LABEL: func.func @latent_step
// CHECK: %[[Q:.+]] = mha.linear %arg0, %arg1 positions(%arg6 : tensor<?xi32>) {head_dim = 20 : i64, rope_dim = 8 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x48xf32>, tensor<48x60xf32> -> tensor<?x?x60xf32>
// CHECK: %[[C:.+]] = mha.linear %arg0, %arg2 positions(%arg6 : tensor<?xi32>) {head_dim = 28 : i64, rope_dim = 8 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x48xf32>, tensor<48x28xf32> -> tensor<?x?x28xf32>
// CHECK: %[[N:.+]] = mha.rms_norm %[[C]] {columns = 20 : i64, eps = 9.99999997E-7 : f32}
// CHECK: %[[NH:.+]] = mha.split_heads %[[N]] : tensor<?x?x28xf32> -> tensor<?x1x?x28xf32>
// CHECK: %[[KC:.+]] = mha.append_kv %[[NH]] into %arg5 kv_lens(%arg6 : tensor<?xi32>) block_table(%arg7 : tensor<?x?xi32>) : tensor<?x1x?x28xf32>, tensor<?x1x16x28xf32> -> tensor<?x1x16x28xf32>
// CHECK: %[[V:.+]] = tensor.extract_slice %[[KC]][0, 0, 0, 0] [%{{.+}}, 1, 16, 20] [1, 1, 1, 1] : tensor<?x1x16x28xf32> to tensor<?x1x16x20xf32>
// CHECK: %[[QA:.+]] = mha.head_linear %[[Q]], %arg3 {num_heads = 3 : i64, transpose_weight} : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x84xf32>
// CHECK: %[[QH:.+]] = mha.split_heads %[[QA]] : tensor<?x?x84xf32> -> tensor<?x3x?x28xf32>
// CHECK: %[[O:.+]] = mha.attention %[[QH]], %[[KC]], %[[V]] kv_lens(%{{.+}} : tensor<?xi32>) block_table(%arg7 : tensor<?x?xi32>) {causal, scale = 0.223606795 : f32}
// CHECK: %[[OM:.+]] = mha.merge_heads %[[O]] : tensor<?x3x?x20xf32> -> tensor<?x?x60xf32>
// CHECK: %[[OA:.+]] = mha.head_linear %[[OM]], %arg3 {num_heads = 3 : i64, weight_offset = 12 : i64} : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x30xf32>
// CHECK: %[[Y:.+]] = mha.linear %[[OA]], %arg4 {head_dim = 10 : i64}
// CHECK: return %[[Y]], %[[KC]]
func.func @latent_step(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                       %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
                       %wo: tensor<30x48xf32>, %c: tensor<?x1x16x28xf32>,
                       %lens: tensor<?xi32>, %table: tensor<?x?xi32>)
    -> (tensor<?x?x48xf32>, tensor<?x1x16x28xf32>) {
  %y, %c2 = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : tensor<?x1x16x28xf32>)
      kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {num_heads = 3 : i64, sharing = #mha.sharing<latent>,
       rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
        cache(tensor<?x1x16x28xf32>)
  return %y, %c2 : tensor<?x?x48xf32>, tensor<?x1x16x28xf32>
}

// -----

// A latent step of a low-rank Wq and Wo (no norm): the factors feed the
// query projection and the output; an explicit scale is kept.
// CHECK-LABEL: func.func @latent_step_low_rank
// CHECK: %[[D:.+]] = mha.linear %arg0, %arg1 : tensor<?x?x48xf32>, tensor<48x6xf32> -> tensor<?x?x6xf32>
// CHECK: %[[Q:.+]] = mha.linear %[[D]], %arg2 positions
// CHECK-NOT: mha.rms_norm
// CHECK: mha.attention {{.+}} {scale = 5.000000e-01 : f32}
// CHECK: %[[OA:.+]] = mha.head_linear
// CHECK: %[[OD:.+]] = mha.linear %[[OA]], %arg5 {head_dim = 10 : i64} : tensor<?x?x30xf32>, tensor<30x4xf32> -> tensor<?x?x4xf32>
// CHECK: mha.linear %[[OD]], %arg6 : tensor<?x?x4xf32>, tensor<4x48xf32>
// CHECK-NOT: mha.low_rank
func.func @latent_step_low_rank(%x: tensor<?x?x48xf32>, %qa: tensor<48x6xf32>,
    %qb: tensor<6x60xf32>, %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
    %oa: tensor<30x4xf32>, %ob: tensor<4x48xf32>, %c: tensor<?x1x?x28xf32>,
    %lens: tensor<?xi32>) -> (tensor<?x?x48xf32>, tensor<?x1x?x28xf32>) {
  %wq = mha.low_rank %qa, %qb : tensor<48x6xf32>, tensor<6x60xf32> -> tensor<48x60xf32>
  %wo = mha.low_rank %oa, %ob : tensor<30x4xf32>, tensor<4x48xf32> -> tensor<30x48xf32>
  %y, %c2 = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : tensor<?x1x?x28xf32>)
      kv_lens(%lens : tensor<?xi32>)
      {num_heads = 3 : i64, sharing = #mha.sharing<latent>,
       rope_theta = 10000.0 : f32, scale = 0.5 : f32}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
        cache(tensor<?x1x?x28xf32>)
  return %y, %c2 : tensor<?x?x48xf32>, tensor<?x1x?x28xf32>
}

// -----

// Packed sequences: Q and K rotate at positions counted from each
// sequence's first row (cu_seqlens), and the attention takes the offsets
// as both cu_seqlens_q and cu_seqlens_k; V, the merge and the output
// projection are row by row.
// CHECK-LABEL: func.func @packed
// CHECK-SAME: (%[[X:.+]]: tensor<1x?x64xf32>, %[[WQ:.+]]: tensor<64x64xf32>, %[[WK:.+]]: tensor<64x32xf32>, %[[WV:.+]]: tensor<64x32xf32>, %[[WO:.+]]: tensor<64x64xf32>, %[[CU:.+]]: tensor<?xi32>)
// CHECK: %[[Q:.+]] = mha.linear %[[X]], %[[WQ]] cu_seqlens(%[[CU]] : tensor<?xi32>) {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK: %[[QH:.+]] = mha.split_heads %[[Q]]
// CHECK: %[[K:.+]] = mha.linear %[[X]], %[[WK]] cu_seqlens(%[[CU]] : tensor<?xi32>) {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK: %[[KH:.+]] = mha.split_heads %[[K]]
// CHECK: %[[V:.+]] = mha.linear %[[X]], %[[WV]] {head_dim = 16 : i64}
// CHECK: %[[VH:.+]] = mha.split_heads %[[V]]
// CHECK: %[[O:.+]] = mha.attention %[[QH]], %[[KH]], %[[VH]] cu_seqlens_q(%[[CU]] : tensor<?xi32>) cu_seqlens_k(%[[CU]] : tensor<?xi32>) {causal}
// CHECK: %[[M:.+]] = mha.merge_heads %[[O]]
// CHECK: mha.linear %[[M]], %[[WO]] {head_dim = 16 : i64}
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

// -----

// A packed decoding step: Q and K rotate at kv_lens[s] + (row - cu[s]),
// each sequence's rows are appended to its caches (the append takes the
// offsets) and attend over kv_lens + (cu[1:] - cu[:-1]) keys.
// CHECK-LABEL: func.func @packed_step
// CHECK-SAME: %[[L:[^:]+]]: tensor<?xi32>, %[[T:[^:]+]]: tensor<?x?xi32>, %[[CU:[^:]+]]: tensor<?xi32>,
// CHECK: %[[Q:.+]] = mha.linear %{{.+}}, %{{.+}} positions(%[[L]] : tensor<?xi32>) cu_seqlens(%[[CU]] : tensor<?xi32>) {head_dim = 16 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK: %[[K2:.+]], %[[V2:.+]] = mha.append_kv %{{.+}}, %{{.+}} into %{{.+}}, %{{.+}} kv_lens(%[[L]] : tensor<?xi32>) block_table(%[[T]] : tensor<?x?xi32>) cu_seqlens_q(%[[CU]] : tensor<?xi32>)
// CHECK: %[[S:.+]] = tensor.dim %[[L]]
// CHECK: %[[HI:.+]] = tensor.extract_slice %[[CU]][1] [%[[S]]] [1]
// CHECK: %[[LO:.+]] = tensor.extract_slice %[[CU]][0] [%[[S]]] [1]
// CHECK: %[[N:.+]] = arith.subi %[[HI]], %[[LO]]
// CHECK: %[[LENS:.+]] = arith.addi %[[L]], %[[N]]
// CHECK: mha.attention %{{.+}}, %[[K2]], %[[V2]] kv_lens(%[[LENS]] : tensor<?xi32>) block_table(%[[T]] : tensor<?x?xi32>) cu_seqlens_q(%[[CU]] : tensor<?xi32>) {causal}
func.func @packed_step(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
                       %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                       %wo: tensor<64x64xf32>, %lens: tensor<?xi32>,
                       %table: tensor<?x?xi32>, %cu: tensor<?xi32>,
                       %kc: tensor<?x2x16x16xf32>, %vc: tensor<?x2x16x16xf32>)
    -> (tensor<1x?x64xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>) {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
      kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
        cache(tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
  return %y, %k, %v : tensor<1x?x64xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>
}

// -----

// A padded decoding step: sequence s appends and attends with its first
// q_lens[s] rows, over kv_lens + q_lens keys.
// CHECK-LABEL: func.func @padded_step
// CHECK-SAME: %[[L:[^:]+]]: tensor<?xi32>, %[[QL:[^:]+]]: tensor<?xi32>,
// CHECK: mha.append_kv %{{.+}}, %{{.+}} into %{{.+}}, %{{.+}} kv_lens(%[[L]] : tensor<?xi32>) q_lens(%[[QL]] : tensor<?xi32>)
// CHECK: %[[LENS:.+]] = arith.addi %[[L]], %[[QL]]
// CHECK: mha.attention {{.*}} kv_lens(%[[LENS]] : tensor<?xi32>) q_lens(%[[QL]] : tensor<?xi32>) {causal}
func.func @padded_step(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
                       %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                       %wo: tensor<64x64xf32>, %lens: tensor<?xi32>, %ql: tensor<?xi32>,
                       %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
      kv_lens(%lens : tensor<?xi32>) q_lens(%ql : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
        cache(tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
  return %y, %k, %v : tensor<?x?x64xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}

// -----

// Padded prompts: the attention takes q_lens as the rows and the keys of
// each sequence (the keys are the same rows).
// CHECK-LABEL: func.func @padded
// CHECK-SAME: %[[QL:[^:]+]]: tensor<?xi32>)
// CHECK: mha.attention {{.*}} kv_lens(%[[QL]] : tensor<?xi32>) q_lens(%[[QL]] : tensor<?xi32>) {causal}
func.func @padded(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
                  %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                  %wo: tensor<64x64xf32>, %ql: tensor<?xi32>)
    -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo q_lens(%ql : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
