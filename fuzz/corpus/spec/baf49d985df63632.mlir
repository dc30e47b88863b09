func.func @generic_scale_integer(%q: tensor<2x8x16x64xf32>) {
  %o = "mha.attention"(%q, %q, %q) <{scale = 1 : i32}> : (tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>) -> tensor<2x8x16x64xf32>
  return
}
