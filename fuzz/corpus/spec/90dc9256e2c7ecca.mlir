func.func @odd_dims(%q: tensor<2x6x?x7xf32>, %k: tensor<2x3x?x7xf32>,
                    %v: tensor<2x3x?x3xf32>) -> tensor<2x6x?x3xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x6x?x7xf32>, tensor<2x3x?x7xf32>, tensor<2x3x?x3xf32>
       -> tensor<2x6x?x3xf32>
  return %o : tensor<2x6x?x3xf32>
}
