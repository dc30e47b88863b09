func.func @mh_rope_theta_zero(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 1.0 : f32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}
