func.func @gqa(%q: tensor<1x32x64x128xf32>, %k: tensor<1x8x64x128xf32>,
               %v: tensor<1x8x64x128xf32>) -> tensor<1x32x64x128xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<1x32x64x128xf32>, tensor<1x8x64x128xf32>, tensor<1x8x64x128xf32>
       -> tensor<1x32x64x128xf32>
  return %o : tensor<1x32x64x128xf32>
}
