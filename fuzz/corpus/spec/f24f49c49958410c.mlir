func.func @mha_cross(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>,
                     %v: tensor<?x12x?x64xf32>) -> tensor<?x12x?x64xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.125 : f32}
       : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>
       -> tensor<?x12x?x64xf32>
  return %o : tensor<?x12x?x64xf32>
}
