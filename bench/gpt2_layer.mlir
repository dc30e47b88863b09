// A GPT-2-size layer (d = 768, 12 heads of 64, biases, causal, B = 1) for
// the pruning-plan measurement of docs/performance.md (mha-analyze --prune).
func.func @gpt2(%x: tensor<1x?x768xf32>, %wq: tensor<768x768xf32>, %wk: tensor<768x768xf32>, %wv: tensor<768x768xf32>, %wo: tensor<768x768xf32>, %bq: tensor<768xf32>, %bk: tensor<768xf32>, %bv: tensor<768xf32>, %bo: tensor<768xf32>) -> tensor<1x?x768xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 12, has_qkv_bias, has_out_bias, causal}
     : tensor<1x?x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>, tensor<768xf32>, tensor<768xf32>, tensor<768xf32>, tensor<768xf32> -> tensor<1x?x768xf32>
  return %y : tensor<1x?x768xf32>
}
