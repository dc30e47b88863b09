func.func @pruned(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = mha.attention %q, %k, %v {head_mask = array<i1: true, false>, temperature = array<f32: 1.0, 2.0>, alibi_slopes = array<f32: 0.5, 0.25>, softcap = 30.0 : f32} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}
