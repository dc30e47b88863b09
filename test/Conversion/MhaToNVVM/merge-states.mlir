// RUN: mha-opt %s --convert-mha-to-nvvm | FileCheck %s
// RUN: mha-compile %s --target=nvptx --chip=sm_80 -o %t.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.ptx -o %t.cubin %}

// An exported mha.merge_states (docs/language.md 4.5) on the GPU: one merge
// kernel, one warp per row and 4 rows per block on the grid (ceil(L / 4),
// H, B). Dv = 48: lanes 16..31 skip their second column. Each side's
// weight exp(lse - max) multiplies its bf16 output widened to f32, or adds
// 0 when the weight is 0 (a side with no keys, whatever its output holds).

// CHECK-LABEL: func.func private @merge()
// CHECK-SAME: roles = [#mha.role<partial_output_a>, #mha.role<partial_lse_a>, #mha.role<partial_output_b>, #mha.role<partial_lse_b>, #mha.role<output>, #mha.role<lse>]
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "merge__merge_kernel", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}
// CHECK: gpu.func @merge__merge_kernel(%arg0: memref<?x8x?x48xbf16, {{.*}}%arg1: memref<?x8x?xf32, {{.*}}%arg4: memref<?x8x?x48xbf16, {{.*}}%arg5: memref<?x8x?xf32, {{.*}}%arg6: memref<?xi8>) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK-NOT: scf.for
// CHECK: memref.load %arg1
// CHECK: llvm.call_intrinsic "llvm.maxnum.f32"
// CHECK: memref.load %arg3
// CHECK: llvm.call_intrinsic "llvm.maxnum.f32"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: arith.cmpf oeq
// CHECK: memref.load %arg0
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.select
// CHECK: scf.if
// CHECK: memref.load %arg0
// CHECK: memref.load %arg2
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %{{.*}}, %arg4
// CHECK: scf.if
// CHECK: memref.store %{{.*}}, %arg4
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %arg5
// PTX: .visible .entry merge__merge_kernel(
// PTX: ex2.approx.ftz.f32
// PTX: lg2.approx.ftz.f32
func.func @merge(%oa: tensor<?x8x?x48xbf16>, %la: tensor<?x8x?xf32>,
                 %ob: tensor<?x8x?x48xbf16>, %lb: tensor<?x8x?xf32>)
    -> (tensor<?x8x?x48xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x8x?x48xbf16>, tensor<?x8x?xf32>, tensor<?x8x?x48xbf16>,
        tensor<?x8x?xf32> -> tensor<?x8x?x48xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x48xbf16>, tensor<?x8x?xf32>
}
