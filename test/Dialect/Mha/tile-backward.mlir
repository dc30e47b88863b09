// RUN: mha-opt %s --mha-tile-backward --canonicalize | FileCheck %s
// RUN: mha-opt %s --mha-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: mha-opt %s --mha-tile-backward="cols=100000" -verify-diagnostics -o /dev/null -split-input-file

// A function marked mha.backward gets the kernel of <name>_backward beside
// its forward: its C parameters (q, k, v, o, lse, dout, dq, dk, dv), the
// run-time head mask, the row statistics (used with the entropy gradient),
// the dropout words (read only with dropout), then
// (phase, b, h, t, alive). Phase 0 items sum dk and
// dv of one key tile on the stack; phase 1 items write dq of one query
// tile. The launcher is mha_rt_launch_backward.

// CHECK-LABEL: func.func @gqa_backward__kernel(
// CHECK-SAME: memref<?xi8>, %{{.*}}: memref<?x?x?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK-SAME: mha.backward_grid = array<i64: 2, 64, 1, 0>
// CHECK-SAME: mha.dropout_rng
// CHECK-SAME: #mha.entry_point<name = "gqa_backward", rowsPerItem = 64, gridHeads = 4,
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<saved_output>, #mha.role<saved_lse>, #mha.role<grad_output>, #mha.role<grad_query>, #mha.role<grad_key>, #mha.role<grad_value>]
// CHECK: scf.if
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<64x8xf32>
// CHECK: } else {
// CHECK-NOT: memref.alloca
// CHECK: scf.for
// CHECK: return
// CHECK: func.func @gqa(
// CHECK: mha.attention

// LLVM: llvm.func @gqa_backward(
// LLVM: llvm.call @mha_rt_launch_backward(
// LLVM: llvm.func @gqa(
// LLVM: llvm.call @mha_rt_launch(
func.func @gqa(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{backward key tiles of 100000 keys need 9600000 bytes of scratch per work item, more than the 1048576 allowed: use fewer cols}}
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}
