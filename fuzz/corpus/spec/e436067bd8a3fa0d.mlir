func.func @temp_scalar(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                       %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {temperature = array<f32: 0.7>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
