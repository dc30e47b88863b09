func.func @value_f8(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf8E4M3FN>) {
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf8E4M3FN> -> tensor<2x8x16x64xf32>
  return
}
