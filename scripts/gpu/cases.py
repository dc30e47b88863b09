#!/usr/bin/env python3
"""The GPU check's cases and benchmark shapes, and the spec generator.

    python3 scripts/gpu/cases.py OUT_DIR [--target nvptx] [--chip sm_80]

writes one `.mlir` spec per check case and per benchmark spec into OUT_DIR
plus `manifest.json`, which scripts/gpu/check.py reads on the GPU machine
(it has no MLIR: everything it needs to know about a library is in the
manifest). Each manifest entry names the spec, the exported function, the
library file (`lib<name>.so`, built by scripts/gpu-build.sh), the shapes,
the element type, every mha.attention attribute (normalised: per-head arrays
expanded to Hq values, defaults filled in) and the results (`o`, `lse`).

Check cases are small and odd-sized (B = 2, L = 77..300, Lq != Lk) and cover
every SPEC.md attribute of mha.attention on its own and combined. Benchmark
specs (issue 7) have dynamic B and L, so one library serves every length.

The meaning of the attributes (defaults, per-head arrays, spec text) is
python/mha/semantics.py's, shared with the checker and bench/. Standard
library only (runs where MLIR is, before any venv exists).
"""
import argparse
import json
import os
import sys


def _use_mha_package():
    """Puts the folder holding the `mha` package on sys.path: the bundle's
    python/ (a bundle carries a copy) or the repository's python/."""
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "python"), os.path.join(here, os.pardir, os.pardir, "python")):
        if os.path.isfile(os.path.join(p, "mha", "semantics.py")):
            sys.path.insert(0, os.path.abspath(p))
            return
    raise ImportError("python/mha not found beside scripts/gpu or in the bundle")


_use_mha_package()
from mha.semantics import attr_text, normalise  # noqa: E402

# ----------------------------------------------------------------------------
# Check cases
# ----------------------------------------------------------------------------
# Keys: name, dtype, B, Hq, Hkv, Lq, Lk, D (Dv = D), dynamic (B and L are `?`
# in the spec), attrs (as written in the spec; per-head arrays may hold one
# value), kv_lens and q_lens (optional: the B valid key lengths and real
# query rows, operands after v), page_size (optional, with kv_lens: k and v
# are passed as page pools [pages, Hkv, page_size, D] with a block table),
# extra (variants run on this case besides the plain call:
#   vllm       the page pools are views of [pages, page_size, Hkv, D] storage
#   blhd       q/k/v/o are transposed views of [B, L, H, D] storage
#   rt_mask    a runtime head mask in mha_options.head_mask
#   null_opts  opts = NULL (default stream)
#   stream     a non-default CUDA stream in mha_options.cuda_stream
#   bad_device q on the wrong device -> MHA_ERR_DEVICE, output untouched
#   bad_shape  k shorter than v -> MHA_ERR_SHAPE, output untouched
#   bad_dtype  q of the wrong element type -> MHA_ERR_DTYPE, output untouched
#   bad_index  with kv_lens: kv_lens[0] past the cache (paged: a page past the
#              pool in sequence 0's table) with mha_options.check_indices ->
#              MHA_ERR_INVALID_ARGUMENT, output untouched; on CUDA the same
#              call unchecked runs (the kernels clamp) without a CUDA error)
# seqlens_q and seqlens_k (optional: packed sequences, cu_seqlens_q and
# cu_seqlens_k; q, o and lse are [1, Hq, sum + 3, ...] whose last 3 rows
# belong to no sequence, k and v [1, Hkv, sum, ...]; B is the number of
# sequences; with seqlens_q and kv_lens + page_size instead of seqlens_k,
# the keys are a paged cache),
# serving_kernels=True (the library also exports `<name>_merge`, an
# mha.merge_states of two (o, lse) pairs of the case's shapes, and
# `<name>_append`, an mha.append_kv with RoPE into caches of its shapes,
# paged like the case's; the variants "merge" and "append" check them
# against float64 references; needs return_lse and kv_lens),
# and backward=True (the spec has mha.backward; needs return_lse): the
# variants "backward" (forward, then `<name>_backward` against the float64
# gradients, twice: the same bits), "backward_unaligned" (rows not on 16
# bytes: the fallback kernels) and "backward_rt_mask" (a runtime head mask).
ALL_BAD = ["bad_device", "bad_shape", "bad_dtype"]
BACKWARD = ["backward", "backward_unaligned"]

CASES = [
    # Plain multi-head attention, the three GPU head dims.
    dict(name="mha_d64_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=77, Lk=77, D=64,
         dynamic=True, attrs={}, extra=ALL_BAD + ["null_opts", "unaligned"]),
    dict(name="mha_d128_f16_static", dtype="f16", Hq=4, Hkv=4, Lq=130, Lk=130,
         D=128, dynamic=False, attrs={}, extra=ALL_BAD + ["blhd"]),
    dict(name="mha_d256_bf16", dtype="bf16", Hq=2, Hkv=2, Lq=100, Lk=163,
         D=256, dynamic=True, attrs={}, extra=["blhd"]),
    dict(name="mha_d256_f16_causal", dtype="f16", Hq=2, Hkv=2, Lq=129, Lk=129,
         D=256, dynamic=False, attrs={"causal": True}, extra=["unaligned"]),
    # Value head dim other than the key head dim (Dv != D).
    dict(name="dv_ne_d_bf16", dtype="bf16", Hq=4, Hkv=2, Lq=90, Lk=130, D=64,
         Dv=128, dynamic=True, attrs={"causal": True, "return_lse": True},
         extra=["unaligned"]),
    dict(name="dv_lt_d_f16", dtype="f16", Hq=2, Hkv=2, Lq=70, Lk=70, D=128,
         Dv=32, dynamic=False, attrs={"window_left": [8, -1]}),
    # f32 specs (bf16 tensor cores on the GPU, f32 in and out).
    dict(name="gqa_f32_d128_causal_lse", dtype="f32", Hq=4, Hkv=2, Lq=150,
         Lk=171, D=128, dynamic=True, attrs={"causal": True, "return_lse": True},
         extra=["blhd", "unaligned"]),
    dict(name="f32_d64_alibi_softcap", dtype="f32", Hq=4, Hkv=4, Lq=99, Lk=99,
         D=64, dynamic=False,
         attrs={"alibi_slopes": [0.5, 0.25, 0.125, 0.0625], "softcap": 20.0,
                "window_left": [-1, 16, 40, -1]}),
    # GQA packing (the heads of a KV group in one block): decoding-like
    # Lq, pruned heads inside a packed block, MQA with 8 heads per block,
    # windows equal within each group.
    dict(name="gqa_pack_decode_bf16", dtype="bf16", Hq=8, Hkv=2, Lq=3,
         Lk=300, D=128, dynamic=True, attrs={"causal": True, "return_lse": True},
         extra=["rt_mask", "blhd", "unaligned"]),
    dict(name="gqa_pack_head_mask_f16", dtype="f16", Hq=8, Hkv=2, Lq=50,
         Lk=77, D=64, dynamic=True,
         attrs={"causal": True, "return_lse": True,
                "head_mask": [True, False, True, True, False, True, True, True]}),
    dict(name="mqa_pack_alibi_softcap_bf16", dtype="bf16", Hq=8, Hkv=1, Lq=40,
         Lk=130, D=64, dynamic=False,
         attrs={"alibi_slopes": [0.5, 0.25, 0.125, 0.0625, 0.03, 0.02, 0.01, 0.005],
                "softcap": 30.0, "temperature": [1.0, 2.0, 0.5, 1.0, 1.5, 1.0, 1.0, 0.7]}),
    dict(name="gqa_pack_group_windows_f16", dtype="f16", Hq=4, Hkv=2, Lq=140,
         Lk=140, D=128, dynamic=True,
         attrs={"causal": True, "window_left": [32, 32, 8, 8], "sink_tokens": 2}),
    # Grouped-query 8:2 and multi-query.
    dict(name="gqa_8x2_bf16", dtype="bf16", Hq=8, Hkv=2, Lq=200, Lk=200,
         D=128, dynamic=True, attrs={}, extra=["blhd", "rt_mask", "stream"]),
    dict(name="gqa_8x2_f16_causal", dtype="f16", Hq=8, Hkv=2, Lq=151, Lk=233,
         D=64, dynamic=True, attrs={"causal": True, "return_lse": True}),
    dict(name="mqa_8x1_bf16", dtype="bf16", Hq=8, Hkv=1, Lq=150, Lk=150,
         D=64, dynamic=False, attrs={}),
    dict(name="mqa_8x1_f16_causal_lse", dtype="f16", Hq=8, Hkv=1, Lq=97,
         Lk=211, D=128, dynamic=True, attrs={"causal": True, "return_lse": True}),
    # Causal with Lq == Lk, Lq < Lk (decode-like) and Lq > Lk (empty rows).
    dict(name="causal_eq_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=193, Lk=193,
         D=64, dynamic=True, attrs={"causal": True}),
    dict(name="causal_lq_lt_lk_f16", dtype="f16", Hq=4, Hkv=4, Lq=77, Lk=300,
         D=128, dynamic=True, attrs={"causal": True, "return_lse": True}),
    dict(name="causal_lq_gt_lk_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=300,
         Lk=77, D=64, dynamic=True, attrs={"causal": True, "return_lse": True},
         extra=["blhd"]),
    dict(name="causal_lq_gt_lk_static_f16", dtype="f16", Hq=2, Hkv=2, Lq=160,
         Lk=90, D=256, dynamic=False, attrs={"causal": True, "return_lse": True}),
    # Score modifiers, each on its own.
    dict(name="scale_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=120, Lk=120, D=64,
         dynamic=True, attrs={"scale": 0.3}),
    dict(name="temperature_f16", dtype="f16", Hq=4, Hkv=4, Lq=111, Lk=140,
         D=128, dynamic=True, attrs={"temperature": [0.25, 0.5, 1.0, 3.0]}),
    dict(name="softcap_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=133, Lk=133,
         D=64, dynamic=True, attrs={"scale": 0.4, "softcap": 2.0}),
    dict(name="alibi_f16", dtype="f16", Hq=4, Hkv=4, Lq=120, Lk=250, D=64,
         dynamic=True, attrs={"alibi_slopes": [0.5, 0.25, 0.0625, 0.0]}),
    dict(name="alibi_causal_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=250, Lk=120,
         D=128, dynamic=False, attrs={"causal": True, "alibi_slopes": [0.125]}),
    # Windows per head (multi-scale: local and global heads in one op).
    dict(name="window_lr_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=211, Lk=211,
         D=64, dynamic=True,
         attrs={"window_left": [-1, 16, 64, 5], "window_right": [8, -1, 32, 0]}),
    dict(name="multiscale_causal_f16", dtype="f16", Hq=4, Hkv=2, Lq=257,
         Lk=257, D=128, dynamic=True,
         attrs={"causal": True, "window_left": [-1, 16, 64, -1]}),
    dict(name="window_left_lq_ne_lk_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=90,
         Lk=230, D=64, dynamic=True,
         attrs={"window_left": [-1, 16, 64, -1], "return_lse": True}),
    dict(name="window_uniform_static_f16", dtype="f16", Hq=4, Hkv=4, Lq=180,
         Lk=180, D=64, dynamic=False,
         attrs={"window_left": [32], "window_right": [32]}),
    # Sink tokens with windows.
    dict(name="sinks_causal_window_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=257,
         Lk=257, D=64, dynamic=True,
         attrs={"causal": True, "sink_tokens": 4, "window_left": [16, -1, 32, 0]}),
    dict(name="sinks_window_lr_f16", dtype="f16", Hq=4, Hkv=2, Lq=100,
         Lk=180, D=128, dynamic=True,
         attrs={"sink_tokens": 3, "window_left": [10], "window_right": [10],
                "return_lse": True}),
    # Head pruning (static) and return_lse.
    dict(name="head_mask_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=99, Lk=99,
         D=64, dynamic=True,
         attrs={"head_mask": [True, False, True, True], "return_lse": True},
         extra=["rt_mask"]),
    dict(name="lse_bf16", dtype="bf16", Hq=4, Hkv=4, Lq=90, Lk=140, D=128,
         dynamic=True, attrs={"return_lse": True}, extra=ALL_BAD),
    # Everything at once.
    dict(name="combined_gqa_f16", dtype="f16", Hq=8, Hkv=2, Lq=300, Lk=300,
         D=128, dynamic=False,
         attrs={"causal": True,
                "temperature": [0.5, 0.75, 1.0, 1.0, 1.25, 1.5, 2.0, 4.0],
                "softcap": 30.0,
                "alibi_slopes": [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625,
                                 0.0078125, 0.00390625],
                "window_left": [-1, 16, 64, -1, 8, -1, 100, 0],
                "sink_tokens": 2,
                "head_mask": [True, True, False, True, True, True, True, False],
                "return_lse": True},
         extra=["blhd", "rt_mask"]),
    dict(name="combined_d256_bf16", dtype="bf16", Hq=4, Hkv=1, Lq=140, Lk=211,
         D=256, dynamic=True,
         attrs={"scale": 0.08, "softcap": 5.0, "alibi_slopes": [0.1, 0.0, 0.3, 0.05],
                "window_left": [20, -1, 50, 7], "window_right": [5, 0, -1, 40],
                "sink_tokens": 5, "return_lse": True}),
    # Valid key lengths (kv_lens, docs/language.md 4.6): decoding rows
    # against caches filled to different lengths, an empty one, a full one.
    dict(name="kv_lens_decode_bf16", dtype="bf16", B=3, Hq=8, Hkv=2, Lq=1, Lk=300,
         D=128, dynamic=True, kv_lens=[300, 0, 77],
         attrs={"causal": True, "return_lse": True},
         extra=["rt_mask", "unaligned", "bad_index"]),
    dict(name="kv_lens_chunk_f16", dtype="f16", B=2, Hq=4, Hkv=4, Lq=33, Lk=260,
         D=64, dynamic=True, kv_lens=[200, 40],
         attrs={"causal": True, "window_left": [16, -1, 64, -1], "sink_tokens": 2,
                "alibi_slopes": [0.5, 0.25, 0.125, 0.0], "return_lse": True},
         extra=["blhd"]),
    dict(name="q_lens_chunks_bf16", dtype="bf16", B=4, Hq=8, Hkv=2, Lq=70, Lk=200,
         D=128, dynamic=True, kv_lens=[200, 120, 0, 64], q_lens=[70, 3, 5, 0],
         attrs={"causal": True, "window_left": [32], "return_lse": True},
         extra=["rt_mask", "unaligned"]),
    # Paged caches (block_table): pages of 16 in a shuffled order, a page
    # size that is not a power of two, vLLM's [pages, page_size, Hkv, D].
    dict(name="paged_decode_bf16", dtype="bf16", B=3, Hq=8, Hkv=2, Lq=1, Lk=300,
         D=128, dynamic=True, kv_lens=[300, 0, 77], page_size=16,
         attrs={"causal": True, "return_lse": True},
         extra=["vllm", "unaligned", "bad_index"]),
    dict(name="paged_chunk_f16", dtype="f16", B=2, Hq=4, Hkv=4, Lq=40, Lk=150,
         D=64, dynamic=True, kv_lens=[150, 61], q_lens=[40, 7], page_size=7,
         attrs={"causal": True, "window_left": [20, -1, 50, -1], "sink_tokens": 3,
                "softcap": 30.0, "return_lse": True}, extra=["vllm"]),
    # Split-KV decoding (4.6): few blocks against caches of >= 512 keys
    # split each row's keys into parts merged by their lse: filled to
    # different lengths (one empty), paged with windows, sinks, ALiBi and
    # softcap, and a static spec that returns o only.
    dict(name="split_decode_bf16", dtype="bf16", B=3, Hq=8, Hkv=2, Lq=1, Lk=3001,
         D=128, dynamic=True, kv_lens=[3001, 0, 700],
         attrs={"causal": True, "return_lse": True}, extra=["rt_mask", "unaligned"],
         serving_kernels=True),
    dict(name="split_paged_window_f16", dtype="f16", B=2, Hq=4, Hkv=4, Lq=4, Lk=2100,
         D=64, dynamic=True, kv_lens=[2100, 1500], page_size=16,
         attrs={"causal": True, "window_left": [-1, 300, 1000, -1], "sink_tokens": 4,
                "alibi_slopes": [0.5, 0.25, 0.125, 0.0], "softcap": 30.0,
                "return_lse": True}, extra=["vllm"], serving_kernels=True),
    dict(name="split_static_f16", dtype="f16", B=1, Hq=4, Hkv=1, Lq=2, Lk=1024,
         D=64, dynamic=False, attrs={}),
    # Packed sequences (4.6): lengths 0, 1 and odd, a causal GQA prefill
    # with windows and sinks, and packed chunks over a paged cache.
    dict(name="varlen_prefill_bf16", dtype="bf16", B=5, Hq=8, Hkv=2, Lq=130, Lk=200,
         D=128, dynamic=True, seqlens_q=[77, 0, 130, 1, 45], seqlens_k=[77, 5, 200, 1, 60],
         attrs={"causal": True, "window_left": [-1, 64, -1, 16, -1, -1, 100, -1],
                "sink_tokens": 2, "return_lse": True}),
    dict(name="varlen_paged_f16", dtype="f16", B=3, Hq=4, Hkv=4, Lq=40, Lk=100,
         D=64, dynamic=True, seqlens_q=[3, 40, 1], kv_lens=[100, 40, 0], page_size=16,
         attrs={"causal": True, "alibi_slopes": [0.5, 0.25, 0.125, 0.0625],
                "return_lse": True}, serving_kernels=True),
    dict(name="kv_lens_mqa_f32_static", dtype="f32", B=2, Hq=4, Hkv=1, Lq=5, Lk=130,
         D=64, dynamic=False, kv_lens=[130, 9],
         attrs={"causal": True, "temperature": [1.0, 2.0, 0.5, 1.5]}),
    dict(name="combined_causal_bf16", dtype="bf16", Hq=4, Hkv=2, Lq=180, Lk=95,
         D=64, dynamic=True,
         attrs={"causal": True, "scale": 0.2, "temperature": [2.0, 0.5, 1.0, 1.5],
                "softcap": 3.0, "window_left": [-1, 30, 10, -1], "sink_tokens": 1,
                "return_lse": True}),
    # The backward (docs/language.md 7.1): GQA causal; every score attribute
    # with a pruned head at D = 128; MQA with Dv != D, Lq > Lk (rows that see
    # no key) and a right window; a runtime head mask.
    dict(name="bwd_gqa_causal_bf16", dtype="bf16", Hq=8, Hkv=2, Lq=130, Lk=130,
         D=64, dynamic=True, backward=True,
         attrs={"causal": True, "return_lse": True}, extra=BACKWARD),
    dict(name="bwd_combined_f16", dtype="f16", Hq=4, Hkv=2, Lq=100, Lk=163,
         D=128, dynamic=True, backward=True,
         attrs={"temperature": [0.5, 1.0, 2.0, 1.25], "softcap": 20.0,
                "alibi_slopes": [0.25, 0.125, 0.0, 0.0625],
                "window_left": [16, -1, 40, 8], "sink_tokens": 2,
                "head_mask": [True, True, False, True], "return_lse": True},
         extra=BACKWARD),
    dict(name="bwd_mqa_dv_bf16", dtype="bf16", Hq=4, Hkv=1, Lq=90, Lk=61,
         D=64, Dv=128, dynamic=False, backward=True,
         attrs={"causal": True, "window_right": [0, 3, -1, 0], "window_left": [20],
                "return_lse": True}, extra=["backward", "backward_rt_mask"]),
    # Padded batches: caches filled to different lengths (one empty),
    # chunks of 0..70 real rows; padding rows and keys get zero gradients.
    dict(name="bwd_padded_bf16", dtype="bf16", B=3, Hq=8, Hkv=2, Lq=70, Lk=150,
         D=64, dynamic=True, backward=True, kv_lens=[150, 0, 97], q_lens=[70, 5, 33],
         attrs={"causal": True, "window_left": [40], "sink_tokens": 2,
                "return_lse": True}, extra=["backward"]),
]

# ----------------------------------------------------------------------------
# Benchmark specs and shapes (issue 7). bf16, dynamic B and L.
# ----------------------------------------------------------------------------
BENCH_WINDOW = 256
BENCH_B = 4
BENCH_SPECS = [
    dict(name="bench_mha_d128_full", Hq=16, Hkv=16, D=128, attrs={}),
    dict(name="bench_mha_d128_causal", Hq=16, Hkv=16, D=128, attrs={"causal": True}),
    dict(name="bench_mha_d64_full", Hq=16, Hkv=16, D=64, attrs={}),
    dict(name="bench_mha_d64_causal", Hq=16, Hkv=16, D=64, attrs={"causal": True}),
    dict(name="bench_gqa_d128_full", Hq=32, Hkv=8, D=128, attrs={}),
    dict(name="bench_gqa_d128_causal", Hq=32, Hkv=8, D=128, attrs={"causal": True}),
    # Decoding: a few query rows against a long KV cache (non-causal: every
    # cached key is visible), where GQA packing shares K/V across heads.
    dict(name="bench_gqa_d128_decode", Hq=32, Hkv=8, D=128, attrs={}),
    # Multi-scale: heads 0-7 local (window_left 256, causal), heads 8-15
    # global causal.
    dict(name="bench_ms_d128_causal", Hq=16, Hkv=16, D=128,
         attrs={"causal": True,
                "window_left": [BENCH_WINDOW] * 8 + [-1] * 8}),
    # The backward (issue 17): `<name>_backward` timed alone (its forward
    # run once for o and lse) against the peers' autograd backward.
    dict(name="bench_bwd_mha_d128_full", Hq=16, Hkv=16, D=128, attrs={},
         backward=True),
    dict(name="bench_bwd_mha_d128_causal", Hq=16, Hkv=16, D=128,
         attrs={"causal": True}, backward=True),
    dict(name="bench_bwd_mha_d64_causal", Hq=16, Hkv=16, D=64,
         attrs={"causal": True}, backward=True),
    dict(name="bench_bwd_gqa_d128_causal", Hq=32, Hkv=8, D=128,
         attrs={"causal": True}, backward=True),
    dict(name="bench_bwd_ms_d128_causal", Hq=16, Hkv=16, D=128,
         attrs={"causal": True,
                "window_left": [BENCH_WINDOW] * 8 + [-1] * 8}, backward=True),
]
# (spec, L) pairs, in the order they are timed. flex = whether FlexAttention
# is timed on it (each distinct shape/mask compiles; keep them few).
# On an H200 each Flex compile takes about 2 s (5 s for the first): Flex is
# timed on every shape with L >= 4096 (12 compiles), not at L = 1024.
BENCH_RUNS = (
    [("bench_mha_d128_full", L, L >= 4096) for L in (1024, 4096, 16384)]
    + [("bench_mha_d128_causal", L, L >= 4096) for L in (1024, 4096, 16384)]
    + [("bench_mha_d64_full", L, L >= 4096) for L in (1024, 4096, 16384)]
    + [("bench_mha_d64_causal", L, L >= 4096) for L in (1024, 4096, 16384)]
    + [("bench_gqa_d128_full", 4096, True)]
    + [("bench_gqa_d128_causal", L, L >= 4096) for L in (1024, 4096, 16384)]
    + [("bench_ms_d128_causal", L, True) for L in (4096, 16384)]
    + [("bench_gqa_d128_decode", L, False, lq) for L in (16384,) for lq in (1, 16)]
    + [(name, 4096, True) for name in ("bench_bwd_mha_d128_full",
                                       "bench_bwd_mha_d128_causal",
                                       "bench_bwd_mha_d64_causal",
                                       "bench_bwd_gqa_d128_causal",
                                       "bench_bwd_ms_d128_causal")]
    + [("bench_bwd_mha_d128_causal", 16384, True)]
)

def spec_text(name, dt, hq, hkv, d, attrs, dims, dv=None, lengths=(), page_size=None,
              backward=False, packed=()):
    """One exported function with one mha.attention. dims = (B, Lq, Lk) as
    strings ('?' for dynamic); dv is the value head dim (default d);
    lengths names the [B] i32 operands after v ("kv_lens", "q_lens"); with
    page_size, k and v are page pools read through a block table; packed
    names the packed sides ("cu_seqlens_q", "cu_seqlens_k": batch 1, their
    offsets after the block table); with backward, the function also
    exports `<name>_backward`."""
    b, lq, lk = dims
    dv = dv or d
    lens = f"tensor<{b}xi32>"
    if "cu_seqlens_q" in packed:
        b, lq, lens = "1", "?", "tensor<?xi32>"
    kb = "1" if "cu_seqlens_k" in packed else b
    q = f"tensor<{b}x{hq}x{lq}x{d}x{dt}>"
    k = f"tensor<{kb}x{hkv}x{lk}x{d}x{dt}>"
    v = f"tensor<{kb}x{hkv}x{lk}x{dv}x{dt}>"
    o = f"tensor<{b}x{hq}x{lq}x{dv}x{dt}>"
    results = [o]
    if attrs.get("return_lse"):
        results.append(f"tensor<{b}x{hq}x{lq}xf32>")
    names = ["%o"] + (["%lse"] if len(results) > 1 else [])
    a = attr_text(attrs)
    attr_block = (" {" + ", ".join(a) + "}") if a else ""
    res_sig = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
    lens_arg = "".join(f", %{n}: {lens}" for n in lengths)
    lens_use = "".join(f" {n}(%{n} : {lens})" for n in lengths)
    if page_size:  # k and v are page pools, the block table follows
        k = f"tensor<?x{hkv}x{page_size}x{d}x{dt}>"
        v = f"tensor<?x{hkv}x{page_size}x{dv}x{dt}>"
        lens_arg += ", %block_table: tensor<?x?xi32>"
        lens_use += " block_table(%block_table : tensor<?x?xi32>)"
    for n in packed:
        lens_arg += f", %{n}: tensor<?xi32>"
        lens_use += f" {n}(%{n} : tensor<?xi32>)"
    return (f"// Generated by scripts/gpu/cases.py: do not edit.\n"
            f"func.func @{name}(%q: {q}, %k: {k}, %v: {v}{lens_arg}) -> {res_sig}"
            f"{' attributes {mha.backward}' if backward else ''} {{\n"
            f"  {', '.join(names)} = mha.attention %q, %k, %v{lens_use}{attr_block}\n"
            f"       : {q}, {k}, {v} -> {', '.join(results)}\n"
            f"  return {', '.join(names)} : {', '.join(results)}\n}}\n")


APPEND_ROPE_THETA = 10000.0


def serving_text(name, dt, hq, hkv, d, dims, dv, page_size, packed=False):
    """`<name>_merge` (mha.merge_states of two (o, lse) pairs of the
    case's o and lse shapes) and `<name>_append` (mha.append_kv with RoPE of
    new keys [B, Hkv, ?, D], or packed [1, Hkv, ?, D] with cu_seqlens_q,
    into the case's caches, through its block table when paged)."""
    b, lq, lk = dims
    o = f"tensor<{b}x{hq}x{lq}x{dv}x{dt}>"
    lse = f"tensor<{b}x{hq}x{lq}xf32>"
    kn = f"tensor<{'1' if packed else b}x{hkv}x?x{d}x{dt}>"
    vn = f"tensor<{'1' if packed else b}x{hkv}x?x{dv}x{dt}>"
    kc = f"tensor<{b}x{hkv}x{lk}x{d}x{dt}>"
    vc = f"tensor<{b}x{hkv}x{lk}x{dv}x{dt}>"
    table_arg = table_use = ""
    if page_size:
        kc = f"tensor<?x{hkv}x{page_size}x{d}x{dt}>"
        vc = f"tensor<?x{hkv}x{page_size}x{dv}x{dt}>"
        table_arg = ", %block_table: tensor<?x?xi32>"
        table_use = " block_table(%block_table : tensor<?x?xi32>)"
    if packed:
        table_arg += ", %cu_seqlens_q: tensor<?xi32>"
        table_use += " cu_seqlens_q(%cu_seqlens_q : tensor<?xi32>)"
    lens = f"tensor<{b}xi32>"
    return (f"func.func @{name}_merge(%oa: {o}, %la: {lse}, %ob: {o}, %lb: {lse})"
            f" -> ({o}, {lse}) {{\n"
            f"  %o, %lse = mha.merge_states %oa, %la, %ob, %lb\n"
            f"       : {o}, {lse}, {o}, {lse} -> {o}, {lse}\n"
            f"  return %o, %lse : {o}, {lse}\n}}\n"
            f"func.func @{name}_append(%kn: {kn}, %vn: {vn}, %kv_lens: {lens}"
            f"{table_arg}, %kc: {kc}, %vc: {vc}) -> ({kc}, {vc}) {{\n"
            f"  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%kv_lens : {lens})"
            f"{table_use} {{rope_theta = {APPEND_ROPE_THETA:.1f} : f32}}\n"
            f"       : {kn}, {vn}, {kc}, {vc} -> {kc}, {vc}\n"
            f"  return %k, %v : {kc}, {vc}\n}}\n")


def build_manifest(target, chip):
    cases, bench = [], []
    seen = set()
    for c in CASES:
        assert c["name"] not in seen, c["name"]
        seen.add(c["name"])
        B = c.get("B", 2)
        dims = ("?", "?", "?") if c["dynamic"] else (str(B), str(c["Lq"]), str(c["Lk"]))
        entry = dict(kind="check", name=c["name"], function=c["name"],
                     spec=c["name"] + ".mlir", library="lib" + c["name"] + ".so",
                     dtype=c["dtype"], B=B, Hq=c["Hq"], Hkv=c["Hkv"], Lq=c["Lq"],
                     Lk=c["Lk"], D=c["D"], Dv=c.get("Dv", c["D"]),
                     dynamic=c["dynamic"],
                     attrs_spec=c["attrs"], attrs=normalise(c["attrs"], c["Hq"], c["D"]),
                     results=["o", "lse"] if c["attrs"].get("return_lse") else ["o"],
                     variants=["plain"] + list(c.get("extra", [])))
        lengths = [n for n in ("kv_lens", "q_lens") if n in c]
        for n in lengths:
            assert len(c[n]) == B, c["name"]
            entry[n] = c[n]
        if c.get("backward"):
            assert c["attrs"].get("return_lse"), c["name"]
            entry["backward"] = True
        if "page_size" in c:
            assert "kv_lens" in c, c["name"]
            entry["page_size"] = c["page_size"]
        packed = [n for n, key in (("cu_seqlens_q", "seqlens_q"),
                                   ("cu_seqlens_k", "seqlens_k")) if key in c]
        for key in ("seqlens_q", "seqlens_k"):
            if key in c:
                assert len(c[key]) == B and c["dynamic"], c["name"]
                entry[key] = c[key]
        if {"rt_mask", "backward_rt_mask"} & set(entry["variants"]):
            # Ablates every third head from head 2: differs from the static
            # head_mask of every case that has one.
            entry["runtime_head_mask"] = [0 if h % 3 == 2 else 1 for h in range(c["Hq"])]
        entry["text"] = spec_text(c["name"], c["dtype"], c["Hq"], c["Hkv"], c["D"],
                                  c["attrs"], dims, c.get("Dv"), lengths,
                                  c.get("page_size"), c.get("backward", False), packed)
        if c.get("serving_kernels"):
            assert c["attrs"].get("return_lse") and "kv_lens" in c, c["name"]
            entry["variants"] += ["merge", "append"]
            entry["merge_function"] = c["name"] + "_merge"
            entry["append_function"] = c["name"] + "_append"
            entry["append_rope_theta"] = APPEND_ROPE_THETA
            entry["text"] += serving_text(c["name"], c["dtype"], c["Hq"], c["Hkv"],
                                          c["D"], dims, c.get("Dv", c["D"]),
                                          c.get("page_size"), "seqlens_q" in c)
        cases.append(entry)
    specs = {}
    for s in BENCH_SPECS:
        assert s["name"] not in seen, s["name"]
        seen.add(s["name"])
        backward = s.get("backward", False)
        attrs = dict(s["attrs"], return_lse=True) if backward else s["attrs"]
        entry = dict(kind="bench", name=s["name"], function=s["name"],
                     spec=s["name"] + ".mlir", library="lib" + s["name"] + ".so",
                     dtype="bf16", Hq=s["Hq"], Hkv=s["Hkv"], D=s["D"], Dv=s["D"],
                     dynamic=True, attrs_spec=attrs,
                     attrs=normalise(attrs, s["Hq"], s["D"]),
                     results=["o", "lse"] if backward else ["o"])
        if backward:
            entry["backward"] = True
        entry["text"] = spec_text(s["name"], "bf16", s["Hq"], s["Hkv"], s["D"],
                                  attrs, ("?", "?", "?"), backward=backward)
        specs[s["name"]] = entry
    for name, L, flex, *lq in BENCH_RUNS:
        bench.append(dict(spec=name, B=BENCH_B, L=L, flex=flex,
                          Lq=lq[0] if lq else None))
    return dict(version=1, target=target, chip=chip, cases=cases,
                bench_specs=list(specs.values()), bench=bench)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="bundle folder (created)")
    ap.add_argument("--target", default="nvptx")
    ap.add_argument("--chip", default="")
    ap.add_argument("--list", action="store_true",
                    help="also print one spec file name per line")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    m = build_manifest(args.target, args.chip)
    for e in m["cases"] + m["bench_specs"]:
        with open(os.path.join(args.out, e["spec"]), "w") as f:
            f.write(e.pop("text"))
        if args.list:
            print(e["spec"])
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
    print(f"{len(m['cases'])} check cases, {len(m['bench_specs'])} benchmark specs, "
          f"{len(m['bench'])} benchmark shapes -> {args.out}/manifest.json",
          file=sys.stderr)


if __name__ == "__main__":
    main()
