func.func @f32(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
