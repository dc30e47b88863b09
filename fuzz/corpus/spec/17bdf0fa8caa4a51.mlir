func.func @return_lse(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>,
                      %v: tensor<2x2x32x64xf16>)
    -> (tensor<2x8x16x64xf16>, tensor<2x8x16xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xf16>
       -> tensor<2x8x16x64xf16>, tensor<2x8x16xf32>
  return %o, %lse : tensor<2x8x16x64xf16>, tensor<2x8x16xf32>
}
