// RUN: mha-opt %s -split-input-file -mha-expand-layer -mha-prune-heads -mha-tile -verify-diagnostics -mlir-print-elementsattrs-with-hex-if-larger=-1 | FileCheck %s
// RUN: mha-opt %s -split-input-file -mha-expand-layer -mha-prune-heads "-mha-tile=bf16-dot=1" -verify-diagnostics -mlir-print-elementsattrs-with-hex-if-larger=-1 | FileCheck %s --check-prefix=BF16DOT
// RUN: mha-opt %s -split-input-file -mha-expand-layer -mha-prune-heads -mha-fuse -mha-tile -verify-diagnostics -mlir-print-elementsattrs-with-hex-if-larger=-1 | FileCheck %s --check-prefix=FUSED

// A layer becomes one kernel: the C parameters (x, weights, y), then the f32
// temporaries Q [B, L, 64], K and V [B, L, 32], O [B, L, 64], the RoPE
// table [1, L, 16] and the packed weights [1, 1, 26624] (64 rows x 64
// padded columns for each of the 6 live projection blocks, 32 live rows of
// Wo x 64), then the call words and (phase, b, h, t, alive). Phases:
// packing (7 blocks, one tile whatever L), the RoPE table (one head), Q/K/V
// (heads 0 and 3 of Q, both KV heads: 2 + 2 + 2 items since heads 1 and 2
// are pruned), the attention (4 heads, the masked phase) and the output
// projection (one 128-column block); the GEMM phases are flat (kind 3:
// rows of every batch element in one grid when the call allows).
// CHECK-LABEL: func.func @gqa_rope_pruned__kernel
// CHECK-SAME: memref<?x?x64xf32, strided<[?, ?, 1], offset: ?>>, %{{.+}}: memref<64x64xf32, strided<[?, 1], offset: ?>>
// CHECK-SAME: memref<?x?x64xf32>, %{{.+}}: memref<?x?x32xf32>, %{{.+}}: memref<?x?x32xf32>, %{{.+}}: memref<?x?x64xf32>, %{{.+}}: memref<1x?x16xf32>, %{{.+}}: memref<1x1x26624xf32>, %{{.+}}: memref<?xi32>, %[[PHASE:.+]]: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: i1)
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<layer_output>]
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [64, 32, 32, 64, 16, 26624], tempShapes = [1, 1, 1, 1, 0, 2], tempBytes = [4, 4, 4, 4, 4, 4], phaseHeads = [7, 1, 6, 4, 1], phaseRows = [1099511627776, 192, 192, 512, 192], phaseKinds = [2, 0, 3, 1, 3]>
// The packing phase: an mha.pack_panel per block (and segment) of the
// weights, into 16-lane f32 panels.
// CHECK: mha.pack_panel ins(%{{.+}} : memref<64x64xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<64x64xf32, strided<[64, 1], offset: ?>>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {vector_width = 16 : i64}
// The RoPE angles are computed in f64.
// CHECK: math.cos %{{.+}} : f64
// CHECK: math.sin %{{.+}} : f64
// Packing: each block's panel is a view of the packed weights.
// CHECK: memref.reinterpret_cast %{{.+}} to offset: [%{{.+}}], sizes: [64, 64], strides: [64, 1] : memref<1x1x26624xf32> to memref<64x64xf32, strided<[64, 1], offset: ?>>
// The projection items: one mha.gemm_tile each, Q and K with the RoPE
// epilogue, into a 192-row f32 accumulator scratch; micro-kernels of 6 rows
// by 4 vectors of 16 lanes over K-blocks of 512 rows (convert-mha-to-vector
// makes them FMAs on broadcast x and packed weight vectors:
// test/Conversion/MhaToVector/convert-mha-to-vector.mlir).
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x64xf32, strided<[?, ?, 1], offset: ?>>, memref<64x64xf32, strided<[64, 1], offset: ?>>) rope(%{{.+}} : memref<1x?x16xf32>) outs(%{{.+}} : memref<?x?x64xf32>) scratch(%{{.+}} : memref<192x64xf32>)
// CHECK-SAME: {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
// The attention reads [B, H, L, D] views of the [B, L, H*D] temporaries.
// CHECK: memref.reinterpret_cast %{{.+}} to offset: [0], sizes: [%{{.+}}, 4, %{{.+}}, 16], strides: [%{{.+}}, 16, 64, 1] : memref<?x?x64xf32> to memref<?x4x?x16xf32, strided<[?, 16, 64, 1]>>
// CHECK: memref.reinterpret_cast %{{.+}} to offset: [0], sizes: [%{{.+}}, 2, %{{.+}}, 16], strides: [%{{.+}}, 16, 32, 1]
// CHECK: mha.online_softmax_step
// CHECK: mha.online_softmax_finalize
// The output projection sums the live heads' columns of O only: two
// segments of 16 rows of Wo (heads 0 and 3), packed as 32 panel rows.
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x64xf32>, memref<32x64xf32, strided<[64, 1], offset: ?>>) outs(
// CHECK-SAME: segments = array<i64: 0, 16, 48, 16>
// CHECK-NOT: mha.multi_head
// CHECK-NOT: mha.linear
// After mha-fuse (third RUN): one Q|K|V temporary [B, L, 128] that the
// packing and projection phases fill from the three weights (the same 7 and
// 6 items), and the attention's views at columns 0, 64 and 96 with row
// stride 128.
// FUSED-LABEL: func.func @gqa_rope_pruned__kernel
// FUSED-SAME: %{{.+}}: memref<?x?x128xf32>, %{{.+}}: memref<?x?x64xf32>, %{{.+}}: memref<1x?x16xf32>, %{{.+}}: memref<1x1x26624xf32>, %{{.+}}: index
// FUSED-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [128, 64, 16, 26624], tempShapes = [1, 1, 0, 2], tempBytes = [4, 4, 4, 4], phaseHeads = [7, 1, 6, 4, 1],
// FUSED: memref.reinterpret_cast %[[QKV:.+]] to offset: [0], sizes: [%{{.+}}, 4, %{{.+}}, 16], strides: [%{{.+}}, 16, 128, 1] : memref<?x?x128xf32> to memref<?x4x?x16xf32, strided<[?, 16, 128, 1]>>
// FUSED: memref.reinterpret_cast %[[QKV]] to offset: [64], sizes: [%{{.+}}, 2, %{{.+}}, 16], strides: [%{{.+}}, 16, 128, 1] : memref<?x?x128xf32> to memref<?x2x?x16xf32, strided<[?, 16, 128, 1], offset: 64>>
// FUSED: memref.reinterpret_cast %[[QKV]] to offset: [96]
func.func @gqa_rope_pruned(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, head_mask = array<i1: true, false, false, true>, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// Biases are parameters with their roles; no RoPE: no table, no phase, and
// projection items take up to 128 columns (here one per projection); the
// packed weights are 4 panels of 32 rows x 64 columns (4 bytes per element,
// as the f32 panels of some ISA copy need; Q, K, V and O in bf16).
// CHECK-LABEL: func.func @biases__kernel
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<query_bias>, #mha.role<key_bias>, #mha.role<value_bias>, #mha.role<out_bias>, #mha.role<layer_output>]
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [32, 32, 32, 32, 8192], tempShapes = [1, 1, 1, 1, 2], tempBytes = [2, 2, 2, 2, 4], phaseHeads = [4, 3, 2, 1], phaseRows = [1099511627776, 192, 512, 192], phaseKinds = [2, 3, 1, 3]>
func.func @biases(%x: tensor<2x?x32xbf16>, %wq: tensor<32x32xbf16>, %wk: tensor<32x32xbf16>, %wv: tensor<32x32xbf16>, %wo: tensor<32x32xbf16>, %bq: tensor<32xbf16>, %bk: tensor<32xbf16>, %bv: tensor<32xbf16>, %bo: tensor<32xbf16>) -> tensor<2x?x32xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 2, has_qkv_bias, has_out_bias}
     : tensor<2x?x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16>, tensor<32x32xbf16>, tensor<32xbf16>, tensor<32xbf16>, tensor<32xbf16>, tensor<32xbf16> -> tensor<2x?x32xbf16>
  return %y : tensor<2x?x32xbf16>
}

// -----

// A bf16 layer keeps Q, K, V and O in bf16 temporaries (the RoPE table stays
// f32); without bf16-dot its GEMMs widen to f32 FMAs. With bf16-dot the
// weights are packed as interleaved row pairs and the GEMMs and the
// attention use vdpbf16ps (bf16 panels: pairs of rows, twice the K-block);
// RoPE is applied in the projection epilogue, on f32 accumulators, before
// the one bf16 store (the vector code of both GEMM forms:
// test/Conversion/MhaToVector/convert-mha-to-vector.mlir).
// CHECK-LABEL: func.func @bf16_rope__kernel
// CHECK-SAME: %{{.+}}: memref<?x?x64xbf16>, %{{.+}}: memref<?x?x32xbf16>, %{{.+}}: memref<?x?x32xbf16>, %{{.+}}: memref<?x?x64xbf16>, %{{.+}}: memref<1x?x16xf32>
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x64xbf16, strided<[?, ?, 1], offset: ?>>, memref<64x64xf32, strided<[64, 1], offset: ?>>) rope(%{{.+}} : memref<1x?x16xf32>) outs(%{{.+}} : memref<?x?x64xbf16>)
// CHECK-NOT: memref<32x128xbf16
// CHECK: micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 1>
// BF16DOT-LABEL: func.func @bf16_rope__kernel
// BF16DOT: mha.pack_panel ins(%{{.+}} : memref<64x64xbf16, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<32x128xbf16, strided<[128, 1], offset: ?>>)
// BF16DOT: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x64xbf16, strided<[?, ?, 1], offset: ?>>, memref<32x128xbf16, strided<[128, 1], offset: ?>>) rope(%{{.+}} : memref<1x?x16xf32>) outs(%{{.+}} : memref<?x?x64xbf16>) scratch(%{{.+}} : memref<192x64xf32>)
// BF16DOT-SAME: k_block = 1024 : i64
// BF16DOT: dot = bf16_pairs
func.func @bf16_rope(%x: tensor<?x?x64xbf16>, %wq: tensor<64x64xbf16>, %wk: tensor<64x32xbf16>, %wv: tensor<64x32xbf16>, %wo: tensor<64x64xbf16>) -> tensor<?x?x64xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x64xbf16>, tensor<64x64xbf16>, tensor<64x32xbf16>, tensor<64x32xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xbf16>
  return %y : tensor<?x?x64xbf16>
}

// -----

// Constant weights are packed at compile time into a global of their own
// (no packing items for them: the packing phase has Wv's and Wo's 2
// blocks), constant biases become globals as they are; neither is a
// parameter. f32 panels hold W's rows padded to 64 columns; bf16 pair
// panels (bf16-dot) interleave rows 0 and 1: W[0][0], W[1][0], W[0][1], ...
// CHECK-LABEL: memref.global "private" constant @constants__proj0_bias : memref<2xbf16> = dense<[5.000000e-01, -5.000000e-01]> {alignment = 64 : i64}
// CHECK: memref.global "private" constant @constants__proj0_packed : memref<1x1x128xf32> = dense<{{\[\[\[}}1.000000e+00, 2.000000e+00, 0.000000e+00
// CHECK-SAME: 0.000000e+00, 3.000000e+00, 4.000000e+00, 0.000000e+00
// CHECK-LABEL: func.func @constants__kernel
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<layer_output>]
// CHECK-SAME: phaseHeads = [3, 3, 1, 1]
// CHECK: memref.get_global @constants__proj0_packed
// BF16DOT-LABEL: memref.global "private" constant @constants__proj0_packed : memref<1x1x128xbf16> = dense<{{\[\[\[}}1.000000e+00, 3.000000e+00, 2.000000e+00, 4.000000e+00, 0.000000e+00
func.func @constants(%x: tensor<?x?x2xbf16>, %wk: tensor<2x2xbf16>, %wv: tensor<2x2xbf16>, %wo: tensor<2x2xbf16>) -> tensor<?x?x2xbf16> {
  %wq = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xbf16>
  %bq = arith.constant dense<[0.5, -0.5]> : tensor<2xbf16>
  %bk = arith.constant dense<0.0> : tensor<2xbf16>
  %bv = arith.constant dense<0.0> : tensor<2xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 1, has_qkv_bias}
     : tensor<?x?x2xbf16>, tensor<2x2xbf16>, tensor<2x2xbf16>, tensor<2x2xbf16>, tensor<2x2xbf16>, tensor<2xbf16>, tensor<2xbf16>, tensor<2xbf16> -> tensor<?x?x2xbf16>
  return %y : tensor<?x?x2xbf16>
}

// -----

// The attention's extra results of a layer are parameters after y, in
// return order, written by the attention phase.
// CHECK-LABEL: func.func @layer_lse__kernel
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<lse>, #mha.role<layer_output>]
// CHECK: mha.online_softmax_finalize {{.+}} lse(%{{.+}} : memref<?xf32, strided<[1], offset: ?>>)
func.func @layer_lse(%x: tensor<1x8x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x32xf32>, %wv: tensor<32x32xf32>, %wo: tensor<32x32xf32>) -> (tensor<1x2x8xf32>, tensor<1x8x32xf32>) {
  %y, %lse = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, return_lse}
     : tensor<1x8x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>, tensor<1x2x8xf32>
  return %lse, %y : tensor<1x2x8xf32>, tensor<1x8x32xf32>
}

// -----

// An expanded layer whose projections read different inputs is not a
// self-attention layer.
func.func @two_inputs(%x: tensor<1x8x32xf32>, %z: tensor<1x8x32xf32>, %w: tensor<32x32xf32>) -> tensor<1x8x32xf32> {
  %q = mha.linear %x, %w {head_dim = 16} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  // expected-error @+1 {{the Q, K and V projections must read the same input}}
  %k = mha.linear %z, %w {head_dim = 16} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  %v = mha.linear %x, %w {head_dim = 16} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  %qh = mha.split_heads %q : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  %kh = mha.split_heads %k : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  %vh = mha.split_heads %v : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  %o = mha.attention %qh, %kh, %vh : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  %m = mha.merge_heads %o : tensor<1x2x8x16xf32> -> tensor<1x8x32xf32>
  %y = mha.linear %m, %w {head_dim = 16} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  return %y : tensor<1x8x32xf32>
}

// -----

// The attention must read projections of the layer input.
func.func @raw_attention(%x: tensor<1x8x32xf32>, %w: tensor<32x32xf32>, %q: tensor<1x2x8x16xf32>) -> tensor<1x8x32xf32> {
  %k = mha.linear %x, %w {head_dim = 16} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  %kh = mha.split_heads %k : tensor<1x8x32xf32> -> tensor<1x2x8x16xf32>
  // expected-error @+1 {{the operands of a layer's mha.attention must be mha.split_heads of projections of a function argument}}
  %o = mha.attention %q, %kh, %kh : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  %m = mha.merge_heads %o : tensor<1x2x8x16xf32> -> tensor<1x8x32xf32>
  %y = mha.linear %m, %w {head_dim = 16} : tensor<1x8x32xf32>, tensor<32x32xf32> -> tensor<1x8x32xf32>
  return %y : tensor<1x8x32xf32>
}

// -----

// Grouped projections: one plan per group of Q's heads, each packing and
// computing its group's 16 columns of Wq (from column 16 g) once and writing them
// for its live heads, with the bias rows of those heads. Heads 1, 2 and 3
// are pruned: group 0 writes head 0 only, group 1 (heads 2, 3) is never
// computed, group 2 writes heads 4 and 5 (output columns 64 and 80). The
// packing phase has 5 items (2 Q groups, K, V, Wo), the projections 4.
// CHECK-LABEL: func.func @grouped_pruned__kernel
// CHECK-SAME: phaseHeads = [5, 4, 6, 1]
// CHECK: %[[BQ0:.+]] = memref.subview %arg5[0, 0] [2, 16] [1, 1] : memref<6x16xf32, strided<[?, 1], offset: ?>> to memref<2x16xf32, strided<[?, 1], offset: ?>>
// CHECK: %[[BQ2:.+]] = memref.subview %arg5[4, 0] [2, 16] [1, 1]
// CHECK: mha.pack_panel ins(%arg1 :
// CHECK: %[[C32:.+]] = arith.addi %{{.+}}, %c32 : index
// CHECK: mha.pack_panel ins(%arg1 : {{.*}} columns(%[[C32]],
// CHECK: mha.gemm_tile {{.*}} bias(%[[BQ0]] : memref<2x16xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<?x?x96xf32>)
// CHECK-SAME: output_offset = 0 : i64, replica_stride = 16 : i64, replicas = array<i64: 0>
// CHECK: mha.gemm_tile {{.*}} bias(%[[BQ2]] : memref<2x16xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<?x?x96xf32>)
// CHECK-SAME: output_offset = 64 : i64, replica_stride = 16 : i64, replicas = array<i64: 0, 1>
func.func @grouped_pruned(%x: tensor<?x?x32xf32>, %wq: tensor<32x48xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<96x32xf32>, %bq: tensor<6x16xf32>, %bk: tensor<1x16xf32>, %bv: tensor<1x16xf32>) -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 6, num_kv_heads = 1, sharing = #mha.sharing<grouped>, has_qkv_bias, head_mask = array<i1: true, false, false, false, true, true>}
     : tensor<?x?x32xf32>, tensor<32x48xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<96x32xf32>, tensor<6x16xf32>, tensor<1x16xf32>, tensor<1x16xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// Low-rank Wq and Wo: the factors are C parameters (wq_down, wq_up,
// wo_down, wo_up); the rank-r products are temporaries [B, L, 8] and
// [B, L, 4]. Phases: packing (10 items), RoPE table, x . wq_down (one
// 8-column block), Q/K/V (3 live Q heads, 2 + 2 KV heads), attention,
// O . wo_down (its reduction over the 3 live heads' rows: 48 panel rows),
// then the output projection from the rank-4 product.
// CHECK-LABEL: func.func @low_rank_q_o__kernel
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight_down>, #mha.role<query_weight_up>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight_down>, #mha.role<out_weight_up>, #mha.role<layer_output>]
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [8, 64, 32, 32, 4, 64, 16, 25344], tempShapes = [1, 1, 1, 1, 1, 1, 0, 2], tempBytes = [4, 4, 4, 4, 4, 4, 4, 4], phaseHeads = [10, 1, 1, 7, 4, 1, 1], phaseRows = [1099511627776, 192, 192, 192, 512, 192, 192], phaseKinds = [2, 0, 3, 3, 1, 3, 3]>
// CHECK: mha.gemm_tile ins(%arg0, %{{.+}} : memref<?x?x64xf32, strided<[?, ?, 1], offset: ?>>, memref<64x64xf32, strided<[64, 1], offset: ?>>) outs(%arg8 : memref<?x?x8xf32>)
// CHECK: mha.gemm_tile ins(%arg8, %{{.+}} : memref<?x?x8xf32>, memref<8x64xf32, strided<[64, 1], offset: ?>>) rope(
// CHECK: mha.online_softmax_step
// CHECK: mha.gemm_tile ins(%arg13, %{{.+}} : memref<?x?x64xf32>, memref<48x64xf32, strided<[64, 1], offset: ?>>) outs(%arg12 : memref<?x?x4xf32>)
// CHECK: mha.gemm_tile ins(%arg12, %{{.+}} : memref<?x?x4xf32>, memref<4x64xf32, strided<[64, 1], offset: ?>>) outs(%arg7 :
func.func @low_rank_q_o(%x: tensor<?x?x64xf32>, %wq_down: tensor<64x8xf32>, %wq_up: tensor<8x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo_down: tensor<64x4xf32>, %wo_up: tensor<4x64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  %wo = mha.low_rank %wo_down, %wo_up : tensor<64x4xf32>, tensor<4x64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, head_mask = array<i1: true, false, true, true>}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// A latent layer (3 heads, r = 20, Dr = 8, Dn = 12, Dv = 10): temporaries
// latent [B, L, 28], Q [B, L, 60], the up-projection [B, L, 66], the keys
// [B, L, 60], O [B, L, 30] and an 8-wide RoPE table. Phases: packing (6
// blocks), the RoPE table, the latent (one 28-column item, the last 8
// rotated: rope_offset 20), Q (3 heads, rope_offset 12) beside the
// up-projection (one block), the keys (3 heads), the attention and the
// output projection. The values are every head's columns 12..21 of the
// up-projection (head stride 22).
// CHECK-LABEL: func.func @latent__kernel
// CHECK-SAME: %{{.+}}: memref<?x?x28xf32>, %{{.+}}: memref<?x?x60xf32>, %{{.+}}: memref<?x?x66xf32>, %{{.+}}: memref<?x?x60xf32>, %{{.+}}: memref<?x?x30xf32>, %{{.+}}: memref<1x?x8xf32>
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<layer_output>]
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [28, 60, 66, 60, 30, 8, 16768], tempShapes = [1, 1, 1, 1, 1, 0, 2], tempBytes = [4, 4, 4, 4, 4, 4, 4], phaseHeads = [6, 1, 1, 4, 3, 3, 1], phaseRows = [1099511627776, 192, 192, 192, 192, 512, 192], phaseKinds = [2, 0, 3, 3, 0, 1, 3]>
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x48xf32, strided<[?, ?, 1], offset: ?>>, memref<48x64xf32, strided<[64, 1], offset: ?>>) rope(%{{.+}} : memref<1x?x8xf32>) outs(%{{.+}} : memref<?x?x28xf32>)
// CHECK-SAME: rope_offset = 20 : i64
// CHECK: mha.gemm_tile {{.*}} rope(%{{.+}} : memref<1x?x8xf32>) outs(%{{.+}} : memref<?x?x60xf32>)
// CHECK-SAME: rope_offset = 12 : i64
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x28xf32>, memref<20x128xf32, strided<[128, 1], offset: ?>>) outs(%{{.+}} : memref<?x?x66xf32>)
// CHECK-SAME: segments = array<i64: 0, 20>
// CHECK: memref.load %{{.+}} : memref<?x?x66xf32>
// CHECK: memref.store %{{.+}} : memref<?x?x60xf32>
// CHECK: memref.load %{{.+}} : memref<?x?x28xf32>
// CHECK: memref.store %{{.+}} : memref<?x?x60xf32>
// CHECK: memref.reinterpret_cast %{{.+}} to offset: [12], sizes: [%{{.+}}, 3, %{{.+}}, 10], strides: [%{{.+}}, 22, 66, 1] : memref<?x?x66xf32> to memref<?x3x?x10xf32, strided<[?, 22, 66, 1], offset: 12>>
// CHECK: mha.online_softmax_step
func.func @latent(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                  %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
                  %wo: tensor<30x48xf32>) -> tensor<?x?x48xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// -----

// Int8 weights (mha.quantized): the i8 values and their scales are C
// parameters of their own; the packing phase widens each block and
// multiplies it by its columns' scales.
// CHECK-LABEL: func.func @int8__kernel
// CHECK-SAME: %{{.+}}: memref<32x32xi8, strided<[?, 1], offset: ?>>, %{{.+}}: memref<32xf32, strided<[1], offset: ?>>
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<query_weight_scale>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<out_weight_scale>, #mha.role<layer_output>]
// Every copy has the int8 path's temporaries (int8 panels 2 x 2560 bytes:
// 8 rows of quads, offsets and scales, the int8 rows of x and O and their
// scales) and phases (quantizing x after the packing, O after the
// attention): the copies share one signature.
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [32, 16, 16, 32, 8192, 5120, 32, 1, 32, 1], tempShapes = [1, 1, 1, 1, 2, 2, 1, 1, 1, 1], tempBytes = [4, 4, 4, 4, 4, 1, 1, 4, 1, 4], phaseHeads = [4, 1, 3, 4, 1, 1],
// CHECK: mha.pack_panel ins(%{{.+}} : memref<32x32xi8, strided<[?, 1], offset: ?>>) scale(%{{.+}} : memref<32xf32, strided<[1], offset: ?>>) outs(
// CHECK: mha.pack_panel ins(%{{.+}} : memref<32x32xi8, strided<[?, 1], offset: ?>>) scale(%{{.+}} : memref<32xf32, strided<[1], offset: ?>>) outs(
// The AVX512-BF16 copy (second RUN; its CPUs have AVX512-VNNI) packs the
// int8 weights as quads of rows with their scales, quantizes x and O into
// int8 rows and runs their GEMMs on vpdpbusd; its float panels (Wk, Wv)
// take 4096 of the 8192 the signature reserves.
// BF16DOT-LABEL: func.func @int8__kernel
// BF16DOT-SAME: mha.int8_weights
// BF16DOT: mha.pack_panel ins(%{{.+}} : memref<32x32xi8, strided<[?, 1], offset: ?>>) scale(%{{.+}} : memref<32xf32, strided<[1], offset: ?>>) outs(%{{.+}} : memref<10x256xi8, strided<[256, 1], offset: ?>>) {{.*}} {k_block = 256 : i64, vector_width = 16 : i64}
// BF16DOT: mha.quantize_rows ins(%{{.+}} : memref<?x?x32xf32, strided<[?, ?, 1], offset: ?>>) outs(%{{.+}}, %{{.+}} : memref<?x?x32xi8>, memref<?x?x1xf32>)
// BF16DOT: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x32xi8>, memref<10x256xi8, strided<[256, 1], offset: ?>>) dequantize(%{{.+}} : memref<?x?x1xf32>) outs(
// BF16DOT: mha.online_softmax_step
// BF16DOT: mha.quantize_rows ins(%{{.+}} : memref<?x?x32xf32>)
func.func @int8(%x: tensor<?x?x32xf32>, %wq8: tensor<32x32xi8>, %sq: tensor<32xf32>,
                %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>,
                %wo8: tensor<32x32xi8>, %so: tensor<32xf32>) -> tensor<?x?x32xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<32x32xi8>, tensor<32xf32> -> tensor<32x32xf32>
  %wo = mha.quantized %wo8, %so : tensor<32x32xi8>, tensor<32xf32> -> tensor<32x32xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// Int4 weights with group scales: Wq's values are two per byte ([32, 16]
// bytes for 32 columns) with a row of scales per 16 rows. The copies
// without VNNI widen them (int4, the row's group's scales); the VNNI copy
// packs K-blocks of one group each (16 rows: 4 quads, offsets, scales).
// CHECK-LABEL: func.func @int4__kernel
// CHECK-SAME: %{{.+}}: memref<32x16xi8, strided<[?, 1], offset: ?>>, %{{.+}}: memref<2x32xf32, strided<[?, 1], offset: ?>>
// CHECK: mha.pack_panel ins(%{{.+}} : memref<32x16xi8, strided<[?, 1], offset: ?>>) scale(%{{.+}} : memref<2x32xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<32x64xf32, {{.*}}) {{.*}} {int4, vector_width = 16 : i64}
// BF16DOT-LABEL: func.func @int4__kernel
// BF16DOT: mha.pack_panel ins(%{{.+}} : memref<32x16xi8, strided<[?, 1], offset: ?>>) scale(%{{.+}} : memref<2x32xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<12x256xi8, {{.*}}) {{.*}} {int4, k_block = 16 : i64, vector_width = 16 : i64}
// BF16DOT: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x32xi8>, memref<12x256xi8, {{.*}}) dequantize(
// BF16DOT-SAME: k_block = 16 : i64
func.func @int4(%x: tensor<?x?x32xf32>, %wq4: tensor<32x16xi8>, %sq: tensor<2x32xf32>,
                %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<32x16xi8>, tensor<2x32xf32> -> tensor<32x32xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// A decoding step over a paged bf16 cache: the caches and the lengths are
// parameters (no result parameters for the caches, written in place), the
// kernel takes the call words (grouped decoding items), the RoPE table has
// one row per sequence and position ([B, L, 16] f32, shape 1), and the
// phases are packing (kind 2), RoPE table, Q/K/V, the append (one item per
// KV head and 64 new rows) into the pages the table names, the attention
// (kind 1, masked) over the pages, and the output projection. The GEMM
// phases are of kind 3: with call word 11 (MHA_LAYER_FLAT_ROWS) set, their
// items view x, the temporaries, the RoPE table and y as [1, B L, cols].
// CHECK-LABEL: func.func @decoding_step__kernel
// CHECK-SAME: mha.call_words
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<kv_lens>, #mha.role<block_table>, #mha.role<key_cache>, #mha.role<value_cache>, #mha.role<layer_output>]
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [64, 32, 32, 64, 16, 32768], tempShapes = [1, 1, 1, 1, 1, 2], tempBytes = [2, 2, 2, 2, 4, 4], phaseHeads = [8, 1, 7, 2, 4, 1], phaseRows = [1099511627776, 192, 192, 64, 512, 192], phaseKinds = [2, 0, 3, 0, 1, 3]>
// CHECK: %[[FLAT:.+]] = memref.load %{{.+}}[%c11{{.*}}] : memref<?xi32>
// CHECK: scf.if
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<1x?x64xbf16, strided<[?, ?, 1], offset: ?>>, {{.*}} rope(%{{.+}} : memref<1x?x16xf32, strided<[?, ?, 1], offset: ?>>) outs(%{{.+}} : memref<1x?x64xbf16, strided<[?, ?, 1], offset: ?>>)
// CHECK: } else {
// CHECK: mha.gemm_tile {{.*}} rope(%[[TABLE:.+]] : memref<?x?x16xf32>) outs(
// CHECK: mha.gemm_tile {{.*}} rope(%[[TABLE]] : memref<?x?x16xf32>) outs(
// CHECK: %[[PAGE:.+]] = memref.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<?x?xi32, strided<[?, 1], offset: ?>>
// CHECK: vector.store %{{.+}}, %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}] : memref<?x2x16x16xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<16xbf16>
// CHECK: mha.online_softmax_step
func.func @decoding_step(%x: tensor<?x?x64xbf16>, %wq: tensor<64x64xbf16>,
                         %wk: tensor<64x32xbf16>, %wv: tensor<64x32xbf16>,
                         %wo: tensor<64x64xbf16>, %lens: tensor<?xi32>,
                         %table: tensor<?x?xi32>,
                         %kc: tensor<?x2x16x16xbf16>, %vc: tensor<?x2x16x16xbf16>)
    -> (tensor<?x?x64xbf16>, tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>) {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>)
      kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<?x?x64xbf16>, tensor<64x64xbf16>, tensor<64x32xbf16>,
        tensor<64x32xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xbf16>
        cache(tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>)
  return %y, %k, %v : tensor<?x?x64xbf16>, tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>
}

// -----

// An absorbed latent step (3 heads, r = 20, Dr = 8, Dn = 12, Dv = 10, one
// paged cache [pages, 1, 16, 28]): temporaries Q [B, L, 60], the latent
// [B, L, 28], the absorbed queries [B, L, 84], the absorbed output
// [B, L, 30], the attention output [B, L, 60] and the per-sequence RoPE
// table. Phases: packing (Wq, Wk, Wo: 5 blocks), the RoPE table, Q beside
// the latent (flat rows), the latent's RMS norm, the absorbed queries (one
// item per head, flat rows), the append (the cache's one KV head), the
// attention (3 heads), the absorbed output (3 heads) and the output
// projection. The values are the cache's first 20 columns. The attention
// may split its keys (split-KV): the partial outputs [?, 20], lse and
// arrival counts follow the call words, and mha.split_kv names the KV
// heads (1), Dv (20), the cache (parameter 7) and the table (6).
// CHECK-LABEL: func.func @latent_step__kernel
// CHECK-SAME: %{{.+}}: memref<?x?x60xf32>, %{{.+}}: memref<?x?x28xf32>, %{{.+}}: memref<?x?x84xf32>, %{{.+}}: memref<?x?x30xf32>, %{{.+}}: memref<?x?x60xf32>, %{{.+}}: memref<?x?x8xf32>
// CHECK-SAME: %{{.+}}: memref<?xi32>, %{{.+}}: memref<?x20xf32>, %{{.+}}: memref<?xf32>, %{{.+}}: memref<?xi32>, %{{.+}}: index
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<kv_lens>, #mha.role<block_table>, #mha.role<key_cache>, #mha.role<layer_output>]
// CHECK-SAME: mha.layer_plan = #mha.layer_plan<tempCols = [60, 28, 84, 30, 60, 8, 14208], tempShapes = [1, 1, 1, 1, 1, 1, 2], tempBytes = [4, 4, 4, 4, 4, 4, 4], phaseHeads = [5, 1, 4, 1, 3, 1, 3, 3, 1], phaseRows = [1099511627776, 192, 192, 192, 192, 64, 512, 192, 192], phaseKinds = [2, 0, 3, 0, 3, 0, 1, 3, 3]>
// CHECK-SAME: mha.split_kv = array<i64: 1, 20, 7, 6>
// CHECK: math.rsqrt
// CHECK: mha.head_gemm ins(%{{.+}}, %[[WV:.+]] : memref<1x?x60xf32, strided<[?, ?, 1], offset: ?>>, memref<20x66xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<1x?x84xf32, strided<[?, ?, 1], offset: ?>>) at(%{{.+}}) head(%{{.+}}) {num_heads = 3 : i64, transpose_weight, vector_width = 16 : i64}
// CHECK: mha.head_gemm ins(%{{.+}}, %[[WV]] : memref<?x?x60xf32>, memref<20x66xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<?x?x84xf32>)
// CHECK: memref.subview %[[CACHE:.+]][0, 0, 0, 0] [%{{.+}}, %{{.+}}, %{{.+}}, 20] [1, 1, 1, 1] : memref<?x1x16x28xf32, strided<[?, ?, ?, 1], offset: ?>> to memref<?x?x?x20xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: mha.online_softmax_step
// CHECK: mha.head_gemm ins(%{{.+}}, %[[WV]] : memref<1x?x60xf32, strided<[?, ?, 1], offset: ?>>, memref<20x66xf32, strided<[?, 1], offset: ?>>) outs(%{{.+}} : memref<1x?x30xf32, strided<[?, ?, 1], offset: ?>>) at(%{{.+}}) head(%{{.+}}) {num_heads = 3 : i64, vector_width = 16 : i64, weight_offset = 12 : i64}
// CHECK: mha.gemm_tile
func.func @latent_step(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                       %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
                       %wo: tensor<30x48xf32>, %lens: tensor<?xi32>,
                       %table: tensor<?x?xi32>, %c: tensor<?x1x16x28xf32>)
    -> (tensor<?x?x48xf32>, tensor<?x1x16x28xf32>) {
  %y, %c2 = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : tensor<?x1x16x28xf32>)
      kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {num_heads = 3 : i64, sharing = #mha.sharing<latent>,
       rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
        cache(tensor<?x1x16x28xf32>)
  return %y, %c2 : tensor<?x?x48xf32>, tensor<?x1x16x28xf32>
}

// -----

// An absorbed attention needs a latent step's cache.
func.func @absorbed_without_cache(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
    %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) -> tensor<?x?x48xf32> {
  %q = mha.linear %x, %wq {head_dim = 20 : i64} : tensor<?x?x48xf32>, tensor<48x60xf32> -> tensor<?x?x60xf32>
  %qa = mha.head_linear %q, %wv {num_heads = 3 : i64, transpose_weight} : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x84xf32>
  %qh = mha.split_heads %qa : tensor<?x?x84xf32> -> tensor<?x3x?x28xf32>
  %c = mha.linear %x, %wk {head_dim = 28 : i64} : tensor<?x?x48xf32>, tensor<48x28xf32> -> tensor<?x?x28xf32>
  %kh = mha.split_heads %c : tensor<?x?x28xf32> -> tensor<?x1x?x28xf32>
  %vh = mha.split_heads %c : tensor<?x?x28xf32> -> tensor<?x1x?x20xf32>
  // expected-error @+1 {{an absorbed latent step must attend with queries absorbed by an mha.head_linear of a projection, over the cache its latent projection is appended to, and absorb the merged heads with the same weight}}
  %o = mha.attention %qh, %kh, %vh {causal} : tensor<?x3x?x28xf32>, tensor<?x1x?x28xf32>, tensor<?x1x?x20xf32> -> tensor<?x3x?x20xf32>
  %m = mha.merge_heads %o : tensor<?x3x?x20xf32> -> tensor<?x?x60xf32>
  %oa = mha.head_linear %m, %wv {num_heads = 3 : i64, weight_offset = 12 : i64} : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x30xf32>
  %y = mha.linear %oa, %wo {head_dim = 10 : i64} : tensor<?x?x30xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// -----

// mha.backward on a layer adds `<name>_backward`'s kernel (docs/language.md
// 7.1): the forward's parameters, dy, then a gradient per argument; its
// phases pack the projections' panels, recompute the RoPE table, the
// projections and the attention (which writes lse and each head's alive
// byte), flagged MHA_PHASE_RECOMPUTATION (16), their temporaries
// MHA_TEMP_SAVED (16); then, for <name>_forward_train only
// (MHA_PHASE_FORWARD_OUTPUT, 32), Wo's panels and y = O Wo into dy's
// place; then the transposed weights' panels, dO = dy Wo^T, the key and
// query items, dQ and dK rotated back, dx
// = dQKV W^T (one panel of the three transposed weights) and the weight
// and bias gradients (one grid of mha.weight_grad_tile blocks).
// CHECK-LABEL: func.func @layer_grad_backward__kernel
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<query_bias>, #mha.role<key_bias>, #mha.role<value_bias>, #mha.role<grad_layer_output>, #mha.role<grad_layer_input>, #mha.role<grad_query_weight>, #mha.role<grad_key_weight>, #mha.role<grad_value_weight>, #mha.role<grad_out_weight>, #mha.role<grad_query_bias>, #mha.role<grad_key_bias>, #mha.role<grad_value_bias>]
// CHECK-SAME: tempShapes = [17, 17, 17, 17, 16, 2, 17, 16, 1, 1]
// CHECK-SAME: phaseKinds = [18, 16, 19, 17, 34, 35, 2, 3, 0, 1, 0, 3, 0]
// CHECK: mha.pack_panel ins(%arg1 : {{.+}}) {{.+}} {vector_width = 16 : i64}
// CHECK: memref.store %{{.+}}, %arg24[%c0, %c0, %{{.+}}] : memref<1x?x4xi8>
// CHECK: mha.online_softmax_finalize
// CHECK: mha.pack_panel ins(%arg4 : {{.+}}) {{.+}} {vector_width = 16 : i64}
// CHECK: mha.gemm_tile ins(%arg20, {{.+}}) outs(%arg8 : {{.+}})
// CHECK: mha.pack_panel ins(%arg4 : {{.+}}) {{.+}} {transpose, vector_width = 16 : i64}
// CHECK: mha.pack_panel ins(%arg1 : {{.+}}) {{.+}} {transpose, vector_width = 16 : i64}
// CHECK: mha.pack_panel ins(%arg2 : {{.+}}) {{.+}} {transpose, vector_width = 16 : i64}
// CHECK: mha.pack_panel ins(%arg3 : {{.+}}) {{.+}} {transpose, vector_width = 16 : i64}
// CHECK: mha.gemm_tile ins(%arg8, {{.+}}) outs(%arg25 : memref<?x?x32xf32>)
// CHECK: mha.gemm_tile ins(%arg26, {{.+}}) outs(%arg9 : {{.+}})
// CHECK: mha.weight_grad_tile ins(%arg0 : {{.+}}) grads(%arg26 : memref<?x?x64xf32>) outs(%arg10 : {{.+}})
// CHECK: mha.weight_grad_tile grads(%arg26 : memref<?x?x64xf32>) outs(%{{.+}} : memref<1x32xf32, {{.+}}>)
// CHECK: mha.weight_grad_tile ins(%arg0 : {{.+}}) grads(%arg26 : memref<?x?x64xf32>) outs(%arg11 : {{.+}}) {{.+}} {g_offset = 32 : i64
// CHECK: mha.weight_grad_tile ins(%arg0 : {{.+}}) grads(%arg26 : memref<?x?x64xf32>) outs(%arg12 : {{.+}}) {{.+}} {g_offset = 48 : i64
// CHECK: mha.weight_grad_tile ins(%arg20 : memref<?x?x32xf32>) grads(%arg8 : {{.+}}) outs(%arg13 : {{.+}})
// CHECK-LABEL: func.func @layer_grad__kernel
func.func @layer_grad(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>, %bq: tensor<32xf32>, %bk: tensor<16xf32>, %bv: tensor<16xf32>) -> tensor<?x?x32xf32>
    attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, has_qkv_bias, causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// A bf16 layer's backward. With AVX512-BF16 (BF16DOT) the GEMMs on bf16
// inputs take bf16 pair panels: the recomputed projections of x and dO =
// dy Wo^T, which is rounded to bf16 (%arg24) for the attention's items on
// bf16 pairs; dQKV (f32, %arg25) is rounded into its bf16 copy (%arg26), which
// dx = dQKV W^T (pair panels of the transposed weights) and the weight
// gradients read, those as vdpbf16ps on pairs of rows (bf16_pairs); the
// biases' column sums stay on the f32 dQKV; y's GEMM (for
// <name>_forward_train) reads O rounded to bf16 (%arg27), on pairs too.
// Without (CHECK) every GEMM of the backward has f32 panels and dx reads
// the f32 dQKV.
// BF16DOT-LABEL: func.func @bf16_grad_backward__kernel
// BF16DOT: mha.pack_panel ins(%arg1 : {{.+}}) outs(%{{.+}} : memref<16x128xbf16, {{.+}}>) {{.+}} {vector_width = 16 : i64}
// BF16DOT: mha.gemm_tile ins(%arg0, %{{.+}} : memref<?x?x32xbf16, {{.+}}>, memref<16x128xbf16, {{.+}}>)
// BF16DOT: mha.gemm_tile ins(%arg27, %{{.+}} : memref<?x?x32xbf16>, memref<16x128xbf16, {{.+}}>) outs(%arg8
// BF16DOT: mha.pack_panel ins(%arg4 : {{.+}}) outs(%{{.+}} : memref<16x128xbf16, {{.+}}>) {{.+}} {transpose, vector_width = 16 : i64}
// BF16DOT: mha.pack_panel ins(%arg1 : {{.+}}) outs(%{{.+}} : memref<16x128xbf16, {{.+}}>) {{.+}} {transpose, vector_width = 16 : i64}
// BF16DOT: mha.gemm_tile ins(%arg8, %{{.+}} : memref<?x?x32xbf16, {{.+}}>, memref<16x128xbf16, {{.+}}>) outs(%arg24 : memref<?x?x32xbf16>)
// BF16DOT: arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// BF16DOT-NEXT: vector.store %{{.+}}, %arg26[{{.+}}] : memref<?x?x64xbf16>, vector<16xbf16>
// BF16DOT: mha.gemm_tile ins(%arg26, %{{.+}} : memref<?x?x64xbf16>, memref<32x128xbf16, {{.+}}>) outs(%arg9
// BF16DOT: mha.weight_grad_tile ins(%arg0 : {{.+}}) grads(%arg26 : memref<?x?x64xbf16>) outs(%arg10 : {{.+}}) {{.+}} {bf16_pairs,
// BF16DOT: mha.weight_grad_tile grads(%arg25 : memref<?x?x64xf32>) outs(%{{.+}} : memref<1x32xbf16, {{.+}}>) {{.+}} {max_columns = 256 : i64, max_rows = 256 : i64, vector_width = 16 : i64}
// BF16DOT: mha.weight_grad_tile ins(%arg20 : memref<?x?x32xf32>) grads(%arg8 : {{.+}}) outs(%arg13 : {{.+}}) {{.+}} {bf16_pairs,
// CHECK-LABEL: func.func @bf16_grad_backward__kernel
// CHECK: mha.pack_panel ins(%arg4 : {{.+}}) outs(%{{.+}} : memref<32x64xf32, {{.+}}>) {{.+}} {transpose, vector_width = 16 : i64}
// CHECK: mha.gemm_tile ins(%arg8, %{{.+}} : memref<?x?x32xbf16, {{.+}}>, memref<32x64xf32, {{.+}}>) outs(%arg24 : memref<?x?x32xf32>)
// CHECK: mha.gemm_tile ins(%arg25, %{{.+}} : memref<?x?x64xf32>, memref<64x64xf32, {{.+}}>) outs(%arg9
// CHECK-NOT: bf16_pairs
// CHECK-LABEL: func.func @bf16_grad__kernel
func.func @bf16_grad(%x: tensor<?x?x32xbf16>, %wq: tensor<32x32xbf16>, %wk: tensor<32x16xbf16>, %wv: tensor<32x16xbf16>, %wo: tensor<32x32xbf16>, %bq: tensor<32xbf16>, %bk: tensor<16xbf16>, %bv: tensor<16xbf16>) -> tensor<?x?x32xbf16>
    attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, has_qkv_bias, causal}
      : tensor<?x?x32xbf16>, tensor<32x32xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x32xbf16>, tensor<32xbf16>, tensor<16xbf16>, tensor<16xbf16> -> tensor<?x?x32xbf16>
  return %y : tensor<?x?x32xbf16>
}

// -----

// The backward of a latent (MLA) layer: dQKV [B, L, 214] holds dQ (60
// columns), the latent up-projection's d[kn, v] (66), the keys' dK (60) and
// the latent's d[c, kr] (28, from 186). After the forward's phases the
// latent's first 20 columns are divided by their RMS in place (1/RMS kept,
// [B, L, 1]); after the attention's items each head's key part goes to its
// columns of d[kn, v] and the RoPE key's sum over the 3 heads to columns
// 206..213; dc = d[kn, v] Wv^T, carried back through the norm, then dx
// reads dQ and d[c, kr]; dWv = norm(c)^T d[kn, v], dWk = x^T d[c, kr].
// CHECK-LABEL: func.func @latent_grad_backward__kernel
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<grad_layer_output>, #mha.role<grad_layer_input>, #mha.role<grad_query_weight>, #mha.role<grad_key_weight>, #mha.role<grad_value_weight>, #mha.role<grad_out_weight>]
// CHECK-SAME: phaseKinds = [18, 16, 19, 19, 16, 17, 16, 34, 35, 2, 3, 0, 1, 0, 0, 3, 0, 3, 0]
// CHECK: mha.online_softmax_finalize
// CHECK: %[[RMS:.+]] = math.rsqrt
// CHECK: memref.store %[[RMS]], %[[SCALES:arg22]][%{{.+}}, %{{.+}}, %c0] : memref<?x?x1xf32>
// CHECK: scf.for %{{.+}} = %c0 to %c3 step %c1 {
// CHECK: memref.load %[[DQKV:arg21]]
// CHECK: memref.store %{{.+}}, %[[DQKV]]
// CHECK: scf.for %{{.+}} = %c0 to %c3 step %c1 iter_args(%{{.+}} = %{{.+}}) -> (f32)
// CHECK: arith.addi %{{.+}}, %c206 : index
// CHECK: mha.gemm_tile ins(%[[DQKV]], {{.+}}) outs(%[[DQKV]] : memref<?x?x214xf32>) {{.+}} columns(%c0, %c20) {{.+}} output_offset = 186 : i64, {{.+}} segments = array<i64: 60, 66>
// CHECK: memref.load %[[SCALES]]
// CHECK: mha.weight_grad_tile ins(%arg0 : {{.+}}) grads(%[[DQKV]] : {{.+}}) outs(%arg8 : {{.+}}) {{.+}} {g_offset = 186 : i64
// CHECK: mha.weight_grad_tile ins(%arg11 : memref<?x?x28xf32>) grads(%[[DQKV]] : {{.+}}) outs(%arg9 : {{.+}}) {{.+}} {g_offset = 60 : i64
// CHECK-LABEL: func.func @latent_grad__kernel
func.func @latent_grad(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>,
                       %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>)
    -> tensor<?x?x48xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>,
      causal, rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>,
        tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// -----

// Packed sequences (x [1, T, 64], offsets i32 [S + 1]): the C parameters
// take the offsets as cu_seqlens_q. The RoPE table counts each row from
// its sequence's first (a loop over the S sequences and the rows past the
// last, each clipped to the item's rows); the attention phase (kind 1)
// reads each sequence's rows and keys from the offsets, on the grid the
// runtime sizes by the sequences.
// CHECK-LABEL: func.func @packed__kernel
// CHECK-SAME: %[[CU:arg5]]: memref<?xi32, strided<[1], offset: ?>>
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<cu_seqlens_q>, #mha.role<layer_output>]
// CHECK-SAME: phaseKinds = [2, 0, 3, 1, 3]>
// CHECK: %[[N:.+]] = memref.dim %[[CU]], %{{.+}}
// CHECK: %[[S:.+]] = arith.subi %[[N]], %{{.+}}
// CHECK: %[[S1:.+]] = arith.addi %[[S]], %{{.+}}
// CHECK: scf.for %[[SEQ:.+]] = %{{.+}} to %[[S1]]
// CHECK: %[[START:.+]] = memref.load %[[CU]][%[[SEQ]]]
// CHECK: math.cos
// CHECK: memref.load %[[CU]]
// CHECK: mha.online_softmax_step
func.func @packed(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
                  %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                  %wo: tensor<64x64xf32>, %cu: tensor<?xi32>)
    -> tensor<1x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// A packed decoding step: the append phase is of kind 4 (the sequences'
// grid, as the attention's), its items read sequence s's rows of batch 0
// from cu_seqlens_q[s] on and write nothing for the item row past the
// last sequence. Its attention may split its keys (mha.split_kv: 2 KV
// heads, Dv 16, the key cache and block table arguments), its partial rows
// indexed by the sequence grid of call words 12 and 13.
// CHECK-LABEL: func.func @packed_step__kernel
// CHECK-SAME: %[[CU:arg7]]: memref<?xi32, strided<[1], offset: ?>>
// CHECK-SAME: roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<key_weight>, #mha.role<value_weight>, #mha.role<out_weight>, #mha.role<kv_lens>, #mha.role<block_table>, #mha.role<cu_seqlens_q>, #mha.role<key_cache>, #mha.role<value_cache>, #mha.role<layer_output>]
// CHECK-SAME: phaseKinds = [2, 0, 3, 4, 1, 3]>, mha.split_kv = array<i64: 2, 16, 8, 6>
// CHECK: %[[N:.+]] = memref.dim %[[CU]], %{{.+}}
// CHECK: %[[S:.+]] = arith.subi %[[N]], %{{.+}}
// CHECK: %[[IN:.+]] = arith.cmpi slt, %{{.+}}, %[[S]]
// CHECK: scf.if %[[IN]]
// CHECK: memref.load %[[CU]]
// CHECK: mha.online_softmax_step
// CHECK: memref.load %{{.*}}[%c12] : memref<?xi32>
// CHECK: memref.load %{{.*}}[%c13] : memref<?xi32>
// CHECK: memref.atomic_rmw addi
func.func @packed_step(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
                       %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>,
                       %wo: tensor<64x64xf32>, %lens: tensor<?xi32>,
                       %table: tensor<?x?xi32>, %cu: tensor<?xi32>,
                       %kc: tensor<?x2x16x16xf32>, %vc: tensor<?x2x16x16xf32>)
    -> (tensor<1x?x64xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>) {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
      kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, causal, rope_theta = 1.0e4 : f32}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
        cache(tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
  return %y, %k, %v : tensor<1x?x64xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>
}
