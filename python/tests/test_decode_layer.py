"""A layer's decoding step (docs/language.md 5.8): mha.multi_head with
cache(...) and kv_lens projects L new tokens per sequence, rotates Q and K
at positions kv_lens[s] + l, appends K and V to the caller's caches (in
place, contiguous or paged) and attends over kv_lens[s] + L keys. Checked
against a float64 NumPy layer built from each sequence's own keys; steps
from empty caches must give the prefill layer's rows; bad lengths and pages
are refused with nothing written.

    pytest python/tests/test_decode_layer.py
"""
import re

import numpy as np
import pytest

import mha
from mha import reference, semantics
from test_append import rope

RNG = np.random.default_rng(23)

D_MODEL, HQ, HKV, D = 48, 4, 2, 12
THETA = 10000.0


def layer_spec(name, attrs="causal", paged=False, cache=True, dtype="f32",
               biases=False, lse=False, packed=False, q_lens=False, rows="?"):
    """A GQA layer (d = 48, 4 query heads of 12, 2 KV heads) with RoPE;
    with `cache`, its decoding step over a contiguous or paged cache; with
    `packed`, over packed sequences (x [1, T, d] and cu_seqlens_q); with
    `q_lens`, over padded ones (sequence s has q_lens[s] of the L rows);
    `rows`: x's rows per sequence L, static or `?`."""
    batch = "1" if packed else "?"
    x = f"tensor<{batch}x{rows}x{D_MODEL}x{dtype}>"
    wq, wkv = f"tensor<{D_MODEL}x{HQ * D}x{dtype}>", f"tensor<{D_MODEL}x{HKV * D}x{dtype}>"
    wo = f"tensor<{HQ * D}x{D_MODEL}x{dtype}>"
    bias_types = [f"tensor<{HQ * D}x{dtype}>", f"tensor<{HKV * D}x{dtype}>",
                  f"tensor<{HKV * D}x{dtype}>"] if biases else []
    kc = f"tensor<?x{HKV}x?x{D}x{dtype}>"
    lse_type = f"tensor<{batch}x{HQ}x?xf32>"
    args = [f"%x: {x}", f"%wq: {wq}", f"%wk: {wkv}", f"%wv: {wkv}", f"%wo: {wo}"]
    args += [f"%b{i}: {t}" for i, t in enumerate(bias_types)]
    operands = "%x, %wq, %wk, %wv, %wo" + "".join(f", %b{i}" for i in range(len(bias_types)))
    clauses, results, result_types = "", ["%y"], [x]
    if lse:
        results.append("%lse")
        result_types.append(lse_type)
    cache_types = ""
    packed_clause = " cu_seqlens_q(%cu : tensor<?xi32>)" if packed else ""
    if cache:
        args += ["%lens: tensor<?xi32>"] + (["%ql: tensor<?xi32>"] if q_lens else [])
        args += ["%table: tensor<?x?xi32>"] if paged else []
        args += ["%cu: tensor<?xi32>"] if packed else []
        args += [f"%kc: {kc}", f"%vc: {kc}"]
        clauses = (f" cache(%kc, %vc : {kc}, {kc}) kv_lens(%lens : tensor<?xi32>)" +
                   (" q_lens(%ql : tensor<?xi32>)" if q_lens else "") +
                   (" block_table(%table : tensor<?x?xi32>)" if paged else "") +
                   packed_clause)
        results += ["%k2", "%v2"]
        cache_types = f" cache({kc}, {kc})"
    elif packed:
        args.append("%cu: tensor<?xi32>")
        clauses = packed_clause
    elif q_lens:
        args.append("%ql: tensor<?xi32>")
        clauses = " q_lens(%ql : tensor<?xi32>)"
    flags = [a for a in (attrs, f"num_heads = {HQ} : i64", f"num_kv_heads = {HKV} : i64",
                         f"rope_theta = {THETA} : f32", "has_qkv_bias" if biases else "",
                         "return_lse" if lse else "") if a]
    op_types = ", ".join([x, wq, wkv, wkv, wo] + bias_types)
    op_results = ", ".join([x] + ([lse_type] if lse else []))
    all_types = result_types + ([kc, kc] if cache else [])
    return f"""
func.func @{name}({", ".join(args)}) -> ({", ".join(all_types)}) {{
  {", ".join(results)} = mha.multi_head {operands}{clauses} {{{", ".join(flags)}}}
      : {op_types} -> {op_results}{cache_types}
  return {", ".join(results)} : {", ".join(all_types)}
}}
"""


# Attention attributes of the layer: as written in the spec, and as
# mha.semantics.normalise takes them.
VARIANTS = {
    "causal": ("causal", {"causal": True}),
    "window_sinks": ("causal, window_left = array<i64: 3, -1, 5, 2>, sink_tokens = 2",
                     {"causal": True, "window_left": [3, -1, 5, 2], "sink_tokens": 2}),
    "alibi_softcap": ("causal, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>, "
                      "softcap = 8.0 : f32",
                      {"causal": True, "alibi_slopes": [0.5, 0.25, 0.125, 0.0625],
                       "softcap": 8.0}),
    "not_causal": ("", {}),
}
CAUSAL = VARIANTS["causal"]


@pytest.fixture(scope="module")
def lib(cache_dir):
    spec = "".join(layer_spec(f"step_{k}", v) + layer_spec(f"paged_{k}", v, paged=True)
                   for k, (v, _) in VARIANTS.items())
    spec += layer_spec("prefill", "causal", cache=False)
    spec += layer_spec("step_bias_lse", "causal", biases=True, lse=True)
    return mha.compile(spec)


@pytest.fixture(scope="module")
def one_row_lib(cache_dir):
    """The steps of one static new row per sequence (x [B, 1, d]): their
    attention has no masked steps and only the score methods of that many
    rows (docs/language.md 9)."""
    return mha.compile("".join(
        layer_spec(f"step_{k}", v, rows=1) + layer_spec(f"paged_{k}", v, paged=True, rows=1)
        for k, (v, _) in VARIANTS.items()))


# The layers of the step tests: any rows, or one static row.
STEP_LIBS = {"any_rows": "lib", "one_static_row": "one_row_lib"}


@pytest.fixture(scope="module")
def lib_bf16(cache_dir):
    return mha.compile(layer_spec("step", "causal", dtype="bf16") +
                       layer_spec("prefill", "causal", cache=False, dtype="bf16"))


def weights(biases=False, dtype=np.float32):
    w = [(RNG.standard_normal(s) / np.sqrt(s[0])).astype(dtype)
         for s in ((D_MODEL, HQ * D), (D_MODEL, HKV * D), (D_MODEL, HKV * D),
                   (HQ * D, D_MODEL))]
    if biases:
        w += [RNG.standard_normal(n).astype(dtype) for n in (HQ * D, HKV * D, HKV * D)]
    return w


def reference_step(x, w, keys, values, attrs, lse=False):
    """float64 step: x [S, L, d]; keys/values[s]: [Hkv, kv_lens[s], D] of
    sequence s before the step. Returns y [S, L, d], the new keys and values
    of each sequence [Hkv, L, D] (rotated keys), and lse [S, Hq, L]."""
    S, L, _ = x.shape
    x64 = x.astype(np.float64)
    wq, wk, wv, wo = (np.asarray(a, np.float64) for a in w[:4])
    bq, bk, bv = (np.asarray(a, np.float64) for a in w[4:7]) if len(w) > 4 else (0, 0, 0)
    params = semantics.normalise(attrs, HQ, D)
    heads = lambda t, h: t.reshape(L, h, D).transpose(1, 0, 2)
    y, new_k, new_v, lses = [], [], [], []
    for s in range(S):
        positions = keys[s].shape[1] + np.arange(L)
        q = rope(heads(x64[s] @ wq + bq, HQ), positions, THETA)
        k = rope(heads(x64[s] @ wk + bk, HKV), positions, THETA)
        v = heads(x64[s] @ wv + bv, HKV)
        kall = np.concatenate([keys[s].astype(np.float64), k], axis=1)
        vall = np.concatenate([values[s].astype(np.float64), v], axis=1)
        o, l, _ = reference.attention(q[None], kall[None], vall[None], params)
        y.append(o[0].transpose(1, 0, 2).reshape(L, HQ * D) @ wo)
        new_k.append(k)
        new_v.append(v)
        lses.append(l[0])
    return np.stack(y), new_k, new_v, np.stack(lses)


def random_cache(kv_lens, capacity, dtype=np.float32):
    """Contiguous caches [S, Hkv, capacity, D] of random values (the slots
    past each length too) and each sequence's filled keys and values."""
    S = len(kv_lens)
    kc = RNG.standard_normal((S, HKV, capacity, D)).astype(dtype)
    vc = RNG.standard_normal((S, HKV, capacity, D)).astype(dtype)
    keys = [kc[s, :, :n].copy() for s, n in enumerate(kv_lens)]
    values = [vc[s, :, :n].copy() for s, n in enumerate(kv_lens)]
    return kc, vc, keys, values


def paged_cache(kc, vc, kv_lens, new, page_size):
    """The same caches as page pools in a random page order (with spare
    pages); table entries past what a sequence needs are -1."""
    S, _, capacity, _ = kc.shape
    need = [-(-(n + new) // page_size) for n in kv_lens]
    max_pages = -(-capacity // page_size)
    pages = sum(need) + 2
    order = RNG.permutation(pages)
    kp = RNG.standard_normal((pages, HKV, page_size, D)).astype(kc.dtype)
    vp = RNG.standard_normal((pages, HKV, page_size, D)).astype(kc.dtype)
    table = np.full((S, max_pages), -1, np.int32)
    used = 0
    for s in range(S):
        for p in range(need[s]):
            page = order[used]
            used += 1
            table[s, p] = page
            rows = slice(p * page_size, min((p + 1) * page_size, capacity))
            n = rows.stop - rows.start
            kp[page, :, :n] = kc[s, :, rows]
            vp[page, :, :n] = vc[s, :, rows]
    return kp, vp, table


def cache_rows(cache, s, positions, table=None, page_size=None):
    """[Hkv, n, D] rows of sequence s at `positions` of a contiguous or
    paged cache."""
    if table is None:
        return cache[s][:, positions]
    return np.stack([cache[table[s, p // page_size], :, p % page_size]
                     for p in positions], axis=1)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("paged,page_size", [(False, None), (True, 1), (True, 5),
                                             (True, 16)])
@pytest.mark.parametrize("L,layers", [(1, "any_rows"), (3, "any_rows"),
                                      (1, "one_static_row")])
def test_step_matches_float64(request, variant, paged, page_size, L, layers):
    lib = request.getfixturevalue(STEP_LIBS[layers])
    kv_lens = [0, 7, 20]
    capacity = 24
    x = RNG.standard_normal((3, L, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, keys, values = random_cache(kv_lens, capacity)
    lens = np.array(kv_lens, np.int32)
    y_ref, new_k, new_v, _ = reference_step(x, w, keys, values, VARIANTS[variant][1])
    if paged:
        kc, vc, table = paged_cache(kc, vc, kv_lens, L, page_size)
        before_k, before_v = kc.copy(), vc.copy()
        y = getattr(lib, f"paged_{variant}")(x, *w, lens, table, kc, vc)
    else:
        table = None
        before_k, before_v = kc.copy(), vc.copy()
        y = getattr(lib, f"step_{variant}")(x, *w, lens, kc, vc)
    assert np.abs(y - y_ref).max() <= 2e-5 * max(1.0, np.abs(y_ref).max())
    written_k, written_v = np.zeros(kc.shape, bool), np.zeros(vc.shape, bool)
    for s, n in enumerate(kv_lens):
        positions = list(range(n, n + L))
        np.testing.assert_allclose(cache_rows(kc, s, positions, table, page_size),
                                   new_k[s], rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(cache_rows(vc, s, positions, table, page_size),
                                   new_v[s], rtol=2e-5, atol=2e-5)
        for p in positions:
            where = (s, slice(None), p) if table is None else \
                (table[s, p // page_size], slice(None), p % page_size)
            written_k[where] = written_v[where] = True
    # Nothing else in the caches changed.
    np.testing.assert_array_equal(kc[~written_k], before_k[~written_k])
    np.testing.assert_array_equal(vc[~written_v], before_v[~written_v])


# Long caches: with fewer (sequence, KV head) items than CPUs, the
# attention phase splits each sequence's keys into parts merged by their
# lse (split-KV, docs/language.md 4.6), as an attention function does.
@pytest.mark.parametrize("variant", ["causal", "window_sinks"])
@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("kv_lens,L,layers", [([5000], 1, "any_rows"), ([3000], 2, "any_rows"),
                                              ([4100, 0], 1, "any_rows"),
                                              ([4100, 0], 1, "one_static_row")])
def test_long_cache_steps_split_their_keys(request, variant, paged, kv_lens, L, layers):
    lib = request.getfixturevalue(STEP_LIBS[layers])
    capacity = max(kv_lens) + L + 3
    x = RNG.standard_normal((len(kv_lens), L, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, keys, values = random_cache(kv_lens, capacity)
    lens = np.array(kv_lens, np.int32)
    y_ref, _, _, _ = reference_step(x, w, keys, values, VARIANTS[variant][1])
    if paged:
        kc, vc, table = paged_cache(kc, vc, kv_lens, L, 64)
        call = lambda **kw: getattr(lib, f"paged_{variant}")(
            x, *w, lens, table, kc.copy(), vc.copy(), **kw)
    else:
        call = lambda **kw: getattr(lib, f"step_{variant}")(
            x, *w, lens, kc.copy(), vc.copy(), **kw)
    y = call()
    assert np.abs(y - y_ref).max() <= 2e-5 * max(1.0, np.abs(y_ref).max())
    # The split follows the machine, not num_threads: the same bytes.
    for threads in (1, 3):
        np.testing.assert_array_equal(call(num_threads=threads), y)


def test_steps_from_empty_caches_equal_the_prefill_layer(lib):
    """A prompt's chunk, then one token at a time: each row of y is the
    prefill layer's row of the whole sequence."""
    S, total, capacity = 2, 9, 12
    x = RNG.standard_normal((S, total, D_MODEL)).astype(np.float32)
    w = weights()
    y_prefill = lib.prefill(x, *w)
    kc = np.zeros((S, HKV, capacity, D), np.float32)
    vc = np.zeros_like(kc)
    lens = np.zeros(S, np.int32)
    rows = []
    for chunk in (slice(0, 4), slice(4, 5), slice(5, 6), slice(6, 9)):
        xs = np.ascontiguousarray(x[:, chunk])
        rows.append(lib.step_causal(xs, *w, lens, kc, vc))
        lens += xs.shape[1]
    y = np.concatenate(rows, axis=1)
    np.testing.assert_allclose(y, y_prefill, rtol=1e-4, atol=1e-5)


def test_biases_and_lse(lib):
    kv_lens = [5, 0]
    x = RNG.standard_normal((2, 2, D_MODEL)).astype(np.float32)
    w = weights(biases=True)
    kc, vc, keys, values = random_cache(kv_lens, 9)
    y_ref, _, _, lse_ref = reference_step(x, w, keys, values, CAUSAL[1], lse=True)
    y, lse = lib.step_bias_lse(x, *w, np.array(kv_lens, np.int32), kc, vc)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(lse, lse_ref, rtol=1e-5, atol=1e-5)


def test_runtime_head_mask(lib):
    kv_lens = [3, 11]
    x = RNG.standard_normal((2, 1, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, keys, values = random_cache(kv_lens, 16)
    mask = np.array([1, 0, 1, 1], np.uint8)
    y = lib.step_causal(x, *w, np.array(kv_lens, np.int32), kc, vc, head_mask=mask)
    # A pruned head's output is 0: the same as zeroing its rows of Wo.
    wo = w[3].copy()
    wo[D:2 * D] = 0
    y_ref, _, _, _ = reference_step(x, w[:3] + [wo], keys, values, CAUSAL[1])
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=2e-5)


def test_bf16_steps_equal_the_prefill_layer(lib_bf16):
    """bf16 caches: the steps' rows are the prefill layer's (both round
    their projections to bf16)."""
    bf16 = pytest.importorskip("ml_dtypes").bfloat16
    S, total, capacity = 2, 6, 8
    x = RNG.standard_normal((S, total, D_MODEL)).astype(bf16)
    w = [a.astype(bf16) for a in weights()]
    y_prefill = lib_bf16.prefill(x, *w).astype(np.float32)
    kc = np.zeros((S, HKV, capacity, D), bf16)
    vc = np.zeros_like(kc)
    lens = np.zeros(S, np.int32)
    rows = []
    for chunk in (slice(0, 3), slice(3, 4), slice(4, 6)):
        xs = np.ascontiguousarray(x[:, chunk])
        rows.append(lib_bf16.step(xs, *w, lens, kc, vc).astype(np.float32))
        lens += xs.shape[1]
    y = np.concatenate(rows, axis=1)
    assert np.abs(y - y_prefill).max() <= 2e-2 * np.abs(y_prefill).max()


@pytest.fixture(scope="module")
def lib_f16(cache_dir):
    return mha.compile(layer_spec("step", "causal", dtype="f16") +
                       layer_spec("paged", "causal", paged=True, dtype="f16"))


@pytest.mark.parametrize("paged", [False, True])
def test_f16_steps_match_float64(lib_f16, paged):
    """f16 caches: the step attends in f16 (Q, K, V and O rounded to f16,
    as an f16 mha.attention over the caches), within f16 rounding of the
    float64 step; the appended rows are the rotated new keys and values."""
    kv_lens, L, page = [4, 0, 9], 2, 5
    x = RNG.standard_normal((3, L, D_MODEL)).astype(np.float16)
    w = [a.astype(np.float16) for a in weights()]
    kc, vc, keys, values = random_cache(kv_lens, 12, np.float16)
    lens = np.array(kv_lens, np.int32)
    if paged:
        kp, vp, table = paged_cache(kc, vc, kv_lens, L, page)
        y = lib_f16.paged(x, *w, lens, table, kp, vp)
    else:
        y = lib_f16.step(x, *w, lens, kc, vc)
    y_ref, new_k, new_v, _ = reference_step(x, w, keys, values, CAUSAL[1])
    scale = np.abs(y_ref).max()
    assert np.abs(y.astype(np.float64) - y_ref).max() <= 4e-3 * scale
    for s, n in enumerate(kv_lens):
        positions = list(range(n, n + L))
        got_k = cache_rows(kp, s, positions, table, page) if paged else kc[s][:, positions]
        got_v = cache_rows(vp, s, positions, table, page) if paged else vc[s][:, positions]
        np.testing.assert_allclose(got_k.astype(np.float64), new_k[s], rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(got_v.astype(np.float64), new_v[s], rtol=2e-3, atol=2e-3)


def test_bad_lengths_and_pages_write_nothing(lib):
    x = RNG.standard_normal((2, 2, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, _, _ = random_cache([0, 0], 8)
    before = kc.copy(), vc.copy()
    with pytest.raises(mha.Error, match=re.escape(
            "less the 2 new keys of 'x' dim 1")):
        lib.step_causal(x, *w, np.array([3, 7], np.int32), kc, vc)
    with pytest.raises(mha.Error, match=r"'kv_lens'\[0\] is -1"):
        lib.step_causal(x, *w, np.array([-1, 0], np.int32), kc, vc)
    np.testing.assert_array_equal(kc, before[0])
    np.testing.assert_array_equal(vc, before[1])
    kp, vp, table = paged_cache(kc, vc, [0, 4], 2, 4)
    table[1, 1] = kp.shape[0]
    pages = kp.copy()
    with pytest.raises(mha.Error, match=re.escape(
            f"'block_table'[1, 1] is {kp.shape[0]} but 'k_cache'")):
        lib.paged_causal(x, *w, np.array([0, 4], np.int32), table, kp, vp)
    np.testing.assert_array_equal(kp, pages)


def test_reused_panels_give_the_same_steps(lib):
    """reuse_packed_weights: the second call skips packing and returns the
    same bytes; other weight arrays are packed again (and kept); the
    panels count as cached memory until released."""
    kv_lens = [4, 9]
    x = RNG.standard_normal((2, 1, D_MODEL)).astype(np.float32)
    w, w2 = weights(), weights()
    kc, vc, keys, values = random_cache(kv_lens, 12)
    lens = np.array(kv_lens, np.int32)
    lib.release_cached_memory()
    before = lib.cached_memory_bytes()
    y_plain = lib.step_causal(x, *w, lens, kc, vc)
    y_first = lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True)
    kept = lib.cached_memory_bytes() - before
    assert kept >= sum(a.nbytes for a in w)  # the f32 panels, padded
    y_again = lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True)
    np.testing.assert_array_equal(y_first, y_plain)
    np.testing.assert_array_equal(y_again, y_plain)
    # Other weights (other arrays): packed again, not the kept panels.
    y_other = lib.step_causal(x, *w2, lens, kc, vc, reuse_packed_weights=True)
    y_ref, _, _, _ = reference_step(x, w2, keys, values, CAUSAL[1])
    np.testing.assert_allclose(y_other, y_ref, rtol=1e-4, atol=2e-5)
    assert lib.release_cached_memory() >= kept
    assert lib.cached_memory_bytes() == 0


def test_each_weight_set_keeps_its_panels(lib):
    """Layers that share one function (a model's layers, each with its own
    weights) each keep their panels: calls that alternate between them
    reuse both sets; more sets than the cache holds (128) still give the
    right steps, the least recently used making room."""
    kv_lens = [4, 9]
    x = RNG.standard_normal((2, 1, D_MODEL)).astype(np.float32)
    kc, vc, keys, values = random_cache(kv_lens, 12)
    lens = np.array(kv_lens, np.int32)
    sets = [weights() for _ in range(3)]
    plain = [lib.step_causal(x, *w, lens, kc, vc) for w in sets]
    lib.release_cached_memory()
    cached = []
    for _ in range(3):
        for w, y in zip(sets, plain):
            np.testing.assert_array_equal(
                lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True), y)
            cached.append(lib.cached_memory_bytes())
    # The panels of each set (the call's other temporaries stay the same).
    panels = cached[1] - cached[0]
    assert panels >= sum(a.nbytes for a in sets[0])
    assert cached[2] == cached[0] + 2 * panels and cached[3:] == [cached[2]] * 6
    many = [weights() for _ in range(130)]
    for w in many + many[:2]:
        lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True)
    assert lib.cached_memory_bytes() == cached[0] + 127 * panels
    for w in (many[0], many[-1]):
        y_ref, _, _, _ = reference_step(x, w, keys, values, CAUSAL[1])
        np.testing.assert_allclose(
            lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True), y_ref,
            rtol=1e-4, atol=2e-5)
    lib.release_cached_memory()
    assert lib.cached_memory_bytes() == 0


def test_weights_written_in_place_are_packed_again(lib):
    """After weights kept as panels are written in place, a call without
    reuse_packed_weights drops their panels: the next call with it packs
    the new values instead of reusing the old ones."""
    kv_lens = [3, 7]
    x = RNG.standard_normal((2, 1, D_MODEL)).astype(np.float32)
    kc, vc, keys, values = random_cache(kv_lens, 12)
    lens = np.array(kv_lens, np.int32)
    w = weights()
    lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True)
    lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True)
    w[0] *= -0.5  # In place: the same arrays, other values.
    w[3][:] = weights()[3]
    y_ref, _, _, _ = reference_step(x, w, keys, values, CAUSAL[1])
    y_plain = lib.step_causal(x, *w, lens, kc, vc)
    np.testing.assert_allclose(y_plain, y_ref, rtol=1e-4, atol=2e-5)
    np.testing.assert_array_equal(
        lib.step_causal(x, *w, lens, kc, vc, reuse_packed_weights=True), y_plain)
    lib.release_cached_memory()


def test_rows_not_evenly_spaced_across_sequences(lib):
    """x whose batch stride is not L row strides (a slice of a longer
    buffer): the GEMMs run per sequence instead of on flat rows, with the
    same results."""
    kv_lens = [2, 6, 0]
    L = 2
    buffer = RNG.standard_normal((3, L + 3, D_MODEL)).astype(np.float32)
    x = buffer[:, 1:1 + L]
    assert not x.flags.c_contiguous
    w = weights()
    kc, vc, keys, values = random_cache(kv_lens, 9)
    y = lib.step_causal(x, *w, np.array(kv_lens, np.int32), kc, vc)
    y_ref, _, _, _ = reference_step(np.ascontiguousarray(x), w, keys, values, CAUSAL[1])
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("L", [5, 70])
def test_prefill_of_several_sequences_on_flat_rows(lib, L):
    """A prefill layer's GEMMs take the rows of all sequences as one block
    (3 x 70 rows span two 192-row items, one across a sequence boundary):
    each sequence's RoPE positions restart at 0, so every row equals the
    layer run on its sequence alone; a batch that is not evenly spaced in
    memory (per-sequence GEMMs) agrees too."""
    S = 3
    buffer = RNG.standard_normal((S, L + 2, D_MODEL)).astype(np.float32)
    w = weights()
    x = np.ascontiguousarray(buffer[:, 1:1 + L])
    y = lib.prefill(x, *w)
    for s in range(S):
        alone = lib.prefill(np.ascontiguousarray(x[s:s + 1]), *w)
        np.testing.assert_allclose(y[s:s + 1], alone, rtol=1e-5, atol=1e-6)
    strided = lib.prefill(buffer[:, 1:1 + L], *w)
    np.testing.assert_allclose(strided, y, rtol=1e-5, atol=1e-6)


def int8_spec(name, cache):
    """The GQA layer with int8 Wq and Wo (column scales), as a prefill or a
    decoding step."""
    x = f"tensor<?x?x{D_MODEL}xf32>"
    wq, wo = f"tensor<{D_MODEL}x{HQ * D}xf32>", f"tensor<{HQ * D}x{D_MODEL}xf32>"
    q8, o8 = f"tensor<{D_MODEL}x{HQ * D}xi8>", f"tensor<{HQ * D}x{D_MODEL}xi8>"
    wkv = f"tensor<{D_MODEL}x{HKV * D}xf32>"
    kc = f"tensor<?x{HKV}x?x{D}xf32>"
    args = (f"%x: {x}, %wq8: {q8}, %sq: tensor<{HQ * D}xf32>, %wk: {wkv}, %wv: {wkv}, "
            f"%wo8: {o8}, %so: tensor<{D_MODEL}xf32>")
    clause, results, types, cache_types = "", "%y", x, ""
    if cache:
        args += f", %lens: tensor<?xi32>, %kc: {kc}, %vc: {kc}"
        clause = f" cache(%kc, %vc : {kc}, {kc}) kv_lens(%lens : tensor<?xi32>)"
        results, types, cache_types = "%y, %k, %v", f"{x}, {kc}, {kc}", f" cache({kc}, {kc})"
    return f"""
func.func @{name}({args}) -> ({types}) {{
  %wq = mha.quantized %wq8, %sq : {q8}, tensor<{HQ * D}xf32> -> {wq}
  %wo = mha.quantized %wo8, %so : {o8}, tensor<{D_MODEL}xf32> -> {wo}
  {results} = mha.multi_head %x, %wq, %wk, %wv, %wo{clause}
      {{num_heads = {HQ}, num_kv_heads = {HKV}, causal, rope_theta = {THETA} : f32}}
      : {x}, {wq}, {wkv}, {wkv}, {wo} -> {x}{cache_types}
  return {results} : {types}
}}
"""


def test_int8_weight_steps_equal_the_int8_prefill_layer(cache_dir):
    """int8 weights (their x and O rows quantized per row, 5.5): a step's
    rows are quantized as the prefill layer's are, on flat rows too."""
    from mha import quantize
    lib = mha.compile(int8_spec("prefill", False) + int8_spec("step", True))
    S, total, capacity = 3, 5, 8
    x = RNG.standard_normal((S, total, D_MODEL)).astype(np.float32)
    wq, wk, wv, wo = weights()
    (q8, sq), (o8, so) = quantize.weight(wq), quantize.weight(wo)
    w = [q8, sq, wk, wv, o8, so]
    y_prefill = lib.prefill(x, *w)
    kc = np.zeros((S, HKV, capacity, D), np.float32)
    vc = np.zeros_like(kc)
    lens = np.zeros(S, np.int32)
    rows = []
    for chunk in (slice(0, 2), slice(2, 3), slice(3, 5)):
        xs = np.ascontiguousarray(x[:, chunk])
        rows.append(lib.step(xs, *w, lens, kc, vc, reuse_packed_weights=True))
        lens += xs.shape[1]
    np.testing.assert_allclose(np.concatenate(rows, axis=1), y_prefill,
                               rtol=1e-4, atol=1e-5)


def int8_cache_spec(name, paged, dtype="f32"):
    """The causal GQA layer's decoding step over an i8 cache with f32
    scales per KV head (contiguous) or per page and KV head (paged)."""
    x = f"tensor<?x?x{D_MODEL}x{dtype}>"
    wq = f"tensor<{D_MODEL}x{HQ * D}x{dtype}>"
    wkv = f"tensor<{D_MODEL}x{HKV * D}x{dtype}>"
    wo = f"tensor<{HQ * D}x{D_MODEL}x{dtype}>"
    kc = f"tensor<?x{HKV}x?x{D}xi8>"
    sc = f"tensor<?x{HKV}xf32>" if paged else f"tensor<{HKV}xf32>"
    table = ", %table: tensor<?x?xi32>" if paged else ""
    use = " block_table(%table : tensor<?x?xi32>)" if paged else ""
    return f"""
func.func @{name}(%x: {x}, %wq: {wq}, %wk: {wkv}, %wv: {wkv}, %wo: {wo},
    %lens: tensor<?xi32>{table}, %kc: {kc}, %vc: {kc}, %ks: {sc}, %vs: {sc})
    -> ({x}, {kc}, {kc}) {{
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%kc, %vc : {kc}, {kc})
      kv_scales(%ks, %vs : {sc}, {sc}) kv_lens(%lens : tensor<?xi32>){use}
      {{num_heads = {HQ}, num_kv_heads = {HKV}, causal, rope_theta = {THETA} : f32}}
      : {x}, {wq}, {wkv}, {wkv}, {wo} -> {x} cache({kc}, {kc})
  return %y, %k, %v : {x}, {kc}, {kc}
}}
"""


def quantized(x, scale):
    """x (float64) stored in an i8 cache with `scale` and read back."""
    return np.clip(np.rint(x / scale), -127, 127) * scale


@pytest.mark.parametrize("paged", [False, True])
def test_int8_cache_steps(cache_dir, paged):
    """An i8 cache (4.8): old keys are read dequantized, the new ones are
    quantized by their head's (or page's) scale as they are appended."""
    lib = mha.compile(int8_cache_spec("step", paged))
    kv_lens, L, capacity, page = [3, 10], 2, 16, 4
    S = len(kv_lens)
    x = RNG.standard_normal((S, L, D_MODEL)).astype(np.float32)
    w = weights()
    kq = RNG.integers(-127, 128, (S, HKV, capacity, D)).astype(np.int8)
    vq = RNG.integers(-127, 128, (S, HKV, capacity, D)).astype(np.int8)
    ks = (0.01 + 0.02 * RNG.random(HKV)).astype(np.float32)
    vs = (0.01 + 0.02 * RNG.random(HKV)).astype(np.float32)
    keys = [kq[s, :, :n] * ks[:, None, None].astype(np.float64) for s, n in enumerate(kv_lens)]
    values = [vq[s, :, :n] * vs[:, None, None].astype(np.float64)
              for s, n in enumerate(kv_lens)]
    _, new_k, new_v, _ = reference_step(x, w, keys, values, CAUSAL[1])
    # The reference reads the new keys as the cache stores them.
    keys2 = [np.concatenate([k, quantized(nk, ks[:, None, None])], axis=1)
             for k, nk in zip(keys, new_k)]
    values2 = [np.concatenate([v, quantized(nv, vs[:, None, None])], axis=1)
               for v, nv in zip(values, new_v)]
    params = semantics.normalise(CAUSAL[1], HQ, D)
    lens = np.array(kv_lens, np.int32)
    if paged:
        kp, vp, table = paged_cache(kq, vq, kv_lens, L, page)
        pages = kp.shape[0]
        kps = np.ascontiguousarray(np.broadcast_to(ks, (pages, HKV)))
        vps = np.ascontiguousarray(np.broadcast_to(vs, (pages, HKV)))
        y = lib.step(x, *w, lens, table, kp, vp, kps, vps)
    else:
        y = lib.step(x, *w, lens, kq, vq, ks, vs)
    wq, wk, wv, wo = (a.astype(np.float64) for a in w)
    for s in range(S):
        positions = kv_lens[s] + np.arange(L)
        q = rope((x[s].astype(np.float64) @ wq).reshape(L, HQ, D).transpose(1, 0, 2),
                 positions, THETA)
        o, _, _ = reference.attention(q[None], keys2[s][None], values2[s][None], params)
        y_ref = o[0].transpose(1, 0, 2).reshape(L, HQ * D) @ wo
        np.testing.assert_allclose(y[s], y_ref, rtol=1e-3, atol=1e-4)


def test_f16_int8_cache_steps(cache_dir):
    """An f16 step over i8 caches: the f32 step's rows, within f16 rounding
    (a new key may round to the neighbouring i8 step)."""
    lib = mha.compile(int8_cache_spec("f16", False, "f16") +
                      int8_cache_spec("f32", False))
    kv_lens, L = [3, 10], 2
    x = RNG.standard_normal((2, L, D_MODEL)).astype(np.float16)
    w = [a.astype(np.float16) for a in weights()]
    kq = RNG.integers(-127, 128, (2, HKV, 16, D)).astype(np.int8)
    vq = RNG.integers(-127, 128, (2, HKV, 16, D)).astype(np.int8)
    ks = (0.01 + 0.02 * RNG.random(HKV)).astype(np.float32)
    vs = (0.01 + 0.02 * RNG.random(HKV)).astype(np.float32)
    lens = np.array(kv_lens, np.int32)
    y16 = lib.f16(x, *w, lens, kq.copy(), vq.copy(), ks, vs).astype(np.float64)
    y32 = lib.f32(x.astype(np.float32), *(a.astype(np.float32) for a in w), lens,
                  kq.copy(), vq.copy(), ks, vs)
    assert np.abs(y16 - y32).max() <= 1e-2 * np.abs(y32).max()


def test_torch_layer_module_steps(lib):
    """mha.torch.Layer holds a decoding step's weights; each call passes
    the lengths and the caches, which it writes in place."""
    torch = pytest.importorskip("torch")
    from mha import torch as mt
    kv_lens = [1, 5]
    x = RNG.standard_normal((2, 1, D_MODEL)).astype(np.float32)
    w = weights()
    kc, vc, _, _ = random_cache(kv_lens, 8)
    layer = mt.Layer(lib, "step_causal", wq=w[0], wk=w[1], wv=w[2], wo=w[3])
    assert {n for n, _ in layer.named_parameters()} == {"wq", "wk", "wv", "wo"}
    kc2, vc2 = torch.from_numpy(kc.copy()), torch.from_numpy(vc.copy())
    with torch.no_grad():
        y = layer(torch.from_numpy(x), torch.tensor(kv_lens, dtype=torch.int32), kc2, vc2)
    want = lib.step_causal(x, *w, np.array(kv_lens, np.int32), kc, vc)
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(kc2.numpy(), kc)
    np.testing.assert_array_equal(vc2.numpy(), vc)
    with pytest.raises(TypeError, match="forward takes x, kv_lens, k_cache, v_cache"):
        layer(torch.from_numpy(x))


def test_torch_layer_reuses_panels_until_its_weights_change(lib):
    """mha.torch.Layer asks the library to reuse its packed panels when the
    call's weights are the previous call's tensors, unwritten since; a
    weight written in place or replaced is packed again."""
    torch = pytest.importorskip("torch")
    from mha import torch as mt
    x = torch.from_numpy(RNG.standard_normal((2, 3, D_MODEL)).astype(np.float32))
    w = weights()
    layer = mt.Layer(lib, "prefill", wq=w[0], wk=w[1], wv=w[2], wo=w[3])
    lib.release_cached_memory()
    with torch.no_grad():
        first = layer(x)
        assert lib.cached_memory_bytes() > 0  # the panels of the first call
        assert layer._weights_unchanged([layer.wq, layer.wk, layer.wv, layer.wo])
        np.testing.assert_array_equal(layer(x).numpy(), first.numpy())
        # A write torch does not count (through NumPy) goes unseen: the
        # call reused the first call's panels.
        saved = layer.wq.numpy().copy()
        layer.wq.numpy()[:] = 0.0
        np.testing.assert_array_equal(layer(x).numpy(), first.numpy())
        layer.wq.numpy()[:] = saved
        layer.wq.mul_(2.0)  # in place: a new version
        w[0] = w[0] * 2.0
        np.testing.assert_allclose(layer(x).numpy(), lib.prefill(x.numpy(), *w),
                                   rtol=1e-6, atol=1e-6)
        layer.wo = torch.nn.Parameter(torch.from_numpy(w[3] * 0.5), requires_grad=False)
        w[3] = w[3] * 0.5
        np.testing.assert_allclose(layer(x).numpy(), lib.prefill(x.numpy(), *w),
                                   rtol=1e-6, atol=1e-6)
