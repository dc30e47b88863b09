func.func @g(%q: tensor<?x2x?x24xbf16>, %k: tensor<?x2x?x24xbf16>,
             %v: tensor<?x2x?x24xbf16>) -> tensor<?x2x?x24xbf16> {
  %o = mha.attention %q, %k, %v
         {softcap = 5.0 : f32, alibi_slopes = array<f32: 0.1, 0.3>}
       : tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>
       -> tensor<?x2x?x24xbf16>
  return %o : tensor<?x2x?x24xbf16>
}
