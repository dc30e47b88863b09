func.func @return_all_extras(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>,
                             %v: tensor<2x2x32x64xf32>)
    -> (tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>,
        tensor<2x8x16xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
       {causal, return_lse, return_probs, return_entropy}
       : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32>
       -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>,
          tensor<2x8x16xf32>
  return %o, %lse, %p, %e : tensor<2x8x16x64xf32>, tensor<2x8x16xf32>,
                            tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
}
