// RUN: mha-opt %s -split-input-file -mha-low-rank="rank=1" -verify-diagnostics | FileCheck %s
// RUN: mha-opt %s -split-input-file -mha-low-rank="energy=0.9" 2>/dev/null | FileCheck %s --check-prefix=ENERGY
// RUN: mha-opt %s -split-input-file -mha-low-rank="rank=1 weights=wo" 2>/dev/null | FileCheck %s --check-prefix=ONLY-WO
// RUN: not mha-opt %s -split-input-file -mha-low-rank 2>&1 | FileCheck %s --check-prefix=NO-OPTION
// RUN: not mha-opt %s -split-input-file -mha-low-rank="rank=2 weights=wx" 2>&1 | FileCheck %s --check-prefix=BAD-WEIGHT

// NO-OPTION: mha-low-rank needs 'rank' >= 1, or 'energy' in (0, 1], got rank = 0 and energy = 0
// BAD-WEIGHT: mha-low-rank: unknown weight 'wx' in 'weights' (wq, wk, wv or wo)

// A rank-1 constant Wq [4, 8] = u v^T: rank 1 keeps all of it and takes
// 12 multiply-adds per row instead of 32. The factors are
// U_1 sqrt(s_1) and sqrt(s_1) V_1^T; Wv and Wo are arguments, untouched.
// CHECK-LABEL: func.func @rank_one
// CHECK-DAG: %[[DOWN:.+]] = arith.constant dense<{{.+}}> : tensor<4x1xf32>
// CHECK-DAG: %[[UP:.+]] = arith.constant dense<{{.+}}> : tensor<1x8xf32>
// CHECK: %[[WQ:.+]] = mha.low_rank %[[DOWN]], %[[UP]] : tensor<4x1xf32>, tensor<1x8xf32> -> tensor<4x8xf32>
// CHECK: mha.multi_head %{{.+}}, %[[WQ]], %{{.+}}, %arg1, %arg2
// ONLY-WO-LABEL: func.func @rank_one
// ONLY-WO-NOT: mha.low_rank
func.func @rank_one(%x: tensor<?x?x4xf32>, %wv: tensor<4x8xf32>, %wo: tensor<8x4xf32>) -> tensor<?x?x4xf32> {
  %wq = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0], [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]]> : tensor<4x8xf32>
  %wk = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  // expected-remark-re @+2 {{mha-low-rank: 'wq' [4x8] -> rank 1: keeps 100.00% of the energy, relative error {{.*}} (Frobenius, factors rounded to f32), 2.67x fewer multiply-adds}}
  // expected-remark @+1 {{mha-low-rank: 'wk' [4x8] -> rank 1: keeps 25.00% of the energy, relative error 8.66e-01 (Frobenius, factors rounded to f32), 2.67x fewer multiply-adds}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<?x?x4xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32> -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}

// -----

// diag(4, 2, 1, 0.5) (squares 16, 4, 1, 0.25): rank 1 keeps 16 / 21.25,
// energy = 0.9 needs rank 2 (20 / 21.25). A bf16 Wo gets bf16 factors.
// ENERGY-LABEL: func.func @by_energy
// ENERGY: mha.low_rank %{{.+}}, %{{.+}} : tensor<8x2xbf16>, tensor<2x8xbf16> -> tensor<8x8xbf16>
// ONLY-WO-LABEL: func.func @by_energy
// ONLY-WO: mha.low_rank %{{.+}}, %{{.+}} : tensor<8x1xbf16>, tensor<1x8xbf16> -> tensor<8x8xbf16>
func.func @by_energy(%x: tensor<?x?x8xbf16>, %wq: tensor<8x8xbf16>, %wk: tensor<8x8xbf16>, %wv: tensor<8x8xbf16>) -> tensor<?x?x8xbf16> {
  %wo = arith.constant dense<[[4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<8x8xbf16>
  // expected-remark @+1 {{mha-low-rank: 'wo' [8x8] -> rank 1: keeps 75.29% of the energy, relative error 4.97e-01 (Frobenius, factors rounded to bf16), 4.00x fewer multiply-adds}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<?x?x8xbf16>, tensor<8x8xbf16>, tensor<8x8xbf16>, tensor<8x8xbf16>, tensor<8x8xbf16> -> tensor<?x?x8xbf16>
  return %y : tensor<?x?x8xbf16>
}

// -----

// Rank 1 of a [2, 2] weight takes 4 multiply-adds per row, as many as the
// weight: it is kept whole.
// CHECK-LABEL: func.func @no_saving
// CHECK-NOT: mha.low_rank
func.func @no_saving(%x: tensor<?x?x2xf32>, %wk: tensor<2x2xf32>, %wv: tensor<2x2xf32>, %wo: tensor<2x2xf32>) -> tensor<?x?x2xf32> {
  %wq = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  // expected-remark @+1 {{mha-low-rank: 'wq' [2x2] kept whole: rank 1 factors take 4 multiply-adds per row, not fewer than its 4}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 1}
     : tensor<?x?x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32> -> tensor<?x?x2xf32>
  return %y : tensor<?x?x2xf32>
}
