// RUN: mha-opt %s --mha-nvptx-pipeline | FileCheck %s
// RUN: mha-opt %s --mha-nvptx-pipeline="chips=sm_80,sm_90a" --mlir-print-ir-before=gpu-module-to-binary 2>&1 >/dev/null | FileCheck %s --check-prefix=NVVM

// The whole NVPTX pipeline on a small spec: the kernels are lowered to
// NVVM (tensor-core MMAs, ldmatrix, cp.async, quad shuffles, ex2.approx
// intrinsics rather than libdevice calls), serialised by LLVM's NVPTX back
// end, and embedded in the host module, whose exported function launches
// them through the runtime.

// Before serialisation: the declaration with its launch description, the
// portable module for both chips, the sm_90a module for sm_90a only.
// NVVM: func.func private @attn() attributes {mha.entry_point = #mha.entry_point<name = "attn"
// NVVM-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "attn__kernel"
// NVVM-SAME: fallback_kernel = "attn__kernel_unaligned", sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a", name = "attn__kernel_sm90a"
// NVVM: gpu.module @mha_kernels [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, #nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">]
// NVVM: llvm.func @attn__kernel(
// NVVM-SAME: gpu.kernel
// NVVM-SAME: nvvm.kernel
// NVVM-DAG: nvvm.read.ptx.sreg.tid.x
// NVVM-DAG: nvvm.cp.async.shared.global {{.*}}, 16, cache =  cg
// NVVM-DAG: nvvm.ldmatrix
// NVVM-DAG: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// NVVM-DAG: nvvm.shfl.sync bfly
// NVVM-DAG: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// NVVM-DAG: nvvm.cp.async.wait.group 0
// NVVM-DAG: nvvm.barrier0
// NVVM: llvm.func @attn__kernel_unaligned(
// NVVM: gpu.module @mha_kernels_sm90a [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">]
// NVVM: llvm.func @attn__kernel_sm90a(
// NVVM: setmaxnreg.inc.sync.aligned.u32 240;
// NVVM: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// NVVM: setmaxnreg.dec.sync.aligned.u32 24;
// NVVM: cp.async.bulk.tensor.4d
// NVVM-NOT: llvm.call @__nv_

// After it: host LLVM dialect only, the PTX embedded as an image, the
// exported function calling mha_rt_cuda_launch with the kernel's
// descriptor.
// CHECK-NOT: gpu.module
// CHECK-NOT: gpu.binary
// CHECK-NOT: func.func
// CHECK: llvm.mlir.global internal constant @mha_kernels__image0("{{.*}}.target sm_80{{.*}}.visible .entry attn__kernel({{.*}}mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32{{.*}}.visible .entry attn__kernel_unaligned(
// CHECK: llvm.mlir.global internal constant @attn__gpu_kernel()
// CHECK: llvm.mlir.global internal constant @attn__signature(dense<[1, 4, 3,
// CHECK: llvm.func @mha_rt_cuda_launch(
// CHECK-LABEL: llvm.func @attn(
// CHECK-SAME: -> i32 attributes {mha.entry_point = #mha.entry_point<name = "attn"
// CHECK: llvm.mlir.addressof @attn__gpu_kernel :
// CHECK: llvm.call @mha_rt_cuda_launch(
func.func @attn(%q: tensor<?x2x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %o = mha.attention %q, %k, %v {causal}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %o : tensor<?x2x?x64xf16>
}
