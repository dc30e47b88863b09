func.func @temperature_scalar(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {temperature = array<f32: 0.5>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}
