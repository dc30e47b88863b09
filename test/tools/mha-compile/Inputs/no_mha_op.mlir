// A public function that computes no mha op: a factored weight on its own.
func.func @w(%a: tensor<8x2xf32>, %b: tensor<2x8xf32>, %q: tensor<1x2x4x4xf32>) -> tensor<8x8xf32> {
  %w = mha.low_rank %a, %b : tensor<8x2xf32>, tensor<2x8xf32> -> tensor<8x8xf32>
  return %w : tensor<8x8xf32>
}
