func.func @layer(%x: tensor<1x8x2048xf32>, %wq: tensor<2048x2048xf32>, %wk: tensor<2048x2048xf32>, %wv: tensor<2048x2048xf32>, %wo: tensor<2048x2048xf32>) -> tensor<1x8x2048xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 1} : tensor<1x8x2048xf32>, tensor<2048x2048xf32>, tensor<2048x2048xf32>, tensor<2048x2048xf32>, tensor<2048x2048xf32> -> tensor<1x8x2048xf32>
  return %y : tensor<1x8x2048xf32>
}
