//===- MhaOps.td - Operations of the mha dialect -----------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_OPS_TD
#define MHA_DIALECT_MHA_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mha/MhaDialect.td"
include "mha/MhaAttrs.td"

// The attributes that say which attention variant is computed. They are
// shared verbatim by `mha.attention` and `mha.multi_head` (docs/language.md: "every
// mha.attention attribute is accepted and means the same").
defvar Mha_AttentionVariantAttrs = (ins
  OptionalAttr<F32Attr>:$scale,
  OptionalAttr<DenseF32ArrayAttr>:$temperature,
  OptionalAttr<F32Attr>:$softcap,
  OptionalAttr<DenseF32ArrayAttr>:$alibi_slopes,
  UnitAttr:$causal,
  OptionalAttr<DenseI64ArrayAttr>:$window_left,
  OptionalAttr<DenseI64ArrayAttr>:$window_right,
  OptionalAttr<I64Attr>:$sink_tokens,
  OptionalAttr<DenseBoolArrayAttr>:$head_mask,
  OptionalAttr<DenseF32ArrayAttr>:$dropout,
  UnitAttr:$return_lse,
  UnitAttr:$return_probs,
  UnitAttr:$return_entropy
);

// Accessors of the extra results, which follow the main result in the order
// lse, probs, entropy (those requested).
defvar Mha_ExtraResultAccessors = [{
    /// Number of extra results the return_* attributes request.
    unsigned getNumRequestedExtras() {
      return unsigned(getReturnLse()) + unsigned(getReturnProbs()) +
             unsigned(getReturnEntropy());
    }
    /// `lse [B, Hq, Lq]`, or null when not requested.
    ::mlir::Value getLse() {
      return getReturnLse() ? getExtras()[0] : ::mlir::Value();
    }
    /// `probs [B, Hq, Lq, Lk]`, or null when not requested.
    ::mlir::Value getProbs() {
      return getReturnProbs() ? getExtras()[unsigned(getReturnLse())]
                              : ::mlir::Value();
    }
    /// `entropy [B, Hq, Lq]`, or null when not requested.
    ::mlir::Value getEntropy() {
      return getReturnEntropy() ? getExtras().back() : ::mlir::Value();
    }
}];

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

def Mha_AttentionOp : Mha_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "scaled dot-product attention with per-head variants";
  let description = [{
    Computes attention for every batch `b`, query head `h` and query `i`:

    ```
    g      = h / (Hq / Hkv)                              (KV head of h)
    s_ij   = (q[b,h,i] . k[b,g,j]) * scale / temperature[h]
    s_ij   = softcap * tanh(s_ij / softcap)              (if softcap)
    s_ij  -= alibi_slopes[h] * |i + Lk - Lq - j|         (if alibi_slopes)
    p_ij   = softmax over the keys j visible to i (masks below)
    o[b,h,i] = sum_j p_ij * v[b,g,j]
    ```

    With `off = Lk - Lq` (bottom-right alignment), key `j` is visible to
    query `i` iff all of these hold:
    - `causal`: `j <= i + off`;
    - `window_left[h] != -1`: `j >= i + off - window_left[h]`, unless
      `j < sink_tokens`;
    - `window_right[h] != -1`: `j <= i + off + window_right[h]`, unless
      `j < sink_tokens`.
    A row with no visible key gives `o = 0`, `lse = -inf`, `entropy = 0`.
    A head whose `head_mask` entry is false is pruned: its output,
    probabilities and entropy are 0.

    `dropout[h]` (`0 <= p < 1`) drops probabilities after the softmax:
    `o[b,h,i] = sum_j p_ij * keep_ij / (1 - dropout[h]) * v[b,g,j]`, with
    `keep_ij` from Philox4x32-10 seeded by `mha_options.dropout_seed` and
    `dropout_offset` (docs/language.md, 6.7); `lse`, `probs` and `entropy`
    are those before dropout.

    Shapes: `query [B, Hq, Lq, D]`, `key [B, Hkv, Lk, D]`,
    `value [B, Hkv, Lk, Dv]`, `output [B, Hq, Lq, Dv]` with `Hq % Hkv == 0`.
    `B` and `L` may be dynamic; `H` and `D` are static. Element types are
    f32, f16 or bf16, all equal; accumulation is f32.

    Quantized caches: with `kv_scales(%key_scale, %value_scale)`, `key` and
    `value` are i8 and stand for `key[b,g,j,:] * key_scale[g]` (f32 scales
    `[Hkv]`), or with `block_table` optionally `key_scale[page, g]` per page
    (`[pages, Hkv]`); likewise `value`. Scales must be finite and > 0.

    Per-head attributes (`temperature`, `alibi_slopes`, `window_left`,
    `window_right`, `dropout`) hold one value for all heads or exactly `Hq` values;
    `head_mask` holds exactly `Hq` values. `scale` defaults to `1/sqrt(D)`.

    Extra f32 results follow `output` in this order, each present only when
    requested: `lse [B, Hq, Lq]` (`return_lse`, natural log-sum-exp of the
    visible scores), `probs [B, Hq, Lq, Lk]` (`return_probs`) and
    `entropy [B, Hq, Lq]` (`return_entropy`, nats).

    Example (grouped-query, causal, a local head and a global head):

    ```mlir
    %o, %lse = mha.attention %q, %k, %v {causal,
                   window_left = array<i64: 256, -1>, return_lse}
        : tensor<?x2x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>
        -> tensor<?x2x?x64xf16>, tensor<?x2x?xf32>
    ```
  }];

  let arguments = !con((ins AnyType:$query, AnyType:$key, AnyType:$value,
                            Optional<AnyType>:$key_scale,
                            Optional<AnyType>:$value_scale,
                            Optional<AnyType>:$kv_lens,
                            Optional<AnyType>:$q_lens,
                            Optional<AnyType>:$block_table,
                            Optional<AnyType>:$cu_seqlens_q,
                            Optional<AnyType>:$cu_seqlens_k),
                       Mha_AttentionVariantAttrs);
  let results = (outs AnyType:$output, Variadic<AnyType>:$extras);

  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`kv_scales` `(` $key_scale^ `,` $value_scale `:` type($key_scale) `,`
     type($value_scale) `)`)?
    (`kv_lens` `(` $kv_lens^ `:` type($kv_lens) `)`)?
    (`q_lens` `(` $q_lens^ `:` type($q_lens) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `:` type($cu_seqlens_q) `)`)?
    (`cu_seqlens_k` `(` $cu_seqlens_k^ `:` type($cu_seqlens_k) `)`)?
    attr-dict `:` type($query) `,` type($key) `,`
    type($value) `->` type($output) (`,` type($extras)^)?
  }];

  let builders = [
    // The operation without serving operands.
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes, "::mlir::Value":$query,
                   "::mlir::Value":$key, "::mlir::Value":$value,
                   "::llvm::ArrayRef<::mlir::NamedAttribute>":$attributes)>,
    // Over a cache: `kv_lens` and, for pages, `block_table`; the scales of
    // an i8 cache (the table and the scales may be null).
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes, "::mlir::Value":$query,
                   "::mlir::Value":$key, "::mlir::Value":$value,
                   "::mlir::Value":$keyScale, "::mlir::Value":$valueScale,
                   "::mlir::Value":$kvLens, "::mlir::Value":$blockTable,
                   "::llvm::ArrayRef<::mlir::NamedAttribute>":$attributes)>,
    // With any serving operands (each may be null).
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes, "::mlir::Value":$query,
                   "::mlir::Value":$key, "::mlir::Value":$value,
                   "::mlir::Value":$keyScale, "::mlir::Value":$valueScale,
                   "::mlir::Value":$kvLens, "::mlir::Value":$qLens,
                   "::mlir::Value":$blockTable, "::mlir::Value":$cuSeqlensQ,
                   "::mlir::Value":$cuSeqlensK,
                   "::llvm::ArrayRef<::mlir::NamedAttribute>":$attributes)>
  ];
  let hasVerifier = 1;
  let extraClassDeclaration = Mha_ExtraResultAccessors # [{
    /// Whether any of kv_lens, q_lens, block_table, cu_seqlens_q and
    /// cu_seqlens_k is given (docs/language.md 4.6).
    bool hasServingOperands() {
      return getKvLens() || getQLens() || getBlockTable() ||
             getCuSeqlensQ() || getCuSeqlensK();
    }
  }];
}

//===----------------------------------------------------------------------===//
// MergeStatesOp
//===----------------------------------------------------------------------===//

def Mha_MergeStatesOp : Mha_Op<"merge_states", [Pure]> {
  let summary = "merges two partial attention results by their log-sum-exp";
  let description = [{
    Combines the results of attention over two disjoint sets of keys (the
    two halves of a split-KV decode, a shared prefix and a request's own
    keys, two ring-attention steps) into the result over their union, for
    every batch `b`, head `h` and row `i`:

    ```
    lse    = log(exp(lse_a) + exp(lse_b))
    output = exp(lse_a - lse) * output_a + exp(lse_b - lse) * output_b
    ```

    evaluated as `m = max(lse_a, lse_b)`, `w_x = exp(lse_x - m)`,
    `lse = m + log(w_a + w_b)`, `output = (w_a output_a + w_b output_b) /
    (w_a + w_b)`. A side with `lse = -inf` (no visible key) contributes
    nothing; when both are `-inf` the output is 0 and `lse` is `-inf`. NaN
    propagates.

    Shapes: `output_a`, `output_b`, `output [B, H, L, Dv]` (f32, f16 or
    bf16, all equal; the weights are applied in f32), `lse_a`, `lse_b`,
    `lse [B, H, L]` f32. `H` and `Dv` are static.

    ```mlir
    %o, %lse = mha.merge_states %oa, %la, %ob, %lb
        : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>, tensor<?x8x?x128xbf16>,
          tensor<?x8x?xf32> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
    ```
  }];

  let arguments = (ins AnyType:$output_a, AnyType:$lse_a, AnyType:$output_b,
                       AnyType:$lse_b);
  let results = (outs AnyType:$output, AnyType:$lse);

  let assemblyFormat = [{
    $output_a `,` $lse_a `,` $output_b `,` $lse_b attr-dict `:`
    type($output_a) `,` type($lse_a) `,` type($output_b) `,` type($lse_b)
    `->` type($output) `,` type($lse)
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// AttentionKlOp
//===----------------------------------------------------------------------===//

def Mha_AttentionKlOp : Mha_Op<"attention_kl", [Pure]> {
  let summary = "KL divergence between a teacher's and a student's attention";
  let description = [{
    The attention-transfer loss of distillation (MiniLM): for every batch
    `b`, query head `h` and query row `i`, the Kullback-Leibler divergence
    of the student's attention distribution from the teacher's,

    ```
    s_t[j] = teacher_scale * q_t[b,h,i] . k_t[b,gt,j]     gt = h / (Hq / Hkv_t)
    s_s[j] = student_scale * q_s[b,h,i] . k_s[b,gs,j]     gs = h / (Hq / Hkv_s)
    lse_x  = log sum_j exp(s_x[j])                        over the visible keys
    kl[b,h,i] = sum_j P_t[j] (log P_t[j] - log P_s[j])    P_x = exp(s_x - lse_x)
              = sum_j P_t[j] (s_t[j] - s_s[j]) - lse_t + lse_s
    ```

    computed flash-style from both heads' score tiles, never storing an
    `L x L` map. Value relations (MiniLM's second term) are the same loss
    with `q = k = v` of each model. With `causal` key `j` is visible to row
    `i` when `j <= i + Lk - Lq`; a row with no visible key has `kl = 0`
    and both `lse = -inf`. The scales default to `1/sqrt(D_t)` and
    `1/sqrt(D_s)` (a distillation temperature `T` divides both).

    Shapes: `q_t [B, Hq, Lq, D_t]`, `k_t [B, Hkv_t, Lk, D_t]`,
    `q_s [B, Hq, Lq, D_s]`, `k_s [B, Hkv_s, Lk, D_s]` (f32, f16 or bf16,
    each model's two of one type; scores in f32); results `kl`,
    `teacher_lse`, `student_lse [B, Hq, Lq]` f32. Heads and head dims are
    static; `Hkv_t` and `Hkv_s` divide `Hq`. A function marked
    `mha.backward` that returns all three results also exports the
    gradient of `sum dkl * kl` with respect to `q_s` and `k_s`.

    ```mlir
    %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {causal}
        : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32>,
          tensor<?x12x?x32xf32>, tensor<?x4x?x32xf32>
        -> tensor<?x12x?xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
    ```
  }];

  let arguments = (ins AnyType:$teacher_query, AnyType:$teacher_key,
                       AnyType:$student_query, AnyType:$student_key,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$teacher_scale,
                       OptionalAttr<F32Attr>:$student_scale);
  let results = (outs AnyType:$kl, AnyType:$teacher_lse,
                      AnyType:$student_lse);

  let assemblyFormat = [{
    $teacher_query `,` $teacher_key `,` $student_query `,` $student_key
    attr-dict `:` type($teacher_query) `,` type($teacher_key) `,`
    type($student_query) `,` type($student_key) `->` type($kl) `,`
    type($teacher_lse) `,` type($student_lse)
  }];

  let extraClassDeclaration = [{
    /// The scale of each side's scores: the attribute, or 1/sqrt(D).
    float getTeacherScaleOrDefault();
    float getStudentScaleOrDefault();
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// AppendKvOp
//===----------------------------------------------------------------------===//

def Mha_AppendKvOp : Mha_Op<"append_kv", [Pure, AttrSizedOperandSegments]> {
  let summary = "writes new keys and values into a KV cache";
  let description = [{
    Appends each sequence's new keys and values to its cache: for sequence
    `s`, KV head `g` and new key `t`, at position `p = kv_lens[s] + t`,

    ```
    key_cache[slot(s, p), g]   = rope(key_new[s, g, t], p)  (rope with rope_theta)
    value_cache[slot(s, p), g] = value_new[s, g, t]
    ```

    where `slot(s, p)` is `[s, p]` of a contiguous cache `[S, Hkv, Lk, D]`,
    or slot `p mod page_size` of page `block_table[s, p div page_size]` of a
    paged one `[pages, Hkv, page_size, D]` (docs/language.md 4.6).
    `kv_lens` holds the lengths before the append; the attention that
    follows takes `kv_lens + Lnew`. Nothing else in the caches changes.
    With `rope_theta`, the new keys are rotated as mha.multi_head rotates
    its keys (pairs `(i, i + D/2)`, angle `p * rope_theta^(-2i/D)`) at
    their cache positions.

    With `kv_scales(%key_scale, %value_scale)` the caches are i8 (scales as
    for mha.attention) and each written element is quantized:
    `clamp(round_half_even(x / scale), -127, 127)`, NaN as 0, with the scale
    of the key's KV head (or of its page and KV head), after RoPE.

    Shapes: `key_new [S, Hkv, Lnew, D]`, `value_new [S, Hkv, Lnew, Dv]`,
    `kv_lens [S]` i32, `block_table [S, max_pages]` i32, the caches as
    above (same element type as the new keys); the results are the
    caches, of the caches' types. An exported function of one
    `mha.append_kv` writes the caller's caches in place (C parameters
    `k_cache`, `v_cache`, docs/language.md 7.1).

    A layer's decoding step appends fewer rows for some sequences: with
    `q_lens(%n)` (i32 `[S]`) sequence `s` appends its first `n[s]` new
    keys (`t < n[s]`; the others are padding, not written); with
    `cu_seqlens_q(%cu)` (i32 `[S + 1]`) the new keys are packed, `key_new
    [1, Hkv, T, D]`, and sequence `s` appends keys `cu[s] .. cu[s+1] - 1`
    (new key `t` of the sequence is `key_new[0, g, cu[s] + t]`). Layers
    only (an exported append function refuses them).

    Without values (`%k into %cache`), only the keys are appended: a
    latent (MLA) decoding step's one cache of latents, whose values are a
    view of its first columns (mha-expand-layer makes it; not an exported
    function of its own).

    ```mlir
    %kc, %vc = mha.append_kv %k, %v into %k_cache, %v_cache
        kv_lens(%lens : tensor<?xi32>) block_table(%table : tensor<?x?xi32>)
        {rope_theta = 1.0e4 : f32}
        : tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>,
          tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
        -> tensor<?x8x16x128xbf16>, tensor<?x8x16x128xbf16>
    ```
  }];

  let arguments = (ins AnyType:$key_new, Optional<AnyType>:$value_new,
                       AnyType:$key_cache, Optional<AnyType>:$value_cache,
                       Optional<AnyType>:$key_scale,
                       Optional<AnyType>:$value_scale,
                       AnyType:$kv_lens, Optional<AnyType>:$q_lens,
                       Optional<AnyType>:$block_table,
                       Optional<AnyType>:$cu_seqlens_q,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$key_cache_out,
                      Optional<AnyType>:$value_cache_out);

  let assemblyFormat = [{
    $key_new (`,` $value_new^)? `into` $key_cache (`,` $value_cache^)?
    (`kv_scales` `(` $key_scale^ `,` $value_scale `:` type($key_scale) `,`
     type($value_scale) `)`)?
    `kv_lens` `(` $kv_lens `:` type($kv_lens) `)`
    (`q_lens` `(` $q_lens^ `:` type($q_lens) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `:` type($cu_seqlens_q) `)`)?
    attr-dict `:` custom<AppendTypes>(type($key_new), type($value_new),
                                      type($key_cache), type($value_cache))
    `->` type($key_cache_out) (`,` type($value_cache_out)^)?
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// LowRankOp
//===----------------------------------------------------------------------===//

def Mha_LowRankOp : Mha_Op<"low_rank", [Pure]> {
  let summary = "a weight given by its low-rank factors: W = down . up";
  let description = [{
    `W [m, n] = down [m, r] . up [r, n]`, all static and of one element
    type. A weight operand of `mha.multi_head` (`wq`, `wk`, `wv` or `wo`)
    may be one: the layer then projects through the rank-`r` factors,
    `x W = (x down) up`, in `2 r (m + n)` instead of `2 m n` flops per
    row, and the factors (not `W`) are the C parameters (`wq_down`,
    `wq_up`, ...) or constants. `mha-low-rank` makes them from constant
    weights by a truncated SVD.

    ```mlir
    %wq = mha.low_rank %wq_down, %wq_up
        : tensor<512x64xf32>, tensor<64x512xf32> -> tensor<512x512xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$down, AnyRankedTensor:$up);
  let results = (outs AnyRankedTensor:$weight);
  let assemblyFormat = [{
    $down `,` $up attr-dict `:` type($down) `,` type($up) `->` type($weight)
  }];
  let hasVerifier = 1;
}

def Mha_QuantizedOp : Mha_Op<"quantized", [Pure]> {
  let summary = "an int8 or int4 weight with scales per column or per group";
  let description = [{
    `W [K, N] = w [K, N] * scale [g(k), N]`: `w` int8 (`bits = 8`, the
    default: `values` is i8 [K, N]) or int4 (`bits = 4`: `values` is i8
    [K, N/2], two signed 4-bit values per byte, column `2j` in the low
    nibble of byte `j`), `scale` f32 [N] (one per column, `g(k) = 0`) or
    [G, N] (groups of `K/G` consecutive rows, `g(k) = k / (K/G)`), `W` of
    the layer's element type. A weight operand of `mha.multi_head` (`wq`,
    `wk`, `wv`, `wo`) may be one: `values` and `scale` (not `W`) are the C
    parameters (`wq` as i8, `wq_scale`) or constants.
    `mha-quantize-weights` makes them from constant weights.

    ```mlir
    %wq = mha.quantized %wq_i8, %wq_scale
        : tensor<512x512xi8>, tensor<512xf32> -> tensor<512x512xf32>
    %wk = mha.quantized %wk_i4, %wk_scale {bits = 4}
        : tensor<512x64xi8>, tensor<4x128xf32> -> tensor<512x128xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$values, AnyRankedTensor:$scale,
                       DefaultValuedAttr<I64Attr, "8">:$bits);
  let results = (outs AnyRankedTensor:$weight);
  let assemblyFormat = [{
    $values `,` $scale attr-dict `:` type($values) `,` type($scale) `->`
    type($weight)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The int4 value of column 2c (`high`: 2c + 1) in byte c of a row.
    static int8_t unpackInt4(int8_t byte, bool high) {
      unsigned bits = high ? uint8_t(byte) >> 4 : uint8_t(byte) & 0xFu;
      // (bits ^ 8) - 8 sign-extends the 4-bit value.
      return int8_t(int(bits ^ 8u) - 8);
    }
    /// Whether groups of `groupSize` of a weight's `rows` are whole quads
    /// of rows (one scale row per int8 K-block of vpdpbusd).
    static bool hasQuadGroups(int64_t groupSize, int64_t rows) {
      return groupSize == rows || groupSize % 4 == 0;
    }
    /// Rows of `W` per scale row: K for one scale per column.
    int64_t getGroupSize() {
      auto scale = cast<RankedTensorType>(getScale().getType());
      int64_t k = cast<RankedTensorType>(getWeight().getType()).getDimSize(0);
      return scale.getRank() == 2 ? k / scale.getDimSize(0) : k;
    }
  }];
}

//===----------------------------------------------------------------------===//
// MultiHeadOp
//===----------------------------------------------------------------------===//

def Mha_MultiHeadOp : Mha_Op<"multi_head", [Pure, AttrSizedOperandSegments,
                                            AttrSizedResultSegments]> {
  let summary = "a whole self-attention layer: projections, attention, output projection";
  let description = [{
    Self-attention over `x [B, L, d]`:

    ```
    Q = x Wq (+ bq)    K = x Wk (+ bk)    V = x Wv (+ bv)
    Q, K = rope(Q), rope(K)                      (if rope_theta)
    o_h = attention(Q_h, K_g(h), V_g(h))         (as mha.attention)
    y = concat_h(o_h) Wo (+ bo)
    ```

    Query head `h` uses columns `h*D .. h*D+D-1` of `Q`, where
    `D = cols(Wq) / num_heads`; `concat_h` puts head `h`'s output at the same
    columns of the input of `Wo [num_heads*D, d]`. RoPE rotates the pairs
    `(t, t + D/2)` of every head at positions `0..L-1` (GPT-NeoX/LLaMA).

    Sharing schemes (`sharing`, default `#mha.sharing<independent>`):
    - `independent`: `Wq [d, Hq*D]`, `Wk [d, Hkv*D]`, `Wv [d, Hkv*D]`,
      biases `bq [Hq*D]`, `bk [Hkv*D]`, `bv [Hkv*D]`;
    - `shared_head_bias`: `Wq`, `Wk`, `Wv [d, D]`, per-head biases (required)
      `bq [Hq, D]`, `bk [Hkv, D]`, `bv [Hkv, D]`;
    - `grouped`: `Wq [d, Gq*D]`, `Wk`, `Wv [d, Gkv*D]` with `Gq` dividing
      `Hq` and `Gkv` dividing `Hkv`, `D = rows(Wo) / Hq`: query head `h`
      uses the columns of group `h / (Hq/Gq)`, KV head `j` those of group
      `j / (Hkv/Gkv)`; per-head biases (required) as for `shared_head_bias`;
    - `latent` (multi-head latent attention, DeepSeek-V2/V3): `Wk [d, r+Dr]`
      projects `x` to a latent of rank `r` and a RoPE key of `Dr` columns
      shared by all heads, `Wv [r, Hq*(Dn+Dv)]` up-projects the latent to
      each head's key part (`Dn`) and value (`Dv`), `Wq [d, Hq*(Dn+Dr)]`,
      `Wo [Hq*Dv, d]`; RoPE rotates the last `Dr` columns of each query head
      and the RoPE key; one KV head per query head, no Q/K/V biases.
      With `rms_norm_eps`, the latent (and the rank-r product of a
      low-rank `Wq`) is divided by its root mean square before its
      up-projection, as DeepSeek's models do (their norm weights folded
      into the rows of `Wv` and of `Wq`'s up factor).

    Any weight may be an `mha.low_rank` of two factors (low-rank
    projections). Optional biases follow `wo` in the order `bq, bk, bv, bo`:
    the first
    three when `has_qkv_bias` is set, `bo [d]` when `has_out_bias` is set.
    `num_kv_heads` defaults to `num_heads` and must divide it. Every
    attribute of `mha.attention` is accepted and means the same, including
    the extra results.

    A decoding step: with `cache(%k_cache, %v_cache)` and `kv_lens`
    (and `block_table` for paged caches, as for mha.append_kv), `x` holds
    `L` new tokens of each sequence, at positions `kv_lens[s] .. kv_lens[s]
    + L - 1`: RoPE rotates Q and K at those positions, the new keys and
    values are appended to the caches (mha.append_kv), and the attention
    reads the caches' first `kv_lens[s] + L` keys (as mha.attention with
    `kv_lens + L`). The two extra results are the updated caches, of the
    caches' types; an exported function writes the caller's caches in
    place. With `kv_scales(%key_scale, %value_scale)` the caches are i8
    (as for mha.append_kv and mha.attention).

    Packed sequences: with `cu_seqlens_q(%cu)` (i32 `[S + 1]`), `x [1, T,
    d]` holds `S` sequences one after the other, sequence `s` being rows
    `cu[s] .. cu[s+1] - 1`: without a cache each attends only to its own
    rows (mha.attention with `cu_seqlens_q` and `cu_seqlens_k` both `%cu`)
    and RoPE counts positions from the sequence's first row; a decoding
    step appends them to sequence `s`'s caches at `kv_lens[s]` on. With
    `q_lens(%n)`, sequence `s` has only its first `n[s]` rows of `x [S, L,
    d]` (without a cache they are its keys too). Rows of no sequence (past
    `cu[S]`, past `n[s]`) get attention output 0, so `y = bo`.

    Example (grouped-query layer, 8 query heads of 64, 2 KV heads):

    ```mlir
    %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 2}
        : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
          tensor<512x128xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
    ```
  }];

  let arguments = !con(
      (ins AnyType:$input, AnyType:$wq, AnyType:$wk, AnyType:$wv,
           AnyType:$wo, Variadic<AnyType>:$biases,
           Optional<AnyType>:$kv_lens, Optional<AnyType>:$q_lens,
           Optional<AnyType>:$block_table, Optional<AnyType>:$cu_seqlens_q,
           Optional<AnyType>:$key_cache, Optional<AnyType>:$value_cache,
           Optional<AnyType>:$key_scale, Optional<AnyType>:$value_scale,
           I64Attr:$num_heads,
           OptionalAttr<I64Attr>:$num_kv_heads,
           OptionalAttr<Mha_SharingAttr>:$sharing,
           UnitAttr:$has_qkv_bias,
           UnitAttr:$has_out_bias,
           OptionalAttr<F32Attr>:$rope_theta,
           OptionalAttr<F32Attr>:$rms_norm_eps),
      Mha_AttentionVariantAttrs);
  let results = (outs AnyType:$output, Variadic<AnyType>:$extras,
                      Optional<AnyType>:$key_cache_out,
                      Optional<AnyType>:$value_cache_out);

  let assemblyFormat = [{
    $input `,` $wq `,` $wk `,` $wv `,` $wo (`,` $biases^)?
    (`cache` `(` $key_cache^ (`,` $value_cache^)? `:` type($key_cache)
     (`,` type($value_cache)^)? `)`)?
    (`kv_scales` `(` $key_scale^ `,` $value_scale `:` type($key_scale) `,`
     type($value_scale) `)`)?
    (`kv_lens` `(` $kv_lens^ `:` type($kv_lens) `)`)?
    (`q_lens` `(` $q_lens^ `:` type($q_lens) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `:` type($cu_seqlens_q) `)`)?
    attr-dict `:`
    type($input) `,` type($wq) `,` type($wk) `,` type($wv) `,` type($wo)
    (`,` type($biases)^)? `->` type($output) (`,` type($extras)^)?
    (`cache` `(` type($key_cache_out)^ (`,` type($value_cache_out)^)? `)`)?
  }];

  let hasVerifier = 1;
  let extraClassDeclaration = Mha_ExtraResultAccessors # [{
    /// The sharing scheme, `independent` when the attribute is absent.
    ::mlir::mha::Sharing getSharingScheme() {
      return getSharing().value_or(::mlir::mha::Sharing::independent);
    }
    /// The head dim D of every projection, the value head dim `Dv` with
    /// latent sharing (rows(wo) / num_heads, once verified).
    int64_t getLayerHeadDim() {
      return ::llvm::cast<::mlir::RankedTensorType>(getWo().getType())
                 .getDimSize(0) /
             getNumHeads();
    }
    /// `#mha.sharing<latent>`: the latent rank `r = rows(wv)`, the RoPE
    /// key's columns `Dr = cols(wk) - r`, and each head's key part
    /// `Dn = cols(wv) / Hq - Dv` (`Dv = getLayerHeadDim()`), once verified.
    int64_t getLatentRank() {
      return ::llvm::cast<::mlir::RankedTensorType>(getWv().getType())
          .getDimSize(0);
    }
    int64_t getRopeKeyDim() {
      return ::llvm::cast<::mlir::RankedTensorType>(getWk().getType())
                 .getDimSize(1) - getLatentRank();
    }
    int64_t getNopeDim() {
      return ::llvm::cast<::mlir::RankedTensorType>(getWv().getType())
                 .getDimSize(1) / getNumHeads() - getLayerHeadDim();
    }
    /// The head dim of queries and keys: `Dn + Dr` with latent sharing,
    /// else `D`.
    int64_t getQueryHeadDim() {
      return getSharingScheme() == ::mlir::mha::Sharing::latent
                 ? getNopeDim() + getRopeKeyDim()
                 : getLayerHeadDim();
    }
    /// Number of key/value heads (`num_kv_heads`, default `num_heads`).
    int64_t getKvHeadCount() {
      return getNumKvHeadsAttr() ? getNumKvHeadsAttr().getInt()
                                 : getNumHeadsAttr().getInt();
    }
    /// Bias operands by role, or null when absent.
    ::mlir::Value getBq() {
      return getHasQkvBias() && getBiases().size() > 0 ? getBiases()[0]
                                                      : ::mlir::Value();
    }
    ::mlir::Value getBk() {
      return getHasQkvBias() && getBiases().size() > 1 ? getBiases()[1]
                                                      : ::mlir::Value();
    }
    ::mlir::Value getBv() {
      return getHasQkvBias() && getBiases().size() > 2 ? getBiases()[2]
                                                      : ::mlir::Value();
    }
    ::mlir::Value getBo() {
      return getHasOutBias() && !getBiases().empty() ? getBiases().back()
                                                     : ::mlir::Value();
    }
  }];
}

#endif // MHA_DIALECT_MHA_OPS_TD
