func.func @local(%q: tensor<2x4x?x16xf16>, %k: tensor<2x2x?x16xf16>, %v: tensor<2x2x?x16xf16>) -> tensor<2x4x?x16xf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 8, -1, 8, -1>} : tensor<2x4x?x16xf16>, tensor<2x2x?x16xf16>, tensor<2x2x?x16xf16> -> tensor<2x4x?x16xf16>
  return %o : tensor<2x4x?x16xf16>
}
