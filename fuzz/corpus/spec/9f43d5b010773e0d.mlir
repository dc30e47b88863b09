func.func @probs_wrong_key_len(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o, %r1 = mha.attention %q, %k, %v {return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16x16xf32>
  return
}
