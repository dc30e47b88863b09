func.func @all(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {scale = 0.3 : f32, temperature = array<f32: 0.8, 1.2, 1.0, 2.0>,
          softcap = 4.0 : f32, alibi_slopes = array<f32: 0.05>, causal,
          window_left = array<i64: 7, -1, 3, -1>, sink_tokens = 2,
          head_mask = array<i1: true, true, false, true>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
