func.func @mh_shared_bk_query_heads(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>, %b0: tensor<4x64xf32>, %b1: tensor<4x64xf32>, %b2: tensor<2x64xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, num_kv_heads = 2, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<2x64xf32> -> tensor<2x16x256xf32>
  return
}
