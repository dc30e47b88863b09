// RUN: mha-opt %s -mha-approximate-math | FileCheck %s

// exp2 becomes 2^round(x) (exponent bits) times a polynomial of the rest;
// log2 and tanh become polynomials: no libm function is left (roundeven is
// one instruction, vrndscaleps / roundps).
// CHECK-LABEL: func.func @softmax_math
// CHECK:         arith.maxnumf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK:         math.roundeven %{{.*}} : vector<16xf32>
// CHECK:         arith.shli %{{.*}}, %{{.*}} : vector<16xi32>
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
