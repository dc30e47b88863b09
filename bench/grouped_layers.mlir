// Layers of one size with independent and grouped projections (16 heads of
// 128, d = 2048, L = 512, causal, f32): docs/performance.md, "Grouped
// projections".
func.func @independent(%x: tensor<1x512x2048xf32>, %wq: tensor<2048x2048xf32>, %wk: tensor<2048x2048xf32>, %wv: tensor<2048x2048xf32>, %wo: tensor<2048x2048xf32>) -> tensor<1x512x2048xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 16, causal} : tensor<1x512x2048xf32>, tensor<2048x2048xf32>, tensor<2048x2048xf32>, tensor<2048x2048xf32>, tensor<2048x2048xf32> -> tensor<1x512x2048xf32>
  return %y : tensor<1x512x2048xf32>
}
func.func @grouped_g8(%x: tensor<1x512x2048xf32>, %wq: tensor<2048x1024xf32>, %wk: tensor<2048x1024xf32>, %wv: tensor<2048x1024xf32>, %wo: tensor<2048x2048xf32>, %bq: tensor<16x128xf32>, %bk: tensor<16x128xf32>, %bv: tensor<16x128xf32>) -> tensor<1x512x2048xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 16, sharing = #mha.sharing<grouped>, has_qkv_bias, causal} : tensor<1x512x2048xf32>, tensor<2048x1024xf32>, tensor<2048x1024xf32>, tensor<2048x1024xf32>, tensor<2048x2048xf32>, tensor<16x128xf32>, tensor<16x128xf32>, tensor<16x128xf32> -> tensor<1x512x2048xf32>
  return %y : tensor<1x512x2048xf32>
}
func.func @grouped_g4(%x: tensor<1x512x2048xf32>, %wq: tensor<2048x512xf32>, %wk: tensor<2048x512xf32>, %wv: tensor<2048x512xf32>, %wo: tensor<2048x2048xf32>, %bq: tensor<16x128xf32>, %bk: tensor<16x128xf32>, %bv: tensor<16x128xf32>) -> tensor<1x512x2048xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 16, sharing = #mha.sharing<grouped>, has_qkv_bias, causal} : tensor<1x512x2048xf32>, tensor<2048x512xf32>, tensor<2048x512xf32>, tensor<2048x512xf32>, tensor<2048x2048xf32>, tensor<16x128xf32>, tensor<16x128xf32>, tensor<16x128xf32> -> tensor<1x512x2048xf32>
  return %y : tensor<1x512x2048xf32>
}
func.func @grouped_g1(%x: tensor<1x512x2048xf32>, %wq: tensor<2048x128xf32>, %wk: tensor<2048x128xf32>, %wv: tensor<2048x128xf32>, %wo: tensor<2048x2048xf32>, %bq: tensor<16x128xf32>, %bk: tensor<16x128xf32>, %bv: tensor<16x128xf32>) -> tensor<1x512x2048xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 16, sharing = #mha.sharing<grouped>, has_qkv_bias, causal} : tensor<1x512x2048xf32>, tensor<2048x128xf32>, tensor<2048x128xf32>, tensor<2048x128xf32>, tensor<2048x2048xf32>, tensor<16x128xf32>, tensor<16x128xf32>, tensor<16x128xf32> -> tensor<1x512x2048xf32>
  return %y : tensor<1x512x2048xf32>
}
