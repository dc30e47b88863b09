// RUN: mha-opt %examples/pruned_heads.mlir | FileCheck %s
// RUN: mha-opt %examples/pruned_heads.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// Heads 1, 4, 7 and 10 of 12 pruned on an attention op.
// CHECK-LABEL: func.func @pruned_attention
// CHECK: mha.attention {{.*}} {head_mask = array<i1: true, false, true, true, false, true, true, false, true, true, false, true>} : tensor<?x12x?x64xf32>

// The same mask on a whole layer with Q/K/V and output biases.
// CHECK-LABEL: func.func @pruned_layer
// CHECK: mha.multi_head
// CHECK-SAME: {has_out_bias, has_qkv_bias, head_mask = array<i1: true, false, true, true, false, true, true, false, true, true, false, true>, num_heads = 12 : i64}
// CHECK-SAME: -> tensor<?x?x768xf32>
