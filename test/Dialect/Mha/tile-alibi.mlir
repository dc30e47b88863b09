// RUN: mha-opt %s -mha-tile | FileCheck %s

// ALiBi (issue 23): the steps take each row's distances from its key nearest
// the diagonal, so the row's largest bias, slope * min(diag, 0) (diag =
// i + Lk - Lq), is left out of m; the work item adds it back into lse after
// the finalisation, per row, in index arithmetic up to the float conversion.
// CHECK-LABEL: func.func @alibi_lse__kernel(
// CHECK:         %[[SLOPES:.+]] = memref.get_global @alibi_lse__alibi_slopes
// CHECK:         %[[SLOPE:.+]] = memref.load %[[SLOPES]]
// CHECK:         %[[LSE:.+]] = memref.subview %arg4
// The diagonal offset is Lk - Lq, or query_start - key_start when the call
// gives explicit positions (mha_options.use_positions, word 3).
// CHECK:         %[[USED:.+]] = arith.cmpi ne
// CHECK:         %[[DEFAULT_OFFSET:.+]] = arith.subi %dim{{.*}}, %dim{{.*}} : index
// CHECK:         %[[DIAG_OFFSET:.+]] = arith.select %[[USED]], %{{.+}}, %[[DEFAULT_OFFSET]] : index
// CHECK:         %[[DIAG0:.+]] = arith.addi %{{.+}}, %[[DIAG_OFFSET]] : index
// CHECK:         mha.online_softmax_step {{.*}} scale(%{{.+}}, %[[SLOPE]]) at(%[[DIAG0]], %{{.+}})
// CHECK-SAME:      has_alibi
// CHECK:         mha.online_softmax_finalize {{.*}} lse(%[[LSE]] :
// CHECK:         scf.for %[[R:.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK:           %[[DIAG:.+]] = arith.addi %[[DIAG0]], %[[R]] : index
// CHECK:           %[[BEFORE:.+]] = arith.minsi %[[DIAG]], %{{.+}} : index
// CHECK:           %[[BEFORE64:.+]] = arith.index_cast %[[BEFORE]] : index to i64
// CHECK:           %[[BEFOREF:.+]] = arith.sitofp %[[BEFORE64]] : i64 to f32
// CHECK:           %[[BIAS:.+]] = arith.mulf %[[SLOPE]], %[[BEFOREF]] : f32
// CHECK:           %[[OLD:.+]] = memref.load %[[LSE]][%[[R]]]
// CHECK:           %[[NEW:.+]] = arith.addf %[[OLD]], %[[BIAS]] : f32
// CHECK:           memref.store %[[NEW]], %[[LSE]][%[[R]]]
func.func @alibi_lse(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>) -> (tensor<1x2x?x16xf32>, tensor<1x2x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.5, 0.25>, return_lse}
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
  return %o, %lse : tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
}

// Without lse an unsplit call has nothing to add back; a split-KV part
// (the else branch: the call has fewer work items than CPUs) writes its
// partial lse, which gets the bias back before the parts merge.
// CHECK-LABEL: func.func @alibi_no_lse__kernel(
// CHECK:         mha.online_softmax_finalize
// CHECK-NOT:     arith.minsi
// CHECK:         } else {
// CHECK:         mha.online_softmax_finalize {{.*}} lse(
// CHECK:         arith.minsi
// CHECK:         return
func.func @alibi_no_lse(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.5, 0.25>}
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>
  return %o : tensor<1x2x?x16xf32>
}

// A causal row with diag < 0 sees no key: causal heads keep their distances
// from the diagonal and have no bias to add back.
// CHECK-LABEL: func.func @alibi_causal_lse__kernel(
// CHECK:         mha.online_softmax_finalize {{.*}} lse(
// CHECK-NOT:     arith.minsi
// CHECK:         return
func.func @alibi_causal_lse(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>) -> (tensor<1x2x?x16xf32>, tensor<1x2x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.5, 0.25>, causal, return_lse}
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
  return %o, %lse : tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
}
