func.func @paged(%x: tensor<?x?x64xbf16>, %wq: tensor<64x64xbf16>,
                 %wk: tensor<64x32xbf16>, %wv: tensor<64x32xbf16>,
                 %wo: tensor<64x64xbf16>, %kv_lens: tensor<?xi32>, %table: tensor<?x?xi32>,
                 %k_cache: tensor<?x2x16x16xbf16>, %v_cache: tensor<?x2x16x16xbf16>)
    -> (tensor<?x?x64xbf16>, tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>) {
  %y, %kc, %vc = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%k_cache, %v_cache : tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>)
      kv_lens(%kv_lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal, rope_theta = 1.0e4 : f32}
      : tensor<?x?x64xbf16>, tensor<64x64xbf16>, tensor<64x32xbf16>,
        tensor<64x32xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xbf16>
        cache(tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>)
  return %y, %kc, %vc : tensor<?x?x64xbf16>, tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>
}
