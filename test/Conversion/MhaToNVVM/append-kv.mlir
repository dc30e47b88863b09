// RUN: mha-opt %s --convert-mha-to-nvvm -split-input-file | FileCheck %s
// RUN: mha-opt %S/Inputs/append-paged-rope.mlir --convert-mha-to-nvvm | FileCheck %s --check-prefix=ROPE
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %S/Inputs/append-paged-rope.mlir --target=nvptx --chip=sm_80 -o %t/a.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/a.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t/a.ptx -o %t/a.cubin %}

// An exported mha.append_kv (docs/language.md 4.7) on the GPU: one kernel,
// one warp per new key, 4 per block on the grid (ceil(Lnew / 4), Hkv, S).
// The lengths stay on the device: a key past q_lens, past the cache, at a
// negative kv_lens or on a page outside the pool is not written.

// Contiguous caches, no RoPE: lanes copy columns lane, lane + 32, ...
// CHECK-LABEL: func.func private @append()
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "append__append_kernel", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}
// CHECK: gpu.func @append__append_kernel(%arg0: memref<?x8x?x128xbf16, {{.*}}%arg2: memref<?xi32, {{.*}}%arg3: memref<?x8x?x128xbf16, {{.*}}%arg4: memref<?x8x?x128xbf16, {{.*}}%arg5: memref<?xi8>) kernel
// CHECK: memref.load %arg2[%block_id_z]
// CHECK: arith.cmpi sge
// CHECK: scf.if
// CHECK: %[[CAP:.*]] = memref.dim %arg3, %c2
// CHECK: arith.cmpi slt, %{{.*}}, %[[CAP]]
// CHECK-COUNT-4: memref.store %{{.*}}, %arg4
// CHECK-COUNT-4: memref.store %{{.*}}, %arg3
func.func @append(%kn: tensor<?x8x?x128xbf16>, %vn: tensor<?x8x?x128xbf16>, %l: tensor<?xi32>,
                  %kc: tensor<?x8x?x128xbf16>, %vc: tensor<?x8x?x128xbf16>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>) {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>)
      : tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>
      -> tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>
  return %k, %v : tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>
}

// -----

// Packed new keys (cu_seqlens_q): row r of batch 0 belongs to the sequence
// whose clamped offsets hold it (a scan), and is its key r - cu[s]; rows
// past the last sequence, and sequences past kv_lens' entries, are not
// appended.
// CHECK-LABEL: func.func private @packed()
// CHECK: gpu.func @packed__append_kernel(%arg0: memref<1x2x?x64xf16, {{.*}}%arg2: memref<?xi32, {{.*}}%arg3: memref<?xi32, {{.*}}%arg4: memref<?x2x?x64xf16
// CHECK: memref.dim %arg3, %c0
// CHECK: scf.for {{.*}} -> (index, index, i1)
// CHECK: memref.load %arg3[
// CHECK: memref.dim %arg2, %c0
// CHECK: scf.if
// CHECK: memref.load %arg2[
// CHECK: memref.load %arg0[%c0{{.*}}, %block_id_y,
func.func @packed(%kn: tensor<1x2x?x64xf16>, %vn: tensor<1x2x?x64xf16>, %l: tensor<?xi32>,
                  %cu: tensor<?xi32>, %kc: tensor<?x2x?x64xf16>, %vc: tensor<?x2x?x64xf16>)
    -> (tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>) {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>) cu_seqlens_q(%cu : tensor<?xi32>)
      : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>
      -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>
  return %k, %v : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>
}

// Inputs/append-paged-rope.mlir: paged, q_lens, RoPE (D = 80: lanes 8..31 skip the second pair column):
// the page from the table only inside it and only if in the pool; angles
// in f64 reduced by whole turns, then cos/sin.approx in f32.
// ROPE-LABEL: func.func private @paged_rope()
// ROPE: memref.global "private" constant @paged_rope__rope_freqs : memref<40xf64>
// ROPE: gpu.func @paged_rope__append_kernel(%arg0: memref<?x2x?x80xf16, {{.*}}%arg3: memref<?xi32, {{.*}}%arg4: memref<?x?xi32, {{.*}}%arg5: memref<?x2x16x80xf16
// ROPE: memref.load %arg3
// ROPE: memref.dim %arg4, %c1
// ROPE: scf.if
// ROPE: memref.load %arg4
// ROPE: memref.dim %arg5, %c0
// ROPE: memref.get_global @paged_rope__rope_freqs
// ROPE: llvm.call_intrinsic "llvm.rint.f64"
// ROPE: arith.truncf %{{.*}} : f64 to f32
// ROPE: llvm.call_intrinsic "llvm.nvvm.cos.approx.f"
// ROPE: llvm.call_intrinsic "llvm.nvvm.sin.approx.f"
// ROPE: arith.extf
// ROPE: memref.store %{{.*}}, %arg5
// ROPE: scf.if
// PTX: .visible .entry paged_rope__append_kernel(
// PTX: cvt.rni.f64.f64
// PTX: cos.approx.f32
// PTX: sin.approx.f32
