// RUN: mha-opt %s -mha-cpu-pipeline | FileCheck %s
// RUN: mha-opt %s -mha-cpu-pipeline | FileCheck %s --check-prefix=NODOT
// RUN: mha-opt %s -mha-cpu-pipeline="rows=4 cols=8" | FileCheck %s --check-prefix=OPTS
// RUN: mha-opt %s -mha-cpu-pipeline="bf16-dot=true" | FileCheck %s --check-prefix=BF16DOT

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
// With bf16-dot the bf16 spec's dot products reach LLVM as AVX512-BF16
// intrinsics (x86vector lowered by convert-vector-to-llvm); without it there
// are none.
// BF16DOT:     llvm.func internal @multiscale__kernel
// BF16DOT:       llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"({{.*}}) : (vector<16xf32>, vector<32xbf16>, vector<32xbf16>) -> vector<16xf32>
// BF16DOT:       llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"
// BF16DOT:       llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
// NODOT-NOT:   avx512bf16
func.func @multiscale(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x32xbf16>) -> tensor<?x4x?x32xbf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 64, -1, 64, -1>, sink_tokens = 4, softcap = 50.0 : f32}
       : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16> -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}
