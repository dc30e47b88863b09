func.func @huge(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                %v: tensor<?x4x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
}
