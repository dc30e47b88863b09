func.func @pruned_attention(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>,
                            %v: tensor<?x12x?x64xf32>) -> tensor<?x12x?x64xf32> {
  %o = mha.attention %q, %k, %v {
         head_mask = array<i1: true, false, true, true, false, true,
                               true, false, true, true, false, true>}
       : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>
       -> tensor<?x12x?x64xf32>
  return %o : tensor<?x12x?x64xf32>
}
