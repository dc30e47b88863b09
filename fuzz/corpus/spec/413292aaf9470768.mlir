func.func @mh_rope_odd_head_dim(%x: tensor<2x16x20xf32>, %wq: tensor<20x20xf32>, %wk: tensor<20x20xf32>, %wv: tensor<20x20xf32>, %wo: tensor<20x20xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 10000.0 : f32}
      : tensor<2x16x20xf32>, tensor<20x20xf32>, tensor<20x20xf32>, tensor<20x20xf32>, tensor<20x20xf32> -> tensor<2x16x20xf32>
  return
}
