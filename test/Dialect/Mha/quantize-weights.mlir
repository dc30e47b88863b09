// RUN: mha-opt %s -split-input-file -mha-quantize-weights 2>&1 | FileCheck %s
// RUN: mha-opt %s -split-input-file "-mha-quantize-weights=weights=wo" 2>&1 | FileCheck %s --check-prefix=ONLY-WO
// RUN: not mha-opt %s -split-input-file "-mha-quantize-weights=weights=wz" 2>&1 | FileCheck %s --check-prefix=BAD

// Constant weights become int8 values and column scales, max|column| / 127
// (1 for the zero column 2), rounded to nearest; weights that are
// arguments stay.
// CHECK: remark: mha-quantize-weights: 'wq' [4x4] -> int8 with 4 column scales: relative error {{[0-9.]+}}e-03 (Frobenius), 64 -> 32 bytes
// CHECK: remark: mha-quantize-weights: 'wo' [4x4] -> int8 with 4 column scales: relative error {{[0-9.]+}}e-09 (Frobenius), 64 -> 32 bytes
// CHECK-LABEL: func.func @constants
// CHECK: %[[V:.+]] = arith.constant dense<{{\[}}[127, -64, 0, 127], [-64, 127, 0, -13], [32, 32, 0, 0], [0, -127, 0, 64]]> : tensor<4x4xi8>
// CHECK: %[[S:.+]] = arith.constant dense<[0.00787401571, 0.00787401571, 1.000000e+00, 0.0157480314]> : tensor<4xf32>
// CHECK: %[[WQ:.+]] = mha.quantized %[[V]], %[[S]] : tensor<4x4xi8>, tensor<4xf32> -> tensor<4x4xf32>
// CHECK: %[[WO:.+]] = mha.quantized %{{.+}}, %{{.+}} : tensor<4x4xi8>, tensor<4xf32> -> tensor<4x4xf32>
// CHECK: mha.multi_head %{{.+}}, %[[WQ]], %{{.+}}, %{{.+}}, %[[WO]]
// ONLY-WO-NOT: 'wq'
// ONLY-WO: remark: mha-quantize-weights: 'wo'
// BAD: error: mha-quantize-weights: unknown weight 'wz' in 'weights' (wq, wk, wv or wo)
func.func @constants(%x: tensor<?x?x4xf32>, %wk: tensor<4x4xf32>, %wv: tensor<4x4xf32>) -> tensor<?x?x4xf32> {
  %wq = arith.constant dense<[[1.0, -0.5, 0.0, 2.0], [-0.5, 1.0, 0.0, -0.2], [0.25, 0.25, 0.0, 0.0], [0.0, -1.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %wo = arith.constant dense<0.5> : tensor<4x4xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<?x?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32> -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}
