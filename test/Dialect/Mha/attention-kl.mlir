// RUN: mha-opt %s -split-input-file | mha-opt | FileCheck %s
// RUN: mha-opt %s -split-input-file --mlir-print-op-generic | mha-opt | FileCheck %s

// mha.attention_kl round trips: the teacher's and the student's heads may
// differ in head dim, element type and KV heads.

// CHECK-LABEL: func.func @distill
// CHECK: mha.attention_kl %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal, student_scale = 2.500000e-01 : f32}
// CHECK-SAME: : tensor<?x12x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x12x?x32xbf16>, tensor<?x12x?x32xbf16> -> tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
func.func @distill(%qt: tensor<?x12x?x64xf32>, %kt: tensor<?x4x?x64xf32>,
                   %qs: tensor<?x12x?x32xbf16>, %ks: tensor<?x12x?x32xbf16>)
    -> (tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>) attributes {mha.backward} {
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {causal, student_scale = 0.25 : f32}
      : tensor<?x12x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x12x?x32xbf16>, tensor<?x12x?x32xbf16>
      -> tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
  return %kl, %lt, %ls : tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
}
