func.func @wide(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 100,
                                 window_left = array<i64: 1000>,
                                 window_right = array<i64: 1000>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
