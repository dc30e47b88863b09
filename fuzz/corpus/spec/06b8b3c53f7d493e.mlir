func.func @layer_attention_attributes(%x: tensor<2x16x256xf32>, %w: tensor<256x256xf32>)
    -> tensor<2x16x256xf32> {
  %y = mha.multi_head %x, %w, %w, %w, %w {
         num_heads = 4, scale = 0.125 : f32,
         temperature = array<f32: 1.0, 2.0, 1.0, 2.0>, softcap = 30.0 : f32,
         alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>, causal,
         window_left = array<i64: 16, -1, 16, -1>, window_right = array<i64: -1>,
         sink_tokens = 4, head_mask = array<i1: true, false, true, true>}
       : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>,
         tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return %y : tensor<2x16x256xf32>
}
