func.func @mh_zero_model_width(%x: tensor<2x16x0xf32>, %wq: tensor<0x256xf32>, %wk: tensor<0x256xf32>, %wv: tensor<0x256xf32>, %wo: tensor<256x0xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x0xf32>, tensor<0x256xf32>, tensor<0x256xf32>, tensor<0x256xf32>, tensor<256x0xf32> -> tensor<2x16x0xf32>
  return
}
