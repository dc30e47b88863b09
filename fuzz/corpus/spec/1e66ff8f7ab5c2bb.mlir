func.func @key_head_dim_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x32xf32>, %v: tensor<2x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x32xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}
