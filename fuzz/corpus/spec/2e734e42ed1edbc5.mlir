func.func @multiscale_analysis(%q: tensor<?x16x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                               %v: tensor<?x4x?x64xf16>)
    -> (tensor<?x16x?x64xf16>, tensor<?x16x?x?xf32>, tensor<?x16x?xf32>) {
  %o, %probs, %entropy = mha.attention %q, %k, %v {
         causal, sink_tokens = 4,
         window_left = array<i64: 256, -1, 256, -1, 256, -1, 256, -1,
                                  256, -1, 256, -1, 256, -1, 256, -1>,
         return_probs, return_entropy}
       : tensor<?x16x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x16x?x64xf16>, tensor<?x16x?x?xf32>, tensor<?x16x?xf32>
  return %o, %probs, %entropy
       : tensor<?x16x?x64xf16>, tensor<?x16x?x?xf32>, tensor<?x16x?xf32>
}
