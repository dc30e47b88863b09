// RUN: mha-opt %s -split-input-file -mha-tile -verify-diagnostics | FileCheck %s
// RUN: mha-opt %s -split-input-file -mha-tile="rows=8 cols=32 band-rows=4 vector-width=8 score-rows=2" -verify-diagnostics | FileCheck %s --check-prefix=OPTS
// RUN: mha-opt %s -split-input-file -mha-tile="bf16-dot=true" -verify-diagnostics | FileCheck %s --check-prefix=BF16DOT
// RUN: mha-opt %s -split-input-file -mha-tile="bf16-dot=true vector-width=8" -verify-diagnostics | FileCheck %s --check-prefix=BF16AVX2

// Plain attention becomes a work-item kernel with the C interface and an
// entry point naming the exported function; the tensors become strided
// memrefs and (b, h, t, alive) follow them. Tiles are chosen from the head
// dim and the masks (512 query rows where every key is visible, 128 keys
// for D = 16, scores in bands of 64 rows); the f32 query rows are copied
// into contiguous rows once (read in place, rows of a [B, L, H, D] view
// would evict each other from L1), and each step gets scratch buffers and
// its micro-kernel shape.
// CHECK-LABEL: func.func @plain__kernel
// CHECK-SAME:    %{{[a-z0-9]+}}: memref<?x4x?x16xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-SAME:    %{{[a-z0-9]+}}: index, %{{[a-z0-9]+}}: index, %{{[a-z0-9]+}}: index, %{{[a-z0-9]+}}: i1
// CHECK-SAME:    llvm.emit_c_interface
// CHECK-SAME:    mha.entry_point = #mha.entry_point<name = "plain", rowsPerItem = 512, gridHeads = 4, roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>]
// CHECK:         %[[ACC:.+]] = memref.alloca() {alignment = 64 : i64} : memref<512x16xf32>
// CHECK-NOT:     memref.alloca() {alignment = 64 : i64} : memref<512x16xf32>
// CHECK:         memref.alloca() {alignment = 64 : i64} : memref<16x128xf32>
// CHECK:         memref.alloca() {alignment = 64 : i64} : memref<128x16xf32>
// CHECK:         memref.alloca() {alignment = 64 : i64} : memref<64x128xf32>
// CHECK:         scf.for
// CHECK:           vector.store %{{.+}}, %[[ACC]]
// CHECK:         %[[QROWS:.+]] = memref.alloca() {alignment = 64 : i64} : memref<512x16xf32>
// CHECK:         scf.for
// CHECK:           %[[QROW:.+]] = vector.load %{{.+}} : memref<?x16xf32, strided<[?, 1], offset: ?>>, vector<16xf32>
// CHECK:           vector.store %[[QROW]], %[[QROWS]]
// CHECK:         scf.if
// CHECK:           scf.for
// CHECK:             mha.online_softmax_step
// CHECK-SAME:          micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 1>
// CHECK:         mha.online_softmax_finalize
// CHECK-NOT:     mha.attention_probs
// CHECK-NOT:     func.func @plain(
// OPTS-LABEL: func.func @plain__kernel
// OPTS-SAME:    rowsPerItem = 8
// OPTS:         memref.alloca() {alignment = 64 : i64} : memref<8x16xf32>
// OPTS:         memref.alloca() {alignment = 64 : i64} : memref<16x32xf32>
// OPTS:         memref.alloca() {alignment = 64 : i64} : memref<4x32xf32>
// OPTS:         micro_kernel = #mha.micro_kernel<vectorWidth = 8, scoreRows = 2, scoreVectors = 2, outputRows = 4, outputVectors = 2>
func.func @plain(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// Per-head windows become constant tables indexed by the head; GQA divides
// the head by the group size to find the KV head.
// CHECK: memref.global "private" constant @local__window_left : memref<4xindex> = dense<[8, -1, 8, -1]>
// CHECK-LABEL: func.func @local__kernel
// CHECK:         %[[KV:.+]] = arith.divui %{{.+}}, %c2
// CHECK:         memref.get_global @local__window_left
// CHECK:         memref.subview %{{.+}}[%{{.+}}, %[[KV]], %{{.+}}, %{{.+}}]
// CHECK:         mha.online_softmax_step {{.*}} {causal, masked, micro_kernel
// CHECK:         mha.online_softmax_step {{.*}} {causal, micro_kernel
func.func @local(%q: tensor<2x4x?x16xf16>, %k: tensor<2x2x?x16xf16>, %v: tensor<2x2x?x16xf16>) -> tensor<2x4x?x16xf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 8, -1, 8, -1>} : tensor<2x4x?x16xf16>, tensor<2x2x?x16xf16>, tensor<2x2x?x16xf16> -> tensor<2x4x?x16xf16>
  return %o : tensor<2x4x?x16xf16>
}

// -----

// Extra results keep their roles and order; probabilities are written by a
// separate pass over the keys; entropy is tracked in the steps.
// CHECK-LABEL: func.func @extras__kernel
// CHECK-SAME:    roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>, #mha.role<lse>, #mha.role<probs>, #mha.role<entropy>]
// CHECK:         mha.online_softmax_step {{.*}}track_entropy
// CHECK:         mha.online_softmax_finalize {{.*}} lse({{.*}}) entropy({{.*}})
// CHECK:         mha.attention_probs
func.func @extras(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v {return_lse, return_probs, return_entropy} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>
  return %o, %lse, %p, %e : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>
}

// -----

// A static head mask is folded into the alive flag; per-head temperature
// and ALiBi slopes become tables of per-head constants.
// CHECK: memref.global "private" constant @pruned__head_mask : memref<2xi1> = dense<[true, false]>
// CHECK: memref.global "private" constant @pruned__alibi_slopes : memref<2xf32>
// CHECK: memref.global "private" constant @pruned__score_scale : memref<2xf32>
// CHECK-LABEL: func.func @pruned__kernel
// CHECK:         arith.andi
// CHECK:         mha.online_softmax_step {{.*}}has_alibi
func.func @pruned(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = mha.attention %q, %k, %v {head_mask = array<i1: true, false>, temperature = array<f32: 1.0, 2.0>, alibi_slopes = array<f32: 0.5, 0.25>, softcap = 30.0 : f32} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// The exported C function returns results in return order, and the same
// tensor may serve as key and value.
// CHECK-LABEL: func.func @shared_kv__kernel
// CHECK-SAME:    roles = [#mha.role<query>, #mha.role<key>, #mha.role<lse>, #mha.role<output>]
func.func @shared_kv(%q: tensor<1x2x8x16xf32>, %kv: tensor<1x2x8x16xf32>) -> (tensor<1x2x8xf32>, tensor<1x2x8x16xf32>) {
  %o, %lse = mha.attention %q, %kv, %kv {return_lse} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
  return %lse, %o : tensor<1x2x8xf32>, tensor<1x2x8x16xf32>
}

// -----

func.func @two(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  // expected-error @+1 {{'arith.addf' is not supported in an exported function}}
  %s = arith.addf %o, %o : tensor<1x2x8x16xf32>
  return %s : tensor<1x2x8x16xf32>
}

// -----

// expected-error @+1 {{function 'twice' computes more than one mha.attention}}
func.func @twice(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  %p = mha.attention %q, %k, %v {causal} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o, %p : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// expected-error @+1 {{only public function definitions are exported; 'hidden' is private}}
func.func private @hidden(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// expected-error @+1 {{'dup' returns the same result twice}}
func.func @dup(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o, %o : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// expected-error @+1 {{argument #3 of 'unused' is not used by its mha.attention}}
func.func @unused(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %x: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @layer(%x: tensor<1x8x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x64xf32>, %wv: tensor<64x64xf32>, %wo: tensor<64x64xf32>) -> tensor<1x8x64xf32> {
  // expected-error @+1 {{mha.multi_head is compiled for the CPU only, after mha-expand-layer (mha-cpu-pipeline runs it); the GPU back end compiles mha.attention functions}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4} : tensor<1x8x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32> -> tensor<1x8x64xf32>
  return %y : tensor<1x8x64xf32>
}

// -----

func.func @wide(%q: tensor<1x2x8x2048xf32>, %k: tensor<1x2x8x2048xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{head dims D = 2048, Dv = 16 are not supported by the CPU pipeline (at most 1024)}}
  %o = mha.attention %q, %k, %v : tensor<1x2x8x2048xf32>, tensor<1x2x8x2048xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// bf16 with bf16-dot: the micro-kernel says bf16_pairs, the query rows are
// read in place (no f32 packing), and the key and value scratch hold bf16
// pairs, [D/2, 2C] and [C/2, 2 Dvp] (Dv = 24 padded to 32). Without the
// option, or with 8 lanes, bf16 runs the FMA micro-kernels on f32 scratch.
// BF16DOT-LABEL: func.func @bf16_pairs__kernel
// BF16DOT-NOT:     memref<512x32xf32>, vector<32xf32>
// BF16DOT:         memref.alloca() {alignment = 64 : i64} : memref<16x256xbf16>
// BF16DOT:         memref.alloca() {alignment = 64 : i64} : memref<64x64xbf16>
// BF16DOT:         mha.online_softmax_step ins(%{{.+}}, %{{.+}}, %{{.+}} : memref<?x32xbf16, strided<[?, 1], offset: ?>>,
// BF16DOT-SAME:      scratch({{.*}} : memref<16x256xbf16>, memref<64x64xbf16>, memref<64x128xf32>, memref<512xf32>)
// BF16DOT-SAME:      micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2, dot = bf16_pairs>
// CHECK-LABEL: func.func @bf16_pairs__kernel
// CHECK:         mha.online_softmax_step ins(%{{.+}}, %{{.+}}, %{{.+}} : memref<?x32xf32,
// CHECK-SAME:      micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2>}
// BF16AVX2-LABEL: func.func @bf16_pairs__kernel
// BF16AVX2:         mha.online_softmax_step
// BF16AVX2-SAME:      micro_kernel = #mha.micro_kernel<vectorWidth = 8, scoreRows = 4, scoreVectors = 2, outputRows = 4, outputVectors = 2>}
func.func @bf16_pairs(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x24xbf16>) -> tensor<?x4x?x24xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x24xbf16> -> tensor<?x4x?x24xbf16>
  return %o : tensor<?x4x?x24xbf16>
}

// -----

// An odd head dim cannot be split in pairs: FMA micro-kernels even with
// bf16-dot.
// BF16DOT-LABEL: func.func @bf16_odd__kernel
// BF16DOT:         mha.online_softmax_step ins(%{{.+}}, %{{.+}}, %{{.+}} : memref<?x17xf32,
// BF16DOT-SAME:      outputVectors = 2>}
func.func @bf16_odd(%q: tensor<?x2x?x17xbf16>, %k: tensor<?x2x?x17xbf16>, %v: tensor<?x2x?x17xbf16>) -> tensor<?x2x?x17xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x2x?x17xbf16>, tensor<?x2x?x17xbf16>, tensor<?x2x?x17xbf16> -> tensor<?x2x?x17xbf16>
  return %o : tensor<?x2x?x17xbf16>
}

// -----

// q-tiles: 512 rows unless every head is windowed (then 128: a taller tile
// spans more masked keys); causal alone keeps 512.
// CHECK-LABEL: func.func @causal_rows__kernel
// CHECK-SAME:    rowsPerItem = 512
// CHECK-LABEL: func.func @windowed_rows__kernel
// CHECK-SAME:    rowsPerItem = 128
// CHECK-LABEL: func.func @half_windowed_rows__kernel
// CHECK-SAME:    rowsPerItem = 512
func.func @causal_rows(%q: tensor<1x2x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>) -> tensor<1x2x?x64xf32> {
  %o = mha.attention %q, %k, %v {causal} : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32> -> tensor<1x2x?x64xf32>
  return %o : tensor<1x2x?x64xf32>
}
func.func @windowed_rows(%q: tensor<1x2x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>) -> tensor<1x2x?x64xf32> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 256, 64>} : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32> -> tensor<1x2x?x64xf32>
  return %o : tensor<1x2x?x64xf32>
}
func.func @half_windowed_rows(%q: tensor<1x2x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>) -> tensor<1x2x?x64xf32> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 256, -1>} : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32> -> tensor<1x2x?x64xf32>
  return %o : tensor<1x2x?x64xf32>
}

// -----

// Tiles chosen by D alone can exceed the scratch budget when Dv is much
// larger (512 rows x 128 keys at D = 64, Dv = 384 need 1056768 bytes):
// rows are halved until they fit, so every valid spec compiles with the
// default options, up to D = Dv = 1024 with widened f16 query rows.
// CHECK-LABEL: func.func @wide_values__kernel
// CHECK-SAME:    rowsPerItem = 256
// CHECK:         memref.alloca() {alignment = 64 : i64} : memref<256x384xf32>
// CHECK-LABEL: func.func @widest_f16__kernel
// CHECK-SAME:    rowsPerItem = 32
// CHECK-LABEL: func.func @narrow_keys_wide_values__kernel
// CHECK-SAME:    rowsPerItem = 64
func.func @wide_values(%q: tensor<?x2x?x64xf32>, %k: tensor<?x2x?x64xf32>, %v: tensor<?x2x?x384xf32>) -> tensor<?x2x?x384xf32> {
  %o = mha.attention %q, %k, %v : tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x384xf32> -> tensor<?x2x?x384xf32>
  return %o : tensor<?x2x?x384xf32>
}
func.func @widest_f16(%q: tensor<?x2x?x1024xf16>, %k: tensor<?x2x?x1024xf16>, %v: tensor<?x2x?x1024xf16>) -> tensor<?x2x?x1024xf16> {
  %o = mha.attention %q, %k, %v {causal} : tensor<?x2x?x1024xf16>, tensor<?x2x?x1024xf16>, tensor<?x2x?x1024xf16> -> tensor<?x2x?x1024xf16>
  return %o : tensor<?x2x?x1024xf16>
}
func.func @narrow_keys_wide_values(%q: tensor<?x2x?x8xbf16>, %k: tensor<?x2x?x8xbf16>, %v: tensor<?x2x?x1024xbf16>) -> tensor<?x2x?x1024xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x2x?x8xbf16>, tensor<?x2x?x8xbf16>, tensor<?x2x?x1024xbf16> -> tensor<?x2x?x1024xbf16>
  return %o : tensor<?x2x?x1024xbf16>
}

// -----

// Dropout: the kernel takes the dropout words after its tensors; each step
// gets the seed and offset words, the stream b * Hq + h, the tile's first
// row and the head's threshold (floor(p * 2^32): 0.25 -> 1073741824 = 2^30,
// per head from a table); finalisation multiplies by 1 / (1 - p).
// CHECK:         memref.global "private" constant @dropout__dropout_keep_scale : memref<2xf32> = dense<[1.33333337, 1.000000e+00]>
// CHECK:         memref.global "private" constant @dropout__dropout_threshold : memref<2xindex> = dense<[1073741824, 0]>
// CHECK-LABEL: func.func @dropout__kernel(
// CHECK-SAME:    memref<?xi32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: i1)
// CHECK-SAME:    mha.call_words
// CHECK:         mha.online_softmax_step
// CHECK-SAME:    dropout(
// CHECK:         mha.online_softmax_finalize
// CHECK-SAME:    scale(
func.func @dropout(%q: tensor<?x2x?x64xf32>, %k: tensor<?x2x?x64xf32>, %v: tensor<?x2x?x64xf32>) -> tensor<?x2x?x64xf32> {
  %o = mha.attention %q, %k, %v {dropout = array<f32: 0.25, 0.0>} : tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32> -> tensor<?x2x?x64xf32>
  return %o : tensor<?x2x?x64xf32>
}

// -----

// A merge function: one kernel of 256-row items per head; each row weighs
// its two sides by exp(lse_x - max) (a side with lse -inf weighs 0) and
// writes the merged row and lse.
// CHECK-LABEL: func.func @merge__kernel(
// CHECK-SAME:    rowsPerItem = 256, gridHeads = 4
// CHECK-SAME:    roles = [#mha.role<partial_output_a>, #mha.role<partial_lse_a>, #mha.role<partial_output_b>, #mha.role<partial_lse_b>, #mha.role<output>, #mha.role<lse>]
// CHECK:         arith.maximumf
// CHECK:         math.exp
// CHECK:         math.log
// CHECK:         vector.store
// CHECK-NOT:     func.func @merge(
func.func @merge(%oa: tensor<?x4x?x16xf32>, %la: tensor<?x4x?xf32>, %ob: tensor<?x4x?x16xf32>, %lb: tensor<?x4x?xf32>) -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %l = mha.merge_states %oa, %la, %ob, %lb : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?xf32> -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %l : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// -----

// A merge function's operands are its arguments, each used once.
func.func @merge_twice(%oa: tensor<?x4x?x16xf32>, %la: tensor<?x4x?xf32>) -> tensor<?x4x?x16xf32> {
  // expected-error @+1 {{the operands of an exported mha.merge_states must be four distinct function arguments}}
  %o, %l = mha.merge_states %oa, %la, %oa, %la : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?xf32> -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o : tensor<?x4x?x16xf32>
}

// -----

// Key loops: one over the window's keys, each tile's step masked or not;
// a loop over sink keys only with sink_tokens (without them there are none:
// positions are >= 0), so a function without sinks has half the steps.
// CHECK-LABEL: func.func @no_sinks__kernel
// CHECK-COUNT-2: mha.online_softmax_step
// CHECK-NOT:     mha.online_softmax_step
// CHECK:         mha.online_softmax_finalize
// CHECK-LABEL: func.func @sinks__kernel
// CHECK-COUNT-4: mha.online_softmax_step
// CHECK-NOT:     mha.online_softmax_step
// CHECK:         mha.online_softmax_finalize
func.func @no_sinks(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal} : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
func.func @sinks(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 4} : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
