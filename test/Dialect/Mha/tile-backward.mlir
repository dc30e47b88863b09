// RUN: mha-opt %s --mha-tile-backward --canonicalize | FileCheck %s
// RUN: mha-opt %s --mha-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: mha-opt %s --mha-tile-backward="cols=100000" -verify-diagnostics -o /dev/null -split-input-file
// RUN: mha-opt %s --mha-tile-backward="bf16-dot=1" --canonicalize | FileCheck %s --check-prefix=PAIRS

// A function marked mha.backward gets the kernel of <name>_backward beside
// its forward: its C parameters (q, k, v, o, lse, dout, dq, dk, dv), the
// run-time head mask, the row statistics (used with the entropy gradient),
// the dropout words (read only with dropout), then
// (phase, b, h, t, alive). Phase 0 items sum dk and dv of one key tile on
// the stack; phase 1 items write dq of one query tile. The launcher is
// mha_rt_launch_backward. Both run on register-blocked FMA micro-kernels
// (4 rows x 4 vectors of 16 lanes, carried by an scf.for over the
// reduction) over f32 scratch: the key item's dk [C, Dp] and dv [C, Dvp]
// (Dv = 8 padded to 16), K and V transposed ([D, C], [Dv, C]), the widened
// Q and dout rows, P and dS [R, C]; the query item's Q and dout transposed
// ([D, R], [Dv, R]), the widened K and V rows, S^T and dS^T [C, R], dq.

// CHECK-LABEL: func.func @gqa_backward__kernel(
// CHECK-SAME: memref<?xi8>, %{{.*}}: memref<?x?x?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK-SAME: mha.backward_grid = array<i64: 2, 64, 1, 0, 0>
// CHECK-SAME: mha.call_words
// CHECK-SAME: #mha.entry_point<name = "gqa_backward", rowsPerItem = 64, gridHeads = 4,
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<saved_output>, #mha.role<saved_lse>, #mha.role<grad_output>, #mha.role<grad_query>, #mha.role<grad_key>, #mha.role<grad_value>]
// CHECK: scf.if
// CHECK-NEXT: %[[DK:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK-NEXT: %[[DV:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK-NEXT: %[[KT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<8x64xf32>
// CHECK-NEXT: %[[QP:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// K packed transposed: 16x16 blocks transposed by shuffles.
// CHECK-NOT: vector.transpose
// CHECK: vector.shuffle
// S = Q Kt: 4 rows x 4 key vectors of accumulators over d.
// CHECK: scf.for %[[D:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK: vector.load %[[KT]][%[[D]], %{{.*}}] : memref<16x64xf32>, vector<16xf32>
// CHECK: memref.load %[[QP]][%{{.*}}, %[[D]]] : memref<64x16xf32>
// CHECK: vector.broadcast
// CHECK: vector.fma
// The probabilities: exp2 of one FMA per 16 keys (no softcap or ALiBi).
// CHECK: math.exp2 %{{.*}} : vector<16xf32>
// dk += dS^T Q accumulated from and into the stack tile.
// CHECK: vector.load %[[DK]]
// CHECK: scf.for
// CHECK: vector.fma
// CHECK: vector.store %{{.*}}, %[[DK]]
// The query item: Q transposed [D, R], dout [Dv, R], K and V rows, S^T,
// dS^T, dq.
// CHECK: } else {
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<16x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<8x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK: return
// CHECK: func.func @gqa(
// CHECK: mha.attention

// LLVM: llvm.func @gqa_backward(
// LLVM: llvm.call @mha_rt_launch_backward(
// LLVM: llvm.func @gqa(
// LLVM: llvm.call @mha_rt_launch(
func.func @gqa(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{backward tiles of 64 rows and 100000 keys need 80008192 bytes of scratch per work item, more than the 1048576 allowed: use fewer rows or cols}}
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}

// -----

// Packed sequences (cu_seqlens_q, cu_seqlens_k): the offsets follow v in
// the C parameters (the forward's arguments first), and each item views
// its sequence's rows and keys of every tensor at batch 0: q, o, lse and
// dout and dq at cu_seqlens_q[b], k, v, dk and dv at cu_seqlens_k[b].

// CHECK-LABEL: func.func @packed_backward__kernel(
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<cu_seqlens_q>, #mha.role<cu_seqlens_k>, #mha.role<saved_output>, #mha.role<saved_lse>, #mha.role<grad_output>, #mha.role<grad_query>, #mha.role<grad_key>, #mha.role<grad_value>]
// CHECK-COUNT-9: memref.subview
// CHECK: func.func @packed(
func.func @packed(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x8xf32>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>)
    -> (tensor<1x4x?x8xf32>, tensor<1x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{backward tiles of 64 rows and 100000 keys}}
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {causal, return_lse}
       : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x8xf32>
       -> tensor<1x4x?x8xf32>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x8xf32>, tensor<1x4x?xf32>
}

// -----

// bf16 with AVX512-BF16 (bf16-dot): the key items' five products are
// vdpbf16ps on bf16 pairs, and with D, Dv multiples of 16 and 4 KV heads
// they own whole KV heads and sum dq in the runtime's f32 temporary
// (memref<?x?x?x?xf32>, D = 32 columns: the last grid word). Scratch: f32
// dk, dv; K and V as pairs of head dims [D/2, 2C] and [Dv/2, 2C]; Q and
// dout two rows interleaved [R/2, 2D], [R/2, 2Dv]; P Z and dS as pairs of
// rows [R/2, 2C]; dS by rows [R, C]; K two keys interleaved [C/2, 2D]; S
// and dP [R, C] in f32.

// PAIRS-LABEL: func.func @pairs_backward__kernel(
// PAIRS-SAME: memref<?x?x?xf32>, %{{.*}}: memref<?x?x?x?xf32>, %{{.*}}: memref<?xi32>
// PAIRS-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 32>
// PAIRS: memref.alloca() {alignment = 64 : i64} : memref<64x32xf32>
// PAIRS-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x48xf32>
// PAIRS-NEXT: %[[KP:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x128xbf16>
// PAIRS-NEXT: memref.alloca() {alignment = 64 : i64} : memref<24x128xbf16>
// PAIRS-NEXT: %[[QP:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x64xbf16>
// PAIRS-NEXT: memref.alloca() {alignment = 64 : i64} : memref<32x96xbf16>
// PAIRS-NEXT: %[[PP:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x128xbf16>
// PAIRS-NEXT: %[[DSP:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x128xbf16>
// PAIRS-NEXT: %[[DSR:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x64xbf16>
// PAIRS-NEXT: %[[KROWS:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x64xbf16>
// The group's dq sums start at zero.
// PAIRS: vector.store %{{.*}} : memref<?x?x?x?xf32>, vector<16xf32>
// K packed as pairs of head dims, then two keys interleaved for dq.
// PAIRS: vector.store %{{.*}}, %[[KP]][%{{.*}}] : memref<16x128xbf16>, vector<32xbf16>
// PAIRS: vector.interleave %{{.*}} : vector<16xbf16> -> vector<32xbf16>
// PAIRS: vector.store %{{.*}}, %[[KROWS]][%{{.*}}] : memref<32x64xbf16>, vector<32xbf16>
// Q rows interleaved, then S = Q Kt over the 16 pairs of d.
// PAIRS: vector.store %{{.*}}, %[[QP]][%{{.*}}] : memref<32x64xbf16>, vector<32xbf16>
// PAIRS: scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args(
// PAIRS: x86vector.avx512.dot %{{.*}} : vector<32xbf16> -> vector<16xf32>
// P Z and dS rounded (vcvtneps2bf16) and two rows interleaved.
// PAIRS: x86vector.avx512.cvt.packed.f32_to_bf16 %{{.*}} : vector<16xf32> -> vector<16xbf16>
// PAIRS: vector.interleave
// PAIRS: vector.store %{{.*}}, %[[PP]][%{{.*}}] : memref<32x128xbf16>, vector<32xbf16>
// PAIRS: vector.store %{{.*}}, %[[DSP]][%{{.*}}] : memref<32x128xbf16>, vector<32xbf16>
// PAIRS: vector.store %{{.*}}, %[[DSR]][%{{.*}}] : memref<64x64xbf16>, vector<16xbf16>
// dv += P^T dO, dk += dS^T Q over pairs of rows; dq += dS K over pairs of
// keys, into the sums.
// PAIRS: vector.load %[[PP]]{{.*}} vector<2xbf16>
// PAIRS: x86vector.avx512.dot
// PAIRS: vector.load %[[DSP]]{{.*}} vector<2xbf16>
// PAIRS: x86vector.avx512.dot
// PAIRS: vector.load %[[KROWS]]
// PAIRS: x86vector.avx512.dot
// PAIRS: vector.store %{{.*}} : memref<?x?x?x?xf32>, vector<16xf32>
// At the end the sums are narrowed into dq.
// PAIRS: vector.load %{{.*}} : memref<?x?x?x?xf32>, vector<16xf32>
// PAIRS-NEXT: arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
func.func @pairs(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x4x?x32xbf16>,
                 %v: tensor<?x4x?x48xbf16>)
    -> (tensor<?x4x?x48xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{backward tiles of 64 rows and 100000 keys}}
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x32xbf16>, tensor<?x4x?x32xbf16>, tensor<?x4x?x48xbf16>
       -> tensor<?x4x?x48xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x48xbf16>, tensor<?x4x?xf32>
}

// -----

// MQA bf16 (one KV head: split items) with bf16-dot: the query items'
// products are vdpbf16ps too. Scratch: Qt and dOt as pairs of head dims
// [D/2, 2R], K two keys interleaved [C/2, 2D], dS^T two keys interleaved
// [C/2, 2R], then S^T and dS^T [C, R] and dq [R, D] in f32. S^T = K Qt
// reads each key's pairs of head dims in place; dq sums over pairs of
// keys.

// PAIRS-LABEL: func.func @pairs_split_backward__kernel(
// PAIRS-SAME: mha.backward_grid = array<i64: 1, 64, 1, 0, 0>
// PAIRS: } else {
// PAIRS: %[[QT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x128xbf16>
// PAIRS-NEXT: memref.alloca() {alignment = 64 : i64} : memref<16x128xbf16>
// PAIRS-NEXT: %[[KQ:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x64xbf16>
// PAIRS-NEXT: %[[DSTP:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x128xbf16>
// PAIRS-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// PAIRS-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// PAIRS-NEXT: %[[DQ:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x32xf32>
// PAIRS: vector.store %{{.*}}, %[[QT]][%{{.*}}] : memref<16x128xbf16>, vector<32xbf16>
// PAIRS: vector.load %arg1[{{.*}}] : memref<?x1x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<2xbf16>
// PAIRS: x86vector.avx512.dot
// PAIRS: vector.store %{{.*}}, %[[KQ]][%{{.*}}] : memref<32x64xbf16>, vector<32xbf16>
// PAIRS: x86vector.avx512.cvt.packed.f32_to_bf16
// PAIRS: vector.interleave
// PAIRS: vector.store %{{.*}}, %[[DSTP]][%{{.*}}] : memref<32x128xbf16>, vector<32xbf16>
// PAIRS: vector.load %[[KQ]]
// PAIRS: vector.load %[[DSTP]]{{.*}} vector<2xbf16>
// PAIRS: x86vector.avx512.dot
// PAIRS: vector.store %{{.*}}, %[[DQ]]
func.func @pairs_split(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x1x?x32xbf16>,
                       %v: tensor<?x1x?x32xbf16>)
    -> (tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  // expected-error @+1 {{backward tiles of 64 rows and 100000 keys}}
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x32xbf16>, tensor<?x1x?x32xbf16>, tensor<?x1x?x32xbf16>
       -> tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>
}
