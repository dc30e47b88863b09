// Multi-scale attention with attention sinks: in one op, 8 heads are local
// (each query sees at most the 256 previous keys) and 8 are global
// (window_left = -1, unbounded). The first 4 keys are sinks: visible to every
// query whatever its window (causal still applies), as in StreamingLLM.
// A local head's cost grows with its window, not with the sequence length.
// 16 heads of 64, grouped-query 16:4, f16.

func.func @multiscale(%q: tensor<?x16x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                      %v: tensor<?x4x?x64xf16>) -> tensor<?x16x?x64xf16> {
  %o = mha.attention %q, %k, %v {
         causal, sink_tokens = 4,
         // Heads 0-7 local, heads 8-15 global.
         window_left = array<i64: 256, 256, 256, 256, 256, 256, 256, 256,
                                  -1, -1, -1, -1, -1, -1, -1, -1>}
       : tensor<?x16x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x16x?x64xf16>
  return %o : tensor<?x16x?x64xf16>
}

// The same attention for head analysis (mha-analyze): the probabilities
// [B, Hq, Lq, Lk] for heatmaps and the entropy [B, Hq, Lq] (nats) of each
// row, both f32. Local and global heads alternate here.
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
