#!/usr/bin/env python3
"""bench/bench.py - times mha's generated CPU kernels against CPU peers.

Run through bench/run.sh (which builds the venv, the specs and libraries).
Writes <out>/results.json and <out>/results.md and prints the table.

Method (docs/performance.md, "How it is measured"):
- Every implementation is timed in a worker process of its own (this script
  with --worker), one process per implementation and shape: a peer's thread
  pool (ONNX Runtime's, XLA's and OpenMP's spin after a call) dies with its
  process and cannot steal the cores from whatever is timed next. Only the
  worker imports its peer's package; this process imports none.
- Same inputs everywhere: every worker draws them from the same seed; the
  reference (PyTorch SDPA in f32 on the same, bf16-rounded for bf16, inputs)
  is computed once per shape by a worker of its own and saved to .npy, and
  each worker compares its output with it after timing.
- The peers' order alternates from shape to shape (as listed, then
  reversed); ours is timed first and again last on every shape, and the
  table shows the spread of the two (flagged above 10%).
- A pause of --settle seconds before each worker; a warm-up call
  (compilation for Flex, XLA, ONNX Runtime), then the median of 3-15 timed
  calls (up to 50 for calls under 30 ms).

Peers: PyTorch scaled_dot_product_attention, PyTorch FlexAttention
(torch.compile, CPU), JAX jax.nn.dot_product_attention (jit, XLA CPU),
ONNX Runtime com.microsoft MultiHeadAttention / GroupQueryAttention, and a
NumPy/OpenBLAS GEMM + softmax composition (heads split over threads). Their
masks are made from python/mha's key-visibility rule.
"""
import os
import sys

# OpenBLAS reads these when the library loads: this machine's environment
# pins OPENBLAS_CORETYPE=Haswell (AVX2 kernels) and an L2 size; drop both
# before NumPy (and with it OpenBLAS) is imported so OpenBLAS picks its own
# kernel for this CPU. Workers inherit the cleaned environment.
_ENV_DROPPED = {}
for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    if _var in os.environ:
        _ENV_DROPPED[_var] = os.environ.pop(_var)

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, HERE)
import gen_specs  # noqa: E402
from mha import reference as R  # noqa: E402
from mha import semantics as S  # noqa: E402
from mha._library import Library  # noqa: E402

WINDOW = gen_specs.WINDOW
PEERS = ["torch_sdpa", "torch_flex", "jax", "onnxruntime", "numpy_openblas"]
PEER_TITLES = {
    "ours": "mha (ours)",
    "torch_sdpa": "PyTorch SDPA",
    "torch_flex": "PyTorch FlexAttention",
    "jax": "JAX dot_product_attention",
    "onnxruntime": "ONNX Runtime contrib",
    "numpy_openblas": "NumPy/OpenBLAS GEMM+softmax",
}
SHORT = {
    "ours": "ours",
    "torch_sdpa": "sdpa",
    "torch_flex": "flex",
    "jax": "jax",
    "onnxruntime": "ort",
    "numpy_openblas": "blas",
}
# The package each peer imports (its import error makes it n/a everywhere).
PEER_PACKAGE = {"torch_sdpa": "torch", "torch_flex": "torch_flex", "jax": "jax",
                "onnxruntime": "onnxruntime", "numpy_openblas": None}
SPREAD_FLAG = 0.10  # ours first vs ours last on a shape: flag above this


def now():
    return time.perf_counter()


def first_line(e):
    s = f"{type(e).__name__}: {e}".strip()
    return s.splitlines()[0][:160] if s else type(e).__name__


class NotApplicable(Exception):
    """The peer has no kernel for this shape / dtype (reported as n/a)."""


# ----------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------
def make_shape(kind, dt, D, L, causal, hq=16, hkv=16):
    if kind == "mha":
        fn = f"mha_d{D}_{'causal' if causal else 'full'}"
    elif kind == "gqa":
        fn = f"gqa_d{D}_causal"
    else:
        fn = f"{kind}_d{D}"
    f = gen_specs.FUNCTIONS[fn]
    assert (f["hq"], f["hkv"], f["d"]) == (hq, hkv, D), fn
    params = S.normalise(f["attrs"], hq, D)
    assert params["causal"] == causal, fn
    win = params["window_left"] if S.has_window(params) else None
    name = {"mha": "MHA", "gqa": f"GQA {hq}:{hkv}", "ms": "multi-scale w256/global",
            "win": "window 256 (all heads)"}[kind]
    name += f" {dt} D={D} L={L}" + (" causal" if causal else "")
    return dict(kind=kind, dt=dt, D=D, L=L, causal=causal, hq=hq, hkv=hkv,
                window=win, params=params, fn=fn, name=name, B=1)


def shape_list(quick):
    out = []
    if quick:
        for causal in (False, True):
            for L in (512, 2048):
                out.append(make_shape("mha", "f32", 128, L, causal))
        return out
    for dt in ("f32", "bf16"):
        for D in (64, 128):
            for causal in (False, True):
                for L in (512, 2048, 4096, 8192):
                    out.append(make_shape("mha", dt, D, L, causal))
        out.append(make_shape("gqa", dt, 128, 4096, True, 32, 8))
        out.append(make_shape("ms", dt, 128, 8192, False))
    return out


def head_pairs(s, h):
    """Visible (query, key) pairs of head h of shape s (mha.reference)."""
    p = s["params"]
    return R.visible_pairs(s["L"], s["L"], p["causal"], p["window_left"][h],
                           p["window_right"][h], p["sink_tokens"])


def flop_counts(s):
    """(nominal FLOPs for GFLOP/s, FLOPs actually needed)."""
    dense = 4.0 * s["B"] * s["hq"] * s["L"] * s["L"] * s["D"]
    if s["causal"]:
        return dense / 2, dense / 2
    if s["window"] is not None:
        eff = sum(4.0 * s["B"] * head_pairs(s, h) * s["D"] for h in range(s["hq"]))
        return dense, eff  # dense-equivalent
    return dense, dense


def head_groups(s):
    """Runs of consecutive heads with the same window: [(heads slice,
    window_left, window_right)]. The peers take one mask per run."""
    p = s["params"]
    out = []
    for h in range(s["hq"]):
        w = (p["window_left"][h], p["window_right"][h])
        if out and (out[-1][1], out[-1][2]) == w:
            out[-1] = (slice(out[-1][0].start, h + 1), w[0], w[1])
        else:
            out.append((slice(h, h + 1), w[0], w[1]))
    return out


def group_mask(s, wl, wr):
    """[L, L] bool (True = attend) of one head group, or None when the group
    needs no mask beyond causal (then the peer's own causal flag serves)."""
    if wl < 0 and wr < 0 and s["params"]["sink_tokens"] == 0:
        return None
    return np.ascontiguousarray(R.mask(s["L"], s["L"], s["causal"], wl, wr,
                                       s["params"]["sink_tokens"]))


# ----------------------------------------------------------------------------
# Inputs: the same in every worker (the seed)
# ----------------------------------------------------------------------------
class Inputs:
    def __init__(self, s, seed=0):
        rng = np.random.default_rng(seed)
        B, hq, hkv, L, D = s["B"], s["hq"], s["hkv"], s["L"], s["D"]
        q = rng.standard_normal((B, hq, L, D), dtype=np.float32)
        k = rng.standard_normal((B, hkv, L, D), dtype=np.float32)
        v = rng.standard_normal((B, hkv, L, D), dtype=np.float32)
        self.bf16 = s["dt"] == "bf16"
        if self.bf16:
            self.q16, self.k16, self.v16 = (R.f32_to_bf16_bits(x) for x in (q, k, v))
            # The f32 values of the bf16 inputs: what every peer really sees.
            q, k, v = (R.bf16_bits_to_f32(x) for x in (self.q16, self.k16, self.v16))
        self.q, self.k, self.v = q, k, v
        self.scale = s["params"]["scale"]


# ----------------------------------------------------------------------------
# Peers (worker side: each worker imports only its own)
# ----------------------------------------------------------------------------
class Ctx:
    def __init__(self, threads):
        self.threads = threads
        self.torch = self.flex = self.jax = self.ort = self.onnx = self.tpctl = None


def import_torch(ctx, flex=False):
    import torch
    torch.set_num_threads(ctx.threads)
    ctx.torch = torch
    if flex:
        from torch.nn.attention.flex_attention import (create_block_mask,
                                                       flex_attention)
        import torch._dynamo
        for attr in ("cache_size_limit", "recompile_limit",
                     "accumulated_cache_size_limit", "accumulated_recompile_limit"):
            if hasattr(torch._dynamo.config, attr):
                setattr(torch._dynamo.config, attr, 1024)
        ctx.flex = (flex_attention, create_block_mask)


def import_jax(ctx):
    import jax
    import jax.numpy as jnp  # noqa: F401
    jax.config.update("jax_platforms", "cpu")
    ctx.jax = jax


def import_ort(ctx):
    import onnx
    import onnxruntime as ort
    ctx.onnx, ctx.ort = onnx, ort


def import_tpctl(ctx):
    try:
        import threadpoolctl
        ctx.tpctl = threadpoolctl
    except Exception:  # noqa: BLE001
        ctx.tpctl = None


def torch_inputs(ctx, inp):
    torch = ctx.torch
    if inp.bf16:
        def t(x):
            return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
        return t(inp.q16), t(inp.k16), t(inp.v16)
    return torch.from_numpy(inp.q), torch.from_numpy(inp.k), torch.from_numpy(inp.v)


def torch_out_to_np(o):
    return o.float().contiguous().numpy()


def prep_ours(ctx, s, inp, out_dir, threads=None):
    path = os.path.abspath(os.path.join(out_dir, f"libmha_bench_{s['dt']}.so"))
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not built")
    lib = Library(path)
    shape = (s["B"], s["hq"], s["L"], s["D"])
    if inp.bf16:
        q, k, v = inp.q16, inp.k16, inp.v16
        o = np.zeros(shape, np.uint16)
    else:
        q, k, v = inp.q, inp.k, inp.v
        o = np.zeros(shape, np.float32)
    from mha._dlpack import options
    call = lib.function(s["fn"], 4).prepare(
        [q, k, v, o], options(threads if threads is not None else ctx.threads),
        dtype="bf16" if inp.bf16 else None)

    def run():
        call.run()
        return o

    def conv(out):
        return R.bf16_bits_to_f32(out) if inp.bf16 else out

    return run, conv


def prep_torch_sdpa(ctx, s, inp, threads=None):
    torch = ctx.torch
    F = torch.nn.functional
    q, k, v = torch_inputs(ctx, inp)
    gqa = s["hq"] != s["hkv"]
    nthreads = threads if threads is not None else ctx.threads
    groups = head_groups(s)
    if len(groups) == 1 and group_mask(s, groups[0][1], groups[0][2]) is None:
        def run():
            torch.set_num_threads(nthreads)
            with torch.inference_mode():
                return F.scaled_dot_product_attention(q, k, v, is_causal=s["causal"],
                                                      enable_gqa=gqa)
        return run, torch_out_to_np
    # What a user does: each run of heads with the same window with its
    # boolean mask (or none), then concatenate.
    if gqa:
        raise NotApplicable("per-head windows with GQA not expressed here")
    parts = []
    for hs, wl, wr in groups:
        m = group_mask(s, wl, wr)
        parts.append((hs, None if m is None else torch.from_numpy(m)))

    def run():
        torch.set_num_threads(nthreads)
        with torch.inference_mode():
            out = []
            for hs, m in parts:
                if m is None:
                    out.append(F.scaled_dot_product_attention(
                        q[:, hs], k[:, hs], v[:, hs], is_causal=s["causal"]))
                else:
                    out.append(F.scaled_dot_product_attention(
                        q[:, hs], k[:, hs], v[:, hs], attn_mask=m))
            return torch.cat(out, dim=1)

    return run, torch_out_to_np


def prep_torch_flex(ctx, s, inp):
    torch = ctx.torch
    flex_attention, create_block_mask = ctx.flex
    q, k, v = torch_inputs(ctx, inp)
    L = s["L"]
    p = s["params"]
    block_mask = None
    if s["window"] is not None:
        wl = torch.tensor(p["window_left"])
        wr = torch.tensor(p["window_right"])
        sinks, causal = p["sink_tokens"], p["causal"]

        def per_head(b, h, qi, kvi):
            return S.key_visible(qi, kvi, L, L, causal, wl[h], wr[h], sinks)
        block_mask = create_block_mask(per_head, None, s["hq"], L, L, device="cpu")
    elif s["causal"]:
        def causal_mask(b, h, qi, kvi):
            return S.key_visible(qi, kvi, L, L, True)
        block_mask = create_block_mask(causal_mask, None, None, L, L, device="cpu")
    fn = torch.compile(flex_attention, dynamic=False)
    gqa = s["hq"] != s["hkv"]

    def run():
        with torch.inference_mode():
            return fn(q, k, v, block_mask=block_mask, enable_gqa=gqa)

    return run, torch_out_to_np


def prep_jax(ctx, s, inp):
    jax = ctx.jax
    jnp = jax.numpy
    if s["params"]["sink_tokens"]:
        raise NotApplicable("no sink tokens in jax.nn.dot_product_attention")
    if inp.bf16:
        import ml_dtypes
        q, k, v = (x.view(ml_dtypes.bfloat16) for x in (inp.q16, inp.k16, inp.v16))
    else:
        q, k, v = inp.q, inp.k, inp.v
    # JAX's layout is [B, T, N, H].
    q, k, v = (jax.device_put(np.ascontiguousarray(x.transpose(0, 2, 1, 3)))
               for x in (q, k, v))
    causal = s["causal"]
    groups = head_groups(s)
    if len(groups) > 1 and s["hq"] != s["hkv"]:
        raise NotApplicable("per-head windows with GQA not expressed here")
    for _, wl, wr in groups:
        if (wl < 0) != (wr < 0):
            raise NotApplicable("one-sided windows not expressed for JAX here")

    @jax.jit
    def f(q, k, v):
        parts = []
        for hs, wl, wr in groups:
            kw = {} if wl < 0 else {"local_window_size": (wl, wr)}
            parts.append(jax.nn.dot_product_attention(
                q[:, :, hs], k[:, :, hs] if len(groups) > 1 else k,
                v[:, :, hs] if len(groups) > 1 else v,
                is_causal=causal, implementation="xla", **kw))
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=2)

    def run():
        return f(q, k, v).block_until_ready()

    def conv(o):
        return np.asarray(o).astype(np.float32).transpose(0, 2, 1, 3)

    return run, conv


def _ort_session(ctx, graph_nodes, inputs, outputs, opset_ms=1):
    onnx, ort = ctx.onnx, ctx.ort
    h = onnx.helper
    graph = h.make_graph(graph_nodes, "attn", inputs, outputs)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17),
                                               h.make_opsetid("com.microsoft", opset_ms)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = ctx.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def prep_onnxruntime(ctx, s, inp):
    if inp.bf16:
        raise NotApplicable("CPU EP has no bf16 attention kernel")
    onnx = ctx.onnx
    h = onnx.helper
    TP = onnx.TensorProto
    B, L, D, hq, hkv = s["B"], s["L"], s["D"], s["hq"], s["hkv"]

    def bsd(x):  # [B, H, L, D] -> [B, L, H*D]
        return np.ascontiguousarray(x.transpose(0, 2, 1, 3).reshape(B, L, -1))

    note = None
    feeds_list = []
    if hq != hkv:
        # Grouped-query: ORT's GroupQueryAttention (always causal).
        try:
            if not s["causal"] or s["window"] is not None:
                raise NotApplicable("GroupQueryAttention is causal only")
            nodes = [h.make_node(
                "GroupQueryAttention",
                ["query", "key", "value", "", "", "seqlens_k", "total_sequence_length"],
                ["out", "present_key", "present_value"], domain="com.microsoft",
                num_heads=hq, kv_num_heads=hkv, scale=inp.scale)]
            ins = [h.make_tensor_value_info("query", TP.FLOAT, [B, L, hq * D]),
                   h.make_tensor_value_info("key", TP.FLOAT, [B, L, hkv * D]),
                   h.make_tensor_value_info("value", TP.FLOAT, [B, L, hkv * D]),
                   h.make_tensor_value_info("seqlens_k", TP.INT32, [B]),
                   h.make_tensor_value_info("total_sequence_length", TP.INT32, [])]
            outs = [h.make_tensor_value_info("out", TP.FLOAT, [B, L, hq * D]),
                    h.make_tensor_value_info("present_key", TP.FLOAT, None),
                    h.make_tensor_value_info("present_value", TP.FLOAT, None)]
            sess = _ort_session(ctx, nodes, ins, outs)
            feeds = {"query": bsd(inp.q), "key": bsd(inp.k), "value": bsd(inp.v),
                     "seqlens_k": np.full((B,), L - 1, np.int32),
                     "total_sequence_length": np.array(L, np.int32)}
            sess.run(["out"], feeds)  # probe
            feeds_list.append((sess, feeds, slice(0, hq)))
            note = "GroupQueryAttention"
        except Exception as e:  # noqa: BLE001
            feeds_list = []
            note = f"GroupQueryAttention failed ({first_line(e)}); MHA with repeated KV"
    if not feeds_list:
        rep = hq // hkv
        kk = np.repeat(inp.k, rep, axis=1) if rep > 1 else inp.k
        vv = np.repeat(inp.v, rep, axis=1) if rep > 1 else inp.v
        for hs, wl, wr in head_groups(s):
            n = hs.stop - hs.start
            m = group_mask(s, wl, wr)
            in_names = ["query", "key", "value", "", "",
                        "attention_bias" if m is not None else ""]
            while in_names and in_names[-1] == "":
                in_names.pop()
            attrs = dict(num_heads=n, scale=inp.scale)
            if s["causal"] and m is None:
                attrs["unidirectional"] = 1
            nodes = [h.make_node("MultiHeadAttention", in_names, ["out"],
                                 domain="com.microsoft", **attrs)]
            ins = [h.make_tensor_value_info("query", TP.FLOAT, [B, L, n * D]),
                   h.make_tensor_value_info("key", TP.FLOAT, [B, L, n * D]),
                   h.make_tensor_value_info("value", TP.FLOAT, [B, L, n * D])]
            feeds = {"query": bsd(inp.q[:, hs]), "key": bsd(kk[:, hs]),
                     "value": bsd(vv[:, hs])}
            if m is not None:
                ins.append(h.make_tensor_value_info("attention_bias", TP.FLOAT,
                                                    [1, 1, L, L]))
                bias = np.where(m, 0.0, -np.inf).astype(np.float32)
                feeds["attention_bias"] = bias.reshape(1, 1, L, L)
            outs = [h.make_tensor_value_info("out", TP.FLOAT, [B, L, n * D])]
            sess = _ort_session(ctx, nodes, ins, outs)
            feeds_list.append((sess, feeds, hs))

    def run():
        return [sess.run(["out"], feeds)[0] for sess, feeds, _ in feeds_list]

    def conv(outs):
        res = np.empty((B, hq, L, D), np.float32)
        for o, (_, _, hs) in zip(outs, feeds_list):
            n = hs.stop - hs.start
            res[:, hs] = o.reshape(B, L, n, D).transpose(0, 2, 1, 3)
        return res

    run.note = note
    return run, conv


def prep_numpy(ctx, s, inp):
    if inp.bf16:
        raise NotApplicable("OpenBLAS/NumPy have no bf16 GEMM")
    B, L, D, hq, hkv = s["B"], s["L"], s["D"], s["hq"], s["hkv"]
    T = ctx.threads
    q = inp.q * np.float32(inp.scale)  # scale folded into q once (not timed)
    k, v = inp.k, inp.v
    rep = hq // hkv
    o = np.empty((B, hq, L, D), np.float32)
    scratch = [np.empty((L, L), np.float32) for _ in range(min(T, hq))]
    rowbuf = [np.empty((L, 1), np.float32) for _ in range(min(T, hq))]
    # Additive bias (0 / -inf) of each head, from its group's mask.
    bias_of = [None] * hq
    for hs, wl, wr in head_groups(s):
        m = group_mask(s, wl, wr)
        if m is None and s["causal"]:
            m = R.mask(L, L, True)
        bias = None if m is None else np.where(m, 0.0, -np.inf).astype(np.float32)
        for h in range(hs.start, hs.stop):
            bias_of[h] = bias

    def head(b, h, t):
        sc = scratch[t]
        hk = h // rep
        np.matmul(q[b, h], k[b, hk].T, out=sc)
        if bias_of[h] is not None:
            sc += bias_of[h]
        m = rowbuf[t]
        np.max(sc, axis=1, keepdims=True, out=m)
        sc -= m
        np.exp(sc, out=sc)
        np.sum(sc, axis=1, keepdims=True, out=m)
        np.matmul(sc, v[b, hk], out=o[b, h])
        o[b, h] /= m

    def worker(t, nw):
        for idx in range(t, B * hq, nw):
            head(idx // hq, idx % hq, t)

    limiter = None
    if ctx.tpctl is not None:
        limiter = ctx.tpctl.ThreadpoolController()

    def run():
        nw = len(scratch)
        if limiter is not None:
            with limiter.limit(limits=1, user_api="blas"):
                _run(nw)
        else:
            _run(nw)
        return o

    def _run(nw):
        if nw == 1:
            worker(0, 1)
            return
        ths = [threading.Thread(target=worker, args=(t, nw)) for t in range(nw)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()

    return run, lambda x: x


# ----------------------------------------------------------------------------
# Timing and checking (worker side)
# ----------------------------------------------------------------------------
SHORT_CALL_S = 0.03   # calls shorter than this get up to SHORT_CALL_RUNS runs
SHORT_CALL_RUNS = 50


def time_it(run, timeout, budget, rmin, rmax):
    """Warm-up, then median of repeated runs (as many as fit in budget
    seconds, rmin..rmax; up to SHORT_CALL_RUNS for short calls, so that the
    timed window is long enough for a median to ride out a short
    disturbance). Returns (dict, last output)."""
    t0 = now()
    out = run()
    tw = now() - t0
    if tw > timeout:
        return {"status": "timeout", "warmup_s": tw,
                "reason": f"one call took {tw:.0f} s (> {timeout:.0f} s)"}, out
    if tw < SHORT_CALL_S:
        rmax = max(rmax, SHORT_CALL_RUNS)
    n = int(max(rmin, min(rmax, budget / max(tw, 1e-6))))
    times = []
    for _ in range(n):
        t0 = now()
        out = run()
        times.append(now() - t0)
    return {"status": "ok", "median_s": statistics.median(times), "times_s": times,
            "warmup_s": tw}, out


def errors(o, ref):
    o = np.asarray(o)
    return {"max_abs_err": float(np.max(np.abs(o.astype(np.float64) - ref))),
            "rel_l2_err": R.rel_err(o, ref),
            "finite": bool(np.all(np.isfinite(o)))}


def tolerance(dt, ours):
    if dt == "f32":
        return 1e-4 if ours else 1e-3
    return 2e-2 if ours else 5e-2


def worker_reference(task):
    """PyTorch SDPA in f32 on the (bf16-rounded, for bf16) inputs, NumPy's
    composition without torch; saved to task["ref"]."""
    s = task["shape"]
    ctx = Ctx(task["threads"])
    inp = Inputs(s, task["seed"])
    inp.bf16 = False
    s32 = dict(s, dt="f32")
    try:
        import_torch(ctx)
        run, conv = prep_torch_sdpa(ctx, s32, inp)
        src = "torch SDPA f32"
    except (ImportError, NotApplicable):
        import_tpctl(ctx)
        run, conv = prep_numpy(ctx, s32, inp)
        src = "numpy f32"
    out = np.ascontiguousarray(conv(run()), dtype=np.float32)
    np.save(task["ref"], out)
    return {"status": "ok", "source": src}


def worker_time(task):
    """Times one implementation on one shape; compares with the reference."""
    s = task["shape"]
    impl = task["impl"]
    ctx = Ctx(task["threads"])
    threads = task.get("impl_threads")
    ts = now()
    try:
        if impl in ("torch_sdpa", "torch_flex"):
            import_torch(ctx, flex=impl == "torch_flex")
        elif impl == "jax":
            import_jax(ctx)
        elif impl == "onnxruntime":
            import_ort(ctx)
        elif impl == "numpy_openblas":
            import_tpctl(ctx)
    except Exception as e:  # noqa: BLE001
        return {"status": "n/a", "reason": "import failed: " + first_line(e)}
    import_s = now() - ts
    inp = Inputs(s, task["seed"])
    ts = now()
    if impl == "ours":
        run, conv = prep_ours(ctx, s, inp, task["out"], threads)
    elif impl == "torch_sdpa":
        run, conv = prep_torch_sdpa(ctx, s, inp, threads)
    else:
        run, conv = {"torch_flex": prep_torch_flex, "jax": prep_jax,
                     "onnxruntime": prep_onnxruntime,
                     "numpy_openblas": prep_numpy}[impl](ctx, s, inp)
    setup_s = now() - ts
    if impl in ("torch_flex", "jax", "onnxruntime"):
        tc = now()
        run()  # compile / first call, not timed
        setup_s += now() - tc
    rec, out = time_it(run, task["timeout"], task["budget"], task["rmin"], task["rmax"])
    rec["setup_s"] = setup_s
    rec["import_s"] = import_s
    if getattr(run, "note", None):
        rec["note"] = run.note
    if rec["status"] == "ok" and task.get("ref") and os.path.exists(task["ref"]):
        o = conv(out)
        ref = np.load(task["ref"]).astype(np.float64)
        rec.update(errors(o, ref))
        rec["wrong"] = (not rec["finite"]) or \
            rec["rel_l2_err"] > tolerance(s["dt"], impl == "ours")
    if rec["status"] == "ok" and task.get("check_heads"):
        # The float64 reference (mha.reference) on the first heads.
        n = task["check_heads"]
        o = conv(out)[:, :n]
        p = dict(s["params"])
        for key in ("temperature", "alibi_slopes", "window_left", "window_right",
                    "head_mask"):
            p[key] = p[key][:n]
        ref, _, _ = R.attention(inp.q[:, :n], inp.k[:, :n], inp.v[:, :n], p)
        rec["check_rel_l2_err"] = R.rel_err(o, ref)
        rec["check_heads"] = n
    return rec


def worker_probe(task):
    """Versions, import errors and thread pools of every peer (one process
    that imports them all, once, before the timing starts)."""
    ctx = Ctx(task["threads"])
    info = {"versions": {"python": platform.python_version(), "numpy": np.__version__},
            "import_errors": {}}
    v = info["versions"]
    for name, fn in (("torch", lambda: import_torch(ctx)),
                     ("torch_flex", lambda: import_torch(ctx, flex=True)),
                     ("jax", lambda: import_jax(ctx)),
                     ("onnxruntime", lambda: import_ort(ctx))):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            info["import_errors"][name] = "import failed: " + first_line(e)
    if ctx.torch is not None:
        v["torch"] = ctx.torch.__version__
        try:
            v["torch_cpu_capability"] = ctx.torch.backends.cpu.get_cpu_capability()
        except Exception:  # noqa: BLE001
            pass
    if ctx.jax is not None:
        v["jax"] = ctx.jax.__version__
        try:
            import jaxlib
            v["jaxlib"] = jaxlib.__version__
        except Exception:  # noqa: BLE001
            pass
    if ctx.ort is not None:
        v["onnxruntime"] = ctx.ort.__version__
        v["onnx"] = ctx.onnx.__version__
    import_tpctl(ctx)
    blas = {}
    if ctx.tpctl is not None:
        try:
            blas["threadpoolctl"] = [
                {k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                         "num_threads", "filepath", "threading_layer")}
                for d in ctx.tpctl.threadpool_info()]
        except Exception as e:  # noqa: BLE001
            blas["threadpoolctl_error"] = first_line(e)
    try:
        cfg = np.show_config(mode="dicts")
        blas["numpy_blas"] = cfg.get("Build Dependencies", {}).get("blas", {})
        blas["numpy_simd_found"] = cfg.get("SIMD Extensions", {}).get("found", [])
    except Exception as e:  # noqa: BLE001
        blas["numpy_config_error"] = first_line(e)
    info["blas"] = blas
    return info


def worker_main(task_path):
    with open(task_path) as f:
        task = json.load(f)
    try:
        kind = task["kind"]
        if kind == "probe":
            rec = worker_probe(task)
        elif kind == "reference":
            rec = worker_reference(task)
        else:
            rec = worker_time(task)
    except NotApplicable as e:
        rec = {"status": "n/a", "reason": str(e)}
    except Exception as e:  # noqa: BLE001
        rec = {"status": "error", "reason": first_line(e),
               "traceback": traceback.format_exc(limit=3)}
    with open(task["result"], "w") as f:
        json.dump(rec, f, default=str)
    sys.stdout.flush()
    # Leave at once: the peers' thread pools need no orderly shutdown.
    os._exit(0)


# ----------------------------------------------------------------------------
# The parent: one worker process per implementation and shape
# ----------------------------------------------------------------------------
class Workers:
    def __init__(self, out_dir, threads, seed, limit_s, settle_s):
        self.dir = os.path.join(out_dir, "work")
        os.makedirs(self.dir, exist_ok=True)
        self.out = out_dir
        self.threads = threads
        self.seed = seed
        self.limit_s = limit_s
        self.settle_s = settle_s
        self.n = 0

    def run(self, task, limit_s=None):
        """Runs one worker; returns its record (status error when it died).
        Waits settle_s first: the previous worker's memory (gigabytes at
        L=8192) is still being returned to the kernel when it exits."""
        self.n += 1
        time.sleep(self.settle_s)
        task = dict(task, threads=self.threads, out=self.out)
        task.setdefault("seed", self.seed)
        tpath = os.path.join(self.dir, "task.json")
        rpath = os.path.join(self.dir, "result.json")
        task["result"] = rpath
        if os.path.exists(rpath):
            os.remove(rpath)
        with open(tpath, "w") as f:
            json.dump(task, f, default=str)
        t0 = now()
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", tpath],
                               capture_output=True, text=True,
                               timeout=limit_s or self.limit_s)
            tail = (p.stdout + p.stderr).strip().splitlines()[-6:]
        except subprocess.TimeoutExpired:
            return {"status": "timeout",
                    "reason": f"worker killed after {limit_s or self.limit_s:.0f} s",
                    "worker_s": now() - t0}
        if not os.path.exists(rpath):
            return {"status": "error", "reason": f"worker exited {p.returncode}: "
                    + (tail[-1] if tail else "no output"), "log": tail,
                    "worker_s": now() - t0}
        with open(rpath) as f:
            rec = json.load(f)
        rec["worker_s"] = now() - t0
        return rec


def lscpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        pass
    return platform.processor() or "unknown"


def measure_peak(peak_bin, threads):
    res = {}
    try:
        out = subprocess.run([peak_bin, str(threads)], capture_output=True, text=True,
                             timeout=300).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[0] in ("fp32", "bf16dp"):
                res[f"{p[0]}_{p[1]}t"] = float(p[2])
            elif len(p) == 2 and p[0] == "isa":
                res["isa"] = p[1]
    except Exception as e:  # noqa: BLE001
        res["error"] = first_line(e)
    return res


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def statically_na(impl, s):
    if impl in ("onnxruntime", "numpy_openblas") and s["dt"] == "bf16":
        return ("CPU EP has no bf16 attention kernel" if impl == "onnxruntime"
                else "OpenBLAS/NumPy have no bf16 GEMM")
    return None


def spread(a, b):
    """Relative difference of two times of ours, (last - first) / first."""
    return (b - a) / a if a and b else None


# ----------------------------------------------------------------------------
# Table
# ----------------------------------------------------------------------------
def fmt_cell(r, ours_gf):
    st = r.get("status")
    if st == "ok":
        gf = r["gflops"]
        txt = f"{gf:.0f}"
        if r.get("wrong"):
            return f"WRONG(err {r['rel_l2_err']:.1e})"
        if ours_gf is not None and gf > 0:
            txt += f" ({ours_gf / gf:.2f}x)"
        return txt
    if st == "timeout":
        return "timeout"
    if st == "n/a":
        return "n/a"
    return "error"


def build_table(results, peak2, peers):
    head = ["shape", "ours ms", "ours GF/s", "rerun", "%peak", "rel err"] + \
        [SHORT[p] + " GF/s (ours/x)" for p in peers]
    rows = []
    for res in results:
        s = res["shape"]
        o = res["impls"].get("ours", {})
        if o.get("status") == "ok" and not o.get("wrong"):
            ours_gf = o["gflops"]
            ms = f"{o['median_s'] * 1e3:.1f}"
            gf = f"{ours_gf:.0f}"
            if s["window"] is not None:
                gf += f" (eff {o['gflops_effective']:.0f})"
            pk = f"{100 * o['gflops_effective'] / peak2:.0f}%" if peak2 else "?"
            err = f"{o['rel_l2_err']:.1e}" if "rel_l2_err" in o else "-"
        else:
            ours_gf = None
            ms = gf = pk = "-"
            err = ("WRONG " + f"{o.get('rel_l2_err', float('nan')):.1e}") if o.get("wrong") \
                else o.get("status", "-")
        sp = res.get("ours_spread")
        rerun = "-" if sp is None else f"{100 * sp:+.0f}%" + \
            (" !" if abs(sp) > SPREAD_FLAG else "")
        row = [s["name"], ms, gf, rerun, pk, err]
        for p in peers:
            row.append(fmt_cell(res["impls"].get(p, {}), ours_gf))
        rows.append(row)
    return head, rows


def render_text(head, rows):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = "  ".join(h.ljust(w[i]) for i, h in enumerate(head))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    return "\n".join(out)


def render_md(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def describe(rec):
    if rec.get("status") == "ok":
        return (f"{rec['median_s'] * 1e3:9.1f} ms  {rec['gflops']:7.1f} GFLOP/s"
                + (f"  rel err {rec['rel_l2_err']:.1e}" if "rel_l2_err" in rec else "")
                + ("  WRONG" if rec.get("wrong") else "")
                + f"  (n={len(rec['times_s'])}, setup {rec['setup_s']:.1f} s, "
                f"process {rec.get('worker_s', 0):.1f} s)")
    return f"{rec.get('status')}: {rec.get('reason', '')}"


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------
def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="skip a peer on a shape when one call takes longer (s)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed runs per implementation and shape")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--only", default=None, help="regex on shape names")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip the thread-scaling and window-vs-global runs")
    ap.add_argument("--max-len", type=int, default=None,
                    help="clamp every L (smoke tests of the full shape list)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the inputs")
    ap.add_argument("--worker-limit", type=float, default=900.0,
                    help="seconds after which a worker process is killed")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds of pause before each worker process")
    args = ap.parse_args()
    budget = args.budget if args.budget is not None else (0.6 if args.quick else 1.5)
    rmin, rmax = (3, 10) if args.quick else (3, 15)
    peers = [p for p in args.peers.split(",") if p and p != "none"]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        ap.error(f"unknown peers {unknown}; known: {','.join(PEERS)}")

    t_start = now()
    workers = Workers(args.out, args.threads, args.seed, args.worker_limit, args.settle)
    probe = workers.run({"kind": "probe"})
    import_errors = probe.get("import_errors", {})
    if probe.get("status") in ("error", "timeout"):
        import_errors = {"probe": probe.get("reason")}
    lib_errs = {}
    for dt in ("f32", "bf16"):
        path = os.path.join(args.out, f"libmha_bench_{dt}.so")
        if not os.path.exists(path):
            lib_errs[dt] = f"{path} not built"

    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["bench/run.sh"] + [a for a in sys.argv[1:] if a != "--out"
                                                 and a != args.out]),
        "method": "one worker process per implementation and shape; same seed; "
                  "peers' order alternating by shape; ours first and last",
        "machine": {"cpu": lscpu_model(), "logical_cpus": os.cpu_count(),
                    "kernel": platform.release()},
        "threads": args.threads,
        "seed": args.seed,
        "env_dropped_for_openblas": _ENV_DROPPED,
        "load_before": loadavg(),
        "versions": probe.get("versions", {}),
        "blas": probe.get("blas", {}),
        "import_errors": import_errors,
        "library_errors": lib_errs,
    }
    print(f"# mha CPU attention benchmark  {meta['date']}")
    print(f"# machine: {meta['machine']['cpu']}, {os.cpu_count()} logical CPUs, "
          f"threads={args.threads}, load avg {meta['load_before'][0]:.2f}")
    print(f"# method: {meta['method']}")
    print(f"# versions: {meta['versions']}")
    print(f"# dropped from env for OpenBLAS: {_ENV_DROPPED or 'none set'}")
    for d in meta["blas"].get("threadpoolctl", []):
        print(f"# threadpool: {d.get('internal_api')} {d.get('version')} "
              f"core/kernel={d.get('architecture')} threads={d.get('num_threads')} "
              f"({os.path.basename(d.get('filepath') or '')})")
    if import_errors:
        print(f"# import errors: {import_errors}")
    if lib_errs:
        print(f"# library errors: {lib_errs}")
    sys.stdout.flush()

    peak_bin = os.path.join(args.out, "peak")
    peak = measure_peak(peak_bin, args.threads) if os.path.exists(peak_bin) else \
        {"error": "bench/out/peak not built"}
    meta["peak_gflops"] = peak
    peak2 = peak.get(f"fp32_{args.threads}t")
    print(f"# measured FMA peak (GFLOP/s): {peak}")
    sys.stdout.flush()

    only = re.compile(args.only) if args.only else None
    shapes = shape_list(args.quick)
    if args.max_len:
        shapes = [make_shape(x["kind"], x["dt"], x["D"], min(x["L"], args.max_len),
                             x["causal"], x["hq"], x["hkv"]) for x in shapes]
        seen = set()
        shapes = [x for x in shapes if not (x["name"] in seen or seen.add(x["name"]))]
    if only:
        shapes = [s for s in shapes if only.search(s["name"])]
    history = {}  # (impl, family) -> (L, seconds per call): timeout forecasts
    results = []
    timing = dict(kind="time", timeout=args.timeout, budget=budget, rmin=rmin, rmax=rmax)

    def family(s):
        return (s["kind"], s["dt"], s["D"], s["causal"], s["hq"], s["hkv"])

    def timed(impl, s, ref, extra=None):
        """One worker timing impl on s (or the reason it is not timed)."""
        na = statically_na(impl, s)
        if na:
            return {"status": "n/a", "reason": na}
        pkg = PEER_PACKAGE.get(impl)
        if pkg and pkg in import_errors:
            return {"status": "n/a", "reason": import_errors[pkg]}
        key = (impl, family(s))
        if key in history:
            pl, pt = history[key]
            est = pt * (s["L"] / pl) ** 2
            if est > args.timeout:
                return {"status": "timeout", "reason":
                        f"forecast {est:.0f} s/call from L={pl} ({pt:.2f} s)"}
        rec = workers.run(dict(timing, impl=impl, shape=s, ref=ref, **(extra or {})))
        if rec.get("status") == "ok":
            history[key] = (s["L"], rec["median_s"])
        elif "warmup_s" in rec:
            history[key] = (s["L"], rec["warmup_s"])
        return rec

    for n, s in enumerate(shapes):
        nominal, effective = flop_counts(s)
        print(f"\n## {s['name']}  ({nominal / 1e9:.1f} GFLOP nominal"
              + (f", {effective / 1e9:.1f} needed" if effective != nominal else "")
              + f")  load {loadavg()[0]:.2f}")
        sys.stdout.flush()
        ref_path = os.path.join(workers.dir, "ref.npy")
        if os.path.exists(ref_path):
            os.remove(ref_path)
        t0 = now()
        ref = workers.run({"kind": "reference", "shape": s, "ref": ref_path})
        ref_src = ref.get("source") if ref.get("status") == "ok" else \
            f"reference failed: {ref.get('reason')}"
        entry = {"shape": {k: s[k] for k in ("name", "kind", "dt", "B", "hq", "hkv",
                                              "L", "D", "causal", "window", "fn")},
                 "flops_nominal": nominal, "flops_needed": effective,
                 "reference": ref_src, "reference_s": now() - t0, "impls": {}}
        order = peers if n % 2 == 0 else peers[::-1]
        entry["order"] = ["ours"] + order + ["ours"]
        for pos, impl in enumerate(entry["order"]):
            rec = timed(impl, s, ref_path if ref.get("status") == "ok" else None)
            if rec.get("status") == "ok":
                rec["gflops"] = nominal / rec["median_s"] / 1e9
                rec["gflops_effective"] = effective / rec["median_s"] / 1e9
            again = impl == "ours" and pos > 0
            if again:
                entry["ours_repeat"] = rec
                first = entry["impls"]["ours"]
                if first.get("status") == "ok" and rec.get("status") == "ok":
                    entry["ours_spread"] = spread(first["median_s"], rec["median_s"])
            else:
                entry["impls"][impl] = rec
            label = "ours (again)" if again else impl
            extra = ""
            if again and entry.get("ours_spread") is not None:
                extra = f"  spread {100 * entry['ours_spread']:+.1f}%" + \
                    ("  > 10%: NOISY" if abs(entry["ours_spread"]) > SPREAD_FLAG else "")
            print(f"  {label:15s} {describe(rec)}{extra}")
            sys.stdout.flush()
        if os.path.exists(ref_path):
            os.remove(ref_path)
        results.append(entry)
        gc.collect()

    # --- extras: thread scaling and window-vs-global -------------------------
    extras = {}
    L_sc = min(2048, args.max_len or 2048)
    s = make_shape("mha", "f32", 128, L_sc, False)
    sc = {"shape": s["name"]}
    if not args.no_extras:
        print(f"\n## thread scaling: {s['name']}")
        for impl in ["ours"] + [p for p in peers if p == "torch_sdpa"]:
            if impl != "ours" and "torch" in import_errors:
                continue
            for t in sorted({1, args.threads}):
                rec = workers.run(dict(timing, impl=impl, shape=s, impl_threads=t,
                                       timeout=120.0))
                if rec.get("status") == "ok":
                    sc[f"{impl}_{t}t_s"] = rec["median_s"]
                    print(f"  {impl:12s} {t} thread(s): {rec['median_s'] * 1e3:.1f} ms")
                else:
                    sc[f"{impl}_{t}t_error"] = rec.get("reason")
                    print(f"  {impl:12s} {t} thread(s): {rec.get('reason')}")
            a, b = sc.get(f"{impl}_1t_s"), sc.get(f"{impl}_{args.threads}t_s")
            if a and b:
                sc[f"{impl}_speedup"] = a / b
    extras["thread_scaling"] = sc

    L_w = 2048 if args.quick else 8192
    if args.max_len:
        L_w = min(L_w, args.max_len)
    pairs_w = R.visible_pairs(L_w, L_w, False, WINDOW, WINDOW)
    wg = {"L": L_w, "window": WINDOW, "ideal": L_w * L_w / pairs_w,
          "ideal_simple": L_w / (2 * WINDOW + 1)}
    if not args.no_extras:
        print(f"\n## window {WINDOW} vs global, f32 D=128 L={L_w} (ours)")
        for kind in ("mha", "win"):
            s = make_shape(kind, "f32", 128, L_w, False)
            rec = workers.run(dict(timing, impl="ours", shape=s, timeout=60.0,
                                   check_heads=2 if kind == "win" else 0))
            if rec.get("status") == "ok":
                wg[f"{kind}_s"] = rec["median_s"]
                if "check_rel_l2_err" in rec:
                    wg["win_rel_l2_err_heads01"] = rec["check_rel_l2_err"]
                print(f"  {kind}: {rec['median_s'] * 1e3:.1f} ms"
                      + (f"  (heads 0-1 vs float64 reference: rel err "
                         f"{rec['check_rel_l2_err']:.1e})" if "check_rel_l2_err" in rec
                         else ""))
            else:
                wg[f"{kind}_error"] = rec.get("reason")
                print(f"  {kind}: {rec.get('reason')}")
    if wg.get("mha_s") and wg.get("win_s"):
        wg["speedup"] = wg["mha_s"] / wg["win_s"]
        wg["share_of_ideal"] = wg["speedup"] / wg["ideal_simple"]
    extras["window_vs_global"] = wg

    meta["load_after"] = loadavg()
    meta["wall_s"] = now() - t_start
    meta["worker_processes"] = workers.n
    head, rows = build_table(results, peak2, peers)
    text = render_text(head, rows)
    md = render_md(head, rows)

    notes = []
    for impl in ["ours"] + peers:
        reasons = sorted({f"{r['impls'][impl]['status']}: {r['impls'][impl].get('reason', '')}"
                          for r in results if impl in r["impls"]
                          and r["impls"][impl].get("status") in ("n/a", "error")})
        for rs in reasons:
            notes.append(f"{PEER_TITLES[impl]}: {rs}")
        tos = [r["shape"]["name"] for r in results
               if r["impls"].get(impl, {}).get("status") == "timeout"]
        if tos:
            notes.append(f"{PEER_TITLES[impl]}: timeout (> {args.timeout:.0f} s/call, "
                         f"measured or forecast) on {', '.join(tos)}")
        ns = sorted({r["impls"][impl]["note"] for r in results
                     if r["impls"].get(impl, {}).get("note")})
        for n_ in ns:
            notes.append(f"{PEER_TITLES[impl]}: {n_}")
    summary = []
    spreads = [(r["shape"]["name"], r["ours_spread"]) for r in results
               if r.get("ours_spread") is not None]
    if spreads:
        worst = max(spreads, key=lambda x: abs(x[1]))
        noisy = [n_ for n_, x in spreads if abs(x) > SPREAD_FLAG]
        summary.append(
            f"ours timed first and again last on every shape: median |spread| "
            f"{100 * statistics.median(abs(x) for _, x in spreads):.1f}%, largest "
            f"{100 * worst[1]:+.1f}% ({worst[0]})"
            + (f"; over {100 * SPREAD_FLAG:.0f}% (noisy, retake): {', '.join(noisy)}"
               if noisy else f"; none over {100 * SPREAD_FLAG:.0f}%"))
    if sc.get("ours_speedup"):
        summary.append(f"thread scaling ({sc['shape']}): ours {args.threads} threads / 1 thread "
                       f"= {sc['ours_speedup']:.2f}x"
                       + (f"; torch SDPA {sc['torch_sdpa_speedup']:.2f}x"
                          if sc.get("torch_sdpa_speedup") else ""))
    if wg.get("speedup"):
        summary.append(f"window {WINDOW} vs global (ours, f32 D=128 L={L_w}): "
                       f"{wg['speedup']:.2f}x, ideal L/(2*{WINDOW}+1) = "
                       f"{wg['ideal_simple']:.2f}x -> {100 * wg['share_of_ideal']:.0f}% of ideal"
                       + (f"; heads 0-1 vs the float64 reference: rel err "
                          f"{wg['win_rel_l2_err_heads01']:.1e}"
                          if "win_rel_l2_err_heads01" in wg else ""))
    # bf16 vs f32 (ours), same shape
    ok = {}
    for r in results:
        o = r["impls"].get("ours", {})
        if o.get("status") == "ok" and not o.get("wrong"):
            sh = r["shape"]
            ok[(sh["kind"], sh["dt"], sh["D"], sh["L"], sh["causal"])] = o["gflops"]
    pairs = []
    for (kind, dt, D, L, causal), gf in ok.items():
        if dt == "bf16" and (kind, "f32", D, L, causal) in ok:
            pairs.append(f"{kind} D={D} L={L}{' c' if causal else ''}: "
                         f"{gf / ok[(kind, 'f32', D, L, causal)]:.2f}x")
    if pairs:
        summary.append("bf16 / f32 GFLOP/s (ours): " + "; ".join(pairs))
        extras["bf16_over_f32"] = pairs
    # bf16 rows against the bf16 dot-product peak (vdpbf16ps), needed FLOPs
    peak_bf16 = peak.get(f"bf16dp_{args.threads}t")
    shares = []
    for r in results:
        o = r["impls"].get("ours", {})
        if peak_bf16 and r["shape"]["dt"] == "bf16" and o.get("status") == "ok" \
                and not o.get("wrong") and o.get("gflops_effective"):
            shares.append(f"{r['shape']['name']}: {100 * o['gflops_effective'] / peak_bf16:.0f}%")
    if shares:
        summary.append(f"bf16 rows / measured bf16 dot-product peak ({peak_bf16} GFLOP/s, "
                       f"{args.threads} thread{'s' if args.threads > 1 else ''}): "
                       + "; ".join(shares))
    pk = ", ".join(f"{k}={v}" for k, v in peak.items())
    legend = ("Each implementation timed in a process of its own (same inputs, peers' "
              "order alternating by shape). GF/s = 4*B*H*Lq*Lk*D / time (halved for "
              "causal; dense-equivalent for windowed shapes, 'eff' counts only visible "
              "pairs); '(ours/x)' = ours / peer speed; 'rerun' = ours timed again after "
              "the peers, relative to the first time ('!' above 10%: noisy); %peak = ours "
              "(needed FLOPs) / measured fp32 FMA peak with "
              f"{args.threads} threads ({peak2} GFLOP/s); rel err = ||o-ref||/||ref|| "
              "vs torch SDPA f32 on the same (bf16-rounded) inputs.")
    print("\n" + text)
    print("\n" + legend)
    for line in summary + notes:
        print("- " + line)
    print(f"\n# load avg before {meta['load_before'][0]:.2f}, after "
          f"{meta['load_after'][0]:.2f}; wall {meta['wall_s']:.0f} s, "
          f"{workers.n} worker processes; peak {pk}")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results, "extras": extras,
                   "table": {"head": head, "rows": rows}, "notes": notes,
                   "summary": summary}, f, indent=1, default=str)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(f"Command: `{meta['command']}`  \nDate: {meta['date']}  \n"
                f"Method: {meta['method']}  \n"
                f"Machine: {meta['machine']['cpu']}, {os.cpu_count()} logical CPUs, "
                f"{args.threads} threads; measured peak: {pk}  \n"
                f"Load average (1 min): {meta['load_before'][0]:.2f} before, "
                f"{meta['load_after'][0]:.2f} after; wall {meta['wall_s']:.0f} s  \n"
                f"Versions: {meta['versions']}  \n")
        for d in meta["blas"].get("threadpoolctl", []):
            if d.get("user_api") != "blas":
                continue
            f.write(f"BLAS: {d.get('internal_api')} {d.get('version')}, "
                    f"core {d.get('architecture')} ({os.path.basename(d.get('filepath') or '')})  \n")
        f.write(f"Dropped from env for OpenBLAS: {_ENV_DROPPED or 'none set'}\n\n")
        f.write(md + "\n\n" + legend + "\n\n")
        for line in summary + notes:
            f.write(f"- {line}\n")
    print(f"# wrote {os.path.join(args.out, 'results.json')} and results.md")


if __name__ == "__main__":
    main()
