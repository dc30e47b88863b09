func.func @huge_softcap(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                        %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {softcap = 30.0 : f32,
                                 alibi_slopes = array<f32: 0.5>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
