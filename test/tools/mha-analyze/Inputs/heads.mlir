// Small specs for mha-analyze's tests: 4 query heads of 16 each.

// Multi-head, f32, no mask.
func.func @mha(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
               %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Grouped-query 4:2, causal, f16 (heads 0 and 1 read KV head 0).
func.func @gqa_causal(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>,
                      %v: tensor<?x2x?x16xf16>) -> tensor<?x4x?x16xf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
       -> tensor<?x4x?x16xf16>
  return %o : tensor<?x4x?x16xf16>
}

// Multi-scale: per-head windows (3 and 6 keys back, two global heads) with
// 2 sink tokens, causal, grouped-query 4:2, f32.
func.func @multiscale(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                      %v: tensor<?x2x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 2,
                                 window_left = array<i64: 3, -1, 6, -1>}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Head 1 pruned by the static head_mask; the function already returns lse
// (mha-analyze keeps it and adds probs and entropy). Keys are passed first.
func.func @pruned(%k: tensor<?x4x?x16xf32>, %q: tensor<?x4x?x16xf32>,
                  %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?xf32> {
  %o, %lse = mha.attention %q, %k, %v {
               head_mask = array<i1: true, false, true, true>, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %lse : tensor<?x4x?xf32>
}

// A whole layer: importance is measured on its output y.
func.func @layer(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
                 %wk: tensor<64x64xf32>, %wv: tensor<64x64xf32>,
                 %wo: tensor<64x64xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
