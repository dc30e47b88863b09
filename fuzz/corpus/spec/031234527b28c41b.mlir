func.func @probs(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                 %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?x?xf32>) {
  %o, %p = mha.attention %q, %k, %v
         {window_left = array<i64: 3, -1, 0, 9>,
          window_right = array<i64: 1, 0, -1, 4>, return_probs}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?x?xf32>
  return %o, %p : tensor<?x4x?x16xf32>, tensor<?x4x?x?xf32>
}
