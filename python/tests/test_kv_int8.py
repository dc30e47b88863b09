"""Quantized (int8) KV caches of mha.attention on the CPU (docs/language.md
4.8): i8 keys and values with f32 scales per KV head or per page, alone and
with the serving tensors, masks and score modifiers. Each call is checked
against the float64 reference over the dequantized cache (the kernels'
arithmetic), and the quantization error against the f32 cache is measured
on random and on structured (outlier-channel) inputs. Bad scales fail
naming the tensor and element and write nothing.

    pytest python/tests/test_kv_int8.py
"""
import numpy as np
import pytest

import mha
from mha import quantize, reference, semantics
from mha._library import Library, MhaError

RNG = np.random.default_rng(11)


def spec(name, hq, hkv, d, dv, dtype="f32", paged=False, per_page=False,
         attrs="causal"):
    """One attention function over an i8 cache: q, k, v, k_scale, v_scale
    [, kv_lens, block_table] -> o, lse."""
    b = "?"
    q, o = f"tensor<{b}x{hq}x?x{d}x{dtype}>", f"tensor<{b}x{hq}x?x{dv}x{dtype}>"
    k, v = f"tensor<?x{hkv}x?x{d}xi8>", f"tensor<?x{hkv}x?x{dv}xi8>"
    s = f"tensor<?x{hkv}xf32>" if per_page else f"tensor<{hkv}xf32>"
    lse = f"tensor<{b}x{hq}x?xf32>"
    serving_args = ", %kl: tensor<?xi32>, %bt: tensor<?x?xi32>" if paged else ""
    serving = ("kv_lens(%kl : tensor<?xi32>) block_table(%bt : tensor<?x?xi32>)"
               if paged else "")
    flags = ", ".join(a for a in (attrs, "return_lse") if a)
    return f"""
func.func @{name}(%q: {q}, %k: {k}, %v: {v}, %ks: {s}, %vs: {s}{serving_args})
    -> ({o}, {lse}) {{
  %o, %lse = mha.attention %q, %k, %v kv_scales(%ks, %vs : {s}, {s}) {serving} {{{flags}}}
      : {q}, {k}, {v} -> {o}, {lse}
  return %o, %lse : {o}, {lse}
}}
"""


WINDOWS = ("causal, window_left = array<i64: 5, -1, 9, -1, 2, -1, 0, -1>, "
           "sink_tokens = 2")
MODS = ("softcap = 15.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.5, "
        "0.25, 0.125, 0.5, 0.25>, "
        "temperature = array<f32: 1.0, 1.5, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0>")
ATTRS = {
    "causal": ({"causal": True}, "causal"),
    "windows": ({"causal": True, "window_left": [5, -1, 9, -1, 2, -1, 0, -1],
                 "sink_tokens": 2}, WINDOWS),
    "mods": ({"softcap": 15.0, "alibi_slopes": [0.5, 0.25, 0.125] * 2 + [0.5, 0.25],
              "temperature": [1.0, 1.5, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0]}, MODS),
}


# Decoding steps read whole value rows in place (AVX2: heads of up to 64)
# in blocks of vectors that divide a row: 3, 4, 5 (padded: packed) and 8
# AVX-512 vectors, 6, 8, 10 and 16 AVX2 ones.
DECODE_DIMS = (48, 64, 80, 128)


@pytest.fixture(scope="module")
def lib(cache_dir):
    texts = [spec(f"dense_{n}", 8, 2, 32, 24, attrs=a) for n, (_, a) in ATTRS.items()]
    texts += [spec("dense_bf16", 8, 2, 32, 24, dtype="bf16"),
              spec("paged_head", 8, 2, 64, 64, paged=True),
              spec("paged_page", 8, 2, 64, 64, paged=True, per_page=True,
                   attrs=WINDOWS),
              spec("paged_mha", 4, 4, 48, 48, paged=True, per_page=True, attrs="")]
    texts += [spec(f"decode_d{d}", 8, 2, d, d) for d in DECODE_DIMS]
    return mha.compile("\n".join(texts))


@pytest.fixture(scope="module")
def lib_avx2(cache_dir):
    """The decoding functions in AVX2's 8 lanes (runs on any x86-64 host
    this suite runs on)."""
    return mha.compile("\n".join(spec(f"decode_d{d}", 8, 2, d, d) for d in DECODE_DIMS),
                       isa="avx2")


def call(lib, name, inputs, out_shapes, out_dtype=np.float32, threads=2):
    outs = [np.full(s, np.nan, out_dtype if i == 0 else np.float32)
            for i, s in enumerate(out_shapes)]
    Library(lib.path).function(name, len(inputs) + len(outs))(
        *inputs, *outs, num_threads=threads)
    return outs


def ref(q, k8, ks, v8, vs, attrs, hq, d):
    params = semantics.normalise(attrs, hq, d)
    o, lse, _ = reference.attention(q, quantize.dequantize(k8, ks),
                                    quantize.dequantize(v8, vs), params)
    return o, lse


@pytest.mark.parametrize("variant", list(ATTRS))
def test_dense_per_head_scales(lib, variant):
    attrs = ATTRS[variant][0]
    B, lq, lk = 3, 13, 77  # Lq < Lk: bottom-right aligned diagonal
    q = RNG.standard_normal((B, 8, lq, 32)).astype(np.float32)
    k8, ks = quantize.kv_cache(RNG.standard_normal((B, 2, lk, 32)))
    v8, vs = quantize.kv_cache(RNG.standard_normal((B, 2, lk, 24)))
    o, lse = call(lib, f"dense_{variant}", [q, k8, v8, ks, vs],
                  [(B, 8, lq, 24), (B, 8, lq)])
    ro, rl = ref(q, k8, ks, v8, vs, attrs, 8, 32)
    assert reference.rel_err(o, ro) < 2e-5
    finite = np.isfinite(rl)
    assert np.array_equal(np.isfinite(lse), finite)
    assert np.allclose(lse[finite], rl[finite], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("isa", ["host", "avx2"])
@pytest.mark.parametrize("d", DECODE_DIMS)
@pytest.mark.parametrize("lq", [1, 2, 3, 5])
def test_decode_head_dims(request, isa, d, lq):
    """Decoding steps of 4, 8 and 12 rows of a KV group, whose keys and
    values are read in place, with value rows of any number of vectors;
    and of 20 rows, more than sum along D (the tile packed)."""
    lib = request.getfixturevalue("lib" if isa == "host" else "lib_avx2")
    B, lk = 2, 77
    q = RNG.standard_normal((B, 8, lq, d)).astype(np.float32)
    k8, ks = quantize.kv_cache(RNG.standard_normal((B, 2, lk, d)))
    v8, vs = quantize.kv_cache(RNG.standard_normal((B, 2, lk, d)))
    o, lse = call(lib, f"decode_d{d}", [q, k8, v8, ks, vs],
                  [(B, 8, lq, d), (B, 8, lq)])
    ro, rl = ref(q, k8, ks, v8, vs, {"causal": True}, 8, d)
    assert reference.rel_err(o, ro) < 2e-5
    assert np.allclose(lse, rl, rtol=1e-5, atol=1e-5)


def test_dense_bf16_queries(lib):
    """bf16 queries: the cache is dequantized to bf16 tiles."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    B, lq, lk = 2, 9, 40
    q = RNG.standard_normal((B, 8, lq, 32)).astype(ml_dtypes.bfloat16)
    k8, ks = quantize.kv_cache(RNG.standard_normal((B, 2, lk, 32)))
    v8, vs = quantize.kv_cache(RNG.standard_normal((B, 2, lk, 24)))
    o, lse = call(lib, "dense_bf16", [q, k8, v8, ks, vs],
                  [(B, 8, lq, 24), (B, 8, lq)], out_dtype=ml_dtypes.bfloat16)
    ro, _ = ref(q.astype(np.float64), k8, ks, v8, vs, {"causal": True}, 8, 32)
    assert reference.rel_err(o.astype(np.float64), ro) < 2e-2


def paged_cache(kv_lens, hkv, d, page_size, per_page):
    """A page pool [pages, Hkv, page_size, D] with spare pages in a random
    order, its block table and scales, and each sequence's dequantized keys
    [Hkv, n, D] (float64) for the reference."""
    need = [(n + page_size - 1) // page_size for n in kv_lens]
    pages = sum(need) + 2
    pool = RNG.standard_normal((pages, hkv, page_size, d)) * \
        RNG.uniform(0.1, 4.0, (pages, 1, 1, 1))  # pages of different ranges
    q8, scale = quantize.kv_cache(pool, per_page=per_page)
    deq = quantize.dequantize(q8, scale)
    order = list(RNG.permutation(pages))
    table = np.full((len(kv_lens), max(need + [1]) + 1), -1, np.int32)
    seqs = []
    for s, n in enumerate(kv_lens):
        for p in range(need[s]):
            table[s, p] = order.pop()
        rows = [deq[table[s, j // page_size], :, j % page_size] for j in range(n)]
        seqs.append(np.stack(rows, axis=1) if rows else np.zeros((hkv, 0, d)))
    return q8, scale, table, seqs


@pytest.mark.parametrize("page_size", [1, 16, 7])
@pytest.mark.parametrize("name,hq,hkv,d,per_page,attrs", [
    ("paged_head", 8, 2, 64, False, {"causal": True}),
    ("paged_page", 8, 2, 64, True, ATTRS["windows"][0]),
    ("paged_mha", 4, 4, 48, True, {}),
])
@pytest.mark.parametrize("lq", [1, 4])
def test_paged_decode(lib, page_size, name, hq, hkv, d, per_page, attrs, lq):
    """Decoding steps (1 and 4 new rows) over paged i8 caches, with empty
    sequences and a sequence shorter than its rows."""
    kv_lens = [70, 0, 3, 33]
    k8, ks, table, kseq = paged_cache(kv_lens, hkv, d, page_size, per_page)
    v8, vs, _, _ = paged_cache(kv_lens, hkv, d, page_size, per_page)
    # Values share the keys' table: rebuild their sequences through it.
    vdeq = quantize.dequantize(v8, vs)
    vseq = [np.stack([vdeq[table[s, j // page_size], :, j % page_size]
                      for j in range(n)], axis=1) if n else np.zeros((hkv, 0, d))
            for s, n in enumerate(kv_lens)]
    S = len(kv_lens)
    q = RNG.standard_normal((S, hq, lq, d)).astype(np.float32)
    o, lse = call(lib, name, [q, k8, v8, ks, vs, np.array(kv_lens, np.int32), table],
                  [(S, hq, lq, d), (S, hq, lq)], threads=3)
    params = semantics.normalise(attrs, hq, d)
    for s in range(S):
        ro, rl, _ = reference.attention(q[s:s + 1], kseq[s][None], vseq[s][None], params)
        assert reference.rel_err(o[s], ro[0]) < 2e-5, s
        finite = np.isfinite(rl[0])
        assert np.array_equal(np.isfinite(lse[s]), finite), s
        assert np.allclose(lse[s][finite], rl[0][finite], rtol=1e-5, atol=1e-5), s


@pytest.mark.parametrize("inputs", ["random", "outlier_channels"])
def test_quantization_error(lib, inputs):
    """The int8 cache against the f32 one (both through mha, float64
    reference for scale): random normal keys and values, and keys with a few
    large channels (as LLM keys have), which per-head scales quantize
    coarsely. Bounds hold with margin (docs/language.md 4.8 lists them)."""
    B, lq, lk = 2, 16, 256
    q = RNG.standard_normal((B, 8, lq, 32)).astype(np.float32)
    k = RNG.standard_normal((B, 2, lk, 32))
    v = RNG.standard_normal((B, 2, lk, 24))
    if inputs == "outlier_channels":
        k[..., [3, 17]] *= 20.0
    k8, ks = quantize.kv_cache(k)
    v8, vs = quantize.kv_cache(v)
    o, _ = call(lib, "dense_causal", [q, k8, v8, ks, vs], [(B, 8, lq, 24), (B, 8, lq)])
    params = semantics.normalise({"causal": True}, 8, 32)
    exact, _, _ = reference.attention(q, k, v, params)
    err = reference.rel_err(o, exact)
    bound = {"random": 2.5e-2, "outlier_channels": 1e-1}[inputs]
    print(f"int8 KV cache, {inputs}: relative error {err:.2e} against f32 K/V")
    assert err < bound


@pytest.mark.parametrize("bad,what", [(0.0, "is 0"), (np.nan, "is nan"),
                                      (-1.0, "is -1"), (np.inf, "is inf")])
@pytest.mark.parametrize("which", ["k_scale", "v_scale"])
def test_bad_scales(lib, bad, what, which):
    B = 2
    q = RNG.standard_normal((B, 8, 3, 32)).astype(np.float32)
    k8, ks = quantize.kv_cache(RNG.standard_normal((B, 2, 5, 32)))
    v8, vs = quantize.kv_cache(RNG.standard_normal((B, 2, 5, 24)))
    (ks if which == "k_scale" else vs)[1] = bad
    o = np.full((B, 8, 3, 24), np.nan, np.float32)
    lse = np.full((B, 8, 3), np.nan, np.float32)
    with pytest.raises(MhaError) as e:
        Library(lib.path).function("dense_causal", 7)(q, k8, v8, ks, vs, o, lse)
    assert e.value.status_name == "MHA_ERR_INVALID_ARGUMENT"
    assert f"'{which}'[1] {what} but the scales of a quantized cache must be " \
           "finite and > 0" in str(e.value)
    assert np.isnan(o).all() and np.isnan(lse).all()  # nothing written


def test_bad_scale_shapes_and_dtypes(lib):
    B = 1
    q = RNG.standard_normal((B, 8, 3, 64)).astype(np.float32)
    k8, ks, table, _ = paged_cache([5], 2, 64, 4, per_page=True)
    v8, vs, _, _ = paged_cache([5], 2, 64, 4, per_page=True)
    lens = np.array([5], np.int32)
    o = np.full((B, 8, 3, 64), np.nan, np.float32)
    lse = np.full((B, 8, 3), np.nan, np.float32)
    f = Library(lib.path).function("paged_page", 9)
    with pytest.raises(MhaError, match=r"'k' \(key\) dim 0 \(pages\) is \d+ "
                       r"but 'k_scale' \(key cache scales\) has \d+"):
        f(q, k8, v8, ks[:-1], vs, lens, table, o, lse)
    with pytest.raises(MhaError, match=r"'k' \(key\) dtype is float32 but the spec "
                                       r"expects int8"):
        f(q, k8.astype(np.float32), v8, ks, vs, lens, table, o, lse)
    with pytest.raises(MhaError, match=r"'v_scale' \(value cache scales\) dim 1 \(Hkv\) "
                                       r"is 3 but the spec expects 2"):
        f(q, k8, v8, ks, np.ones((vs.shape[0], 3), np.float32), lens, table, o, lse)
    assert np.isnan(o).all() and np.isnan(lse).all()


def append_spec(name, hkv, d, paged, per_page, rope=None):
    """mha.append_kv of f32 keys and values into an i8 cache with scales."""
    kn = f"tensor<?x{hkv}x?x{d}xf32>"
    cache = f"tensor<?x{hkv}x?x{d}xi8>"
    s = f"tensor<?x{hkv}xf32>" if per_page else f"tensor<{hkv}xf32>"
    table_arg = ", %bt: tensor<?x?xi32>" if paged else ""
    table = " block_table(%bt : tensor<?x?xi32>)" if paged else ""
    attrs = f" {{rope_theta = {rope} : f32}}" if rope else ""
    return f"""
func.func @{name}(%kn: {kn}, %vn: {kn}, %kl: tensor<?xi32>{table_arg}, %ks: {s}, %vs: {s},
                  %kc: {cache}, %vc: {cache}) -> ({cache}, {cache}) {{
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_scales(%ks, %vs : {s}, {s})
      kv_lens(%kl : tensor<?xi32>){table}{attrs}
      : {kn}, {kn}, {cache}, {cache} -> {cache}, {cache}
  return %k, %v : {cache}, {cache}
}}
"""


def quantize_rows(x, scale):
    """The append's rounding in f32: clamp(rint(x / scale), -127, 127), NaN 0."""
    y = np.clip(np.rint(np.float32(x) / np.float32(scale)), -127, 127)
    return np.where(np.isnan(y), 0, y).astype(np.int8)


@pytest.fixture(scope="module")
def append_lib(cache_dir):
    return mha.compile(append_spec("dense", 2, 32, False, False) +
                       append_spec("dense_rope", 2, 32, False, False, rope=10000.0) +
                       append_spec("paged", 2, 32, True, True))


def test_append_dense(append_lib):
    """New keys and values (some NaN and infinite) quantized into a
    contiguous i8 cache by per-head scales; other slots untouched."""
    S, lnew, cap = 3, 70, 160
    kv_lens = np.array([0, 5, 90], np.int32)
    kn = RNG.standard_normal((S, 2, lnew, 32)).astype(np.float32) * 2
    vn = RNG.standard_normal((S, 2, lnew, 32)).astype(np.float32)
    vn[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    ks, vs = np.array([0.02, 0.05], np.float32), np.array([0.01, 0.03], np.float32)
    kc = RNG.integers(-127, 128, (S, 2, cap, 32)).astype(np.int8)
    vc = RNG.integers(-127, 128, (S, 2, cap, 32)).astype(np.int8)
    k0, v0 = kc.copy(), vc.copy()
    append_lib.dense(kn, vn, kv_lens, ks, vs, kc, vc)
    want_k, want_v = k0.copy(), v0.copy()
    for s, base in enumerate(kv_lens):
        for g in range(2):
            want_k[s, g, base:base + lnew] = quantize_rows(kn[s, g], ks[g])
            want_v[s, g, base:base + lnew] = quantize_rows(vn[s, g], vs[g])
    assert np.array_equal(kc, want_k) and np.array_equal(vc, want_v)
    assert list(vc[0, 0, 0, :3]) == [0, 127, -127]


def test_append_rope_then_decode(append_lib):
    """RoPE at the cache positions, then quantized; a decoding step over the
    cache matches the reference over the dequantized cache."""
    S, lnew, cap = 2, 3, 40
    kv_lens = np.array([7, 20], np.int32)
    kn = RNG.standard_normal((S, 2, lnew, 32)).astype(np.float32)
    vn = RNG.standard_normal((S, 2, lnew, 32)).astype(np.float32)
    ks, vs = np.array([0.03, 0.04], np.float32), np.array([0.02, 0.02], np.float32)
    kc = np.zeros((S, 2, cap, 32), np.int8)
    vc = np.zeros((S, 2, cap, 32), np.int8)
    append_lib.dense_rope(kn, vn, kv_lens, ks, vs, kc, vc)
    d = 32
    freqs = 10000.0 ** (-2.0 * np.arange(d // 2) / d)
    for s, base in enumerate(kv_lens):
        pos = base + np.arange(lnew)
        ang = pos[:, None] * freqs[None]
        x1, x2 = kn[s][..., :16].astype(np.float64), kn[s][..., 16:].astype(np.float64)
        rot = np.concatenate([x1 * np.cos(ang) - x2 * np.sin(ang),
                              x2 * np.cos(ang) + x1 * np.sin(ang)], -1)
        want = np.stack([quantize_rows(rot[g], ks[g]) for g in range(2)])
        got = kc[s, :, base:base + lnew]
        # f32 rotation against float64: a value at a rounding boundary may
        # land one step away.
        assert np.abs(got.astype(int) - want).max() <= 1
        assert np.mean(got == want) > 0.97
    # Attention over the appended cache: kv_lens + Lnew keys.
    lib = mha.compile(spec("after_append", 4, 2, 32, 32, attrs="causal"))
    q = RNG.standard_normal((S, 4, 1, 32)).astype(np.float32)
    for s, base in enumerate(kv_lens):
        n = base + lnew
        o, _ = call(lib, "after_append", [q[s:s + 1], kc[s:s + 1, :, :n], vc[s:s + 1, :, :n],
                                          ks, vs], [(1, 4, 1, 32), (1, 4, 1)])
        ro, _ = ref(q[s:s + 1], kc[s:s + 1, :, :n], ks, vc[s:s + 1, :, :n], vs,
                    {"causal": True}, 4, 32)
        assert reference.rel_err(o, ro) < 2e-5


@pytest.mark.parametrize("page_size", [1, 16, 5])
def test_append_paged_per_page_scales(append_lib, page_size):
    S, lnew = 2, 9
    kv_lens = np.array([3, 17], np.int32)
    need = [(n + lnew + page_size - 1) // page_size for n in kv_lens]
    pages = sum(need) + 2
    table = np.full((S, max(need) + 1), -1, np.int32)
    order = list(RNG.permutation(pages))
    for s in range(S):
        for p in range(need[s]):
            table[s, p] = order.pop()
    kn = RNG.standard_normal((S, 2, lnew, 32)).astype(np.float32)
    vn = RNG.standard_normal((S, 2, lnew, 32)).astype(np.float32)
    ks = RNG.uniform(0.01, 0.05, (pages, 2)).astype(np.float32)
    vs = RNG.uniform(0.01, 0.05, (pages, 2)).astype(np.float32)
    kc = RNG.integers(-127, 128, (pages, 2, page_size, 32)).astype(np.int8)
    vc = RNG.integers(-127, 128, (pages, 2, page_size, 32)).astype(np.int8)
    k0, v0 = kc.copy(), vc.copy()
    append_lib.paged(kn, vn, kv_lens, table, ks, vs, kc, vc)
    want_k, want_v = k0.copy(), v0.copy()
    for s, base in enumerate(kv_lens):
        for t in range(lnew):
            pos = base + t
            page, slot = table[s, pos // page_size], pos % page_size
            for g in range(2):
                want_k[page, g, slot] = quantize_rows(kn[s, g, t], ks[page, g])
                want_v[page, g, slot] = quantize_rows(vn[s, g, t], vs[page, g])
    assert np.array_equal(kc, want_k) and np.array_equal(vc, want_v)


def test_append_bad_scale_writes_nothing(append_lib):
    kn = RNG.standard_normal((1, 2, 2, 32)).astype(np.float32)
    kc = np.zeros((1, 2, 8, 32), np.int8)
    vc = np.zeros((1, 2, 8, 32), np.int8)
    with pytest.raises(mha.Error, match=r"'v_scale'\[0\] is 0 but the scales"):
        append_lib.dense(kn, kn, np.array([1], np.int32), np.ones(2, np.float32),
                         np.array([0, 1], np.float32), kc, vc)
    assert not kc.any() and not vc.any()


def test_torch_decoding_step_into_int8_cache(cache_dir):
    """A decoding step as torch custom ops under torch.compile(fullgraph=
    True): append f32 keys into a paged i8 cache (mutated in place), then
    attend over it; against the float64 reference over the dequantized
    cache."""
    torch = pytest.importorskip("torch")
    import mha.torch as mt
    lib = mha.compile(append_spec("append8", 2, 32, True, False) +
                      spec("attend8", 8, 2, 32, 32, paged=True))
    ops = mt.register(lib)
    kv_lens, page_size = [9, 30], 16
    k8, ks, table, _ = paged_cache([n + 1 for n in kv_lens], 2, 32, page_size, False)
    v8, vs, _, _ = paged_cache([n + 1 for n in kv_lens], 2, 32, page_size, False)
    kn = torch.randn(2, 2, 1, 32)
    vn = torch.randn(2, 2, 1, 32)
    q = torch.randn(2, 8, 1, 32)
    kc, vc = torch.from_numpy(k8.copy()), torch.from_numpy(v8.copy())
    lens, t_table = torch.tensor(kv_lens, dtype=torch.int32), torch.from_numpy(table)
    t_ks, t_vs = torch.from_numpy(ks), torch.from_numpy(vs)

    @torch.compile(fullgraph=True)
    def step(q, kn, vn, lens, table, kc, vc):
        ops.append8(kn, vn, lens, table, t_ks, t_vs, kc, vc)
        return ops.attend8(q, kc, vc, t_ks, t_vs, lens + 1, table)

    o, lse = step(q, kn, vn, lens, t_table, kc, vc)
    kd, vd = quantize.dequantize(kc.numpy(), ks), quantize.dequantize(vc.numpy(), vs)
    params = semantics.normalise({"causal": True}, 8, 32)
    for s, n in enumerate(kv_lens):
        rows = [(table[s, j // page_size], j % page_size) for j in range(n + 1)]
        kseq = np.stack([kd[p, :, t] for p, t in rows], axis=1)[None]
        vseq = np.stack([vd[p, :, t] for p, t in rows], axis=1)[None]
        # The appended key is the new one, quantized.
        p, t = rows[-1]
        assert np.array_equal(kc.numpy()[p, :, t],
                              np.stack([quantize_rows(kn[s, g, 0].numpy(), ks[g])
                                        for g in range(2)]))
        ro, rl, _ = reference.attention(q[s:s + 1].numpy(), kseq, vseq, params)
        assert reference.rel_err(o[s].numpy(), ro[0]) < 2e-5


def test_packed_sequences_and_padded_rows(cache_dir):
    """kv_scales with packed keys (cu_seqlens_k), packed queries
    (cu_seqlens_q) and padded query rows (q_lens): each sequence against the
    float64 reference over its own dequantized keys."""
    hq, hkv, d = 4, 2, 32
    q4, k4 = f"tensor<?x{hq}x?x{d}xf32>", f"tensor<?x{hkv}x?x{d}xi8>"
    lse, s, i32 = f"tensor<?x{hq}x?xf32>", f"tensor<{hkv}xf32>", "tensor<?xi32>"
    q1, k1 = f"tensor<1x{hq}x?x{d}xf32>", f"tensor<1x{hkv}x?x{d}xi8>"
    lse1 = f"tensor<1x{hq}x?xf32>"
    text = f"""
func.func @packed(%q: {q1}, %k: {k1}, %v: {k1}, %ks: {s}, %vs: {s}, %cq: {i32}, %ck: {i32})
    -> ({q1}, {lse1}) {{
  %o, %l = mha.attention %q, %k, %v kv_scales(%ks, %vs : {s}, {s})
      cu_seqlens_q(%cq : {i32}) cu_seqlens_k(%ck : {i32}) {{causal, return_lse}}
      : {q1}, {k1}, {k1} -> {q1}, {lse1}
  return %o, %l : {q1}, {lse1}
}}
func.func @padded(%q: {q4}, %k: {k4}, %v: {k4}, %ks: {s}, %vs: {s}, %kl: {i32}, %ql: {i32})
    -> ({q4}, {lse}) {{
  %o, %l = mha.attention %q, %k, %v kv_scales(%ks, %vs : {s}, {s})
      kv_lens(%kl : {i32}) q_lens(%ql : {i32}) {{causal, return_lse}}
      : {q4}, {k4}, {k4} -> {q4}, {lse}
  return %o, %l : {q4}, {lse}
}}
"""
    lib = mha.compile(text)
    q_lens, kv_lens = [5, 0, 9], [12, 3, 40]
    params = semantics.normalise({"causal": True}, hq, d)
    ks = np.array([0.02, 0.03], np.float32)
    vs = np.array([0.01, 0.04], np.float32)
    kseq = [RNG.integers(-127, 128, (hkv, n, d)).astype(np.int8) for n in kv_lens]
    vseq = [RNG.integers(-127, 128, (hkv, n, d)).astype(np.int8) for n in kv_lens]
    qseq = [RNG.standard_normal((hq, n, d)).astype(np.float32) for n in q_lens]

    def want(s):
        return reference.attention(qseq[s][None], quantize.dequantize(kseq[s][None], ks),
                                   quantize.dequantize(vseq[s][None], vs), params)[:2]

    # Packed: all sequences along dim 2 of one batch element.
    cq = np.concatenate([[0], np.cumsum(q_lens)]).astype(np.int32)
    ck = np.concatenate([[0], np.cumsum(kv_lens)]).astype(np.int32)
    q = np.concatenate(qseq, axis=1)[None]
    k = np.ascontiguousarray(np.concatenate(kseq, axis=1)[None])
    v = np.ascontiguousarray(np.concatenate(vseq, axis=1)[None])
    o, lse = call(lib, "packed", [q, k, v, ks, vs, cq, ck],
                  [(1, hq, q.shape[2], d), (1, hq, q.shape[2])])
    for s in range(3):
        ro, rl = want(s)
        rows = slice(cq[s], cq[s + 1])
        assert reference.rel_err(o[0, :, rows], ro[0]) < 2e-5, s
        assert np.allclose(lse[0, :, rows], rl[0], rtol=1e-5, atol=1e-5), s
    # Padded: [S, H, 9, D] rows of which q_lens are real, keys padded to 40.
    qp = np.zeros((3, hq, 9, d), np.float32)
    kp = np.zeros((3, hkv, 40, d), np.int8)
    vp = np.zeros((3, hkv, 40, d), np.int8)
    for s in range(3):
        qp[s, :, :q_lens[s]] = qseq[s]
        kp[s, :, :kv_lens[s]] = kseq[s]
        vp[s, :, :kv_lens[s]] = vseq[s]
    o, lse = call(lib, "padded", [qp, kp, vp, ks, vs, np.array(kv_lens, np.int32),
                                  np.array(q_lens, np.int32)], [(3, hq, 9, d), (3, hq, 9)])
    for s in range(3):
        ro, rl = want(s)
        assert reference.rel_err(o[s, :, :q_lens[s]], ro[0]) < 2e-5, s
        assert np.all(o[s, :, q_lens[s]:] == 0) and np.all(lse[s, :, q_lens[s]:] == -np.inf)


def test_per_page_scales_follow_page_ranges(cache_dir):
    """Structured input: pages whose keys and values span ranges 40x apart.
    Against attention over the f32 cache, scales per page (each page's own
    range) err no more than scales per KV head (the largest page's); both
    measured (docs/language.md 4.8)."""
    page_size, pages = 16, 8
    rng = np.random.default_rng(21)
    ranges = np.geomspace(0.1, 4.0, pages)[rng.permutation(pages)]
    kpool = rng.standard_normal((pages, 2, page_size, 64)) * ranges[:, None, None, None]
    vpool = rng.standard_normal((pages, 2, page_size, 64)) * ranges[:, None, None, None]
    table = np.arange(pages, dtype=np.int32).reshape(2, 4)
    q = rng.standard_normal((2, 8, 1, 64)).astype(np.float32) * 0.3
    lens = np.array([64, 64], np.int32)
    params = semantics.normalise({"causal": True}, 8, 64)
    exact = np.stack([
        reference.attention(q[s:s + 1],
                            np.concatenate([kpool[p] for p in table[s]], axis=1)[None],
                            np.concatenate([vpool[p] for p in table[s]], axis=1)[None],
                            params)[0][0] for s in range(2)])
    lib = mha.compile(spec("per_head", 8, 2, 64, 64, paged=True) +
                      spec("per_page", 8, 2, 64, 64, paged=True, per_page=True))
    errors = {}
    for name in ("per_head", "per_page"):
        k8, kscale = quantize.kv_cache(kpool, per_page=name == "per_page")
        v8, vscale = quantize.kv_cache(vpool, per_page=name == "per_page")
        o, _ = call(lib, name, [q, k8, v8, kscale, vscale, lens, table],
                    [(2, 8, 1, 64), (2, 8, 1)])
        errors[name] = reference.rel_err(o, exact)
    print(f"pages 40x apart: scales per head {errors['per_head']:.2e}, "
          f"per page {errors['per_page']:.2e}")
    assert errors["per_page"] <= errors["per_head"]
    assert max(errors.values()) < 2.5e-2


def test_quantize_torch_tensors_in_torch_out():
    torch = pytest.importorskip("torch")
    x = torch.randn(2, 3, 5, 8)
    q, s = quantize.kv_cache(x)
    assert q.dtype == torch.int8 and s.dtype == torch.float32 and s.shape == (3,)
    qn, sn = quantize.kv_cache(x.numpy())
    assert np.array_equal(q.numpy(), qn) and np.array_equal(s.numpy(), sn)
    back = quantize.dequantize(q, s)
    assert back.dtype == torch.float64
    assert torch.allclose(back, x.double(), atol=float(s.max()) / 2 + 1e-7)
    qp, sp = quantize.kv_cache(x, per_page=True)
    assert sp.shape == (2, 3)
