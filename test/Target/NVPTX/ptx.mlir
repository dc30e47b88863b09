// PTX from LLVM's NVPTX back end alone (no CUDA toolkit): the tensor-core
// instructions are there, every variant assembles with ptxas for sm_80 and
// sm_90 without local-memory spills, and a library embeds PTX and cubins.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=nvptx --chip=sm_80 -o %t/k80.ptx
// RUN: FileCheck %s < %t/k80.ptx
// RUN: mha-compile %s --target=nvptx --chip=sm_90a -o %t/k90a.ptx
// RUN: FileCheck %s --check-prefix=SM90A < %t/k90a.ptx
// RUN: FileCheck %s --check-prefix=WGMMA < %t/k90a_sm90a.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 -v %t/k80.ptx -o %t/k80.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 -v %t/k80.ptx -o %t/k90.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90a -v %t/k90a.ptx -o %t/k90a.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90a -v %t/k90a_sm90a.ptx -o %t/k90a_sm90a.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS %}
// A library: with ptxas, a cubin per chip beside the PTX; without, PTX only.
// RUN: mha-compile %s --target=nvptx -o %t/lib.so
// RUN: llvm-readelf -s %t/lib.so | FileCheck %s --check-prefix=SYMS
// RUN: MHA_PTXAS= mha-compile %s --target=nvptx --no-cubin -o %t/ptxonly.so
// RUN: llvm-readelf --dynamic %t/lib.so | FileCheck %s --check-prefix=NEEDED

// One PTX module holds every kernel of the spec.
// CHECK: .version 8.0
// CHECK: .target sm_80
// CHECK-NOT: .version
// CHECK: .visible .entry mha_bf16_d128__kernel(
// CHECK-DAG: cp.async.cg.shared.global
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-DAG: ex2.approx.ftz.f32
// CHECK-DAG: shfl.sync.bfly.b32
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-DAG: cp.async.wait_group{{[[:space:]]+}}0
// CHECK-DAG: bar.sync{{[[:space:]]+}}0
// CHECK: .visible .entry gqa_f16_d64_lse__kernel(
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-DAG: lg2.approx.ftz.f32
// CHECK: .visible .entry multiscale_d256__kernel(
// CHECK: tanh.approx.f32
// No libdevice: nothing is left for the toolkit to resolve.
// CHECK-NOT: .extern .func

// SM90A: .target sm_90a
// SM90A-NOT: wgmma

// sm_90a also gets warpgroup-MMA kernels, in a PTX module of their own, for
// the specs whose head dims are multiples of 64: Q.K^T from two shared
// memory descriptors, P.V with P from registers and V transposed, fenced
// and waited for in one asm block; cp.async copies are made visible to the
// async proxy before the barrier.
// WGMMA: .target sm_90a
// WGMMA: .visible .entry mha_bf16_d128__kernel_sm90a(
// WGMMA: mbarrier.init.shared::cta.b64
// WGMMA: cp.async.wait_group
// WGMMA-NEXT: fence.proxy.async.shared::cta
// WGMMA-NEXT: bar.sync
// WGMMA: setmaxnreg.inc.sync.aligned.u32 240;
// WGMMA: wgmma.fence.sync.aligned
// WGMMA-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{.*}}}, %rd{{[0-9]+}}, %rd{{[0-9]+}}, p, 1, 1, 0, 0;
// WGMMA-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{.*}}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}, %rd{{[0-9]+}}, p, 1, 1, 1;
// WGMMA: wgmma.commit_group.sync.aligned
// WGMMA-NEXT: wgmma.wait_group.sync.aligned 0
// WGMMA-DAG: setmaxnreg.dec.sync.aligned.u32 24;
// WGMMA-DAG: mbarrier.try_wait.parity.shared::cta.b64
// WGMMA-DAG: mbarrier.arrive.expect_tx.shared::cta.b64
// WGMMA-DAG: cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes
// WGMMA: .visible .entry gqa_f16_d64_lse__kernel_sm90a(
// WGMMA: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// Head dim 256 with masks and softcap: 32-key tiles, O as m64n256.
// WGMMA: .visible .entry multiscale_d256__kernel_sm90a(
// WGMMA-DAG: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
// WGMMA-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// WGMMA-NOT: .extern .func

// PTXAS-NOT: bytes spill stores
// PTXAS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-NOT: {{[1-9][0-9]* bytes spill stores}}

// SYMS-DAG: GLOBAL DEFAULT {{.*}} mha_bf16_d128
// SYMS-DAG: GLOBAL DEFAULT {{.*}} gqa_f16_d64_lse
// SYMS-DAG: GLOBAL DEFAULT {{.*}} multiscale_d256
// SYMS-DAG: LOCAL {{.*}} mha_kernels__images
// NEEDED-NOT: libcuda
// NEEDED: libc.so

func.func @mha_bf16_d128(%q: tensor<?x16x?x128xbf16>, %k: tensor<?x16x?x128xbf16>, %v: tensor<?x16x?x128xbf16>) -> tensor<?x16x?x128xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x16x?x128xbf16>, tensor<?x16x?x128xbf16>, tensor<?x16x?x128xbf16> -> tensor<?x16x?x128xbf16>
  return %o : tensor<?x16x?x128xbf16>
}

func.func @gqa_f16_d64_lse(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>) -> (tensor<?x8x?x64xf16>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse, temperature = array<f32: 1.0, 2.0, 0.5, 1.5, 1.0, 1.0, 1.0, 1.0>}
      : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
}

func.func @multiscale_d256(%q: tensor<?x4x?x256xbf16>, %k: tensor<?x4x?x256xbf16>, %v: tensor<?x4x?x256xbf16>) -> tensor<?x4x?x256xbf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 64, -1, 256, -1>, sink_tokens = 4, softcap = 50.0 : f32, alibi_slopes = array<f32: 0.5>, head_mask = array<i1: true, true, false, true>}
      : tensor<?x4x?x256xbf16>, tensor<?x4x?x256xbf16>, tensor<?x4x?x256xbf16> -> tensor<?x4x?x256xbf16>
  return %o : tensor<?x4x?x256xbf16>
}
