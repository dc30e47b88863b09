// RUN: mha-opt %s -split-input-file -mha-tile | FileCheck %s

// mha-tile on functions with serving operands (docs/language.md 4.6): the
// kernel takes the i32 tensors after q, k, v with their roles, reads the
// item's lengths and offsets from them, and a paged item views a key tile
// in its page when one page holds it, else gathers its rows.

// CHECK-LABEL: func.func @paged__kernel
// CHECK-SAME: %[[K:[a-z0-9]+]]: memref<?x2x?x16xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-SAME: %[[LENS:[a-z0-9]+]]: memref<?xi32, strided<[1], offset: ?>>
// CHECK-SAME: %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, strided<[?, 1], offset: ?>>
// CHECK-SAME: %[[B:[a-z0-9]+]]: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<kv_lens>, #mha.role<block_table>, #mha.role<output>, #mha.role<lse>]
// The sequence's key count.
// CHECK: memref.load %[[LENS]][%[[B]]]
// Keys [j0, j0 + n): in one page, a view of it; else gathered row by row.
// CHECK: scf.if %{{.*}} -> (memref<?x16xf32, strided<[?, 1], offset: ?>>)
// CHECK: memref.load %[[TABLE]][%[[B]], %{{.*}}]
// CHECK: memref.subview %[[K]]
// CHECK: } else {
// CHECK: scf.for
// CHECK: memref.load %[[TABLE]][%[[B]], %{{.*}}]
// CHECK: vector.load %[[K]]
// A decoding group item also prefetches, row by row, the row n keys
// further (the next tile's, through its own table entry; clamped to the
// last key), one prefetch per 64-byte line.
// CHECK: %[[NEXT:.+]] = arith.minsi
// CHECK: %[[ENTRY:.+]] = arith.divui %[[NEXT]]
// CHECK: %[[NEXT_ENTRY:.+]] = memref.load %[[TABLE]][%[[B]], %{{.*}}]
// CHECK: memref.prefetch %[[K]][%{{.*}}, %{{.*}}, %{{.*}}, %c0{{.*}}], read, locality<3>, data
// CHECK: vector.store %{{.*}}, %{{.*}} : memref<128x16xf32>, vector<16xf32>
// CHECK: memref.cast
// CHECK: mha.online_softmax_step
func.func @paged(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                 %kl: tensor<?xi32>, %bt: tensor<?x?xi32>) -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) block_table(%bt : tensor<?x?xi32>) {causal, return_lse}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// -----

// Packed sequences: item b reads its rows from cu_seqlens_q[b] on (item S,
// past the last sequence, has no keys) and its keys from cu_seqlens_k[b].
// CHECK-LABEL: func.func @varlen__kernel
// CHECK-SAME: %[[CQ:[a-z0-9]+]]: memref<?xi32, strided<[1], offset: ?>>, %[[CK:[a-z0-9]+]]: memref<?xi32, strided<[1], offset: ?>>
// CHECK-SAME: %[[B:[a-z0-9]+]]: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK: %[[N:.*]] = memref.dim %[[CQ]], %c0
// CHECK: %[[S:.*]] = arith.subi %[[N]], %c1
// CHECK: %[[IS_SEQ:.*]] = arith.cmpi slt, %[[B]], %[[S]]
// CHECK: %[[AT:.*]] = arith.minsi %[[B]], %[[S]]
// CHECK: memref.load %[[CQ]][%[[AT]]]
// CHECK: scf.if %[[IS_SEQ]] -> (index)
// CHECK: scf.if %[[IS_SEQ]] -> (index)
// CHECK: memref.load %[[CK]][%[[B]]]
// CHECK: mha.online_softmax_step
func.func @varlen(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> tensor<1x4x?x16xf32> {
  %o = mha.attention %q, %k, %v cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {causal}
     : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x4x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// Padded query rows (q_lens): the rows past the sequence's length get o = 0
// and lse = -inf after the real rows are finalised.
// CHECK-LABEL: func.func @padded__kernel
// CHECK: mha.online_softmax_finalize
// CHECK: scf.for
// CHECK: vector.store %{{.*}} : memref<?x4x?x16xf32, strided<[?, ?, ?, 1], offset: ?>>, vector<16xf32>
// CHECK: memref.store %cst{{.*}} : memref<?x4x?xf32, strided<[?, ?, 1], offset: ?>>
func.func @padded(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                  %kl: tensor<?xi32>, %ql: tensor<?xi32>) -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) q_lens(%ql : tensor<?xi32>) {return_lse}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// -----

// Decoding with grouped-query heads that share their parameters: when all
// rows of a group fit a group item and no runtime head mask is given, the
// item of the group's first head computes the group's rows as one tile
// (rows_per_head: each head's rows at the same positions) and finalises
// each head's rows into that head's results; otherwise every item computes
// its own head. An f32 cache is not prefetched (its few-row steps stream
// K and V in order; see @group_bf16).
// CHECK-LABEL: func.func @group__kernel
// CHECK: %[[MASKED:.*]] = memref.load %{{.*}}[%c8] : memref<?xi32>
// CHECK: scf.if
// CHECK: arith.remui %{{.*}}, %c4
// CHECK: scf.for
// CHECK-NOT: memref.prefetch
// CHECK: mha.online_softmax_step {{.*}} rows_per_head(%{{.*}})
// CHECK: scf.for
// CHECK: mha.online_softmax_finalize
// CHECK: } else {
// CHECK-NOT: rows_per_head
// CHECK: mha.online_softmax_finalize
func.func @group(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                 %kl: tensor<?xi32>) -> (tensor<?x8x?x16xf32>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {causal, return_lse}
     : tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x8x?x16xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x16xf32>, tensor<?x8x?xf32>
}

// -----

// A bf16 cache: a group item's key loop prefetches the keys and values of
// the tile after next (one prefetch per 64-byte line: 32 bf16 columns).
// CHECK-LABEL: func.func @group_bf16__kernel
// CHECK: scf.for
// CHECK: memref.prefetch %{{.*}}[%{{.*}}, %c0{{.*}}], read, locality<3>, data : memref<?x64xbf16
// CHECK: memref.prefetch %{{.*}}[%{{.*}}, %c32{{.*}}], read, locality<3>, data : memref<?x64xbf16
// CHECK: memref.prefetch %{{.*}}[%{{.*}}, %c0{{.*}}], read, locality<3>, data : memref<?x64xbf16
// CHECK: mha.online_softmax_step {{.*}} rows_per_head(%{{.*}})
func.func @group_bf16(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>,
                      %kl: tensor<?xi32>) -> tensor<?x8x?x64xbf16> {
  %o = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {causal}
     : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %o : tensor<?x8x?x64xbf16>
}

// -----

// Latent-width heads (D + Dv = 544 >= 512: MLA decoding in latent space,
// compute-bound): when the call has fewer groups (sequences x KV heads)
// than threads (call word 9), the 16 heads of the KV head are split into
// group items of 8, each reading the keys, so that one sequence keeps two
// cores busy; otherwise one item takes all 16.
// CHECK-LABEL: func.func @latent_group__kernel
// CHECK: %[[THREADS:.+]] = memref.load %{{.*}}[%c9] : memref<?xi32>
// CHECK: %[[HEADS:.+]] = arith.select %{{.+}}, %c8, %c16{{.*}} : index
// CHECK: arith.remui %{{.*}}, %[[HEADS]]
// CHECK: mha.online_softmax_step {{.*}} rows_per_head(%{{.*}})
func.func @latent_group(%q: tensor<?x16x1x288xf32>, %k: tensor<?x1x?x288xf32>, %v: tensor<?x1x?x256xf32>,
                        %kl: tensor<?xi32>) -> tensor<?x16x1x256xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {causal}
     : tensor<?x16x1x288xf32>, tensor<?x1x?x288xf32>, tensor<?x1x?x256xf32> -> tensor<?x16x1x256xf32>
  return %o : tensor<?x16x1x256xf32>
}

// -----

// Per-head windows that differ within a group keep the heads apart.
// CHECK-LABEL: func.func @windows__kernel
// CHECK-NOT: rows_per_head
// CHECK: return
func.func @windows(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                   %kl: tensor<?xi32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {causal, window_left = array<i64: 8, -1, 8, 8>}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// An append function: items (s, g, t) over tiles of 64 new keys, each key
// written at kv_lens[s] + i, in its page; with rope_theta the keys are
// rotated from an f64 frequency table. The arguments must come in C order.
// CHECK: memref.global "private" constant @append__rope_freqs : memref<8xf64>
// CHECK-LABEL: func.func @append__kernel
// CHECK-SAME: roles = [#mha.role<key_new>, #mha.role<value_new>, #mha.role<kv_lens>, #mha.role<block_table>, #mha.role<key_cache>, #mha.role<value_cache>]
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?xi32, strided<[1], offset: ?>>
// CHECK: scf.for
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x?xi32, strided<[?, 1], offset: ?>>
// CHECK: vector.load
// CHECK: vector.store
// CHECK: math.cos
// CHECK: math.sin
func.func @append(%kn: tensor<?x2x?x16xf32>, %vn: tensor<?x2x?x8xf32>, %l: tensor<?xi32>,
                  %t: tensor<?x?xi32>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x8xf32>)
    -> (tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>) {
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>) block_table(%t : tensor<?x?xi32>) {rope_theta = 1.0e4 : f32}
      : tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
      -> tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
  return %k, %v : tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
}

// -----

// An i8 cache with scales per KV head (f32 queries): the tile is a view of
// the i8 rows, read in place; the step dequantizes as it packs them, by the
// scales of the item's KV head loaded once.
// CHECK-LABEL: func.func @int8_head__kernel
// CHECK-SAME: %[[KS:[a-z0-9]+]]: memref<2xf32, strided<[1], offset: ?>>, %[[VS:[a-z0-9]+]]: memref<2xf32, strided<[1], offset: ?>>
// CHECK-SAME: roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<key_scale>, #mha.role<value_scale>, #mha.role<output>]
// CHECK: %[[KSCALE:.*]] = memref.load %[[KS]][%{{.*}}]
// CHECK: %[[VSCALE:.*]] = memref.load %[[VS]][%{{.*}}]
// CHECK-NOT: arith.sitofp
// CHECK: mha.online_softmax_step ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x16xf32{{.*}}>, memref<?x16xi8, strided<[?, 1], offset: ?>>, memref<?x16xi8, strided<[?, 1], offset: ?>>)
// CHECK-SAME: dequantize(%[[KSCALE]], %[[VSCALE]] : f32, f32)
func.func @int8_head(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xi8>, %v: tensor<?x2x?x16xi8>,
                     %ks: tensor<2xf32>, %vs: tensor<2xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>) {causal}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xi8>, tensor<?x2x?x16xi8> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// Scales per page: each i8 row is gathered from its page as it is, and
// its page's scale recorded at its row of a [cols] buffer; the step
// dequantizes row by row as it packs the tile.
// CHECK-LABEL: func.func @int8_page__kernel
// CHECK: %[[KROWS:.*]] = memref.alloca() {alignment = 64 : i64} : memref<128xf32>
// CHECK: %[[VROWS:.*]] = memref.alloca() {alignment = 64 : i64} : memref<128xf32>
// CHECK: %[[KTILE:.*]] = memref.alloca() {alignment = 64 : i64} : memref<128x16xi8>
// CHECK: %[[PAGE:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: vector.load %{{.*}}[%[[PAGE]], {{.*}}] : memref<?x2x?x16xi8, {{.*}}>, vector<16xi8>
// CHECK: %[[SCALE:.*]] = memref.load %{{.*}}[%[[PAGE]], %{{.*}}] : memref<?x2xf32
// CHECK: memref.store %[[SCALE]], %[[KROWS]][%[[R:.*]]] : memref<128xf32>
// CHECK: vector.store %{{.*}}, %[[KTILE]][%[[R]], %{{.*}}] : memref<128x16xi8>, vector<16xi8>
// CHECK-NOT: arith.sitofp
// CHECK: mha.online_softmax_step ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x16xf32{{.*}}>, memref<?x16xi8, strided<[?, 1], offset: ?>>, memref<?x16xi8, strided<[?, 1], offset: ?>>)
// CHECK-SAME: dequantize(%[[KROWS]], %[[VROWS]] : memref<128xf32>, memref<128xf32>)
func.func @int8_page(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xi8>, %v: tensor<?x2x?x16xi8>,
                     %ks: tensor<?x2xf32>, %vs: tensor<?x2xf32>, %kl: tensor<?xi32>,
                     %bt: tensor<?x?xi32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<?x2xf32>, tensor<?x2xf32>) kv_lens(%kl : tensor<?xi32>) block_table(%bt : tensor<?x?xi32>) {causal}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xi8>, tensor<?x2x?x16xi8> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// Split-KV decoding (mha/Runtime/KernelAbi.h): a function with kv_lens
// (or any serving operands, or none) takes the runtime's partial outputs [S B Hq Lq, Dv], partial lse and
// arrival counts after the call words; item t is part t mod S (call word
// 10) of query tile t div S and visits only its part of the keys. With
// S = 1 it writes the results as before; otherwise it finalizes into the
// partial buffers, counts its arrival atomically, and the last part of the
// tile merges the S parts by their lse (exp(lse_s - max)).
// CHECK-LABEL: func.func @split__kernel(
// CHECK-SAME: memref<?xi32>, %{{.*}}: memref<?x16xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: index
// CHECK-SAME: mha.split_kv = array<i64: 2, 16, 1, -1>
// CHECK: %[[WORD:.*]] = memref.load %{{.*}}[%c10] : memref<?xi32>
// CHECK: %[[S:.*]] = arith.index_castui %[[WORD]]
// CHECK: arith.divui %{{.*}}, %[[S]]
// CHECK: arith.remui %{{.*}}, %[[S]]
// CHECK: mha.online_softmax_step
// CHECK: arith.cmpi eq, %[[S]], %c1
// CHECK: mha.online_softmax_finalize
// CHECK: } else {
// CHECK: mha.online_softmax_finalize
// CHECK: memref.atomic_rmw addi
// CHECK: math.exp
// CHECK: math.log
func.func @split(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                 %kl: tensor<?xi32>) -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {window_left = array<i64: 100>, return_lse}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// -----

// Packed sequences split too: the partial rows are those of the sequence
// grid (item row b, B and Lq in call words 12 and 13, row i within the
// sequence), and the merged row goes to the sequence's packed row of o
// and lse (batch 0, cu_seqlens_q[b] + i).
// CHECK-LABEL: func.func @split_packed__kernel(
// CHECK-SAME: mha.split_kv = array<i64: 1, 16, 1, -1>
// CHECK: mha.online_softmax_step
// CHECK: memref.load %{{.*}}[%c12] : memref<?xi32>
// CHECK: memref.load %{{.*}}[%c13] : memref<?xi32>
// CHECK: mha.online_softmax_finalize
// CHECK: memref.atomic_rmw addi
// CHECK: math.exp
// CHECK: vector.store %{{.*}}, %{{.*}}[%c0, %{{.*}}, %{{.*}}, %c0{{.*}}] : memref<1x4x?x16xf32
// CHECK: memref.store %{{.*}}, %{{.*}}[%c0{{.*}}, %{{.*}}, %{{.*}}] : memref<1x4x?xf32
func.func @split_packed(%q: tensor<1x4x?x16xf32>, %k: tensor<1x1x?x16xf32>, %v: tensor<1x1x?x16xf32>,
                        %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> (tensor<1x4x?x16xf32>, tensor<1x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {causal, return_lse}
     : tensor<1x4x?x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32> -> tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
}

// -----

// A decoding function of one static query row per head: its steps carry
// `max_rows`, the rows they can ever have (the group item's, 2 heads x 1
// row; the head item's, 1 row), so their lowering emits only the methods
// of few rows; and with one query position per tile no key tile is ever
// partly visible, so there is no masked step. Rows known only at run time
// leave both: 4 steps, masked and not, without `max_rows`.
// CHECK-LABEL: func.func @one_row__kernel
// CHECK-NOT: masked
// CHECK: mha.online_softmax_step {{.*}} rows_per_head({{.*}}) {causal, max_rows = 2 : i64, micro_kernel
// CHECK-NOT: masked
// CHECK: mha.online_softmax_step {{.*}} {causal, max_rows = 1 : i64, micro_kernel
// CHECK-NOT: mha.online_softmax_step
// CHECK-LABEL: func.func @any_rows__kernel
// CHECK-NOT: max_rows
// CHECK-COUNT-4: mha.online_softmax_step {{.*}} {causal, {{(masked, )?}}micro_kernel
// CHECK-NOT: mha.online_softmax_step
// CHECK: return
func.func @one_row(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                   %kl: tensor<?xi32>) -> tensor<?x4x1x16xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {causal}
     : tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}
func.func @any_rows(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                    %kl: tensor<?xi32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%kl : tensor<?xi32>) {causal}
     : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
