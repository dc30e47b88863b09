// Score modifiers, applied in this order (docs/language.md):
//   s = (q . k) * scale / temperature[h]; s = softcap * tanh(s / softcap);
//   s -= alibi_slopes[h] * |i + Lk - Lq - j|; then the causal mask.
// 8 heads of 80 (an odd head dim), f32, dynamic batch and length.
//  - temperature: one per head, sharpening (< 1) or flattening (> 1) heads;
//  - softcap: Gemma-2-style logit soft-capping at 50;
//  - alibi_slopes: the ALiBi geometric slopes 2^-1 .. 2^-8 for 8 heads, in
//    place of position embeddings.

func.func @alibi_softcap_temperature(%q: tensor<?x8x?x80xf32>, %k: tensor<?x8x?x80xf32>,
                                     %v: tensor<?x8x?x80xf32>) -> tensor<?x8x?x80xf32> {
  %o = mha.attention %q, %k, %v {
         causal,
         temperature = array<f32: 0.5, 0.75, 1.0, 1.0, 1.25, 1.5, 2.0, 4.0>,
         softcap = 50.0 : f32,
         alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625,
                                   0.0078125, 0.00390625>}
       : tensor<?x8x?x80xf32>, tensor<?x8x?x80xf32>, tensor<?x8x?x80xf32>
       -> tensor<?x8x?x80xf32>
  return %o : tensor<?x8x?x80xf32>
}

// ALiBi alone with one slope for every head and an explicit scale.
func.func @alibi_uniform(%q: tensor<?x8x?x80xf32>, %k: tensor<?x8x?x80xf32>,
                         %v: tensor<?x8x?x80xf32>) -> tensor<?x8x?x80xf32> {
  %o = mha.attention %q, %k, %v {causal, scale = 0.1118 : f32,
                                 alibi_slopes = array<f32: 0.0625>}
       : tensor<?x8x?x80xf32>, tensor<?x8x?x80xf32>, tensor<?x8x?x80xf32>
       -> tensor<?x8x?x80xf32>
  return %o : tensor<?x8x?x80xf32>
}
