"""mha.append_kv on the CPU (docs/language.md 4.7): new keys and values
written into the caller's caches in place at kv_lens, contiguous or paged,
with RoPE at their positions; everything else in the caches unchanged; a
decoding step (append, then attention over the grown cache) against the
float64 reference; bad lengths and pages refused with nothing written.

    pytest python/tests/test_append.py
"""
import re

import numpy as np
import pytest

import mha
from mha import _dlpack, reference
from mha._library import Library, MhaError
from test_serving import Case, call, check_rows, serving_spec

RNG = np.random.default_rng(11)


def append_spec(name, hkv, d, dv, paged, rope=None, dtype="f32", rows=None):
    """An append function; `rows` "q_lens" (padded new keys) or
    "cu_seqlens_q" (packed new keys, [1, Hkv, T, D]) gives each sequence
    its own number of new keys."""
    nb = "1" if rows == "cu_seqlens_q" else "?"
    kn, vn = f"tensor<{nb}x{hkv}x?x{d}x{dtype}>", f"tensor<{nb}x{hkv}x?x{dv}x{dtype}>"
    kc, vc = f"tensor<?x{hkv}x?x{d}x{dtype}>", f"tensor<?x{hkv}x?x{dv}x{dtype}>"
    lens = ", %n: tensor<?xi32>" if rows == "q_lens" else ""
    table = ", %t: tensor<?x?xi32>" if paged else ""
    cu = ", %n: tensor<?xi32>" if rows == "cu_seqlens_q" else ""
    use = " q_lens(%n : tensor<?xi32>)" if rows == "q_lens" else ""
    use += " block_table(%t : tensor<?x?xi32>)" if paged else ""
    use += " cu_seqlens_q(%n : tensor<?xi32>)" if rows == "cu_seqlens_q" else ""
    attrs = f" {{rope_theta = {rope} : f32}}" if rope else ""
    return f"""
func.func @{name}(%kn: {kn}, %vn: {vn}, %l: tensor<?xi32>{lens}{table}{cu}, %kc: {kc}, %vc: {vc})
    -> ({kc}, {vc}) {{
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%l : tensor<?xi32>){use}{attrs}
      : {kn}, {vn}, {kc}, {vc} -> {kc}, {vc}
  return %k, %v : {kc}, {vc}
}}
"""


def rope(x, positions, theta):
    """x [..., n, D] rotated at positions [n] (float64; pairs (i, i + D/2))."""
    d = x.shape[-1]
    freqs = theta ** (-2.0 * np.arange(d // 2) / d)
    angle = np.asarray(positions, np.float64)[:, None] * freqs[None, :]
    c, s = np.cos(angle), np.sin(angle)
    x1, x2 = x[..., : d // 2].astype(np.float64), x[..., d // 2:].astype(np.float64)
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


@pytest.fixture(scope="module")
def append_lib(cache_dir):
    return mha.compile(
        append_spec("dense", 2, 16, 8, False) +
        append_spec("dense_rope", 2, 16, 8, False, rope=10000.0) +
        append_spec("paged", 2, 16, 8, True) +
        append_spec("paged_rope", 2, 16, 8, True, rope=500.0) +
        append_spec("packed_rope", 2, 16, 8, False, rope=10000.0, rows="cu_seqlens_q") +
        append_spec("packed_paged", 2, 16, 8, True, rows="cu_seqlens_q") +
        append_spec("padded_rope", 2, 16, 8, False, rope=10000.0, rows="q_lens") +
        append_spec("padded_paged", 2, 16, 8, True, rows="q_lens") +
        serving_spec("attend", 4, 2, 16, 8, ["kv_lens", "block_table"], "causal"))


def page_table(keys, page_size, spare):
    """A block table giving sequence s the pages for keys[s] keys, in a
    random order, with `spare` unused pages; unused entries are -1.
    Returns the table and the page count."""
    need = [(n + page_size - 1) // page_size for n in keys]
    pages = sum(need) + spare
    order = list(RNG.permutation(pages))
    table = np.full((len(keys), max(need) + 1), -1, np.int32)
    for s in range(len(keys)):
        for p in range(need[s]):
            table[s, p] = order.pop()
    return table, pages


def slots(kv_lens, n, page_size=None, table=None):
    """(s, position, page or s, slot) of every new key."""
    out = []
    for s, base in enumerate(kv_lens):
        for t in range(n):
            p = base + t
            if table is None:
                out.append((s, t, p, s, p))
            else:
                out.append((s, t, p, table[s, p // page_size], p % page_size))
    return out


@pytest.mark.parametrize("rope_theta", [None, 10000.0])
def test_dense(append_lib, rope_theta):
    S, lnew, cap = 3, 70, 200  # 70 new keys: two work items per head
    kv_lens = np.array([0, 5, 130], np.int32)
    kn = RNG.standard_normal((S, 2, lnew, 16), dtype=np.float32)
    vn = RNG.standard_normal((S, 2, lnew, 8), dtype=np.float32)
    kc = RNG.standard_normal((S, 2, cap, 16), dtype=np.float32)
    vc = RNG.standard_normal((S, 2, cap, 8), dtype=np.float32)
    k0, v0 = kc.copy(), vc.copy()
    name = "dense_rope" if rope_theta else "dense"
    assert append_lib.__getattr__(name)(kn, vn, kv_lens, kc, vc) is None
    want_k, want_v = k0.astype(np.float64), v0.astype(np.float64)
    for s, base in enumerate(kv_lens):
        new = kn[s]
        if rope_theta:
            new = rope(new, base + np.arange(lnew), rope_theta)
        want_k[s, :, base:base + lnew] = new
        want_v[s, :, base:base + lnew] = vn[s]
    assert np.allclose(kc, want_k, rtol=1e-5, atol=1e-5)
    assert np.array_equal(vc, want_v.astype(np.float32))
    untouched = np.ones(kc.shape[:3], bool)
    for s, base in enumerate(kv_lens):
        untouched[s, :, base:base + lnew] = False
    assert np.array_equal(kc[untouched], k0[untouched])


@pytest.mark.parametrize("page_size", [1, 7, 16])
@pytest.mark.parametrize("rope_theta", [None, 500.0])
def test_paged_vllm_layout(append_lib, page_size, rope_theta):
    S, lnew = 3, 4
    kv_lens = np.array([9, 0, 30], np.int32)
    table, pages = page_table(kv_lens + lnew, page_size, spare=2)
    # vLLM's [pages, page_size, Hkv, D] storage, passed as a view.
    kstore = RNG.standard_normal((pages, page_size, 2, 16), dtype=np.float32)
    vstore = RNG.standard_normal((pages, page_size, 2, 8), dtype=np.float32)
    k0, v0 = kstore.copy(), vstore.copy()
    kn = RNG.standard_normal((S, 2, lnew, 16), dtype=np.float32)
    vn = RNG.standard_normal((S, 2, lnew, 8), dtype=np.float32)
    name = "paged_rope" if rope_theta else "paged"
    Library(append_lib.path).function(name, 6)(
        kn, vn, kv_lens, table, kstore.transpose(0, 2, 1, 3), vstore.transpose(0, 2, 1, 3))
    written = np.zeros(kstore.shape[:3], bool)
    for s, t, p, page, slot in slots(kv_lens, lnew, page_size, table):
        want = kn[s, :, t]
        if rope_theta:
            want = rope(kn[s, :, t][:, None], [p], rope_theta)[:, 0]
        assert np.allclose(kstore[page, slot], want, rtol=1e-5, atol=1e-5)
        assert np.array_equal(vstore[page, slot], vn[s, :, t])
        written[page, slot] = True
    assert np.array_equal(kstore[~written], k0[~written])
    assert np.array_equal(vstore[~written], v0[~written])


def test_decoding_step(append_lib):
    """Append this step's keys to a paged cache, then attend over the grown
    cache: the same as attention over each sequence's whole keys."""
    case = Case(4, 2, 16, 8, q_lens=[1, 1, 1], kv_lens=[40, 1, 17])
    new = 1
    k, v, table = case.paged_kv(16, spare_pages=3)
    old = np.array(case.kv_lens, np.int32) - new  # the cache before the step
    kn = np.stack([x[:, -new:] for x in case.ks])
    vn = np.stack([y[:, -new:] for y in case.vs])
    # The pages hold the old keys only: the new slots start as garbage.
    for s, base in enumerate(old):
        page, slot = table[s, base // 16], base % 16
        k[page, :, slot] = 99.0
        v[page, :, slot] = 99.0
    Library(append_lib.path).function("paged", 6)(kn, vn, old, table, k, v)
    o, lse = call(append_lib, "attend",
                  [case.padded_q(), k, v, np.array(case.kv_lens, np.int32), table],
                  [(3, 4, 1, 8), (3, 4, 1)])
    check_rows(o, lse, None, case.reference({"causal": True}), lambda s: (s,), 2e-5)


def test_bf16_rope(cache_dir):
    lib = mha.compile(append_spec("b", 1, 32, 32, False, rope=10000.0, dtype="bf16"))
    kv_lens = np.array([3, 1000], np.int32)
    kn32 = RNG.standard_normal((2, 1, 2, 32), dtype=np.float32)
    kn = reference.f32_to_bf16_bits(kn32).reshape(kn32.shape)
    vn = reference.f32_to_bf16_bits(kn32).reshape(kn32.shape)
    kc = np.zeros((2, 1, 1100, 32), np.uint16)
    vc = np.zeros((2, 1, 1100, 32), np.uint16)
    bf = lambda x: _dlpack.from_numpy(x, "bf16")
    Library(lib.path).function("b", 5)(bf(kn), bf(vn), kv_lens, bf(kc), bf(vc))
    back = lambda x: reference.bf16_bits_to_f32(x).reshape(x.shape)
    for s, base in enumerate(kv_lens):
        want = rope(back(kn)[s], base + np.arange(2), 10000.0)
        got = back(kc)[s, :, base:base + 2]
        assert reference.rel_err(got, want) < 1e-2
        assert np.array_equal(vc[s, :, base:base + 2], vn[s])


def _make(mutate):
    """A valid paged call (pages of 4 keys, 3 new keys per sequence), then
    `mutate` applied to its arguments."""
    S, lnew, ps = 2, 3, 4
    args = dict(kn=np.ones((S, 2, lnew, 16), np.float32),
                vn=np.ones((S, 2, lnew, 8), np.float32),
                kv_lens=np.array([2, 5], np.int32),
                table=np.array([[0, 1, -1], [2, 3, -1]], np.int32),
                kc=np.full((5, 2, ps, 16), 7.0, np.float32),
                vc=np.full((5, 2, ps, 8), 7.0, np.float32))
    mutate(args)
    return args


def _set(name, index, value):
    def f(args):
        args[name] = args[name].copy()
        args[name][index] = value
    return f


BAD_CALLS = [
    (_set("kv_lens", 1, 10), {}, r"'kv_lens'\[1\] is 10 but must be in \[0, 9\] "
     r"\('block_table' \(block table\) holds 3 pages of 4 keys per sequence, less "
     r"the 3 new keys of 'k_new' dim 2 \(Lnew\)\)"),
    (_set("kv_lens", 1, 7), {}, r"'block_table'\[1, 2\] is -1 but 'k_cache' "
     r"\(key cache\) has 5 pages"),
    (_set("table", (0, 0), 5), {}, r"'block_table'\[0, 0\] is 5"),
    (lambda a: None, {"head_mask": [1, 1]}, r"options->head_mask is set, but an "
     r"append function has no heads to ablate"),
    # Still valid: the new keys of sequence 0 fit its pages 0 and 1.
    (_set("kv_lens", 0, 3), {}, None),
]


@pytest.mark.parametrize("mutate,opts,message", BAD_CALLS)
def test_bad_calls_write_nothing(append_lib, mutate, opts, message):
    a = _make(mutate)
    before = (a["kc"].copy(), a["vc"].copy())
    tensors = [a[n] for n in ("kn", "vn", "kv_lens", "table", "kc", "vc")]
    f = Library(append_lib.path).function("paged", 6)
    if message is None:
        f(*tensors, num_threads=2, **opts)
        assert not np.array_equal(a["kc"], before[0])
        return
    with pytest.raises(MhaError) as e:
        f(*tensors, num_threads=2, **opts)
    assert re.search(message, e.value.message), e.value.message
    assert e.value.message.startswith("paged:"), e.value.message
    assert np.array_equal(a["kc"], before[0]) and np.array_equal(a["vc"], before[1])


def test_torch_decoding_step(append_lib):
    """The append function as a torch custom op that mutates the caches,
    then paged attention, under torch.compile(fullgraph=True)."""
    torch = pytest.importorskip("torch")
    import mha.torch as mt
    ops = mt.register(append_lib)
    case = Case(4, 2, 16, 8, q_lens=[1, 1], kv_lens=[20, 3])
    k, v, table = case.paged_kv(16)
    old = np.array(case.kv_lens, np.int32) - 1
    kn = torch.from_numpy(np.stack([x[:, -1:] for x in case.ks]))
    vn = torch.from_numpy(np.stack([y[:, -1:] for y in case.vs]))
    kc, vc = torch.from_numpy(k.copy()), torch.from_numpy(v.copy())
    for s, base in enumerate(old):  # the new slots start as garbage
        kc[table[s, base // 16], :, base % 16] = 99.0
        vc[table[s, base // 16], :, base % 16] = 99.0
    t_table, t_old = torch.from_numpy(table), torch.from_numpy(old)

    @torch.compile(fullgraph=True)
    def step(q, kn, vn, lens, table, kc, vc):
        ops.paged(kn, vn, lens, table, kc, vc)
        return ops.attend(q, kc, vc, lens + 1, table)

    o, lse = step(torch.from_numpy(case.padded_q()), kn, vn, t_old, t_table, kc, vc)
    check_rows(o.numpy(), lse.numpy(), None, case.reference({"causal": True}),
               lambda s: (s,), 2e-5)
    assert torch.equal(kc, torch.from_numpy(k)) and torch.equal(vc, torch.from_numpy(v))


@pytest.mark.parametrize("rows", ["cu_seqlens_q", "q_lens"])
@pytest.mark.parametrize("page_size", [None, 5])
def test_each_sequence_appends_its_own_new_keys(append_lib, rows, page_size):
    """Packed (cu_seqlens_q, new keys [1, Hkv, T, D]) or padded (q_lens)
    new keys: sequence s appends only its own n[s] keys at kv_lens[s] (a
    serving engine's step where some sequences prefill a chunk, others
    decode a token and others wait); nothing else changes."""
    counts, kv_lens = [3, 1, 0, 70], np.array([4, 0, 9, 20], np.int32)
    S, cap = len(counts), 96
    news = [(RNG.standard_normal((2, n, 16), dtype=np.float32),
             RNG.standard_normal((2, n, 8), dtype=np.float32)) for n in counts]
    if rows == "cu_seqlens_q":
        cu = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        kn = np.concatenate([k for k, _ in news] + [np.ones((2, 2, 16), np.float32)], 1)[None]
        vn = np.concatenate([v for _, v in news] + [np.ones((2, 2, 8), np.float32)], 1)[None]
        count = cu
    else:
        kn = np.full((S, 2, max(counts) + 1, 16), np.nan, np.float32)
        vn = np.full((S, 2, max(counts) + 1, 8), np.nan, np.float32)
        for s, (k, v) in enumerate(news):
            kn[s, :, :counts[s]], vn[s, :, :counts[s]] = k, v
        count = np.array(counts, np.int32)
    kind = "packed" if rows == "cu_seqlens_q" else "padded"
    if page_size is None:
        kc = RNG.standard_normal((S, 2, cap, 16), dtype=np.float32)
        vc = RNG.standard_normal((S, 2, cap, 8), dtype=np.float32)
        k0, v0 = kc.copy(), vc.copy()
        Library(append_lib.path).function(f"{kind}_rope", 6)(kn, vn, kv_lens, count, kc, vc)
        for s, (k, v) in enumerate(news):
            at = slice(kv_lens[s], kv_lens[s] + counts[s])
            want = rope(k, kv_lens[s] + np.arange(counts[s]), 10000.0)
            assert np.allclose(kc[s, :, at], want, rtol=1e-5, atol=1e-5)
            assert np.array_equal(vc[s, :, at], v)
            k0[s, :, at], v0[s, :, at] = kc[s, :, at], vc[s, :, at]
        assert np.array_equal(kc, k0) and np.array_equal(vc, v0)
        return
    table, pages = page_table(kv_lens + np.array(counts), page_size, spare=1)
    kp = RNG.standard_normal((pages, 2, page_size, 16), dtype=np.float32)
    vp = RNG.standard_normal((pages, 2, page_size, 8), dtype=np.float32)
    k0, v0 = kp.copy(), vp.copy()
    args = (kn, vn, kv_lens, table, count) if kind == "packed" else \
        (kn, vn, kv_lens, count, table)
    Library(append_lib.path).function(f"{kind}_paged", 7)(*args, kp, vp)
    for s, (k, v) in enumerate(news):
        for t in range(counts[s]):
            p = kv_lens[s] + t
            page, slot = table[s, p // page_size], p % page_size
            assert np.array_equal(kp[page, :, slot], k[:, t])
            assert np.array_equal(vp[page, :, slot], v[:, t])
            k0[page, :, slot], v0[page, :, slot] = k[:, t], v[:, t]
    assert np.array_equal(kp, k0) and np.array_equal(vp, v0)


def test_packed_append_checks_each_sequence(append_lib):
    """Each sequence needs room for its own new keys; bad offsets and
    lengths are refused before any cache byte is written."""
    kn = RNG.standard_normal((1, 2, 10, 16), dtype=np.float32)
    vn = RNG.standard_normal((1, 2, 10, 8), dtype=np.float32)
    kc = np.zeros((2, 2, 8, 16), np.float32)
    vc = np.zeros((2, 2, 8, 8), np.float32)
    f = Library(append_lib.path).function("packed_rope", 6)
    with pytest.raises(MhaError, match=re.escape(
            "'kv_lens'[1] is 3 but must be in [0, 2] (the keys of 'k_cache' (key cache) "
            "dim 2 (Lk), less the 6 new keys of sequence 1)")):
        f(kn, vn, np.array([0, 3], np.int32), np.array([0, 4, 10], np.int32), kc, vc)
    with pytest.raises(MhaError, match=re.escape("'cu_seqlens_q'[2] is 11 but")):
        f(kn, vn, np.array([0, 0], np.int32), np.array([0, 4, 11], np.int32), kc, vc)
    g = Library(append_lib.path).function("padded_rope", 6)
    with pytest.raises(MhaError, match=re.escape("'q_lens'[0] is 11 but must be in [0, 10]")):
        g(kn.repeat(2, 0), vn.repeat(2, 0), np.array([0, 0], np.int32),
          np.array([11, 0], np.int32), kc, vc)
    assert not kc.any() and not vc.any()
