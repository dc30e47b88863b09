"""The processes of test_ring.py: each rank of a gloo group runs every
ring-attention case and saves what it got (torch.save) for the test to
compare with one process's results. Kept apart from the test module so
that spawned processes import nothing of pytest.

Inputs are whole sequences drawn from one seed (the same on every rank
and in the test); each rank takes its rows with ring_shard.
"""
import datetime
import math
import os
import traceback

import torch
import torch.distributed as dist

from specs import attention_spec

B, D, DV = 2, 16, 8
SEED = 1234
DROPOUT = dict(dropout_seed=7, dropout_offset=3)


def _attrs(p):
    out = []
    if p.get("alibi_slopes"):
        out.append("alibi_slopes = array<f32: " + ", ".join(map(str, p["alibi_slopes"])) + ">")
    if p.get("causal"):
        out.append("causal")
    for key in ("window_left", "window_right"):
        if key in p:
            out.append(f"{key} = array<i64: " + ", ".join(map(str, p[key])) + ">")
    if p.get("sink_tokens"):
        out.append(f"sink_tokens = {p['sink_tokens']}")
    if p.get("dropout"):
        out.append("dropout = array<f32: " + ", ".join(map(str, p["dropout"])) + ">")
    return ", ".join(out)


# name -> Hq, Hkv, Dv and the attributes (per-head arrays with Hq values).
FUNCTIONS = {
    "plain": dict(hq=4, hkv=4, dv=D),
    "causal_gqa": dict(hq=4, hkv=2, dv=DV, causal=True),
    # Per-head windows with sinks and ALiBi: pairs far below the diagonal
    # are skipped, the sinks' chunk never is.
    "windows": dict(hq=4, hkv=2, dv=D, causal=True, alibi_slopes=[0.25, 0.0, 0.5, 0.125],
                    window_left=[3, 9, 0, 5], sink_tokens=2),
    # Sliding windows without sinks (window_right = 0 is causal) in the
    # plain layout: the ring stops before it closes.
    "local": dict(hq=2, hkv=2, dv=D, window_left=[4, 2], window_right=[0, 0]),
    # Windows on both sides (not causal): the blocks travel both ways.
    "two_sided": dict(hq=2, hkv=2, dv=D, window_left=[4, 2], window_right=[3, 5]),
    "dropout": dict(hq=4, hkv=2, dv=D, causal=True, dropout=[0.3, 0.0, 0.5, 0.1]),
}
SPEC = "".join(attention_spec(n, p["hq"], p["hkv"], D, p["dv"], attrs=_attrs(p),
                              backward=True)
               for n, p in FUNCTIONS.items()) + \
    attention_spec("nolse", 2, 2, D, lse=False)
COMPILE_OPTIONS = dict(isa="avx2")

# (function, balanced layout, ring_attention keywords)
CASES = {
    "plain": ("plain", True, {}),
    "causal_gqa": ("causal_gqa", True, {}),
    "windows": ("windows", True, {}),
    "windows_head_mask": ("windows", True, {"head_mask": [1, 0, 1, 1]}),
    "local": ("local", False, {}),
    "two_sided": ("two_sided", False, {}),
    "dropout": ("dropout", True, DROPOUT),
}


def inputs(name, length):
    """The whole sequence's q, k, v and dout of one case."""
    p = FUNCTIONS[CASES[name][0]]
    g = torch.Generator().manual_seed(SEED + sum(map(ord, name)))
    q = torch.randn(B, p["hq"], length, D, generator=g)
    k = torch.randn(B, p["hkv"], length, D, generator=g)
    v = torch.randn(B, p["hkv"], length, p["dv"], generator=g)
    dout = torch.randn(B, p["hq"], length, p["dv"], generator=g)
    return q, k, v, dout


def visible(fname, qs, lq, ks, lk, alive=None):
    """[Hq, lq, lk] bool: which keys at positions ks.. each head's queries at
    positions qs.. see (docs/language.md 6.1 with explicit positions)."""
    p = FUNCTIONS[fname]
    hq = p["hq"]
    i = torch.arange(qs, qs + lq).view(-1, 1)
    j = torch.arange(ks, ks + lk).view(1, -1)
    d = j - i
    masks = []
    for h in range(hq):
        vis = torch.ones_like(d, dtype=torch.bool)
        wl, wr = p.get("window_left", [-1] * hq)[h], p.get("window_right", [-1] * hq)[h]
        if wl >= 0:
            vis &= d >= -wl
        if wr >= 0:
            vis &= d <= wr
        if (wl >= 0 or wr >= 0) and p.get("sink_tokens"):
            vis |= j < p["sink_tokens"]
        if p.get("causal"):
            vis &= d <= 0
        if alive is not None and not alive[h]:
            vis &= False
        masks.append(vis)
    return torch.stack(masks)


def scores(fname, q, k, v, qs=0, ks=0):
    """The masked scores [B, Hq, lq, lk] (-inf where invisible) of a chunk
    at explicit positions, with k and v repeated to Hq heads (float64 torch,
    differentiable)."""
    p = FUNCTIONS[fname]
    hq, hkv = p["hq"], p["hkv"]
    k = k.repeat_interleave(hq // hkv, 1)
    v = v.repeat_interleave(hq // hkv, 1)
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    lq, lk = q.shape[2], k.shape[2]
    if p.get("alibi_slopes"):
        i = torch.arange(qs, qs + lq).view(-1, 1)
        j = torch.arange(ks, ks + lk).view(1, -1)
        slopes = torch.tensor(p["alibi_slopes"], dtype=s.dtype).view(hq, 1, 1)
        s = s - slopes * (i - j).abs()
    return s.masked_fill(~visible(fname, qs, lq, ks, lk), float("-inf")), k, v


def probabilities(s, lse):
    """exp(s - lse), 0 where s is -inf (rows with lse = -inf too)."""
    safe = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse).unsqueeze(-1)
    return torch.where(torch.isinf(s), torch.zeros_like(s), torch.exp(s - safe))


def reference(fname, q, k, v):
    """float64 torch attention of the whole sequence (no dropout): o, lse."""
    s, k, v = scores(fname, q, k, v)
    lse = torch.logsumexp(s, -1)
    return probabilities(s, lse) @ v, lse


def standin_backward(fname, calls):
    """A float64 torch stand-in for <name>_backward with explicit positions
    (FlashAttention's chunk backward with the rows' final o and lse), to
    check ring_attention's backward schedule (K/V around the ring, dk/dv
    back to their owners) while the library's backward takes no positions."""
    def backward(q, k, v, o, lse, do, positions=None, **options):
        calls.append(positions)
        qs, ks = positions
        q, k, v, o, lse, do = (x.double() for x in (q, k, v, o, lse, do))
        s, kk, vv = scores(fname, q, k, v, qs, ks)
        probs = probabilities(s, lse)          # with the row's final lse
        ds = probs * (do @ vv.transpose(-1, -2) - (do * o).sum(-1, keepdim=True))
        scale = 1 / math.sqrt(q.shape[-1])
        dq = ds @ kk * scale
        dk = ds.transpose(-1, -2) @ q * scale
        dv = probs.transpose(-1, -2) @ do
        g = q.shape[1] // k.shape[1]
        dk = dk.view(dk.shape[0], k.shape[1], g, *dk.shape[2:]).sum(2)
        dv = dv.view(dv.shape[0], k.shape[1], g, *dv.shape[2:]).sum(2)
        return dq.float(), dk.float(), dv.float()
    return backward


STANDIN_CASES = ("plain", "causal_gqa", "windows", "local", "two_sided")


def worker(rank, world, port, cache_dir, length, with_backward, out_dir):
    os.environ["MHA_CACHE_DIR"] = cache_dir
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=60))
    out = {}
    try:
        import mha
        import mha.torch as mt
        lib = mha.compile(SPEC, **COMPILE_OPTIONS)
        for case, (fname, balanced, kwargs) in CASES.items():
            fn = getattr(lib, fname)
            q, k, v, dout = inputs(case, length)
            ql, kl, vl, dl = (mt.ring_shard(x, balanced=balanced) for x in (q, k, v, dout))
            ql.requires_grad_(with_backward)
            kl.requires_grad_(with_backward)
            vl.requires_grad_(with_backward)
            stats = {}
            o, lse = mt.ring_attention(ql, kl, vl, fn, balanced=balanced, num_threads=1,
                                       stats=stats, **kwargs)
            res = {"o": mt.ring_unshard(o, balanced=balanced),
                   "lse": mt.ring_unshard(lse, balanced=balanced)}
            if with_backward:
                (o * dl).sum().backward()
                for n, t in (("dq", ql), ("dk", kl), ("dv", vl)):
                    res[n] = mt.ring_unshard(t.grad, balanced=balanced)
            res["stats"] = stats
            out[case] = res
        # Without the manifest's mask attributes every pair is computed,
        # with the same results.
        fn = lib.windows
        saved, fn.attention = fn.attention, None
        q, k, v, _ = inputs("windows", length)
        stats = {}
        o, _ = mt.ring_attention(*(mt.ring_shard(x) for x in (q, k, v)), fn, stats=stats)
        fn.attention = saved
        out["no_manifest"] = {"o": mt.ring_unshard(o), "stats": stats}
        # The backward's schedule with the stand-in chunk backward.
        for case in STANDIN_CASES:
            fname, balanced, kwargs = CASES[case]
            calls = []
            lib.backward_of = lambda name, f=fname, c=calls: standin_backward(f, c)
            q, k, v, dout = inputs(case, length)
            ql, kl, vl, dl = (mt.ring_shard(x, balanced=balanced) for x in (q, k, v, dout))
            ql.requires_grad_()
            kl.requires_grad_()
            vl.requires_grad_()
            stats = {}
            o, lse = mt.ring_attention(ql, kl, vl, getattr(lib, fname), balanced=balanced,
                                       stats=stats, **kwargs)
            (o * dl).sum().backward()
            res = {n: mt.ring_unshard(t.grad, balanced=balanced)
                   for n, t in (("dq", ql), ("dk", kl), ("dv", vl))}
            res["stats"] = stats
            res["calls"] = calls
            out["standin_" + case] = res
        del lib.backward_of
        # RingAttention's custom ops under torch.compile(fullgraph=True): no
        # graph break, the eager results.
        from torch._dynamo.utils import counters
        counters.clear()
        attend = mt.RingAttention(lib.causal_gqa)
        compiled = torch.compile(lambda q, k, v: attend(q, k, v), fullgraph=True,
                                 backend="aot_eager")
        q, k, v, dout = inputs("causal_gqa", length)
        ql, kl, vl, dl = (mt.ring_shard(x) for x in (q, k, v, dout))
        for t in (ql, kl, vl):
            t.requires_grad_(with_backward)
        o, lse = compiled(ql, kl, vl)
        res = {"o": mt.ring_unshard(o), "lse": mt.ring_unshard(lse),
               "graph_breaks": sum(counters["graph_break"].values())}
        if with_backward:
            (o * dl).sum().backward()
            for n, t in (("dq", ql), ("dk", kl), ("dv", vl)):
                res[n] = mt.ring_unshard(t.grad)
            # The lse rule, checked when the compiled backward runs.
            o, lse = compiled(ql, kl, vl)
            try:
                (o.sum() + lse.sum()).backward()
                res["lse_grad"] = None
            except Exception as e:
                res["lse_grad"] = str(e)
        out["compiled"] = res
        # ring_unshard inverts ring_shard (both layouts, another dim).
        x = torch.arange(2 * 3 * 4 * world * 5, dtype=torch.float32).reshape(2, 3, 4 * world, 5)
        out["roundtrip"] = [bool(torch.equal(mt.ring_unshard(mt.ring_shard(x, dim=d, balanced=b),
                                                             dim=d, balanced=b), x))
                            for d, b in ((2, True), (2, False))]
        # Shapes that differ across ranks: every rank raises ValueError.
        try:
            n = 4 if rank == 0 else 6
            mt.ring_attention(torch.zeros(1, 4, n, D), torch.zeros(1, 4, n, D),
                              torch.zeros(1, 4, n, D), lib.plain)
            out["mismatch"] = None
        except ValueError as e:
            out["mismatch"] = str(e)
        # A gradient reaching lse is an error (every rank raises it, before
        # any call of the backward).
        q, k, v, _ = inputs("plain", length)
        ql = mt.ring_shard(q).requires_grad_()
        o, lse = mt.ring_attention(ql, mt.ring_shard(k), mt.ring_shard(v), lib.plain)
        try:
            (o.sum() + lse.sum()).backward()
            out["lse_grad"] = None
        except mha.Error as e:
            out["lse_grad"] = e.status_name
    except Exception:  # reported by the test, with the rank
        out["error"] = traceback.format_exc()
    torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()
