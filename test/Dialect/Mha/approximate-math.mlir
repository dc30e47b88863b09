// RUN: mha-opt %s -mha-approximate-math | FileCheck %s

// exp2 becomes 2^round(x) (exponent bits) times a polynomial of the rest:
// x clamped to [-127, 127] by compare and select (NaN passes), rounded by
// adding 1.5 * 2^23, whose low mantissa bits shifted into the exponent
// field give 2^k; no float-to-int conversion, no NaN check. log2 and tanh
// become polynomials: no libm function is left.
// CHECK-LABEL: func.func @softmax_math
// CHECK-DAG:     %[[LOW:.+]] = arith.constant dense<-1.270000e+02> : vector<16xf32>
// CHECK-DAG:     %[[HIGH:.+]] = arith.constant dense<1.270000e+02> : vector<16xf32>
// CHECK-DAG:     %[[MAGIC:.+]] = arith.constant dense<0x4B400000> : vector<16xf32>
// CHECK:         %[[BELOW:.+]] = arith.cmpf olt, %[[X:.+]], %[[LOW]] : vector<16xf32>
// CHECK:         %[[X1:.+]] = arith.select %[[BELOW]], %[[LOW]], %[[X]]
// CHECK:         %[[ABOVE:.+]] = arith.cmpf ogt, %[[X1]], %[[HIGH]] : vector<16xf32>
// CHECK:         %[[X2:.+]] = arith.select %[[ABOVE]], %[[HIGH]], %[[X1]]
// CHECK:         %[[SHIFTED:.+]] = arith.addf %[[X2]], %[[MAGIC]] : vector<16xf32>
// CHECK:         %[[K:.+]] = arith.subf %[[SHIFTED]], %[[MAGIC]] : vector<16xf32>
// CHECK:         arith.subf %[[X2]], %[[K]] : vector<16xf32>
// CHECK:         %[[BITS:.+]] = arith.bitcast %[[SHIFTED]] : vector<16xf32> to vector<16xi32>
// CHECK:         arith.shli %[[BITS]], %{{.*}} : vector<16xi32>
// CHECK-NOT:     arith.fptosi
// CHECK-NOT:     arith.cmpf uno
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
