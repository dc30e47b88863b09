func.func @sinks_band(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                      %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {sink_tokens = 2, window_left = array<i64: 3>,
                                 window_right = array<i64: 1>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
