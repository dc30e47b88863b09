func.func @static_mask(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                       %v: tensor<?x2x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %o = mha.attention %q, %k, %v
         {head_mask = array<i1: true, false, true, true, false, true, true, false>}
       : tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}
