func.func @fz_half(%q: tensor<?x3x?x8xf16>, %k: tensor<?x1x?x8xf16>,
                   %v: tensor<?x1x?x8xf16>) -> tensor<?x3x?x8xf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x3x?x8xf16>, tensor<?x1x?x8xf16>, tensor<?x1x?x8xf16>
       -> tensor<?x3x?x8xf16>
  return %o : tensor<?x3x?x8xf16>
}
