// Plain multi-head attention (docs/language.md, "Specs"): 12 heads of 64 (BERT-base),
// f32, with dynamic batch and sequence lengths. Every KV head is read by
// exactly one query head (Hq == Hkv). No attribute is given, so the score
// scale is the default 1/sqrt(64) and every key is visible to every query.
//
//   mha-opt examples/mha.mlir
//   mha-compile examples/mha.mlir --target=cpu -o libmha.so

// Self-attention: q, k and v have the same length L.
func.func @mha_self(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>,
                    %v: tensor<?x12x?x64xf32>) -> tensor<?x12x?x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>
       -> tensor<?x12x?x64xf32>
  return %o : tensor<?x12x?x64xf32>
}

// Cross-attention: Lq (decoder) and Lk (encoder) are independent dynamic
// sizes; the output has the query's length. The scale is given explicitly
// (here equal to the default 1/sqrt(64)).
func.func @mha_cross(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>,
                     %v: tensor<?x12x?x64xf32>) -> tensor<?x12x?x64xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.125 : f32}
       : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>
       -> tensor<?x12x?x64xf32>
  return %o : tensor<?x12x?x64xf32>
}
