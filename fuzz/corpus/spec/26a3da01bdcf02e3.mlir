func.func @mh_shared_without_biases(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}
