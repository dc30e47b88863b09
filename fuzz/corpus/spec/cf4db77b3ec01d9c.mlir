func.func @fz_dynamic(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                      %v: tensor<?x4x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, window_left = array<i64: 3, -1, 0, 7>,
          window_right = array<i64: 1, 0, -1, 2>, sink_tokens = 2,
          head_mask = array<i1: true, true, false, true>,
          softcap = 5.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.0, 1.0>,
          temperature = array<f32: 0.5>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
