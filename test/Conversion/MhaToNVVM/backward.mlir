// RUN: mha-opt %s --convert-mha-to-nvvm -verify-diagnostics -split-input-file | FileCheck %s

// A function marked mha.backward also gets `<name>_backward` on the GPU:
// the dq kernel over query tiles, then (then_kernel) the dk/dv kernel over
// key tiles of each KV head, each with a fallback for unaligned rows, and a
// launch declaration whose C signature is the contract's backward order.
// CHECK-LABEL: func.func private @train_backward()
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<saved_output>, #mha.role<saved_lse>, #mha.role<grad_output>, #mha.role<grad_query>, #mha.role<grad_key>, #mha.role<grad_value>]
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "train_backward__kernel", block_threads = 128, shared_bytes = 55296, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows>, fallback_kernel = "train_backward__kernel_unaligned", then_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "train_backward__keys_kernel", block_threads = 128, shared_bytes = 55296, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows, over_keys = true>, then_fallback_kernel = "train_backward__keys_kernel_unaligned">
// CHECK-LABEL: func.func private @train()
// The dq kernel: Q and dO staged once, K/V tiles in two stages; S and dP
// by ldmatrix + mma, dQ += dS.K with K read transposed.
// CHECK-LABEL: gpu.func @train_backward__kernel(
// CHECK-SAME: %[[DQ:arg6]]: memref<?x8x?x64xf16
// CHECK: gpu.dynamic_shared_memory
// CHECK: nvgpu.device_async_copy
// CHECK: scf.for
// CHECK: nvgpu.ldmatrix {{.*}}transpose = false
// CHECK: nvvm.mma.sync
// CHECK: llvm.nvvm.ex2.approx.ftz.f32
// CHECK: nvgpu.ldmatrix {{.*}}transpose = true
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: vector.store {{.*}}, %[[DQ]]
// CHECK-LABEL: gpu.func @train_backward__kernel_unaligned(
// The dk/dv kernel: over the group's 2 heads, then the query tiles; P and
// dS through shared memory, read back transposed as A fragments.
// CHECK-LABEL: gpu.func @train_backward__keys_kernel(
// CHECK-SAME: %[[DK:arg7]]: memref<?x4x?x64xf16
// CHECK-SAME: %[[DV:arg8]]: memref<?x4x?x64xf16
// CHECK: scf.for %{{.*}} = %{{.*}} to %c2
// CHECK: scf.for
// CHECK: scf.if
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix {{.*}}transpose = false
// CHECK: nvvm.mma.sync
// CHECK: llvm.nvvm.ex2.approx.ftz.f32
// CHECK: vector.store {{.*}} : memref<1x64x72xf16, #gpu.address_space<workgroup>>, vector<2xf16>
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix {{.*}}transpose = true
// CHECK: nvvm.mma.sync
// CHECK: vector.store {{.*}}, %[[DK]]
// CHECK: vector.store {{.*}}, %[[DV]]
// CHECK-LABEL: gpu.func @train_backward__keys_kernel_unaligned(
func.func @train(%q: tensor<?x8x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>)
    -> (tensor<?x8x?x64xf16>, tensor<?x8x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x8x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
}

// -----

// Above head dim 64 the dk/dv kernel has 8 warps (two per 16 keys, each
// half of the columns) on 128-row query tiles, the dq kernel 32-key tiles.
// CHECK-LABEL: func.func private @wide_backward()
// CHECK-SAME: kernel = #mha.gpu_kernel<module = "mha_kernels", name = "wide_backward__kernel", block_threads = 128, shared_bytes = 69632, rows_per_block = 64
// CHECK-SAME: then_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "wide_backward__keys_kernel", block_threads = 256, shared_bytes = 141312, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows, over_keys = true>
func.func @wide(%q: tensor<2x4x100x128xbf16>, %k: tensor<2x1x70x128xbf16>, %v: tensor<2x1x70x128xbf16>)
    -> (tensor<2x4x100x128xbf16>, tensor<2x4x100xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse, softcap = 20.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>}
       : tensor<2x4x100x128xbf16>, tensor<2x1x70x128xbf16>, tensor<2x1x70x128xbf16>
       -> tensor<2x4x100x128xbf16>, tensor<2x4x100xf32>
  return %o, %lse : tensor<2x4x100x128xbf16>, tensor<2x4x100xf32>
}

// -----

func.func @train32(%q: tensor<?x4x?x64xf32>, %k: tensor<?x4x?x64xf32>, %v: tensor<?x4x?x64xf32>)
    -> (tensor<?x4x?x64xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{the GPU backward computes f16 and bf16 functions (its tensor cores would round f32 inputs past the f32 tolerance): compile this f32 function with --target=cpu}}
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>
       -> tensor<?x4x?x64xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xf32>, tensor<?x4x?xf32>
}

// -----

func.func @train256(%q: tensor<?x4x?x256xf16>, %k: tensor<?x4x?x256xf16>, %v: tensor<?x4x?x256xf16>)
    -> (tensor<?x4x?x256xf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{the GPU backward supports head dims up to 128 (D = 256, Dv = 256): compile this function with --target=cpu}}
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x256xf16>, tensor<?x4x?x256xf16>, tensor<?x4x?x256xf16>
       -> tensor<?x4x?x256xf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x256xf16>, tensor<?x4x?xf32>
}

// -----

// Padded batches (kv_lens, q_lens) train on the GPU too: the lengths are
// kernel arguments after v, in the C order, read and clamped per batch
// element by both kernels.
// CHECK-LABEL: func.func private @padded_backward()
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<kv_lens>, #mha.role<q_lens>, #mha.role<saved_output>, #mha.role<saved_lse>, #mha.role<grad_output>, #mha.role<grad_query>, #mha.role<grad_key>, #mha.role<grad_value>]
// CHECK-LABEL: gpu.func @padded_backward__kernel(
// CHECK-SAME: %[[KV:arg3]]: memref<?xi32
// CHECK-SAME: %[[QL:arg4]]: memref<?xi32
// CHECK-DAG: memref.load %[[KV]]
// CHECK-DAG: memref.load %[[QL]]
// CHECK-LABEL: gpu.func @padded_backward__keys_kernel(
// CHECK-DAG: memref.load %[[KV2:arg3]]
// CHECK-DAG: memref.load %[[QL2:arg4]]
func.func @padded(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>, %lens: tensor<?xi32>, %qlens: tensor<?xi32>)
    -> (tensor<?x4x?x64xf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%lens : tensor<?xi32>) q_lens(%qlens : tensor<?xi32>) {causal, return_lse}
       : tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x4x?x64xf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xf16>, tensor<?x4x?xf32>
}

// -----

// Dropout is CPU-only so far, in forwards too.
func.func @dropped(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>)
    -> tensor<?x4x?x64xf16> {
  // expected-error @+1 {{'dropout' is not yet supported on the GPU: compile this function with --target=cpu}}
  %o = mha.attention %q, %k, %v {dropout = array<f32: 0.1>}
       : tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x4x?x64xf16>
  return %o : tensor<?x4x?x64xf16>
}
