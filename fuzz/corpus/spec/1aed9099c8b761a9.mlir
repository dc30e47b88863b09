func.func @layer_independent(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                             %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                             %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
