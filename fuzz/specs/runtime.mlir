// Specs compiled at build time (mha-compile -o runtime_specs.o, linked with
// the sanitizer-instrumented runtime) for mha-fuzz-runtime. The fuzzer's
// table `kFunctions` (mha-fuzz-runtime.cpp) mirrors these signatures: keep
// them in sync.

// Static shapes, grouped-query 4:2, Dv != D, lse.
func.func @fz_static(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>,
                     %v: tensor<2x2x8x8xf32>)
    -> (tensor<2x4x8x8xf32>, tensor<2x4x8xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x8xf32>
       -> tensor<2x4x8x8xf32>, tensor<2x4x8xf32>
  return %o, %lse : tensor<2x4x8x8xf32>, tensor<2x4x8xf32>
}

// Dynamic B, Lq, Lk; every extra result; masks, sinks, a static head mask,
// score modifiers.
func.func @fz_dynamic(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                      %v: tensor<?x4x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, window_left = array<i64: 3, -1, 0, 7>,
          window_right = array<i64: 1, 0, -1, 2>, sink_tokens = 2,
          head_mask = array<i1: true, true, false, true>,
          softcap = 5.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.0, 1.0>,
          temperature = array<f32: 0.5>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}

// f16, multi-query (Hkv = 1), dynamic B and L, causal.
func.func @fz_half(%q: tensor<?x3x?x8xf16>, %k: tensor<?x1x?x8xf16>,
                   %v: tensor<?x1x?x8xf16>) -> tensor<?x3x?x8xf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x3x?x8xf16>, tensor<?x1x?x8xf16>, tensor<?x1x?x8xf16>
       -> tensor<?x3x?x8xf16>
  return %o : tensor<?x3x?x8xf16>
}

// bf16, static batch, static Lq, dynamic Lk, probs.
func.func @fz_bf16(%q: tensor<1x2x5x4xbf16>, %k: tensor<1x2x?x4xbf16>,
                   %v: tensor<1x2x?x4xbf16>)
    -> (tensor<1x2x5x4xbf16>, tensor<1x2x5x?xf32>) {
  %o, %p = mha.attention %q, %k, %v {window_left = array<i64: 2>, return_probs}
       : tensor<1x2x5x4xbf16>, tensor<1x2x?x4xbf16>, tensor<1x2x?x4xbf16>
       -> tensor<1x2x5x4xbf16>, tensor<1x2x5x?xf32>
  return %o, %p : tensor<1x2x5x4xbf16>, tensor<1x2x5x?xf32>
}

// A layer (issue 23): the layer launcher, its temporaries and their cache
// (whose limit the fuzzer changes between calls); GQA 2:1, biases, RoPE,
// causal; dynamic B and L.
func.func @fz_layer(%x: tensor<?x?x8xf32>, %wq: tensor<8x8xf32>,
                    %wk: tensor<8x4xf32>, %wv: tensor<8x4xf32>,
                    %wo: tensor<8x8xf32>, %bo: tensor<8xf32>)
    -> tensor<?x?x8xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo
         {num_heads = 2, num_kv_heads = 1, has_out_bias,
          rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8x4xf32>,
         tensor<8x4xf32>, tensor<8x8xf32>, tensor<8xf32>
       -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// Training: dropout, the entropy and its gradient; also exports
// fz_train_backward(q, k, v, o, lse, dout, dentropy, dq, dk, dv).
func.func @fz_train(%q: tensor<?x2x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                    %v: tensor<?x1x?x8xf32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>)
    attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %k, %v
      {causal, window_left = array<i64: 3, -1>, dropout = array<f32: 0.5, 0.0>,
       return_lse, return_entropy}
       : tensor<?x2x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
       -> tensor<?x2x?x8xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
  return %o, %lse, %h : tensor<?x2x?x8xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>
}

// bf16 training whose key items own whole KV heads (4 KV heads, D = 16):
// they sum dq in the runtime's f32 temporary, on bf16 pairs where the CPU
// has AVX512-BF16; exports fz_train16_backward(q, k, v, o, lse, dout, dq,
// dk, dv).
func.func @fz_train16(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>,
                      %v: tensor<?x4x?x16xbf16>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>
       -> tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
}

// Serving (issue 18): a paged cache (any page size) with key lengths and
// padded query rows, causal, MQA 4:1 so that one sequence's keys split
// across items when the pool holds >= 2048 keys; exports
// fz_paged(q, k, v, kv_lens, q_lens, block_table, o, lse).
func.func @fz_paged(%q: tensor<?x4x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                    %v: tensor<?x1x?x8xf32>, %kv_lens: tensor<?xi32>,
                    %q_lens: tensor<?xi32>, %table: tensor<?x?xi32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v kv_lens(%kv_lens : tensor<?xi32>)
      q_lens(%q_lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {causal, return_lse}
      : tensor<?x4x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
      -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}

// Packed sequences (cu_seqlens) of queries and keys, Dv != D, a window per
// head; exports fz_packed(q, k, v, cu_q, cu_k, o, lse).
func.func @fz_packed(%q: tensor<1x2x?x8xf32>, %k: tensor<1x1x?x8xf32>,
                     %v: tensor<1x1x?x4xf32>, %cu_q: tensor<?xi32>,
                     %cu_k: tensor<?xi32>)
    -> (tensor<1x2x?x4xf32>, tensor<1x2x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v cu_seqlens_q(%cu_q : tensor<?xi32>)
      cu_seqlens_k(%cu_k : tensor<?xi32>)
      {causal, window_left = array<i64: 4, -1>, return_lse}
      : tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x4xf32>
      -> tensor<1x2x?x4xf32>, tensor<1x2x?xf32>
  return %o, %lse : tensor<1x2x?x4xf32>, tensor<1x2x?xf32>
}

// An int8 paged cache with a scale per page and KV head; exports
// fz_int8(q, k, v, k_scale, v_scale, kv_lens, block_table, o).
func.func @fz_int8(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xi8>,
                   %v: tensor<?x2x?x8xi8>, %ks: tensor<?x2xf32>,
                   %vs: tensor<?x2xf32>, %kv_lens: tensor<?xi32>,
                   %table: tensor<?x?xi32>) -> tensor<?x4x?x8xf32> {
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : tensor<?x2xf32>, tensor<?x2xf32>)
      kv_lens(%kv_lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>) {causal}
      : tensor<?x4x?x8xf32>, tensor<?x2x?x8xi8>, tensor<?x2x?x8xi8>
      -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// Appending new keys and values in place into a paged cache, a count of
// new keys per sequence (q_lens); exports fz_append(k_new, v_new, kv_lens,
// q_lens, block_table, k_cache, v_cache).
func.func @fz_append(%k_new: tensor<?x2x?x8xf32>, %v_new: tensor<?x2x?x8xf32>,
                     %kv_lens: tensor<?xi32>, %q_lens: tensor<?xi32>,
                     %table: tensor<?x?xi32>, %k_cache: tensor<?x2x?x8xf32>,
                     %v_cache: tensor<?x2x?x8xf32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>) {
  %kc, %vc = mha.append_kv %k_new, %v_new into %k_cache, %v_cache
      kv_lens(%kv_lens : tensor<?xi32>) q_lens(%q_lens : tensor<?xi32>)
      block_table(%table : tensor<?x?xi32>)
      : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
        tensor<?x2x?x8xf32> -> tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
  return %kc, %vc : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
}

// A layer's decoding step (5.8) over a paged cache: projections, RoPE at
// the cache positions, the append in place, attention, Wo; exports
// fz_step(x, wq, wk, wv, wo, kv_lens, block_table, k_cache, v_cache, y).
func.func @fz_step(%x: tensor<?x?x8xf32>, %wq: tensor<8x8xf32>,
                   %wk: tensor<8x4xf32>, %wv: tensor<8x4xf32>,
                   %wo: tensor<8x8xf32>, %kv_lens: tensor<?xi32>,
                   %table: tensor<?x?xi32>, %k_cache: tensor<?x1x?x4xf32>,
                   %v_cache: tensor<?x1x?x4xf32>)
    -> (tensor<?x?x8xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) {
  %y, %kc, %vc = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%k_cache, %v_cache : tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>)
      kv_lens(%kv_lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
      {num_heads = 2, num_kv_heads = 1, rope_theta = 10000.0 : f32, causal}
      : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8x4xf32>, tensor<8x4xf32>,
        tensor<8x8xf32> -> tensor<?x?x8xf32> cache(tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>)
  return %y, %kc, %vc : tensor<?x?x8xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>
}

// Merging two partial results (4.5), bf16 outputs with f32 lse; exports
// fz_merge(o_a, lse_a, o_b, lse_b, o, lse).
func.func @fz_merge(%oa: tensor<?x2x?x4xbf16>, %la: tensor<?x2x?xf32>,
                    %ob: tensor<?x2x?x4xbf16>, %lb: tensor<?x2x?xf32>)
    -> (tensor<?x2x?x4xbf16>, tensor<?x2x?xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x2x?x4xbf16>, tensor<?x2x?xf32>, tensor<?x2x?x4xbf16>,
        tensor<?x2x?xf32> -> tensor<?x2x?x4xbf16>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x4xbf16>, tensor<?x2x?xf32>
}

// A layer that trains (7.1): exports fz_tlayer, fz_tlayer_backward(x, wq,
// wk, wv, wo, dy, dx, dwq, dwk, dwv, dwo), fz_tlayer_forward_train(x, wq,
// wk, wv, wo, y) and fz_tlayer_saved_bytes(B, L): the fuzzer hands the
// last two saved-activation buffers of fuzzed size and alignment, the
// backward none, garbage or what a forward_train of the same call wrote.
func.func @fz_tlayer(%x: tensor<?x?x8xf32>, %wq: tensor<8x8xf32>,
                     %wk: tensor<8x4xf32>, %wv: tensor<8x4xf32>,
                     %wo: tensor<8x8xf32>) -> tensor<?x?x8xf32>
    attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo
         {num_heads = 2, num_kv_heads = 1, rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8x4xf32>,
         tensor<8x4xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}
