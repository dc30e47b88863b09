func.func @extras_wrong_order(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o, %r1, %r2 = mha.attention %q, %k, %v {return_lse, return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
  return
}
