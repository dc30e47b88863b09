func.func @layer_mqa_f16(%x: tensor<2x16x256xf16>, %wq: tensor<256x256xf16>,
                         %wk: tensor<256x32xf16>, %wv: tensor<256x32xf16>,
                         %wo: tensor<256x256xf16>) -> tensor<2x16x256xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 1}
       : tensor<2x16x256xf16>, tensor<256x256xf16>, tensor<256x32xf16>,
         tensor<256x32xf16>, tensor<256x256xf16> -> tensor<2x16x256xf16>
  return %y : tensor<2x16x256xf16>
}
