func.func @multiscale(%q: tensor<?x16x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                      %v: tensor<?x4x?x64xf16>) -> tensor<?x16x?x64xf16> {
  %o = mha.attention %q, %k, %v {
         causal, sink_tokens = 4,
         window_left = array<i64: 256, 256, 256, 256, 256, 256, 256, 256,
                                  -1, -1, -1, -1, -1, -1, -1, -1>}
       : tensor<?x16x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x16x?x64xf16>
  return %o : tensor<?x16x?x64xf16>
}
