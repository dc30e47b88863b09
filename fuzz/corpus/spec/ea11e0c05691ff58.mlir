func.func @generic_no_result(%q: tensor<2x8x16x64xf32>) {
  "mha.attention"(%q, %q, %q) : (tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>) -> ()
  return
}
