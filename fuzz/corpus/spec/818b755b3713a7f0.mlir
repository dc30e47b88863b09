func.func @generic_two_operands(%q: tensor<2x8x16x64xf32>) {
  %o = "mha.attention"(%q, %q) : (tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>) -> tensor<2x8x16x64xf32>
  return
}
