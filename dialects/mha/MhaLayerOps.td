//===- MhaLayerOps.td - Ops of an expanded layer -----------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// What `mha-expand-layer` turns an `mha.multi_head` into: projections
// (`mha.linear`, with bias and RoPE as its epilogue) and the views that move
// between the `[B, L, H*D]` layout of a projection and the `[B, H, L, D]`
// layout of `mha.attention` without copying.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_LAYER_OPS_TD
#define MHA_DIALECT_MHA_LAYER_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mha/MhaDialect.td"

def Mha_LinearOp : Mha_Op<"linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "a projection y = x W (+ bias), with an optional RoPE epilogue";
  let description = [{
    `x [B, L, K]`, `W [K, N]`, `y [B, L, replicas * N]`:

    ```
    y[b, l, c] = sum_k x[b, l, k] * W[k, w(c)] (+ bias[c])
    w(c) = (c / (replicas * head_dim)) * head_dim + c mod head_dim
    ```

    `replicas` (default 1, when `w(c) = c`) repeats each `head_dim` block of
    `W` for that many consecutive heads of `y`: `N = head_dim` is one
    projection shared by all heads (`#mha.sharing<shared_head_bias>`), more
    blocks are groups of heads (`#mha.sharing<grouped>`). The bias is
    indexed by the column of `y`: `[replicas * N]`, or one row per head
    `[replicas * N / head_dim, head_dim]`.

    `x` may have more than `K` columns: the sum reads its first `K` (the
    latent of a `#mha.sharing<latent>` layer, whose RoPE key follows it).
    With `input_rms_eps`, each row of those `K` columns is divided by
    `sqrt(mean of its squares + input_rms_eps)` first (an RMS norm without
    weight: a latent layer's `rms_norm_eps`).

    `head_dim` splits the columns of `y` (and of `x`) into blocks of that
    size, one per head. With `rope_theta`, each block is rotated after the
    bias: pairs `(t, t + R/2)` at position `l`, angle
    `l * rope_theta^(-2t/R)` (GPT-NeoX/LLaMA), where `R = rope_dim`
    (default `head_dim`) and the rotated columns are the last `R` of the
    block (MLA's decoupled RoPE part); with `positions(%p)` (i32 `[B]`,
    a decoding step's cache lengths) row `l` of batch element `b` is at
    position `p[b] + l`; with `cu_seqlens(%cu)` (i32 `[S + 1]`, `B = 1`:
    packed sequences) row `l` of sequence `s` (`cu[s] <= l < cu[s+1]`) is
    at position `l - cu[s]` (rows past `cu[S]`: `l - cu[S]`), plus `p[s]`
    when both are given; `rope_blocks` limits
    the rotation to the first blocks (the Q and K heads of a projection
    that `mha-fuse` made from Q, K and V). `live_blocks` lists the
    blocks of `y` that are computed (the others are left undefined: their
    heads are pruned) and `live_input_blocks` the blocks of `x` that take
    part in the sum (the others count as zero). Both come from
    `mha-prune-heads`.

    ```mlir
    %q = mha.linear %x, %wq, %bq {head_dim = 64 : i64, rope_theta = 1.0e4 : f32}
        : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512xf32>
        -> tensor<?x?x512xf32>
    ```

    The weight (and bias) may be a `tensor.concat` of parts: the layer's
    Q, K and V weights side by side after `mha-fuse`, one GEMM.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                   Optional<AnyRankedTensor>:$bias,
                   Optional<AnyRankedTensor>:$positions,
                   Optional<AnyRankedTensor>:$cu_seqlens,
                   DefaultValuedAttr<I64Attr, "1">:$replicas,
                   OptionalAttr<I64Attr>:$head_dim,
                   OptionalAttr<F32Attr>:$rope_theta,
                   OptionalAttr<DenseI64ArrayAttr>:$live_blocks,
                   OptionalAttr<DenseI64ArrayAttr>:$live_input_blocks,
                   OptionalAttr<I64Attr>:$rope_blocks,
                   OptionalAttr<I64Attr>:$rope_dim,
                   OptionalAttr<F32Attr>:$input_rms_eps);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)?
    (`positions` `(` $positions^ `:` type($positions) `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)? attr-dict `:`
    type($input) `,` type($weight) (`,` type($bias)^)? `->` type($output)
  }];
  let hasVerifier = 1;
}

def Mha_SplitHeadsOp : Mha_Op<"split_heads", [Pure]> {
  let summary = "views [B, L, H*D] as [B, H, L, D]";
  let description = [{
    `y[b, h, l, t] = x[b, l, column_offset + h*S + t]` with `S =
    head_stride` (default `D`). A view: it lowers to strides, never to a
    copy. A non-zero `column_offset` views one part of a fused projection
    (`mha-fuse`); a `head_stride` above `D` views one part of every head
    (the values of a latent layer's per-head up-projection).

    ```mlir
    %qh = mha.split_heads %q : tensor<?x?x512xf32> -> tensor<?x8x?x64xf32>
    %kh = mha.split_heads %qkv {column_offset = 512 : i64}
        : tensor<?x?x768xf32> -> tensor<?x2x?x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                   DefaultValuedAttr<I64Attr, "0">:$column_offset,
                   OptionalAttr<I64Attr>:$head_stride);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
}

def Mha_MergeHeadsOp : Mha_Op<"merge_heads", [Pure]> {
  let summary = "views [B, H, L, D] as [B, L, H*D] (concat_h)";
  let description = [{
    `y[b, l, h*D + t] = x[b, h, l, t]`: the inverse of `mha.split_heads`.
    The attention writes its output straight into the layout that the
    output projection reads.

    ```mlir
    %oc = mha.merge_heads %o : tensor<?x8x?x64xf32> -> tensor<?x?x512xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
}

def Mha_LatentKeysOp : Mha_Op<"latent_keys", [Pure]> {
  let summary = "the keys of a latent (MLA) layer: per-head part and shared RoPE key";
  let description = [{
    `kv [B, L, H*(Dn+Dv)]` is the per-head up-projection of the latent (each
    head's `Dn` key columns, then its `Dv` value columns) and `latent
    [B, L, r+Dr]` the latent with the rotated RoPE key in its last `Dr`
    columns. Head `h` of the result `[B, L, H*(Dn+Dr)]` is the head's key
    part followed by the RoPE key all heads share:

    ```
    y[b, l, h*(Dn+Dr) + t] = kv[b, l, h*(Dn+Dv) + t]             t < Dn
                           = latent[b, l, r + t - Dn]             t >= Dn
    ```

    ```mlir
    %k = mha.latent_keys %kv, %latent {num_heads = 16 : i64, nope_dim = 128 : i64}
        : tensor<?x?x4096xf32>, tensor<?x?x576xf32> -> tensor<?x?x3072xf32>
    ```

    `mha-expand-layer` makes it for `#mha.sharing<latent>`; `mha-tile`
    copies the columns in a phase of their own.
  }];
  let arguments = (ins AnyRankedTensor:$kv, AnyRankedTensor:$latent,
                   I64Attr:$num_heads, I64Attr:$nope_dim);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $kv `,` $latent attr-dict `:` type($kv) `,` type($latent) `->`
    type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The columns of the RoPE key, `Dr = cols(y) / H - Dn`.
    int64_t getRopeKeyDim() {
      return ::llvm::cast<::mlir::RankedTensorType>(getOutput().getType())
                 .getDimSize(2) / getNumHeads() - getNopeDim();
    }
  }];
}

def Mha_HeadLinearOp : Mha_Op<"head_linear", [Pure]> {
  let summary = "each head's own projection, through slices of one weight";
  let description = [{
    `x [B, L, H*Sx]`, `W [R, H*P]`, `y [B, L, H*Sy]`: head `h` of `x`
    (columns `h*Sx ..`) is multiplied by its own `K x N` slice of `W`, at
    column `weight_offset` of the head's `P` columns, read as it is or
    (`transpose_weight`) transposed; the `C` columns after the head's
    first `K` are carried to the end of its block of `y` unchanged:

    ```
    y[b, l, h*Sy + n]     = sum_{k<K} x[b, l, h*Sx + k] * Wh[k, n]     n < N
    y[b, l, h*Sy + N + t] = x[b, l, h*Sx + K + t]                      t < C
    Wh[k, n] = W[k, h*P + weight_offset + n]        (K = R, C = Sx - R, N = Sy - C)
             = W[n, h*P + weight_offset + k]        (transpose_weight:
                                                     N = R, C = Sy - R, K = Sx - C)
    ```

    It is how a latent (MLA) decoding step absorbs the up-projection
    `Wv [r, H*(Dn+Dv)]` into the attention (mha-expand-layer): the query
    side `q_h W_UK_h^T` (`transpose_weight`, offset 0, the RoPE part
    carried) and the output side `o_h W_UV_h` (offset `Dn`).

    ```mlir
    %qa = mha.head_linear %q, %wv {num_heads = 16 : i64, transpose_weight}
        : tensor<?x?x3072xf32>, tensor<512x4096xf32> -> tensor<?x?x9216xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                   I64Attr:$num_heads,
                   DefaultValuedAttr<I64Attr, "0">:$weight_offset,
                   UnitAttr:$transpose_weight);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// K, N and C of the description, from the shapes.
    ::mlir::mha::HeadLinearDims getDims() {
      return ::mlir::mha::HeadLinearDims::get(
          ::llvm::cast<::mlir::ShapedType>(getInput().getType()),
          ::llvm::cast<::mlir::ShapedType>(getWeight().getType()),
          ::llvm::cast<::mlir::ShapedType>(getOutput().getType()),
          getNumHeads(), getTransposeWeight());
    }
  }];
}

def Mha_RmsNormOp : Mha_Op<"rms_norm", [Pure]> {
  let summary = "divides the first columns of each row by their root mean square";
  let description = [{
    `y[b, l, c] = x[b, l, c] / sqrt(sum_{c' < n} x[b, l, c']^2 / n + eps)`
    for `c < n = columns`, `y = x` in the other columns (an RMS norm
    without weight). A latent (MLA) decoding step normalises the latent so
    before it goes into the cache (its `rms_norm_eps`).

    ```mlir
    %n = mha.rms_norm %latent {columns = 512 : i64, eps = 1.0e-6 : f32}
        : tensor<?x?x576xf32> -> tensor<?x?x576xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$columns, F32Attr:$eps);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasVerifier = 1;
}

#endif // MHA_DIALECT_MHA_LAYER_OPS_TD
