func.func @scale_temp(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                      %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.5 : f32,
                                 temperature = array<f32: 0.25, 1.0, 2.0, 8.0>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
