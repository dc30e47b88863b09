func.func @gqa(%q: tensor<?x8x?x32xf32>, %k: tensor<?x2x?x32xf32>,
               %v: tensor<?x2x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x8x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}
