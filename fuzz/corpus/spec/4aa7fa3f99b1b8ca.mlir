func.func @generic_layer_four_operands(%x: tensor<2x16x64xf32>, %w: tensor<64x64xf32>) {
  %y = "mha.multi_head"(%x, %w, %w, %w) <{num_heads = 4 : i64}> : (tensor<2x16x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x16x64xf32>
  return
}
