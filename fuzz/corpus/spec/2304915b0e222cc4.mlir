func.func @cross_lengths(%q: tensor<2x4x1x64xf32>, %k: tensor<2x4x?x64xf32>,
                         %v: tensor<2x4x?x64xf32>) -> tensor<2x4x1x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x4x1x64xf32>, tensor<2x4x?x64xf32>, tensor<2x4x?x64xf32>
       -> tensor<2x4x1x64xf32>
  return %o : tensor<2x4x1x64xf32>
}
