func.func @entropy(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                   %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %e = mha.attention %q, %k, %v
         {temperature = array<f32: 0.1, 0.5, 1.0, 10.0>, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %e : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}
