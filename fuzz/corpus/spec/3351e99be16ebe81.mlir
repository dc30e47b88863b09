func.func @value_element_mismatch(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>, %v: tensor<2x2x32x64xbf16>) {
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xbf16> -> tensor<2x8x16x64xf16>
  return
}
