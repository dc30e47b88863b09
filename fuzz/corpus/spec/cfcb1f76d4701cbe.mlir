func.func @alibi_heads(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                       %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {causal,
                                 alibi_slopes = array<f32: 0.5, 0.25, 0.0625, 0.0>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
