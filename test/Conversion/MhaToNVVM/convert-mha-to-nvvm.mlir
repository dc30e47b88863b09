// RUN: mha-opt %s --convert-mha-to-nvvm -split-input-file -verify-diagnostics | FileCheck %s

// A bf16 GQA spec with LSE: one gpu.module with one kernel of 4 warps of two
// 16-row tiles each (32-key tiles at D = 128); the 4 query heads of a KV
// group share a block (GQA packing: 32 rows of each); the tensors' memref
// descriptors then the runtime head mask are the parameters; the function
// becomes a declaration that says how to launch it.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK: func.func private @gqa() attributes {mha.entry_point = #mha.entry_point<name = "gqa", rowsPerItem = 32, gridHeads = 8, roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>, #mha.role<lse>]
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "gqa__kernel", block_threads = 128, shared_bytes = 69632, rows_per_block = 32, heads_per_block = 4, requirements = aligned_rows>, fallback_kernel = "gqa__kernel_unaligned", split_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "gqa__split_kernel", block_threads = 128, shared_bytes = 52224, rows_per_block = 16, heads_per_block = 4, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "gqa__merge_kernel", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}
// CHECK: gpu.module @mha_kernels
// CHECK: gpu.func @gqa__kernel(%{{.*}}: memref<?x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %{{.*}}: memref<?x2x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %{{.*}}: memref<?x2x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %{{.*}}: memref<?x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %{{.*}}: memref<?x8x?xf32, strided<[?, ?, 1], offset: ?>>, %{{.*}}: memref<?xi8>) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: gpu.dynamic_shared_memory
// Q, K and V rows arrive by 16-byte cp.async that bypasses L1, zero-filled
// past the end.
// CHECK: nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1}
// The key loop runs over the tiles the block can see; with two row tiles
// per warp, Q fragments are read from shared memory in it.
// CHECK: scf.for
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// Row maxima and sums over the 4 threads of a quad.
// CHECK: gpu.shuffle xor
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// P.V reads V transposed.
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: nvgpu.device_async_wait
// CHECK: gpu.barrier
// The epilogue normalises rows whose sum is not zero; a NaN sum counts, so
// a NaN that reached a visible score or value shows in o and lse.
// CHECK: arith.cmpf une
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// The fallback for rows that are not 16-byte aligned: element-wise loads
// staged through registers, no cp.async.
// CHECK: gpu.func @gqa__kernel_unaligned(
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: vector.load {{.*}} {alignment = 2 : i64} : memref<?x128xbf16, strided<[?, 1], offset: ?>>, vector<8xbf16>
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// Split-KV: block x is (query tile, part), the parts from the partial
// lse's first dimension; each part writes f32 partial rows and their lse.
// CHECK: gpu.func @gqa__split_kernel({{.*}}, %{{.*}}: memref<?xi8>, %[[PO:.*]]: memref<?x?x?x?x?xf32>, %[[PL:.*]]: memref<?x?x?x?xf32>)
// CHECK: %[[PARTS:.*]] = memref.dim %[[PL]], %c0
// CHECK: %[[PART:.*]] = arith.remui %block_id_x, %[[PARTS]]
// CHECK: arith.divui %block_id_x, %[[PARTS]]
// CHECK: nvvm.mma.sync
// CHECK: vector.store %{{.*}}, %[[PO]][%[[PART]], %block_id_z, {{.*}}] : memref<?x?x?x?x?xf32>, vector<2xf32>
// CHECK: memref.store %{{.*}}, %[[PL]][%[[PART]], %block_id_z, {{.*}}] : memref<?x?x?x?xf32>
// The merge: one warp per row, the largest lse, then the weighted sums.
// CHECK: gpu.func @gqa__merge_kernel({{.*}}, %[[MO:.*]]: memref<?x8x?x128xbf16, {{.*}}>, %[[MLSE:.*]]: memref<?x8x?xf32, {{.*}}>, %{{.*}}: memref<?xi8>, %[[PO2:.*]]: memref<?x?x?x?x?xf32>, %[[PL2:.*]]: memref<?x?x?x?xf32>)
// CHECK: scf.for
// CHECK: memref.load %[[PL2]]
// CHECK: llvm.call_intrinsic "llvm.maxnum.f32"
// CHECK: arith.cmpf uno
// CHECK: scf.for
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK-COUNT-4: memref.load %[[PO2]]
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %{{.*}}, %[[MO]]
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %[[MLSE]]
func.func @gqa(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>) -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
      : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}

// -----

// Multi-scale windows, ALiBi and softcap: per-head tables in the gpu.module,
// tanh through the afn intrinsic (tanh.approx.f32), f16 MMAs, key tiles of
// 16 for D = 256 with ALiBi and softcap (what fits the registers).
// Windows differ inside a KV group: no packing.
// CHECK-LABEL: func.func private @local_global()
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "local_global__kernel", block_threads = 128, shared_bytes = 67584, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows>, fallback_kernel = "local_global__kernel_unaligned", split_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "local_global__split_kernel", block_threads = 128, shared_bytes = 67584, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "local_global__merge_kernel", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}
// CHECK: gpu.module @mha_kernels
// CHECK-DAG: memref.global "private" constant @local_global__window_left : memref<4xindex> = dense<[-1, 16, 64, -1]>
// CHECK-DAG: memref.global "private" constant @local_global__alibi_slopes : memref<4xf32>
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: llvm.call_intrinsic "llvm.tanh.f32"({{.*}}) {fastmathFlags = #llvm.fastmath<afn>}
func.func @local_global(%q: tensor<2x4x?x256xf16>, %k: tensor<2x4x?x256xf16>, %v: tensor<2x4x?x256xf16>) -> tensor<2x4x?x256xf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: -1, 16, 64, -1>, sink_tokens = 4, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>, softcap = 30.0 : f32}
      : tensor<2x4x?x256xf16>, tensor<2x4x?x256xf16>, tensor<2x4x?x256xf16> -> tensor<2x4x?x256xf16>
  return %o : tensor<2x4x?x256xf16>
}

// -----

// f32 specs run on bf16 tensor cores: rows are loaded as f32 (16-byte
// aligned vectors), rounded and stored to shared memory, not copied with
// cp.async; the output stays f32.
// CHECK-LABEL: gpu.func @f32__kernel
// CHECK: vector.load {{.*}} {alignment = 16 : i64} : memref<?x64xf32, strided<[?, 1], offset: ?>>, vector<8xf32>
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<1x128x72xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: vector.store {{.*}} : memref<1x2x8x64xf32, strided<[?, ?, ?, 1], offset: ?>>, vector<2xf32>
func.func @f32(%q: tensor<1x2x8x64xf32>, %k: tensor<1x2x8x64xf32>, %v: tensor<1x2x8x64xf32>) -> tensor<1x2x8x64xf32> {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x64xf32>, tensor<1x2x8x64xf32>, tensor<1x2x8x64xf32> -> tensor<1x2x8x64xf32>
  return %o : tensor<1x2x8x64xf32>
}

// -----

func.func @odd_dim(%q: tensor<1x2x8x72xbf16>, %k: tensor<1x2x8x72xbf16>, %v: tensor<1x2x8x72xbf16>) -> tensor<1x2x8x72xbf16> {
  // expected-error @+1 {{head dim D = 72 is not supported by the GPU kernels: it must be a multiple of 16 and at most 256}}
  %o = mha.attention %q, %k, %v : tensor<1x2x8x72xbf16>, tensor<1x2x8x72xbf16>, tensor<1x2x8x72xbf16> -> tensor<1x2x8x72xbf16>
  return %o : tensor<1x2x8x72xbf16>
}

// -----

func.func @big_dim(%q: tensor<1x2x8x64xbf16>, %k: tensor<1x2x8x64xbf16>, %v: tensor<1x2x8x512xbf16>) -> tensor<1x2x8x512xbf16> {
  // expected-error @+1 {{head dim Dv = 512 is not supported by the GPU kernels}}
  %o = mha.attention %q, %k, %v : tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16>, tensor<1x2x8x512xbf16> -> tensor<1x2x8x512xbf16>
  return %o : tensor<1x2x8x512xbf16>
}

// -----

func.func @probs(%q: tensor<1x2x8x64xbf16>, %k: tensor<1x2x8x64xbf16>, %v: tensor<1x2x8x64xbf16>) -> (tensor<1x2x8x64xbf16>, tensor<1x2x8x8xf32>) {
  // expected-error @+1 {{return_probs and return_entropy are computed by the CPU back end only (they are analysis outputs): compile this function with --target=cpu}}
  %o, %p = mha.attention %q, %k, %v {return_probs} : tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16> -> tensor<1x2x8x64xbf16>, tensor<1x2x8x8xf32>
  return %o, %p : tensor<1x2x8x64xbf16>, tensor<1x2x8x8xf32>
}

// -----

// expected-error @+1 {{only public function definitions are exported; 'hidden' is private}}
func.func private @hidden(%q: tensor<1x2x8x64xbf16>, %k: tensor<1x2x8x64xbf16>, %v: tensor<1x2x8x64xbf16>) -> tensor<1x2x8x64xbf16> {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16> -> tensor<1x2x8x64xbf16>
  return %o : tensor<1x2x8x64xbf16>
}

// -----

// With sm90a: a second module holds a warpgroup-MMA kernel (2 consumer
// warpgroups of 64 rows, 128-key tiles at D = 128, and a producer
// warpgroup: 384 threads) reading unpadded, 128-byte-swizzled tiles of a
// 1024-byte-aligned buffer. K and V arrive by TMA (tensor maps: one more
// i64 parameter) through two stages of "full" and "empty" mbarriers. The
// launch attribute names it beside the portable kernels.
// RUN: mha-opt %s --convert-mha-to-nvvm="sm90a" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=SM90A
// SM90A-LABEL: func.func private @mha_sm90a()
// SM90A-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "mha_sm90a__kernel", block_threads = 128,
// SM90A-SAME: sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a", name = "mha_sm90a__kernel_sm90a", block_threads = 384, shared_bytes = 164896, rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows|tensor_maps, tma_box_rows = 128>, split_kernel = #mha.gpu_kernel<module = "mha_kernels", name = "mha_sm90a__split_kernel"
// SM90A: gpu.module @mha_kernels
// SM90A: gpu.func @mha_sm90a__kernel(
// SM90A-NOT: wgmma
// SM90A: gpu.module @mha_kernels_sm90a
// SM90A: gpu.func @mha_sm90a__kernel_sm90a({{.*}}, %{{.*}}: memref<?xi8>, %[[MAPS:.*]]: i64) kernel attributes {known_block_size = array<i32: 384, 1, 1>}
// SM90A: memref.extract_aligned_pointer_as_index
// SM90A: arith.andi %{{.*}}, %c1023
// SM90A: memref.view {{.*}} to memref<81920xbf16, #gpu.address_space<workgroup>>
// Thread 0 sets up full[s] (one arrival plus the TMA bytes) and empty[s]
// (the 256 consumer threads).
// SM90A: mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c1_i32
// SM90A: mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c256_i32
// SM90A: fence.mbarrier_init.release.cluster;
// Q by cp.async (consumers only), made visible to the async proxy.
// SM90A: nvgpu.device_async_copy
// SM90A: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// SM90A: gpu.barrier
// Consumers: more registers, wait for the tile, S = Q.K^T, softmax,
// O += P.V, release the stage.
// SM90A: setmaxnreg.inc.sync.aligned.u32 240;
// SM90A: scf.for
// SM90A: mbarrier.try_wait.parity.shared::cta.b64
// SM90A: llvm.inline_asm has_side_effects {{.*}}wgmma.fence.sync.aligned;{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}wgmma.commit_group.sync.aligned;{{.*}}wgmma.wait_group.sync.aligned 0;
// SM90A: nvvm.ex2
// SM90A: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, {$
// SM90A: mbarrier.arrive.shared::cta.b64 state, [$0];
// SM90A: } else {
// Producer: fewer registers; one thread waits for the stage to be free
// (from the third tile on), expects 64 KiB and issues two K and two V box
// loads (64 columns each) at (column, first key, KV head, batch).
// SM90A: setmaxnreg.dec.sync.aligned.u32 24;
// SM90A: scf.for
// SM90A: mbarrier.try_wait.parity.shared::cta.b64
// SM90A: mbarrier.arrive.expect_tx.shared::cta.b64 state, [$0], $1;{{.*}} %c65536_i32
// SM90A: %[[VMAP:.*]] = arith.addi %[[MAPS]], %c128_i64
// SM90A: %[[KPTR:.*]] = llvm.inttoptr %[[MAPS]]
// SM90A: cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [$0], [$1, {$2, $3, $4, $5}], [$6];", "r,l,r,r,r,r,r" %{{.*}}, %[[KPTR]], %c0_i32
// SM90A: cp.async.bulk.tensor.4d
// SM90A: %[[VPTR:.*]] = llvm.inttoptr %[[VMAP]]
// SM90A: cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [$0], [$1, {$2, $3, $4, $5}], [$6];", "r,l,r,r,r,r,r" %{{.*}}, %[[VPTR]], %c0_i32
func.func @mha_sm90a(%q: tensor<?x4x?x128xbf16>, %k: tensor<?x4x?x128xbf16>, %v: tensor<?x4x?x128xbf16>) -> tensor<?x4x?x128xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x4x?x128xbf16>, tensor<?x4x?x128xbf16>, tensor<?x4x?x128xbf16> -> tensor<?x4x?x128xbf16>
  return %o : tensor<?x4x?x128xbf16>
}

// -----

// Valid key lengths and real query rows (kv_lens, q_lens, docs/language.md
// 4.6): the kernel takes them after v, as the C function does, and each
// block reads its batch element's lengths, clamped to [0, Lk] and [0, Lq]
// so that nothing past the tensors is read whatever they hold; the key
// tiles and the causal diagonal (bottom-right: keys - rows) follow from
// them, a block of padding rows visits no key tile, and every row of the
// tensor is stored (padding rows as o = 0, lse = -inf).
// CHECK-LABEL: func.func private @decode()
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<kv_lens>, #mha.role<q_lens>, #mha.role<output>, #mha.role<lse>]
// CHECK: gpu.func @decode__kernel(%{{.*}}: memref<?x8x?x64xf16, {{.*}}>, %{{.*}}: memref<?x2x?x64xf16, {{.*}}>, %{{.*}}: memref<?x2x?x64xf16, {{.*}}>, %[[KL:.*]]: memref<?xi32, strided<[1], offset: ?>>, %[[QL:.*]]: memref<?xi32, strided<[1], offset: ?>>, %{{.*}}: memref<?x8x?x64xf16, {{.*}}>, %{{.*}}: memref<?x8x?xf32, {{.*}}>, %{{.*}}: memref<?xi8>)
// CHECK: %[[B:.*]] = gpu.block_id  z
// CHECK: %[[LQ:.*]] = memref.dim %{{.*}}, %c2
// CHECK: %[[NQ:.*]] = memref.load %[[QL]][%[[B]]]
// CHECK: %[[IQ:.*]] = arith.index_cast %[[NQ]] : i32 to index
// CHECK: %[[LOQ:.*]] = arith.maxsi %[[IQ]], %c0
// CHECK: %[[ROWS:.*]] = arith.minsi %[[LOQ]], %[[LQ]]
// CHECK: %[[LK:.*]] = memref.dim %{{.*}}, %c2
// CHECK: %[[N:.*]] = memref.load %[[KL]][%[[B]]]
// CHECK: %[[I:.*]] = arith.index_cast %[[N]] : i32 to index
// CHECK: %[[LO:.*]] = arith.maxsi %[[I]], %c0
// CHECK: %[[KEYS:.*]] = arith.minsi %[[LO]], %[[LK]]
// CHECK: arith.subi %[[KEYS]], %[[ROWS]]
// CHECK: arith.cmpi sgt, %{{.*}}, %c0
// CHECK: arith.cmpi slt, %{{.*}}, %[[ROWS]]
// CHECK: arith.cmpi slt, %{{.*}}, %[[LQ]]
// CHECK: gpu.func @decode__kernel_unaligned(
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?xi32, strided<[1], offset: ?>>
func.func @decode(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>, %kl: tensor<?xi32>,
                  %ql: tensor<?xi32>) -> (tensor<?x8x?x64xf16>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) q_lens(%ql : tensor<?xi32>) {causal, return_lse}
     : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xf16>, tensor<?x8x?xf32>
}

// -----

// Packed sequences (cu_seqlens_q, cu_seqlens_k, docs/language.md 4.6): q,
// o and lse are [1, H, total, D]; block x walks the query tiles of every
// sequence in turn (a scan of the offsets, each clamped to the tensor),
// then the rows past the last sequence; the sequence's keys start at
// cu_seqlens_k[s]; rows are stored at the sequence's offset in batch 0.
// CHECK-LABEL: func.func private @varlen()
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<cu_seqlens_q>, #mha.role<cu_seqlens_k>, #mha.role<output>, #mha.role<lse>]
// CHECK: gpu.func @varlen__kernel(%arg0: memref<1x8x?x64xbf16, {{.*}}%arg3: memref<?xi32, {{.*}}%arg4: memref<?xi32, {{.*}}%arg5: memref<1x8x?x64xbf16
// CHECK: %[[TOTAL:.*]] = memref.dim %arg0, %c2
// CHECK: %[[ENTRIES:.*]] = memref.dim %arg3, %c0
// CHECK: scf.for {{.*}} -> (index, index, index, index, index, i1)
// CHECK: memref.load %arg3[
// CHECK: arith.minsi %{{.*}}, %[[TOTAL]]
// CHECK: memref.load %arg4[
// CHECK: nvgpu.device_async_copy
// CHECK: vector.store %{{.*}}, %arg5[%c0{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<1x8x?x64xbf16
func.func @varlen(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> (tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {causal, return_lse}
       : tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
}

// -----

// A paged cache (block_table, docs/language.md 4.6): k and v are page pools
// [pages, Hkv, page_size, D]; a sequence holds table columns x page_size
// keys; each copied key reads its page from the table once for K and V,
// clamped to the pool's pages, and its slot (a shift and a mask for the
// static page size); no TMA kernel (a tile spans several pages).
// CHECK-LABEL: func.func private @paged()
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<kv_lens>, #mha.role<block_table>, #mha.role<output>]
// CHECK: gpu.func @paged__kernel(%{{.*}}: memref<?x4x?x64xf16, {{.*}}>, %[[K:.*]]: memref<?x2x16x64xf16, {{.*}}>, %{{.*}}: memref<?x2x16x64xf16, {{.*}}>, %{{.*}}: memref<?xi32, {{.*}}>, %[[T:.*]]: memref<?x?xi32, strided<[?, 1], offset: ?>>, %{{.*}}: memref<?x4x?x64xf16, {{.*}}>, %{{.*}}: memref<?xi8>)
// CHECK: %[[PSIZE:.*]] = memref.dim %[[K]], %c2
// CHECK: %[[COLS:.*]] = memref.dim %[[T]], %c1
// CHECK: arith.muli %[[COLS]], %[[PSIZE]]
// CHECK: %[[PAGES:.*]] = memref.dim %[[K]], %c0
// CHECK: %[[LAST:.*]] = arith.subi %[[PAGES]], %c1
// CHECK: %[[TOP:.*]] = arith.maxsi %[[LAST]], %c0
// CHECK: %[[E:.*]] = memref.load %[[T]][%{{.*}}, %{{.*}}]
// CHECK: %[[P:.*]] = arith.index_cast %[[E]] : i32 to index
// CHECK: %[[P0:.*]] = arith.maxsi %[[P]], %c0
// CHECK: %[[PAGE:.*]] = arith.minsi %[[P0]], %[[TOP]]
// CHECK: %[[SLOT:.*]] = arith.remui %{{.*}}, %c16
// CHECK: nvgpu.device_async_copy %[[K]][%[[PAGE]], %{{.*}}, %[[SLOT]], %{{.*}}]
// CHECK-NOT: memref.load %[[T]]
// CHECK: nvgpu.device_async_copy %[[V:.*]][%[[PAGE]], %{{.*}}, %[[SLOT]], %{{.*}}]
// CHECK: gpu.func @paged__kernel_unaligned(
// SM90A-LABEL: func.func private @paged()
// SM90A-SAME: sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a", name = "paged__kernel_sm90a", {{.*}}, requirements = aligned_rows>
// SM90A: gpu.func @paged__kernel_sm90a(
// SM90A-NOT: cp.async.bulk.tensor
// SM90A: nvgpu.device_async_copy
// SM90A-NOT: cp.async.bulk.tensor
func.func @paged(%q: tensor<?x4x?x64xf16>, %k: tensor<?x2x16x64xf16>, %v: tensor<?x2x16x64xf16>, %kl: tensor<?xi32>,
                 %bt: tensor<?x?xi32>) -> tensor<?x4x?x64xf16> {
  %o = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) block_table(%bt : tensor<?x?xi32>) {causal}
     : tensor<?x4x?x64xf16>, tensor<?x2x16x64xf16>, tensor<?x2x16x64xf16> -> tensor<?x4x?x64xf16>
  return %o : tensor<?x4x?x64xf16>
}

// -----

// Head dims that are not multiples of 64 keep the portable kernels only.
// SM90A-LABEL: func.func private @d96
// SM90A-NOT: sm90a_kernel
// SM90A-NOT: mha_kernels_sm90a
func.func @d96(%q: tensor<?x4x?x96xf16>, %k: tensor<?x4x?x96xf16>, %v: tensor<?x4x?x96xf16>) -> tensor<?x4x?x96xf16> {
  %o = mha.attention %q, %k, %v : tensor<?x4x?x96xf16>, tensor<?x4x?x96xf16>, tensor<?x4x?x96xf16> -> tensor<?x4x?x96xf16>
  return %o : tensor<?x4x?x96xf16>
}

