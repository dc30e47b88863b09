func.func @static_batch(%q: tensor<1x2x?x8xf32>, %k: tensor<1x2x?x8xf32>,
                        %v: tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
       -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}
