func.func @window_left(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                       %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 0, 3, 17, -1>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
