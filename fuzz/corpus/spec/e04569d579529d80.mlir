func.func @head_mask_too_long(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v {head_mask = array<i1: true, true, true, true, true, true, true, true, false>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}
