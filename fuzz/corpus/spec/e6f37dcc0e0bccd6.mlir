func.func @shared_kv(%q: tensor<1x2x8x16xf32>, %kv: tensor<1x2x8x16xf32>) -> (tensor<1x2x8xf32>, tensor<1x2x8x16xf32>) {
  %o, %lse = mha.attention %q, %kv, %kv {return_lse} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
  return %lse, %o : tensor<1x2x8xf32>, tensor<1x2x8x16xf32>
}
