func.func @f(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
             %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 3, window_left = array<i64: 5, -1, 0, 12>,
          window_right = array<i64: 2, -1, 0, -1>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
