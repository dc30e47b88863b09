func.func @plain_mha(%q: tensor<2x8x128x64xf32>, %k: tensor<2x8x128x64xf32>,
                     %v: tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
       -> tensor<2x8x128x64xf32>
  return %o : tensor<2x8x128x64xf32>
}
