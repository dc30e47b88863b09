func.func @pruned_layer(%x: tensor<?x?x768xf32>, %wq: tensor<768x768xf32>,
                        %wk: tensor<768x768xf32>, %wv: tensor<768x768xf32>,
                        %wo: tensor<768x768xf32>, %bq: tensor<768xf32>,
                        %bk: tensor<768xf32>, %bv: tensor<768xf32>,
                        %bo: tensor<768xf32>) -> tensor<?x?x768xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {
         num_heads = 12, has_qkv_bias, has_out_bias,
         head_mask = array<i1: true, false, true, true, false, true,
                               true, false, true, true, false, true>}
       : tensor<?x?x768xf32>, tensor<768x768xf32>, tensor<768x768xf32>,
         tensor<768x768xf32>, tensor<768x768xf32>, tensor<768xf32>,
         tensor<768xf32>, tensor<768xf32>, tensor<768xf32>
       -> tensor<?x?x768xf32>
  return %y : tensor<?x?x768xf32>
}
