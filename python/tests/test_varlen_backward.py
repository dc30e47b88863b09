"""The backward of attention over padded and packed batches (docs/language.md
7.1, "Sequences of different lengths"): `<name>_backward(q, k, v, <lengths
and offsets>, o, lse, dout, [dentropy,] dq, dk, dv)` for functions with
kv_lens, q_lens, cu_seqlens_q and cu_seqlens_k. Each sequence's gradients
are checked against float64 autograd of the attention on that sequence's
own unpadded tensors; padding rows and keys (past q_lens or kv_lens, or
past the last offset) get exactly zero gradients; every element of dq, dk
and dv is written (they start as NaN); bad offsets write nothing.

    pytest python/tests/test_varlen_backward.py
"""
import numpy as np
import pytest
import torch

import mha
from mha import _dlpack, reference, semantics
from mha._library import Library, MhaError
from test_serving import ATTRS, Case, serving_spec

RNG = np.random.default_rng(11)


def attention64(q, k, v, params, entropy=False):
    """float64 torch attention of one sequence, q [Hq, Lq, D], k [Hkv, Lk, D],
    v [Hkv, Lk, Dv] (differentiable tensors): o [Hq, Lq, Dv] and the
    entropy [Hq, Lq] (0 for rows without a visible key and dead heads)."""
    hq, lq, _ = q.shape
    hkv, lk, dv = k.shape[0], k.shape[1], v.shape[2]
    alive = reference.alive_heads(params)
    outs, ents = [], []
    for h in range(hq):
        if not alive[h] or lq == 0:
            outs.append(torch.zeros(lq, dv, dtype=torch.float64))
            ents.append(torch.zeros(lq, dtype=torch.float64))
            continue
        g = h // (hq // hkv)
        s = q[h] @ k[g].T * (params["scale"] / params["temperature"][h])
        if params["softcap"] is not None:
            s = params["softcap"] * torch.tanh(s / params["softcap"])
        i = np.arange(lq).reshape(-1, 1)
        j = np.arange(lk).reshape(1, -1)
        s = s - params["alibi_slopes"][h] * torch.from_numpy(
            np.abs(semantics.diagonal(i, lq, lk) - j).astype(np.float64))
        vis = torch.from_numpy(np.array(reference.visible_rows(params, h, lq, lk)))
        s = torch.where(vis, s, torch.full_like(s, -torch.inf))
        has_keys = vis.any(-1, keepdim=True)
        s = torch.where(has_keys, s, torch.zeros_like(s))
        p = torch.where(vis, torch.softmax(s, -1), torch.zeros_like(s))
        outs.append(p @ v[g])
        logp = torch.where(vis, torch.log_softmax(s, -1), torch.zeros_like(s))
        ents.append(-(p * logp).sum(-1))
    o = torch.stack(outs) if outs else torch.zeros(0, lq, dv)
    return (o, torch.stack(ents)) if entropy else (o, None)


def reference_grads(case, params, douts, dents):
    """Per sequence: (dq, dk, dv) of sum(o * dout) (+ sum(entropy * dent))."""
    grads = []
    for s, (q, k, v) in enumerate(zip(case.qs, case.ks, case.vs)):
        q64, k64, v64 = (torch.from_numpy(x.astype(np.float64)).requires_grad_()
                         for x in (q, k, v))
        o, ent = attention64(q64, k64, v64, params, entropy=dents is not None)
        loss = (o * torch.from_numpy(douts[s])).sum()
        if ent is not None:
            loss = loss + (ent * torch.from_numpy(dents[s])).sum()
        if loss.requires_grad:
            dq, dk, dv = torch.autograd.grad(loss, (q64, k64, v64),
                                             allow_unused=True)
        else:
            dq = dk = dv = None
        grads.append(tuple(np.zeros(x.shape) if g is None else g.numpy()
                           for g, x in zip((dq, dk, dv), (q, k, v))))
    return grads


def call(lib, name, inputs, out_likes, threads=2):
    outs = [np.full(x.shape, np.nan, x.dtype) for x in out_likes]
    Library(lib.path).function(name, len(inputs) + len(outs))(
        *inputs, *outs, num_threads=threads)
    return outs


def layouts(case, queries, keys):
    """The call's q, k, v and lengths (in SPEC.md's order), and for each
    sequence s where its rows and keys are: (batch, row slice) pairs."""
    if queries == "packed":
        q, cu_q = case.packed_q(extra_rows=2)
        rows_of = [(0, slice(cu_q[s], cu_q[s + 1])) for s in range(len(case.qs))]
        q_tail = (0, slice(cu_q[-1], q.shape[2]))
    else:
        q = case.padded_q(lq=max(case.q_lens) + 1)
        q = np.where(np.isnan(q), 0.0, q).astype(case.dtype)
        rows_of = [(s, slice(0, n)) for s, n in enumerate(case.q_lens)]
        q_tail = None
    if keys == "packed":
        k, v, cu_k = case.packed_kv()
        pad = RNG.standard_normal((1, case.hkv, 3, case.d)).astype(case.dtype)
        k = np.concatenate([k, pad], 2)
        v = np.concatenate([v, RNG.standard_normal(
            (1, case.hkv, 3, case.dv)).astype(case.dtype)], 2)
        keys_of = [(0, slice(cu_k[s], cu_k[s + 1])) for s in range(len(case.ks))]
    else:
        k, v, kv_lens = case.padded_kv(lk=max(case.kv_lens) + 2)
        keys_of = [(s, slice(0, n)) for s, n in enumerate(case.kv_lens)]
    operands = {}
    if keys == "padded":
        operands["kv_lens"] = kv_lens
    if queries == "padded":
        operands["q_lens"] = np.array(case.q_lens, np.int32)
    if queries == "packed":
        operands["cu_seqlens_q"] = cu_q
    if keys == "packed":
        operands["cu_seqlens_k"] = cu_k
    return q, k, v, operands, rows_of, keys_of, q_tail


def spec(name, hq, hkv, d, dv, operands, attrs, dtype="f32", entropy=False):
    text = serving_spec(name, hq, hkv, d, dv, list(operands), attrs, dtype,
                        packed_q="cu_seqlens_q" in operands,
                        packed_k="cu_seqlens_k" in operands, entropy=entropy)
    return text.replace(") {\n", ") attributes {mha.backward} {\n", 1)


SHAPES = {"gqa": (4, 2, 16, 24), "whole": (4, 4, 16, 32), "long": (2, 1, 32, 32),
          "ent": (4, 2, 16, 16)}
QUERY_OPERANDS = {"packed": ["cu_seqlens_q"], "padded": ["q_lens"]}
KEY_OPERANDS = {"packed": ["cu_seqlens_k"], "padded": ["kv_lens"]}


# (attributes, queries, keys): every attribute set in two layouts, every
# layout (packed, padded, packed queries with padded keys) with several.
GQA_CASES = [(0, "packed", "packed"), (0, "padded", "padded"),
             (1, "packed", "packed"), (1, "packed", "padded"),
             (2, "padded", "padded"), (2, "packed", "packed"),
             (3, "packed", "padded"), (3, "padded", "padded")]
WHOLE_HEAD_CASES = [(2, "packed", "packed"), (3, "padded", "padded")]


DROPOUT = "causal, dropout = array<f32: 0.3, 0.5, 0.0, 0.7>"
DROPOUT_LAYOUTS = {"dense": [], "padded": ["kv_lens", "q_lens"],
                   "packed": ["cu_seqlens_q", "cu_seqlens_k"]}


def function_name(shape, attrs, queries, keys, dtype="f32", entropy=False):
    return f"{shape}_{attrs}_{queries}_{keys}_{dtype}" + ("_ent" if entropy else "")


@pytest.fixture(scope="module")
def lib():
    """Every function the tests call, in one library."""
    configs = [("gqa", a, queries, keys, "f32", False)
               for a, queries, keys in GQA_CASES]
    configs += [("whole", a, queries, keys, "f32", False)
                for a, queries, keys in WHOLE_HEAD_CASES]
    configs += [("whole", a, queries, keys, "bf16", False)
                for a, queries, keys in WHOLE_HEAD_CASES]
    configs += [("long", 0, "packed", "packed", "f32", False),
                ("ent", 2, "packed", "packed", "f32", True),
                ("ent", 0, "padded", "padded", "f32", True),
                ("ent", 0, "packed", "packed", "f16", False)]
    texts = []
    for shape, a, queries, keys, dtype, entropy in configs:
        operands = [n for n in ("kv_lens", "q_lens", "cu_seqlens_q", "cu_seqlens_k")
                    if n in KEY_OPERANDS[keys] + QUERY_OPERANDS[queries]]
        texts.append(spec(function_name(shape, a, queries, keys, dtype, entropy),
                          *SHAPES[shape], operands, ATTRS[a][1], dtype, entropy))
    for layout, operands in DROPOUT_LAYOUTS.items():
        texts.append(spec(f"drop_{layout}", 4, 2, 16, 16, operands, DROPOUT))
    return mha.compile("\n".join(texts))


def run_case(lib, shape, case, attrs, queries, keys, dtype="f32", entropy=False,
             tol=1e-4, threads=(2,)):
    q, k, v, operands, rows_of, keys_of, q_tail = layouts(case, queries, keys)
    name = function_name(shape, attrs, queries, keys, dtype, entropy)
    attr_dict = ATTRS[attrs][0]
    lens = list(operands.values())
    nres = 3 if entropy else 2
    outs = [np.full(q.shape[:3] + (case.dv,), np.nan, q.dtype),
            np.full(q.shape[:3], np.nan, np.float32)]
    if entropy:
        outs.append(np.full(q.shape[:3], np.nan, np.float32))
    Library(lib.path).function(name, 3 + len(lens) + nres)(q, k, v, *lens, *outs,
                                                            num_threads=2)
    o, lse = outs[0], outs[1]
    dout = RNG.standard_normal(o.shape).astype(q.dtype)
    dent = RNG.standard_normal(lse.shape).astype(np.float32) if entropy else None
    douts = [dout[b, :, r].astype(np.float64) for b, r in rows_of]
    dents = [dent[b, :, r].astype(np.float64) for b, r in rows_of] if entropy else None
    params = semantics.normalise(attr_dict, case.hq, case.d)
    want = reference_grads(case, params, douts, dents)
    inputs = [q, k, v, *lens, o, lse, dout] + ([dent] if entropy else [])
    results = [call(lib, name + "_backward", inputs, [q, k, v], t) for t in threads]
    for got in results[1:]:  # the same bytes for any thread count
        for a, b in zip(got, results[0]):
            assert np.array_equal(a, b, equal_nan=True)
    dq, dk, dv = results[0]
    for s, (wq, wk, wv) in enumerate(want):
        (qb, qr), (kb, kr) = rows_of[s], keys_of[s]
        for got, ref, what in ((dq[qb, :, qr], wq, "dq"), (dk[kb, :, kr], wk, "dk"),
                               (dv[kb, :, kr], wv, "dv")):
            got = got.astype(np.float64)
            assert not np.isnan(got).any(), (s, what)
            assert reference.rel_err(got, ref) < tol, (s, what, reference.rel_err(got, ref))
    # Padding rows and keys: zeros, written.
    covered_q = np.zeros(dq.shape[:3], bool)
    for b, r in rows_of:
        covered_q[b, :, r] = True
    assert (dq[~covered_q] == 0).all()
    covered_k = np.zeros(dk.shape[:3], bool)
    for b, r in keys_of:
        covered_k[b, :, r] = True
    assert (dk[~covered_k] == 0).all() and (dv[~covered_k] == 0).all()
    if q_tail is not None:
        assert q_tail[1].stop > q_tail[1].start  # the test has such rows


LENGTHS = [([5, 0, 9, 3], [7, 4, 0, 11]),  # an empty query, an empty key set
           ([1, 17, 2], [30, 9, 2])]       # Lq > Lk, one row, several tiles


@pytest.mark.parametrize("attrs,queries,keys", GQA_CASES)
def test_gradients_of_each_sequence(lib, attrs, queries, keys):
    q_lens, kv_lens = LENGTHS[attrs % 2]
    run_case(lib, "gqa", Case(4, 2, 16, 24, q_lens, kv_lens), attrs, queries, keys)


@pytest.mark.parametrize("attrs,queries,keys", WHOLE_HEAD_CASES)
def test_whole_head_items_and_thread_counts(lib, attrs, queries, keys):
    """f32 with D, Dv multiples of 16 and 4 KV heads: the key items own
    whole KV heads and write dq; 1, 2 and 3 threads give the same bytes."""
    case = Case(4, 4, 16, 32, [70, 0, 33, 130], [90, 5, 0, 130])
    run_case(lib, "whole", case, attrs, queries, keys, threads=(1, 2, 3))


@pytest.mark.parametrize("attrs,queries,keys", WHOLE_HEAD_CASES)
def test_bf16_whole_head_items_over_sequences(lib, attrs, queries, keys):
    """bf16 with D, Dv multiples of 16 and 4 KV heads: the key items own
    whole KV heads and sum each sequence's dq in the runtime's f32
    temporary (on vdpbf16ps pairs where the CPU has AVX512-BF16), then
    narrow it; 1, 2 and 3 threads give the same bytes."""
    bf16 = pytest.importorskip("ml_dtypes").bfloat16
    case = Case(4, 4, 16, 32, [70, 0, 33, 130], [90, 5, 0, 130], dtype=bf16)
    run_case(lib, "whole", case, attrs, queries, keys, dtype="bf16", tol=2e-2,
             threads=(1, 2, 3))


def test_long_sequences_split_into_tiles(lib):
    case = Case(2, 1, 32, 32, [150, 64, 129], [200, 64, 100])
    run_case(lib, "long", case, 0, "packed", "packed")


def test_entropy_gradient(lib):
    case = Case(4, 2, 16, 16, [6, 0, 11], [9, 3, 11])
    run_case(lib, "ent", case, 2, "packed", "packed", entropy=True)
    run_case(lib, "ent", case, 0, "padded", "padded", entropy=True)


def test_half_precision(lib):
    case = Case(4, 2, 16, 16, [7, 12, 3], [9, 12, 20], dtype=np.float16)
    run_case(lib, "ent", case, 0, "packed", "packed", dtype="f16", tol=2e-2)


def test_bad_offsets_write_nothing(lib):
    case = Case(4, 2, 16, 24, [4, 6], [5, 6])
    q, k, v, operands, _, _, _ = layouts(case, "packed", "packed")
    o = np.zeros(q.shape[:3] + (24,), np.float32)
    lse = np.zeros(q.shape[:3], np.float32)
    cu_q = operands["cu_seqlens_q"].copy()
    cu_q[2] = cu_q[1] - 1  # decreasing
    grads = [np.full(x.shape, 7.0, np.float32) for x in (q, k, v)]
    with pytest.raises(MhaError, match=r"'cu_seqlens_q'\[2\] is .*, less than \[1\]"):
        Library(lib.path).function("gqa_0_packed_packed_f32_backward", 11)(
            q, k, v, cu_q, operands["cu_seqlens_k"], o, lse, o, *grads)
    assert all((g == 7.0).all() for g in grads)


def test_paged_keys_have_no_backward():
    text = spec("f", 2, 2, 16, 16, ["kv_lens", "block_table"], "causal")
    with pytest.raises(mha.Error, match="paged caches are for inference"):
        mha.compile(text)


def test_torch_autograd_over_packed_sequences(lib):
    """mha.torch's op of a packed function trains: autograd calls its
    backward with the offsets, which get no gradient."""
    ops = mha.torch.register(lib)
    case = Case(4, 2, 16, 24, [5, 9], [7, 11])
    q, k, v, operands, rows_of, keys_of, _ = layouts(case, "packed", "packed")
    q, k, v = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
    cu_q, cu_k = (torch.from_numpy(operands[n]) for n in ("cu_seqlens_q", "cu_seqlens_k"))
    o, _ = ops.gqa_0_packed_packed_f32(q, k, v, cu_q, cu_k)
    dout = torch.randn_like(o)
    dq, dk, dv = torch.autograd.grad((o * dout).sum(), (q, k, v))
    params = semantics.normalise(ATTRS[0][0], 4, 16)
    want = reference_grads(case, params,
                           [dout[b, :, r].double().numpy() for b, r in rows_of], None)
    for s, (wq, wk, wv) in enumerate(want):
        (qb, qr), (kb, kr) = rows_of[s], keys_of[s]
        assert reference.rel_err(dq[qb, :, qr].double().numpy(), wq) < 1e-4
        assert reference.rel_err(dk[kb, :, kr].double().numpy(), wk) < 1e-4
        assert reference.rel_err(dv[kb, :, kr].double().numpy(), wv) < 1e-4


def test_dropout_masks_follow_each_sequence(lib):
    """Dropout draws sequence s's mask from stream s * Hq + h at the
    positions within the sequence: a padded and a packed batch give the
    results and gradients of the dense batch of the same sequences (whose
    masks the dropout tests check bit for bit), and of each other when the
    sequences' lengths differ."""
    opts = _dlpack.options(num_threads=2)
    opts.dropout_seed, opts.dropout_offset = 12345, 3

    def run(layout, case):
        queries = keys = "packed" if layout == "packed" else "padded"
        q, k, v, operands, rows_of, keys_of, _ = layouts(case, queries, keys)
        if layout == "dense":
            q, k, v = (x[:, :, :n] for x, n in ((q, case.q_lens[0]), (k, case.kv_lens[0]),
                                                (v, case.kv_lens[0])))
            q, k, v = (np.ascontiguousarray(x) for x in (q, k, v))
            operands = {}
        lens = list(operands.values())
        f = Library(lib.path).function(f"drop_{layout}", 5 + len(lens))
        o = np.full(q.shape[:3] + (16,), np.nan, np.float32)
        lse = np.full(q.shape[:3], np.nan, np.float32)
        f.prepare([q, k, v, *lens, o, lse], opts).run()
        dout = np.ones_like(o)
        grads = [np.full(x.shape, np.nan, np.float32) for x in (q, k, v)]
        Library(lib.path).function(f"drop_{layout}_backward", 9 + len(lens)).prepare(
            [q, k, v, *lens, o, lse, dout, *grads], opts).run()
        dq, dk, dv = grads
        return [(o[b, :, r], dq[b, :, r]) for b, r in rows_of] + \
            [(dk[b, :, r], dv[b, :, r]) for b, r in keys_of]

    same = Case(4, 2, 16, 16, [9, 9], [9, 9])
    dense = run("dense", same)
    for layout in ("padded", "packed"):
        for got, want in zip(run(layout, same), dense):
            for a, b in zip(got, want):
                assert np.allclose(a, b, atol=1e-6), layout
    ragged = Case(4, 2, 16, 16, [5, 12, 0], [7, 12, 3])
    for got, want in zip(run("packed", ragged), run("padded", ragged)):
        for a, b in zip(got, want):
            assert np.allclose(a, b, atol=1e-6)


def test_fuzzed_offsets_and_lengths(lib):
    """Random offsets and lengths, valid or not: a bad one is refused with
    every gradient byte as it was; a good one writes every element, with
    zeros for rows and keys of no sequence."""
    rng = np.random.default_rng(5)
    f = Library(lib.path).function("gqa_0_packed_packed_f32_backward", 11)
    g = Library(lib.path).function("gqa_0_padded_padded_f32_backward", 11)
    for trial in range(60):
        S, tq, tk = int(rng.integers(0, 4)), int(rng.integers(0, 40)), int(rng.integers(0, 40))
        packed = trial % 2 == 0

        def draw(total, n):
            v = np.sort(rng.integers(0, total + 1, n)).astype(np.int32)
            if rng.random() < 0.3 and n:  # often invalid: any values at all
                v = rng.integers(-3, total + 5, n).astype(np.int32)
            return v
        if packed:
            q = rng.standard_normal((1, 4, tq, 16)).astype(np.float32)
            k = rng.standard_normal((1, 2, tk, 16)).astype(np.float32)
            lens = [draw(tq, S + 1), draw(tk, S + 1)]
            if rng.random() < 0.7:
                lens[0][0] = lens[1][0] = 0
        else:
            q = rng.standard_normal((S, 4, tq, 16)).astype(np.float32)
            k = rng.standard_normal((S, 2, tk, 16)).astype(np.float32)
            lens = [draw(tk, S), draw(tq, S)]  # kv_lens, q_lens
        v = rng.standard_normal(k.shape[:3] + (24,)).astype(np.float32)
        o = rng.standard_normal(q.shape[:3] + (24,)).astype(np.float32)
        lse = rng.standard_normal(q.shape[:3]).astype(np.float32)
        grads = [np.full(x.shape, np.nan, np.float32) for x in (q, k, v)]
        try:
            (f if packed else g)(q, k, v, *lens, o, lse, o, *grads)
        except MhaError:
            assert all(np.isnan(x).all() for x in grads), trial
            continue
        assert not any(np.isnan(x).any() for x in grads), trial


def test_jax_grad_over_padded_sequences(lib):
    """mha.jax: a padded function is a custom_vjp whose backward takes the
    lengths (no gradient for them), under jax.jit(jax.grad)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import mha.jax as mj
    fns = mj.register(lib)
    case = Case(4, 2, 16, 24, [5, 9], [7, 11])
    q, k, v, operands, rows_of, keys_of, _ = layouts(case, "padded", "padded")
    lens = [operands["kv_lens"], operands["q_lens"]]
    dout = RNG.standard_normal(q.shape[:3] + (24,)).astype(np.float32)

    def loss(q, k, v):
        o, lse = fns.gqa_0_padded_padded_f32(q, k, v, *lens)
        return jnp.sum(o * dout) + 0 * jnp.sum(jax.lax.stop_gradient(lse))
    dq, dk, dv = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)
    params = semantics.normalise(ATTRS[0][0], 4, 16)
    want = reference_grads(case, params, [dout[b, :, r].astype(np.float64)
                                          for b, r in rows_of], None)
    for s, (wq, wk, wv) in enumerate(want):
        (qb, qr), (kb, kr) = rows_of[s], keys_of[s]
        assert reference.rel_err(np.asarray(dq)[qb, :, qr], wq) < 1e-4
        assert reference.rel_err(np.asarray(dk)[kb, :, kr], wk) < 1e-4
        assert reference.rel_err(np.asarray(dv)[kb, :, kr], wv) < 1e-4


def test_the_language_reference_example_runs():
    """docs/language.md 7.1's varlen spec, as written there: its backward
    on two packed sequences equals float64 autograd of each alone."""
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "language.md")
    text = open(path).read()
    start = text.index("func.func @varlen(")
    lib = mha.compile(text[start:text.index("\n}\n", start) + 3])
    case = Case(8, 2, 64, 64, [6, 11], [9, 11])
    q, k, v, operands, rows_of, keys_of, _ = layouts(case, "packed", "packed")
    cq, ck = operands["cu_seqlens_q"], operands["cu_seqlens_k"]
    o, lse = lib.varlen(q, k, v, cq, ck)
    dout = RNG.standard_normal(o.shape).astype(np.float32)
    dq, dk, dv = lib.varlen_backward(q, k, v, cq, ck, o, lse, dout)
    want = reference_grads(case, semantics.normalise({"causal": True}, 8, 64),
                           [dout[b, :, r].astype(np.float64) for b, r in rows_of], None)
    for s, (wq, wk, wv) in enumerate(want):
        (qb, qr), (kb, kr) = rows_of[s], keys_of[s]
        assert reference.rel_err(dq[qb, :, qr], wq) < 1e-4
        assert reference.rel_err(dk[kb, :, kr], wk) < 1e-4
        assert reference.rel_err(dv[kb, :, kr], wv) < 1e-4
