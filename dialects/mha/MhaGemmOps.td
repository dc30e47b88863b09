//===- MhaGemmOps.td - The GEMM work of a layer ------------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal ops produced by `mha-tile` for the projections of a layer and
// consumed by `convert-mha-to-vector`, like the tiled online-softmax ops:
// mha-tile decides the work items, the register blocking and the epilogue;
// the lowering writes the vector micro-kernels. They work on memrefs of one
// work item.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_GEMMOPS_TD
#define MHA_DIALECT_MHA_GEMMOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mha/MhaDialect.td"

defvar Mha_GemmElementTypes = [F32, F16, BF16];
// A panel holds f32 weights (FMA micro-kernels) or bf16 pairs (vdpbf16ps).
defvar Mha_PanelElementTypes = [F32, BF16, I8];

def Mha_PackPanelOp : Mha_Op<"pack_panel"> {
  let summary = "packs weight rows of a block of columns into a GEMM panel";
  let description = [{
    Copies rows `[row_offset, row_offset + rows)` of the weight columns
    `[column_offset, column_offset + columns)` into `panel`, whose width `P`
    (a multiple of `vector_width`) pads the columns with zeros; nothing past
    `columns` is read. An f32 panel `[rows, P]` holds the weights widened to
    f32:

    ```
    panel[k, c] = c < columns ? weight[row_offset + k, column_offset + c] : 0
    ```
    With `scale`, the weight is quantized (`mha.quantized`): int8, or with
    `int4` two signed nibbles per byte (`weight` [K, N/2], column `2j` in
    the low nibble of byte `j`); each element is widened and multiplied by
    its scale, `scale[column_offset + c]` ([N]) or
    `scale[(row_offset + k) / (K / G), column_offset + c]` ([G, N]). An i8
    panel holds a quantized weight for `vpdpbusd`: per K-block of `k_block`
    rows (a multiple of 4 that divides a group), `ceil(kn / 4)` rows of
    quads of rows interleaved, then one row of the `P` i32 column offsets,
    then one row of the `P` f32 column scales of the block's group:

    ```
    panel[p, 4c + t] = i8(weight[row_offset + k0 + 4p + t, column_offset + c])
    offsets[c]       = -128 * sum_{k in block} weight[row_offset + k, c']
    scales[c]        = scale[g(row_offset + k0), column_offset + c]
    ```
    (0 past `rows` and `columns`): the GEMM's activations are unsigned
    bytes `q + 128`, and the offsets remove the 128.
    A bf16 panel `[ceil(rows / 2), 2 P]` holds pairs of rows interleaved, the
    operand of `vdpbf16ps` (the missing row of an odd last pair is zero):

    ```
    panel[p, 2c + t] = c < columns && 2p + t < rows
                     ? bf16(weight[row_offset + 2p + t, column_offset + c]) : 0
    ```

    With `transpose`, the panel holds the transposed weight (the backward
    of a layer multiplies by `W^T`): `weight` is read as `W^T`, its rows
    selected by `column_offset` and its columns by `row_offset`
    (`panel[k, c] = weight[column_offset + c, row_offset + k]`); a
    transposed weight is not quantized.

    ```mlir
    mha.pack_panel ins(%w : memref<64x64xf32>)
        outs(%panel : memref<64x64xf32, strided<[64, 1], offset: ?>>)
        rows(%c0, %c64) columns(%col0, %cols) {vector_width = 16 : i64}
    ```
  }];

  let arguments = (ins
    Arg<MemRefRankOf<[F32, F16, BF16, I8], [2]>, "weights [K, N]",
        [MemRead]>:$weight,
    Arg<Optional<MemRefRankOf<[F32], [1, 2]>>,
        "scales [N] or [G, N] of a quantized weight", [MemRead]>:$scale,
    Arg<MemRefRankOf<Mha_PanelElementTypes, [2]>,
        "panel [rows, P] (f32) or [ceil(rows / 2), 2 P] (bf16 pairs)",
        [MemWrite]>:$panel,
    Index:$row_offset, Index:$rows, Index:$column_offset, Index:$columns,
    ConfinedAttr<I64Attr, [IntPositive]>:$vector_width,
    UnitAttr:$int4,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$k_block,
    UnitAttr:$transpose);

  let assemblyFormat = [{
    `ins` `(` $weight `:` type($weight) `)`
    (`scale` `(` $scale^ `:` type($scale) `)`)?
    `outs` `(` $panel `:` type($panel) `)`
    `rows` `(` $row_offset `,` $rows `)`
    `columns` `(` $column_offset `,` $columns `)`
    attr-dict
  }];
  let hasVerifier = 1;
}

def Mha_QuantizeRowsOp : Mha_Op<"quantize_rows"> {
  let summary = "int8 rows of a GEMM input and their scales";
  let description = [{
    For the rows `[row_offset, row_offset + rows)` of batch `batch` of
    `input [B, L, K]`: `scale = max_k |x[k]| / 127` (1 for a row of zeros),
    `q[k] = round(x[k] / scale)` (ties to even) in `[-127, 127]`, stored
    as the unsigned byte `q[k] + 128` (the unsigned operand of `vpdpbusd`),
    and 128 (q = 0) in the columns past `K` (`output` is `[B, L, K']`,
    `K' >= K`).

    ```mlir
    mha.quantize_rows ins(%x : memref<?x?x64xf32>)
        outs(%q, %s : memref<?x?x64xi8>, memref<?x?x1xf32>) at(%b, %row0, %rows)
    ```
  }];
  let arguments = (ins
    Arg<MemRefRankOf<Mha_GemmElementTypes, [3]>, "input rows [B, L, K]",
        [MemRead]>:$input,
    Arg<MemRefRankOf<[I8], [3]>, "int8 rows [B, L, K']", [MemWrite]>:$output,
    Arg<MemRefRankOf<[F32], [3]>, "row scales [B, L, 1]", [MemWrite]>:$scale,
    Index:$batch, Index:$row_offset, Index:$rows);
  let assemblyFormat = [{
    `ins` `(` $input `:` type($input) `)`
    `outs` `(` $output `,` $scale `:` type($output) `,` type($scale) `)`
    `at` `(` $batch `,` $row_offset `,` $rows `)` attr-dict
  }];
  let hasVerifier = 1;
}

def Mha_GemmTileOp : Mha_Op<"gemm_tile", [AttrSizedOperandSegments]> {
  let summary = "one work item of a projection: rows x a block of columns";
  let description = [{
    Computes the rows `[row_offset, row_offset + rows)` of batch `batch` for
    the weight columns `[column_offset, column_offset + columns)` whose
    packed panel (`mha.pack_panel`, one per reduction segment, stacked) is
    `panel`:

    ```
    acc[r, c] = sum over segments (s, n), k < n of
                input[batch, row_offset + r, s + k] * W[s + k, column_offset + c]
    ```
    then, for each replica `q` of `replicas` (a shared projection computes
    the product once and writes it for every live head), the epilogue adds
    the bias (`[N]` or `[replicas * N]` indexed by the output column of the
    replica, `[replicas, N]` by its row) and, with `rope_table` (`[1, T, D]`
    or, per sequence, `[B, T, D]`: cos of the angles then sin), rotates the
    pairs `(o + t, o + t + D/2)` of the item's one head with the table's row
    `(row_offset + r) mod T` (rows of several sequences of T rows, viewed
    as one, take their own positions), `o = rope_offset` (the columns
    before it are not rotated); with `input_rms_eps`, row `r`
    of `acc` is first divided by the root mean square of its input row
    over the segments, `sqrt(sum x^2 / n + eps)`; the result goes to

    ```
    output[batch, row_offset + r,
           output_offset + q * replica_stride + column_offset + c]
    ```
    narrowed to the output's element type.

    `segments` lists `(start, length)` pairs of the reduction; the panel
    holds their rows one after the other (pairs of rows with a bf16 panel,
    an odd segment's last pair half zero). The accumulators live in
    `acc_scratch` `[R >= rows, P]` (`P` the panel's padded width) between
    K-blocks of `k_block` rows; within one, a micro-kernel of `block_rows`
    rows by `block_vectors` vectors of `vector_width` f32 lanes keeps its
    accumulators in registers. The panel's element type says how the
    products are formed: f32 vector FMAs on the input widened to f32, or
    `vdpbf16ps` (`x86vector.avx512.dot`) on bf16 pairs of the bf16 input,
    or, with an i8 panel (`dequantize(...)`), `vpdpbusd` on int8 quads: the
    input holds the unsigned bytes `q + 128` of activations quantized per
    row with `input_scale` (`x ~ q * input_scale[b, row]`, mha.quantize_rows)
    and the panel the weight's quads with each K-block's column offsets and
    scales, so that before the epilogue

    ```
    acc[r, c] = input_scale[b, row] * sum over K-blocks of
                scales[c] * (offsets[c] + sum_k (q[r, k] + 128) w[k, c])
    ```
    (the i32 sums of a K-block are exact).
  }];

  let arguments = (ins
    Arg<MemRefRankOf<[F32, F16, BF16, I8], [3]>, "input rows [B, L, K]",
        [MemRead]>:$input,
    Arg<MemRefRankOf<Mha_PanelElementTypes, [2]>, "packed weights",
        [MemRead]>:$panel,
    Arg<Optional<MemRefRankOf<Mha_GemmElementTypes, [1, 2]>>, "bias",
        [MemRead]>:$bias,
    Arg<Optional<MemRefRankOf<[F32], [3]>>, "RoPE table [1, L, D]",
        [MemRead]>:$rope_table,
    Arg<Optional<MemRefRankOf<[F32], [3]>>, "row scales [B, L, 1] of i8 input",
        [MemRead]>:$input_scale,
    Arg<MemRefRankOf<Mha_GemmElementTypes, [3]>, "output rows [B, L, C]",
        [MemWrite]>:$output,
    Arg<MemRefRankOf<[F32], [2]>, "scratch: accumulators [R, P]",
        [MemRead, MemWrite]>:$acc_scratch,
    Index:$batch, Index:$row_offset, Index:$rows, Index:$column_offset,
    Index:$columns,
    DenseI64ArrayAttr:$segments,
    ConfinedAttr<I64Attr, [IntPositive]>:$k_block,
    ConfinedAttr<I64Attr, [IntPositive]>:$vector_width,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_rows,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_vectors,
    I64Attr:$output_offset,
    I64Attr:$replica_stride,
    DenseI64ArrayAttr:$replicas,
    DefaultValuedAttr<I64Attr, "0">:$rope_offset,
    OptionalAttr<F32Attr>:$input_rms_eps);

  let assemblyFormat = [{
    `ins` `(` $input `,` $panel `:` type($input) `,` type($panel) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`rope` `(` $rope_table^ `:` type($rope_table) `)`)?
    (`dequantize` `(` $input_scale^ `:` type($input_scale) `)`)?
    `outs` `(` $output `:` type($output) `)`
    `scratch` `(` $acc_scratch `:` type($acc_scratch) `)`
    `at` `(` $batch `,` $row_offset `,` $rows `)`
    `columns` `(` $column_offset `,` $columns `)`
    attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the panel holds bf16 pairs (vdpbf16ps micro-kernels).
    bool hasPairs() {
      return getPanel().getType().getElementType().isBF16();
    }
    /// Whether the panel holds int8 quads (vpdpbusd micro-kernels on an
    /// i8 input).
    bool hasQuads() {
      return getPanel().getType().getElementType().isSignlessInteger(8);
    }
    /// The panel rows of a reduction segment of `length` k, `kPerRow` k a
    /// row (f32 1, bf16 pairs 2, int8 quads 4): an i8 panel's K-blocks of
    /// `kBlock` k each end with a row of offsets and one of scales.
    static int64_t getSegmentPanelRows(int64_t length, int64_t kPerRow,
                                       int64_t kBlock) {
      int64_t rows = (length + kPerRow - 1) / kPerRow;
      return kPerRow == 4 ? rows + 2 * ((length + kBlock - 1) / kBlock) : rows;
    }
    /// The padded width P of the block of columns.
    int64_t getPaddedColumns() {
      int64_t width = getPanel().getType().getDimSize(1);
      return hasPairs() ? width / 2 : hasQuads() ? width / 4 : width;
    }
  }];
}

def Mha_WeightGradTileOp : Mha_Op<"weight_grad_tile"> {
  let summary = "one work item of a weight's gradient: rows x columns of A^T G";
  let description = [{
    A block of the gradient of a layer's weight, summed over every row of
    the batch (`a` and `g` are `[B, L, *]`):

    ```
    dw[row_offset + i, column_offset + c] =
        sum over b < B, l < L, q < replicas of
            a[b, l, a_offset + row_offset + i]
          * g[b, l, g_offset + q * replica_stride + column_offset + c]
    ```
    for `i < rows`, `c < columns`: `a` is the GEMM's input (x, or the
    merged attention output) and `g` the gradient of its output (dQ, dK,
    dV or dy); a projection shared by `replicas` heads sums their
    gradients. Without `a`, the sums of `g`'s rows alone (a bias's
    gradient; `rows` must be 1). Each element is summed by this item alone
    in a fixed order (b, then l, then q): the same bytes for any thread
    count. The f32 sums are narrowed to `dw`'s element type.

    `max_rows` and `max_columns` bound `rows` and `columns` (the item's
    scratch is sized by them). The item runs K-blocks of up to 128 rows of
    one batch element: it packs the block's `a` elements as micro-panels of
    4 rows of `dw` and its `g` vectors (replicas summed) as panels of 4
    vectors, zero-padded, into f32 stack scratch, then runs register
    blocks of 4 rows by 4 vectors of `vector_width` f32 lanes over the
    block, adding into f32 accumulators `[max_rows, max_columns]` that are
    narrowed to `dw` once at the end. A bias's gradient sums `g`'s rows in
    place.

    With `bf16_pairs` (AVX512-BF16, `vector_width` 16) the products are
    `vdpbf16ps` on pairs of consecutive rows: K-blocks of up to 256 rows
    are packed rounded to bf16 (to nearest even; an odd last row paired
    with zeros), twice the rows per instruction for the panels' bytes. The
    sums stay f32; `a` and `g` lose what bf16 cannot hold, as a bf16
    layer's backward in PyTorch does.

    ```mlir
    mha.weight_grad_tile ins(%x : memref<?x?x512xf32>) grads(%dq : memref<?x?x768xf32>)
        outs(%dwq : memref<512x512xf32>) rows(%i0, %n) columns(%c0, %m)
        {a_offset = 0 : i64, g_offset = 0 : i64, vector_width = 16 : i64}
    ```
  }];
  let arguments = (ins
    Arg<Optional<MemRefRankOf<Mha_GemmElementTypes, [3]>>, "inputs [B, L, K]",
        [MemRead]>:$a,
    Arg<MemRefRankOf<Mha_GemmElementTypes, [3]>, "output gradients [B, L, N]",
        [MemRead]>:$g,
    Arg<MemRefRankOf<Mha_GemmElementTypes, [2]>, "weight gradient [K, N]",
        [MemWrite]>:$dw,
    Index:$row_offset, Index:$rows, Index:$column_offset, Index:$columns,
    DefaultValuedAttr<I64Attr, "0">:$a_offset,
    DefaultValuedAttr<I64Attr, "0">:$g_offset,
    DefaultValuedAttr<ConfinedAttr<I64Attr, [IntPositive]>, "1">:$replicas,
    DefaultValuedAttr<I64Attr, "0">:$replica_stride,
    ConfinedAttr<I64Attr, [IntPositive]>:$vector_width,
    DefaultValuedAttr<ConfinedAttr<I64Attr, [IntPositive]>, "64">:$max_rows,
    DefaultValuedAttr<ConfinedAttr<I64Attr, [IntPositive]>, "128">:$max_columns,
    UnitAttr:$bf16_pairs);
  let assemblyFormat = [{
    (`ins` `(` $a^ `:` type($a) `)`)? `grads` `(` $g `:` type($g) `)`
    `outs` `(` $dw `:` type($dw) `)`
    `rows` `(` $row_offset `,` $rows `)`
    `columns` `(` $column_offset `,` $columns `)` attr-dict
  }];
  let hasVerifier = 1;
}

def Mha_HeadGemmOp : Mha_Op<"head_gemm"> {
  let summary = "one work item of mha.head_linear: rows of one head";
  let description = [{
    The rows `[row_offset, row_offset + rows)` of batch `batch` and head
    `head` of an mha.head_linear (same attributes, same sizes): head
    `head`'s `K` input columns times its weight slice, read from the
    weight as it is (no panel: the item reads the slice once for a block
    of rows, which is what a decoding step's few rows need), and the `C`
    carried columns copied. Accumulates in f32 and narrows to the
    output's element type.

    ```mlir
    mha.head_gemm ins(%q, %wv : memref<?x?x3072xf32>, memref<512x4096xf32>)
        outs(%qa : memref<?x?x9216xf32>) at(%b, %row0, %rows) head(%h)
        {num_heads = 16 : i64, transpose_weight, vector_width = 16 : i64}
    ```
  }];
  let arguments = (ins
    Arg<MemRefRankOf<Mha_GemmElementTypes, [3]>, "input rows [B, L, H*Sx]",
        [MemRead]>:$input,
    Arg<MemRefRankOf<Mha_GemmElementTypes, [2]>, "weight [R, H*P]",
        [MemRead]>:$weight,
    Arg<MemRefRankOf<Mha_GemmElementTypes, [3]>, "output rows [B, L, H*Sy]",
        [MemWrite]>:$output,
    Index:$batch, Index:$row_offset, Index:$rows, Index:$head,
    I64Attr:$num_heads,
    DefaultValuedAttr<I64Attr, "0">:$weight_offset,
    UnitAttr:$transpose_weight,
    ConfinedAttr<I64Attr, [IntPositive]>:$vector_width);
  let assemblyFormat = [{
    `ins` `(` $input `,` $weight `:` type($input) `,` type($weight) `)`
    `outs` `(` $output `:` type($output) `)`
    `at` `(` $batch `,` $row_offset `,` $rows `)` `head` `(` $head `)`
    attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::mha::HeadLinearDims getDims() {
      return ::mlir::mha::HeadLinearDims::get(getInput().getType(),
                                              getWeight().getType(),
                                              getOutput().getType(),
                                              getNumHeads(),
                                              getTransposeWeight());
    }
  }];
}

#endif // MHA_DIALECT_MHA_GEMMOPS_TD
