func.func @alibi_uniform(%q: tensor<?x8x?x80xf32>, %k: tensor<?x8x?x80xf32>,
                         %v: tensor<?x8x?x80xf32>) -> tensor<?x8x?x80xf32> {
  %o = mha.attention %q, %k, %v {causal, scale = 0.1118 : f32,
                                 alibi_slopes = array<f32: 0.0625>}
       : tensor<?x8x?x80xf32>, tensor<?x8x?x80xf32>, tensor<?x8x?x80xf32>
       -> tensor<?x8x?x80xf32>
  return %o : tensor<?x8x?x80xf32>
}
