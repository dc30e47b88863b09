"""Split-KV decoding on the CPU (docs/language.md 4.6, "Split-KV"): when a
decoding call has fewer work items than the machine has CPUs, each
sequence's keys are split into parts computed by separate items and merged
by their lse. Checked against the float64 reference on the masks that
bound the key ranges (causal, windows, sinks, ALiBi), contiguous and paged
caches, several query rows, empty sequences, padded (q_lens) and packed
(cu_seqlens) sequences; the result bytes do not depend on num_threads.

    pytest python/tests/test_split_kv.py
"""
import numpy as np
import pytest

import mha
from test_serving import Case, serving_spec

# name: (Hq, Hkv, D, attributes)
CASES = {
    "mqa": (8, 1, 32, "causal"),
    "gqa_window": (4, 2, 16, "causal, window_left = array<i64: 700, -1, 300, 2000>"),
    "sinks_alibi": (2, 1, 16, "causal, sink_tokens = 4, window_left = array<i64: 500>, "
                    "alibi_slopes = array<f32: 0.01, 0.002>"),
    "softcap": (4, 1, 24, "softcap = 20.0 : f32"),
}


# Sequences of different lengths (name, operands, packed q, packed k).
RAGGED = [("padded", ["kv_lens", "q_lens"], False, False),
          ("packed_q", ["kv_lens", "cu_seqlens_q"], True, False),
          ("packed_q_paged", ["kv_lens", "block_table", "cu_seqlens_q"], True, False),
          ("packed_qk", ["cu_seqlens_q", "cu_seqlens_k"], True, True)]


@pytest.fixture(scope="module")
def lib():
    text = "".join(serving_spec(n, hq, hkv, d, d, ["kv_lens"], attrs=a)
                   for n, (hq, hkv, d, a) in CASES.items())
    text += "".join(serving_spec(n + "_paged", hq, hkv, d, d, ["kv_lens", "block_table"],
                                 attrs=a) for n, (hq, hkv, d, a) in CASES.items())
    for name, operands, packed_q, packed_k in RAGGED:
        text += serving_spec(name, 8, 1, 32, 32, operands, attrs="causal",
                             packed_q=packed_q, packed_k=packed_k)
    return mha.compile(text)


def params_of(case):
    text = CASES[case][3]
    attrs = {"causal": "causal" in text}
    if "window_left" in text:
        attrs["window_left"] = [int(x) for x in text.split("window_left = array<i64: ")[1]
                                .split(">")[0].split(", ")]
    if "sink_tokens" in text:
        attrs["sink_tokens"] = int(text.split("sink_tokens = ")[1].split(",")[0])
    if "alibi_slopes" in text:
        attrs["alibi_slopes"] = [float(x) for x in text.split("alibi_slopes = array<f32: ")[1]
                                 .split(">")[0].split(", ")]
    if "softcap" in text:
        attrs["softcap"] = 20.0
    return attrs


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("lq,kv_lens", [(1, [5000]), (3, [2600]), (1, [4100, 0]),
                                        (2, [1500, 3000])])
def test_split_decoding_matches_float64(lib, case, paged, lq, kv_lens):
    hq, hkv, d, _ = CASES[case]
    c = Case(hq, hkv, d, d, [lq] * len(kv_lens), kv_lens)
    q = c.padded_q(lq)
    lens = np.array(kv_lens, np.int32)
    if paged:
        k, v, table = c.paged_kv(16)
        args = (q, k, v, lens, table)
        f = getattr(lib, case + "_paged")
    else:
        k, v, _ = c.padded_kv(max(kv_lens) + 37)
        args = (q, k, v, lens)
        f = getattr(lib, case)
    o, lse = (np.asarray(x) for x in f(*args))
    for s, (want_o, want_lse, _) in enumerate(c.reference(params_of(case))):
        empty = ~np.isfinite(want_lse)
        assert np.array_equal(~np.isfinite(lse[s]), empty), s
        assert np.all(o[s][empty] == 0)
        assert np.max(np.abs(o[s] - want_o), initial=0) < 1e-4, s
        assert np.max(np.abs(lse[s][~empty] - want_lse[~empty]), initial=0) < 1e-4, s
    # The split follows the machine, not num_threads: the same bytes.
    for threads in (1, 3):
        o2, lse2 = (np.asarray(x) for x in f(*args, num_threads=threads))
        assert np.array_equal(o2, o) and np.array_equal(lse2, lse, equal_nan=True)


def test_split_with_a_runtime_head_mask(lib):
    """A runtime head mask keeps the heads of a group apart (one item per
    head): each head's parts are merged on their own; a pruned head is 0."""
    hq, hkv, d, _ = CASES["mqa"]
    c = Case(hq, hkv, d, d, [2], [6000])
    k, v, lens = c.padded_kv(6000)
    mask = np.ones(hq, np.uint8)
    mask[3] = 0
    o, lse = (np.asarray(x) for x in lib.mqa(c.padded_q(2), k, v, lens, head_mask=mask))
    want_o, want_lse, _ = c.reference(params_of("mqa"))[0]
    alive = mask.astype(bool)
    assert np.max(np.abs(o[0][alive] - want_o[alive])) < 1e-4
    assert np.max(np.abs(lse[0][alive] - want_lse[alive])) < 1e-4
    assert np.all(o[0][3] == 0) and np.all(np.isneginf(lse[0][3]))


@pytest.mark.parametrize("name", [r[0] for r in RAGGED])
@pytest.mark.parametrize("q_lens,kv_lens", [([3], [5000]), ([1], [2100]), ([2, 1], [4100, 3000]),
                                            ([0], [6000]), ([2], [0])])
def test_split_sequences_of_different_lengths(lib, name, q_lens, kv_lens):
    """One long sequence (MQA: fewer items than CPUs, so its keys split) or
    two, padded with q_lens or packed with cu_seqlens: each sequence's rows
    against float64, padding rows and rows past the last sequence 0 and
    -inf, the same bytes for any thread count."""
    c = Case(8, 1, 32, 32, q_lens, kv_lens)
    lens = np.array(kv_lens, np.int32)
    if name == "padded":
        lq = max(q_lens) + 2
        args = (c.padded_q(lq), *c.padded_kv(max(kv_lens) + 5)[:2], lens,
                np.array(q_lens, np.int32))
        rows = lambda s: (s, slice(None), slice(0, q_lens[s]))
        pad = [(s, slice(None), slice(q_lens[s], None)) for s in range(len(q_lens))]
    else:
        q, cu_q = c.packed_q(extra_rows=2)
        if name == "packed_q":
            args = (q, *c.padded_kv(max(kv_lens) + 5)[:2], lens, cu_q)
        elif name == "packed_q_paged":
            k, v, table = c.paged_kv(16)
            args = (q, k, v, lens, table, cu_q)
        else:
            k, v, cu_k = c.packed_kv()
            args = (q, k, v, cu_q, cu_k)
        rows = lambda s: (0, slice(None), slice(cu_q[s], cu_q[s + 1]))
        pad = [(0, slice(None), slice(cu_q[-1], None))]
    f = getattr(lib, name)
    o, lse = (np.asarray(x) for x in f(*args))
    for s, (want_o, want_lse, _) in enumerate(c.reference({"causal": True})):
        empty = ~np.isfinite(want_lse)
        assert np.array_equal(~np.isfinite(lse[rows(s)]), empty), s
        assert np.max(np.abs(o[rows(s)] - want_o), initial=0) < 1e-4, s
        assert np.max(np.abs(lse[rows(s)][~empty] - want_lse[~empty]), initial=0) < 1e-4, s
    for p in pad:
        assert np.all(o[p] == 0) and np.all(np.isneginf(lse[p]))
    for threads in (1, 3):
        o2, lse2 = (np.asarray(x) for x in f(*args, num_threads=threads))
        assert np.array_equal(o2, o) and np.array_equal(lse2, lse)
