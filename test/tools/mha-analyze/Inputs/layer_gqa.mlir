// A grouped-query layer with RoPE, biases, a causal mask and a pruned head:
// mha-analyze measures head importance on the layer output y.
func.func @layer_gqa(%x: tensor<?x?x48xf32>, %wq: tensor<48x64xf32>,
                     %wk: tensor<48x32xf32>, %wv: tensor<48x32xf32>,
                     %wo: tensor<64x48xf32>, %bq: tensor<64xf32>,
                     %bk: tensor<32xf32>, %bv: tensor<32xf32>,
                     %bo: tensor<48xf32>) -> tensor<?x?x48xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {
         num_heads = 4, num_kv_heads = 2, has_qkv_bias, has_out_bias,
         rope_theta = 10000.0 : f32, causal,
         head_mask = array<i1: true, true, false, true>}
       : tensor<?x?x48xf32>, tensor<48x64xf32>, tensor<48x32xf32>,
         tensor<48x32xf32>, tensor<64x48xf32>, tensor<64xf32>,
         tensor<32xf32>, tensor<32xf32>, tensor<48xf32>
       -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// Grouped projections: 4 query heads in 2 groups, 2 KV heads in one group,
// per-head biases.
func.func @layer_grouped(%x: tensor<?x?x48xf32>, %wq: tensor<48x32xf32>,
                         %wk: tensor<48x16xf32>, %wv: tensor<48x16xf32>,
                         %wo: tensor<64x48xf32>, %bq: tensor<4x16xf32>,
                         %bk: tensor<2x16xf32>, %bv: tensor<2x16xf32>)
    -> tensor<?x?x48xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {
         num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<grouped>,
         has_qkv_bias, causal}
       : tensor<?x?x48xf32>, tensor<48x32xf32>, tensor<48x16xf32>,
         tensor<48x16xf32>, tensor<64x48xf32>, tensor<4x16xf32>,
         tensor<2x16xf32>, tensor<2x16xf32>
       -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// Low-rank Wq and Wo (rank 8): the factors are the inputs wq_down, wq_up,
// wo_down and wo_up.
func.func @layer_low_rank(%x: tensor<?x?x48xf32>, %wq_down: tensor<48x8xf32>,
                          %wq_up: tensor<8x64xf32>, %wk: tensor<48x32xf32>,
                          %wv: tensor<48x32xf32>, %wo_down: tensor<64x8xf32>,
                          %wo_up: tensor<8x48xf32>) -> tensor<?x?x48xf32> {
  %wq = mha.low_rank %wq_down, %wq_up
      : tensor<48x8xf32>, tensor<8x64xf32> -> tensor<48x64xf32>
  %wo = mha.low_rank %wo_down, %wo_up
      : tensor<64x8xf32>, tensor<8x48xf32> -> tensor<64x48xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {
         num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x48xf32>, tensor<48x64xf32>, tensor<48x32xf32>,
         tensor<48x32xf32>, tensor<64x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// Multi-head latent attention with DeepSeek's RMS norms: 3 heads over a
// latent of rank 20 and an 8-column RoPE key, a low-rank Wq.
func.func @layer_latent(%x: tensor<?x?x48xf32>, %wq_down: tensor<48x6xf32>,
                        %wq_up: tensor<6x60xf32>, %wk: tensor<48x28xf32>,
                        %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>)
    -> tensor<?x?x48xf32> {
  %wq = mha.low_rank %wq_down, %wq_up
      : tensor<48x6xf32>, tensor<6x60xf32> -> tensor<48x60xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32,
         rms_norm_eps = 1.0e-6 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
