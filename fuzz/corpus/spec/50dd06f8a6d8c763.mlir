func.func @static_scale(%q: tensor<2x3x37x64xf32>, %k: tensor<2x3x53x64xf32>,
                        %v: tensor<2x3x53x64xf32>) -> tensor<2x3x37x64xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.3 : f32}
       : tensor<2x3x37x64xf32>, tensor<2x3x53x64xf32>, tensor<2x3x53x64xf32>
       -> tensor<2x3x37x64xf32>
  return %o : tensor<2x3x37x64xf32>
}
