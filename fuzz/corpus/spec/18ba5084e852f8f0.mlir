func.func @sinks_causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                        %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 3,
                                 window_left = array<i64: 5, -1, 0, 12>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
