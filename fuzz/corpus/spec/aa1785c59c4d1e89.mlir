func.func @extra_result_not_requested(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o, %r1 = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>
  return
}
