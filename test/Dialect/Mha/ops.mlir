// RUN: mha-opt %s | mha-opt | FileCheck %s
// RUN: mha-opt %s --mlir-print-op-generic | mha-opt | FileCheck %s

// Round trips of mha.attention and mha.multi_head through the custom and the
// generic form. Attributes print in alphabetical order.

//===----------------------------------------------------------------------===//
// mha.attention: head layouts, shapes and element types
//===----------------------------------------------------------------------===//

// Plain multi-head attention (Hq == Hkv), static shapes, no attributes.
// CHECK-LABEL: func.func @plain_mha
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x8x128x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x8x128x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x8x128x64xf32>)
// CHECK: %[[O:[a-z0-9_]+]] = mha.attention %[[Q]], %[[K]], %[[V]] :
// CHECK-SAME: tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32> -> tensor<2x8x128x64xf32>
// CHECK-NEXT: return %[[O]]
func.func @plain_mha(%q: tensor<2x8x128x64xf32>, %k: tensor<2x8x128x64xf32>,
                     %v: tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
       -> tensor<2x8x128x64xf32>
  return %o : tensor<2x8x128x64xf32>
}

// Grouped-query attention: 32 query heads share 8 KV heads.
// CHECK-LABEL: func.func @gqa
// CHECK: mha.attention
// CHECK-SAME: tensor<1x32x64x128xf32>, tensor<1x8x64x128xf32>, tensor<1x8x64x128xf32> -> tensor<1x32x64x128xf32>
func.func @gqa(%q: tensor<1x32x64x128xf32>, %k: tensor<1x8x64x128xf32>,
               %v: tensor<1x8x64x128xf32>) -> tensor<1x32x64x128xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<1x32x64x128xf32>, tensor<1x8x64x128xf32>, tensor<1x8x64x128xf32>
       -> tensor<1x32x64x128xf32>
  return %o : tensor<1x32x64x128xf32>
}

// Multi-query attention: a single KV head.
// CHECK-LABEL: func.func @mqa
// CHECK: mha.attention
// CHECK-SAME: tensor<4x16x32x64xf32>, tensor<4x1x32x64xf32>, tensor<4x1x32x64xf32> -> tensor<4x16x32x64xf32>
func.func @mqa(%q: tensor<4x16x32x64xf32>, %k: tensor<4x1x32x64xf32>,
               %v: tensor<4x1x32x64xf32>) -> tensor<4x16x32x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<4x16x32x64xf32>, tensor<4x1x32x64xf32>, tensor<4x1x32x64xf32>
       -> tensor<4x16x32x64xf32>
  return %o : tensor<4x16x32x64xf32>
}

// Dynamic B, Lq and Lk (H and D static).
// CHECK-LABEL: func.func @dynamic_batch_and_lengths
// CHECK: mha.attention
// CHECK-SAME: tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32> -> tensor<?x8x?x64xf32>
func.func @dynamic_batch_and_lengths(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                                     %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>
       -> tensor<?x8x?x64xf32>
  return %o : tensor<?x8x?x64xf32>
}

// Cross-attention shapes: Lq != Lk, a static query length and dynamic keys.
// CHECK-LABEL: func.func @cross_lengths
// CHECK: mha.attention
// CHECK-SAME: tensor<2x4x1x64xf32>, tensor<2x4x?x64xf32>, tensor<2x4x?x64xf32> -> tensor<2x4x1x64xf32>
func.func @cross_lengths(%q: tensor<2x4x1x64xf32>, %k: tensor<2x4x?x64xf32>,
                         %v: tensor<2x4x?x64xf32>) -> tensor<2x4x1x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x4x1x64xf32>, tensor<2x4x?x64xf32>, tensor<2x4x?x64xf32>
       -> tensor<2x4x1x64xf32>
  return %o : tensor<2x4x1x64xf32>
}

// A value head dim Dv different from the query/key head dim D.
// CHECK-LABEL: func.func @value_dim_differs
// CHECK: mha.attention
// CHECK-SAME: tensor<2x4x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x80xf32> -> tensor<2x4x16x80xf32>
func.func @value_dim_differs(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x32x64xf32>,
                             %v: tensor<2x4x32x80xf32>) -> tensor<2x4x16x80xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x4x16x64xf32>, tensor<2x4x32x64xf32>, tensor<2x4x32x80xf32>
       -> tensor<2x4x16x80xf32>
  return %o : tensor<2x4x16x80xf32>
}

// f16 inputs and output.
// CHECK-LABEL: func.func @f16
// CHECK: mha.attention
// CHECK-SAME: tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf16>
func.func @f16(%q: tensor<?x8x?x64xf16>, %k: tensor<?x8x?x64xf16>,
               %v: tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>
       -> tensor<?x8x?x64xf16>
  return %o : tensor<?x8x?x64xf16>
}

// bf16 inputs and output, with an odd head dim (80).
// CHECK-LABEL: func.func @bf16
// CHECK: mha.attention
// CHECK-SAME: tensor<?x8x?x80xbf16>, tensor<?x2x?x80xbf16>, tensor<?x2x?x80xbf16> -> tensor<?x8x?x80xbf16>
func.func @bf16(%q: tensor<?x8x?x80xbf16>, %k: tensor<?x2x?x80xbf16>,
                %v: tensor<?x2x?x80xbf16>) -> tensor<?x8x?x80xbf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x80xbf16>, tensor<?x2x?x80xbf16>, tensor<?x2x?x80xbf16>
       -> tensor<?x8x?x80xbf16>
  return %o : tensor<?x8x?x80xbf16>
}

//===----------------------------------------------------------------------===//
// mha.attention: attributes
//===----------------------------------------------------------------------===//

// An explicit f32 score scale.
// CHECK-LABEL: func.func @scale
// CHECK: mha.attention {{.*}} {scale = 1.250000e-01 : f32} :
func.func @scale(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {scale = 0.125 : f32}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// One temperature broadcast to every head.
// CHECK-LABEL: func.func @temperature_scalar
// CHECK: mha.attention {{.*}} {temperature = array<f32: 5.000000e-01>} :
func.func @temperature_scalar(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {temperature = array<f32: 0.5>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// One temperature per query head.
// CHECK-LABEL: func.func @temperature_per_head
// CHECK: mha.attention {{.*}} {temperature = array<f32: 5.000000e-01, 1.000000e+00, 2.000000e+00, 4.000000e+00>} :
func.func @temperature_per_head(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {temperature = array<f32: 0.5, 1.0, 2.0, 4.0>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// Logit soft-capping.
// CHECK-LABEL: func.func @softcap
// CHECK: mha.attention {{.*}} {softcap = 3.000000e+01 : f32} :
func.func @softcap(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {softcap = 30.0 : f32}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// ALiBi slopes, one per query head.
// CHECK-LABEL: func.func @alibi_slopes
// CHECK: mha.attention {{.*}} {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03>} :
func.func @alibi_slopes(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// Causal masking (a unit attribute).
// CHECK-LABEL: func.func @causal
// CHECK: mha.attention {{.*}} {causal} :
func.func @causal(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {causal}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// A left window shared by all heads.
// CHECK-LABEL: func.func @window_left_all_heads
// CHECK: mha.attention {{.*}} {causal, window_left = array<i64: 256>} :
func.func @window_left_all_heads(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {causal, window_left = array<i64: 256>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// Per-head windows left and right, -1 (unbounded) and 0 included.
// CHECK-LABEL: func.func @windows_per_head
// CHECK: mha.attention
// CHECK-SAME: window_left = array<i64: 64, -1, 0, 128>
// CHECK-SAME: window_right = array<i64: -1, 8, 0, -1>
func.func @windows_per_head(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {window_left = array<i64: 64, -1, 0, 128>,
                                 window_right = array<i64: -1, 8, 0, -1>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// Attention sinks with a local window.
// CHECK-LABEL: func.func @sink_tokens
// CHECK: mha.attention
// CHECK-SAME: {causal, sink_tokens = 4 : i64, window_left = array<i64: 128>}
func.func @sink_tokens(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {causal, sink_tokens = 4, window_left = array<i64: 128>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// A head mask pruning heads 1 and 3.
// CHECK-LABEL: func.func @head_mask
// CHECK: mha.attention {{.*}} {head_mask = array<i1: true, false, true, false>} :
func.func @head_mask(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {head_mask = array<i1: true, false, true, false>}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// Every variant attribute at once, on a grouped-query op.
// CHECK-LABEL: func.func @all_attributes
// CHECK: mha.attention
// CHECK-SAME: alibi_slopes = array<f32: 5.000000e-01>
// CHECK-SAME: causal
// CHECK-SAME: head_mask = array<i1: true, true, false, true>
// CHECK-SAME: scale = 1.000000e-01 : f32
// CHECK-SAME: sink_tokens = 2 : i64
// CHECK-SAME: softcap = 5.000000e+01 : f32
// CHECK-SAME: temperature = array<f32: 1.000000e+00, 1.500000e+00, 2.000000e+00, 2.500000e+00>
// CHECK-SAME: window_left = array<i64: 32, -1, 32, -1>
// CHECK-SAME: window_right = array<i64: 0>
func.func @all_attributes(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                          %v: tensor<?x2x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = mha.attention %q, %k, %v {
         scale = 0.1 : f32, temperature = array<f32: 1.0, 1.5, 2.0, 2.5>,
         softcap = 50.0 : f32, alibi_slopes = array<f32: 0.5>, causal,
         window_left = array<i64: 32, -1, 32, -1>, window_right = array<i64: 0>,
         sink_tokens = 2, head_mask = array<i1: true, true, false, true>}
       : tensor<?x4x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>
       -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

//===----------------------------------------------------------------------===//
// mha.attention: extra results
//===----------------------------------------------------------------------===//

// return_lse alone adds lse [B, Hq, Lq] f32 (here for f16 inputs).
// CHECK-LABEL: func.func @return_lse
// CHECK: %[[O:[a-z0-9_]+]], %[[LSE:[a-z0-9_]+]] = mha.attention {{.*}} {return_lse} :
// CHECK-SAME: -> tensor<2x8x16x64xf16>, tensor<2x8x16xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]]
func.func @return_lse(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>,
                      %v: tensor<2x2x32x64xf16>)
    -> (tensor<2x8x16x64xf16>, tensor<2x8x16xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x64xf16>
       -> tensor<2x8x16x64xf16>, tensor<2x8x16xf32>
  return %o, %lse : tensor<2x8x16x64xf16>, tensor<2x8x16xf32>
}

// return_probs alone adds probs [B, Hq, Lq, Lk] f32.
// CHECK-LABEL: func.func @return_probs
// CHECK: mha.attention {{.*}} {return_probs} :
// CHECK-SAME: -> tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>
func.func @return_probs(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>,
                        %v: tensor<2x2x32x64xf32>)
    -> (tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>) {
  %o, %p = mha.attention %q, %k, %v {return_probs}
       : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32>
       -> tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>
  return %o, %p : tensor<2x8x16x64xf32>, tensor<2x8x16x32xf32>
}

// return_entropy alone adds entropy [B, Hq, Lq] f32, with dynamic B and L.
// CHECK-LABEL: func.func @return_entropy
// CHECK: mha.attention {{.*}} {return_entropy} :
// CHECK-SAME: -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
func.func @return_entropy(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x8x?x64xbf16>,
                          %v: tensor<?x8x?x64xbf16>)
    -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %e = mha.attention %q, %k, %v {return_entropy}
       : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>
       -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %e : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

// All three extra results, in the order lse, probs, entropy.
// CHECK-LABEL: func.func @return_all_extras
// CHECK: %[[O:[a-z0-9_]+]], %[[X:[a-z0-9_]+]]:3 = mha.attention {{.*}} {causal, return_entropy, return_lse, return_probs} :
// CHECK-SAME: -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
// CHECK-NEXT: return %[[O]], %[[X]]#0, %[[X]]#1, %[[X]]#2
func.func @return_all_extras(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>,
                             %v: tensor<2x2x32x64xf32>)
    -> (tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>,
        tensor<2x8x16xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
       {causal, return_lse, return_probs, return_entropy}
       : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32>
       -> tensor<2x8x16x64xf32>, tensor<2x8x16xf32>, tensor<2x8x16x32xf32>,
          tensor<2x8x16xf32>
  return %o, %lse, %p, %e : tensor<2x8x16x64xf32>, tensor<2x8x16xf32>,
                            tensor<2x8x16x32xf32>, tensor<2x8x16xf32>
}

//===----------------------------------------------------------------------===//
// mha.multi_head
//===----------------------------------------------------------------------===//

// A standard layer: independent projections, num_heads only.
// CHECK-LABEL: func.func @layer_independent
// CHECK-SAME: (%[[X:[a-z0-9_]+]]: tensor<?x?x512xf32>, %[[WQ:[a-z0-9_]+]]: tensor<512x512xf32>, %[[WK:[a-z0-9_]+]]: tensor<512x512xf32>, %[[WV:[a-z0-9_]+]]: tensor<512x512xf32>, %[[WO:[a-z0-9_]+]]: tensor<512x512xf32>)
// CHECK: %[[Y:[a-z0-9_]+]] = mha.multi_head %[[X]], %[[WQ]], %[[WK]], %[[WV]], %[[WO]] {num_heads = 8 : i64} :
// CHECK-SAME: tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
// CHECK-NEXT: return %[[Y]]
func.func @layer_independent(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                             %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                             %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// A decoding step over a paged bf16 cache: the updated caches are results.
// CHECK-LABEL: func.func @layer_decoding_step
// CHECK-SAME: (%[[X:[a-z0-9_]+]]: tensor<?x?x64xbf16>, {{.*}}, %[[L:[a-z0-9_]+]]: tensor<?xi32>, %[[T:[a-z0-9_]+]]: tensor<?x?xi32>, %[[KC:[a-z0-9_]+]]: tensor<?x2x16x16xbf16>, %[[VC:[a-z0-9_]+]]: tensor<?x2x16x16xbf16>)
// CHECK: %{{.+}}, %{{.+}}, %{{.+}} = mha.multi_head %[[X]], %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} cache(%[[KC]], %[[VC]] : tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>) kv_lens(%[[L]] : tensor<?xi32>) block_table(%[[T]] : tensor<?x?xi32>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK-SAME: -> tensor<?x?x64xbf16> cache(tensor<?x2x16x16xbf16>, tensor<?x2x16x16xbf16>)
func.func @layer_decoding_step(%x: tensor<?x?x64xbf16>, %wq: tensor<64x64xbf16>,
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

// An explicit #mha.sharing<independent> with grouped-query num_kv_heads.
// CHECK-LABEL: func.func @layer_gqa_explicit_sharing
// CHECK: mha.multi_head
// CHECK-SAME: {num_heads = 8 : i64, num_kv_heads = 2 : i64, sharing = #mha.sharing<independent>}
// CHECK-SAME: tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>, tensor<512x128xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
func.func @layer_gqa_explicit_sharing(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                                      %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>,
                                      %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo
       {num_heads = 8, num_kv_heads = 2, sharing = #mha.sharing<independent>}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
         tensor<512x128xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// A multi-query layer (num_kv_heads = 1) in f16.
// CHECK-LABEL: func.func @layer_mqa_f16
// CHECK: mha.multi_head
// CHECK-SAME: {num_heads = 8 : i64, num_kv_heads = 1 : i64}
// CHECK-SAME: tensor<2x16x256xf16>, tensor<256x256xf16>, tensor<256x32xf16>, tensor<256x32xf16>, tensor<256x256xf16> -> tensor<2x16x256xf16>
func.func @layer_mqa_f16(%x: tensor<2x16x256xf16>, %wq: tensor<256x256xf16>,
                         %wk: tensor<256x32xf16>, %wv: tensor<256x32xf16>,
                         %wo: tensor<256x256xf16>) -> tensor<2x16x256xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 1}
       : tensor<2x16x256xf16>, tensor<256x256xf16>, tensor<256x32xf16>,
         tensor<256x32xf16>, tensor<256x256xf16> -> tensor<2x16x256xf16>
  return %y : tensor<2x16x256xf16>
}

// Q/K/V biases only (bq, bk, bv follow wo).
// CHECK-LABEL: func.func @layer_qkv_bias
// CHECK-SAME: %[[BQ:[a-z0-9_]+]]: tensor<512xf32>, %[[BK:[a-z0-9_]+]]: tensor<128xf32>, %[[BV:[a-z0-9_]+]]: tensor<128xf32>)
// CHECK: mha.multi_head %{{.+}}, %[[BQ]], %[[BK]], %[[BV]] {has_qkv_bias, num_heads = 8 : i64, num_kv_heads = 2 : i64} :
// CHECK-SAME: tensor<512x512xf32>, tensor<512xf32>, tensor<128xf32>, tensor<128xf32> -> tensor<?x?x512xf32>
func.func @layer_qkv_bias(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                          %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>,
                          %wo: tensor<512x512xf32>, %bq: tensor<512xf32>,
                          %bk: tensor<128xf32>, %bv: tensor<128xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv
       {num_heads = 8, num_kv_heads = 2, has_qkv_bias}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
         tensor<512x128xf32>, tensor<512x512xf32>, tensor<512xf32>,
         tensor<128xf32>, tensor<128xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// The output bias only (bo follows wo).
// CHECK-LABEL: func.func @layer_out_bias
// CHECK-SAME: %[[WO:[a-z0-9_]+]]: tensor<512x512xf32>, %[[BO:[a-z0-9_]+]]: tensor<512xf32>)
// CHECK: mha.multi_head %{{.+}}, %[[WO]], %[[BO]] {has_out_bias, num_heads = 8 : i64} :
// CHECK-SAME: tensor<512x512xf32>, tensor<512xf32> -> tensor<?x?x512xf32>
func.func @layer_out_bias(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                          %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                          %wo: tensor<512x512xf32>, %bo: tensor<512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 8, has_out_bias}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32>, tensor<512xf32>
       -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// All four biases, in the order bq, bk, bv, bo.
// CHECK-LABEL: func.func @layer_all_biases
// CHECK-SAME: %[[BQ:[a-z0-9_]+]]: tensor<512xf32>, %[[BK:[a-z0-9_]+]]: tensor<512xf32>, %[[BV:[a-z0-9_]+]]: tensor<512xf32>, %[[BO:[a-z0-9_]+]]: tensor<512xf32>)
// CHECK: mha.multi_head %{{.+}}, %[[BQ]], %[[BK]], %[[BV]], %[[BO]] {has_out_bias, has_qkv_bias, num_heads = 8 : i64} :
func.func @layer_all_biases(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                            %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                            %wo: tensor<512x512xf32>, %bq: tensor<512xf32>,
                            %bk: tensor<512xf32>, %bv: tensor<512xf32>,
                            %bo: tensor<512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
       {num_heads = 8, has_qkv_bias, has_out_bias}
       : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32>, tensor<512xf32>,
         tensor<512xf32>, tensor<512xf32>, tensor<512xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// Shared projections [d, D] with per-head biases [H, D], grouped-query.
// CHECK-LABEL: func.func @layer_shared_head_bias
// CHECK: mha.multi_head
// CHECK-SAME: {has_qkv_bias, num_heads = 8 : i64, num_kv_heads = 2 : i64, sharing = #mha.sharing<shared_head_bias>}
// CHECK-SAME: tensor<?x?x512xf32>, tensor<512x64xf32>, tensor<512x64xf32>, tensor<512x64xf32>, tensor<512x512xf32>, tensor<8x64xf32>, tensor<2x64xf32>, tensor<2x64xf32> -> tensor<?x?x512xf32>
func.func @layer_shared_head_bias(%x: tensor<?x?x512xf32>, %wq: tensor<512x64xf32>,
                                  %wk: tensor<512x64xf32>, %wv: tensor<512x64xf32>,
                                  %wo: tensor<512x512xf32>, %bq: tensor<8x64xf32>,
                                  %bk: tensor<2x64xf32>, %bv: tensor<2x64xf32>)
    -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv
       {num_heads = 8, num_kv_heads = 2, sharing = #mha.sharing<shared_head_bias>,
        has_qkv_bias}
       : tensor<?x?x512xf32>, tensor<512x64xf32>, tensor<512x64xf32>,
         tensor<512x64xf32>, tensor<512x512xf32>, tensor<8x64xf32>,
         tensor<2x64xf32>, tensor<2x64xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// Shared projections with per-head biases and an output bias.
// CHECK-LABEL: func.func @layer_shared_head_bias_out_bias
// CHECK: mha.multi_head
// CHECK-SAME: {has_out_bias, has_qkv_bias, num_heads = 4 : i64, sharing = #mha.sharing<shared_head_bias>}
// CHECK-SAME: tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
func.func @layer_shared_head_bias_out_bias(%x: tensor<2x16x256xf32>, %w: tensor<256x64xf32>,
                                           %wo: tensor<256x256xf32>, %b: tensor<4x64xf32>,
                                           %bo: tensor<256xf32>) -> tensor<2x16x256xf32> {
  %y = mha.multi_head %x, %w, %w, %w, %wo, %b, %b, %b, %bo
       {num_heads = 4, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias,
        has_out_bias}
       : tensor<2x16x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>,
         tensor<256x64xf32>, tensor<256x256xf32>, tensor<4x64xf32>,
         tensor<4x64xf32>, tensor<4x64xf32>, tensor<256xf32> -> tensor<2x16x256xf32>
  return %y : tensor<2x16x256xf32>
}

// Rotary position embeddings on a causal bf16 layer.
// CHECK-LABEL: func.func @layer_rope
// CHECK: mha.multi_head
// CHECK-SAME: {causal, num_heads = 8 : i64, rope_theta = 1.000000e+04 : f32}
// CHECK-SAME: -> tensor<?x?x512xbf16>
func.func @layer_rope(%x: tensor<?x?x512xbf16>, %w: tensor<512x512xbf16>) -> tensor<?x?x512xbf16> {
  %y = mha.multi_head %x, %w, %w, %w, %w {num_heads = 8, rope_theta = 10000.0 : f32, causal}
       : tensor<?x?x512xbf16>, tensor<512x512xbf16>, tensor<512x512xbf16>,
         tensor<512x512xbf16>, tensor<512x512xbf16> -> tensor<?x?x512xbf16>
  return %y : tensor<?x?x512xbf16>
}

// Attention attributes on a layer: per-head sizes follow num_heads.
// CHECK-LABEL: func.func @layer_attention_attributes
// CHECK: mha.multi_head
// CHECK-SAME: alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03>
// CHECK-SAME: causal
// CHECK-SAME: head_mask = array<i1: true, false, true, true>
// CHECK-SAME: num_heads = 4 : i64
// CHECK-SAME: scale = 1.250000e-01 : f32
// CHECK-SAME: sink_tokens = 4 : i64
// CHECK-SAME: softcap = 3.000000e+01 : f32
// CHECK-SAME: temperature = array<f32: 1.000000e+00, 2.000000e+00, 1.000000e+00, 2.000000e+00>
// CHECK-SAME: window_left = array<i64: 16, -1, 16, -1>
// CHECK-SAME: window_right = array<i64: -1>
func.func @layer_attention_attributes(%x: tensor<2x16x256xf32>, %w: tensor<256x256xf32>)
    -> tensor<2x16x256xf32> {
  %y = mha.multi_head %x, %w, %w, %w, %w {
         num_heads = 4, scale = 0.125 : f32,
         temperature = array<f32: 1.0, 2.0, 1.0, 2.0>, softcap = 30.0 : f32,
         alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>, causal,
         window_left = array<i64: 16, -1, 16, -1>, window_right = array<i64: -1>,
         sink_tokens = 4, head_mask = array<i1: true, false, true, true>}
       : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>,
         tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return %y : tensor<2x16x256xf32>
}

// Extra results of a layer: lse [B, Hq, L], probs [B, Hq, L, L], entropy.
// CHECK-LABEL: func.func @layer_extras
// CHECK: %[[Y:[a-z0-9_]+]], %[[X:[a-z0-9_]+]]:3 = mha.multi_head
// CHECK-SAME: {num_heads = 4 : i64, return_entropy, return_lse, return_probs}
// CHECK-SAME: -> tensor<2x16x256xf32>, tensor<2x4x16xf32>, tensor<2x4x16x16xf32>, tensor<2x4x16xf32>
// CHECK-NEXT: return %[[Y]], %[[X]]#0, %[[X]]#1, %[[X]]#2
func.func @layer_extras(%x: tensor<2x16x256xf32>, %w: tensor<256x256xf32>)
    -> (tensor<2x16x256xf32>, tensor<2x4x16xf32>, tensor<2x4x16x16xf32>,
        tensor<2x4x16xf32>) {
  %y, %lse, %p, %e = mha.multi_head %x, %w, %w, %w, %w
       {num_heads = 4, return_lse, return_probs, return_entropy}
       : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>,
         tensor<256x256xf32>, tensor<256x256xf32>
       -> tensor<2x16x256xf32>, tensor<2x4x16xf32>, tensor<2x4x16x16xf32>,
          tensor<2x4x16xf32>
  return %y, %lse, %p, %e : tensor<2x16x256xf32>, tensor<2x4x16xf32>,
                            tensor<2x4x16x16xf32>, tensor<2x4x16xf32>
}

// Dialect-prefixed discardable attributes are kept (only bare unknown names are rejected).
// CHECK-LABEL: func.func @discardable_attribute
// CHECK: mha.attention {{.*}} {causal, mha.note = "kept"} :
func.func @discardable_attribute(%q: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = mha.attention %q, %q, %q {causal, mha.note = "kept"}
       : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// The ops of an expanded layer round-trip: a projection with bias, RoPE and
// pruned blocks, the head views.
// CHECK-LABEL: func.func @expanded_layer_ops
// CHECK: mha.linear %{{.+}}, %{{.+}}, %{{.+}} {head_dim = 8 : i64, live_blocks = array<i64: 1>, live_input_blocks = array<i64: 0>, replicas = 2 : i64, rope_theta = 1.000000e+04 : f32} : tensor<?x?x16xbf16>, tensor<16x8xbf16>, tensor<2x8xbf16> -> tensor<?x?x16xf32>
// CHECK: mha.split_heads %{{.+}} : tensor<?x?x16xf32> -> tensor<?x2x?x8xf32>
// CHECK: mha.merge_heads %{{.+}} : tensor<?x2x?x8xf32> -> tensor<?x?x16xf32>
func.func @expanded_layer_ops(%x: tensor<?x?x16xbf16>, %w: tensor<16x8xbf16>, %b: tensor<2x8xbf16>) -> tensor<?x?x16xf32> {
  %q = mha.linear %x, %w, %b {replicas = 2, head_dim = 8, rope_theta = 1.0e4 : f32, live_blocks = array<i64: 1>, live_input_blocks = array<i64: 0>}
     : tensor<?x?x16xbf16>, tensor<16x8xbf16>, tensor<2x8xbf16> -> tensor<?x?x16xf32>
  %h = mha.split_heads %q : tensor<?x?x16xf32> -> tensor<?x2x?x8xf32>
  %m = mha.merge_heads %h : tensor<?x2x?x8xf32> -> tensor<?x?x16xf32>
  return %m : tensor<?x?x16xf32>
}

// An absorbed latent step's ops round-trip: the per-head products with
// slices of Wv, the latent's RMS norm and the append of keys only.
// CHECK-LABEL: func.func @absorbed_latent_ops
// CHECK: mha.head_linear %{{.+}}, %{{.+}} {num_heads = 3 : i64, transpose_weight} : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x84xf32>
// CHECK: mha.head_linear %{{.+}}, %{{.+}} {num_heads = 3 : i64, weight_offset = 12 : i64} : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x30xf32>
// CHECK: mha.rms_norm %{{.+}} {columns = 20 : i64, eps = 9.99999997E-7 : f32} : tensor<?x?x28xf32> -> tensor<?x?x28xf32>
// CHECK: mha.append_kv %{{.+}} into %{{.+}} kv_lens(%{{.+}} : tensor<?xi32>) : tensor<?x1x?x28xf32>, tensor<?x1x?x28xf32> -> tensor<?x1x?x28xf32>
// CHECK: mha.multi_head {{.+}} cache(%{{.+}} : tensor<?x1x?x28xf32>) kv_lens(%{{.+}} : tensor<?xi32>) {{.+}} -> tensor<?x?x48xf32> cache(tensor<?x1x?x28xf32>)
func.func @absorbed_latent_ops(%q: tensor<?x?x60xf32>, %wv: tensor<20x66xf32>,
    %c: tensor<?x?x28xf32>, %kc: tensor<?x1x?x28xf32>, %l: tensor<?xi32>,
    %x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>,
    %wo: tensor<30x48xf32>) -> (tensor<?x?x84xf32>, tensor<?x?x30xf32>, tensor<?x1x?x28xf32>, tensor<?x?x48xf32>) {
  %qa = mha.head_linear %q, %wv {num_heads = 3, transpose_weight}
      : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x84xf32>
  %oa = mha.head_linear %q, %wv {num_heads = 3, weight_offset = 12}
      : tensor<?x?x60xf32>, tensor<20x66xf32> -> tensor<?x?x30xf32>
  %n = mha.rms_norm %c {columns = 20, eps = 1.0e-6 : f32} : tensor<?x?x28xf32> -> tensor<?x?x28xf32>
  %h = mha.split_heads %n : tensor<?x?x28xf32> -> tensor<?x1x?x28xf32>
  %k = mha.append_kv %h into %kc kv_lens(%l : tensor<?xi32>)
      : tensor<?x1x?x28xf32>, tensor<?x1x?x28xf32> -> tensor<?x1x?x28xf32>
  %y, %k2 = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc : tensor<?x1x?x28xf32>)
      kv_lens(%l : tensor<?xi32>) {num_heads = 3, sharing = #mha.sharing<latent>}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32> cache(tensor<?x1x?x28xf32>)
  return %qa, %oa, %k, %y : tensor<?x?x84xf32>, tensor<?x?x30xf32>, tensor<?x1x?x28xf32>, tensor<?x?x48xf32>
}

// mha.backward on a function of one attention returning o and lse (the
// training entry point, docs/language.md 7.1): kept as a unit attribute.
// CHECK-LABEL: func.func @with_backward
// CHECK-SAME: attributes {mha.backward}
func.func @with_backward(%q: tensor<?x4x?x64xf32>, %k: tensor<?x2x?x64xf32>, %v: tensor<?x2x?x64xf32>)
    -> (tensor<?x4x?x64xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>
       -> tensor<?x4x?x64xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xf32>, tensor<?x4x?xf32>
}

// mha.merge_states: two partial results over disjoint keys; dynamic B and L.
// CHECK-LABEL: func.func @merge
// CHECK: mha.merge_states %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>, tensor<2x8x?x128xbf16>, tensor<?x8x5xf32> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
func.func @merge(%oa: tensor<?x8x?x128xbf16>, %la: tensor<?x8x?xf32>,
                 %ob: tensor<2x8x?x128xbf16>, %lb: tensor<?x8x5xf32>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>, tensor<2x8x?x128xbf16>,
        tensor<?x8x5xf32> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}
