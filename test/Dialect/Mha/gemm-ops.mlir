// RUN: mha-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The GEMM work mha-tile emits for a layer's projections print and parse
// back (their lowering: test/Conversion/MhaToVector/convert-mha-to-vector.mlir).
// CHECK-LABEL: func.func @gemm_ops
// CHECK: mha.pack_panel ins(%{{.+}} : memref<64x40xbf16>) outs(%{{.+}} : memref<32x128xbf16>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {vector_width = 16 : i64}
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x64xbf16>, memref<32x128xbf16>) bias(%{{.+}} : memref<40xbf16>) rope(%{{.+}} : memref<1x?x16xf32>) outs(%{{.+}} : memref<?x?x40xbf16>) scratch(%{{.+}} : memref<192x64xf32>) at(%{{.+}}, %{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 1024 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
func.func @gemm_ops(%w: memref<64x40xbf16>, %panel: memref<32x128xbf16>, %x: memref<?x?x64xbf16>, %bias: memref<40xbf16>,
                    %table: memref<1x?x16xf32>, %y: memref<?x?x40xbf16>, %cs: memref<192x64xf32>, %i: index) {
  mha.pack_panel ins(%w : memref<64x40xbf16>) outs(%panel : memref<32x128xbf16>) rows(%i, %i) columns(%i, %i) {vector_width = 16 : i64}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xbf16>, memref<32x128xbf16>) bias(%bias : memref<40xbf16>) rope(%table : memref<1x?x16xf32>)
      outs(%y : memref<?x?x40xbf16>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 1024 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @panel_width(%w: memref<64x40xf32>, %panel: memref<64x40xf32>, %i: index) {
  // expected-error @+1 {{'panel' must have a static width that is a multiple of 16, got 'memref<64x40xf32>'}}
  mha.pack_panel ins(%w : memref<64x40xf32>) outs(%panel : memref<64x40xf32>) rows(%i, %i) columns(%i, %i) {vector_width = 16 : i64}
  return
}

// -----

func.func @pair_panel_width(%w: memref<64x40xbf16>, %panel: memref<32x48xbf16>, %i: index) {
  // expected-error @+1 {{'panel' must have a static width that is a multiple of 32, got 'memref<32x48xbf16>'}}
  mha.pack_panel ins(%w : memref<64x40xbf16>) outs(%panel : memref<32x48xbf16>) rows(%i, %i) columns(%i, %i) {vector_width = 16 : i64}
  return
}

// -----

func.func @vector_width(%w: memref<64x40xf32>, %panel: memref<64x64xf32>, %i: index) {
  // expected-error @+1 {{attribute 'vector_width' failed to satisfy constraint}}
  mha.pack_panel ins(%w : memref<64x40xf32>) outs(%panel : memref<64x64xf32>) rows(%i, %i) columns(%i, %i) {vector_width = 0 : i64}
  return
}

// -----

func.func @block_width(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'panel' must have a static width that is a multiple of 48, got 'memref<64x64xf32>'}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 3 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @acc_scratch(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x32xf32>, %i: index) {
  // expected-error @+1 {{'acc_scratch' must be [R, 64] with a static R, got 'memref<192x32xf32>'}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x32xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @pairs_lanes(%x: memref<?x?x64xbf16>, %panel: memref<32x64xbf16>, %y: memref<?x?x32xbf16>, %cs: memref<192x32xf32>, %i: index) {
  // expected-error @+1 {{a bf16 panel (vdpbf16ps micro-kernels) needs 16 lanes and an even 'k_block', got 8 lanes and 512}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xbf16>, memref<32x64xbf16>) outs(%y : memref<?x?x32xbf16>) scratch(%cs : memref<192x32xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 2 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 32 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 8 : i64}
  return
}

// -----

func.func @odd_k_block(%x: memref<?x?x64xbf16>, %panel: memref<32x128xbf16>, %y: memref<?x?x64xbf16>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{a bf16 panel (vdpbf16ps micro-kernels) needs 16 lanes and an even 'k_block', got 16 lanes and 511}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xbf16>, memref<32x128xbf16>) outs(%y : memref<?x?x64xbf16>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 511 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @segments(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'segments' must be (start, length) pairs, got 3 values}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 32, 48>, vector_width = 16 : i64}
  return
}

// -----

func.func @empty_segment(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{segment 1 must have a start >= 0 and a length >= 1, got (48, 0)}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64, 48, 0>, vector_width = 16 : i64}
  return
}

// -----

func.func @panel_rows(%x: memref<?x?x64xbf16>, %panel: memref<32x128xbf16>, %y: memref<?x?x64xbf16>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'panel' must have the 17 rows of the segments, got 32}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xbf16>, memref<32x128xbf16>) outs(%y : memref<?x?x64xbf16>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 16, 32, 17>, vector_width = 16 : i64}
  return
}

// -----

func.func @replicas(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'replicas' must be increasing and >= 0}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 2, 1>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @no_replica(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'replicas' must list at least one replica}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @rope_table(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %table: memref<1x?x15xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'rope_table' must have a static even head dim, got 'memref<1x?x15xf32>'}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) rope(%table : memref<1x?x15xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

func.func @bias_rank(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %bias: memref<1x2x64xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{operand #2 must be 1D/2D memref of 32-bit float or 16-bit float or bfloat16 type values, but got 'memref<1x2x64xf32>'}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) bias(%bias : memref<1x2x64xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

// The rotated columns [rope_offset, rope_offset + D) lie in the panel.
func.func @rope_offset(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>, %table: memref<1x?x16xf32>, %y: memref<?x?x64xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{the rotated columns [56, 72) must lie in the 64 of the panel}}
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>) rope(%table : memref<1x?x16xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, rope_offset = 56 : i64, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

// An i8 weight is packed with its scales, and only an i8 weight.
func.func @pack_int8_without_scale(%w: memref<64x40xi8>, %panel: memref<64x64xf32>, %i: index) {
  // expected-error @+1 {{an i8 weight needs its 'scale', and only an i8 weight takes one}}
  mha.pack_panel ins(%w : memref<64x40xi8>) outs(%panel : memref<64x64xf32>) rows(%i, %i) columns(%i, %i) {vector_width = 16 : i64}
  return
}

// -----

// int4 weights come two per byte.
func.func @pack_int4_float(%w: memref<64x40xf32>, %panel: memref<64x64xf32>, %i: index) {
  // expected-error @+1 {{'int4' weights are packed in an i8 tensor}}
  mha.pack_panel ins(%w : memref<64x40xf32>) outs(%panel : memref<64x64xf32>) rows(%i, %i) columns(%i, %i) {int4, vector_width = 16 : i64}
  return
}

// -----

// The int8 GEMM ops: an int4 weight with group scales packed into an i8
// panel (K-blocks of 32: 8 rows of quads, offsets and scales each), rows
// quantized for vpdpbusd and an item on the panel that takes their scales.
// CHECK-LABEL: func.func @int8_ops
// CHECK: mha.pack_panel ins(%{{.+}} : memref<64x20xi8>) scale(%{{.+}} : memref<2x40xf32>) outs(%{{.+}} : memref<20x256xi8>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {int4, k_block = 32 : i64, vector_width = 16 : i64}
// CHECK: mha.quantize_rows ins(%{{.+}} : memref<?x?x62xf32>) outs(%{{.+}}, %{{.+}} : memref<?x?x64xi8>, memref<?x?x1xf32>) at(%{{.+}}, %{{.+}}, %{{.+}})
// CHECK: mha.gemm_tile ins(%{{.+}}, %{{.+}} : memref<?x?x64xi8>, memref<20x256xi8>) dequantize(%{{.+}} : memref<?x?x1xf32>) outs(
func.func @int8_ops(%w: memref<64x20xi8>, %scale: memref<2x40xf32>, %x: memref<?x?x62xf32>, %q: memref<?x?x64xi8>, %s: memref<?x?x1xf32>, %panel: memref<20x256xi8>,
                    %y: memref<?x?x40xf32>, %cs: memref<192x64xf32>, %i: index) {
  mha.pack_panel ins(%w : memref<64x20xi8>) scale(%scale : memref<2x40xf32>) outs(%panel : memref<20x256xi8>) rows(%i, %i) columns(%i, %i) {int4, k_block = 32 : i64, vector_width = 16 : i64}
  mha.quantize_rows ins(%x : memref<?x?x62xf32>) outs(%q, %s : memref<?x?x64xi8>, memref<?x?x1xf32>) at(%i, %i, %i)
  mha.gemm_tile ins(%q, %panel : memref<?x?x64xi8>, memref<20x256xi8>) dequantize(%s : memref<?x?x1xf32>)
      outs(%y : memref<?x?x40xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 32 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 62>, vector_width = 16 : i64}
  return
}

// -----

func.func @quantize_rows_padding(%x: memref<?x?x62xf32>, %q: memref<?x?x62xi8>, %s: memref<?x?x1xf32>, %i: index) {
  // expected-error @+1 {{'output' must have static columns K' >= K = 62, a multiple of 4, got 'memref<?x?x62xi8>'}}
  mha.quantize_rows ins(%x : memref<?x?x62xf32>) outs(%q, %s : memref<?x?x62xi8>, memref<?x?x1xf32>) at(%i, %i, %i)
  return
}

// -----

func.func @int8_panel_without_scales(%q: memref<?x?x64xi8>, %panel: memref<18x256xi8>, %y: memref<?x?x40xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{an i8 panel (vpdpbusd micro-kernels) takes an i8 input and 'dequantize' scales, and only it}}
  mha.gemm_tile ins(%q, %panel : memref<?x?x64xi8>, memref<18x256xi8>)
      outs(%y : memref<?x?x40xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 256 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 62>, vector_width = 16 : i64}
  return
}

// -----

func.func @int8_segment_start(%q: memref<?x?x64xi8>, %s: memref<?x?x1xf32>, %panel: memref<17x256xi8>, %y: memref<?x?x40xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{an i8 panel's segments start at multiples of 4, got 2}}
  mha.gemm_tile ins(%q, %panel : memref<?x?x64xi8>, memref<17x256xi8>) dequantize(%s : memref<?x?x1xf32>)
      outs(%y : memref<?x?x40xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 256 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 2, 60>, vector_width = 16 : i64}
  return
}

// -----

// The K-blocks of an i8 panel end with their offsets and scales.
func.func @int8_panel_rows(%q: memref<?x?x64xi8>, %s: memref<?x?x1xf32>, %panel: memref<16x256xi8>, %y: memref<?x?x40xf32>, %cs: memref<192x64xf32>, %i: index) {
  // expected-error @+1 {{'panel' must have the 18 rows of the segments, got 16}}
  mha.gemm_tile ins(%q, %panel : memref<?x?x64xi8>, memref<16x256xi8>) dequantize(%s : memref<?x?x1xf32>)
      outs(%y : memref<?x?x40xf32>) scratch(%cs : memref<192x64xf32>) at(%i, %i, %i) columns(%i, %i)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 256 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 62>, vector_width = 16 : i64}
  return
}

// -----

func.func @int8_panel_without_k_block(%w: memref<64x40xi8>, %scale: memref<40xf32>, %panel: memref<18x256xi8>, %i: index) {
  // expected-error @+1 {{an i8 panel holds an i8 weight in K-blocks of a 'k_block' multiple of 4}}
  mha.pack_panel ins(%w : memref<64x40xi8>) scale(%scale : memref<40xf32>) outs(%panel : memref<18x256xi8>) rows(%i, %i) columns(%i, %i) {vector_width = 16 : i64}
  return
}

// -----

// One head's rows of an absorbed latent step's query product.
// CHECK-LABEL: func.func @head_gemm
// CHECK: mha.head_gemm ins(%{{.+}}, %{{.+}} : memref<?x?x60xf32>, memref<20x66xbf16>) outs(%{{.+}} : memref<?x?x84xf32>) at(%{{.+}}, %{{.+}}, %{{.+}}) head(%{{.+}}) {num_heads = 3 : i64, transpose_weight, vector_width = 16 : i64}
func.func @head_gemm(%q: memref<?x?x60xf32>, %wv: memref<20x66xbf16>, %y: memref<?x?x84xf32>, %i: index) {
  mha.head_gemm ins(%q, %wv : memref<?x?x60xf32>, memref<20x66xbf16>) outs(%y : memref<?x?x84xf32>)
      at(%i, %i, %i) head(%i) {num_heads = 3 : i64, transpose_weight, vector_width = 16 : i64}
  return
}

// -----

func.func @head_gemm_slice(%o: memref<?x?x60xf32>, %wv: memref<20x66xf32>, %y: memref<?x?x30xf32>, %i: index) {
  // expected-error @+1 {{'weight_offset' = 13 puts each head's 10 weight columns past its 22}}
  mha.head_gemm ins(%o, %wv : memref<?x?x60xf32>, memref<20x66xf32>) outs(%y : memref<?x?x30xf32>)
      at(%i, %i, %i) head(%i) {num_heads = 3 : i64, weight_offset = 13 : i64, vector_width = 16 : i64}
  return
}

// -----

// A layer backward's GEMM work: panels of a transposed weight, and blocks
// of a weight's and a bias's gradient.
// CHECK-LABEL: func.func @backward_gemm_ops
// CHECK: mha.pack_panel ins(%{{.+}} : memref<40x64xf32>) outs(%{{.+}} : memref<64x64xf32>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {transpose, vector_width = 16 : i64}
// CHECK: mha.weight_grad_tile ins(%{{.+}} : memref<?x?x64xf32>) grads(%{{.+}} : memref<?x?x96xf32>) outs(%{{.+}} : memref<64x32xf32>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {g_offset = 32 : i64, replica_stride = 16 : i64, replicas = 2 : i64, vector_width = 16 : i64}
// CHECK: mha.weight_grad_tile grads(%{{.+}} : memref<?x?x96xf32>) outs(%{{.+}} : memref<1x96xbf16>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {vector_width = 16 : i64}
// CHECK: mha.weight_grad_tile ins(%{{.+}} : memref<?x?x64xf32>) grads(%{{.+}} : memref<?x?x96xf32>) outs(%{{.+}} : memref<64x32xf32>) rows(%{{.+}}, %{{.+}}) columns(%{{.+}}, %{{.+}}) {bf16_pairs, vector_width = 16 : i64}
func.func @backward_gemm_ops(%w: memref<40x64xf32>, %panel: memref<64x64xf32>, %x: memref<?x?x64xf32>,
                             %g: memref<?x?x96xf32>, %dw: memref<64x32xf32>, %db: memref<1x96xbf16>, %i: index) {
  mha.pack_panel ins(%w : memref<40x64xf32>) outs(%panel : memref<64x64xf32>) rows(%i, %i) columns(%i, %i) {transpose, vector_width = 16 : i64}
  mha.weight_grad_tile ins(%x : memref<?x?x64xf32>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xf32>)
      rows(%i, %i) columns(%i, %i) {g_offset = 32 : i64, replicas = 2 : i64, replica_stride = 16 : i64, vector_width = 16 : i64}
  mha.weight_grad_tile grads(%g : memref<?x?x96xf32>) outs(%db : memref<1x96xbf16>) rows(%i, %i) columns(%i, %i) {vector_width = 16 : i64}
  mha.weight_grad_tile ins(%x : memref<?x?x64xf32>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xf32>) rows(%i, %i) columns(%i, %i) {bf16_pairs, vector_width = 16 : i64}
  return
}

// -----

func.func @transpose_quantized(%w: memref<64x40xi8>, %s: memref<40xf32>, %panel: memref<64x64xf32>, %i: index) {
  // expected-error @+1 {{a 'transpose' weight is not quantized}}
  mha.pack_panel ins(%w : memref<64x40xi8>) scale(%s : memref<40xf32>) outs(%panel : memref<64x64xf32>) rows(%i, %i) columns(%i, %i) {transpose, vector_width = 16 : i64}
  return
}

// -----

func.func @bias_grad_replicas(%g: memref<?x?x96xf32>, %db: memref<1x96xf32>, %i: index) {
  // expected-error @+1 {{a bias gradient (no 'a') has 'replicas' = 1}}
  mha.weight_grad_tile grads(%g : memref<?x?x96xf32>) outs(%db : memref<1x96xf32>) rows(%i, %i) columns(%i, %i) {replicas = 2 : i64, replica_stride = 16 : i64, vector_width = 16 : i64}
  return
}

// -----

func.func @grad_replica_stride(%x: memref<?x?x64xf32>, %g: memref<?x?x96xf32>, %dw: memref<64x32xf32>, %i: index) {
  // expected-error @+1 {{'replica_stride' must be > 0 with 'replicas' = 3}}
  mha.weight_grad_tile ins(%x : memref<?x?x64xf32>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xf32>) rows(%i, %i) columns(%i, %i) {replicas = 3 : i64, vector_width = 16 : i64}
  return
}

// -----

func.func @grad_pairs_bias(%g: memref<?x?x96xf32>, %db: memref<1x96xf32>, %i: index) {
  // expected-error @+1 {{'bf16_pairs' needs 'a' and 'vector_width' = 16, got no 'a' and 'vector_width' = 16}}
  mha.weight_grad_tile grads(%g : memref<?x?x96xf32>) outs(%db : memref<1x96xf32>) rows(%i, %i) columns(%i, %i) {bf16_pairs, vector_width = 16 : i64}
  return
}

// -----

func.func @grad_pairs_width(%x: memref<?x?x64xf32>, %g: memref<?x?x96xf32>, %dw: memref<64x32xf32>, %i: index) {
  // expected-error @+1 {{'bf16_pairs' needs 'a' and 'vector_width' = 16, got 'vector_width' = 8}}
  mha.weight_grad_tile ins(%x : memref<?x?x64xf32>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xf32>) rows(%i, %i) columns(%i, %i) {bf16_pairs, vector_width = 8 : i64}
  return
}

// -----

func.func @grad_vector_width(%x: memref<?x?x64xf32>, %g: memref<?x?x96xf32>, %dw: memref<64x32xf32>, %i: index) {
  // expected-error @+1 {{'vector_width' must be a multiple of 4, got 6}}
  mha.weight_grad_tile ins(%x : memref<?x?x64xf32>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xf32>) rows(%i, %i) columns(%i, %i) {vector_width = 6 : i64}
  return
}
