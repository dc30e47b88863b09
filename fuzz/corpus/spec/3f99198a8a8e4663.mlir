func.func @generic_sharing_integer(%x: tensor<2x16x64xf32>, %w: tensor<64x64xf32>) {
  %y = "mha.multi_head"(%x, %w, %w, %w, %w) <{num_heads = 4 : i64, sharing = 1 : i32}> : (tensor<2x16x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x16x64xf32>
  return
}
