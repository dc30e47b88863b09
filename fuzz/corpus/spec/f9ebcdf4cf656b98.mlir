func.func @heads_not_multiple(%q: tensor<2x6x16x64xf32>, %k: tensor<2x4x32x64xf32>, %v: tensor<2x4x32x64xf32>) {
  %o = mha.attention %q, %k, %v : tensor<2x6x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x64xf32> -> tensor<2x6x16x64xf32>
  return
}
