// mha.attention_kl end to end (docs/language.md 4.9): loss functions and
// their student gradients (<name>_backward) against the float64 loss and
// its analytic gradient, on random heads: teacher and student of other
// head dims, KV heads and element types, causal with Lq = Lk, scales given,
// a function returning only kl (no gradient).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libkl.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libkl.h
// HEADER: mha_status distill(const DLTensor *q_t, const DLTensor *k_t, const DLTensor *q_s, const DLTensor *k_s, DLTensor *kl, DLTensor *lse_t, DLTensor *lse_s, const mha_options *opts);
// HEADER: mha_status distill_backward(const DLTensor *q_t, const DLTensor *k_t, const DLTensor *q_s, const DLTensor *k_s, const DLTensor *lse_t, const DLTensor *lse_s, const DLTensor *dkl, DLTensor *dq_s, DLTensor *dk_s, const mha_options *opts);
// RUN: mha-run %s %t/libkl.so --batch 2 --seq-len 150 --num-threads 2 | FileCheck %s
// RUN: mha-run %s %t/libkl.so --batch 1 --seq-len 1 | FileCheck %s
// CHECK-DAG: {{^}}distill {{.*}} kl/lse {{.*}} ok
// CHECK-DAG: {{^}}distill_backward {{.*}} dq_s/dk_s {{.*}} ok
// CHECK-DAG: {{^}}scaled_bf16 {{.*}} kl/lse {{.*}} ok
// CHECK-DAG: {{^}}scaled_bf16_backward {{.*}} dq_s/dk_s {{.*}} ok
// CHECK-DAG: {{^}}kl_only {{.*}} kl/lse {{.*}} ok
// CHECK-NOT: FAIL
func.func @distill(%qt: tensor<?x6x?x48xf32>, %kt: tensor<?x2x?x48xf32>,
                   %qs: tensor<?x6x?x24xf32>, %ks: tensor<?x3x?x24xf32>)
    -> (tensor<?x6x?xf32>, tensor<?x6x?xf32>, tensor<?x6x?xf32>) attributes {mha.backward} {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {causal}
      : tensor<?x6x?x48xf32>, tensor<?x2x?x48xf32>, tensor<?x6x?x24xf32>, tensor<?x3x?x24xf32>
      -> tensor<?x6x?xf32>, tensor<?x6x?xf32>, tensor<?x6x?xf32>
  return %kl, %lt, %ls : tensor<?x6x?xf32>, tensor<?x6x?xf32>, tensor<?x6x?xf32>
}
func.func @scaled_bf16(%qt: tensor<?x4x?x32xf32>, %kt: tensor<?x4x?x32xf32>,
                       %qs: tensor<?x4x?x16xbf16>, %ks: tensor<?x1x?x16xbf16>)
    -> (tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {teacher_scale = 0.1 : f32, student_scale = 0.2 : f32}
      : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x16xbf16>, tensor<?x1x?x16xbf16>
      -> tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %lt, %kl, %ls : tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
func.func @kl_only(%qt: tensor<2x2x?x16xf32>, %kt: tensor<2x2x?x16xf32>,
                   %qs: tensor<2x2x?x16xf32>, %ks: tensor<2x2x?x16xf32>) -> tensor<2x2x?xf32> {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks
      : tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32>
      -> tensor<2x2x?xf32>, tensor<2x2x?xf32>, tensor<2x2x?xf32>
  return %kl : tensor<2x2x?xf32>
}
