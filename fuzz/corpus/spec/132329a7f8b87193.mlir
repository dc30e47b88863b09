func.func @large_f32(%q: tensor<?x8x?x128xf32>, %k: tensor<?x2x?x128xf32>,
                     %v: tensor<?x2x?x128xf32>)
    -> (tensor<?x8x?x128xf32>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x8x?x128xf32>, tensor<?x2x?x128xf32>, tensor<?x2x?x128xf32>
       -> tensor<?x8x?x128xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xf32>, tensor<?x8x?xf32>
}
