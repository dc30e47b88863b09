func.func @lse_f16(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>, %v: tensor<2x2x32x64xf16>) {
  %o, %r1 = mha.attention %q, %k, %v {return_lse} : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xf16> -> tensor<2x8x16x64xf16>, tensor<2x8x16xf16>
  return
}
