// Serving (docs/language.md 4.6, 4.7): one decoding step of a model with
// grouped-query attention (32 query heads on 8 KV heads, bf16, head dim 128)
// and a paged KV cache of 16-key pages (vLLM's layout as a strided view):
// append this step's keys (rotated by RoPE at their positions) and values,
// then attend over the grown cache; and a ragged prefill of packed prompts.

// Step 1: write the new keys and values at kv_lens (the lengths before
// the step), in place.
func.func @append(%k_new: tensor<?x8x1x128xbf16>, %v_new: tensor<?x8x1x128xbf16>,
                  %kv_lens: tensor<?xi32>, %table: tensor<?x?xi32>,
                  %k_cache: tensor<?x8x16x128xbf16>, %v_cache: tensor<?x8x16x128xbf16>)
    -> (tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>) {
  %k, %v = mha.append_kv %k_new, %v_new into %k_cache, %v_cache
      kv_lens(%kv_lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {rope_theta = 1.0e4 : f32}
      : tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>,
        tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
      -> tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
  return %k, %v : tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
}

// Step 2: one query row per sequence against its kv_lens (now including
// the new key) cached keys.
func.func @decode(%q: tensor<?x32x1x128xbf16>, %k: tensor<?x8x16x128xbf16>,
                  %v: tensor<?x8x16x128xbf16>, %kv_lens: tensor<?xi32>,
                  %table: tensor<?x?xi32>) -> tensor<?x32x1x128xbf16> {
  %o = mha.attention %q, %k, %v kv_lens(%kv_lens : tensor<?xi32>)
      block_table(%table : tensor<?x?xi32>) {causal}
      : tensor<?x32x1x128xbf16>, tensor<?x8x16x128xbf16>,
        tensor<?x8x16x128xbf16> -> tensor<?x32x1x128xbf16>
  return %o : tensor<?x32x1x128xbf16>
}

// Prefill of several prompts of different lengths, packed along one axis.
func.func @prefill(%q: tensor<1x32x?x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                   %v: tensor<1x8x?x128xbf16>, %cu_q: tensor<?xi32>,
                   %cu_k: tensor<?xi32>) -> (tensor<1x32x?x128xbf16>, tensor<1x32x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_q(%cu_q : tensor<?xi32>)
      cu_seqlens_k(%cu_k : tensor<?xi32>) {causal, return_lse}
      : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16>
        -> tensor<1x32x?x128xbf16>, tensor<1x32x?xf32>
  return %o, %lse : tensor<1x32x?x128xbf16>, tensor<1x32x?xf32>
}
