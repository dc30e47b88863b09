func.func @causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                  %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
