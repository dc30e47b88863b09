func.func @layer(%x: tensor<1x8x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x64xf32>, %wv: tensor<64x64xf32>, %wo: tensor<64x64xf32>) -> tensor<1x8x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4} : tensor<1x8x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32> -> tensor<1x8x64xf32>
  return %y : tensor<1x8x64xf32>
}
