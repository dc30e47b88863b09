func.func @plain_bf16(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
                      %v: tensor<?x4x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>
       -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}
