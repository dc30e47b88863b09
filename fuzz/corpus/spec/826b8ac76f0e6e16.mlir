func.func @f16(%q: tensor<?x8x?x64xf16>, %k: tensor<?x8x?x64xf16>,
               %v: tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>
       -> tensor<?x8x?x64xf16>
  return %o : tensor<?x8x?x64xf16>
}
