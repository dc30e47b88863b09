func.func @mqa_with_lse(%q: tensor<?x16x?x64xf16>, %k: tensor<?x1x?x64xf16>,
                        %v: tensor<?x1x?x64xf16>)
    -> (tensor<?x16x?x64xf16>, tensor<?x16x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x16x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>
       -> tensor<?x16x?x64xf16>, tensor<?x16x?xf32>
  return %o, %lse : tensor<?x16x?x64xf16>, tensor<?x16x?xf32>
}
