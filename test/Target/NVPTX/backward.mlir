// The backward kernels in PTX from LLVM's NVPTX back end: both kernels and
// their fallbacks per function, the tensor-core and transposed-ldmatrix
// instructions they are made of, and with ptxas (sm_80, sm_90) no spills in
// the cp.async kernels of these functions (docs/gpu.md, "The backward
// kernels": the fallbacks for unaligned rows may spill).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=nvptx --chip=sm_80 -o %t/b.ptx
// RUN: FileCheck %s < %t/b.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 -v %t/b.ptx -o %t/b80.cubin > %t/ptxas80.log 2>&1 %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 -v %t/b.ptx -o %t/b90.cubin > %t/ptxas90.log 2>&1 %}
// RUN: %if ptxas %{ cat %t/ptxas80.log %t/ptxas90.log | grep -A1 "Function properties for .*_backward__\(keys_\)\?kernel$" | FileCheck %s --check-prefix=PTXAS %}
// RUN: %if ptxas %{ cat %t/ptxas80.log %t/ptxas90.log | grep -A1 "Function properties for .*_backward__\(keys_\)\?kernel$" | not grep -E "[1-9][0-9]* bytes spill" %}

// CHECK: .target sm_80
// CHECK-DAG: .visible .entry gqa_backward__kernel(
// CHECK-DAG: .visible .entry gqa_backward__kernel_unaligned(
// CHECK-DAG: .visible .entry gqa_backward__keys_kernel(
// CHECK-DAG: .visible .entry gqa_backward__keys_kernel_unaligned(
// CHECK-DAG: .visible .entry mods_backward__keys_kernel(
// CHECK-DAG: .visible .entry wide_backward__keys_kernel(
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-DAG: cp.async.cg.shared.global
// CHECK-DAG: tanh.approx.f32
// CHECK-DAG: ex2.approx.ftz.f32
// PTXAS: 0 bytes spill stores
func.func @gqa(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>)
    -> (tensor<?x8x?x64xf16>, tensor<?x8x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>
       -> tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
}

func.func @mods(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>, %v: tensor<?x4x?x64xbf16>)
    -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse, softcap = 30.0 : f32,
       alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>, window_left = array<i64: 16, -1, 8, 4>,
       sink_tokens = 2, temperature = array<f32: 1.0, 0.5, 2.0, 1.0>, head_mask = array<i1: true, true, false, true>}
       : tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>
       -> tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
}

func.func @wide(%q: tensor<?x4x?x128xbf16>, %k: tensor<?x1x?x128xbf16>, %v: tensor<?x1x?x128xbf16>)
    -> (tensor<?x4x?x128xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x128xbf16>, tensor<?x1x?x128xbf16>, tensor<?x1x?x128xbf16>
       -> tensor<?x4x?x128xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x128xbf16>, tensor<?x4x?xf32>
}
