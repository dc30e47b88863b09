func.func @mqa(%q: tensor<4x16x32x64xf32>, %k: tensor<4x1x32x64xf32>,
               %v: tensor<4x1x32x64xf32>) -> tensor<4x16x32x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<4x16x32x64xf32>, tensor<4x1x32x64xf32>, tensor<4x1x32x64xf32>
       -> tensor<4x16x32x64xf32>
  return %o : tensor<4x16x32x64xf32>
}
