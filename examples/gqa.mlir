// Grouped-query attention (LLaMA-style): 32 query heads share 8 key/value
// heads, so query head h reads KV head h / 4. bf16 inputs (f32 accumulation),
// head dim 128, causal masking with bottom-right alignment.

// Prefill: the whole prompt at once, dynamic batch and length.
func.func @gqa_prefill(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                       %v: tensor<?x8x?x128xbf16>) -> tensor<?x32x?x128xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x32x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>
       -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

// Decode: one new query against the KV cache (Lq = 1, Lk dynamic). With
// bottom-right alignment the single query sees every cached key.
func.func @gqa_decode(%q: tensor<?x32x1x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                      %v: tensor<?x8x?x128xbf16>) -> tensor<?x32x1x128xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>
       -> tensor<?x32x1x128xbf16>
  return %o : tensor<?x32x1x128xbf16>
}
