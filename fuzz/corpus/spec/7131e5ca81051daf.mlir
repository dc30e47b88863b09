func.func @value_dim_differs(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x32x64xf32>,
                             %v: tensor<2x4x32x80xf32>) -> tensor<2x4x16x80xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x4x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x80xf32>
       -> tensor<2x4x16x80xf32>
  return %o : tensor<2x4x16x80xf32>
}
