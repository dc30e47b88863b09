// RUN: mha-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of the serving operands of mha.attention
// (docs/language.md 4.6): their types, the combinations that are refused and
// the sizes that must agree with the sequences.

// Lengths are i32.
func.func @kv_lens_i64(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xf32>, %v: tensor<2x2x32x16xf32>, %l: tensor<2xi64>) {
  // expected-error @+1 {{'kv_lens' must be a ranked tensor of i32 [S], got 'tensor<2xi64>'}}
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<2xi64>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// A block table has rank 2.
func.func @table_rank1(%q: tensor<2x4x8x16xf32>, %k: tensor<9x2x16x16xf32>, %v: tensor<9x2x16x16xf32>, %l: tensor<2xi32>, %t: tensor<2xi32>) {
  // expected-error @+1 {{'block_table' must be a ranked tensor of i32 [S, max_pages], got 'tensor<2xi32>'}}
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<2xi32>) block_table(%t : tensor<2xi32>) : tensor<2x4x8x16xf32>, tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Offsets are rank 1.
func.func @cu_rank2(%q: tensor<1x4x8x16xf32>, %k: tensor<3x2x32x16xf32>, %v: tensor<3x2x32x16xf32>, %c: tensor<4x1xi32>) {
  // expected-error @+1 {{'cu_seqlens_q' must be a ranked tensor of i32 [S + 1], got 'tensor<4x1xi32>'}}
  %o = mha.attention %q, %k, %v cu_seqlens_q(%c : tensor<4x1xi32>) : tensor<1x4x8x16xf32>, tensor<3x2x32x16xf32>, tensor<3x2x32x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// One source of query lengths.
func.func @q_lens_and_cu_q(%q: tensor<1x4x8x16xf32>, %k: tensor<3x2x32x16xf32>, %v: tensor<3x2x32x16xf32>, %l: tensor<3xi32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'q_lens' and 'cu_seqlens_q' both give the query lengths: use one}}
  %o = mha.attention %q, %k, %v q_lens(%l : tensor<3xi32>) cu_seqlens_q(%c : tensor<4xi32>) : tensor<1x4x8x16xf32>, tensor<3x2x32x16xf32>, tensor<3x2x32x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// One source of key lengths.
func.func @kv_lens_and_cu_k(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x16xf32>, %l: tensor<3xi32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) {
  // expected-error @+1 {{'kv_lens' and 'cu_seqlens_k' both give the key lengths: use one}}
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<3xi32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) : tensor<1x4x8x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Pages need the key count of each sequence.
func.func @table_without_kv_lens(%q: tensor<2x4x8x16xf32>, %k: tensor<9x2x16x16xf32>, %v: tensor<9x2x16x16xf32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{'block_table' needs 'kv_lens': the number of keys in each sequence's pages}}
  %o = mha.attention %q, %k, %v block_table(%t : tensor<2x4xi32>) : tensor<2x4x8x16xf32>, tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Packed queries are one batch element.
func.func @packed_q_batch(%q: tensor<?x4x8x16xf32>, %k: tensor<3x2x32x16xf32>, %v: tensor<3x2x32x16xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'query' batch size (dim 0) must be 1 with 'cu_seqlens_q' (its sequences are packed along dim 2), got ?}}
  %o = mha.attention %q, %k, %v cu_seqlens_q(%c : tensor<4xi32>) : tensor<?x4x8x16xf32>, tensor<3x2x32x16xf32>, tensor<3x2x32x16xf32> -> tensor<?x4x8x16xf32>
  return
}

// -----

// So are packed keys.
func.func @packed_k_batch(%q: tensor<3x4x8x16xf32>, %k: tensor<2x2x32x16xf32>, %v: tensor<2x2x32x16xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'key' batch size (dim 0) must be 1 with 'cu_seqlens_k' (its sequences are packed along dim 2), got 2}}
  %o = mha.attention %q, %k, %v cu_seqlens_k(%c : tensor<4xi32>) : tensor<3x4x8x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32> -> tensor<3x4x8x16xf32>
  return
}

// -----

// Offsets need at least the end.
func.func @cu_empty(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x16xf32>, %c: tensor<0xi32>, %ck: tensor<0xi32>) {
  // expected-error @+1 {{'cu_seqlens_q' must hold S + 1 >= 1 offsets, got 0}}
  %o = mha.attention %q, %k, %v cu_seqlens_q(%c : tensor<0xi32>) cu_seqlens_k(%ck : tensor<0xi32>) : tensor<1x4x8x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Lengths have one entry per sequence (the query's batch).
func.func @kv_lens_size(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xf32>, %v: tensor<2x2x32x16xf32>, %l: tensor<3xi32>) {
  // expected-error @+1 {{'kv_lens' dim 0 is 3 but must be 2 (S, S = 2 sequences from 'query')}}
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<3xi32>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// ... or per packed sequence.
func.func @table_size_packed(%q: tensor<1x4x8x16xf32>, %k: tensor<9x2x16x16xf32>, %v: tensor<9x2x16x16xf32>, %l: tensor<3xi32>, %t: tensor<2x5xi32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'block_table' dim 0 is 2 but must be 3 (S, S = 3 sequences from 'cu_seqlens_q')}}
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<3xi32>) block_table(%t : tensor<2x5xi32>) cu_seqlens_q(%c : tensor<4xi32>) : tensor<1x4x8x16xf32>, tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Key offsets: S + 1 of them.
func.func @cu_k_size(%q: tensor<2x4x8x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x16xf32>, %c: tensor<2xi32>) {
  // expected-error @+1 {{'cu_seqlens_k' dim 0 is 2 but must be 3 (S + 1, S = 2 sequences from 'query')}}
  %o = mha.attention %q, %k, %v cu_seqlens_k(%c : tensor<2xi32>) : tensor<2x4x8x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Dense keys with packed queries: one batch element per sequence.
func.func @dense_keys_size(%q: tensor<1x4x8x16xf32>, %k: tensor<2x2x32x16xf32>, %v: tensor<2x2x32x16xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{'key' dim 0 is 2 but must be 3 (S, S = 3 sequences from 'cu_seqlens_q')}}
  %o = mha.attention %q, %k, %v cu_seqlens_q(%c : tensor<4xi32>) : tensor<1x4x8x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Page pools of keys and values agree.
func.func @pool_page_size(%q: tensor<2x4x8x16xf32>, %k: tensor<9x2x16x16xf32>, %v: tensor<9x2x8x16xf32>, %l: tensor<2xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{'value' sequence length (dim 2) is 8 but 'key' has 16}}
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<2x4x8x16xf32>, tensor<9x2x16x16xf32>, tensor<9x2x8x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Probabilities have no [B, Hq, Lq, Lk] layout for pages.
func.func @probs_paged(%q: tensor<2x4x8x16xf32>, %k: tensor<9x2x16x16xf32>, %v: tensor<9x2x16x16xf32>, %l: tensor<2xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{'return_probs' is not supported with paged or packed sequences (block_table, cu_seqlens_q, cu_seqlens_k)}}
  %o, %p = mha.attention %q, %k, %v kv_lens(%l : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) {return_probs} : tensor<2x4x8x16xf32>, tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32> -> tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
  return
}

// -----

// Padded and packed batches train; paged ones do not.
// expected-error @+1 {{'mha.backward' of an mha.attention over paged keys (block_table) is not supported: paged caches are for inference}}
func.func @backward_paged(%q: tensor<2x4x8x16xf32>, %k: tensor<9x2x16x16xf32>, %v: tensor<9x2x16x16xf32>, %l: tensor<2xi32>, %t: tensor<2x4xi32>) -> (tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%l : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) {return_lse} : tensor<2x4x8x16xf32>, tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32> -> tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
  return %o, %lse : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
}

// -----

// expected-error @+1 {{'mha.backward' of an mha.attention with packed keys (cu_seqlens_k) needs packed queries (cu_seqlens_q) too}}
func.func @backward_packed_keys(%q: tensor<2x4x8x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x16xf32>, %ck: tensor<3xi32>) -> (tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_k(%ck : tensor<3xi32>) {return_lse} : tensor<2x4x8x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32> -> tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
  return %o, %lse : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
}

// -----

// mha.append_kv: the caches have the element type of the new keys.
func.func @append_dtype(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<2xi32>, %kc: tensor<2x2x64x16xf16>, %vc: tensor<2x2x64x16xf16>) {
  // expected-error @+1 {{'key_cache' element type 'f16' must match 'key_new' element type 'f32'}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x64x16xf16>, tensor<2x2x64x16xf16> -> tensor<2x2x64x16xf16>, tensor<2x2x64x16xf16>
  return
}

// -----

// A contiguous cache has one batch element per sequence.
func.func @append_batch(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<2xi32>, %kc: tensor<3x2x64x16xf32>, %vc: tensor<3x2x64x16xf32>) {
  // expected-error @+1 {{'key_cache' batch size (dim 0) is 3 but 'key_new' has 2}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<3x2x64x16xf32>, tensor<3x2x64x16xf32> -> tensor<3x2x64x16xf32>, tensor<3x2x64x16xf32>
  return
}

// -----

// The caches have the new keys' heads and head dim.
func.func @append_heads(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x8xf32>, %l: tensor<2xi32>, %t: tensor<2x4xi32>, %kc: tensor<9x2x16x16xf32>, %vc: tensor<9x2x16x16xf32>) {
  // expected-error @+1 {{'value_cache' head dim (dim 3) is 16 but 'value_new' has 8}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x8xf32>, tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32> -> tensor<9x2x16x16xf32>, tensor<9x2x16x16xf32>
  return
}

// -----

// One length per sequence.
func.func @append_lens(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<3xi32>, %kc: tensor<2x2x64x16xf32>, %vc: tensor<2x2x64x16xf32>) {
  // expected-error @+1 {{'kv_lens' size (dim 0) is 3 but 'key_new' has 2}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<3xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32> -> tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return
}

// -----

// RoPE rotates pairs (i, i + D/2).
func.func @append_rope_odd(%kn: tensor<2x2x1x15xf32>, %vn: tensor<2x2x1x15xf32>, %l: tensor<2xi32>, %kc: tensor<2x2x64x15xf32>, %vc: tensor<2x2x64x15xf32>) {
  // expected-error @+1 {{'rope_theta' rotates pairs (i, i + D/2): the head dim D must be even, got 15}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) {rope_theta = 1.0e4 : f32} : tensor<2x2x1x15xf32>, tensor<2x2x1x15xf32>, tensor<2x2x64x15xf32>, tensor<2x2x64x15xf32> -> tensor<2x2x64x15xf32>, tensor<2x2x64x15xf32>
  return
}

// -----

func.func @append_rope_zero(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<2xi32>, %kc: tensor<2x2x64x16xf32>, %vc: tensor<2x2x64x16xf32>) {
  // expected-error @+1 {{'rope_theta' must be finite and > 0, got 0}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) {rope_theta = 0.0 : f32} : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32> -> tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return
}

// -----

// The results are the caches.
func.func @append_results(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<2xi32>, %kc: tensor<2x2x64x16xf32>, %vc: tensor<2x2x64x16xf32>) {
  // expected-error @+1 {{results must have the types of the caches}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32> -> tensor<2x2x?x16xf32>, tensor<2x2x64x16xf32>
  return
}

// -----

// An i8 cache needs its scales.
func.func @k_i8_no_scales(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xi8>, %v: tensor<2x2x32x16xi8>) {
  // expected-error @+1 {{'key' is i8: a quantized cache needs its scales, kv_scales(%key_scale, %value_scale : ...)}}
  %o = mha.attention %q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x32x16xi8>, tensor<2x2x32x16xi8> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Scales go with i8 keys and values.
func.func @scales_f32_cache(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xf32>, %v: tensor<2x2x32x16xf32>, %s: tensor<2xf32>) {
  // expected-error @+1 {{'key' element type must be i8 with 'kv_scales', got 'f32'}}
  %o = mha.attention %q, %k, %v kv_scales(%s, %s : tensor<2xf32>, tensor<2xf32>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Values are quantized with the keys.
func.func @v_not_i8(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xi8>, %v: tensor<2x2x32x16xf32>, %s: tensor<2xf32>) {
  // expected-error @+1 {{'value' element type must be i8 with 'kv_scales', got 'f32'}}
  %o = mha.attention %q, %k, %v kv_scales(%s, %s : tensor<2xf32>, tensor<2xf32>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xi8>, tensor<2x2x32x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Scales are f32.
func.func @scales_f16(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xi8>, %v: tensor<2x2x32x16xi8>, %s: tensor<2xf16>) {
  // expected-error @+1 {{'key_scale' must be a ranked f32 tensor [Hkv], got 'tensor<2xf16>'}}
  %o = mha.attention %q, %k, %v kv_scales(%s, %s : tensor<2xf16>, tensor<2xf16>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xi8>, tensor<2x2x32x16xi8> -> tensor<2x4x8x16xf32>
  return
}

// -----

// One scale per KV head.
func.func @scales_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xi8>, %v: tensor<2x2x32x16xi8>, %s: tensor<2xf32>, %t: tensor<4xf32>) {
  // expected-error @+1 {{'value_scale' head count (dim 0) is 4 but 'key' has 2}}
  %o = mha.attention %q, %k, %v kv_scales(%s, %t : tensor<2xf32>, tensor<4xf32>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xi8>, tensor<2x2x32x16xi8> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Per-page scales need pages.
func.func @page_scales_dense(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xi8>, %v: tensor<2x2x32x16xi8>, %s: tensor<2x2xf32>) {
  // expected-error @+1 {{'key_scale' must be a ranked f32 tensor [Hkv], got 'tensor<2x2xf32>'}}
  %o = mha.attention %q, %k, %v kv_scales(%s, %s : tensor<2x2xf32>, tensor<2x2xf32>) : tensor<2x4x8x16xf32>, tensor<2x2x32x16xi8>, tensor<2x2x32x16xi8> -> tensor<2x4x8x16xf32>
  return
}

// -----

// A paged cache's scales: one per page and KV head.
func.func @page_scales_pages(%q: tensor<2x4x8x16xf32>, %k: tensor<9x2x16x16xi8>, %v: tensor<9x2x16x16xi8>, %s: tensor<8x2xf32>, %l: tensor<2xi32>, %t: tensor<2x3xi32>) {
  // expected-error @+1 {{'key_scale' page count (dim 0) is 8 but 'key' has 9}}
  %o = mha.attention %q, %k, %v kv_scales(%s, %s : tensor<8x2xf32>, tensor<8x2xf32>) kv_lens(%l : tensor<2xi32>) block_table(%t : tensor<2x3xi32>) : tensor<2x4x8x16xf32>, tensor<9x2x16x16xi8>, tensor<9x2x16x16xi8> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Quantized caches are for inference: no backward.
// expected-error @+1 {{'mha.backward' of an mha.attention over a quantized cache (kv_scales) is not supported: quantized caches are for inference}}
func.func @backward_int8(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x32x16xi8>, %v: tensor<2x2x32x16xi8>, %s: tensor<2xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v kv_scales(%s, %s : tensor<2xf32>, tensor<2xf32>) {return_lse} : tensor<2x4x8x16xf32>, tensor<2x2x32x16xi8>, tensor<2x2x32x16xi8> -> tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
  return %o, %lse : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
}

// -----

// mha.append_kv into an i8 cache needs the scales to quantize with.
func.func @append_int8_no_scales(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<2xi32>, %kc: tensor<2x2x64x16xi8>, %vc: tensor<2x2x64x16xi8>) {
  // expected-error @+1 {{'key_cache' is i8: a quantized cache needs its scales, kv_scales(%key_scale, %value_scale : ...)}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8> -> tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8>
  return
}

// -----

// The scales of an append's cache: one per KV head of the cache.
func.func @append_scale_heads(%kn: tensor<2x2x1x16xf32>, %vn: tensor<2x2x1x16xf32>, %l: tensor<2xi32>, %s: tensor<3xf32>, %kc: tensor<2x2x64x16xi8>, %vc: tensor<2x2x64x16xi8>) {
  // expected-error @+1 {{'key_scale' head count (dim 0) is 3 but 'key_cache' has 2}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_scales(%s, %s : tensor<3xf32>, tensor<3xf32>) kv_lens(%l : tensor<2xi32>) : tensor<2x2x1x16xf32>, tensor<2x2x1x16xf32>, tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8> -> tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8>
  return
}

// -----

// Values come with their cache.
func.func @append_values_without_cache(%kn: tensor<2x1x1x28xf32>, %vn: tensor<2x1x1x20xf32>,
    %kc: tensor<2x1x64x28xf32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{new values, a value cache and the updated value cache go together: all three or none}}
  %k = "mha.append_kv"(%kn, %vn, %kc, %l) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1, 0, 0, 0>}>
      : (tensor<2x1x1x28xf32>, tensor<2x1x1x20xf32>, tensor<2x1x64x28xf32>, tensor<2xi32>) -> tensor<2x1x64x28xf32>
  return
}

// -----

// Two types (keys only) or four.
func.func @append_three_types(%kn: tensor<2x1x1x28xf32>, %vn: tensor<2x1x1x20xf32>,
    %kc: tensor<2x1x64x28xf32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{expected the types of k_new, v_new, k_cache and v_cache, or of k_new and k_cache}}
  %k = mha.append_kv %kn, %vn into %kc kv_lens(%l : tensor<2xi32>) : tensor<2x1x1x28xf32>, tensor<2x1x1x20xf32>, tensor<2x1x64x28xf32> -> tensor<2x1x64x28xf32>
  return
}

// -----

// An append of keys only does not rotate or quantize.
func.func @append_keys_only_rope(%kn: tensor<2x1x1x28xf32>, %kc: tensor<2x1x64x28xf32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{an append without values takes neither 'kv_scales' nor 'rope_theta'}}
  %k = mha.append_kv %kn into %kc kv_lens(%l : tensor<2xi32>) {rope_theta = 10000.0 : f32} : tensor<2x1x1x28xf32>, tensor<2x1x64x28xf32> -> tensor<2x1x64x28xf32>
  return
}

// -----

func.func @append_keys_only_width(%kn: tensor<2x1x1x28xf32>, %kc: tensor<2x1x64x20xf32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'key_cache' head dim (dim 3) is 20 but 'key_new' has 28}}
  %k = mha.append_kv %kn into %kc kv_lens(%l : tensor<2xi32>) : tensor<2x1x1x28xf32>, tensor<2x1x64x20xf32> -> tensor<2x1x64x20xf32>
  return
}

// -----

// mha.append_kv: packed new keys are one batch element.
func.func @append_packed_batch(%kn: tensor<2x2x5x16xf32>, %vn: tensor<2x2x5x16xf32>, %kc: tensor<2x2x64x16xf32>, %vc: tensor<2x2x64x16xf32>, %l: tensor<2xi32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{'key_new' batch size (dim 0) must be 1 with 'cu_seqlens_q' (packed new keys), got 'tensor<2x2x5x16xf32>'}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) cu_seqlens_q(%cu : tensor<3xi32>) : tensor<2x2x5x16xf32>, tensor<2x2x5x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32> -> tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return
}

// -----

// mha.append_kv: one source of each sequence's new keys.
func.func @append_q_lens_and_offsets(%kn: tensor<1x2x5x16xf32>, %vn: tensor<1x2x5x16xf32>, %kc: tensor<2x2x64x16xf32>, %vc: tensor<2x2x64x16xf32>, %l: tensor<2xi32>, %ql: tensor<1xi32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{'q_lens' and 'cu_seqlens_q' both give the new keys of each sequence: use one}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) q_lens(%ql : tensor<1xi32>) cu_seqlens_q(%cu : tensor<3xi32>) : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32> -> tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return
}

// -----

// mha.append_kv: q_lens has one entry per sequence.
func.func @append_q_lens_size(%kn: tensor<2x2x5x16xf32>, %vn: tensor<2x2x5x16xf32>, %kc: tensor<2x2x64x16xf32>, %vc: tensor<2x2x64x16xf32>, %l: tensor<2xi32>, %ql: tensor<3xi32>) {
  // expected-error @+1 {{'q_lens' size (dim 0) is 3 but 'key_new' has 2}}
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<2xi32>) q_lens(%ql : tensor<3xi32>) : tensor<2x2x5x16xf32>, tensor<2x2x5x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32> -> tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>
  return
}
