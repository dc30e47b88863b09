// A layer over packed sequences (docs/language.md 5.9), which mha-analyze
// skips (errors.test).
func.func @packed(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
                  %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                  %wo: tensor<64x64xf32>, %cu: tensor<?xi32>)
    -> tensor<1x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}
