// RUN: mha-opt %examples/gqa.mlir | FileCheck %s
// RUN: mha-opt %examples/gqa.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// Grouped-query 32:8, bf16, causal prefill.
// CHECK-LABEL: func.func @gqa_prefill
// CHECK: mha.attention {{.*}} {causal} : tensor<?x32x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16> -> tensor<?x32x?x128xbf16>

// Single-query decode against a dynamic KV cache.
// CHECK-LABEL: func.func @gqa_decode
// CHECK: mha.attention {{.*}} {causal} : tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16> -> tensor<?x32x1x128xbf16>
