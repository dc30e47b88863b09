// RUN: mha-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of the mha verifiers (lib/Dialect/Mha/IR/MhaOps.cpp)
// and of the ODS constraints and parsers they rely on. Every malformed spec
// must give an error naming the operand or attribute at fault, never a crash.

// The query must be a ranked tensor.
func.func @query_unranked(%q: tensor<*xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' must be a ranked tensor of rank 4 [B, Hq, Lq, D], got 'tensor<*xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<*xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The query must have rank 4 ([B, Hq, Lq, D]).
func.func @query_rank3(%q: tensor<8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' must be a ranked tensor of rank 4 [B, Hq, Lq, D], got 'tensor<8x16x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The query must be a tensor, not a memref.
func.func @query_memref(%q: memref<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' must be a ranked tensor of rank 4 [B, Hq, Lq, D], got 'memref<2x8x16x64xf32>'}}
  %o = mha.attention %q, %k, %v : memref<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The key must have rank 4 ([B, Hkv, Lk, D]).
func.func @key_rank5(%q: tensor<2x8x16x64xf32>, %k: tensor<1x2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'key' must be a ranked tensor of rank 4 [B, Hkv, Lk, D], got 'tensor<1x2x2x32x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<1x2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The value must be a ranked tensor, not a vector.
func.func @value_vector(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: vector<2x2x32x64xf32>) {
  // expected-error @+1 {{'value' must be a ranked tensor of rank 4 [B, Hkv, Lk, Dv], got 'vector<2x2x32x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, vector<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Integer element types are rejected.
func.func @query_i8(%q: tensor<2x8x16x64xi8>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' element type must be f32, f16 or bf16, got 'i8'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xi8>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// f64 is not a supported element type.
func.func @query_f64(%q: tensor<2x8x16x64xf64>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' element type must be f32, f16 or bf16, got 'f64'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf64>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Complex element types are rejected.
func.func @key_complex(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xcomplex<f32>>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'key' element type must be f32, f16 or bf16, got 'complex<f32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xcomplex<f32>>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// 8-bit floats are not a supported element type.
func.func @value_f8(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf8E4M3FN>) {
  // expected-error @+1 {{'value' element type must be f32, f16 or bf16, got 'f8E4M3FN'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf8E4M3FN> -> tensor<2x8x16x64xf32>
  return
}

// -----

// q, k and v share one element type.
func.func @key_element_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf16>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'key' element type 'f16' must match 'query' element type 'f32'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The value's element type must match the query's.
func.func @value_element_mismatch(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>, %v: tensor<2x2x32x64xbf16>) {
  // expected-error @+1 {{'value' element type 'bf16' must match 'query' element type 'f16'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xbf16> -> tensor<2x8x16x64xf16>
  return
}

// -----

// H must be static.
func.func @query_dynamic_heads(%q: tensor<?x?x?x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' head count (dim 1) must be static, got ?}}
  %o = mha.attention %q, %k, %v : tensor<?x?x?x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<?x?x?x64xf32>
  return
}

// -----

// Hkv must be static.
func.func @key_dynamic_heads(%q: tensor<2x8x16x64xf32>, %k: tensor<2x?x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'key' head count (dim 1) must be static, got ?}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x?x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// D must be static.
func.func @query_dynamic_head_dim(%q: tensor<2x8x16x?xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' head dim (dim 3) must be static, got ?}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x?xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Dv must be static.
func.func @value_dynamic_head_dim(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x?xf32>) {
  // expected-error @+1 {{'value' head dim (dim 3) must be static, got ?}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x?xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// A zero head count is rejected.
func.func @query_zero_heads(%q: tensor<2x0x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' head count (dim 1) must be >= 1, got 0}}
  %o = mha.attention %q, %k, %v : tensor<2x0x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x0x16x64xf32>
  return
}

// -----

// A zero KV head count is rejected (no division by zero).
func.func @key_zero_heads(%q: tensor<2x8x16x64xf32>, %k: tensor<2x0x32x64xf32>, %v: tensor<2x0x32x64xf32>) {
  // expected-error @+1 {{'key' head count (dim 1) must be >= 1, got 0}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x0x32x64xf32>, tensor<2x0x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// A zero head dim is rejected.
func.func @query_zero_head_dim(%q: tensor<2x8x16x0xf32>, %k: tensor<2x2x32x0xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'query' head dim (dim 3) must be >= 1, got 0}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x0xf32>, tensor<2x2x32x0xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// A zero value head dim is rejected.
func.func @value_zero_head_dim(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x0xf32>) {
  // expected-error @+1 {{'value' head dim (dim 3) must be >= 1, got 0}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x0xf32> -> tensor<2x8x16x0xf32>
  return
}

// -----

// The key's batch must match the query's.
func.func @key_batch_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<3x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'key' batch size (dim 0) is 3 but 'query' has 2}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<3x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The value's batch must match the query's.
func.func @value_batch_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<4x2x32x64xf32>) {
  // expected-error @+1 {{'value' batch size (dim 0) is 4 but 'query' has 2}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<4x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// With a dynamic query batch, key and value batches must still agree.
func.func @key_value_batch_mismatch_dynamic_query(%q: tensor<?x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<3x2x32x64xf32>) {
  // expected-error @+1 {{'value' batch size (dim 0) is 3 but 'key' has 2}}
  %o = mha.attention %q, %k, %v : tensor<?x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<3x2x32x64xf32> -> tensor<?x8x16x64xf32>
  return
}

// -----

// q and k share the head dim D.
func.func @key_head_dim_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x32xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'key' head dim (dim 3) is 32 but 'query' has 64}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x32xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// k and v have the same number of heads.
func.func @value_heads_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x4x32x64xf32>) {
  // expected-error @+1 {{'value' head count (dim 1) is 4 but 'key' has 2}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x4x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// k and v have the same sequence length.
func.func @value_seq_mismatch(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x16x64xf32>) {
  // expected-error @+1 {{'value' sequence length (dim 2) is 16 but 'key' has 32}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x16x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Hq must be a multiple of Hkv.
func.func @heads_not_multiple(%q: tensor<2x6x16x64xf32>, %k: tensor<2x4x32x64xf32>, %v: tensor<2x4x32x64xf32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %o = mha.attention %q, %k, %v : tensor<2x6x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x64xf32> -> tensor<2x6x16x64xf32>
  return
}

// -----

// Hkv > Hq is not a grouping.
func.func @more_kv_heads_than_query_heads(%q: tensor<2x2x16x64xf32>, %k: tensor<2x8x32x64xf32>, %v: tensor<2x8x32x64xf32>) {
  // expected-error @+1 {{query heads (2) must be a multiple of key/value heads (8)}}
  %o = mha.attention %q, %k, %v : tensor<2x2x16x64xf32>, tensor<2x8x32x64xf32>, tensor<2x8x32x64xf32> -> tensor<2x2x16x64xf32>
  return
}

// -----

// The output has the element type of q/k/v.
func.func @output_wrong_element_type(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x64xf32>' [B, Hq, Lq, Dv], got 'tensor<2x8x16x64xf16>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf16>
  return
}

// -----

// The output's last dim is Dv, not D.
func.func @output_wrong_value_dim(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x80xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x80xf32>' [B, Hq, Lq, Dv], got 'tensor<2x8x16x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x80xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The output has Hq heads, not Hkv.
func.func @output_wrong_heads(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x64xf32>' [B, Hq, Lq, Dv], got 'tensor<2x2x16x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x2x16x64xf32>
  return
}

// -----

// The output has Lq rows, not Lk.
func.func @output_wrong_seq(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x64xf32>' [B, Hq, Lq, Dv], got 'tensor<2x8x32x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x32x64xf32>
  return
}

// -----

// A dynamic query batch takes the batch from the key.
func.func @output_wrong_batch_from_key(%q: tensor<?x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x64xf32>' [B, Hq, Lq, Dv], got 'tensor<5x8x16x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<?x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<5x8x16x64xf32>
  return
}

// -----

// The output has rank 4.
func.func @output_rank3(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x64xf32>' [B, Hq, Lq, Dv], got 'tensor<8x16x64xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<8x16x64xf32>
  return
}

// -----

// The output must be ranked.
func.func @output_unranked(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x8x16x64xf32>' [B, Hq, Lq, Dv], got 'tensor<*xf32>'}}
  %o = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<*xf32>
  return
}

// -----

// scale must be finite.
func.func @scale_nan(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'scale' must be finite and non-zero, got nan}}
  %o = mha.attention %q, %k, %v {scale = 0x7FC00000 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// scale must be finite.
func.func @scale_inf(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'scale' must be finite and non-zero, got INF}}
  %o = mha.attention %q, %k, %v {scale = 0x7F800000 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// scale must be non-zero.
func.func @scale_zero(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'scale' must be finite and non-zero, got 0.000000e+00}}
  %o = mha.attention %q, %k, %v {scale = 0.0 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// softcap must be > 0.
func.func @softcap_zero(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'softcap' must be finite and > 0, got 0.000000e+00}}
  %o = mha.attention %q, %k, %v {softcap = 0.0 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// softcap must be > 0.
func.func @softcap_negative(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'softcap' must be finite and > 0, got -3.000000e+01}}
  %o = mha.attention %q, %k, %v {softcap = -30.0 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// softcap must be finite.
func.func @softcap_inf(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'softcap' must be finite and > 0, got INF}}
  %o = mha.attention %q, %k, %v {softcap = 0x7F800000 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// softcap must not be NaN.
func.func @softcap_nan(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'softcap' must be finite and > 0, got nan}}
  %o = mha.attention %q, %k, %v {softcap = 0x7FC00000 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// sink_tokens must be >= 0.
func.func @sink_tokens_negative(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'sink_tokens' must be in [0, 2147483647], got -1}}
  %o = mha.attention %q, %k, %v {sink_tokens = -1} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// A per-head array holds 1 or Hq values.
func.func @temperature_wrong_length(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' must hold 1 or 8 (one per query head) values, got 2}}
  %o = mha.attention %q, %k, %v {temperature = array<f32: 1.0, 2.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Per-head arrays are per query head, not per KV head.
func.func @temperature_hkv_length(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' must hold 1 or 8 (one per query head) values, got 2}}
  %o = mha.attention %q, %k, %v {temperature = array<f32: 1.0, 1.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// An empty per-head array is rejected.
func.func @temperature_empty(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' must hold 1 or 8 (one per query head) values, got 0}}
  %o = mha.attention %q, %k, %v {temperature = array<f32>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// alibi_slopes holds 1 or Hq values.
func.func @alibi_slopes_wrong_length(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'alibi_slopes' must hold 1 or 8 (one per query head) values, got 9}}
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.001953125>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// An empty alibi_slopes array is rejected.
func.func @alibi_slopes_empty(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'alibi_slopes' must hold 1 or 8 (one per query head) values, got 0}}
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// window_left holds 1 or Hq values.
func.func @window_left_wrong_length(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'window_left' must hold 1 or 8 (one per query head) values, got 3}}
  %o = mha.attention %q, %k, %v {window_left = array<i64: 128, -1, 128>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// window_right holds 1 or Hq values.
func.func @window_right_wrong_length(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'window_right' must hold 1 or 8 (one per query head) values, got 0}}
  %o = mha.attention %q, %k, %v {window_right = array<i64>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// temperature values must be > 0.
func.func @temperature_zero(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' values must be finite and > 0, got 0.000000e+00 at index 1}}
  %o = mha.attention %q, %k, %v {temperature = array<f32: 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// temperature values must be > 0.
func.func @temperature_negative(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' values must be finite and > 0, got -1.000000e+00 at index 0}}
  %o = mha.attention %q, %k, %v {temperature = array<f32: -1.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// temperature values must not be NaN.
func.func @temperature_nan(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' values must be finite and > 0, got nan at index 0}}
  %o = mha.attention %q, %k, %v {temperature = array<f32: 0x7FC00000>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// temperature values must be finite.
func.func @temperature_inf(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'temperature' values must be finite and > 0, got INF at index 7}}
  %o = mha.attention %q, %k, %v {temperature = array<f32: 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0x7F800000>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// alibi_slopes values must be finite.
func.func @alibi_slopes_nan(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'alibi_slopes' values must be finite, got nan at index 0}}
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0x7FC00000>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// alibi_slopes values must be finite.
func.func @alibi_slopes_neg_inf(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'alibi_slopes' values must be finite, got -INF at index 2}}
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.5, 0.25, 0xFF800000, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// -1 is the only negative window (unbounded).
func.func @window_left_below_minus_one(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'window_left' values must be >= -1 (-1 = unbounded), got -2 at index 0}}
  %o = mha.attention %q, %k, %v {window_left = array<i64: -2>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// -1 is the only negative window (unbounded).
func.func @window_right_below_minus_one(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'window_right' values must be >= -1 (-1 = unbounded), got -100 at index 3}}
  %o = mha.attention %q, %k, %v {window_right = array<i64: 0, 0, 0, -100, 0, 0, 0, 0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// head_mask holds exactly Hq values (no broadcast).
func.func @head_mask_too_short(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'head_mask' must hold exactly 8 (one per query head) values, got 1}}
  %o = mha.attention %q, %k, %v {head_mask = array<i1: true>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// head_mask holds exactly Hq values.
func.func @head_mask_too_long(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'head_mask' must hold exactly 8 (one per query head) values, got 9}}
  %o = mha.attention %q, %k, %v {head_mask = array<i1: true, true, true, true, true, true, true, true, false>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// An empty head_mask is rejected.
func.func @head_mask_empty(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'head_mask' must hold exactly 8 (one per query head) values, got 0}}
  %o = mha.attention %q, %k, %v {head_mask = array<i1>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// An extra result needs its return_* attribute.
func.func @extra_result_not_requested(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{expects 0 extra result(s) after 'output' (lse, probs, entropy as requested by return_lse, return_probs, return_entropy), got 1}}
  %o, %r1 = mha.attention %q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>
  return
}

// -----

// return_lse adds a result that must be present.
func.func @extra_result_missing(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{expects 1 extra result(s) after 'output' (lse, probs, entropy as requested by return_lse, return_probs, return_entropy), got 0}}
  %o = mha.attention %q, %k, %v {return_lse} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// All three requested results must be present.
func.func @extra_results_too_few(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{expects 3 extra result(s) after 'output' (lse, probs, entropy as requested by return_lse, return_probs, return_entropy), got 2}}
  %o, %r1, %r2 = mha.attention %q, %k, %v {return_lse, return_probs, return_entropy} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>
  return
}

// -----

// Only the requested results may be present.
func.func @extra_results_too_many(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{expects 2 extra result(s) after 'output' (lse, probs, entropy as requested by return_lse, return_probs, return_entropy), got 3}}
  %o, %r1, %r2, %r3 = mha.attention %q, %k, %v {return_lse, return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
  return
}

// -----

// lse is [B, Hq, Lq].
func.func @lse_wrong_shape(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'lse' must be 'tensor<2x8x16xf32>', got 'tensor<2x8x32xf32>'}}
  %o, %r1 = mha.attention %q, %k, %v {return_lse} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x32xf32>
  return
}

// -----

// lse is always f32, whatever the input type.
func.func @lse_f16(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>, %v: tensor<2x2x32x64xf16>) {
  // expected-error @+1 {{result 'lse' must be 'tensor<2x8x16xf32>', got 'tensor<2x8x16xf16>'}}
  %o, %r1 = mha.attention %q, %k, %v {return_lse} : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xf16> -> tensor<2x8x16x64xf16>, tensor<2x8x16xf16>
  return
}

// -----

// lse has rank 3.
func.func @lse_rank4(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'lse' must be 'tensor<2x8x16xf32>', got 'tensor<2x8x16x1xf32>'}}
  %o, %r1 = mha.attention %q, %k, %v {return_lse} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16x1xf32>
  return
}

// -----

// probs is [B, Hq, Lq, Lk].
func.func @probs_wrong_key_len(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'probs' must be 'tensor<2x8x16x32xf32>', got 'tensor<2x8x16x16xf32>'}}
  %o, %r1 = mha.attention %q, %k, %v {return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16x16xf32>
  return
}

// -----

// probs has one map per query head.
func.func @probs_kv_heads(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'probs' must be 'tensor<2x8x16x32xf32>', got 'tensor<2x2x16x32xf32>'}}
  %o, %r1 = mha.attention %q, %k, %v {return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x2x16x32xf32>
  return
}

// -----

// entropy is [B, Hq, Lq].
func.func @entropy_wrong_shape(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'entropy' must be 'tensor<2x8x16xf32>', got 'tensor<2x8x32xf32>'}}
  %o, %r1 = mha.attention %q, %k, %v {return_entropy} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x32xf32>
  return
}

// -----

// Extra results come in the order lse, probs, entropy.
func.func @extras_wrong_order(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'lse' must be 'tensor<2x8x16xf32>', got 'tensor<2x8x16x32xf32>'}}
  %o, %r1, %r2 = mha.attention %q, %k, %v {return_lse, return_probs} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
  return
}

// -----

// Extra results must be ranked.
func.func @entropy_unranked(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{result 'entropy' must be 'tensor<2x8x16xf32>', got 'tensor<*xf32>'}}
  %o, %r1, %r2 = mha.attention %q, %k, %v {return_lse, return_entropy} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<*xf32>
  return
}

// -----

// scale is an f32 attribute: a bare 0.5 is f64.
func.func @scale_f64(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'scale' failed to satisfy constraint: 32-bit float attribute}}
  %o = mha.attention %q, %k, %v {scale = 0.5} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// softcap is an f32 attribute, not an integer.
func.func @softcap_integer(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'softcap' failed to satisfy constraint: 32-bit float attribute}}
  %o = mha.attention %q, %k, %v {softcap = 30} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Windows are array<i64>.
func.func @window_left_i32(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'window_left' failed to satisfy constraint: i64 dense array attribute}}
  %o = mha.attention %q, %k, %v {window_left = array<i32: 128>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Windows are arrays, even for one value.
func.func @window_right_scalar(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'window_right' failed to satisfy constraint: i64 dense array attribute}}
  %o = mha.attention %q, %k, %v {window_right = 128} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// temperature is array<f32>.
func.func @temperature_f64_array(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'temperature' failed to satisfy constraint: f32 dense array attribute}}
  %o = mha.attention %q, %k, %v {temperature = array<f64: 1.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// temperature is an array even for one value.
func.func @temperature_scalar(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'temperature' failed to satisfy constraint: f32 dense array attribute}}
  %o = mha.attention %q, %k, %v {temperature = 2.0 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// alibi_slopes is array<f32>, not dense<>.
func.func @alibi_slopes_dense_elements(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'alibi_slopes' failed to satisfy constraint: f32 dense array attribute}}
  %o = mha.attention %q, %k, %v {alibi_slopes = dense<0.5> : tensor<1xf32>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// causal is a unit attribute.
func.func @causal_string(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'causal' failed to satisfy constraint: unit attribute}}
  %o = mha.attention %q, %k, %v {causal = "yes"} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// causal is a unit attribute, not a bool.
func.func @causal_bool(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'causal' failed to satisfy constraint: unit attribute}}
  %o = mha.attention %q, %k, %v {causal = true} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// return_lse is a unit attribute.
func.func @return_lse_bool(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'return_lse' failed to satisfy constraint: unit attribute}}
  %o = mha.attention %q, %k, %v {return_lse = false} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// sink_tokens is i64.
func.func @sink_tokens_i32(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'sink_tokens' failed to satisfy constraint: 64-bit signless integer attribute}}
  %o = mha.attention %q, %k, %v {sink_tokens = 4 : i32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// head_mask is array<i1>.
func.func @head_mask_i64(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'mha.attention' op attribute 'head_mask' failed to satisfy constraint: i1 dense array attribute}}
  %o = mha.attention %q, %k, %v {head_mask = array<i64: 1, 1, 1, 1, 1, 1, 1, 1>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// A misspelt attribute is an error, not a silently ignored discardable attribute.
func.func @misspelt_attribute(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{has unknown attribute 'casual' (expected an attribute of mha.attention or a dialect-prefixed name such as 'mydialect.note')}}
  %o = mha.attention %q, %k, %v {casual} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Layer attributes do not belong on mha.attention.
func.func @layer_attribute_on_attention(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{has unknown attribute 'num_heads'}}
  %o = mha.attention %q, %k, %v {num_heads = 8} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// rope_theta is a layer attribute, not an mha.attention one.
func.func @rope_on_attention(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{has unknown attribute 'rope_theta'}}
  %o = mha.attention %q, %k, %v {rope_theta = 10000.0 : f32} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// The layer input is [B, L, d].
func.func @mh_input_rank2(%x: tensor<16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'input' must be a ranked tensor of rank 3 [B, L, d], got 'tensor<16x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<16x256xf32>
  return
}

// -----

// The layer input is a float tensor.
func.func @mh_input_i32(%x: tensor<2x16x256xi32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'input' element type must be f32, f16 or bf16, got 'i32'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xi32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xi32>
  return
}

// -----

// d must be static.
func.func @mh_dynamic_model_width(%x: tensor<2x16x?xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'input' model width (dim 2) must be static, got ?}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x?xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x?xf32>
  return
}

// -----

// d must be >= 1.
func.func @mh_zero_model_width(%x: tensor<2x16x0xf32>, %wq: tensor<0x256xf32>, %wk: tensor<0x256xf32>, %wv: tensor<0x256xf32>, %wo: tensor<256x0xf32>) {
  // expected-error @+1 {{'input' model width (dim 2) must be >= 1, got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x0xf32>, tensor<0x256xf32>, tensor<0x256xf32>, tensor<0x256xf32>, tensor<256x0xf32> -> tensor<2x16x0xf32>
  return
}

// -----

// num_heads must be >= 1.
func.func @mh_num_heads_zero(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'num_heads' must be >= 1, got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 0}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_heads must be >= 1.
func.func @mh_num_heads_negative(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'num_heads' must be >= 1, got -4}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = -4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_kv_heads must be >= 1.
func.func @mh_num_kv_heads_zero(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'num_kv_heads' must be >= 1, got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 0}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_kv_heads must be >= 1.
func.func @mh_num_kv_heads_negative(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'num_kv_heads' must be >= 1, got -1}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = -1}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_kv_heads must divide num_heads.
func.func @mh_num_kv_heads_not_dividing(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'num_heads' (8) must be a multiple of 'num_kv_heads' (3)}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 3}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_kv_heads cannot exceed num_heads.
func.func @mh_num_kv_heads_larger(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'num_heads' (4) must be a multiple of 'num_kv_heads' (8)}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 8}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Weights are rank-2 matrices.
func.func @mh_wq_rank1(%x: tensor<2x16x256xf32>, %wq: tensor<256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wq' must be a ranked tensor of rank 2 [rows, cols], got 'tensor<256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Weights share the input's element type.
func.func @mh_wk_element_mismatch(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xbf16>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wk' element type 'bf16' must match 'input' element type 'f32'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xbf16>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Quantized weights are not supported.
func.func @mh_wv_i8(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xi8>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wv' element type must be f32, f16 or bf16, got 'i8'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xi8>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Weights have static shapes.
func.func @mh_wo_dynamic(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<?x256xf32>) {
  // expected-error @+1 {{'wo' must have a static shape, got 'tensor<?x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<?x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// cols(Wq) must split evenly into num_heads heads.
func.func @mh_wq_cols_not_multiple(%x: tensor<2x16x256xf32>, %wq: tensor<256x250xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wq' columns (250) must be a multiple of 'num_heads' (4)}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x250xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Wq with no columns would give D = 0.
func.func @mh_zero_head_dim(%x: tensor<2x16x256xf32>, %wq: tensor<256x0xf32>, %wk: tensor<256x0xf32>, %wv: tensor<256x0xf32>, %wo: tensor<0x256xf32>) {
  // expected-error @+1 {{'wq' must give a head dim D >= 1 (D = cols(wq) / num_heads), got D = 0 from 'tensor<256x0xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<0x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Shared projections with no columns would give D = 0.
func.func @mh_shared_zero_head_dim(%x: tensor<2x16x256xf32>, %wq: tensor<256x0xf32>, %wk: tensor<256x0xf32>, %wv: tensor<256x0xf32>, %wo: tensor<0x256xf32>, %b0: tensor<4x0xf32>, %b1: tensor<4x0xf32>, %b2: tensor<4x0xf32>) {
  // expected-error @+1 {{'wq' must give a head dim D >= 1 (D = cols(wq)), got D = 0 from 'tensor<256x0xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<256x0xf32>, tensor<0x256xf32>, tensor<4x0xf32>, tensor<4x0xf32>, tensor<4x0xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Wq has d rows.
func.func @mh_wq_wrong_rows(%x: tensor<2x16x256xf32>, %wq: tensor<128x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wq' must be [d, Hq*D] = [256, 256], got 'tensor<128x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// With num_kv_heads, Wk is [d, Hkv*D].
func.func @mh_wk_wrong_cols_gqa(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wk' must be [d, Hkv*D] = [256, 128], got 'tensor<256x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Wv is [d, Hkv*D] like Wk.
func.func @mh_wv_wrong_cols(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x128xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'wv' must be [d, Hkv*D] = [256, 64], got 'tensor<256x128xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 1}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x64xf32>, tensor<256x128xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Wo is [Hq*D, d].
func.func @mh_wo_wrong_shape(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x128xf32>) {
  // expected-error @+1 {{'wo' must be [Hq*D, d] = [256, 256], got 'tensor<256x128xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x128xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// With shared_head_bias, Wk is [d, D].
func.func @mh_shared_wk_full_width(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>, %b0: tensor<4x64xf32>, %b1: tensor<4x64xf32>, %b2: tensor<4x64xf32>) {
  // expected-error @+1 {{'wk' must be [d, D] = [256, 64], got 'tensor<256x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x256xf32>, tensor<256x64xf32>, tensor<256x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// With shared_head_bias, Wo is still [Hq*D, d].
func.func @mh_shared_wo_wrong_shape(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<64x256xf32>, %b0: tensor<4x64xf32>, %b1: tensor<4x64xf32>, %b2: tensor<4x64xf32>) {
  // expected-error @+1 {{'wo' must be [Hq*D, d] = [256, 256], got 'tensor<64x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<64x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// shared_head_bias requires the per-head biases.
func.func @mh_shared_without_biases(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{#mha.sharing<shared_head_bias> requires per-head biases: set 'has_qkv_bias' and pass bq, bk, bv}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// grouped requires the per-head biases too.
func.func @mh_grouped_without_biases(%x: tensor<2x16x256xf32>, %wq: tensor<256x128xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{#mha.sharing<grouped> requires per-head biases: set 'has_qkv_bias' and pass bq, bk, bv}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, sharing = #mha.sharing<grouped>}
      : tensor<2x16x256xf32>, tensor<256x128xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// With grouped sharing D comes from Wo: rows(wo) / num_heads.
func.func @mh_grouped_wo_rows(%x: tensor<2x16x64xf32>, %wq: tensor<64x32xf32>, %wk: tensor<64x16xf32>, %wv: tensor<64x16xf32>, %wo: tensor<66x64xf32>, %b0: tensor<4x16xf32>, %b1: tensor<4x16xf32>, %b2: tensor<4x16xf32>) {
  // expected-error @+1 {{'wo' rows (66) must be a multiple of 'num_heads' (4)}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<grouped>}
      : tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<66x64xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32> -> tensor<2x16x64xf32>
  return
}

// -----

// Three groups of D = 16 do not divide 4 query heads.
func.func @mh_grouped_query_groups(%x: tensor<2x16x64xf32>, %wq: tensor<64x48xf32>, %wk: tensor<64x16xf32>, %wv: tensor<64x16xf32>, %wo: tensor<64x64xf32>, %b0: tensor<4x16xf32>, %b1: tensor<4x16xf32>, %b2: tensor<4x16xf32>) {
  // expected-error @+1 {{#mha.sharing<grouped> needs 'wq' = [d, G*D] = [64, G*16] with G dividing 'num_heads' (4), got 'tensor<64x48xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<grouped>}
      : tensor<2x16x64xf32>, tensor<64x48xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x64xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32> -> tensor<2x16x64xf32>
  return
}

// -----

// Wk's columns are not whole heads of D = 16.
func.func @mh_grouped_key_columns(%x: tensor<2x16x64xf32>, %wq: tensor<64x32xf32>, %wk: tensor<64x20xf32>, %wv: tensor<64x16xf32>, %wo: tensor<64x64xf32>, %b0: tensor<4x16xf32>, %b1: tensor<2x16xf32>, %b2: tensor<2x16xf32>) {
  // expected-error @+1 {{#mha.sharing<grouped> needs 'wk' = [d, G*D] = [64, G*16] with G dividing 'num_kv_heads' (2), got 'tensor<64x20xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, num_kv_heads = 2, has_qkv_bias, sharing = #mha.sharing<grouped>}
      : tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x20xf32>, tensor<64x16xf32>, tensor<64x64xf32>, tensor<4x16xf32>, tensor<2x16xf32>, tensor<2x16xf32> -> tensor<2x16x64xf32>
  return
}

// -----

// Wk and Wv must have the same groups.
func.func @mh_grouped_kv_mismatch(%x: tensor<2x16x64xf32>, %wq: tensor<64x32xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x16xf32>, %wo: tensor<64x64xf32>, %b0: tensor<4x16xf32>, %b1: tensor<2x16xf32>, %b2: tensor<2x16xf32>) {
  // expected-error @+1 {{#mha.sharing<grouped> needs 'wk' and 'wv' of the same groups, got 'tensor<64x32xf32>' and 'tensor<64x16xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, num_kv_heads = 2, has_qkv_bias, sharing = #mha.sharing<grouped>}
      : tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x16xf32>, tensor<64x64xf32>, tensor<4x16xf32>, tensor<2x16xf32>, tensor<2x16xf32> -> tensor<2x16x64xf32>
  return
}

// -----

// Grouped biases are per head: bq is [Hq, D].
func.func @mh_grouped_flat_bias(%x: tensor<2x16x64xf32>, %wq: tensor<64x32xf32>, %wk: tensor<64x16xf32>, %wv: tensor<64x16xf32>, %wo: tensor<64x64xf32>, %b0: tensor<64xf32>, %b1: tensor<4x16xf32>, %b2: tensor<4x16xf32>) {
  // expected-error @+1 {{'bq' must be [Hq, D] = 'tensor<4x16xf32>', got 'tensor<64xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<grouped>}
      : tensor<2x16x64xf32>, tensor<64x32xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x64xf32>, tensor<64xf32>, tensor<4x16xf32>, tensor<4x16xf32> -> tensor<2x16x64xf32>
  return
}

// -----

// has_qkv_bias announces three bias operands.
func.func @mh_qkv_bias_missing(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{expects 3 bias operand(s) after 'wo' (bq, bk, bv when 'has_qkv_bias', bo when 'has_out_bias'), got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, has_qkv_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// has_out_bias announces one bias operand.
func.func @mh_out_bias_missing(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{expects 1 bias operand(s) after 'wo' (bq, bk, bv when 'has_qkv_bias', bo when 'has_out_bias'), got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, has_out_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// A bias operand without has_*_bias is rejected.
func.func @mh_bias_unannounced(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>, %b0: tensor<256xf32>) {
  // expected-error @+1 {{expects 0 bias operand(s) after 'wo' (bq, bk, bv when 'has_qkv_bias', bo when 'has_out_bias'), got 1}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0 {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Both flags announce four bias operands.
func.func @mh_all_biases_one_missing(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>, %b0: tensor<256xf32>, %b1: tensor<256xf32>, %b2: tensor<256xf32>) {
  // expected-error @+1 {{expects 4 bias operand(s) after 'wo' (bq, bk, bv when 'has_qkv_bias', bo when 'has_out_bias'), got 3}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, has_out_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// bq is [Hq*D] with independent projections.
func.func @mh_bq_wrong_shape(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>, %b0: tensor<64xf32>, %b1: tensor<256xf32>, %b2: tensor<256xf32>) {
  // expected-error @+1 {{'bq' must be [Hq*D] = 'tensor<256xf32>', got 'tensor<64xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<256xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// bk is [Hkv*D].
func.func @mh_bk_wrong_shape_gqa(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x128xf32>, %wv: tensor<256x128xf32>, %wo: tensor<256x256xf32>, %b0: tensor<256xf32>, %b1: tensor<256xf32>, %b2: tensor<128xf32>) {
  // expected-error @+1 {{'bk' must be [Hkv*D] = 'tensor<128xf32>', got 'tensor<256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, num_kv_heads = 2, has_qkv_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x128xf32>, tensor<256x128xf32>, tensor<256x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<128xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Biases share the input's element type.
func.func @mh_bv_wrong_element_type(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>, %b0: tensor<256xf32>, %b1: tensor<256xf32>, %b2: tensor<256xf16>) {
  // expected-error @+1 {{'bv' must be [Hkv*D] = 'tensor<256xf32>', got 'tensor<256xf16>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<256xf16> -> tensor<2x16x256xf32>
  return
}

// -----

// bo is [d].
func.func @mh_bo_wrong_shape(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>, %b0: tensor<1x256xf32>) {
  // expected-error @+1 {{'bo' must be [d] = 'tensor<256xf32>', got 'tensor<1x256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0 {num_heads = 4, has_out_bias}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<1x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// With shared_head_bias, bq is [Hq, D], not [Hq*D].
func.func @mh_shared_bq_flat(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>, %b0: tensor<256xf32>, %b1: tensor<4x64xf32>, %b2: tensor<4x64xf32>) {
  // expected-error @+1 {{'bq' must be [Hq, D] = 'tensor<4x64xf32>', got 'tensor<256xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32>, tensor<256xf32>, tensor<4x64xf32>, tensor<4x64xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// With shared_head_bias and GQA, bk is [Hkv, D].
func.func @mh_shared_bk_query_heads(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>, %b0: tensor<4x64xf32>, %b1: tensor<4x64xf32>, %b2: tensor<2x64xf32>) {
  // expected-error @+1 {{'bk' must be [Hkv, D] = 'tensor<2x64xf32>', got 'tensor<4x64xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, num_kv_heads = 2, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<2x64xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Biases have static shapes.
func.func @mh_shared_bv_dynamic(%x: tensor<2x16x256xf32>, %wq: tensor<256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>, %b0: tensor<4x64xf32>, %b1: tensor<4x64xf32>, %b2: tensor<?x64xf32>) {
  // expected-error @+1 {{'bv' must be [Hkv, D] = 'tensor<4x64xf32>', got 'tensor<?x64xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %b0, %b1, %b2 {num_heads = 4, has_qkv_bias, sharing = #mha.sharing<shared_head_bias>}
      : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<?x64xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// rope_theta must be > 0.
func.func @mh_rope_theta_zero(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'rope_theta' must be finite and > 0, got 0.000000e+00}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 0.0 : f32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// rope_theta must be > 0.
func.func @mh_rope_theta_negative(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'rope_theta' must be finite and > 0, got -1.000000e+04}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = -10000.0 : f32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// rope_theta must not be NaN.
func.func @mh_rope_theta_nan(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'rope_theta' must be finite and > 0, got nan}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 0x7FC00000 : f32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// RoPE rotates pairs (t, t + D/2): D must be even.
func.func @mh_rope_odd_head_dim(%x: tensor<2x16x20xf32>, %wq: tensor<20x20xf32>, %wk: tensor<20x20xf32>, %wv: tensor<20x20xf32>, %wo: tensor<20x20xf32>) {
  // expected-error @+1 {{'rope_theta' needs an even head dim, got D = 5}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 10000.0 : f32}
      : tensor<2x16x20xf32>, tensor<20x20xf32>, tensor<20x20xf32>, tensor<20x20xf32>, tensor<20x20xf32> -> tensor<2x16x20xf32>
  return
}

// -----

// The output is [B, L, d].
func.func @mh_output_wrong_width(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x16x256xf32>' [B, L, d], got 'tensor<2x16x64xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x64xf32>
  return
}

// -----

// The output has the input's element type.
func.func @mh_output_element_type(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x16x256xf32>' [B, L, d], got 'tensor<2x16x256xbf16>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xbf16>
  return
}

// -----

// Per-head arrays on a layer are sized by num_heads.
func.func @mh_window_left_wrong_length(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'window_left' must hold 1 or 8 (one per query head) values, got 2}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 2, window_left = array<i64: 64, -1>}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// head_mask on a layer holds num_heads values.
func.func @mh_head_mask_wrong_length(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'head_mask' must hold exactly 4 (one per query head) values, got 2}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, head_mask = array<i1: true, false>}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// The attention attributes are checked on a layer too.
func.func @mh_softcap_negative(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'softcap' must be finite and > 0, got -1.000000e+00}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, softcap = -1.0 : f32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// sink_tokens must be >= 0 on a layer too.
func.func @mh_sink_tokens_negative(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'sink_tokens' must be in [0, 2147483647], got -4}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, sink_tokens = -4}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// A layer's probs are [B, Hq, L, L].
func.func @mh_probs_wrong_shape(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{result 'probs' must be 'tensor<2x4x16x16xf32>', got 'tensor<2x16x16xf32>'}}
  %y, %r1 = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, return_probs}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>, tensor<2x16x16xf32>
  return
}

// -----

// return_entropy on a layer adds a result.
func.func @mh_extra_missing(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{expects 1 extra result(s) after 'output' (lse, probs, entropy as requested by return_lse, return_probs, return_entropy), got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, return_entropy}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_heads is required.
func.func @mh_missing_num_heads(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'mha.multi_head' op requires attribute 'num_heads'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// num_heads is i64.
func.func @mh_num_heads_i32(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'mha.multi_head' op attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4 : i32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// rope_theta is f32: a bare 10000.0 is f64.
func.func @mh_rope_theta_f64(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'mha.multi_head' op attribute 'rope_theta' failed to satisfy constraint: 32-bit float attribute}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 10000.0}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// has_qkv_bias is a unit attribute.
func.func @mh_has_qkv_bias_bool(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'mha.multi_head' op attribute 'has_qkv_bias' failed to satisfy constraint: unit attribute}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, has_qkv_bias = true}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// sharing is an #mha.sharing attribute, not a string.
func.func @mh_sharing_string(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{'mha.multi_head' op attribute 'sharing' failed to satisfy constraint: projection sharing scheme of a layer's heads}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, sharing = "independent"}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// Only the documented sharing schemes parse.
func.func @mh_sharing_bad_value(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+2 {{expected ::mlir::mha::Sharing to be one of: independent, shared_head_bias, grouped}}
  // expected-error @+1 {{failed to parse Mha_SharingAttr parameter 'value'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, sharing = #mha.sharing<per_head>}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// A misspelt layer attribute is an error.
func.func @mh_misspelt_attribute(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  // expected-error @+1 {{has unknown attribute 'num_kv_head' (expected an attribute of mha.multi_head or a dialect-prefixed name such as 'mydialect.note')}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_head = 2}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}

// -----

// The generic form must still pass three operands.
func.func @generic_two_operands(%q: tensor<2x8x16x64xf32>) {
  // expected-error @+1 {{'mha.attention' op expected 3 or more operands, but found 2}}
  %o = "mha.attention"(%q, %q) : (tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>) -> tensor<2x8x16x64xf32>
  return
}

// -----

// The output result is required.
func.func @generic_no_result(%q: tensor<2x8x16x64xf32>) {
  // expected-error @+1 {{'mha.attention' op expected 1 or more results}}
  "mha.attention"(%q, %q, %q) : (tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>) -> ()
  return
}

// -----

// A layer takes at least x, wq, wk, wv and wo.
func.func @generic_layer_four_operands(%x: tensor<2x16x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{'mha.multi_head' op expected 5 or more operands, but found 4}}
  %y = "mha.multi_head"(%x, %w, %w, %w) <{num_heads = 4 : i64}> : (tensor<2x16x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// A property of the wrong kind is rejected when the generic form is parsed.
func.func @generic_scale_integer(%q: tensor<2x8x16x64xf32>) {
  // expected-error @+1 {{Invalid attribute `scale` in property conversion: 1 : i32}}
  %o = "mha.attention"(%q, %q, %q) <{scale = 1 : i32}> : (tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>, tensor<2x8x16x64xf32>) -> tensor<2x8x16x64xf32>
  return
}

// -----

// The sharing property must be an #mha.sharing attribute.
func.func @generic_sharing_integer(%x: tensor<2x16x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{Invalid attribute `sharing` in property conversion: 1 : i32}}
  %y = "mha.multi_head"(%x, %w, %w, %w, %w) <{num_heads = 4 : i64, sharing = 1 : i32}> : (tensor<2x16x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

func.func @huge_batch(%q: tensor<1000000000000x2x8x16xf32>, %k: tensor<1000000000000x2x8x16xf32>, %v: tensor<1000000000000x2x8x16xf32>) -> tensor<1000000000000x2x8x16xf32> {
  // expected-error @+1 {{'query' dim 0 is 1000000000000, more than the largest supported size 2147483647}}
  %o = mha.attention %q, %k, %v : tensor<1000000000000x2x8x16xf32>, tensor<1000000000000x2x8x16xf32>, tensor<1000000000000x2x8x16xf32> -> tensor<1000000000000x2x8x16xf32>
  return %o : tensor<1000000000000x2x8x16xf32>
}

// -----

func.func @huge_window(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{'window_right' values must be <= 2147483647, got 9223372036854775807 at index 0}}
  %o = mha.attention %q, %k, %v {window_right = array<i64: 9223372036854775807>} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @huge_sinks(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{'sink_tokens' must be in [0, 2147483647], got 4294967296}}
  %o = mha.attention %q, %k, %v {sink_tokens = 4294967296} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @huge_layer_heads(%x: tensor<1x8x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x64xf32>, %wv: tensor<64x64xf32>, %wo: tensor<64x64xf32>) -> tensor<1x8x64xf32> {
  // expected-error @+1 {{'num_heads' must be <= 2147483647, got 4611686018427387904}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4611686018427387904} : tensor<1x8x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32> -> tensor<1x8x64xf32>
  return %y : tensor<1x8x64xf32>
}

// -----

// Absurd static sizes (issue 9): every dimension of every operand is capped,
// so products of two sizes fit in int64 in the compiler and the runtime.
func.func @huge_key_len(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x2147483648x16xf32>, %v: tensor<1x2x2147483648x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{'key' dim 2 is 2147483648, more than the largest supported size 2147483647}}
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x2147483648x16xf32>, tensor<1x2x2147483648x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @huge_heads(%q: tensor<1x4294967296x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x16xf32>) -> tensor<1x4294967296x8x16xf32> {
  // expected-error @+1 {{'query' dim 1 is 4294967296, more than the largest supported size 2147483647}}
  %o = mha.attention %q, %k, %v : tensor<1x4294967296x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32> -> tensor<1x4294967296x8x16xf32>
  return %o : tensor<1x4294967296x8x16xf32>
}

// -----

func.func @huge_value_dim(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x1099511627776xf32>) -> tensor<1x2x8x1099511627776xf32> {
  // expected-error @+1 {{'value' dim 3 is 1099511627776, more than the largest supported size 2147483647}}
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x1099511627776xf32> -> tensor<1x2x8x1099511627776xf32>
  return %o : tensor<1x2x8x1099511627776xf32>
}

// -----

func.func @min_window(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{'window_left' values must be >= -1 (-1 = unbounded), got -9223372036854775808 at index 1}}
  %o = mha.attention %q, %k, %v {window_left = array<i64: 3, -9223372036854775808>} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @max_sinks(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{'sink_tokens' must be in [0, 2147483647], got 9223372036854775807}}
  %o = mha.attention %q, %k, %v {sink_tokens = 9223372036854775807} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// FMA micro-kernels take the query rows packed in f32.
func.func @step_fma_bf16_query(%q: memref<?x32xbf16>, %k: memref<?x32xbf16>, %v: memref<?x32xbf16>,
                               %acc: memref<?x32xf32>, %m: memref<?xf32>, %kt: memref<32x64xf32>, %vp: memref<64x32xf32>,
                               %s: memref<64x64xf32>, %a: memref<64xf32>, %f: f32, %i: index) {
  // expected-error @+1 {{'query' must be f32 with fma micro-kernels, got 'memref<?x32xbf16>'}}
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xbf16>, memref<?x32xbf16>, memref<?x32xbf16>)
      outs(%acc, %m, %m, %m : memref<?x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %a : memref<32x64xf32>, memref<64x32xf32>, memref<64x64xf32>, memref<64xf32>)
      scale(%f, %f) at(%i, %i) window(%i, %i, %i)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2>}
  return
}

// -----

func.func @step_max_rows(%q: memref<8x32xf32>, %k: memref<?x32xf32>, %v: memref<?x32xf32>,
                         %acc: memref<8x32xf32>, %m: memref<?xf32>, %kt: memref<32x64xf32>, %vp: memref<64x32xf32>,
                         %s: memref<64x64xf32>, %a: memref<64xf32>, %f: f32, %i: index) {
  // expected-error @+1 {{'max_rows' must be at least the query rows (8), got 4}}
  mha.online_softmax_step ins(%q, %k, %v : memref<8x32xf32>, memref<?x32xf32>, memref<?x32xf32>)
      outs(%acc, %m, %m, %m : memref<8x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %a : memref<32x64xf32>, memref<64x32xf32>, memref<64x64xf32>, memref<64xf32>)
      scale(%f, %f) at(%i, %i) window(%i, %i, %i)
      {max_rows = 4 : i64, micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2>}
  return
}

// -----

func.func @linear_rank(%x: tensor<8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{expects x [B, L, K], W [K, N] and y [B, L, N]}}
  %y = mha.linear %x, %w : tensor<8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

// bf16_pairs micro-kernels take bf16 operands and bf16 pair scratch.
func.func @step_pairs_f32_scratch(%q: memref<?x32xbf16>, %k: memref<?x32xbf16>, %v: memref<?x32xbf16>,
                                  %acc: memref<?x32xf32>, %m: memref<?xf32>, %kt: memref<32x64xf32>, %vp: memref<64x32xf32>,
                                  %s: memref<64x64xf32>, %a: memref<64xf32>, %f: f32, %i: index) {
  // expected-error @+1 {{'key_scratch' must be bf16 with bf16_pairs micro-kernels, got 'memref<32x64xf32>'}}
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xbf16>, memref<?x32xbf16>, memref<?x32xbf16>)
      outs(%acc, %m, %m, %m : memref<?x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %a : memref<32x64xf32>, memref<64x32xf32>, memref<64x64xf32>, memref<64xf32>)
      scale(%f, %f) at(%i, %i) window(%i, %i, %i)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2, dot = bf16_pairs>}
  return
}

// -----

func.func @linear_k(%x: tensor<1x8x12xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{x has 12 columns but W has 16 rows}}
  %y = mha.linear %x, %w : tensor<1x8x12xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

// bf16_pairs key scratch is [D/2, 2C].
func.func @step_pairs_shape(%q: memref<?x32xbf16>, %k: memref<?x32xbf16>, %v: memref<?x32xbf16>,
                            %acc: memref<?x32xf32>, %m: memref<?xf32>, %kp: memref<32x64xbf16>, %vp: memref<32x64xbf16>,
                            %s: memref<64x64xf32>, %a: memref<64xf32>, %f: f32, %i: index) {
  // expected-error @+1 {{bf16_pairs scratch must be key [D/2, 2C] = [16, 128] and value [C/2, 2 Dvp] with C = 64, got 'memref<32x64xbf16>' and 'memref<32x64xbf16>'}}
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xbf16>, memref<?x32xbf16>, memref<?x32xbf16>)
      outs(%acc, %m, %m, %m : memref<?x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kp, %vp, %s, %a : memref<32x64xbf16>, memref<32x64xbf16>, memref<64x64xf32>, memref<64xf32>)
      scale(%f, %f) at(%i, %i) window(%i, %i, %i)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2, dot = bf16_pairs>}
  return
}

// -----

func.func @linear_replicas(%x: tensor<1x8x16xf32>, %w: tensor<16x8xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{expects y with 24 columns (3 x 8), found 16}}
  %y = mha.linear %x, %w {replicas = 3} : tensor<1x8x16xf32>, tensor<16x8xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

// bf16_pairs needs an even head dim (pairs) and 16 lanes.
func.func @step_pairs_odd_dim(%q: memref<?x33xbf16>, %k: memref<?x33xbf16>, %v: memref<?x32xbf16>,
                              %acc: memref<?x32xf32>, %m: memref<?xf32>, %kp: memref<16x128xbf16>, %vp: memref<32x64xbf16>,
                              %s: memref<64x64xf32>, %a: memref<64xf32>, %f: f32, %i: index) {
  // expected-error @+1 {{bf16_pairs micro-kernels need 16 lanes and an even static head dim, got 16 lanes and D = 33}}
  mha.online_softmax_step ins(%q, %k, %v : memref<?x33xbf16>, memref<?x33xbf16>, memref<?x32xbf16>)
      outs(%acc, %m, %m, %m : memref<?x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kp, %vp, %s, %a : memref<16x128xbf16>, memref<32x64xbf16>, memref<64x64xf32>, memref<64xf32>)
      scale(%f, %f) at(%i, %i) window(%i, %i, %i)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2, dot = bf16_pairs>}
  return
}

// -----

func.func @linear_bias(%x: tensor<1x8x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{expects a bias [16] or [2, 8]}}
  %y = mha.linear %x, %w, %b {replicas = 2, head_dim = 8} : tensor<1x8x16xf32>, tensor<16x8xf32>, tensor<8xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

// The dot kind is an enum: fma or bf16_pairs.
func.func @micro_kernel_bad_dot() attributes {
  // expected-error @+2 {{expected one of [fma, bf16_pairs] for how the micro-kernels of a flash step form their dot products, got: int8}}
  // expected-error @+1 {{failed to parse Mha_MicroKernelAttr parameter 'dot'}}
  mk = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 2, dot = int8>} {
  return
}

// -----

func.func @linear_rope_no_head_dim(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{rope_theta, rope_dim, live_blocks and live_input_blocks need head_dim}}
  %y = mha.linear %x, %w {rope_theta = 1.0e4 : f32} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_odd_rope(%x: tensor<1x8x15xf32>, %w: tensor<15x15xf32>) -> tensor<1x8x15xf32> {
  // expected-error @+1 {{RoPE needs an even rope_dim (default head_dim) and rope_theta > 0}}
  %y = mha.linear %x, %w {head_dim = 5, rope_theta = 1.0e4 : f32} : tensor<1x8x15xf32>, tensor<15x15xf32> -> tensor<1x8x15xf32>
  return %y : tensor<1x8x15xf32>
}

// -----

func.func @linear_head_dim(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{head_dim 6 must divide N = 16}}
  %y = mha.linear %x, %w {head_dim = 6, live_blocks = array<i64: 0>} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_live_blocks(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'live_blocks' must list increasing blocks in [0, 2), found 2}}
  %y = mha.linear %x, %w {head_dim = 8, live_blocks = array<i64: 0, 2>} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_live_input_blocks(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'live_input_blocks' must list increasing blocks in [0, 2), found 1}}
  %y = mha.linear %x, %w {head_dim = 8, live_input_blocks = array<i64: 1, 1>} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @split_heads_cols(%x: tensor<1x8x16xf32>) -> tensor<1x4x8x5xf32> {
  // expected-error @+1 {{expects H x D = 20 columns at column_offset 0 within 16}}
  %y = mha.split_heads %x : tensor<1x8x16xf32> -> tensor<1x4x8x5xf32>
  return %y : tensor<1x4x8x5xf32>
}

// -----

func.func @split_heads_offset(%x: tensor<1x8x16xf32>) -> tensor<1x2x8x4xf32> {
  // expected-error @+1 {{expects H x D = 8 columns at column_offset 12 within 16}}
  %y = mha.split_heads %x {column_offset = 12 : i64} : tensor<1x8x16xf32> -> tensor<1x2x8x4xf32>
  return %y : tensor<1x2x8x4xf32>
}

// -----

func.func @merge_heads_part(%x: tensor<1x2x8x4xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{expects H x D = 8 columns at column_offset 0, found 16}}
  %y = mha.merge_heads %x : tensor<1x2x8x4xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_rope_blocks(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{rope_blocks must be in [1, 2], found 3}}
  %y = mha.linear %x, %w {head_dim = 8, rope_theta = 1.0e4 : f32, rope_blocks = 3} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_rope_blocks_no_rope(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{rope_blocks needs rope_theta}}
  %y = mha.linear %x, %w {head_dim = 8, rope_blocks = 1} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @merge_heads_len(%x: tensor<1x2x8x8xf32>) -> tensor<1x9x16xf32> {
  // expected-error @+1 {{B and L must agree}}
  %y = mha.merge_heads %x : tensor<1x2x8x8xf32> -> tensor<1x9x16xf32>
  return %y : tensor<1x9x16xf32>
}

// -----

func.func @split_heads_type(%x: tensor<1x8x16xf32>) -> tensor<1x2x8x8xf16> {
  // expected-error @+1 {{element types differ}}
  %y = mha.split_heads %x : tensor<1x8x16xf32> -> tensor<1x2x8x8xf16>
  return %y : tensor<1x2x8x8xf16>
}

// -----

func.func @linear_input_blocks_k(%x: tensor<1x8x12xf32>, %w: tensor<12x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{live_input_blocks needs head_dim 8 to divide K = 12}}
  %y = mha.linear %x, %w {head_dim = 8, live_input_blocks = array<i64: 0>} : tensor<1x8x12xf32>, tensor<12x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// mha.backward on a func.func (docs/language.md 7.1)
//===----------------------------------------------------------------------===//

// The backward recomputes the probabilities from lse: the forward must
// return it.
// expected-error @+1 {{'mha.backward' needs the forward to return lse (add return_lse to the mha.attention and return it)}}
func.func @backward_without_lse(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> attributes {mha.backward} {
  %o = mha.attention %q, %q, %q {causal}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// -----

// lse computed but not returned: the caller could not pass it back.
// expected-error @+1 {{'mha.backward' needs 'backward_lse_dropped' to return the output and lse of its mha.attention}}
func.func @backward_lse_dropped(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> attributes {mha.backward} {
  %o, %lse = mha.attention %q, %q, %q {return_lse}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
  return %o : tensor<2x4x16x64xf32>
}

// -----

// A unit attribute, nothing else.
// expected-error @+1 {{'mha.backward' must be a unit attribute}}
func.func @backward_not_unit(%q: tensor<2x4x16x64xf32>) -> (tensor<2x4x16x64xf32>, tensor<2x4x16xf32>) attributes {mha.backward = true} {
  %o, %lse = mha.attention %q, %q, %q {return_lse}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
  return %o, %lse : tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
}

// -----

// Private functions are not exported, so neither is their backward.
// expected-error @+1 {{'mha.backward' needs a public function definition: its gradients are exported as 'backward_private_backward'}}
func.func private @backward_private(%q: tensor<2x4x16x64xf32>) -> (tensor<2x4x16x64xf32>, tensor<2x4x16xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %q, %q {return_lse}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
  return %o, %lse : tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
}

// -----

// The differentiated attention must be the function's only one.
// expected-error @+1 {{'mha.backward' differentiates the function's only mha.attention, but 'backward_two' has 2}}
func.func @backward_two(%q: tensor<2x4x16x64xf32>) -> (tensor<2x4x16x64xf32>, tensor<2x4x16xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %q, %q {return_lse}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
  %o2, %lse2 = mha.attention %o, %q, %q {return_lse}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
  return %o2, %lse2 : tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
}

// -----

// A function without attention has nothing to differentiate.
// expected-error @+1 {{'mha.backward' differentiates the function's only mha.attention, but 'backward_none' has 0}}
func.func @backward_none(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> attributes {mha.backward} {
  return %q : tensor<2x4x16x64xf32>
}

// -----

// A layer's backward (docs/language.md 7.3) takes dy only: the layer's
// extra results get no gradient.
// expected-error @+1 {{'mha.backward' needs 'backward_layer_lse' to return only the y of its mha.multi_head}}
func.func @backward_layer_lse(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x64xf32>, %wv: tensor<64x64xf32>, %wo: tensor<64x64xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %y, %lse = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, return_lse}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>, tensor<?x4x?xf32>
  return %y, %lse : tensor<?x?x64xf32>, tensor<?x4x?xf32>
}

// -----

// Weights must be arguments: the backward returns their gradients.
// expected-error @+1 {{'mha.backward' needs every operand of the mha.multi_head to be an argument of 'backward_layer_constant'}}
func.func @backward_layer_constant(%x: tensor<?x?x64xf32>, %w: tensor<64x64xf32>)
    -> tensor<?x?x64xf32> attributes {mha.backward} {
  %c = arith.constant dense<0.5> : tensor<64x64xf32>
  %y = mha.multi_head %x, %w, %w, %w, %c {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// A low-rank weight's factors get gradients: each a distinct argument.
// expected-error @+1 {{'mha.backward' needs the operands of the mha.multi_head to be distinct arguments (argument 2 is used twice)}}
func.func @backward_layer_low_rank_shared_factor(%x: tensor<?x?x64xf32>, %w: tensor<64x64xf32>,
    %a: tensor<64x8xf32>, %b: tensor<8x64xf32>, %wv: tensor<64x64xf32>, %wo: tensor<64x64xf32>,
    %b2: tensor<8x64xf32>) -> tensor<?x?x64xf32> attributes {mha.backward} {
  %wq = mha.low_rank %a, %b : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  %wk = mha.low_rank %a, %b2 : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// expected-error @+1 {{'mha.backward' of a layer with quantized weights (mha.quantized) is not supported: quantized weights are for inference}}
func.func @backward_layer_quantized(%x: tensor<?x?x64xf32>, %w: tensor<64x64xf32>,
    %q: tensor<64x64xi8>, %s: tensor<64xf32>) -> tensor<?x?x64xf32> attributes {mha.backward} {
  %wq = mha.quantized %q, %s : tensor<64x64xi8>, tensor<64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %w, %w, %w {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// Caches are for inference.
// expected-error @+1 {{'mha.backward' of a decoding step (an mha.multi_head with a cache) is not supported: caches are for inference}}
func.func @backward_layer_step(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wo: tensor<64x64xf32>, %lens: tensor<?xi32>,
    %kc: tensor<?x2x16x16xf32>) -> tensor<?x?x64xf32> attributes {mha.backward} {
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wk, %wo
      cache(%kc, %kc : tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
      kv_lens(%lens : tensor<?xi32>) {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
        cache(tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>)
  return %y : tensor<?x?x64xf32>
}

// -----

// Tied weights: one gradient per argument cannot say how their roles sum.
// expected-error @+1 {{'mha.backward' needs the operands of the mha.multi_head to be distinct arguments (argument 1 is used twice)}}
func.func @backward_layer_tied(%x: tensor<?x?x64xf32>, %w: tensor<64x64xf32>)
    -> tensor<?x?x64xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %w, %w, %w, %w {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// expected-error @+1 {{'mha.backward' differentiates one mha.multi_head, but 'backward_two_layers' has 2}}
func.func @backward_two_layers(%x: tensor<?x?x64xf32>, %w: tensor<64x64xf32>)
    -> tensor<?x?x64xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %w, %w, %w, %w {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %z = mha.multi_head %y, %w, %w, %w, %w {num_heads = 4}
       : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>,
         tensor<64x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %z : tensor<?x?x64xf32>
}

// -----

// With return_entropy the backward takes dentropy: the function must
// return the entropy.
// expected-error @+1 {{'mha.backward' needs 'backward_entropy' to return the entropy its mha.attention computes: the backward takes its gradient}}
func.func @backward_entropy(%q: tensor<2x4x16x64xf32>) -> (tensor<2x4x16x64xf32>, tensor<2x4x16xf32>) attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %q, %q {return_lse, return_entropy}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>
  return %o, %lse : tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
}

// -----

// Only func.func carries it.
// expected-error @+1 {{'mha.backward' applies to a func.func}}
module attributes {mha.backward} {
}

// -----


// dropout holds 1 or Hq rates.
func.func @dropout_wrong_length(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'dropout' must hold 1 or 8 (one per query head) values, got 2}}
  %o = mha.attention %q, %k, %v {dropout = array<f32: 0.1, 0.2>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// A rate of 1 would drop every key (and divide by 0).
func.func @dropout_one(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'dropout' values must be in [0, 1), got 1.000000e+00 at index 0}}
  %o = mha.attention %q, %k, %v {dropout = array<f32: 1.0>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Negative and NaN rates are rejected, in layers too.
func.func @dropout_negative(%x: tensor<2x16x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{'dropout' values must be in [0, 1), got -5.000000e-01 at index 1}}
  %y = mha.multi_head %x, %w, %w, %w, %w {num_heads = 2, dropout = array<f32: 0.1, -0.5>} : tensor<2x16x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32> -> tensor<2x16x64xf32>
  return
}

// -----

func.func @dropout_nan(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>, %v: tensor<2x2x32x64xf32>) {
  // expected-error @+1 {{'dropout' values must be in [0, 1), got nan at index 0}}
  %o = mha.attention %q, %k, %v {dropout = array<f32: 0x7FC00000>} : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// mha.merge_states: the two outputs share an element type.
func.func @merge_mixed_types(%oa: tensor<2x4x8x16xf32>, %la: tensor<2x4x8xf32>, %ob: tensor<2x4x8x16xbf16>, %lb: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'output_b' element type 'bf16' must match 'output_a' element type 'f32'}}
  %o, %l = mha.merge_states %oa, %la, %ob, %lb : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8x16xbf16>, tensor<2x4x8xf32> -> tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
  return
}

// -----

// ... and their sizes.
func.func @merge_mismatched_rows(%oa: tensor<2x4x8x16xf32>, %la: tensor<2x4x8xf32>, %ob: tensor<2x4x9x16xf32>, %lb: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'output_b' size (dim 2) is 9 but 'output_a' has 8}}
  %o, %l = mha.merge_states %oa, %la, %ob, %lb : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>, tensor<2x4x9x16xf32>, tensor<2x4x8xf32> -> tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
  return
}

// -----

// lse is f32 [B, H, L].
func.func @merge_bad_lse(%oa: tensor<2x4x8x16xf32>, %la: tensor<2x4x8xf16>, %ob: tensor<2x4x8x16xf32>, %lb: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'lse_a' must be 'tensor<2x4x8xf32>' [B, H, L] like output_a, got 'tensor<2x4x8xf16>'}}
  %o, %l = mha.merge_states %oa, %la, %ob, %lb : tensor<2x4x8x16xf32>, tensor<2x4x8xf16>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32> -> tensor<2x4x8x16xf32>, tensor<2x4x8xf32>
  return
}

// -----

// The head count is static.
func.func @merge_dynamic_heads(%oa: tensor<2x?x8x16xf32>, %la: tensor<2x?x8xf32>, %ob: tensor<2x?x8x16xf32>, %lb: tensor<2x?x8xf32>) {
  // expected-error @+1 {{'output_a' head count (dim 1) must be static, got ?}}
  %o, %l = mha.merge_states %oa, %la, %ob, %lb : tensor<2x?x8x16xf32>, tensor<2x?x8xf32>, tensor<2x?x8x16xf32>, tensor<2x?x8xf32> -> tensor<2x?x8x16xf32>, tensor<2x?x8xf32>
  return
}

// -----

// The results have the operands' shapes.
func.func @merge_bad_result(%oa: tensor<2x4x8x16xf32>, %la: tensor<2x4x8xf32>, %ob: tensor<2x4x8x16xf32>, %lb: tensor<2x4x8xf32>) {
  // expected-error @+1 {{result 'output' must be 'tensor<2x4x8x16xf32>' [B, H, L, Dv], got 'tensor<2x4x8x8xf32>'}}
  %o, %l = mha.merge_states %oa, %la, %ob, %lb : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32> -> tensor<2x4x8x8xf32>, tensor<2x4x8xf32>
  return
}

// -----

// mha.low_rank: up's rows are the rank.
func.func @low_rank_rank_mismatch(%a: tensor<64x8xf32>, %b: tensor<6x64xf32>) {
  // expected-error @+1 {{'up' must have the rank r = 8 of 'down' as rows (and r >= 1), got 'tensor<6x64xf32>'}}
  %w = mha.low_rank %a, %b : tensor<64x8xf32>, tensor<6x64xf32> -> tensor<64x64xf32>
  return
}

// -----

// mha.low_rank: the weight is [rows(down), cols(up)].
func.func @low_rank_weight_shape(%a: tensor<64x8xf32>, %b: tensor<8x32xf32>) {
  // expected-error @+1 {{the weight must be [rows(down), cols(up)] = [64, 32], got 'tensor<64x64xf32>'}}
  %w = mha.low_rank %a, %b : tensor<64x8xf32>, tensor<8x32xf32> -> tensor<64x64xf32>
  return
}

// -----

// mha.low_rank: one element type.
func.func @low_rank_element_type(%a: tensor<64x8xf32>, %b: tensor<8x64xbf16>) {
  // expected-error @+1 {{factors and weight must have one element type, got 'tensor<64x8xf32>', 'tensor<8x64xbf16>' and 'tensor<64x64xf32>'}}
  %w = mha.low_rank %a, %b : tensor<64x8xf32>, tensor<8x64xbf16> -> tensor<64x64xf32>
  return
}

// -----

// mha.low_rank: static 2-D factors.
func.func @low_rank_dynamic(%a: tensor<?x8xf32>, %b: tensor<8x64xf32>) {
  // expected-error @+1 {{'down [m, r]' must be a static 2-D tensor, got 'tensor<?x8xf32>'}}
  %w = mha.low_rank %a, %b : tensor<?x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  return
}

// -----

// #mha.sharing<latent>: one KV head per query head.
func.func @latent_kv_heads(%x: tensor<1x8x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) {
  // expected-error @+1 {{#mha.sharing<latent> has one key and value head per query head: 'num_kv_heads' must be 3 ('num_heads') or absent, got 1}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, num_kv_heads = 1, sharing = #mha.sharing<latent>}
     : tensor<1x8x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

// #mha.sharing<latent>: no Q, K or V biases.
func.func @latent_qkv_bias(%x: tensor<1x8x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>, %bq: tensor<60xf32>, %bk: tensor<28xf32>, %bv: tensor<66xf32>) {
  // expected-error @+1 {{#mha.sharing<latent> takes no Q, K or V biases: remove 'has_qkv_bias'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 3, sharing = #mha.sharing<latent>, has_qkv_bias}
     : tensor<1x8x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>, tensor<30x48xf32>, tensor<60xf32>, tensor<28xf32>, tensor<66xf32> -> tensor<1x8x48xf32>
  return
}

// -----

// #mha.sharing<latent>: wv's columns hold every head's Dn key and Dv value
// columns, Dn >= 1.
func.func @latent_wv(%x: tensor<1x8x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>, %wv: tensor<20x30xf32>, %wo: tensor<30x48xf32>) {
  // expected-error @+1 {{#mha.sharing<latent> needs 'wv' = [r, Hq*(Dn+Dv)] with Dn >= 1 and Dv = rows(wo) / num_heads = 10, got 'tensor<20x30xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>}
     : tensor<1x8x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x30xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

// #mha.sharing<latent>: wk holds the latent (r = rows(wv)) and the RoPE key.
func.func @latent_wk(%x: tensor<1x8x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x16xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) {
  // expected-error @+1 {{#mha.sharing<latent> needs 'wk' = [d, r+Dr] = [48, 20+Dr] (r = rows(wv) = 20, Dr >= 0), got 'tensor<48x16xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>}
     : tensor<1x8x48xf32>, tensor<48x60xf32>, tensor<48x16xf32>, tensor<20x66xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

// #mha.sharing<latent>: every query head has Dn + Dr columns.
func.func @latent_wq(%x: tensor<1x8x48xf32>, %wq: tensor<48x36xf32>, %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) {
  // expected-error @+1 {{#mha.sharing<latent> needs 'wq' = [d, Hq*(Dn+Dr)] = [48, 60] (Dn = 12, Dr = 8), got 'tensor<48x36xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>}
     : tensor<1x8x48xf32>, tensor<48x36xf32>, tensor<48x28xf32>, tensor<20x66xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

// #mha.sharing<latent>: RoPE rotates the RoPE key, which must have an even
// width.
func.func @latent_odd_rope(%x: tensor<1x8x48xf32>, %wq: tensor<48x57xf32>, %wk: tensor<48x27xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) {
  // expected-error @+1 {{'rope_theta' rotates the RoPE key: #mha.sharing<latent> needs an even Dr = cols(wk) - rows(wv) >= 2, got Dr = 7}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>, rope_theta = 1.0e4 : f32}
     : tensor<1x8x48xf32>, tensor<48x57xf32>, tensor<48x27xf32>, tensor<20x66xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

// #mha.sharing<latent>: the latent projections are not low-rank factors.
func.func @latent_low_rank_wk(%x: tensor<1x8x48xf32>, %wq: tensor<48x60xf32>, %a: tensor<48x4xf32>, %b: tensor<4x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) {
  %wk = mha.low_rank %a, %b : tensor<48x4xf32>, tensor<4x28xf32> -> tensor<48x28xf32>
  // expected-error @+1 {{'wk' of #mha.sharing<latent> is the latent projection [d, r+Dr] and cannot be an mha.low_rank}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>}
     : tensor<1x8x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

func.func @linear_rope_dim(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{rope_dim must be in [2, head_dim = 8], found 10}}
  %y = mha.linear %x, %w {head_dim = 8, rope_theta = 1.0e4 : f32, rope_dim = 10} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_rope_dim_no_rope(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{rope_dim needs rope_theta}}
  %y = mha.linear %x, %w {head_dim = 8, rope_dim = 4} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @linear_odd_rope_dim(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{RoPE needs an even rope_dim (default head_dim) and rope_theta > 0}}
  %y = mha.linear %x, %w {head_dim = 8, rope_theta = 1.0e4 : f32, rope_dim = 3} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

func.func @split_heads_stride(%x: tensor<1x8x16xf32>) -> tensor<1x2x8x6xf32> {
  // expected-error @+1 {{head_stride must be >= D = 6, found 4}}
  %y = mha.split_heads %x {head_stride = 4 : i64} : tensor<1x8x16xf32> -> tensor<1x2x8x6xf32>
  return %y : tensor<1x2x8x6xf32>
}

// -----

// The last head ends at column 2 + 9 + 6 = 17 > 16.
func.func @split_heads_stride_past_end(%x: tensor<1x8x16xf32>) -> tensor<1x2x8x6xf32> {
  // expected-error @+1 {{expects H x D = 15 columns at column_offset 2 within 16}}
  %y = mha.split_heads %x {column_offset = 2 : i64, head_stride = 9 : i64} : tensor<1x8x16xf32> -> tensor<1x2x8x6xf32>
  return %y : tensor<1x2x8x6xf32>
}

// -----

func.func @latent_keys_columns(%kv: tensor<1x8x40xf32>, %latent: tensor<1x8x24xf32>) -> tensor<1x8x30xf32> {
  // expected-error @+1 {{expects static columns H*(Dn+Dv) and H*(Dn+Dr) with H = num_heads >= 1, 1 <= Dn = nope_dim < Dn+Dv}}
  %k = mha.latent_keys %kv, %latent {num_heads = 4 : i64, nope_dim = 10 : i64} : tensor<1x8x40xf32>, tensor<1x8x24xf32> -> tensor<1x8x30xf32>
  return %k : tensor<1x8x30xf32>
}

// -----

func.func @latent_keys_rope(%kv: tensor<1x8x40xf32>, %latent: tensor<1x8x4xf32>) -> tensor<1x8x48xf32> {
  // expected-error @+1 {{the RoPE key's 6 columns do not fit in the latent's 4}}
  %k = mha.latent_keys %kv, %latent {num_heads = 4 : i64, nope_dim = 6 : i64} : tensor<1x8x40xf32>, tensor<1x8x4xf32> -> tensor<1x8x48xf32>
  return %k : tensor<1x8x48xf32>
}

// -----

// rms_norm_eps normalises a latent layer's latent.
func.func @rms_norm_not_latent(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) {
  // expected-error @+1 {{'rms_norm_eps' normalises a latent: it needs #mha.sharing<latent>}}
  %y = mha.multi_head %x, %w, %w, %w, %w {num_heads = 2, rms_norm_eps = 1.0e-6 : f32}
     : tensor<1x8x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return
}

// -----

func.func @rms_norm_eps_zero(%x: tensor<1x8x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>) {
  // expected-error @+1 {{'rms_norm_eps' must be finite and > 0, got 0}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>, rms_norm_eps = 0.0 : f32}
     : tensor<1x8x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>, tensor<30x48xf32> -> tensor<1x8x48xf32>
  return
}

// -----

func.func @linear_input_rms_eps(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{input_rms_eps must be finite and > 0}}
  %y = mha.linear %x, %w {input_rms_eps = -1.0 : f32} : tensor<1x8x16xf32>, tensor<16x16xf32> -> tensor<1x8x16xf32>
  return %y : tensor<1x8x16xf32>
}

// -----

// mha.quantized: i8 values of the weight's shape.
func.func @quantized_values(%w: tensor<64x32xf32>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'values' must be i8 [64, 32] for the weight 'tensor<64x32xf32>', got 'tensor<64x32xf32>'}}
  %wq = mha.quantized %w, %s : tensor<64x32xf32>, tensor<32xf32> -> tensor<64x32xf32>
  return
}

// -----

// mha.quantized: one f32 scale per column, or per group of rows.
func.func @quantized_scale(%w: tensor<64x32xi8>, %s: tensor<64xf32>) {
  // expected-error @+1 {{'scale' must be f32 [N] = [32] (one per column) or [G, 32] with G dividing K = 64 (groups of rows), got 'tensor<64xf32>'}}
  %wq = mha.quantized %w, %s : tensor<64x32xi8>, tensor<64xf32> -> tensor<64x32xf32>
  return
}

// -----

// mha.quantized: groups divide the rows.
func.func @quantized_groups(%w: tensor<64x32xi8>, %s: tensor<3x32xf32>) {
  // expected-error @+1 {{'scale' must be f32 [N] = [32] (one per column) or [G, 32] with G dividing K = 64 (groups of rows), got 'tensor<3x32xf32>'}}
  %wq = mha.quantized %w, %s : tensor<64x32xi8>, tensor<3x32xf32> -> tensor<64x32xf32>
  return
}

// -----

// mha.quantized: the weight is a static float matrix.
func.func @quantized_weight(%w: tensor<64x32xi8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{the weight must be a static 2-D f32, f16 or bf16 tensor, got 'tensor<64x32xi32>'}}
  %wq = mha.quantized %w, %s : tensor<64x32xi8>, tensor<32xf32> -> tensor<64x32xi32>
  return
}

// -----

// mha.quantized: int4 values are two per byte.
func.func @quantized_int4_values(%w: tensor<64x32xi8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'values' must be i8 [64, 16] (two int4 per byte: an even number of weight columns) for the weight 'tensor<64x32xf32>', got 'tensor<64x32xi8>'}}
  %wq = mha.quantized %w, %s {bits = 4} : tensor<64x32xi8>, tensor<32xf32> -> tensor<64x32xf32>
  return
}

// -----

// mha.quantized: int8 or int4.
func.func @quantized_bits(%w: tensor<64x32xi8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bits' must be 8 or 4, got 2}}
  %wq = mha.quantized %w, %s {bits = 2} : tensor<64x32xi8>, tensor<32xf32> -> tensor<64x32xf32>
  return
}

// -----

// Low-rank factors are not quantized.
func.func @low_rank_quantized(%a: tensor<64x8xi8>, %s: tensor<8xf32>, %b: tensor<8x64xf32>) {
  %down = mha.quantized %a, %s : tensor<64x8xi8>, tensor<8xf32> -> tensor<64x8xf32>
  // expected-error @+1 {{factors cannot be mha.quantized (quantized factors are not supported)}}
  %w = mha.low_rank %down, %b : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  return
}

// -----

// kv_lens belongs to a decoding step.
func.func @layer_lens_without_cache(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{'kv_lens', 'block_table', 'kv_scales' and the updated caches belong to a decoding step: they need cache(%k_cache, %v_cache : ...)}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return
}

// -----

// A cache needs its lengths.
func.func @layer_cache_without_lens(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{a decoding step needs the cache lengths: kv_lens(%kv_lens : tensor<?xi32>)}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32> cache(tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
  return
}

// -----

// The caches hold the layer's KV heads.
func.func @layer_cache_heads(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x4x?x16xf32>, %vc: tensor<?x4x?x16xf32>) {
  // expected-error @+1 {{'key_cache' head count (dim 1) is 4 but 'num_kv_heads' has 2}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32> cache(tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>)
  return
}

// -----

// The caches have the input's element type.
func.func @layer_cache_dtype(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xbf16>, %vc: tensor<?x2x?x16xbf16>) {
  // expected-error @+1 {{'key_cache' element type 'bf16' must match 'input' element type 'f32'}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32> cache(tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>)
  return
}

// -----

// The updated caches are results of the caches' types.
func.func @layer_cache_result(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{the updated 'key_cache' must be a result of its type 'tensor<?x2x?x16xf32>'}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32> cache(tensor<?x2x8x16xf32>, tensor<?x2x?x16xf32>)
  return
}

// -----

// kv_lens is i32 [S].
func.func @layer_cache_lens_type(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi64>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{'kv_lens' must be a ranked tensor of i32 [S], got 'tensor<?xi64>'}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) kv_lens(%lens : tensor<?xi64>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32> cache(tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
  return
}

// -----

// A step over a cache returns no probabilities.
func.func @layer_cache_probs(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{a decoding step with a cache supports neither 'return_probs' nor 'dropout'}}
  %y, %p, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, return_probs}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>, tensor<?x4x?x?xf32> cache(tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
  return
}

// -----

// kv_scales belong to a decoding step's caches.
func.func @layer_scales_without_cache(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %ks: tensor<2xf32>, %vs: tensor<2xf32>) {
  // expected-error @+1 {{'kv_lens', 'block_table', 'kv_scales' and the updated caches belong to a decoding step: they need cache(%k_cache, %v_cache : ...)}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo kv_scales(%ks, %vs : tensor<2xf32>, tensor<2xf32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return
}

// -----

// An i8 cache needs its scales.
func.func @layer_i8_cache_without_scales(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xi8>, %vc: tensor<?x2x?x16xi8>) {
  // expected-error @+1 {{'key_cache' is i8: a quantized cache needs its scales, kv_scales(%key_scale, %value_scale : ...)}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : tensor<?x2x?x16xi8>, tensor<?x2x?x16xi8>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
        cache(tensor<?x2x?x16xi8>, tensor<?x2x?x16xi8>)
  return
}

// -----

// A latent step has one cache of latents and RoPE keys.
func.func @latent_step_two_caches(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
    %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x1x?x28xf32>, %vc: tensor<?x1x?x20xf32>) {
  // expected-error @+1 {{a #mha.sharing<latent> step has one cache of latents and RoPE keys, not quantized: cache(%c : [S, 1, Lk, r+Dr])}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x1x?x28xf32>, tensor<?x1x?x20xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 3, sharing = #mha.sharing<latent>}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32> cache(tensor<?x1x?x28xf32>, tensor<?x1x?x20xf32>)
  return
}

// -----

// The latent cache's rows are r+Dr = 28 wide.
func.func @latent_step_cache_width(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
    %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>,
    %lens: tensor<?xi32>, %c: tensor<?x1x?x20xf32>) {
  // expected-error @+1 {{'key_cache' head dim (dim 3) is 20 but 'r+Dr' has 28}}
  %y, %k = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : tensor<?x1x?x20xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 3, sharing = #mha.sharing<latent>}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32> cache(tensor<?x1x?x20xf32>)
  return
}

// -----

// The latent cache has one head.
func.func @latent_step_cache_heads(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
    %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>,
    %lens: tensor<?xi32>, %c: tensor<?x3x?x28xf32>) {
  // expected-error @+1 {{'key_cache' head count (dim 1) is 3 but 'num_kv_heads' has 1}}
  %y, %k = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : tensor<?x3x?x28xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 3, sharing = #mha.sharing<latent>}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32> cache(tensor<?x3x?x28xf32>)
  return
}

// -----

// The absorbed step reads Wv's slices as floats.
func.func @latent_step_quantized_wv(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
    %wk: tensor<48x28xf32>, %wvq: tensor<20x66xi8>, %s: tensor<66xf32>, %wo: tensor<30x48xf32>,
    %lens: tensor<?xi32>, %c: tensor<?x1x?x28xf32>) {
  %wv = mha.quantized %wvq, %s : tensor<20x66xi8>, tensor<66xf32> -> tensor<20x66xf32>
  // expected-error @+1 {{a #mha.sharing<latent> step absorbs 'wv' into the attention: it must be a float weight, not an mha.quantized}}
  %y, %k = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : tensor<?x1x?x28xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 3, sharing = #mha.sharing<latent>}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32> cache(tensor<?x1x?x28xf32>)
  return
}

// -----

// Other layers' steps have a key and a value cache.
func.func @layer_step_one_cache(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %kc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{a decoding step needs both caches: cache(%k_cache, %v_cache : ...)}}
  %y, %k = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc : tensor<?x2x?x16xf32>) kv_lens(%lens : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32> cache(tensor<?x2x?x16xf32>)
  return
}

// -----

func.func @head_linear_offset(%q: tensor<?x?x60xf32>, %wv: tensor<20x66xf32>) {
  // expected-error @+1 {{'weight_offset' = 12 puts each head's 12 weight columns past its 22}}
  %a = mha.head_linear %q, %wv {num_heads = 3, transpose_weight, weight_offset = 12}
      : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x84xf32>
  return
}

// -----

func.func @head_linear_heads(%q: tensor<?x?x60xf32>, %wv: tensor<20x66xf32>) {
  // expected-error @+1 {{'num_heads' = 4 must divide the columns of x, y and the weight}}
  %a = mha.head_linear %q, %wv {num_heads = 4, transpose_weight}
      : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x84xf32>
  return
}

// -----

func.func @head_linear_sizes(%q: tensor<?x?x42xf32>, %wv: tensor<20x66xf32>) {
  // expected-error @+1 {{each head must reduce K >= 1 columns into N >= 1 and carry C >= 0 more, got K = 20, N = 20, C = -6 (K = rows of the weight, C = Sx - K, N = Sy - C)}}
  %a = mha.head_linear %q, %wv {num_heads = 3}
      : tensor<?x?x42xf32>, tensor<20x66xf32> -> tensor<?x?x42xf32>
  return
}

// -----

func.func @rms_norm_columns(%c: tensor<?x?x28xf32>) {
  // expected-error @+1 {{'columns' must be in [1, 28], got 29}}
  %n = mha.rms_norm %c {columns = 29, eps = 1.0e-6 : f32} : tensor<?x?x28xf32> -> tensor<?x?x28xf32>
  return
}

// -----

func.func @rms_norm_eps(%c: tensor<?x?x28xf32>) {
  // expected-error @+1 {{'eps' must be finite and >= 0, got -1}}
  %n = mha.rms_norm %c {columns = 20, eps = -1.0 : f32} : tensor<?x?x28xf32> -> tensor<?x?x28xf32>
  return
}

// -----

// Packed sequences are the rows of a batch of one.
func.func @layer_packed_batch(%x: tensor<2x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %cu: tensor<?xi32>) {
  // expected-error @+1 {{'input' batch size (dim 0) must be 1 with 'cu_seqlens_q' (the sequences are packed rows), got 'tensor<2x?x64xf32>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<2x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<2x?x64xf32>
  return
}

// -----

// The offsets are i32 [S + 1].
func.func @layer_packed_type(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %cu: tensor<?xi64>) {
  // expected-error @+1 {{'cu_seqlens_q' must be a ranked tensor of i32 [S + 1], got 'tensor<?xi64>'}}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo cu_seqlens_q(%cu : tensor<?xi64>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
  return
}

// -----

// One source of each sequence's rows.
func.func @layer_q_lens_and_offsets(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<?xi32>, %ql: tensor<?xi32>, %cu: tensor<?xi32>,
    %kc: tensor<?x2x?x16xf32>, %vc: tensor<?x2x?x16xf32>) {
  // expected-error @+1 {{'q_lens' and 'cu_seqlens_q' both give the rows of each sequence: use one}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
      kv_lens(%lens : tensor<?xi32>) q_lens(%ql : tensor<?xi32>) cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32> cache(tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
  return
}

// -----

// q_lens has one entry per sequence.
func.func @layer_q_lens_size(%x: tensor<3x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %lens: tensor<3xi32>, %ql: tensor<2xi32>,
    %kc: tensor<3x2x?x16xf32>, %vc: tensor<3x2x?x16xf32>) {
  // expected-error @+1 {{'q_lens' size (dim 0) is 2 but 'input' has 3}}
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : tensor<3x2x?x16xf32>, tensor<3x2x?x16xf32>)
      kv_lens(%lens : tensor<3xi32>) q_lens(%ql : tensor<2xi32>)
      {num_heads = 4, num_kv_heads = 2}
      : tensor<3x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<3x?x64xf32> cache(tensor<3x2x?x16xf32>, tensor<3x2x?x16xf32>)
  return
}

// -----

// Packed sequences give no probabilities.
func.func @layer_packed_probs(%x: tensor<1x?x64xf32>, %wq: tensor<64x64xf32>,
    %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>,
    %cu: tensor<?xi32>) {
  // expected-error @+1 {{'return_probs' is not supported with packed sequences (cu_seqlens_q)}}
  %y, %p = mha.multi_head %x, %wq, %wk, %wv, %wo cu_seqlens_q(%cu : tensor<?xi32>)
      {num_heads = 4, num_kv_heads = 2, return_probs}
      : tensor<1x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64x32xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>, tensor<1x4x?x?xf32>
  return
}

// -----

// A projection counts RoPE positions from the packed offsets only when it
// rotates.
func.func @linear_offsets_without_rope(%x: tensor<1x?x64xf32>, %w: tensor<64x64xf32>,
                                       %cu: tensor<?xi32>) {
  // expected-error @+1 {{cu_seqlens are the i32 [S + 1] offsets of packed sequences (x [1, T, K]) whose rows RoPE counts from each start: they need rope_theta, got 'tensor<?xi32>' and x 'tensor<1x?x64xf32>'}}
  %y = mha.linear %x, %w cu_seqlens(%cu : tensor<?xi32>) {head_dim = 16 : i64}
      : tensor<1x?x64xf32>, tensor<64x64xf32> -> tensor<1x?x64xf32>
  return
}
