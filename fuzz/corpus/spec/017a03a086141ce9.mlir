func.func @gqa_prefill(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                       %v: tensor<?x8x?x128xbf16>) -> tensor<?x32x?x128xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x32x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>
       -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}
