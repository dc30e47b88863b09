func.func @multiscale(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x32xbf16>) -> tensor<?x4x?x32xbf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 64, -1, 64, -1>, sink_tokens = 4, softcap = 50.0 : f32}
       : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16> -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}
