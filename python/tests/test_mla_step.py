"""A latent (MLA) layer's decoding step (docs/language.md 5.8):
`mha.multi_head ... {sharing = #mha.sharing<latent>} cache(%c)` appends
each new token's latent and RoPE key to one cache of latents and attends in
latent space, with the up-projection absorbed into the queries and the
output (mha-expand-layer). Checked against the float64 MLA layer computed
the direct way (per-head keys and values up-projected from every token's
latent), contiguous and paged, with one and several new tokens per
sequence.

    pytest python/tests/test_mla_step.py
"""
import re

import numpy as np
import pytest

import mha
from test_mla import (Dims, SMALL, WIDE, Q_RANK, deepseek_layout,
                      direct_step, rms_norm, rope, weights)

# Dn = 20 is not a whole number of vectors: the absorbed queries' dot
# products end with a partial vector.
ODD = Dims(40, 3, 20, 20, 6, 10)
EPS = 1e-6
RNG = np.random.default_rng(29)


def types(dims, dtype, paged):
    D_MODEL, H, R, DN, DR, DV = dims
    t = lambda *shape: "tensor<" + "x".join(map(str, shape)) + f"x{dtype}>"
    cache = t("?", 1, 5, R + DR) if paged else t("?", 1, "?", R + DR)
    return dict(x=t("?", "?", D_MODEL), wq=t(D_MODEL, H * (DN + DR)),
                qa=t(D_MODEL, Q_RANK), qb=t(Q_RANK, H * (DN + DR)),
                wk=t(D_MODEL, R + DR), wv=t(R, H * (DN + DV)),
                wo=t(H * DV, D_MODEL), c=cache)


def step_spec(name, dims, dtype="f32", paged=False, rms=False):
    """A latent step; with `rms`, DeepSeek-V3's query factors and RMS norms."""
    T = types(dims, dtype, paged)
    table = ", %t: tensor<?x?xi32>" if paged else ""
    table_use = " block_table(%t : tensor<?x?xi32>)" if paged else ""
    if rms:
        weights_args = f"%qa: {T['qa']}, %qb: {T['qb']}"
        low_rank = f"%wq = mha.low_rank %qa, %qb : {T['qa']}, {T['qb']} -> {T['wq']}\n  "
        norm = ", rms_norm_eps = 1.0e-6 : f32"
    else:
        weights_args, low_rank, norm = f"%wq: {T['wq']}", "", ""
    return f"""
func.func @{name}(%x: {T['x']}, {weights_args}, %wk: {T['wk']}, %wv: {T['wv']},
    %wo: {T['wo']}, %lens: tensor<?xi32>{table}, %c: {T['c']})
    -> ({T['x']}, {T['c']}) {{
  {low_rank}%y, %c2 = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : {T['c']})
      kv_lens(%lens : tensor<?xi32>){table_use} {{num_heads = {dims.h},
      sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32{norm}, causal}}
      : {T['x']}, {T['wq']}, {T['wk']}, {T['wv']}, {T['wo']} -> {T['x']}
        cache({T['c']})
  return %y, %c2 : {T['x']}, {T['c']}
}}
"""


def prefill_spec(name, dims):
    T = types(dims, "f32", False)
    return f"""
func.func @{name}(%x: {T['x']}, %wq: {T['wq']}, %wk: {T['wk']}, %wv: {T['wv']},
    %wo: {T['wo']}) -> {T['x']} {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {{num_heads = {dims.h},
      sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}}
      : {T['x']}, {T['wq']}, {T['wk']}, {T['wv']}, {T['wo']} -> {T['x']}
  return %y : {T['x']}
}}
"""


CASES = {"small": SMALL, "wide": WIDE, "odd": ODD}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, cache_dir):
    dims = CASES[request.param]
    spec = "".join(step_spec(f"{kind}{'_rms' if rms else ''}", dims, paged=kind == "paged",
                             rms=rms)
                   for kind in ("step", "paged") for rms in (False, True))
    spec += prefill_spec("prefill", dims)
    return dims, mha.compile(spec)


def layer_weights(dims, rms):
    """The direct form's factors W and the step's weight arguments."""
    W = weights(RNG, dims)
    wq, wk, wv, wo = deepseek_layout(W, dims)
    if not rms:
        return W, [wq, wk, wv, wo]
    W["qa"] = RNG.standard_normal((dims.d, Q_RANK)) / np.sqrt(dims.d)
    W["qb"] = RNG.standard_normal((Q_RANK, W["q"].shape[1])) / np.sqrt(Q_RANK)
    return W, [W["qa"].astype(np.float32), W["qb"].astype(np.float32), wk, wv, wo]


def latent_rows(W, dims, x, first, eps):
    """The cache rows [rms(c), rope(k_r)] of tokens x at positions first..."""
    pos = np.arange(first, first + x.shape[0], dtype=np.float64)
    c = x @ W["dkv"]
    if eps is not None:
        c = rms_norm(c, eps)
    return np.concatenate([c, rope(x @ W["kr"], pos)], -1)


def to_pages(cache, capacity_pages, page):
    """A contiguous cache [S, 1, Lmax, n] as a shuffled pool with spare
    pages (random contents) and its table."""
    S, _, L, n = cache.shape
    pages = S * capacity_pages + 2
    order = RNG.permutation(pages)
    pool = RNG.standard_normal((pages, 1, page, n)).astype(cache.dtype)
    table = order[:S * capacity_pages].reshape(S, capacity_pages).astype(np.int32)
    for s in range(S):
        for p in range(capacity_pages):
            rows = cache[s, 0, p * page:(p + 1) * page]
            pool[table[s, p], 0, :rows.shape[0]] = rows
    return pool, table


def from_pages(pool, table, page):
    S, per = table.shape
    return np.stack([np.concatenate([pool[table[s, p], 0] for p in range(per)])[None]
                     for s in range(S)])


@pytest.mark.parametrize("L", [1, 3])
@pytest.mark.parametrize("paged", [False, True], ids=["contiguous", "paged"])
@pytest.mark.parametrize("rms", [False, True], ids=["plain", "rms_norm"])
def test_latent_step_matches_direct_mla(case, rms, paged, L):
    dims, lib = case
    eps = EPS if rms else None
    W, args = layer_weights(dims, rms)
    past_lens = [0, 6, 23, 11]
    capacity = 30 if not paged else 30
    xs = [RNG.standard_normal((n, dims.d)) for n in past_lens]
    x_new = RNG.standard_normal((len(xs), L, dims.d))
    cache = RNG.standard_normal((len(xs), 1, capacity, dims.r + dims.dr)).astype(np.float32)
    for s, past in enumerate(xs):
        cache[s, 0, :len(past)] = latent_rows(W, dims, past, 0, eps)
    want_cache = cache.copy()
    for s, past in enumerate(xs):
        want_cache[s, 0, len(past):len(past) + L] = latent_rows(W, dims, x_new[s], len(past), eps)
    want = np.stack([np.concatenate([
        direct_step(W, dims, [np.concatenate([xs[s], x_new[s, :l]])], x_new[s, l:l + 1], eps)
        for l in range(L)]) for s in range(len(xs))])
    lens = np.array(past_lens, np.int32)
    x = x_new.astype(np.float32)
    name = "step" + ("_rms" if rms else "")
    if paged:
        pool, table = to_pages(cache, 6, 5)
        y = getattr(lib, "paged" + name[4:])(x, *args, lens, table, pool, num_threads=3)
        got_cache = from_pages(pool, table, 5)
    else:
        got_cache = cache
        y = getattr(lib, name)(x, *args, lens, cache, num_threads=3)
    err = np.linalg.norm(y - want) / np.linalg.norm(want)
    assert err < 2e-5, err
    np.testing.assert_allclose(got_cache, want_cache, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("paged", [False, True], ids=["contiguous", "paged"])
def test_long_cache_steps_split_their_keys(case, paged):
    """One sequence of 4100 cached tokens: the attention phase splits its
    keys into parts merged by their lse (with more than one CPU), and its
    heads stay in one group item per part."""
    dims, lib = case
    W, args = layer_weights(dims, rms=True)
    past = RNG.standard_normal((4100, dims.d))
    x_new = RNG.standard_normal((1, 2, dims.d))
    cache = np.zeros((1, 1, 4104, dims.r + dims.dr), np.float32)
    cache[0, 0, :4100] = latent_rows(W, dims, past, 0, EPS)
    want = np.concatenate([
        direct_step(W, dims, [np.concatenate([past, x_new[0, :l]])], x_new[0, l:l + 1], EPS)
        for l in range(2)])[None]
    lens = np.array([4100], np.int32)
    x = x_new.astype(np.float32)
    if paged:
        pool, table = to_pages(cache, 821, 5)  # the spec's pages of 5
        call = lambda **kw: lib.paged_rms(x, *args, lens, table, pool.copy(), **kw)
    else:
        call = lambda **kw: lib.step_rms(x, *args, lens, cache.copy(), **kw)
    y = call()
    err = np.linalg.norm(y - want) / np.linalg.norm(want)
    assert err < 2e-5, err
    for threads in (1, 3):
        np.testing.assert_array_equal(call(num_threads=threads), y)


def test_steps_from_empty_caches_equal_the_prefill_layer(case):
    """The absorbed step over a whole sequence (empty caches) and the
    prefill layer (per-head keys and values) are the same layer."""
    dims, lib = case
    _, args = layer_weights(dims, rms=False)
    x = RNG.standard_normal((2, 9, dims.d)).astype(np.float32)
    cache = np.zeros((2, 1, 9, dims.r + dims.dr), np.float32)
    y = lib.step(x, *args, np.zeros(2, np.int32), cache)
    want = lib.prefill(x, *args)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_rows_not_evenly_spaced_and_one_thread(case):
    """x whose batch stride is not L row strides: per-sequence items
    instead of flat rows, on one thread, with the same results."""
    dims, lib = case
    _, args = layer_weights(dims, rms=False)
    buffer = RNG.standard_normal((3, 5, dims.d)).astype(np.float32)
    x = buffer[:, 1:3]
    lens = np.array([2, 0, 4], np.int32)
    cache = RNG.standard_normal((3, 1, 8, dims.r + dims.dr)).astype(np.float32)
    c1, c2 = cache.copy(), cache.copy()
    y = lib.step(x, *args, lens, c1, num_threads=1)
    want = lib.step(np.ascontiguousarray(x), *args, lens, c2, num_threads=2)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(c1, c2)


def test_bad_lengths_and_pages_write_nothing(cache_dir):
    lib = mha.compile(step_spec("step", SMALL) + step_spec("paged", SMALL, paged=True))
    _, args = layer_weights(SMALL, rms=False)
    x = RNG.standard_normal((2, 2, SMALL.d)).astype(np.float32)
    cache = RNG.standard_normal((2, 1, 8, SMALL.r + SMALL.dr)).astype(np.float32)
    before = cache.copy()
    with pytest.raises(mha.Error, match=re.escape("less the 2 new keys of 'x' dim 1")):
        lib.step(x, *args, np.array([3, 7], np.int32), cache)
    with pytest.raises(mha.Error, match=r"'kv_lens'\[0\] is -1"):
        lib.step(x, *args, np.array([-1, 0], np.int32), cache)
    np.testing.assert_array_equal(cache, before)
    pool, table = to_pages(cache, 2, 5)
    table[1, 1] = pool.shape[0]
    pages = pool.copy()
    with pytest.raises(mha.Error, match=re.escape(
            f"'block_table'[1, 1] is {pool.shape[0]} but 'k_cache'")):
        lib.paged(x, *args, np.array([0, 4], np.int32), table, pool)
    np.testing.assert_array_equal(pool, pages)


@pytest.mark.parametrize("dtype,tol", [("bf16", 3e-2), ("f16", 5e-3)])
def test_16_bit_steps_match_float64(cache_dir, dtype, tol):
    """bf16 and f16 steps: the cache, the absorbed queries and the
    attention in the layer's type (bf16 projections too)."""
    torch = pytest.importorskip("torch")
    dims = SMALL
    lib = mha.compile(step_spec("step", dims, dtype=dtype, rms=True))
    to = {"bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    W, args = layer_weights(dims, rms=True)
    past_lens = [3, 0, 9]
    xs = [RNG.standard_normal((n, dims.d)) for n in past_lens]
    x_new = RNG.standard_normal((3, 2, dims.d))
    cache = np.zeros((3, 1, 12, dims.r + dims.dr))
    for s, past in enumerate(xs):
        cache[s, 0, :len(past)] = latent_rows(W, dims, past, 0, EPS)
    want = np.stack([np.concatenate([
        direct_step(W, dims, [np.concatenate([xs[s], x_new[s, :l]])], x_new[s, l:l + 1], EPS)
        for l in range(2)]) for s in range(3)])
    cast = lambda a: torch.from_numpy(np.asarray(a, np.float32)).to(to)
    kc = cast(cache)
    y = lib.step(cast(x_new), *[cast(a) for a in args],
                 torch.tensor(past_lens, dtype=torch.int32), kc)
    y = y.float().numpy()
    err = np.linalg.norm(y - want) / np.linalg.norm(want)
    assert err < tol, err


def test_reused_panels_give_the_same_steps(case):
    dims, lib = case
    _, args = layer_weights(dims, rms=True)
    x = RNG.standard_normal((2, 1, dims.d)).astype(np.float32)
    lens = np.array([3, 5], np.int32)
    cache = RNG.standard_normal((2, 1, 8, dims.r + dims.dr)).astype(np.float32)
    plain = lib.step_rms(x, *args, lens, cache.copy())
    first = lib.step_rms(x, *args, lens, cache.copy(), reuse_packed_weights=True)
    again = lib.step_rms(x, *args, lens, cache.copy(), reuse_packed_weights=True)
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(again, plain)
    lib.release_cached_memory()


def test_torch_layer_module_steps(cache_dir):
    """mha.torch.Layer holds a latent step's weights; each call passes the
    lengths and the one cache, which it writes in place."""
    torch = pytest.importorskip("torch")
    from mha import torch as mt
    lib = mha.compile(step_spec("step", SMALL))
    _, (wq, wk, wv, wo) = layer_weights(SMALL, rms=False)
    x = RNG.standard_normal((2, 1, SMALL.d)).astype(np.float32)
    lens = [1, 5]
    cache = RNG.standard_normal((2, 1, 8, SMALL.r + SMALL.dr)).astype(np.float32)
    layer = mt.Layer(lib, "step", wq=wq, wk=wk, wv=wv, wo=wo)
    c = torch.from_numpy(cache.copy())
    with torch.no_grad():
        y = layer(torch.from_numpy(x), torch.tensor(lens, dtype=torch.int32), c)
    want = lib.step(x, wq, wk, wv, wo, np.array(lens, np.int32), cache)
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(c.numpy(), cache)
