// RUN: mha-opt %s -split-input-file -mha-quantize-weights 2>&1 | FileCheck %s
// RUN: mha-opt %s -split-input-file "-mha-quantize-weights=weights=wo" 2>&1 | FileCheck %s --check-prefix=ONLY-WO
// RUN: not mha-opt %s -split-input-file "-mha-quantize-weights=weights=wz" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: mha-opt %s -split-input-file "-mha-quantize-weights=weights=wq bits=4 group-size=2" 2>&1 | FileCheck %s --check-prefix=INT4
// RUN: mha-opt %s -split-input-file "-mha-quantize-weights=bits=4 group-size=3" 2>&1 | FileCheck %s --check-prefix=UNEVEN
// RUN: not mha-opt %s -split-input-file "-mha-quantize-weights=bits=2" 2>&1 | FileCheck %s --check-prefix=BAD-BITS

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
// int4 in groups of 2 rows: scales max|group| / 7 (1 for the zero column
// 2), values two per byte, column 2c in the low nibble: rows 0-1 of wq
// give the scales [1/7, 1/7, 1, 2/7] (rounded to f32, a little above)
// and the values [7, -3, 0, 7] -> bytes 0xD7 = -41 and 0x70 = 112,
// [-3, 7, 0, -1] -> 0x7D = 125 and 0xF0 = -16.
// INT4: remark: mha-quantize-weights: 'wq' [4x4] -> int4 with 2x4 group scales (2 rows each): relative error {{[0-9.]+}}e-02 (Frobenius), 64 -> 40 bytes
// INT4: %[[V:.+]] = arith.constant dense<{{\[}}[-41, 112], [125, -16], {{.*}}]> : tensor<4x2xi8>
// INT4: %[[S:.+]] = arith.constant dense<{{\[}}[0.142857149, 0.142857149, 1.000000e+00, 0.285714298], {{.*}}]> : tensor<2x4xf32>
// INT4: mha.quantized %[[V]], %[[S]] {bits = 4 : i64} : tensor<4x2xi8>, tensor<2x4xf32> -> tensor<4x4xf32>
// UNEVEN: warning: mha-quantize-weights: 'wq' [4x4] stays as it is: groups of 3 rows do not divide its 4 rows
// BAD-BITS: error: mha-quantize-weights: 'bits' must be 8 or 4 and 'group-size' >= 0, got 2 and 0
func.func @constants(%x: tensor<?x?x4xf32>, %wk: tensor<4x4xf32>, %wv: tensor<4x4xf32>) -> tensor<?x?x4xf32> {
  %wq = arith.constant dense<[[1.0, -0.5, 0.0, 2.0], [-0.5, 1.0, 0.0, -0.2], [0.25, 0.25, 0.0, 0.0], [0.0, -1.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %wo = arith.constant dense<0.5> : tensor<4x4xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<?x?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32> -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}
