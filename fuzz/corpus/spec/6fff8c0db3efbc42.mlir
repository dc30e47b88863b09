func.func @softcap(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                   %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.35 : f32, softcap = 1.5 : f32}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
