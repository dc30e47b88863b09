func.func @alibi_one(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                     %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.125>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
