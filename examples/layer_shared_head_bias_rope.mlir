// A whole self-attention layer (mha.multi_head) whose heads share one
// projection each for Q, K and V ([d, D] = [512, 64]) and differ only by a
// per-head bias ([H, D]): #mha.sharing<shared_head_bias>, which requires
// has_qkv_bias. 8 query heads and 2 KV heads (grouped-query), so bq is
// [8, 64] while bk and bv are [2, 64]. Rotary position embeddings
// (rope_theta = 10000, GPT-NeoX/LLaMA pairs (t, t + D/2)) are applied to Q
// and K after the projections; attention is causal. Wo is [H*D, d] = [512, 512]
// and the output bias bo is [d].
//
//   y = concat_h(attention(rope(x Wq + bq[h]), rope(x Wk + bk[g]), x Wv + bv[g])) Wo + bo

func.func @layer(%x: tensor<?x?x512xf32>,
                 %wq: tensor<512x64xf32>, %wk: tensor<512x64xf32>,
                 %wv: tensor<512x64xf32>, %wo: tensor<512x512xf32>,
                 %bq: tensor<8x64xf32>, %bk: tensor<2x64xf32>,
                 %bv: tensor<2x64xf32>, %bo: tensor<512xf32>)
    -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {
         num_heads = 8, num_kv_heads = 2,
         sharing = #mha.sharing<shared_head_bias>,
         has_qkv_bias, has_out_bias,
         rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x512xf32>, tensor<512x64xf32>, tensor<512x64xf32>,
         tensor<512x64xf32>, tensor<512x512xf32>, tensor<8x64xf32>,
         tensor<2x64xf32>, tensor<2x64xf32>, tensor<512xf32>
       -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
