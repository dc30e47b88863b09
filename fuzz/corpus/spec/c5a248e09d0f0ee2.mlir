func.func @return_entropy(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x8x?x64xbf16>,
                          %v: tensor<?x8x?x64xbf16>)
    -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %e = mha.attention %q, %k, %v {return_entropy}
       : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>
       -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %e : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}
