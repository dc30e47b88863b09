func.func @decode(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
                  %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                  %wo: tensor<64x64xf32>, %kv_lens: tensor<?xi32>,
                  %k_cache: tensor<?x2x?x16xf32>, %v_cache: tensor<?x2x?x16xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  %y, %kc, %vc = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%k_cache, %v_cache : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
      kv_lens(%kv_lens : tensor<?xi32>)
      {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal, rope_theta = 1.0e4 : f32}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
        cache(tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
  return %y, %kc, %vc : tensor<?x?x64xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}
