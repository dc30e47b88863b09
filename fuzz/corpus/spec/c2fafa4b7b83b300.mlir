func.func @temperature_zero(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v {temperature = array<f32: 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}
