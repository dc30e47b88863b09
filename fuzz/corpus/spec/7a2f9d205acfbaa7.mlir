func.func @fz_static(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>,
                     %v: tensor<2x2x8x8xf32>)
    -> (tensor<2x4x8x8xf32>, tensor<2x4x8xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x8xf32>
       -> tensor<2x4x8x8xf32>, tensor<2x4x8xf32>
  return %o, %lse : tensor<2x4x8x8xf32>, tensor<2x4x8xf32>
}
