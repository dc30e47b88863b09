func.func @key_value_batch_mismatch_dynamic_query(%q: tensor<?x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<3x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v : tensor<?x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<3x2x32x64xf32> -> tensor<?x8x16x64xf32>
  return
}
