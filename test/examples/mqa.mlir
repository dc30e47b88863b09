// RUN: mha-opt %examples/mqa.mlir | FileCheck %s
// RUN: mha-opt %examples/mqa.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// Multi-query (one KV head), f16, causal, with the f32 lse result.
// CHECK-LABEL: func.func @mqa_with_lse
// CHECK: %[[O:[a-z0-9_]+]], %[[LSE:[a-z0-9_]+]] = mha.attention {{.*}} {causal, return_lse} :
// CHECK-SAME: tensor<?x16x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16> -> tensor<?x16x?x64xf16>, tensor<?x16x?xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]]
