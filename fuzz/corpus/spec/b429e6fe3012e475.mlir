func.func @mh_probs_wrong_shape(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  %y, %r1 = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, return_probs}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>, tensor<2x16x16xf32>
  return
}
