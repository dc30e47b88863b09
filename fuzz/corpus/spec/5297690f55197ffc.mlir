func.func @extra_results_too_many(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o, %r1, %r2, %r3 = mha.attention %q, %k, %v {return_lse, return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
  return
}
