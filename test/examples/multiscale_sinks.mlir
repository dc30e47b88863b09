// RUN: mha-opt %examples/multiscale_sinks.mlir | FileCheck %s
// RUN: mha-opt %examples/multiscale_sinks.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// Local heads (256) and global heads (-1) in one op, 4 sinks, causal.
// CHECK-LABEL: func.func @multiscale
// CHECK: mha.attention
// CHECK-SAME: {causal, sink_tokens = 4 : i64, window_left = array<i64: 256, 256, 256, 256, 256, 256, 256, 256, -1, -1, -1, -1, -1, -1, -1, -1>}
// CHECK-SAME: -> tensor<?x16x?x64xf16>

// The analysis variant: probs [B, H, Lq, Lk] then entropy [B, H, Lq].
// CHECK-LABEL: func.func @multiscale_analysis
// CHECK: %[[O:[a-z0-9_]+]], %[[X:[a-z0-9_]+]]:2 = mha.attention
// CHECK-SAME: {causal, return_entropy, return_probs, sink_tokens = 4 : i64, window_left = array<i64: 256, -1, 256, -1, 256, -1, 256, -1, 256, -1, 256, -1, 256, -1, 256, -1>}
// CHECK-SAME: -> tensor<?x16x?x64xf16>, tensor<?x16x?x?xf32>, tensor<?x16x?xf32>
// CHECK-NEXT: return %[[O]], %[[X]]#0, %[[X]]#1
