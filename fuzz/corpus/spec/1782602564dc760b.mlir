func.func @static_len(%q: tensor<?x2x33x8xf32>, %k: tensor<?x2x19x8xf32>,
                      %v: tensor<?x2x19x8xf32>) -> tensor<?x2x33x8xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x2x33x8xf32>, tensor<?x2x19x8xf32>, tensor<?x2x19x8xf32>
       -> tensor<?x2x33x8xf32>
  return %o : tensor<?x2x33x8xf32>
}
