// RUN: mha-opt %s -split-input-file -mha-emit-gpu-entry-points -verify-diagnostics | FileCheck %s

// mha-emit-gpu-entry-points alone, on what convert-mha-to-nvvm and
// gpu-module-to-binary leave: a declaration with its C signature
// (#mha.entry_point) and launch description (#mha.gpu_launch), and the
// serialised module. The device objects become constant images (sm,
// arch-specific, format 0 = PTX with a NUL, 1 = cubin), each kernel an
// mha_gpu_kernel descriptor {name, block threads, shared bytes, rows per
// block, requirements, images, heads per block, images, fallback, portable,
// TMA box rows, 0}; the fallback has no requirements and no fallback of
// its own. The declaration becomes the exported function, which calls
// mha_rt_cuda_launch with the signature table (the CPU path's) and the
// kernel's descriptor; the binary is gone.

// CHECK-NOT: gpu.binary
// CHECK-NOT: func.func
// CHECK: llvm.mlir.global internal constant @mha_kernels__image0("// PTX of sm_80\0A\00")
// CHECK: llvm.mlir.global internal constant @mha_kernels__image1("CUBIN")
// CHECK-LABEL: llvm.mlir.global internal constant @mha_kernels__images()
// CHECK-SAME: !llvm.array<2 x struct<(i32, i32, i32, i32, ptr, i64)>>
// CHECK:   llvm.mlir.constant(80 : i32)
// CHECK:   llvm.mlir.constant(0 : i32)
// CHECK:   llvm.mlir.constant(0 : i32)
// CHECK:   llvm.mlir.addressof @mha_kernels__image0
// CHECK:   llvm.mlir.constant(17 : i64)
// CHECK:   llvm.mlir.constant(90 : i32)
// CHECK:   llvm.mlir.constant(0 : i32)
// CHECK:   llvm.mlir.constant(1 : i32)
// CHECK:   llvm.mlir.addressof @mha_kernels__image1
// CHECK:   llvm.mlir.constant(5 : i64)
// CHECK: llvm.mlir.global internal constant @attn__gpu_kernel_fallback_name("attn__kernel_unaligned\00")
// CHECK-LABEL: llvm.mlir.global internal constant @attn__gpu_kernel_fallback()
// CHECK-NEXT:   llvm.mlir.addressof @attn__gpu_kernel_fallback_name
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(73728 : i32)
// CHECK-NEXT:   llvm.mlir.constant(64 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(2 : i32)
// CHECK-NEXT:   llvm.mlir.constant(2 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels__images
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK: llvm.mlir.global internal constant @attn__gpu_kernel_name("attn__kernel\00")
// CHECK-LABEL: llvm.mlir.global internal constant @attn__gpu_kernel()
// CHECK-NEXT:   llvm.mlir.addressof @attn__gpu_kernel_name
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(73728 : i32)
// CHECK-NEXT:   llvm.mlir.constant(64 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(2 : i32)
// CHECK-NEXT:   llvm.mlir.constant(2 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels__images
// CHECK-NEXT:   llvm.mlir.addressof @attn__gpu_kernel_fallback
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK: llvm.mlir.global internal constant @attn__signature(dense<[1, 4, 3, 2, 64, 1, 2, 0, 0, 2, 16, 4, 1, -1, 4, 2, 2, -1, 6, 64,
// CHECK-DAG: llvm.mlir.global internal constant @attn__name("attn\00")
// CHECK-DAG: llvm.mlir.global internal constant @attn__arg0("q\00")
// CHECK-DAG: llvm.mlir.global internal constant @attn__arg3("o\00")
// CHECK: llvm.func @mha_rt_cuda_launch(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> i32
// CHECK-LABEL: llvm.func @attn(
// CHECK-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %[[OPTS:.*]]: !llvm.ptr) -> i32
// CHECK-SAME: attributes {mha.entry_point = #mha.entry_point<name = "attn"
// CHECK:   %[[DESC:.*]] = llvm.mlir.addressof @attn__gpu_kernel : !llvm.ptr
// CHECK:   %[[SIG:.*]] = llvm.mlir.addressof @attn__signature
// CHECK:   %[[NAME:.*]] = llvm.mlir.addressof @attn__name
// CHECK:   %[[STATUS:.*]] = llvm.call @mha_rt_cuda_launch(%[[SIG]], %[[NAME]], %{{.*}}, %{{.*}}, %[[OPTS]], %[[DESC]])
// CHECK:   llvm.return %[[STATUS]] : i32
module attributes {gpu.container_module} {
  func.func private @attn() attributes {
    mha.entry_point = #mha.entry_point<name = "attn", rowsPerItem = 64, gridHeads = 2,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "attn__kernel", block_threads = 128, shared_bytes = 73728,
                               rows_per_block = 64, heads_per_block = 2, requirements = aligned_rows>,
      fallback_kernel = "attn__kernel_unaligned">}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "sm_80">, assembly = "// PTX of sm_80\0A">,
                           #gpu.object<#nvvm.target<chip = "sm_90">, bin = "CUBIN">]
}

// -----

// An sm_90a kernel: its own module's images (arch-specific), a descriptor
// with TMA tensor maps (requirements 3, 128-key boxes) that names the
// fallback and the portable kernel, and the exported function launches it.
// Two functions share the portable module: its images are embedded once.
// CHECK: llvm.mlir.global internal constant @mha_kernels__image0("PTX80\00")
// CHECK-NOT: @mha_kernels__image1
// CHECK: llvm.mlir.global internal constant @mha_kernels_sm90a__image0("PTX90A\00")
// CHECK-LABEL: llvm.mlir.global internal constant @mha_kernels_sm90a__images()
// CHECK:   llvm.mlir.constant(90 : i32)
// CHECK:   llvm.mlir.constant(1 : i32)
// CHECK-LABEL: llvm.mlir.global internal constant @f__gpu_kernel_sm90a()
// CHECK-NEXT:   llvm.mlir.addressof @f__gpu_kernel_sm90a_name
// CHECK-NEXT:   llvm.mlir.constant(384 : i32)
// CHECK-NEXT:   llvm.mlir.constant(164896 : i32)
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(3 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels_sm90a__images
// CHECK-NEXT:   llvm.mlir.addressof @f__gpu_kernel_fallback
// CHECK-NEXT:   llvm.mlir.addressof @f__gpu_kernel
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-LABEL: llvm.func @f(
// CHECK:   llvm.mlir.addressof @f__gpu_kernel_sm90a
// CHECK:   llvm.call @mha_rt_cuda_launch
// CHECK-NOT: @mha_kernels__images()
// CHECK-LABEL: llvm.mlir.global internal constant @g__gpu_kernel()
// CHECK:   llvm.mlir.addressof @mha_kernels__images
// CHECK-LABEL: llvm.func @g(
// CHECK:   llvm.mlir.addressof @g__gpu_kernel :
module attributes {gpu.container_module} {
  func.func private @f() attributes {
    mha.entry_point = #mha.entry_point<name = "f", rowsPerItem = 128, gridHeads = 4,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "f__kernel", block_threads = 128, shared_bytes = 69632,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>,
      fallback_kernel = "f__kernel_unaligned",
      sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a", name = "f__kernel_sm90a", block_threads = 384,
                                     shared_bytes = 164896, rows_per_block = 128, heads_per_block = 1,
                                     requirements = aligned_rows|tensor_maps, tma_box_rows = 128>>}
  func.func private @g() attributes {
    mha.entry_point = #mha.entry_point<name = "g", rowsPerItem = 128, gridHeads = 4,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x4x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x4x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x4x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x4x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "g__kernel", block_threads = 128, shared_bytes = 53248,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>,
      fallback_kernel = "g__kernel_unaligned">}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "sm_80">, assembly = "PTX80">]
  gpu.binary @mha_kernels_sm90a [#gpu.object<#nvvm.target<chip = "sm_90a">, assembly = "PTX90A">]
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{no gpu.binary 'mha_kernels' for kernel 'h__kernel': serialise the kernels (gpu-module-to-binary) first}}
  func.func private @h() attributes {
    mha.entry_point = #mha.entry_point<name = "h", rowsPerItem = 128, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "h__kernel", block_threads = 128, shared_bytes = 0,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>>}
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{a GPU launch declaration needs 'mha.entry_point' (its C signature)}}
  func.func private @h() attributes {
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "h__kernel", block_threads = 128, shared_bytes = 0,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>>}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "sm_80">, assembly = "PTX">]
}

// -----

// The dictionary that mha.gpu_launch used to be.
module attributes {gpu.container_module} {
  // expected-error @+1 {{'mha.gpu_launch' must be a #mha.gpu_launch}}
  func.func private @h() attributes {
    mha.entry_point = #mha.entry_point<name = "h", rowsPerItem = 128, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = {module = "mha_kernels", kernel = "h__kernel", block_threads = 128 : i32}}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "sm_80">, assembly = "PTX">]
}

// -----

module attributes {gpu.container_module} {
  func.func private @h() attributes {
    mha.entry_point = #mha.entry_point<name = "h", rowsPerItem = 128, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "h__kernel", block_threads = 128, shared_bytes = 0,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>>}
  // expected-error @+1 {{cannot parse chip 'gfx90a'}}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "gfx90a">, assembly = "PTX">]
}

// -----

module attributes {gpu.container_module} {
  func.func private @h() attributes {
    mha.entry_point = #mha.entry_point<name = "h", rowsPerItem = 128, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "h__kernel", block_threads = 128, shared_bytes = 0,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>>}
  // expected-error @+1 {{objects must be PTX (format=isa) or cubins (format=bin)}}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "sm_80">, offload = "LLVM IR">]
}

// -----

// Split-KV: the merge kernel's descriptor, the split kernel's with the
// merge as its `then`, and the portable and sm_90a kernels' with the split
// kernel as their last field (split_keys); the fallback has none.
// CHECK-LABEL: llvm.mlir.global internal constant @d__gpu_merge_kernel()
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_merge_kernel_name
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(4 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels__images
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-LABEL: llvm.mlir.global internal constant @d__gpu_split_kernel()
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_split_kernel_name
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(52224 : i32)
// CHECK-NEXT:   llvm.mlir.constant(16 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(4 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels__images
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_merge_kernel
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-LABEL: llvm.mlir.global internal constant @d__gpu_kernel_fallback()
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_kernel_fallback_name
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(69632 : i32)
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels__images
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-LABEL: llvm.mlir.global internal constant @d__gpu_kernel()
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_kernel_name
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(69632 : i32)
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels__images
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_kernel_fallback
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_split_kernel
// CHECK-LABEL: llvm.mlir.global internal constant @d__gpu_kernel_sm90a()
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_kernel_sm90a_name
// CHECK-NEXT:   llvm.mlir.constant(384 : i32)
// CHECK-NEXT:   llvm.mlir.constant(164896 : i32)
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(3 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.constant(1 : i32)
// CHECK-NEXT:   llvm.mlir.addressof @mha_kernels_sm90a__images
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_kernel_fallback
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_kernel
// CHECK-NEXT:   llvm.mlir.constant(128 : i32)
// CHECK-NEXT:   llvm.mlir.constant(0 : i32)
// CHECK-NEXT:   llvm.mlir.zero
// CHECK-NEXT:   llvm.mlir.addressof @d__gpu_split_kernel
module attributes {gpu.container_module} {
  func.func private @d() attributes {
    mha.entry_point = #mha.entry_point<name = "d", rowsPerItem = 128, gridHeads = 4,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>]>,
    mha.gpu_launch = #mha.gpu_launch<
      kernel = #mha.gpu_kernel<module = "mha_kernels", name = "d__kernel", block_threads = 128, shared_bytes = 69632,
                               rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>,
      fallback_kernel = "d__kernel_unaligned",
      sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a", name = "d__kernel_sm90a", block_threads = 384,
                                     shared_bytes = 164896, rows_per_block = 128, heads_per_block = 1,
                                     requirements = aligned_rows|tensor_maps, tma_box_rows = 128>,
      split_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "d__split_kernel", block_threads = 128,
                                     shared_bytes = 52224, rows_per_block = 16, heads_per_block = 4,
                                     requirements = aligned_rows>,
      merge_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "d__merge_kernel", block_threads = 128,
                                     shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}
  gpu.binary @mha_kernels [#gpu.object<#nvvm.target<chip = "sm_80">, assembly = "PTX80">]
  gpu.binary @mha_kernels_sm90a [#gpu.object<#nvvm.target<chip = "sm_90a">, assembly = "PTX90A">]
}
