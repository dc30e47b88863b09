// Multi-query attention (PaLM/Falcon-style): 16 query heads all read one
// shared key/value head. f16 inputs, head dim 64, causal. return_lse adds the
// log-sum-exp of each row's visible scores (f32, natural log), which lets a
// caller merge the results of attention over several KV chunks.

func.func @mqa_with_lse(%q: tensor<?x16x?x64xf16>, %k: tensor<?x1x?x64xf16>,
                        %v: tensor<?x1x?x64xf16>)
    -> (tensor<?x16x?x64xf16>, tensor<?x16x?xf32>) {
  // Results: o [B, 16, Lq, 64] f16, then lse [B, 16, Lq] f32.
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x16x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>
       -> tensor<?x16x?x64xf16>, tensor<?x16x?xf32>
  return %o, %lse : tensor<?x16x?x64xf16>, tensor<?x16x?xf32>
}
