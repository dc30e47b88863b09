func.func @query_dynamic_heads(%q: tensor<?x?x?x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  %o = mha.attention %q, %k, %v : tensor<?x?x?x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<?x?x?x64xf32>
  return
}
