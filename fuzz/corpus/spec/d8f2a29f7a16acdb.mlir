func.func @bf16(%q: tensor<?x8x?x80xbf16>, %k: tensor<?x2x?x80xbf16>,
                %v: tensor<?x2x?x80xbf16>) -> tensor<?x8x?x80xbf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x80xbf16>, tensor<?x2x?x80xbf16>, tensor<?x2x?x80xbf16>
       -> tensor<?x8x?x80xbf16>
  return %o : tensor<?x8x?x80xbf16>
}
