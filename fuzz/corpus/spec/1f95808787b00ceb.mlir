func.func @mh_zero_head_dim(%x: tensor<2x16x256xf32>, %wq: tensor<256x0xf32>, %wk: tensor<256x0xf32>, %wv: tensor<256x0xf32>, %wo: tensor<0x256xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<0x256xf32> -> tensor<2x16x256xf32>
  return
}
