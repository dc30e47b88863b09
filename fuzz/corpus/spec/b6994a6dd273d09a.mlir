func.func @combined(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                    %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {causal, scale = 0.4 : f32,
                                 temperature = array<f32: 0.5, 1.0, 1.5, 3.0>,
                                 softcap = 2.0 : f32,
                                 alibi_slopes = array<f32: 0.3, 0.1, 0.05, 0.01>,
                                 window_left = array<i64: 9, -1, 20, 4>,
                                 sink_tokens = 2}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
