"""Serving tensors of mha.attention on the CPU (docs/language.md 4.6):
kv_lens, q_lens, paged K/V with block tables, packed (ragged) sequences
with cu_seqlens, alone and combined with the masks and score modifiers.
Every call is checked against the float64 reference built from each
sequence's own unpaged, unpadded tensors; every output element must be
written (outputs start as NaN); a bad index must fail naming the tensor and
element and leave every output byte as it was.

    pytest python/tests/test_serving.py
"""
import re

import numpy as np
import pytest

import mha
from mha import _dlpack, reference, semantics
from mha._library import Library, MhaError

RNG = np.random.default_rng(7)


def serving_spec(name, hq, hkv, d, dv, operands, attrs="", dtype="f32",
                 packed_q=False, packed_k=False, entropy=False, lq="?"):
    """One mha.attention function with the given serving operands (names
    in SPEC.md's order) as arguments after q, k, v; returns o and lse (and
    entropy). `lq`: q's rows per head, static or `?`."""
    qb = "1" if packed_q else "?"
    kb = "1" if packed_k else "?"
    q, o = f"tensor<{qb}x{hq}x{lq}x{d}x{dtype}>", f"tensor<{qb}x{hq}x{lq}x{dv}x{dtype}>"
    k, v = f"tensor<{kb}x{hkv}x?x{d}x{dtype}>", f"tensor<{kb}x{hkv}x?x{dv}x{dtype}>"
    lse = f"tensor<{qb}x{hq}x{lq}xf32>"
    types = {"kv_lens": "tensor<?xi32>", "q_lens": "tensor<?xi32>",
             "block_table": "tensor<?x?xi32>", "cu_seqlens_q": "tensor<?xi32>",
             "cu_seqlens_k": "tensor<?xi32>"}
    args = "".join(f", %{n}: {types[n]}" for n in operands)
    uses = " ".join(f"{n}(%{n} : {types[n]})" for n in operands)
    flags = [a for a in (attrs, "return_lse", "return_entropy" if entropy else "") if a]
    results = [o, lse] + ([lse] if entropy else [])
    values = "%o, %lse" + (", %ent" if entropy else "")
    return f"""
func.func @{name}(%q: {q}, %k: {k}, %v: {v}{args}) -> ({", ".join(results)}) {{
  {values} = mha.attention %q, %k, %v {uses} {{{", ".join(flags)}}}
      : {q}, {k}, {v} -> {", ".join(results)}
  return {values} : {", ".join(results)}
}}
"""


def entropy_ref(q, k, v, params):
    """Shannon entropy per row (float64), 0 for rows without a visible key."""
    B, hq, lq, _ = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    g = hq // hkv
    _, lse, alive = reference.attention(q, k, v, params)
    ent = np.zeros((B, hq, lq))
    for h in range(hq):
        if not alive[h] or lk == 0 or lq == 0:
            continue
        s = np.matmul(q[:, h].astype(np.float64),
                      k[:, h // g].astype(np.float64).transpose(0, 2, 1))
        s = s * params["scale"] / params["temperature"][h]
        if params["softcap"] is not None:
            s = params["softcap"] * np.tanh(s / params["softcap"])
        i = np.arange(lq).reshape(-1, 1)
        j = np.arange(lk).reshape(1, -1)
        s = s - params["alibi_slopes"][h] * np.abs(i + lk - lq - j)
        vis = reference.visible_rows(params, h, lq, lk)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(vis, np.exp(s - lse[:, h, :, None]), 0.0)
            ent[:, h] = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)
    return ent


class Case:
    """A batch of sequences: per-sequence q [Hq, Lq_s, D], k [Hkv, Lk_s, D],
    v [Hkv, Lk_s, Dv] and the tensors a call passes for them."""

    def __init__(self, hq, hkv, d, dv, q_lens, kv_lens, dtype=np.float32):
        self.hq, self.hkv, self.d, self.dv = hq, hkv, d, dv
        self.q_lens, self.kv_lens = list(q_lens), list(kv_lens)
        self.dtype = dtype
        self.qs = [RNG.standard_normal((hq, n, d)).astype(dtype) for n in q_lens]
        self.ks = [RNG.standard_normal((hkv, n, d)).astype(dtype) for n in kv_lens]
        self.vs = [RNG.standard_normal((hkv, n, dv)).astype(dtype) for n in kv_lens]

    def reference(self, attrs, entropy=False):
        params = semantics.normalise(attrs, self.hq, self.d)
        out = []
        for q, k, v in zip(self.qs, self.ks, self.vs):
            o, lse, _ = reference.attention(q[None], k[None], v[None], params)
            ent = entropy_ref(q[None], k[None], v[None], params) if entropy else None
            out.append((o[0], lse[0], None if ent is None else ent[0]))
        return out

    # Layouts of the queries.
    def padded_q(self, lq=None):
        lq = lq or max(self.q_lens + [1])
        q = np.full((len(self.qs), self.hq, lq, self.d), np.nan, self.dtype)
        for s, x in enumerate(self.qs):
            q[s, :, :x.shape[1]] = x
        return q

    def packed_q(self, extra_rows=0):
        total = sum(self.q_lens) + extra_rows
        q = np.full((1, self.hq, total, self.d), np.nan, self.dtype)
        cu = np.zeros(len(self.qs) + 1, np.int32)
        for s, x in enumerate(self.qs):
            cu[s + 1] = cu[s] + x.shape[1]
            q[0, :, cu[s]:cu[s + 1]] = x
        q[0, :, cu[-1]:] = RNG.standard_normal((self.hq, extra_rows, self.d))
        return q, cu

    # Layouts of the keys and values.
    def padded_kv(self, lk=None):
        lk = lk or max(self.kv_lens + [1])
        k = RNG.standard_normal((len(self.ks), self.hkv, lk, self.d)).astype(self.dtype)
        v = RNG.standard_normal((len(self.vs), self.hkv, lk, self.dv)).astype(self.dtype)
        for s, (x, y) in enumerate(zip(self.ks, self.vs)):
            k[s, :, :x.shape[1]] = x
            v[s, :, :y.shape[1]] = y
        return k, v, np.array(self.kv_lens, np.int32)

    def packed_kv(self):
        cu = np.concatenate([[0], np.cumsum(self.kv_lens)]).astype(np.int32)
        k = np.concatenate([x for x in self.ks], axis=1)[None]
        v = np.concatenate([y for y in self.vs], axis=1)[None]
        return np.ascontiguousarray(k), np.ascontiguousarray(v), cu

    def paged_kv(self, page_size, spare_pages=3, vllm_layout=False, share=False):
        """Page pools in a random page order with spare (garbage) pages;
        with `share`, sequence 1 reuses sequence 0's first page (their
        first page_size keys made equal). Unused table entries are -1."""
        share = share and len(self.ks) > 1 and min(self.kv_lens[:2]) >= page_size
        if share:
            for x in (self.ks, self.vs):
                x[1][:, :page_size] = x[0][:, :page_size]
        need = [(n + page_size - 1) // page_size for n in self.kv_lens]
        max_pages = max(need + [1]) + 1
        pages = sum(need) + spare_pages
        order = list(RNG.permutation(pages))
        table = np.full((len(self.ks), max_pages), -1, np.int32)
        kp = RNG.standard_normal((pages, page_size, self.hkv, self.d)).astype(self.dtype)
        vp = RNG.standard_normal((pages, page_size, self.hkv, self.dv)).astype(self.dtype)
        for s, (x, y) in enumerate(zip(self.ks, self.vs)):
            for p in range(need[s]):
                page = order.pop()
                if share and s == 1 and p == 0 and table[0, 0] >= 0:
                    page = table[0, 0]
                table[s, p] = page
                keys = slice(p * page_size, min((p + 1) * page_size, x.shape[1]))
                n = keys.stop - keys.start
                kp[page, :n] = x[:, keys].transpose(1, 0, 2)
                vp[page, :n] = y[:, keys].transpose(1, 0, 2)
        if vllm_layout:  # [pages, page_size, Hkv, D] passed as a view
            return kp.transpose(0, 2, 1, 3), vp.transpose(0, 2, 1, 3), table
        return (np.ascontiguousarray(kp.transpose(0, 2, 1, 3)),
                np.ascontiguousarray(vp.transpose(0, 2, 1, 3)), table)


def call(lib, name, inputs, out_shapes, threads=2):
    """Calls `name` with caller-allocated outputs that start as NaN;
    returns them."""
    outs = [np.full(s, np.nan, np.float32 if i else inputs[0].dtype)
            for i, s in enumerate(out_shapes)]
    Library(lib.path).function(name, len(inputs) + len(outs))(
        *inputs, *outs, num_threads=threads)
    return outs


def check_rows(o, lse, ent, ref, rows_of, tol):
    """o [Hq, rows, Dv], lse [Hq, rows] of each sequence s at rows_of(s)
    against the reference; lse -inf exactly where the reference has it."""
    for s, (ro, rl, re_) in enumerate(ref):
        got_o, got_l = o[rows_of(s)], lse[rows_of(s)]
        assert not np.isnan(got_o).any() and not np.isnan(got_l).any(), s
        assert reference.rel_err(got_o, ro) < tol, (s, reference.rel_err(got_o, ro))
        finite = np.isfinite(rl)
        assert np.array_equal(np.isfinite(got_l), finite), s
        assert np.allclose(got_l[finite], rl[finite], rtol=tol, atol=tol), s
        if re_ is not None:
            assert np.allclose(ent[rows_of(s)], re_, atol=1e-4), s


ATTRS = [
    ({"causal": True}, "causal"),
    ({}, ""),
    ({"causal": True, "window_left": [3, -1, 8, -1], "sink_tokens": 2},
     "causal, window_left = array<i64: 3, -1, 8, -1>, sink_tokens = 2"),
    ({"alibi_slopes": [0.5, 0.25, 0.125, 0.0625], "softcap": 20.0, "window_right": [4],
      "temperature": [1.0, 2.0, 0.5, 1.5], "head_mask": [True, True, False, True]},
     "alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>, softcap = 20.0 : f32, "
     "window_right = array<i64: 4>, temperature = array<f32: 1.0, 2.0, 0.5, 1.5>, "
     "head_mask = array<i1: true, true, false, true>"),
]


@pytest.fixture(scope="module")
def serving_lib(cache_dir):
    specs = []
    for i, (_, text) in enumerate(ATTRS):
        specs.append(serving_spec(f"kvlen{i}", 4, 2, 16, 8, ["kv_lens", "q_lens"], text,
                                  entropy=True))
        specs.append(serving_spec(f"paged{i}", 4, 2, 16, 8, ["kv_lens", "block_table"],
                                  text))
        specs.append(serving_spec(f"varlen{i}", 4, 2, 16, 8,
                                  ["cu_seqlens_q", "cu_seqlens_k"], text,
                                  packed_q=True, packed_k=True))
        specs.append(serving_spec(f"varpaged{i}", 4, 2, 16, 8,
                                  ["kv_lens", "block_table", "cu_seqlens_q"], text,
                                  packed_q=True))
    specs.append(serving_spec("mqa_paged", 4, 1, 24, 40, ["kv_lens", "block_table"],
                              "causal"))
    specs.append(serving_spec("varq_dense_k", 4, 4, 16, 16, ["kv_lens", "cu_seqlens_q"],
                              "causal", packed_q=True))
    return mha.compile("\n".join(specs))


@pytest.mark.parametrize("variant", range(len(ATTRS)))
def test_kv_lens_and_q_lens(serving_lib, variant):
    attrs = ATTRS[variant][0]
    # Empty sequences, Lq > Lk, a padded tile past several query tiles.
    case = Case(4, 2, 16, 8, q_lens=[5, 0, 9, 1, 3], kv_lens=[50, 7, 4, 0, 33])
    k, v, kv_lens = case.padded_kv(lk=61)
    q = case.padded_q(lq=11)
    q_lens = np.array(case.q_lens, np.int32)
    B = len(case.qs)
    o, lse, ent = call(serving_lib, f"kvlen{variant}", [q, k, v, kv_lens, q_lens],
                       [(B, 4, 11, 8), (B, 4, 11), (B, 4, 11)])
    ref = case.reference(attrs, entropy=True)
    check_rows(o, lse, ent, ref, lambda s: (s, slice(None), slice(0, case.q_lens[s])), 2e-5)
    for s, n in enumerate(case.q_lens):  # padding rows: no visible key
        assert np.all(o[s, :, n:] == 0) and np.all(lse[s, :, n:] == -np.inf)
        assert np.all(ent[s, :, n:] == 0)


@pytest.mark.parametrize("page_size", [1, 16, 256, 7])
@pytest.mark.parametrize("variant", range(len(ATTRS)))
def test_paged(serving_lib, variant, page_size):
    attrs = ATTRS[variant][0]
    case = Case(4, 2, 16, 8, q_lens=[3, 3, 3, 3], kv_lens=[40, 23, 0, 300 if page_size == 256 else 2])
    k, v, table = case.paged_kv(page_size, vllm_layout=variant % 2 == 1, share=True)
    q = case.padded_q()
    kv_lens = np.array(case.kv_lens, np.int32)
    o, lse = call(serving_lib, f"paged{variant}", [q, k, v, kv_lens, table],
                  [(4, 4, 3, 8), (4, 4, 3)])
    check_rows(o, lse, None, case.reference(attrs), lambda s: (s,), 2e-5)


@pytest.mark.parametrize("variant", range(len(ATTRS)))
def test_varlen(serving_lib, variant):
    attrs = ATTRS[variant][0]
    # Sequences of 0 rows and of 0 keys; 3 packed rows past the last.
    case = Case(4, 2, 16, 8, q_lens=[17, 0, 1, 6, 40], kv_lens=[17, 5, 30, 0, 64])
    q, cu_q = case.packed_q(extra_rows=3)
    k, v, cu_k = case.packed_kv()
    o, lse = call(serving_lib, f"varlen{variant}", [q, k, v, cu_q, cu_k],
                  [(1, 4, q.shape[2], 8), (1, 4, q.shape[2])])
    rows = lambda s: (0, slice(None), slice(cu_q[s], cu_q[s + 1]))
    check_rows(o, lse, None, case.reference(attrs), rows, 2e-5)
    assert np.all(o[0, :, cu_q[-1]:] == 0) and np.all(lse[0, :, cu_q[-1]:] == -np.inf)


@pytest.mark.parametrize("page_size", [1, 16])
@pytest.mark.parametrize("variant", range(len(ATTRS)))
def test_varlen_paged(serving_lib, variant, page_size):
    attrs = ATTRS[variant][0]
    case = Case(4, 2, 16, 8, q_lens=[4, 1, 0, 9], kv_lens=[20, 33, 8, 9])
    q, cu_q = case.packed_q()
    k, v, table = case.paged_kv(page_size, share=True)
    kv_lens = np.array(case.kv_lens, np.int32)
    o, lse = call(serving_lib, f"varpaged{variant}", [q, k, v, kv_lens, table, cu_q],
                  [(1, 4, q.shape[2], 8), (1, 4, q.shape[2])])
    rows = lambda s: (0, slice(None), slice(cu_q[s], cu_q[s + 1]))
    check_rows(o, lse, None, case.reference(attrs), rows, 2e-5)


def test_mqa_paged_odd_dims_and_threads(serving_lib):
    case = Case(4, 1, 24, 40, q_lens=[1] * 6, kv_lens=[1, 130, 77, 0, 256, 19])
    k, v, table = case.paged_kv(16, vllm_layout=True)
    q = case.padded_q()
    kv_lens = np.array(case.kv_lens, np.int32)
    args = [q, k, v, kv_lens, table]
    shapes = [(6, 4, 1, 40), (6, 4, 1)]
    o1, l1 = call(serving_lib, "mqa_paged", args, shapes, threads=1)
    check_rows(o1, l1, None, case.reference({"causal": True}), lambda s: (s,), 2e-5)
    for t in (2, 3):  # the same bytes for any thread count
        o, l = call(serving_lib, "mqa_paged", args, shapes, threads=t)
        assert np.array_equal(o, o1) and np.array_equal(l, l1)


def test_varlen_queries_dense_keys(serving_lib):
    case = Case(4, 4, 16, 16, q_lens=[2, 7, 0], kv_lens=[9, 7, 3])
    q, cu_q = case.packed_q()
    k, v, kv_lens = case.padded_kv(lk=12)
    o, lse = call(serving_lib, "varq_dense_k", [q, k, v, kv_lens, cu_q],
                  [(1, 4, q.shape[2], 16), (1, 4, q.shape[2])])
    rows = lambda s: (0, slice(None), slice(cu_q[s], cu_q[s + 1]))
    check_rows(o, lse, None, case.reference({"causal": True}), rows, 2e-5)


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_precision_paged_varlen(cache_dir, dtype):
    lib = mha.compile(serving_spec("h", 4, 2, 32, 32, ["kv_lens", "block_table",
                                                      "cu_seqlens_q"],
                                   "causal, window_left = array<i64: 20>",
                                   dtype=dtype, packed_q=True))
    case = Case(4, 2, 32, 32, q_lens=[3, 1, 12], kv_lens=[70, 1, 12])
    q, cu_q = case.packed_q()
    k, v, table = case.paged_kv(16)
    kv_lens = np.array(case.kv_lens, np.int32)
    conv = (lambda x: x.astype(np.float16)) if dtype == "f16" else \
        (lambda x: reference.f32_to_bf16_bits(x).reshape(x.shape))
    back = (lambda x: x.astype(np.float32)) if dtype == "f16" else \
        (lambda x: reference.bf16_bits_to_f32(x).reshape(x.shape))
    # The reference sees the rounded inputs.
    for lst in (case.qs, case.ks, case.vs):
        for i, x in enumerate(lst):
            lst[i] = back(conv(x))
    q, cu_q = case.packed_q()
    k, v, table = case.paged_kv(16)
    o = np.zeros((1, 4, q.shape[2], 32), np.uint16 if dtype == "bf16" else np.float16)
    lse = np.full((1, 4, q.shape[2]), np.nan, np.float32)
    half = [_dlpack.from_numpy(x, dtype if dtype == "bf16" else None)
            for x in (conv(q), conv(k), conv(v))]
    Library(lib.path).function("h", 8)(*half, kv_lens, table, cu_q,
                                       _dlpack.from_numpy(o, "bf16" if dtype == "bf16" else None),
                                       lse)
    rows = lambda s: (0, slice(None), slice(cu_q[s], cu_q[s + 1]))
    check_rows(back(o), lse, None, case.reference({"causal": True, "window_left": [20]}),
               rows, 1e-2)


def test_high_level_call_allocates_outputs(serving_lib):
    case = Case(4, 2, 16, 8, q_lens=[2, 2], kv_lens=[5, 9])
    k, v, table = case.paged_kv(4)
    q = case.padded_q()
    o, lse = serving_lib.paged0(q, k, v, np.array(case.kv_lens, np.int32), table)
    check_rows(np.asarray(o), np.asarray(lse), None, case.reference({"causal": True}),
               lambda s: (s,), 2e-5)


# Bad indices: each a status naming the tensor and element, nothing written.
def bad_calls():
    def paged(mutate):
        case = Case(4, 2, 16, 8, q_lens=[2, 2], kv_lens=[20, 9])
        k, v, table = case.paged_kv(4, spare_pages=0)
        kv_lens = np.array(case.kv_lens, np.int32)
        args = dict(q=case.padded_q(), k=k, v=v, kv_lens=kv_lens, block_table=table)
        mutate(args)
        return "paged0", [args[n] for n in ("q", "k", "v", "kv_lens", "block_table")], \
            [(2, 4, 2, 8), (2, 4, 2)]

    def varlen(mutate):
        case = Case(4, 2, 16, 8, q_lens=[3, 4], kv_lens=[5, 6])
        q, cu_q = case.packed_q()
        k, v, cu_k = case.packed_kv()
        args = dict(q=q, k=k, v=v, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
        mutate(args)
        return "varlen0", [args[n] for n in ("q", "k", "v", "cu_seqlens_q",
                                             "cu_seqlens_k")], \
            [(1, 4, 7, 8), (1, 4, 7)]

    def kvlen(mutate):
        case = Case(4, 2, 16, 8, q_lens=[3, 4], kv_lens=[5, 6])
        k, v, kv_lens = case.padded_kv(lk=8)
        args = dict(q=case.padded_q(), k=k, v=v, kv_lens=kv_lens,
                    q_lens=np.array(case.q_lens, np.int32))
        mutate(args)
        return "kvlen0", [args[n] for n in ("q", "k", "v", "kv_lens", "q_lens")], \
            [(2, 4, 4, 8), (2, 4, 4), (2, 4, 4)]

    def setitem(name, index, value):
        def f(args):
            args[name] = args[name].copy()
            args[name][index] = value
        return f

    return [
        (paged, setitem("kv_lens", 1, 25), r"'kv_lens'\[1\] is 25 but must be in \[0, 24\] "
         r"\('block_table' \(block table\) holds 6 pages of 4 keys per sequence\)"),
        (paged, setitem("kv_lens", 1, 21), r"'block_table'\[1, 3\] is -1 but 'k' \(key\) "
         r"has 8 pages \(dim 0\)"),
        (paged, setitem("kv_lens", 0, -1), r"'kv_lens'\[0\] is -1"),
        # Valid: another sequence's page, an empty first sequence.
        (paged, setitem("block_table", (0, 4), 2), None),
        (paged, setitem("block_table", (1, 2), 99), r"'block_table'\[1, 2\] is 99 but 'k' "
         r"\(key\) has \d+ pages"),
        (paged, setitem("block_table", (0, 0), -1), r"'block_table'\[0, 0\] is -1"),
        (paged, lambda a: a.update(block_table=a["block_table"][:1]),
         r"'q' \(query\) dim 0 \(B\) is 2 but 'block_table' \(block table\) has 1"),
        (varlen, setitem("cu_seqlens_q", 0, 1), r"'cu_seqlens_q'\[0\] is 1 but must be 0"),
        (varlen, setitem("cu_seqlens_k", 1, 12), r"'cu_seqlens_k'\[1\] is 12, less than|"
         r"'cu_seqlens_k'\[1\] is 12 but"),
        (varlen, setitem("cu_seqlens_q", 2, 8), r"'cu_seqlens_q'\[2\] is 8 but 'q' \(query\) "
         r"dim 2 \(Lq\) is 7"),
        (varlen, setitem("cu_seqlens_q", 1, 0), None),
        (varlen, lambda a: a.update(cu_seqlens_k=a["cu_seqlens_k"][:2]),
         r"'cu_seqlens_k' \(key offsets\) has 2 entries but must have S \+ 1 = 3"),
        (kvlen, setitem("q_lens", 1, 5), r"'q_lens'\[1\] is 5 but must be in \[0, 4\]"),
        (kvlen, setitem("kv_lens", 0, 9), r"'kv_lens'\[0\] is 9 but must be in \[0, 8\] "
         r"\(the keys of 'k' \(key\) dim 2 \(Lk\)\)"),
        (kvlen, lambda a: a.update(kv_lens=a["kv_lens"].astype(np.int64)),
         r"'kv_lens' \(key lengths\) dtype is int64 but the spec expects int32"),
    ]


@pytest.mark.parametrize("make,mutate,message", bad_calls())
def test_bad_indices_write_nothing(serving_lib, make, mutate, message):
    name, inputs, shapes = make(mutate)
    outs = [np.full(s, 1234.5, np.float32) for s in shapes]
    f = Library(serving_lib.path).function(name, len(inputs) + len(outs))
    if message is None:  # still a valid call: it computes every output
        f(*inputs, *outs, num_threads=2)
        assert all(np.all(x != 1234.5) for x in outs)
        return
    with pytest.raises(MhaError) as e:
        f(*inputs, *outs, num_threads=2)
    assert re.search(message, e.value.message), e.value.message
    assert e.value.message.startswith(name + ":"), e.value.message
    for x in outs:
        assert np.all(x == 1234.5)


def test_fuzzed_tables_never_crash(serving_lib):
    """Random lengths and page numbers, valid or not: each call fails
    cleanly or matches the reference."""
    for trial in range(40):
        case = Case(4, 2, 16, 8, q_lens=[2, 2, 2], kv_lens=list(RNG.integers(0, 40, 3)))
        k, v, table = case.paged_kv(int(RNG.integers(1, 9)), spare_pages=1)
        kv_lens = np.array(case.kv_lens, np.int32)
        if trial % 2:
            table = table.copy()
            table.flat[RNG.integers(0, table.size)] = RNG.integers(-3, k.shape[0] + 3)
        if trial % 3 == 0:
            kv_lens = kv_lens.copy()
            kv_lens[RNG.integers(0, 3)] = RNG.integers(-2, 80)
        outs = [np.full((3, 4, 2, 8), 7.0, np.float32), np.full((3, 4, 2), 7.0, np.float32)]
        f = Library(serving_lib.path).function("paged0", 7)
        try:
            f(case.padded_q(), k, v, kv_lens, table, *outs)
        except MhaError as e:
            assert re.search(r"'(kv_lens|block_table)'\[", e.message), e.message
            assert all(np.all(x == 7.0) for x in outs)


@pytest.fixture(scope="module")
def decode_lib(cache_dir):
    # Group items (docs/language.md 4.6): GQA 8:2 and MQA 8:1 whose heads of
    # a group share every parameter; a window per group.
    return mha.compile(
        serving_spec("gqa_decode", 8, 2, 32, 32, ["kv_lens"],
                     "causal, window_left = array<i64: 40, 40, 40, 40, -1, -1, -1, -1>, "
                     "sink_tokens = 3", entropy=True) +
        serving_spec("mqa_decode", 8, 1, 16, 16, ["kv_lens", "block_table"], "causal"))


@pytest.mark.parametrize("lq", [1, 4, 9])
def test_group_items(decode_lib, lq):
    """Rows of every head of a group computed as one tile (G x Lq <= 64),
    and as separate heads once they no longer fit (Lq = 9 with 8 heads)."""
    attrs = {"causal": True, "window_left": [40] * 4 + [-1] * 4, "sink_tokens": 3}
    case = Case(8, 2, 32, 32, q_lens=[lq, lq - 1, lq], kv_lens=[300, 0, 77])
    k, v, kv_lens = case.padded_kv()
    q = case.padded_q(lq=lq)
    B = len(case.qs)
    o, lse, ent = call(decode_lib, "gqa_decode", [q, k, v, kv_lens],
                       [(B, 8, lq, 32), (B, 8, lq), (B, 8, lq)])
    ref = case.reference(attrs, entropy=True)
    check_rows(o, lse, ent, ref, lambda s: (s, slice(None), slice(0, case.q_lens[s])), 2e-5)
    case = Case(8, 1, 16, 16, q_lens=[lq] * 2, kv_lens=[129, 16])
    k, v, table = case.paged_kv(16)
    o, lse = call(decode_lib, "mqa_decode",
                  [case.padded_q(), k, v, np.array(case.kv_lens, np.int32), table],
                  [(2, 8, lq, 16), (2, 8, lq)])
    check_rows(o, lse, None, case.reference({"causal": True}), lambda s: (s,), 2e-5)


def test_group_items_with_a_runtime_head_mask(decode_lib):
    """A runtime head mask may tell a group's heads apart: its heads are
    computed one by one, the ablated ones give zeros."""
    attrs = {"causal": True, "window_left": [40] * 4 + [-1] * 4, "sink_tokens": 3}
    case = Case(8, 2, 32, 32, q_lens=[1, 1], kv_lens=[200, 9])
    k, v, kv_lens = case.padded_kv()
    q = case.padded_q()
    mask = [1, 0, 1, 1, 0, 0, 0, 1]
    o = np.full((2, 8, 1, 32), np.nan, np.float32)
    lse, ent = (np.full((2, 8, 1), np.nan, np.float32) for _ in range(2))
    Library(decode_lib.path).function("gqa_decode", 7)(q, k, v, kv_lens, o, lse, ent,
                                                         head_mask=mask)
    ref = case.reference(attrs)
    for s, (ro, rl, _) in enumerate(ref):
        for h in range(8):
            if mask[h]:
                assert reference.rel_err(o[s, h], ro[h]) < 2e-5
                assert np.allclose(lse[s, h], rl[h], rtol=2e-5)
            else:
                assert np.all(o[s, h] == 0) and np.all(ent[s, h] == 0)


@pytest.fixture(scope="module")
def one_row_lib(cache_dir):
    """Functions of one static query row per head: mha-tile emits no masked
    steps for them (one position sees each tile of its key ranges whole)
    and only the score methods of that many rows (docs/language.md 9)."""
    specs = [serving_spec(f"one{i}", 4, 2, 16, 8, ["kv_lens", "q_lens"], text, lq=1)
             + serving_spec(f"one_paged{i}", 4, 2, 16, 8, ["kv_lens", "block_table"],
                            text, lq=1)
             for i, (_, text) in enumerate(ATTRS)]
    specs.append(serving_spec("one_gqa", 8, 2, 32, 32, ["kv_lens"],
                              "causal, window_left = array<i64: 40, 40, 40, 40, -1, -1, -1, -1>, "
                              "sink_tokens = 3", entropy=True, lq=1))
    return mha.compile("\n".join(specs))


# Keys of several tiles (128 each), of one, none; fewer than a window or
# the sinks.
ONE_ROW_KV_LENS = [300, 0, 1, 77, 5, 129, 2]


@pytest.mark.parametrize("variant", range(len(ATTRS)))
def test_one_static_row(one_row_lib, variant):
    attrs = ATTRS[variant][0]
    q_lens = [1, 1, 1, 0, 1, 1, 1]
    case = Case(4, 2, 16, 8, q_lens=q_lens, kv_lens=ONE_ROW_KV_LENS)
    k, v, kv_lens = case.padded_kv()
    B = len(q_lens)
    o, lse = call(one_row_lib, f"one{variant}",
                  [case.padded_q(lq=1), k, v, kv_lens, np.array(q_lens, np.int32)],
                  [(B, 4, 1, 8), (B, 4, 1)])
    check_rows(o, lse, None, case.reference(attrs),
               lambda s: (s, slice(None), slice(0, q_lens[s])), 2e-5)
    assert np.all(o[3] == 0) and np.all(lse[3] == -np.inf)  # q_lens 0


@pytest.mark.parametrize("page_size", [16, 7])
@pytest.mark.parametrize("variant", range(len(ATTRS)))
def test_one_static_row_paged(one_row_lib, variant, page_size):
    attrs = ATTRS[variant][0]
    case = Case(4, 2, 16, 8, q_lens=[1] * 7, kv_lens=ONE_ROW_KV_LENS)
    k, v, table = case.paged_kv(page_size, share=True)
    kv_lens = np.array(case.kv_lens, np.int32)
    o, lse = call(one_row_lib, f"one_paged{variant}", [case.padded_q(), k, v, kv_lens, table],
                  [(7, 4, 1, 8), (7, 4, 1)])
    check_rows(o, lse, None, case.reference(attrs), lambda s: (s,), 2e-5)


@pytest.mark.parametrize("head_mask", [None, [1, 0, 1, 1, 0, 0, 0, 1]])
def test_one_static_row_group_items(one_row_lib, head_mask):
    """Group items of one row per head (windows and sinks per group), and
    with a runtime head mask the heads one by one."""
    attrs = {"causal": True, "window_left": [40] * 4 + [-1] * 4, "sink_tokens": 3}
    case = Case(8, 2, 32, 32, q_lens=[1] * 7, kv_lens=ONE_ROW_KV_LENS)
    k, v, kv_lens = case.padded_kv()
    o = np.full((7, 8, 1, 32), np.nan, np.float32)
    lse, ent = (np.full((7, 8, 1), np.nan, np.float32) for _ in range(2))
    Library(one_row_lib.path).function("one_gqa", 7)(
        case.padded_q(), k, v, kv_lens, o, lse, ent, head_mask=head_mask, num_threads=2)
    alive = head_mask or [1] * 8
    for s, (ro, rl, re_) in enumerate(case.reference(attrs, entropy=True)):
        for h in range(8):
            if not alive[h]:
                assert np.all(o[s, h] == 0) and np.all(ent[s, h] == 0)
                continue
            assert reference.rel_err(o[s, h], ro[h]) < 2e-5, (s, h)
            assert np.allclose(lse[s, h], rl[h], rtol=2e-5), (s, h)
            assert np.allclose(ent[s, h], re_[h], atol=1e-4), (s, h)


def test_check_indices_changes_nothing_on_the_cpu():
    """mha_options.check_indices asks a GPU call for the CPU's checks; a
    CPU call always checks: the same results, the same refusal."""
    lib = mha.compile("""
func.func @decode(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                  %l: tensor<?xi32>) -> tensor<?x4x1x16xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) {causal}
     : tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}
""")
    q = RNG.standard_normal((3, 4, 1, 16)).astype(np.float32)
    k = RNG.standard_normal((3, 2, 20, 16)).astype(np.float32)
    v = RNG.standard_normal((3, 2, 20, 16)).astype(np.float32)
    lens = np.array([20, 0, 7], np.int32)
    np.testing.assert_array_equal(lib.decode(q, k, v, lens, check_indices=True),
                                  lib.decode(q, k, v, lens))
    lens[2] = 21
    for check in (False, True):
        with pytest.raises(mha.Error, match=r"'kv_lens'\[2\] is 21 but must be in \[0, 20\]"):
            lib.decode(q, k, v, lens, check_indices=check)
