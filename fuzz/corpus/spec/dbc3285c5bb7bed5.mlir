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
