func.func @temperature_per_head(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {temperature = array<f32: 0.5, 1.0, 2.0, 4.0>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}
