// RUN: mha-opt %s -mha-cpu-pipeline | FileCheck %s
// RUN: mha-opt %s -mha-cpu-pipeline="rows=4 cols=8" | FileCheck %s --check-prefix=OPTS

// The whole CPU pipeline: everything is LLVM dialect, the math is
// polynomial (no libm calls), vectors of the head dim are used, and the
// exported function calls the runtime.
// CHECK-NOT:   mha.attention
// CHECK-NOT:   func.func
// CHECK-NOT:   llvm.call @{{(exp|expf|exp2f|logf|log2f|tanhf)}}(
// CHECK:       llvm.func internal @multiscale__kernel
// CHECK:         vector<32xf32>
// CHECK:       llvm.func @multiscale(
// CHECK:         llvm.call @mha_rt_launch
// OPTS:        llvm.mlir.global internal constant @multiscale__signature(dense<[1, 4, 3, 4, 4,
func.func @multiscale(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x32xbf16>) -> tensor<?x4x?x32xbf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 64, -1, 64, -1>, sink_tokens = 4, softcap = 50.0 : f32}
       : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16> -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}
