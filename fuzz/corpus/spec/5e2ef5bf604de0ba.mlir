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
