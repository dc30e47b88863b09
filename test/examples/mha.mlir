// RUN: mha-opt %examples/mha.mlir | FileCheck %s
// RUN: mha-opt %examples/mha.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// Plain multi-head attention: Hq == Hkv == 12, dynamic B and L, default scale.
// CHECK-LABEL: func.func @mha_self
// CHECK: mha.attention %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x64xf32>

// Cross-attention with an explicit scale.
// CHECK-LABEL: func.func @mha_cross
// CHECK: mha.attention {{.*}} {scale = 1.250000e-01 : f32} : tensor<?x12x?x64xf32>
