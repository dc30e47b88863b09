func.func @local_f16(%q: tensor<?x8x?x32xf16>, %k: tensor<?x2x?x32xf16>,
                     %v: tensor<?x2x?x16xf16>)
    -> (tensor<?x8x?x16xf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
        tensor<?x8x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 4,
          window_left = array<i64: 8, -1, 8, -1, 0, -1, 20, -1>,
          return_lse, return_probs, return_entropy}
       : tensor<?x8x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x16xf16>
       -> tensor<?x8x?x16xf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
          tensor<?x8x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x8x?x16xf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
         tensor<?x8x?xf32>
}
