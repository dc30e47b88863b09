//===- MhaTiledOps.td - The tiled online-softmax form ------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal ops produced by `mha-tile` and consumed by
// `convert-mha-to-vector`. They work on memref tiles of one work item: a
// tile of query rows of one head against one tile of keys. Users do not
// write them; they make the flash-attention structure visible in mha-opt.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TILEDOPS_TD
#define MHA_DIALECT_MHA_TILEDOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mha/MhaDialect.td"
include "mha/MhaAttrs.td"

defvar Mha_ElementTypes = [F32, F16, BF16];
class Mha_Tile<int rank> : MemRefRankOf<Mha_ElementTypes, [rank]>;
class Mha_F32Tile<int rank> : MemRefRankOf<[F32], [rank]>;
// Key and value tiles may also be i8 rows of a quantized cache.
class Mha_KvTile<int rank> : MemRefRankOf<!listconcat(Mha_ElementTypes, [I8]), [rank]>;

// The scalars that turn a dot product into a masked score, per head.
defvar Mha_ScoreOperands = (ins
  F32:$score_scale,   // scale / temperature[h]
  F32:$alibi_slope,   // slope[h] (ignored without has_alibi)
  Index:$query_pos,   // i + Lk - Lq for the tile's first query row i
  Index:$key_pos,     // absolute index of the tile's first key
  Index:$window_left, // -1 = unbounded
  Index:$window_right,
  Index:$sink_tokens
);
defvar Mha_ScoreAttrs = (ins
  OptionalAttr<F32Attr>:$softcap,
  UnitAttr:$causal,
  UnitAttr:$has_alibi
);
defvar Mha_ScoreDescription = [{
    Score of tile row `r` and tile key `c`, with `p = query_pos + r` (the
    key index on row `r`'s diagonal) and `j = key_pos + c`:

    ```
    s = (query[r] . key[c]) * score_scale
    s = softcap * tanh(s / softcap)          (if softcap)
    s = s - alibi_slope * |o - j|            (if has_alibi)
    visible = j < sink_tokens ? (!causal || j <= p)
            : (!causal || j <= p)
              && (window_left == -1 || j >= p - window_left)
              && (window_right == -1 || j <= p + window_right)
    ```

    The ALiBi origin `o` is `p` for causal steps and `max(p, 0)` otherwise:
    the distance from the row's nearest key keeps scores small when rows
    lie far past the keys; `mha-tile` adds the bias left out,
    `alibi_slope * min(p, 0)`, back into the lse.
}];

def Mha_OnlineSoftmaxStepOp : Mha_Op<"online_softmax_step",
    [AttrSizedOperandSegments]> {
  let summary = "one flash-attention step: a query tile against a key tile";
  let description = [{
    Folds one tile of keys and values into the running state of a tile of
    query rows, in base 2 (`u = s * log2(e)`):

    ```
    m'  = max(m, max_c u_c)                  (invisible keys excluded)
    a   = exp2(m - m')
    l'  = a * l + sum_c exp2(u_c - m')
    acc'= a * acc + sum_c exp2(u_c - m') * value[c]
    t'  = a * (t + (m - m') * l) + sum_c exp2(u_c - m') * (u_c - m')
    ```
    `t` (row_entropy) is only updated with `track_entropy`. Without
    `masked` every key of the tile is taken to be visible: `mha-tile` sets it
    only on tiles that cross a mask boundary.

    The query rows come packed in f32 (`mha-tile` packs them once per work
    item); the key and value tiles are read in place and packed into the
    scratch buffers (keys transposed to [D, C], values widened to f32 and
    padded to `Dvp`, a multiple of the vector width). `S = Q.K^T` and
    `acc += P.V` are register-blocked vector FMA micro-kernels whose shape
    `micro_kernel` gives. They and the softmax run on bands of as many rows
    as `score_scratch` has (all rows when it has as many): keys and values
    are packed once for the whole tile, a band's scores stay in cache.
    `scores_out` receives the log2 scores of the tile's keys, -inf where
    invisible, for every band that sees one of them; it must start as -inf
    (`mha-tile` fills it so), like the keys of tiles no step visits.

    With `micro_kernel.dot = bf16_pairs` the query rows are the bf16 input
    rows read in place (D even) and the scratch buffers hold bf16 pairs:
    keys as [D/2, 2C] (row p: `k[c][2p], k[c][2p+1]` for each key c), values
    as [C/2, 2 Dvp] (row q: `v[2q][d], v[2q+1][d]` for each d).

    With `dropout` (seven i32 words: `seed_lo, seed_hi, stream, offset,
    first_row, threshold, key_start`) the probabilities that weight the
    values are dropped, not rescaled (`mha.online_softmax_finalize` applies
    `1 / (1 - p)`): key `c` of row `r` adds `keep * exp2(u_c - m')` to
    `acc`, with `keep` the Philox rule of docs/language.md 6.7 for query
    position `first_row + r`, key position `key_start + key_pos + c`
    (`key_start` is 0 unless the call gives explicit positions), counter words
    `stream` (`b * Hq + h`) and `offset`, key `(seed_lo, seed_hi)` and
    drop threshold `threshold` (unsigned). `l` and `t` sum the undropped
    probabilities.

    With `dequantize(key_scale, value_scale)` the key and value tiles are
    i8 rows of a quantized cache (fma micro-kernels only), packed as
    `f32(k) * key_scale` and `f32(v) * value_scale`: f32 scalars for the
    whole tile, or `memref<?xf32>` with one scale per key row (the rows of
    a paged cache with scales per page).

    With `rows_per_head` P the tile holds the rows of several heads that
    share their masks and score parameters, head after head, each at the
    same query positions: row `r` is at `query_pos + r mod P` (decoding
    items of grouped-query attention).

    `max_rows`, when present, bounds the query rows for every execution
    (`mha-tile` knows it from static shapes: a decoding function's one row
    per head, a group item's heads). The lowering then emits only the score
    methods such row counts can take: a decoding step does not carry the
    packed micro-kernel path of prefill tiles it never runs.
  }] # Mha_ScoreDescription;

  let arguments = !con(
      (ins Arg<Mha_Tile<2>, "packed query rows [R, D] (f32, or bf16 pairs)", [MemRead]>:$query,
           Arg<Mha_KvTile<2>, "keys [n, D]", [MemRead]>:$key,
           Arg<Mha_KvTile<2>, "values [n, Dv]", [MemRead]>:$value,
           Arg<Mha_F32Tile<2>, "accumulator [R, Dvp]", [MemRead, MemWrite]>:$acc,
           Arg<Mha_F32Tile<1>, "running max (log2 units)", [MemRead, MemWrite]>:$row_max,
           Arg<Mha_F32Tile<1>, "running sum", [MemRead, MemWrite]>:$row_sum,
           Arg<Mha_F32Tile<1>, "running entropy term", [MemRead, MemWrite]>:$row_entropy,
           Arg<Mha_Tile<2>, "scratch: keys transposed [D, C] (f32, or bf16 pairs)", [MemRead, MemWrite]>:$key_scratch,
           Arg<Mha_Tile<2>, "scratch: values widened [C, Dvp] (f32, or bf16 pairs)", [MemRead, MemWrite]>:$value_scratch,
           Arg<Mha_F32Tile<2>, "scratch: scores of a band of rows [Rb, C]", [MemRead, MemWrite]>:$score_scratch,
           Arg<Mha_F32Tile<1>, "scratch: rescale factors [R]", [MemRead, MemWrite]>:$alpha_scratch,
           Arg<Optional<Mha_F32Tile<2>>, "log2 scores of the rows for every key [R, Lk]", [MemWrite]>:$scores_out),
      Mha_ScoreOperands, (ins Variadic<I32>:$dropout,
                              Optional<Index>:$rows_per_head,
                              Optional<AnyTypeOf<[F32, Mha_F32Tile<1>]>>:$key_scale,
                              Optional<AnyTypeOf<[F32, Mha_F32Tile<1>]>>:$value_scale),
      Mha_ScoreAttrs,
      (ins UnitAttr:$masked, UnitAttr:$track_entropy,
           Mha_MicroKernelAttr:$micro_kernel,
           OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$max_rows));

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
    type($value) `)`
    `outs` `(` $acc `,` $row_max `,` $row_sum `,` $row_entropy `:`
    type($acc) `,` type($row_max) `,` type($row_sum) `,` type($row_entropy) `)`
    `scratch` `(` $key_scratch `,` $value_scratch `,` $score_scratch `,`
    $alpha_scratch `:` type($key_scratch) `,` type($value_scratch) `,`
    type($score_scratch) `,` type($alpha_scratch) `)`
    (`record` `(` $scores_out^ `:` type($scores_out) `)`)?
    `scale` `(` $score_scale `,` $alibi_slope `)`
    `at` `(` $query_pos `,` $key_pos `)`
    `window` `(` $window_left `,` $window_right `,` $sink_tokens `)`
    (`dropout` `(` $dropout^ `)`)?
    (`rows_per_head` `(` $rows_per_head^ `)`)?
    (`dequantize` `(` $key_scale^ `,` $value_scale `:` type($key_scale) `,`
     type($value_scale) `)`)?
    attr-dict
  }];
  let hasVerifier = 1;
}

def Mha_OnlineSoftmaxFinalizeOp : Mha_Op<"online_softmax_finalize",
    [AttrSizedOperandSegments]> {
  let summary = "writes a query tile's output, lse and entropy";
  let description = [{
    From the running state of `mha.online_softmax_step` (each result is
    optional: a function may return, say, only the lse):

    ```
    output[r]  = alive && l > 0 ? acc[r] / l : 0
    lse[r]     = (m + log2(l)) * ln(2)        (-inf when l = 0)
    entropy[r] = alive && l > 0 ? (log2(l) - t / l) * ln(2) : 0
    ```
    With `output_scale` (dropout's `1 / (1 - p)`) the output is multiplied
    by it.
  }];

  let arguments = (ins
    Arg<Mha_F32Tile<2>, "accumulator [R, Dv]", [MemRead]>:$acc,
    Arg<Mha_F32Tile<1>, "running max", [MemRead]>:$row_max,
    Arg<Mha_F32Tile<1>, "running sum", [MemRead]>:$row_sum,
    Arg<Mha_F32Tile<1>, "running entropy term", [MemRead]>:$row_entropy,
    I1:$alive,
    Arg<Optional<Mha_Tile<2>>, "output rows [R, Dv]", [MemWrite]>:$output,
    Arg<Optional<Mha_F32Tile<1>>, "lse rows", [MemWrite]>:$lse,
    Arg<Optional<Mha_F32Tile<1>>, "entropy rows", [MemWrite]>:$entropy,
    Optional<F32>:$output_scale
  );

  let assemblyFormat = [{
    `ins` `(` $acc `,` $row_max `,` $row_sum `,` $row_entropy `:` type($acc)
    `,` type($row_max) `,` type($row_sum) `,` type($row_entropy) `)`
    `alive` `(` $alive `)`
    (`outs` `(` $output^ `:` type($output) `)`)?
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    (`entropy` `(` $entropy^ `:` type($entropy) `)`)?
    (`scale` `(` $output_scale^ `)`)?
    attr-dict
  }];
}

def Mha_AttentionProbsOp : Mha_Op<"attention_probs"> {
  let summary = "turns recorded log2 scores into attention probabilities";
  let description = [{
    `probs` holds the log2 scores `u` recorded by the steps (-inf for keys no
    step made visible). With the final running max `m` and sum `l` of each
    row it becomes

    ```
    probs[r, j] = alive && l > 0 && u != -inf ? exp2(u - m) / l : 0
    ```
    using the very scores the softmax used, so each row sums to 1 up to
    rounding whatever the magnitude of the scores.
  }];

  let arguments = (ins
    Arg<Mha_F32Tile<1>, "final running max", [MemRead]>:$row_max,
    Arg<Mha_F32Tile<1>, "final running sum", [MemRead]>:$row_sum,
    I1:$alive,
    Arg<Mha_F32Tile<2>, "log2 scores in, probabilities out [R, Lk]", [MemRead, MemWrite]>:$probs);

  let assemblyFormat = [{
    `ins` `(` $row_max `,` $row_sum `:` type($row_max) `,` type($row_sum) `)`
    `alive` `(` $alive `)`
    `outs` `(` $probs `:` type($probs) `)`
    attr-dict
  }];
}

#endif // MHA_DIALECT_MHA_TILEDOPS_TD
