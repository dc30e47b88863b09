// A layer marked mha.backward (test/tools/mha-analyze/layer-backward.test).
func.func @layer_grad(%x: tensor<?x?x48xf32>, %wq: tensor<48x64xf32>, %wk: tensor<48x32xf32>, %wv: tensor<48x32xf32>, %wo: tensor<64x48xf32>) -> tensor<?x?x48xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x48xf32>, tensor<48x64xf32>, tensor<48x32xf32>, tensor<48x32xf32>, tensor<64x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
