// RUN: mha-opt %s -split-input-file -mha-expand-layer -mha-prune-heads | FileCheck %s

// Heads 1 and 2 of 4 pruned, GQA 4:2: Q computes heads 0 and 3, K and V
// both KV heads (each has a live query head), Wo reduces over the rows of
// heads 0 and 3 only. The attention keeps its mask and numbering.
// CHECK-LABEL: func.func @half
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 8 : i64, live_blocks = array<i64: 0, 3>} : {{.+}} -> tensor<?x?x32xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 8 : i64, live_blocks = array<i64: 0, 1>} : {{.+}} -> tensor<?x?x16xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 8 : i64, live_blocks = array<i64: 0, 1>} : {{.+}} -> tensor<?x?x16xf32>
// CHECK: mha.attention {{.+}} {head_mask = array<i1: true, false, false, true>}
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 8 : i64, live_input_blocks = array<i64: 0, 3>} : tensor<?x?x32xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
func.func @half(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, head_mask = array<i1: true, false, false, true>}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// A whole KV group pruned: its K and V columns are not computed.
// CHECK-LABEL: func.func @group
// CHECK: mha.linear {{.+}} live_blocks = array<i64: 2, 3>
// CHECK: mha.linear {{.+}} live_blocks = array<i64: 1>
// CHECK: mha.linear {{.+}} live_blocks = array<i64: 1>
// CHECK: mha.linear {{.+}} live_input_blocks = array<i64: 2, 3>
func.func @group(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, head_mask = array<i1: false, false, true, true>}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// Shared projections: the pruned heads' replicas are not written.
// CHECK-LABEL: func.func @shared
// CHECK: mha.linear {{.+}} {head_dim = 8 : i64, live_blocks = array<i64: 1>, replicas = 2 : i64}
func.func @shared(%x: tensor<?x?x16xf32>, %wq: tensor<16x8xf32>, %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<16x16xf32>, %bq: tensor<2x8xf32>, %bk: tensor<2x8xf32>, %bv: tensor<2x8xf32>) -> tensor<?x?x16xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, head_mask = array<i1: false, true>}
     : tensor<?x?x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// Nothing pruned: nothing changes.
// CHECK-LABEL: func.func @all_alive
// CHECK-NOT: live_blocks
// CHECK-NOT: live_input_blocks
// CHECK: return
func.func @all_alive(%x: tensor<?x?x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x16xf32>, %wv: tensor<16x16xf32>, %wo: tensor<16x16xf32>) -> tensor<?x?x16xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, head_mask = array<i1: true, true>}
     : tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// Low-rank weights: the live heads are the up projection's output blocks
// (Q's) and the input blocks of Wo's down projection (the merged heads).
// CHECK-LABEL: func.func @low_rank_q_o
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 16 : i64, live_blocks = array<i64: 0, 2, 3>, rope_theta = 1.000000e+04 : f32} : tensor<?x?x8xf32>
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 16 : i64, live_input_blocks = array<i64: 0, 2, 3>} : tensor<?x?x64xf32>, tensor<64x4xf32>
func.func @low_rank_q_o(%x: tensor<?x?x64xf32>, %wq_down: tensor<64x8xf32>, %wq_up: tensor<8x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo_down: tensor<64x4xf32>, %wo_up: tensor<4x64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  %wo = mha.low_rank %wo_down, %wo_up : tensor<64x4xf32>, tensor<4x64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, head_mask = array<i1: true, false, true, true>}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// A latent layer: Q computes heads 0 and 2 (blocks of Dn + Dr = 20), the
// output projection reads their Dv = 10 columns; the latent and its
// up-projection serve every head and stay whole.
// CHECK-LABEL: func.func @latent
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 20 : i64, live_blocks = array<i64: 0, 2>, rope_dim = 8 : i64
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 28 : i64, rope_dim = 8 : i64
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 22 : i64} :
// CHECK: mha.linear %{{.+}}, %{{.+}} {head_dim = 10 : i64, live_input_blocks = array<i64: 0, 2>}
func.func @latent(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                  %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
                  %wo: tensor<30x48xf32>) -> tensor<?x?x48xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32,
         head_mask = array<i1: true, false, true>}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
