func.func @f0(%q: tensor<3x7x17x32xf32>, %k: tensor<3x7x17x32xf32>,
              %v: tensor<3x7x17x32xf32>) -> tensor<3x7x17xf32> {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<3x7x17x32xf32>, tensor<3x7x17x32xf32>, tensor<3x7x17x32xf32>
       -> tensor<3x7x17x32xf32>, tensor<3x7x17xf32>
  return %lse : tensor<3x7x17xf32>
}
