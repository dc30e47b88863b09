func.func @layer_shared_head_bias_out_bias(%x: tensor<2x16x256xf32>, %w: tensor<256x64xf32>,
                                           %wo: tensor<256x256xf32>, %b: tensor<4x64xf32>,
                                           %bo: tensor<256xf32>) -> tensor<2x16x256xf32> {
  %y = mha.multi_head %x, %w, %w, %w, %wo, %b, %b, %b, %bo
       {num_heads = 4, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias,
        has_out_bias}
       : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>,
         tensor<256x64xf32>, tensor<256x256xf32>, tensor<4x64xf32>,
         tensor<4x64xf32>, tensor<4x64xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
  return %y : tensor<2x16x256xf32>
}
