// RUN: mha-opt %s -split-input-file --mha-tile | FileCheck %s
// RUN: mha-opt %s -split-input-file --mha-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// A function computing mha.attention_kl becomes the kernel of its work
// items (b, h, t): its C parameters (q_t, k_t, q_s, k_s, then the returned
// results), then b, h, t and alive. Each item packs both models' key tiles
// transposed (16x16 transposes lowered to shuffles), forms both score tiles
// on FMA micro-kernels over f32 scratch (bf16 inputs widened when packed)
// and runs the two online softmaxes in base 2.

// CHECK-LABEL: func.func @only_kl__kernel(
// CHECK-SAME: memref<2x4x?x16xf32, {{.*}}>, %{{.*}}: memref<2x4x?x16xf32, {{.*}}>, %{{.*}}: memref<2x4x?x16xbf16, {{.*}}>, %{{.*}}: memref<2x2x?x16xbf16, {{.*}}>, %{{.*}}: memref<2x4x?xf32, {{.*}}>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK-SAME: mha.entry_point = #mha.entry_point<name = "only_kl", rowsPerItem = 32, gridHeads = 4, roles = [#mha.role<teacher_query>, #mha.role<teacher_key>, #mha.role<student_query>, #mha.role<student_key>, #mha.role<kl>]
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<5x32xf32>
// CHECK: scf.if
// CHECK: arith.extf {{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK: vector.shuffle
// CHECK: vector.fma
// CHECK: vector.reduction <maximumf>
// CHECK: math.exp2
// CHECK: math.log2
// CHECK-NOT: func.func @only_kl(
// LLVM: llvm.func @only_kl(
func.func @only_kl(%qt: tensor<2x4x?x16xf32>, %kt: tensor<2x4x?x16xf32>, %qs: tensor<2x4x?x16xbf16>, %ks: tensor<2x2x?x16xbf16>) -> tensor<2x4x?xf32> {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x4x?x16xf32>, tensor<2x4x?x16xf32>, tensor<2x4x?x16xbf16>, tensor<2x2x?x16xbf16>
      -> tensor<2x4x?xf32>, tensor<2x4x?xf32>, tensor<2x4x?xf32>
  return %kl : tensor<2x4x?xf32>
}

// -----

// With mha.backward, `<name>_backward__kernel` too: its parameters (q_t,
// k_t, q_s, k_s, lse_t, lse_s, dkl, dq_s, dk_s), the head mask, the unused
// row statistics and call words, then (phase, b, h, t, alive), on
// mha_rt_launch_backward's grids: key items of the student's KV heads
// (Hkv_s = 2, 64 keys, Lk from parameter 3, k_s) and query items.

// CHECK-LABEL: func.func @distill__kernel(
// CHECK-SAME: roles = [#mha.role<teacher_query>, #mha.role<teacher_key>, #mha.role<student_query>, #mha.role<student_key>, #mha.role<kl>, #mha.role<teacher_lse>, #mha.role<student_lse>]
// CHECK-LABEL: func.func @distill_backward__kernel(
// CHECK-SAME: memref<?xi8>, %{{.*}}: memref<?x?x?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK-SAME: mha.backward_grid = array<i64: 2, 64, 3, 0, 0>
// CHECK-SAME: roles = [#mha.role<teacher_query>, #mha.role<teacher_key>, #mha.role<student_query>, #mha.role<student_key>, #mha.role<saved_teacher_lse>, #mha.role<saved_student_lse>, #mha.role<grad_kl>, #mha.role<grad_student_query>, #mha.role<grad_student_key>]
// CHECK: scf.if
// CHECK: math.exp2
// CHECK: vector.fma
// LLVM: llvm.func @distill_backward(
// LLVM: llvm.call @mha_rt_launch_backward
func.func @distill(%qt: tensor<?x4x?x32xf32>, %kt: tensor<?x1x?x32xf32>, %qs: tensor<?x4x?x24xf32>, %ks: tensor<?x2x?x24xf32>)
    -> (tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {causal}
      : tensor<?x4x?x32xf32>, tensor<?x1x?x32xf32>, tensor<?x4x?x24xf32>, tensor<?x2x?x24xf32>
      -> tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %kl, %lt, %ls : tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
