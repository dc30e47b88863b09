func.func @layer_all_biases(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                            %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                            %wo: tensor<512x512xf32>, %bq: tensor<512xf32>,
                            %bk: tensor<512xf32>, %bv: tensor<512xf32>,
                            %bo: tensor<512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
       {num_heads = 8, has_qkv_bias, has_out_bias}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32>, tensor<512xf32>,
         tensor<512xf32>, tensor<512xf32>, tensor<512xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
