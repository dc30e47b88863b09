func.func @causal(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {causal}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}
