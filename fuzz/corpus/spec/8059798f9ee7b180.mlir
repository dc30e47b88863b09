func.func @lse_wrong_shape(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o, %r1 = mha.attention %q, %k, %v {return_lse} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x32xf32>
  return
}
