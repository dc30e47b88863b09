func.func @extras(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v {return_lse, return_probs, return_entropy} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>
  return %o, %lse, %p, %e : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>
}
