func.func @causal_f16(%q: tensor<?x2x?x8xf16>, %k: tensor<?x2x?x8xf16>,
                      %v: tensor<?x2x?x8xf16>) -> tensor<?x2x?x8xf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x2x?x8xf16>, tensor<?x2x?x8xf16>, tensor<?x2x?x8xf16>
       -> tensor<?x2x?x8xf16>
  return %o : tensor<?x2x?x8xf16>
}
