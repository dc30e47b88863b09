func.func @mh_wv_i8(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xi8>, %wo: tensor<256x256xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xi8>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}
