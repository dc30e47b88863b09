//===- Passes.td - Transforms of the mha dialect -----------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_PASSES_TD
#define MHA_DIALECT_MHA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MhaExpandLayerPass : Pass<"mha-expand-layer"> {
  let summary = "Expand mha.multi_head into projections, attention and the "
                "output projection";
  let description = [{
    Rewrites every `mha.multi_head` into `mha.linear` projections (bias and
    RoPE as their epilogue; a shared or grouped projection replicated for
    the heads of its group; a low-rank weight as a projection through each
    factor), `mha.split_heads` views, one
    `mha.attention` carrying every attention attribute of the layer, an
    `mha.merge_heads` view and the output projection. Intermediates are f32
    whatever the layer's element type.

    Before:
    ```mlir
    %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, causal}
        : tensor<?x?x512xf32>, ... -> tensor<?x?x512xf32>
    ```
    After:
    ```mlir
    %q = mha.linear %x, %wq {head_dim = 64 : i64} : ... -> tensor<?x?x512xf32>
    %k = mha.linear %x, %wk {head_dim = 64 : i64} : ...
    %v = mha.linear %x, %wv {head_dim = 64 : i64} : ...
    %qh = mha.split_heads %q : tensor<?x?x512xf32> -> tensor<?x8x?x64xf32>
    ...
    %o = mha.attention %qh, %kh, %vh {causal} : ...
    %oc = mha.merge_heads %o : tensor<?x8x?x64xf32> -> tensor<?x?x512xf32>
    %y = mha.linear %oc, %wo {head_dim = 64 : i64} : ... -> tensor<?x?x512xf32>
    ```
    A decoding step (a layer with `cache(...)`) also rotates Q and K at
    the positions after each cache (`positions(%kv_lens)`), appends K and V
    with `mha.append_kv` and attends over the appended caches with
    `kv_lens + L` keys (arith.addi of a tensor.splat of L).
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MhaPruneHeadsPass : Pass<"mha-prune-heads"> {
  let summary = "Remove the work of heads a static head_mask prunes";
  let description = [{
    For an expanded layer whose `mha.attention` has a static `head_mask`:
    the query projection computes only the live heads' columns, the key and
    value projections only the KV heads some live query head reads, and the
    output projection reduces only over the live heads' rows of `Wo`
    (`live_blocks` / `live_input_blocks` of `mha.linear`). The attention
    itself already skips pruned heads.

    Before:
    ```mlir
    %q = mha.linear %x, %wq {head_dim = 64 : i64} : ...
    %o = mha.attention %qh, %kh, %vh {head_mask = array<i1: true, false>} : ...
    %y = mha.linear %oc, %wo {head_dim = 64 : i64} : ...
    ```
    After:
    ```mlir
    %q = mha.linear %x, %wq {head_dim = 64 : i64, live_blocks = array<i64: 0>} : ...
    %o = mha.attention %qh, %kh, %vh {head_mask = array<i1: true, false>} : ...
    %y = mha.linear %oc, %wo {head_dim = 64 : i64, live_input_blocks = array<i64: 0>} : ...
    ```
  }];
}

def MhaLowRankPass : Pass<"mha-low-rank"> {
  let summary = "Replace constant layer weights by low-rank factors (truncated SVD)";
  let description = [{
    For every `mha.multi_head` weight (`wq`, `wk`, `wv`, `wo`, as chosen by
    `weights`) that is a dense constant, computes its singular value
    decomposition in float64 (LAPACK's `dgesdd`) and keeps the `rank`
    largest singular values, or the fewest that keep the fraction `energy`
    of the squared Frobenius norm. The weight becomes `mha.low_rank` of two
    constants, `down = U_r sqrt(S_r)` and `up = sqrt(S_r) V_r^T`, rounded to
    the weight's element type. A remark on each weight reports the rank, the
    energy kept, the measured relative error `|W - down . up|_F / |W|_F` of
    the rounded factors and the flop saving; a weight whose factors would
    not save flops (`r (m + n) >= m n`) is left as it is, with a remark
    saying so.

    Before:
    ```mlir
    %wq = arith.constant dense<...> : tensor<512x512xf32>
    %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8} : ...
    ```
    After (`-mha-low-rank="rank=64"`):
    ```mlir
    %down = arith.constant dense<...> : tensor<512x64xf32>
    %up = arith.constant dense<...> : tensor<64x512xf32>
    %wq = mha.low_rank %down, %up
        : tensor<512x64xf32>, tensor<64x512xf32> -> tensor<512x512xf32>
    %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8} : ...
    ```
  }];
  let options = [
    Option<"rank", "rank", "int64_t", /*default=*/"0",
           "Singular values kept (0: chosen by 'energy')">,
    Option<"energy", "energy", "double", /*default=*/"0.0",
           "Fraction of the squared Frobenius norm kept, in (0, 1], when "
           "'rank' is 0">,
    ListOption<"weights", "weights", "std::string",
               "The weights to factor: any of wq, wk, wv, wo (default: all)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MhaQuantizeWeightsPass : Pass<"mha-quantize-weights"> {
  let summary = "Replace constant layer weights by int8 or int4 values and scales";
  let description = [{
    For every `mha.multi_head` weight (`wq`, `wk`, `wv`, `wo`, as chosen by
    `weights`) that is a dense float constant, computes one scale per
    output column, or with `group-size=g` one per column and group of `g`
    rows (g must divide the rows: otherwise the weight is left as it is,
    with a warning), `max |W[group, n]| / m` with `m = 127` (`bits=8`, the
    default) or `7` (`bits=4`), 1 for an all-zero group, and the values
    `round(W / scale)` (to nearest, ties to even) in `[-m, m]`. The weight
    becomes `mha.quantized` of two constants (i8 values, two int4 per byte
    with `bits=4`, and f32 scales): a quarter (an eighth) of the bytes of
    an f32 weight, plus the scales. A remark on each weight reports the
    measured relative error `|W - values * scale|_F / |W|_F` and the bytes
    saved.

    Before:
    ```mlir
    %wq = arith.constant dense<...> : tensor<512x512xf32>
    %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8} : ...
    ```
    After (`-mha-quantize-weights`):
    ```mlir
    %values = arith.constant dense<...> : tensor<512x512xi8>
    %scale = arith.constant dense<...> : tensor<512xf32>
    %wq = mha.quantized %values, %scale
        : tensor<512x512xi8>, tensor<512xf32> -> tensor<512x512xf32>
    ```
  }];
  let options = [
    ListOption<"weights", "weights", "std::string",
               "The weights to quantize: any of wq, wk, wv, wo (default: all)">,
    Option<"bits", "bits", "int64_t", /*default=*/"8",
           "Bits per value: 8 or 4">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"0",
           "Rows per scale (0: one scale per column)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MhaFusePass : Pass<"mha-fuse"> {
  let summary = "One projection for an attention's Q, K and V";
  let description = [{
    The three `mha.linear` projections of an expanded layer's attention
    (same input, one replica each, the same head dim and input blocks, RoPE
    on Q and K alike or on neither, biases on all or none) become one
    `mha.linear` over the column-wise `tensor.concat` of their weights (and
    biases): one GEMM, which `mha-tile` runs as one grid of column blocks
    over one packed weight buffer into one result. RoPE is limited to the Q and K heads (`rope_blocks`), pruned
    heads stay dead (`live_blocks` renumbered), and the attention reads
    Q, K and V as `mha.split_heads` views at their column offsets. Run
    after `mha-prune-heads`. Shared-projection layers (replicas) are left
    as they are.

    Before:
    ```mlir
    %q = mha.linear %x, %wq {head_dim = 64 : i64, rope_theta = 1.0e4 : f32} : ...
    %k = mha.linear %x, %wk {head_dim = 64 : i64, rope_theta = 1.0e4 : f32} : ...
    %v = mha.linear %x, %wv {head_dim = 64 : i64} : ...
    ```
    After:
    ```mlir
    %w = tensor.concat dim(1) %wq, %wk, %wv : (...) -> tensor<512x768xf32>
    %qkv = mha.linear %x, %w {head_dim = 64 : i64, rope_blocks = 10 : i64,
                              rope_theta = 1.0e4 : f32} : ...
    %qh = mha.split_heads %qkv : ... -> tensor<?x8x?x64xf32>
    %kh = mha.split_heads %qkv {column_offset = 512 : i64} : ...
    %vh = mha.split_heads %qkv {column_offset = 640 : i64} : ...
    ```
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def MhaTilePass : Pass<"mha-tile", "ModuleOp"> {
  let summary = "Tile mha.attention into flash-attention work-item kernels";
  let description = [{
    Replaces every public `func.func` whose body computes one
    `mha.attention` by a work-item kernel on memrefs: the kernel computes
    query rows `[t*R, (t+1)*R)` of head `h` of batch `b` with the online
    softmax over key tiles of `C` keys. Per head it visits only the key tiles
    the masks can make visible (a sink range, emitted only with
    `sink_tokens`, and a window range), and sets
    `masked` only on tiles that cross a mask boundary, so a local head costs
    what its window costs. What static shapes tell is used: a function of
    one query row per head (decoding) has no masked steps (its one position
    sees each tile of its key ranges whole), and its steps carry `max_rows`
    (the rows a step can have), so that code no call can run is not
    emitted. The kernel carries `#mha.entry_point` so that
    `mha-emit-entry-points` can export the C function.

    A function computing an expanded layer (`mha-expand-layer`) becomes one
    kernel whose work items belong to phases (`#mha.layer_plan`): the
    packing of the weight arguments (`mha.pack_panel`), the RoPE table, the
    Q/K/V projections (one `mha.gemm_tile` per item: register blocking,
    bias, RoPE and replicas as attributes, lowered to vector micro-kernels
    by `convert-mha-to-vector`), the attention above on `[B, H, L, D]`
    strided views of the `[B, L, H*D]` temporaries, and the output
    projection. The kernel takes the phase number before `(b, h, t)`.

    Before:
    ```mlir
    func.func @f(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                 %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
      %o = mha.attention %q, %k, %v {causal} : ... -> tensor<?x8x?x64xf32>
      return %o : tensor<?x8x?x64xf32>
    }
    ```
    After (abridged):
    ```mlir
    func.func @f__kernel(%q: memref<?x8x?x64xf32, strided<[?, ?, ?, 1], offset: ?>>,
                         ..., %b: index, %h: index, %t: index, %alive: i1)
        attributes {llvm.emit_c_interface, mha.entry_point = #mha.entry_point<...>} {
      scf.for %j = %lo to %hi step %c64 {
        mha.online_softmax_step ins(...) outs(%acc, %max, %sum, %ent ...) ...
      }
      mha.online_softmax_finalize ins(...) alive(%alive) outs(...)
    }
    ```
  }];
  let options = [
    Option<"rowsPerItem", "rows", "int64_t", /*default=*/"0",
           "Query rows per work item (q-tile); 0 = chosen from the head dim">,
    Option<"keysPerTile", "cols", "int64_t", /*default=*/"0",
           "Keys per kv tile; 0 = chosen from the head dim">,
    Option<"bandRows", "band-rows", "int64_t", /*default=*/"0",
           "Query rows whose scores a step computes, normalises and applies "
           "together (the score scratch rows); 0 = chosen from the head dim">,
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"16",
           "f32 lanes per vector of the target (16: AVX-512, 8: AVX2)">,
    Option<"scoreRows", "score-rows", "int64_t", /*default=*/"0",
           "Rows of the S = Q.K^T micro-kernel; 0 = default">,
    Option<"scoreVectors", "score-vectors", "int64_t", /*default=*/"0",
           "Key vectors of the S micro-kernel; 0 = default">,
    Option<"outputRows", "output-rows", "int64_t", /*default=*/"0",
           "Rows of the acc += P.V micro-kernel; 0 = default">,
    Option<"outputVectors", "output-vectors", "int64_t", /*default=*/"0",
           "Value-dim vectors of the P.V micro-kernel; 0 = default">,
    Option<"bf16Dot", "bf16-dot", "bool", /*default=*/"false",
           "bf16 specs with an even head dim and 16 lanes use AVX512-BF16 "
           "pair dot products (micro_kernel dot = bf16_pairs), and so do "
           "the projection GEMMs of bf16 layers">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
    "::mlir::x86vector::X86VectorDialect"
  ];
}

def MhaTileBackwardPass : Pass<"mha-tile-backward", "ModuleOp"> {
  let summary = "Work-item kernels of <name>_backward for mha.backward functions";
  let description = [{
    For every public `func.func` marked `mha.backward` (one `mha.attention`
    returning `o` and `lse`), adds the kernel `<name>_backward__kernel` of
    the exported gradient function (docs/language.md, 7.1 and 6.7), beside
    the forward (which `mha-tile` then tiles as usual). Its work items come
    in two independent grids, run as one by `mha_rt_launch_backward`:

    - phase 0, item (b, g, t): dk and dv of key tile t of KV head g, summed
      in stack scratch over the query rows of every query head of the group
      that can see the tile (query tiles outside the tile's reach, found
      with the forward's key ranges, are skipped);
    - phase 1, item (b, h, t): dq of query tile t of head h over the keys
      each row can see (the forward's key ranges).

    Both recompute the scores from q and k and the probabilities from lse
    (P = exp(s - lse)), with D_i = dout_i . o_i per row. Every gradient
    element is written by one item, in a fixed order: no atomics, and the
    same bytes for any thread count. Pruned heads, rows with no visible key
    and keys no row sees get exact zeros. The kernel carries
    `#mha.entry_point` and `mha.backward_grid = array<i64: Hkv, C, 1>`.
  }];
  let options = [
    Option<"rowsPerItem", "rows", "int64_t", /*default=*/"0",
           "Query rows per dq work item (and per query tile of a key item); "
           "0: 64, fewer where the scratch budget needs it">,
    Option<"keysPerItem", "cols", "int64_t", /*default=*/"0",
           "Keys per dk/dv work item (and per key tile of a query item); "
           "0: 64, fewer where the scratch budget needs it">,
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"16",
           "f32 lanes per vector of the micro-kernels (16: AVX-512; a "
           "multiple of 4)">,
    Option<"wholeHeadItems", "whole-heads", "bool", /*default=*/"true",
           "Key items own whole KV heads and sum dq (in place for f32, in "
           "the runtime's f32 dq temporary for f16/bf16) where the shape "
           "allows (D and Dv multiples of 16, at least 4 KV heads)">,
    Option<"bf16Dot", "bf16-dot", "bool", /*default=*/"false",
           "bf16 specs with even head dims and 16 lanes run the key items' "
           "products as AVX512-BF16 pair dot products (vdpbf16ps)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
    "::mlir::x86vector::X86VectorDialect"
  ];
}

def MhaApproximateMathPass : Pass<"mha-approximate-math"> {
  let summary = "Replace exp2, log2 and tanh by polynomials (no libm calls)";
  let description = [{
    Expands `math.exp2` into `math.exp` and then rewrites `math.exp`,
    `math.log2` and `math.tanh` into polynomial approximations on f32 vectors
    and scalars, so the generated kernels call no libm function in their
    loops and the library needs no libm symbol for them. With
    `fma=false` (targets without FMA instructions, where `llvm.fma` would
    become a call to `fmaf`), every `vector.fma` and `math.fma` becomes a
    multiply and an add.
  }];
  let options = [
    Option<"useFma", "fma", "bool", /*default=*/"true",
           "The target has fused multiply-add instructions">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // MHA_DIALECT_MHA_TRANSFORMS_PASSES_TD
