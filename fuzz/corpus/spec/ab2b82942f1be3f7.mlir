func.func @sink_tokens(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {causal, sink_tokens = 4, window_left = array<i64: 128>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}
