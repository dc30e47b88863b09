func.func @f(%x: tensor<?x?x32xf32>, %wq4: tensor<32x16xi8>, %sq: tensor<2x32xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo8: tensor<32x32xi8>, %so: tensor<32xf32>) -> tensor<?x?x32xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<32x16xi8>, tensor<2x32xf32> -> tensor<32x32xf32>
  %wo = mha.quantized %wo8, %so : tensor<32x32xi8>, tensor<32xf32> -> tensor<32x32xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
