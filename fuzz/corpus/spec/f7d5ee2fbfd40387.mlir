func.func @large_bf16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                      %v: tensor<?x2x?x128xbf16>) -> tensor<?x8x?x128xbf16> {
  %o = mha.attention %q, %k, %v
         {causal, sink_tokens = 4,
          window_left = array<i64: 100, -1, 100, -1, 100, -1, 100, -1>}
       : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>
       -> tensor<?x8x?x128xbf16>
  return %o : tensor<?x8x?x128xbf16>
}
