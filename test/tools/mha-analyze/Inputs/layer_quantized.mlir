// A layer with quantized weights: int8 Wq with column scales, int4 Wo in
// groups of 16 rows (C parameters wq, wq_scale, wo, wo_scale).
func.func @layer_quantized(%x: tensor<?x?x48xf32>, %wq8: tensor<48x64xi8>,
                           %sq: tensor<64xf32>, %wk: tensor<48x32xf32>,
                           %wv: tensor<48x32xf32>, %wo4: tensor<64x24xi8>,
                           %so: tensor<4x48xf32>) -> tensor<?x?x48xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<48x64xi8>, tensor<64xf32> -> tensor<48x64xf32>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<64x24xi8>, tensor<4x48xf32> -> tensor<64x48xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2,
         rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x48xf32>, tensor<48x64xf32>, tensor<48x32xf32>,
         tensor<48x32xf32>, tensor<64x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
