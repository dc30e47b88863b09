func.func @bf16(%q: tensor<?x4x?x24xbf16>, %k: tensor<?x4x?x24xbf16>,
                %v: tensor<?x4x?x24xbf16>) -> tensor<?x4x?x24xbf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x24xbf16>, tensor<?x4x?x24xbf16>, tensor<?x4x?x24xbf16>
       -> tensor<?x4x?x24xbf16>
  return %o : tensor<?x4x?x24xbf16>
}
