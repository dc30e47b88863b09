func.func @windows_per_head(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {window_left = array<i64: 64, -1, 0, 128>,
                                 window_right = array<i64: -1, 8, 0, -1>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}
