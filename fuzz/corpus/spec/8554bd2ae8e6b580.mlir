func.func @f(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
             %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
