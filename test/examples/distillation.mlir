// RUN: mha-opt %examples/distillation.mlir | FileCheck %s
// RUN: mha-opt %examples/distillation.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// MiniLM's two losses, each with the student gradient (mha.backward).
// CHECK-LABEL: func.func @attention_transfer
// CHECK-SAME: attributes {mha.backward}
// CHECK: mha.attention_kl {{.*}} : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32> -> tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
// CHECK-LABEL: func.func @value_relation
// CHECK-SAME: attributes {mha.backward}
// CHECK: mha.attention_kl
