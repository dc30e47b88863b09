func.func @mqa(%q: tensor<?x8x?x24xf32>, %k: tensor<?x1x?x24xf32>,
               %v: tensor<?x1x?x40xf32>) -> tensor<?x8x?x40xf32> {
  %o = mha.attention %q, %k, %v
         {window_left = array<i64: 2, 4, 8, 16, 32, 64, -1, 0>}
       : tensor<?x8x?x24xf32>, tensor<?x1x?x24xf32>, tensor<?x1x?x40xf32>
       -> tensor<?x8x?x40xf32>
  return %o : tensor<?x8x?x40xf32>
}
