func.func @mh_bias_unannounced(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>, %b0: tensor<256xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0 {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
  return
}
