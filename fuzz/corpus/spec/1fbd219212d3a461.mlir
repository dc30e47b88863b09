func.func @f16(%q: tensor<?x4x?x24xf16>, %k: tensor<?x4x?x24xf16>,
               %v: tensor<?x4x?x24xf16>) -> tensor<?x4x?x24xf16> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 5>}
       : tensor<?x4x?x24xf16>, tensor<?x4x?x24xf16>, tensor<?x4x?x24xf16>
       -> tensor<?x4x?x24xf16>
  return %o : tensor<?x4x?x24xf16>
}
