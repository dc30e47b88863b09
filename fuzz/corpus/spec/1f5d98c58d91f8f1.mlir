func.func @layer_rope(%x: tensor<?x?x512xbf16>, %w: tensor<512x512xbf16>) -> tensor<?x?x512xbf16> {
  %y = mha.multi_head %x, %w, %w, %w, %w {num_heads = 8, rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x512xbf16>, tensor<512x512xbf16>, tensor<512x512xbf16>,
         tensor<512x512xbf16>, tensor<512x512xbf16> -> tensor<?x?x512xbf16>
  return %y : tensor<?x?x512xbf16>
}
