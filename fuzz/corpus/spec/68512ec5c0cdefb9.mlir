func.func @layer_extras(%x: tensor<2x16x256xf32>, %w: tensor<256x256xf32>)
    -> (tensor<2x16x256xf32>, tensor<2x4x16xf32>, tensor<2x4x16x16xf32>,
        tensor<2x4x16xf32>) {
  %y, %lse, %p, %e = mha.multi_head %x, %w, %w, %w, %w
       {num_heads = 4, return_lse, return_probs, return_entropy}
       : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>,
         tensor<256x256xf32>, tensor<256x256xf32>
       -> tensor<2x16x256xf32>, tensor<2x4x16xf32>, tensor<2x4x16x16xf32>,
          tensor<2x4x16xf32>
  return %y, %lse, %p, %e : tensor<2x16x256xf32>, tensor<2x4x16xf32>,
                            tensor<2x4x16x16xf32>, tensor<2x4x16xf32>
}
