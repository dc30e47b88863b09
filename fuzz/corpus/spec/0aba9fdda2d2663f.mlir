func.func @return_lse_bool(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v {return_lse = false} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}
