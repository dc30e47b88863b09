func.func @lse_entropy(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                       %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) {
  %o, %lse, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 4, window_left = array<i64: 6>, return_lse,
          return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %e
       : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
