func.func @mh_shared_zero_head_dim(%x: tensor<2x16x256xf32>, %wq: tensor<256x0xf32>, %wk: tensor<256x0xf32>, %wv: tensor<256x0xf32>, %wo: tensor<0x256xf32>, %b0: tensor<4x0xf32>, %b1: tensor<4x0xf32>, %b2: tensor<4x0xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<0x256xf32>, tensor<4x0xf32>, tensor<4x0xf32>, tensor<4x0xf32> -> tensor<2x16x256xf32>
  return
}
