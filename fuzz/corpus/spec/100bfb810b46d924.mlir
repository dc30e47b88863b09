func.func @fz_bf16(%q: tensor<1x2x5x4xbf16>, %k: tensor<1x2x?x4xbf16>,
                   %v: tensor<1x2x?x4xbf16>)
    -> (tensor<1x2x5x4xbf16>, tensor<1x2x5x?xf32>) {
  %o, %p = mha.attention %q, %k, %v {window_left = array<i64: 2>, return_probs}
       : tensor<1x2x5x4xbf16>, tensor<1x2x?x4xbf16>, tensor<1x2x?x4xbf16>
       -> tensor<1x2x5x4xbf16>, tensor<1x2x5x?xf32>
  return %o, %p : tensor<1x2x5x4xbf16>, tensor<1x2x5x?xf32>
}
