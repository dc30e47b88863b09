func.func @dyn(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}
