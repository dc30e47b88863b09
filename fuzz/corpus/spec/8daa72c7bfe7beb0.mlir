func.func @static_f16(%q: tensor<2x4x9x8xf16>, %k: tensor<2x4x11x8xf16>,
                      %v: tensor<2x4x11x8xf16>) -> tensor<2x4x9x8xf16> {
  %o = mha.attention %q, %k, %v
       : tensor<2x4x9x8xf16>, tensor<2x4x11x8xf16>, tensor<2x4x11x8xf16>
       -> tensor<2x4x9x8xf16>
  return %o : tensor<2x4x9x8xf16>
}
