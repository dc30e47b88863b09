// RUN: mha-opt %s -mha-approximate-math | FileCheck %s

// exp2 is expanded to exp and then, like log2 and tanh, replaced by a
// polynomial: no math op (and so no libm call) is left.
// CHECK-LABEL: func.func @softmax_math
// CHECK-NOT:     math.exp2
// CHECK-NOT:     math.exp
// CHECK-NOT:     math.log2
// CHECK-NOT:     math.tanh
// CHECK:         return
func.func @softmax_math(%x: vector<16xf32>, %y: f32) -> (vector<16xf32>, f32, f32) {
  %e = math.exp2 %x : vector<16xf32>
  %l = math.log2 %y : f32
  %t = math.tanh %y : f32
  return %e, %l, %t : vector<16xf32>, f32, f32
}
