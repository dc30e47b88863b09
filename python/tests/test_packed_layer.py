"""Layers over sequences of different lengths (docs/language.md 5.9):
mha.multi_head with cu_seqlens_q takes S sequences as the rows of x [1, T,
d]; each attends only to its own rows and RoPE counts positions from its
first. A decoding step takes packed new rows the same way, or padded ones
with q_lens, and appends each sequence's own rows to its caches. Checked
against a float64 NumPy layer per sequence and against the same layer run
on each sequence alone (every sharing scheme); rows of no sequence give the
output bias; bad offsets and lengths are refused with nothing written.

    pytest python/tests/test_packed_layer.py
"""
import re

import numpy as np
import pytest

import mha
from test_decode_layer import (CAUSAL, D, D_MODEL, HKV, HQ, RNG, VARIANTS, cache_rows,
                               layer_spec, paged_cache, random_cache, reference_step,
                               weights)

# Sequence lengths: empty, single rows, one longer than a projection
# (192 rows) and an attention tile; 3 rows past the last sequence.
LENGTHS = [5, 0, 37, 1, 230]
PADDING = 3


def offsets(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)


def packed_input(lengths, dtype=np.float32):
    cu = offsets(lengths)
    x = RNG.standard_normal((1, int(cu[-1]) + PADDING, D_MODEL)).astype(dtype)
    return x, cu


@pytest.fixture(scope="module")
def lib(cache_dir):
    spec = "".join(layer_spec(f"packed_{k}", v, cache=False, packed=True)
                   for k, (v, _) in VARIANTS.items())
    spec += layer_spec("packed_bias_lse", "causal", cache=False, packed=True,
                       biases=True, lse=True)
    spec += layer_spec("prefill", "causal", cache=False)
    spec += layer_spec("padded_bias_lse", "causal", cache=False, q_lens=True,
                       biases=True, lse=True)
    for variant in ("causal", "window_sinks"):
        attrs = VARIANTS[variant][0]
        spec += layer_spec(f"packed_step_{variant}", attrs, packed=True)
        spec += layer_spec(f"packed_paged_{variant}", attrs, packed=True, paged=True)
        spec += layer_spec(f"padded_step_{variant}", attrs, q_lens=True)
        spec += layer_spec(f"padded_paged_{variant}", attrs, q_lens=True, paged=True)
    return mha.compile(spec)


def reference_prefill(x, w, attrs):
    """float64 layer of one sequence x [1, L, d]: a step from empty caches."""
    empty = [np.zeros((HKV, 0, D))]
    y, _, _, lse = reference_step(x, w, empty, empty, attrs)
    return y, lse


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_packed_matches_float64(lib, variant):
    x, cu = packed_input(LENGTHS)
    w = weights()
    y = getattr(lib, f"packed_{variant}")(x, *w, cu)
    assert y.shape == x.shape
    for s in range(len(LENGTHS)):
        rows = slice(cu[s], cu[s + 1])
        if cu[s] == cu[s + 1]:
            continue
        y_ref, _ = reference_prefill(x[:, rows], w, VARIANTS[variant][1])
        assert np.abs(y[:, rows] - y_ref).max() <= 2e-5 * max(1.0, np.abs(y_ref).max())
    # Rows past the last sequence attend to nothing: y = 0 (no output bias).
    np.testing.assert_array_equal(y[:, cu[-1]:], 0)


def test_biases_and_lse(lib):
    x, cu = packed_input(LENGTHS)
    w = weights(biases=True)
    y, lse = lib.packed_bias_lse(x, *w, cu)
    assert lse.shape == (1, HQ, x.shape[1])
    for s in range(len(LENGTHS)):
        rows = slice(cu[s], cu[s + 1])
        if cu[s] == cu[s + 1]:
            continue
        y_ref, lse_ref = reference_prefill(x[:, rows], w, CAUSAL[1])
        np.testing.assert_allclose(y[:, rows], y_ref, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(lse[:, :, rows], lse_ref, rtol=1e-5, atol=1e-5)
    assert np.all(lse[:, :, cu[-1]:] == -np.inf)
    np.testing.assert_array_equal(y[:, cu[-1]:], 0)


def test_padded_prompts_match_float64(lib):
    """Prompts padded to one length (x [S, L, d]) with q_lens: each attends
    to its first q_lens[s] rows; padding rows give y = 0, lse = -inf."""
    q_lens = [5, 0, 37, 1]
    L = max(q_lens) + 2
    x = RNG.standard_normal((len(q_lens), L, D_MODEL)).astype(np.float32)
    w = weights(biases=True)
    y, lse = lib.padded_bias_lse(x, *w, np.array(q_lens, np.int32))
    for s, n in enumerate(q_lens):
        if n:
            y_ref, lse_ref = reference_prefill(x[s:s + 1, :n], w, CAUSAL[1])
            np.testing.assert_allclose(y[s:s + 1, :n], y_ref, rtol=1e-4, atol=2e-5)
            np.testing.assert_allclose(lse[s:s + 1, :, :n], lse_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y[s, n:], 0)
        assert np.all(lse[s, :, n:] == -np.inf)
    with pytest.raises(mha.Error, match=re.escape(
            f"'q_lens'[2] is {L + 1} but must be in [0, {L}] (the rows of 'x' dim 1")):
        lib.padded_bias_lse(x, *w, np.array([1, 1, L + 1, 1], np.int32))


def test_each_sequence_equals_the_layer_alone(lib):
    """Packing changes no row: each sequence's rows equal the prefill layer
    called on that sequence, and the thread count changes no byte."""
    x, cu = packed_input(LENGTHS)
    w = weights()
    y = lib.packed_causal(x, *w, cu)
    for s in range(len(LENGTHS)):
        if cu[s] < cu[s + 1]:
            alone = lib.prefill(np.ascontiguousarray(x[:, cu[s]:cu[s + 1]]), *w)
            np.testing.assert_allclose(y[:, cu[s]:cu[s + 1]], alone, rtol=1e-5,
                                       atol=1e-6)
    np.testing.assert_array_equal(lib.packed_causal(x, *w, cu, num_threads=1), y)
    np.testing.assert_array_equal(lib.packed_causal(x, *w, cu, num_threads=3), y)


def test_no_sequences_and_one_sequence(lib):
    w = weights()
    x = RNG.standard_normal((1, 6, D_MODEL)).astype(np.float32)
    y = lib.packed_causal(x, *w, np.array([0], np.int32))
    np.testing.assert_array_equal(y, 0)
    y = lib.packed_causal(x, *w, np.array([0, 6], np.int32))
    np.testing.assert_allclose(y, lib.prefill(x, *w), rtol=1e-5, atol=1e-6)


def test_bad_offsets_are_refused(lib):
    w = weights()
    x = RNG.standard_normal((1, 9, D_MODEL)).astype(np.float32)
    bad = {
        r"'cu_seqlens_q'\[0\] is 2 but must be 0": [2, 4, 9],
        r"'cu_seqlens_q'\[2\] is 3, less than \[1\] = 4; offsets must not decrease":
            [0, 4, 3],
        re.escape("'cu_seqlens_q'[2] is 10 but 'x' (layer input) dim 1"): [0, 4, 10],
    }
    for message, cu in bad.items():
        with pytest.raises(mha.Error, match=message):
            lib.packed_causal(x, *w, np.array(cu, np.int32))
    with pytest.raises(mha.Error, match="has no entries but needs S"):
        lib.packed_causal(x, *w, np.zeros(0, np.int32))


def test_bf16_packed_equals_the_layer_alone(cache_dir):
    lib = mha.compile(layer_spec("packed", "causal", cache=False, packed=True,
                                 dtype="bf16") +
                      layer_spec("prefill", "causal", cache=False, dtype="bf16"))
    torch = pytest.importorskip("torch")
    x, cu = packed_input([3, 70, 1])
    xt = torch.from_numpy(x).to(torch.bfloat16)
    w = [torch.from_numpy(a).to(torch.bfloat16) for a in weights()]
    y = lib.packed(xt, *w, torch.from_numpy(cu))
    for s in range(3):
        alone = lib.prefill(xt[:, cu[s]:cu[s + 1]].contiguous(), *w)
        torch.testing.assert_close(y[:, cu[s]:cu[s + 1]].float(), alone.float(),
                                   rtol=1e-2, atol=1e-2)


# A latent (MLA) prefill layer: d = 32, 2 heads, Dn = 8, Dr = 4, Dv = 8,
# latent rank 16, RoPE and RMS norms.
LATENT = """
func.func @{name}(%x: tensor<{b}x?x32xf32>, %wq: tensor<32x24xf32>, %wk: tensor<32x20xf32>,
                  %wv: tensor<16x32xf32>, %wo: tensor<16x32xf32>{cu_arg})
    -> tensor<{b}x?x32xf32> {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo{cu}
      {{num_heads = 2 : i64, sharing = #mha.sharing<latent>, causal,
        rope_theta = 1.0e4 : f32, rms_norm_eps = 1.0e-6 : f32}}
      : tensor<{b}x?x32xf32>, tensor<32x24xf32>, tensor<32x20xf32>,
        tensor<16x32xf32>, tensor<16x32xf32> -> tensor<{b}x?x32xf32>
  return %y : tensor<{b}x?x32xf32>
}}
"""
# A layer sharing one projection with a bias per head (shared_head_bias).
SHARED = """
func.func @{name}(%x: tensor<{b}x?x32xf32>, %wq: tensor<32x8xf32>, %wk: tensor<32x8xf32>,
                  %wv: tensor<32x8xf32>, %wo: tensor<32x32xf32>, %bq: tensor<4x8xf32>,
                  %bk: tensor<4x8xf32>, %bv: tensor<4x8xf32>{cu_arg})
    -> tensor<{b}x?x32xf32> {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv{cu}
      {{num_heads = 4 : i64, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias,
        window_left = array<i64: 2, -1, 4, 7>, rope_theta = 1.0e4 : f32}}
      : tensor<{b}x?x32xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>,
        tensor<32x32xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
        -> tensor<{b}x?x32xf32>
  return %y : tensor<{b}x?x32xf32>
}}
"""


@pytest.mark.parametrize("template,shapes", [
    (LATENT, [(32, 24), (32, 20), (16, 32), (16, 32)]),
    (SHARED, [(32, 8), (32, 8), (32, 8), (32, 32), (4, 8), (4, 8), (4, 8)]),
], ids=["latent", "shared_head_bias"])
def test_sharing_schemes_equal_each_sequence_alone(cache_dir, template, shapes):
    """Other sharing schemes, checked against their float64 reference by
    mha-run (test/Integration/CPU), packed: every sequence's rows equal the
    layer on that sequence alone."""
    cu_clause = " cu_seqlens_q(%cu : tensor<?xi32>)"
    lib = mha.compile(
        template.format(name="packed", b="1", cu_arg=", %cu: tensor<?xi32>", cu=cu_clause) +
        template.format(name="alone", b="?", cu_arg="", cu=""))
    w = [(RNG.standard_normal(s) / np.sqrt(s[0])).astype(np.float32) for s in shapes]
    cu = offsets([7, 0, 200, 2])
    x = RNG.standard_normal((1, int(cu[-1]) + 1, 32)).astype(np.float32)
    y = lib.packed(x, *w, cu)
    for s in range(4):
        if cu[s] < cu[s + 1]:
            alone = lib.alone(np.ascontiguousarray(x[:, cu[s]:cu[s + 1]]), *w)
            np.testing.assert_allclose(y[:, cu[s]:cu[s + 1]], alone, rtol=1e-5,
                                       atol=1e-6)


def test_torch_layer_module_takes_the_offsets(lib):
    torch = pytest.importorskip("torch")
    import mha.torch as mt
    w = weights()
    layer = mt.Layer(lib, "packed_causal", wq=w[0], wk=w[1], wv=w[2], wo=w[3])
    x, cu = packed_input([4, 9])
    with torch.no_grad():
        y = layer(torch.from_numpy(x), torch.from_numpy(cu))
    np.testing.assert_array_equal(y.numpy(), lib.packed_causal(x, *w, cu))
    with pytest.raises(TypeError, match="forward takes x, cu_seqlens_q"):
        layer(torch.from_numpy(x))
    padded = mt.Layer(lib, "padded_bias_lse", **dict(zip(
        ("wq", "wk", "wv", "wo", "bq", "bk", "bv"), weights(biases=True))))
    xp = torch.from_numpy(x[0].reshape(1, -1, D_MODEL))
    q_lens = torch.tensor([9], dtype=torch.int32)
    with torch.no_grad():
        y, lse = padded(xp, q_lens)
    assert y.shape == xp.shape and lse.shape == (1, HQ, xp.shape[1])


# Decoding steps of sequences with different numbers of new rows: a
# chunked prefill from an empty cache, one row, none, a long chunk.
KV_LENS = [0, 7, 20, 3]
NEW_ROWS = [5, 1, 0, 70]
CAPACITY = 96


def step_caches(page_size):
    """Random caches of KV_LENS keys, contiguous or (page_size) paged: the
    caches, each sequence's keys and values, the table, and a copy."""
    kc, vc, keys, values = random_cache(KV_LENS, CAPACITY)
    table = None
    if page_size:
        kc, vc, table = paged_cache(kc, vc, KV_LENS, max(NEW_ROWS), page_size)
    return kc, vc, keys, values, table, (kc.copy(), vc.copy())


def check_step(y, x_rows, w, kv_lens, new_rows, keys, values, caches, before, variant,
               table=None, page_size=None):
    """Each sequence's y rows against the float64 step of its own new rows,
    its cache rows against the rotated keys and values, and every other
    cache slot unchanged."""
    written = [np.zeros(c.shape, bool) for c in caches]
    for s, (n, rows) in enumerate(zip(kv_lens, new_rows)):
        if rows == 0:
            continue
        y_ref, new_k, new_v, _ = reference_step(x_rows(s)[None], w, [keys[s]], [values[s]],
                                                VARIANTS[variant][1])
        got = y(s)
        assert np.abs(got - y_ref[0]).max() <= 2e-5 * max(1.0, np.abs(y_ref).max())
        positions = list(range(n, n + rows))
        for cache, ref, mark in zip(caches, (new_k[0], new_v[0]), written):
            np.testing.assert_allclose(cache_rows(cache, s, positions, table, page_size),
                                       ref, rtol=1e-5, atol=1e-5)
            for p in positions:
                if table is None:
                    mark[s, :, p] = True
                else:
                    mark[table[s, p // page_size], :, p % page_size] = True
    for cache, old, mark in zip(caches, before, written):
        np.testing.assert_array_equal(cache[~mark], old[~mark])


@pytest.mark.parametrize("variant", ["causal", "window_sinks"])
@pytest.mark.parametrize("page_size", [None, 1, 16])
def test_packed_steps_match_float64(lib, variant, page_size):
    """New rows packed (x [1, T, d]): each sequence's rows rotate at
    kv_lens[s] + l, are appended to its own caches and attend over
    kv_lens[s] + its rows."""
    cu = offsets(NEW_ROWS)
    x = RNG.standard_normal((1, int(cu[-1]) + PADDING, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, keys, values, table, before = step_caches(page_size)
    lens = np.array(KV_LENS, np.int32)
    if page_size:
        y = getattr(lib, f"packed_paged_{variant}")(x, *w, lens, table, cu, kc, vc)
    else:
        y = getattr(lib, f"packed_step_{variant}")(x, *w, lens, cu, kc, vc)
    check_step(lambda s: y[0, cu[s]:cu[s + 1]], lambda s: x[0, cu[s]:cu[s + 1]], w,
               KV_LENS, NEW_ROWS, keys, values, (kc, vc), before, variant, table,
               page_size)
    np.testing.assert_array_equal(y[:, cu[-1]:], 0)


@pytest.mark.parametrize("variant", ["causal", "window_sinks"])
@pytest.mark.parametrize("page_size", [None, 5])
def test_padded_steps_match_float64(lib, variant, page_size):
    """New rows padded to L (x [S, L, d]) with q_lens: only each sequence's
    first q_lens[s] rows are appended and attend; the others give y = 0."""
    L = max(NEW_ROWS) + 2
    x = RNG.standard_normal((len(KV_LENS), L, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, keys, values, table, before = step_caches(page_size)
    lens, q_lens = np.array(KV_LENS, np.int32), np.array(NEW_ROWS, np.int32)
    if page_size:
        y = getattr(lib, f"padded_paged_{variant}")(x, *w, lens, q_lens, table, kc, vc)
    else:
        y = getattr(lib, f"padded_step_{variant}")(x, *w, lens, q_lens, kc, vc)
    check_step(lambda s: y[s, :NEW_ROWS[s]], lambda s: x[s, :NEW_ROWS[s]], w, KV_LENS,
               NEW_ROWS, keys, values, (kc, vc), before, variant, table, page_size)
    for s, rows in enumerate(NEW_ROWS):
        np.testing.assert_array_equal(y[s, rows:], 0)


def test_packed_and_padded_steps_agree(lib):
    """The same new rows, packed or padded, give the same y and caches, for
    any thread count."""
    cu = offsets(NEW_ROWS)
    L = max(NEW_ROWS)
    w = weights()
    padded = RNG.standard_normal((len(KV_LENS), L, D_MODEL)).astype(np.float32)
    packed = np.concatenate([padded[s, :n] for s, n in enumerate(NEW_ROWS)])[None]
    kc, vc, _, _ = random_cache(KV_LENS, CAPACITY)
    lens, q_lens = np.array(KV_LENS, np.int32), np.array(NEW_ROWS, np.int32)
    caches = [(kc.copy(), vc.copy()) for _ in range(3)]
    y_packed = lib.packed_step_causal(packed, *w, lens, cu, *caches[0])
    y_padded = lib.padded_step_causal(padded, *w, lens, q_lens, *caches[1])
    y_one = lib.packed_step_causal(packed, *w, lens, cu, *caches[2], num_threads=1)
    np.testing.assert_array_equal(y_one, y_packed)
    for s, n in enumerate(NEW_ROWS):
        np.testing.assert_allclose(y_packed[0, cu[s]:cu[s + 1]], y_padded[s, :n],
                                   rtol=1e-5, atol=1e-6)
    for (k1, v1), (k2, v2) in zip(caches[1:], caches[:1] * 2):
        np.testing.assert_allclose(k1, k2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(v1, v2, rtol=1e-5, atol=1e-6)


def test_bad_step_lengths_write_nothing(lib):
    w = weights()
    kc, vc, _, _ = random_cache([0, 0], 8)
    before = kc.copy(), vc.copy()
    x = RNG.standard_normal((1, 9, D_MODEL)).astype(np.float32)
    with pytest.raises(mha.Error, match=re.escape(
            "'kv_lens'[1] is 4 but must be in [0, 2] (the keys of 'k_cache' (key cache) "
            "dim 2 (Lk), less the 6 new keys of sequence 1)")):
        lib.packed_step_causal(x, *w, np.array([0, 4], np.int32),
                               np.array([0, 3, 9], np.int32), kc, vc)
    with pytest.raises(mha.Error, match=re.escape("'cu_seqlens_q'[2] is 10 but 'x'")):
        lib.packed_step_causal(x, *w, np.array([0, 0], np.int32),
                               np.array([0, 3, 10], np.int32), kc, vc)
    with pytest.raises(mha.Error, match="'k_cache' .* dim 0 is 2 but there are 3 sequences"):
        lib.packed_step_causal(x, *w, np.array([0, 0], np.int32),
                               np.array([0, 3, 5, 9], np.int32), kc, vc)
    padded = RNG.standard_normal((2, 3, D_MODEL)).astype(np.float32)
    with pytest.raises(mha.Error, match=re.escape(
            "'q_lens'[0] is 4 but must be in [0, 3] (the rows of 'x' dim 1")):
        lib.padded_step_causal(padded, *w, np.array([0, 0], np.int32),
                               np.array([4, 1], np.int32), kc, vc)
    with pytest.raises(mha.Error, match=re.escape("'kv_lens'[0] is 7 but must be in [0, 6]")):
        lib.padded_step_causal(padded, *w, np.array([7, 0], np.int32),
                               np.array([2, 1], np.int32), kc, vc)
    np.testing.assert_array_equal(kc, before[0])
    np.testing.assert_array_equal(vc, before[1])


def latent_step_specs(dims):
    """Absorbed latent (MLA) steps with low-rank queries and RMS norms:
    `packed` (x [1, T, d], cu_seqlens_q), `padded` (q_lens) and `step`."""
    from test_mla_step import step_spec
    x_type = f"tensor<?x?x{dims.d}xf32>"
    step = step_spec("step", dims, rms=True)
    lens = "kv_lens(%lens : tensor<?xi32>)"
    packed = step.replace("@step", "@packed").replace(x_type, x_type.replace("?x?", "1x?"))
    packed = packed.replace("%lens: tensor<?xi32>,", "%lens: tensor<?xi32>, %cu: tensor<?xi32>,")
    packed = packed.replace(lens, lens + " cu_seqlens_q(%cu : tensor<?xi32>)")
    padded = step.replace("@step", "@padded")
    padded = padded.replace("%lens: tensor<?xi32>,", "%lens: tensor<?xi32>, %ql: tensor<?xi32>,")
    padded = padded.replace(lens, lens + " q_lens(%ql : tensor<?xi32>)")
    return packed + padded + step


def test_packed_latent_steps_equal_each_sequence_alone(cache_dir):
    """An absorbed latent (MLA) step with low-rank queries and RMS norms,
    packed: each sequence's rows and cache rows equal its own step's."""
    from test_mla_step import ODD, layer_weights
    dims = ODD
    lib = mha.compile(latent_step_specs(dims))
    _, args = layer_weights(dims, rms=True)
    kv_lens, new_rows = [4, 0, 9], [3, 6, 1]
    cu = offsets(new_rows)
    x = RNG.standard_normal((1, int(cu[-1]), dims.d)).astype(np.float32)
    cache = RNG.standard_normal((3, 1, 16, dims.r + dims.dr)).astype(np.float32)
    alone = cache.copy()
    y = lib.packed(x, *args, np.array(kv_lens, np.int32), cu, cache)
    for s in range(3):
        c = alone[s:s + 1].copy()
        want = lib.step(np.ascontiguousarray(x[:, cu[s]:cu[s + 1]]), *args,
                        np.array(kv_lens[s:s + 1], np.int32), c)
        np.testing.assert_allclose(y[:, cu[s]:cu[s + 1]], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cache[s], c[0], rtol=1e-6, atol=1e-6)


def test_long_packed_and_padded_latent_steps_split_their_keys(cache_dir):
    """One sequence of 4100 cached tokens (one KV head: fewer items than
    CPUs, so the attention phase splits its keys), its 2 new rows packed
    with 3 rows past the last sequence, or padded to 5 rows: the same rows
    and cache as the step alone, the same bytes for any thread count."""
    from test_mla_step import ODD, layer_weights
    dims = ODD
    lib = mha.compile(latent_step_specs(dims))
    _, args = layer_weights(dims, rms=True)
    lens = np.array([4100], np.int32)
    cache = RNG.standard_normal((1, 1, 4104, dims.r + dims.dr)).astype(np.float32)
    x = RNG.standard_normal((1, 5, dims.d)).astype(np.float32)
    want_cache = cache.copy()
    want = lib.step(np.ascontiguousarray(x[:, :2]), *args, lens, want_cache)
    calls = {"packed": lambda c, **kw: lib.packed(x, *args, lens, offsets([2]), c, **kw),
             "padded": lambda c, **kw: lib.padded(x, *args, lens, np.array([2], np.int32),
                                                  c, **kw)}
    for call in calls.values():
        c = cache.copy()
        y = call(c)
        np.testing.assert_allclose(y[:, :2], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(y[:, 2:], 0)
        np.testing.assert_allclose(c, want_cache, rtol=1e-6, atol=1e-6)
        for threads in (1, 3):
            np.testing.assert_array_equal(call(cache.copy(), num_threads=threads), y)


def test_fuzzed_offsets_lengths_and_tables(lib):
    """Random packed steps over a paged cache, some with one offset, length
    or page number spoiled: each call fails with a message naming the bad
    tensor and writes nothing, or matches the float64 step."""
    rng = np.random.default_rng(5)
    w = weights()
    page_size = 4
    refused = 0
    for trial in range(30):
        S = int(rng.integers(1, 5))
        kv_lens = [int(n) for n in rng.integers(0, 20, S)]
        new_rows = [int(n) for n in rng.integers(0, 7, S)]
        cu = offsets(new_rows)
        x = rng.standard_normal((1, int(cu[-1]) + int(rng.integers(0, 3)), D_MODEL))
        x = x.astype(np.float32)
        kc, vc, keys, values = random_cache(kv_lens, 28)
        kc, vc, table = paged_cache(kc, vc, kv_lens, max(new_rows), page_size)
        lens = np.array(kv_lens, np.int32)
        spoiled = trial % 4
        if spoiled == 1:
            cu[rng.integers(0, S + 1)] = rng.integers(-2, x.shape[1] + 3)
        elif spoiled == 2:
            lens[rng.integers(0, S)] = rng.integers(-2, 40)
        elif spoiled == 3:
            table.flat[rng.integers(0, table.size)] = rng.integers(-3, kc.shape[0] + 3)
        before = kc.copy(), vc.copy()
        try:
            y = lib.packed_paged_causal(x, *w, lens, table, cu, kc, vc)
        except mha.Error as e:
            assert spoiled, e
            assert re.search(r"'(cu_seqlens_q|kv_lens|block_table)'\[", str(e)), str(e)
            np.testing.assert_array_equal(kc, before[0])
            np.testing.assert_array_equal(vc, before[1])
            refused += 1
            continue
        rows = [int(cu[s + 1] - cu[s]) for s in range(S)]
        used = [p for s in range(S)
                for p in table[s, :-(-(int(lens[s]) + rows[s]) // page_size)]]
        if len(used) != len(set(used)):
            # A spoiled table that names one page twice: the step writes
            # where it also reads (the caller's error, which no check can
            # see): any finite numbers, nothing outside the tensors.
            assert np.all(np.isfinite(y))
            continue

        def filled(cache, s, n):  # [Hkv, n, D] of sequence s before the step
            if n == 0:
                return np.zeros((HKV, 0, D), np.float32)
            return cache_rows(cache, s, list(range(n)), table, page_size)
        keys = [filled(before[0], s, n) for s, n in enumerate(lens)]
        values = [filled(before[1], s, n) for s, n in enumerate(lens)]
        check_step(lambda s: y[0, cu[s]:cu[s + 1]], lambda s: x[0, cu[s]:cu[s + 1]], w,
                   [int(n) for n in lens], rows, keys, values, (kc, vc), before, "causal",
                   table, page_size)
    assert 5 <= refused <= 22  # spoiled calls fail, and only they


def packed_variant(spec):
    """The step `spec` (@step: x [S, L, d], then kv_lens) as @packed, whose
    new rows are packed: x [1, T, d] and cu_seqlens_q after kv_lens."""
    spec = spec.replace("@step(", "@packed(")
    spec = spec.replace(f"tensor<?x?x{D_MODEL}x", f"tensor<1x?x{D_MODEL}x")
    spec = spec.replace("%lens: tensor<?xi32>", "%lens: tensor<?xi32>, %cu: tensor<?xi32>")
    last = ("block_table(%table : tensor<?x?xi32>)" if "block_table(" in spec
            else "kv_lens(%lens : tensor<?xi32>)")
    return spec.replace(last, last + " cu_seqlens_q(%cu : tensor<?xi32>)")


@pytest.mark.parametrize("kind", ["int8", "int8_paged", "f16", "bf16_paged"])
def test_packed_steps_equal_steps_alone(cache_dir, kind):
    """Packed steps over int8 caches (with their scales) and in 16-bit
    types: each sequence's rows and cache slots equal its own step's,
    called one sequence after another on the same caches."""
    from test_decode_layer import int8_cache_spec
    torch = pytest.importorskip("torch")
    paged, int8 = kind.endswith("paged"), kind.startswith("int8")
    step = (int8_cache_spec("step", paged) if int8 else
            layer_spec("step", "causal", paged=paged, dtype=kind[:4]))
    lib = mha.compile(packed_variant(step) + step)
    # Arrays of the layer's type: float32, float16, or torch bfloat16.
    typed = {"f16": lambda a: a.astype(np.float16),
             "bf16_paged": lambda a: torch.from_numpy(a).to(torch.bfloat16)}.get(
                 kind, lambda a: a)
    as_numpy = lambda a: a.float().numpy() if isinstance(a, torch.Tensor) else a
    # (A call takes arrays of one kind: torch's for bf16.)
    ints = torch.from_numpy if kind == "bf16_paged" else (lambda a: a)
    kv_lens, new_rows, capacity, page = [3, 0, 10], [2, 5, 1], 16, 4
    S = len(kv_lens)
    cu = offsets(new_rows)
    x = typed(RNG.standard_normal((1, int(cu[-1]), D_MODEL)).astype(np.float32))
    w = [typed(a) for a in weights()]
    if int8:
        kc, vc = (RNG.integers(-127, 128, (S, HKV, capacity, D)).astype(np.int8)
                  for _ in range(2))
    else:
        kc, vc, _, _ = random_cache(kv_lens, capacity)
    table = []
    if paged:
        kc, vc, pages = paged_cache(kc, vc, kv_lens, max(new_rows), page)
        table = [ints(pages)]
    caches = [kc, vc] if int8 else [typed(kc), typed(vc)]
    if int8:  # Scales per KV head, or per page and KV head.
        shape = (kc.shape[0], HKV) if paged else (HKV,)
        caches += [(0.01 + 0.02 * RNG.random(shape)).astype(np.float32) for _ in range(2)]
    alone = [c.clone() if isinstance(c, torch.Tensor) else c.copy() for c in caches]
    lens = ints(np.array(kv_lens, np.int32))
    y = as_numpy(lib.packed(x, *w, lens, ints(cu), *table, *caches))
    for s in range(S):
        xs = x[:, cu[s]:cu[s + 1]]
        xs = xs.contiguous() if isinstance(xs, torch.Tensor) else np.ascontiguousarray(xs)
        if paged:  # The pools are shared: the same arrays, the sequence's row.
            ys = lib.step(xs, *w, lens[s:s + 1], table[0][s:s + 1], *alone)
        else:  # The sequence's caches (views, written in place), the scales.
            ys = lib.step(xs, *w, lens[s:s + 1], *[c[s:s + 1] for c in alone[:2]],
                          *alone[2:])
        np.testing.assert_allclose(y[:, cu[s]:cu[s + 1]], as_numpy(ys), rtol=2e-3,
                                   atol=2e-3)
    for c, a in zip(caches[:2], alone[:2]):
        np.testing.assert_array_equal(as_numpy(c), as_numpy(a))


def test_the_language_reference_example_runs(cache_dir):
    """docs/language.md 5.9's packed-prompt spec, as written there:
    compiled and called on three prompts, each equal to the same spec's
    rows for that prompt alone."""
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "language.md")
    text = open(path).read()
    start = text.index("func.func @prompts(")
    spec = text[start:text.index("\n}\n", start) + 3]
    alone = spec.replace("@prompts(", "@alone(").replace("1x?x768", "?x?x768")
    alone = alone.replace(", %cu: tensor<?xi32>", "").replace(
        " cu_seqlens_q(%cu : tensor<?xi32>)", "")
    lib = mha.compile(spec + alone)
    w = [(RNG.standard_normal((768, 768)) / np.sqrt(768)).astype(np.float32)
         for _ in range(4)]
    cu = offsets([3, 40, 1])
    x = RNG.standard_normal((1, int(cu[-1]), 768)).astype(np.float32)
    y = lib.prompts(x, *w, cu)
    for s in range(3):
        want = lib.alone(np.ascontiguousarray(x[:, cu[s]:cu[s + 1]]), *w)
        np.testing.assert_allclose(y[:, cu[s]:cu[s + 1]], want, rtol=1e-5, atol=1e-5)
