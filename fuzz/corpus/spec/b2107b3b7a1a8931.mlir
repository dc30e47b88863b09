func.func @scale_inf(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v {scale = 0x7F800000 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}
