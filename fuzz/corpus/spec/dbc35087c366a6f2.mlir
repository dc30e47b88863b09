func.func @return_probs(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>,
                        %v: tensor<2x2x32x64xf32>)
    -> (tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>) {
  %o, %p = mha.attention %q, %k, %v {return_probs}
       : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32>
       -> tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>
  return %o, %p : tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>
}
