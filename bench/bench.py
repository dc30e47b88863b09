#!/usr/bin/env python3
"""bench/bench.py - times mha's generated CPU kernels against CPU peers.

Run through bench/run.sh (which builds the venv, the specs and libraries).
One process, same inputs for every implementation, median of repeated runs
after warm-up. Writes <out>/results.json and <out>/results.md and prints the
table.

Peers: PyTorch scaled_dot_product_attention, PyTorch FlexAttention
(torch.compile, CPU), JAX jax.nn.dot_product_attention (jit, XLA CPU),
ONNX Runtime com.microsoft MultiHeadAttention / GroupQueryAttention, and a
NumPy/OpenBLAS GEMM + softmax composition (heads split over threads).
"""
import os
import sys

# OpenBLAS reads these when the library loads: this machine's environment
# pins OPENBLAS_CORETYPE=Haswell (AVX2 kernels) and an L2 size; drop both
# before NumPy (and with it OpenBLAS) is imported so OpenBLAS picks its own
# kernel for this CPU.
_ENV_DROPPED = {}
for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    if _var in os.environ:
        _ENV_DROPPED[_var] = os.environ.pop(_var)

import argparse  # noqa: E402
import copy  # noqa: E402
import ctypes  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402

WINDOW = 256
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


def now():
    return time.perf_counter()


def first_line(e):
    s = f"{type(e).__name__}: {e}".strip()
    return s.splitlines()[0][:160] if s else type(e).__name__


class NotApplicable(Exception):
    """The peer has no kernel for this shape / dtype (reported as n/a)."""


# ----------------------------------------------------------------------------
# DLPack via ctypes
# ----------------------------------------------------------------------------
class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class MhaOptions(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int32), ("cuda_stream", ctypes.c_void_p),
                ("head_mask", ctypes.POINTER(ctypes.c_uint8))]


KDL_CPU = 1
KDL_FLOAT = 2
KDL_BFLOAT = 4


def dltensor(arr, bf16):
    """A DLTensor over a C-contiguous NumPy array (uint16 storage for bf16).
    The shape/strides arrays are attached to the struct to keep them alive."""
    assert arr.flags["C_CONTIGUOUS"]
    shape = (ctypes.c_int64 * arr.ndim)(*arr.shape)
    strides = (ctypes.c_int64 * arr.ndim)(*[s // arr.itemsize for s in arr.strides])
    t = DLTensor()
    t.data = arr.ctypes.data
    t.device = DLDevice(KDL_CPU, 0)
    t.ndim = arr.ndim
    t.dtype = DLDataType(KDL_BFLOAT if bf16 else KDL_FLOAT, 16 if bf16 else 32, 1)
    t.shape = shape
    t.strides = strides
    t.byte_offset = 0
    t._keep = (shape, strides, arr)
    return t


class OurLibrary:
    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.lib.mha_last_error.restype = ctypes.c_char_p
        self.lib.mha_status_string.restype = ctypes.c_char_p
        self.lib.mha_status_string.argtypes = [ctypes.c_int]

    def function(self, name):
        f = getattr(self.lib, name)
        f.argtypes = [ctypes.POINTER(DLTensor)] * 4 + [ctypes.POINTER(MhaOptions)]
        f.restype = ctypes.c_int
        return f

    def error(self, status):
        return (f"{self.lib.mha_status_string(status).decode()}: "
                f"{self.lib.mha_last_error().decode()}")


# ----------------------------------------------------------------------------
# bf16 helpers (NumPy only: uint16 storage)
# ----------------------------------------------------------------------------
def f32_to_bf16_bits(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = ((u >> 16) & 1) + np.uint32(0x7FFF)
    return ((u + r) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


# ----------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------
def make_shape(kind, dt, D, L, causal, hq=16, hkv=16):
    win = None
    if kind == "ms":
        win = [WINDOW] * (hq // 2) + [-1] * (hq // 2)
    elif kind == "win":
        win = [WINDOW] * hq
    if kind == "mha":
        fn = f"mha_d{D}_{'causal' if causal else 'full'}"
    elif kind == "gqa":
        fn = f"gqa_d{D}_causal"
    else:
        fn = f"{kind}_d{D}"
    name = {"mha": "MHA", "gqa": f"GQA {hq}:{hkv}", "ms": "multi-scale w256/global",
            "win": "window 256 (all heads)"}[kind]
    name += f" {dt} D={D} L={L}" + (" causal" if causal else "")
    return dict(kind=kind, dt=dt, D=D, L=L, causal=causal, hq=hq, hkv=hkv,
                window=win, fn=fn, name=name, B=1)


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


def visible_pairs(L, w):
    """Visible (query, key) pairs of one head: symmetric window w (or -1)."""
    if w < 0 or w >= L:
        return L * L
    return L * (2 * w + 1) - w * (w + 1)


def flop_counts(s):
    """(nominal FLOPs for GFLOP/s, FLOPs actually needed)."""
    dense = 4.0 * s["B"] * s["hq"] * s["L"] * s["L"] * s["D"]
    if s["causal"]:
        return dense / 2, dense / 2
    if s["window"] is not None:
        eff = sum(4.0 * s["B"] * visible_pairs(s["L"], w) * s["D"] for w in s["window"])
        return dense, eff  # dense-equivalent
    return dense, dense


def band_mask_bool(L, w):
    i = np.arange(L)
    return np.abs(i[:, None] - i[None, :]) <= w


# ----------------------------------------------------------------------------
# Inputs
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
            self.q16, self.k16, self.v16 = (f32_to_bf16_bits(x) for x in (q, k, v))
            # The f32 values of the bf16 inputs: what every peer really sees.
            q, k, v = (bf16_bits_to_f32(x) for x in (self.q16, self.k16, self.v16))
        self.q, self.k, self.v = q, k, v
        self.scale = 1.0 / math.sqrt(D)


# ----------------------------------------------------------------------------
# Peers
# ----------------------------------------------------------------------------
class Ctx:
    """What the peers share: imported modules and their import errors."""
    def __init__(self, threads):
        self.threads = threads
        self.torch = None
        self.torch_err = None
        self.flex = None
        self.flex_err = None
        self.jax = None
        self.jax_err = None
        self.ort = None
        self.onnx = None
        self.ort_err = None
        self.tpctl = None


def import_peers(ctx):
    try:
        import torch
        torch.set_num_threads(ctx.threads)
        ctx.torch = torch
    except Exception as e:  # noqa: BLE001
        ctx.torch_err = "import failed: " + first_line(e)
    if ctx.torch is not None:
        try:
            from torch.nn.attention.flex_attention import (create_block_mask,
                                                           flex_attention)
            import torch._dynamo
            for attr in ("cache_size_limit", "recompile_limit",
                         "accumulated_cache_size_limit",
                         "accumulated_recompile_limit"):
                if hasattr(torch._dynamo.config, attr):
                    setattr(torch._dynamo.config, attr, 1024)
            ctx.flex = (flex_attention, create_block_mask)
        except Exception as e:  # noqa: BLE001
            ctx.flex_err = "import failed: " + first_line(e)
    else:
        ctx.flex_err = "needs torch: " + ctx.torch_err
    try:
        import jax
        import jax.numpy as jnp  # noqa: F401
        jax.config.update("jax_platforms", "cpu")
        ctx.jax = jax
    except Exception as e:  # noqa: BLE001
        ctx.jax_err = "import failed: " + first_line(e)
    try:
        import onnx
        import onnxruntime as ort
        ctx.onnx, ctx.ort = onnx, ort
    except Exception as e:  # noqa: BLE001
        ctx.ort_err = "import failed: " + first_line(e)
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


def torch_out_to_np(ctx, o):
    return o.float().contiguous().numpy()


def prep_ours(ctx, s, inp, libs, threads=None):
    lib = libs.get(s["dt"])
    if not isinstance(lib, OurLibrary):
        raise RuntimeError(f"library for {s['dt']}: {lib or 'not built'}")
    f = lib.function(s["fn"])
    if inp.bf16:
        q, k, v = inp.q16, inp.k16, inp.v16
        o = np.zeros((s["B"], s["hq"], s["L"], s["D"]), np.uint16)
    else:
        q, k, v = inp.q, inp.k, inp.v
        o = np.zeros((s["B"], s["hq"], s["L"], s["D"]), np.float32)
    tq, tk, tv, to = (dltensor(x, inp.bf16) for x in (q, k, v, o))
    opts = MhaOptions(threads if threads is not None else ctx.threads, None, None)
    pq, pk, pv, po, popt = (ctypes.byref(x) for x in (tq, tk, tv, to, opts))
    keep = (tq, tk, tv, to, opts)

    def run():
        st = f(pq, pk, pv, po, popt)
        if st != 0:
            raise RuntimeError(lib.error(st))
        return o

    run._keep = keep

    def conv(out):
        return bf16_bits_to_f32(out) if inp.bf16 else out

    return run, conv


def prep_torch_sdpa(ctx, s, inp, threads=None):
    if ctx.torch is None:
        raise NotApplicable(ctx.torch_err)
    torch = ctx.torch
    F = torch.nn.functional
    q, k, v = torch_inputs(ctx, inp)
    gqa = s["hq"] != s["hkv"]
    nthreads = threads if threads is not None else ctx.threads

    if s["window"] is None:
        def run():
            torch.set_num_threads(nthreads)
            with torch.inference_mode():
                return F.scaled_dot_product_attention(q, k, v, is_causal=s["causal"],
                                                      enable_gqa=gqa)
    else:
        # What a user does: the local heads with a shared band mask, the
        # global heads unmasked, then concatenate.
        w = s["window"]
        loc = [h for h in range(s["hq"]) if w[h] >= 0]
        glob = [h for h in range(s["hq"]) if w[h] < 0]
        assert loc == list(range(len(loc))) and s["hq"] == s["hkv"]
        mask = torch.from_numpy(band_mask_bool(s["L"], WINDOW))
        nl = len(loc)

        def run():
            torch.set_num_threads(nthreads)
            with torch.inference_mode():
                parts = [F.scaled_dot_product_attention(q[:, :nl], k[:, :nl], v[:, :nl],
                                                        attn_mask=mask)]
                if glob:
                    parts.append(F.scaled_dot_product_attention(q[:, nl:], k[:, nl:],
                                                                v[:, nl:]))
                return torch.cat(parts, dim=1)

    return run, lambda o: torch_out_to_np(ctx, o)


def prep_torch_flex(ctx, s, inp):
    if ctx.flex is None:
        raise NotApplicable(ctx.flex_err)
    torch = ctx.torch
    flex_attention, create_block_mask = ctx.flex
    q, k, v = torch_inputs(ctx, inp)
    L = s["L"]
    block_mask = None
    if s["causal"]:
        def causal(b, h, qi, kvi):
            return kvi <= qi
        block_mask = create_block_mask(causal, None, None, L, L, device="cpu")
    elif s["window"] is not None:
        nl = sum(1 for w in s["window"] if w >= 0)

        def multiscale(b, h, qi, kvi):
            return (h >= nl) | ((qi - kvi).abs() <= WINDOW)
        block_mask = create_block_mask(multiscale, None, s["hq"], L, L, device="cpu")
    fn = torch.compile(flex_attention, dynamic=False)
    gqa = s["hq"] != s["hkv"]

    def run():
        with torch.inference_mode():
            return fn(q, k, v, block_mask=block_mask, enable_gqa=gqa)

    return run, lambda o: torch_out_to_np(ctx, o)


def prep_jax(ctx, s, inp):
    if ctx.jax is None:
        raise NotApplicable(ctx.jax_err)
    jax = ctx.jax
    jnp = jax.numpy
    if inp.bf16:
        import ml_dtypes
        q, k, v = (x.view(ml_dtypes.bfloat16) for x in (inp.q16, inp.k16, inp.v16))
    else:
        q, k, v = inp.q, inp.k, inp.v
    # JAX's layout is [B, T, N, H].
    q, k, v = (jax.device_put(np.ascontiguousarray(x.transpose(0, 2, 1, 3)))
               for x in (q, k, v))
    if s["window"] is None:
        causal = s["causal"]

        @jax.jit
        def f(q, k, v):
            return jax.nn.dot_product_attention(q, k, v, is_causal=causal,
                                                implementation="xla")
    else:
        nl = sum(1 for w in s["window"] if w >= 0)

        @jax.jit
        def f(q, k, v):
            a = jax.nn.dot_product_attention(q[:, :, :nl], k[:, :, :nl], v[:, :, :nl],
                                             local_window_size=(WINDOW, WINDOW),
                                             implementation="xla")
            b = jax.nn.dot_product_attention(q[:, :, nl:], k[:, :, nl:], v[:, :, nl:],
                                             implementation="xla")
            return jnp.concatenate([a, b], axis=2)

    def run():
        return f(q, k, v).block_until_ready()

    def conv(o):
        return np.asarray(o).astype(np.float32).transpose(0, 2, 1, 3)

    run._keep = (q, k, v)
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
    if ctx.ort is None:
        raise NotApplicable(ctx.ort_err)
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
        groups = [(list(range(hq)), False)]
        if s["window"] is not None:
            nl = sum(1 for w in s["window"] if w >= 0)
            groups = [(list(range(nl)), True), (list(range(nl, hq)), False)]
        for heads, banded in groups:
            n = len(heads)
            hs = slice(heads[0], heads[-1] + 1)
            in_names = ["query", "key", "value", "", "", "attention_bias" if banded else ""]
            while in_names and in_names[-1] == "":
                in_names.pop()
            attrs = dict(num_heads=n, scale=inp.scale)
            if s["causal"]:
                attrs["unidirectional"] = 1
            nodes = [h.make_node("MultiHeadAttention", in_names, ["out"],
                                 domain="com.microsoft", **attrs)]
            ins = [h.make_tensor_value_info("query", TP.FLOAT, [B, L, n * D]),
                   h.make_tensor_value_info("key", TP.FLOAT, [B, L, n * D]),
                   h.make_tensor_value_info("value", TP.FLOAT, [B, L, n * D])]
            feeds = {"query": bsd(inp.q[:, hs]), "key": bsd(kk[:, hs]),
                     "value": bsd(vv[:, hs])}
            if banded:
                ins.append(h.make_tensor_value_info("attention_bias", TP.FLOAT,
                                                    [1, 1, L, L]))
                bias = np.where(band_mask_bool(L, WINDOW), 0.0, -np.inf).astype(np.float32)
                feeds["attention_bias"] = bias.reshape(1, 1, L, L)
            outs = [h.make_tensor_value_info("out", TP.FLOAT, [B, L, n * D])]
            sess = _ort_session(ctx, nodes, ins, outs)
            feeds_list.append((sess, feeds, hs))
        if hq != hkv:
            note = (note or "") + ""

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
    bias_causal = None
    bias_band = None
    if s["causal"]:
        bias_causal = np.triu(np.full((L, L), -np.inf, np.float32), 1)
    if s["window"] is not None:
        bias_band = np.where(band_mask_bool(L, WINDOW), 0.0, -np.inf).astype(np.float32)

    def head(b, h, t):
        sc = scratch[t]
        hk = h // rep
        np.matmul(q[b, h], k[b, hk].T, out=sc)
        bias = bias_causal
        if s["window"] is not None and s["window"][h] >= 0:
            bias = bias_band
        if bias is not None:
            sc += bias
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
# Timing
# ----------------------------------------------------------------------------
def time_it(run, timeout, budget, rmin, rmax):
    """Warm-up, then median of repeated runs. Returns (dict, last output)."""
    t0 = now()
    out = run()
    tw = now() - t0
    if tw > timeout:
        return {"status": "timeout", "warmup_s": tw,
                "reason": f"one call took {tw:.0f} s (> {timeout:.0f} s)"}, out
    n = int(max(rmin, min(rmax, budget / max(tw, 1e-6))))
    times = []
    for _ in range(n):
        t0 = now()
        out = run()
        times.append(now() - t0)
    return {"status": "ok", "median_s": statistics.median(times), "times_s": times,
            "warmup_s": tw}, out


def errors(o, ref):
    d = o.astype(np.float64) - ref.astype(np.float64)
    nref = float(np.linalg.norm(ref.astype(np.float64)))
    rel = float(np.linalg.norm(d)) / max(nref, 1e-30)
    return {"max_abs_err": float(np.max(np.abs(d))), "rel_l2_err": rel,
            "finite": bool(np.all(np.isfinite(o)))}


def tolerance(dt, ours):
    if dt == "f32":
        return 1e-4 if ours else 1e-3
    return 2e-2 if ours else 5e-2


def reference(ctx, s, inp):
    """torch SDPA in f32 on the (bf16-rounded, for bf16) inputs; NumPy if no torch."""
    i32 = copy.copy(inp)
    i32.bf16 = False
    if ctx.torch is not None:
        run, conv = prep_torch_sdpa(ctx, dict(s, dt="f32"), i32)
        return conv(run()), "torch SDPA f32"
    run, _ = prep_numpy(ctx, dict(s, dt="f32"), i32)
    return run().copy(), "numpy f32"


# ----------------------------------------------------------------------------
# Machine
# ----------------------------------------------------------------------------
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


def blas_info(ctx):
    info = {}
    if ctx.tpctl is not None:
        try:
            info["threadpoolctl"] = [
                {k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                         "num_threads", "filepath", "threading_layer")}
                for d in ctx.tpctl.threadpool_info()]
        except Exception as e:  # noqa: BLE001
            info["threadpoolctl_error"] = first_line(e)
    try:
        cfg = np.show_config(mode="dicts")
        info["numpy_blas"] = cfg.get("Build Dependencies", {}).get("blas", {})
        simd = cfg.get("SIMD Extensions", {})
        info["numpy_simd_found"] = simd.get("found", [])
    except Exception as e:  # noqa: BLE001
        info["numpy_config_error"] = first_line(e)
    return info


def versions(ctx):
    v = {"python": platform.python_version(), "numpy": np.__version__}
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
    return v


# ----------------------------------------------------------------------------
# Table
# ----------------------------------------------------------------------------
def fmt_cell(r, ours_gf, peak):
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
    head = ["shape", "ours ms", "ours GF/s", "%peak", "rel err"] + \
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
            err = f"{o['rel_l2_err']:.1e}"
        else:
            ours_gf = None
            ms = gf = pk = "-"
            err = ("WRONG " + f"{o.get('rel_l2_err', float('nan')):.1e}") if o.get("wrong") \
                else o.get("status", "-")
        row = [s["name"], ms, gf, pk, err]
        for p in peers:
            row.append(fmt_cell(res["impls"].get(p, {}), ours_gf, peak2))
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


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------
def main():
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
    args = ap.parse_args()
    budget = args.budget if args.budget is not None else (0.6 if args.quick else 1.5)
    rmin, rmax = (3, 10) if args.quick else (3, 15)
    peers = [p for p in args.peers.split(",") if p and p != "none"]

    t_start = now()
    ctx = Ctx(args.threads)
    import_peers(ctx)
    libs = {}
    lib_errs = {}
    for dt in ("f32", "bf16"):
        path = os.path.abspath(os.path.join(args.out, f"libmha_bench_{dt}.so"))
        try:
            libs[dt] = OurLibrary(path)
        except OSError as e:
            lib_errs[dt] = first_line(e)
            libs[dt] = lib_errs[dt]

    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["bench/run.sh"] + [a for a in sys.argv[1:] if a != "--out"
                                                 and a != args.out]),
        "machine": {"cpu": lscpu_model(), "logical_cpus": os.cpu_count(),
                    "kernel": platform.release()},
        "threads": args.threads,
        "env_dropped_for_openblas": _ENV_DROPPED,
        "load_before": loadavg(),
        "versions": versions(ctx),
        "blas": blas_info(ctx),
        "import_errors": {k: v for k, v in (("torch", ctx.torch_err),
                                            ("torch_flex", ctx.flex_err),
                                            ("jax", ctx.jax_err),
                                            ("onnxruntime", ctx.ort_err)) if v},
        "library_errors": lib_errs,
    }
    print(f"# mha CPU attention benchmark  {meta['date']}")
    print(f"# machine: {meta['machine']['cpu']}, {os.cpu_count()} logical CPUs, "
          f"threads={args.threads}, load avg {meta['load_before'][0]:.2f}")
    print(f"# versions: {meta['versions']}")
    print(f"# dropped from env for OpenBLAS: {_ENV_DROPPED or 'none set'}")
    for d in meta["blas"].get("threadpoolctl", []):
        print(f"# threadpool: {d.get('internal_api')} {d.get('version')} "
              f"core/kernel={d.get('architecture')} threads={d.get('num_threads')} "
              f"({os.path.basename(d.get('filepath') or '')})")
    if meta["import_errors"]:
        print(f"# import errors: {meta['import_errors']}")
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
    preps = {"torch_sdpa": prep_torch_sdpa, "torch_flex": prep_torch_flex,
             "jax": prep_jax, "onnxruntime": prep_onnxruntime,
             "numpy_openblas": prep_numpy}
    history = {}  # (impl, family) -> (L, seconds per call): timeout forecasts
    results = []

    def family(s):
        return (s["kind"], s["dt"], s["D"], s["causal"], s["hq"], s["hkv"])

    for s in shapes:
        nominal, effective = flop_counts(s)
        print(f"\n## {s['name']}  ({nominal / 1e9:.1f} GFLOP nominal"
              + (f", {effective / 1e9:.1f} needed" if effective != nominal else "")
              + f")  load {loadavg()[0]:.2f}")
        sys.stdout.flush()
        inp = Inputs(s)
        t0 = now()
        try:
            ref, ref_src = reference(ctx, s, inp)
        except Exception as e:  # noqa: BLE001
            ref, ref_src = None, f"reference failed: {first_line(e)}"
        entry = {"shape": {k: s[k] for k in ("name", "kind", "dt", "B", "hq", "hkv",
                                              "L", "D", "causal", "window", "fn")},
                 "flops_nominal": nominal, "flops_needed": effective,
                 "reference": ref_src, "reference_s": now() - t0, "impls": {}}
        for impl in ["ours"] + peers:
            rec = {}
            key = (impl, family(s))
            try:
                if key in history:
                    pl, pt = history[key]
                    est = pt * (s["L"] / pl) ** 2
                    if est > args.timeout:
                        rec = {"status": "timeout", "reason":
                               f"forecast {est:.0f} s/call from L={pl} ({pt:.2f} s)"}
                        raise StopIteration
                ts = now()
                if impl == "ours":
                    run, conv = prep_ours(ctx, s, inp, libs)
                else:
                    run, conv = preps[impl](ctx, s, inp)
                setup_s = now() - ts
                if impl in ("torch_flex", "jax", "onnxruntime"):
                    tc = now()
                    run()  # compile / first call, not timed
                    setup_s += now() - tc
                rec, out = time_it(run, args.timeout, budget, rmin, rmax)
                rec["setup_s"] = setup_s
                if getattr(run, "note", None):
                    rec["note"] = run.note
                if rec["status"] == "ok":
                    t = rec["median_s"]
                    history[key] = (s["L"], t)
                    rec["gflops"] = nominal / t / 1e9
                    rec["gflops_effective"] = effective / t / 1e9
                    if ref is not None:
                        rec.update(errors(conv(out), ref))
                        rec["wrong"] = (not rec["finite"]) or \
                            rec["rel_l2_err"] > tolerance(s["dt"], impl == "ours")
                else:
                    history[key] = (s["L"], rec["warmup_s"])
                del run, out
            except StopIteration:
                pass
            except NotApplicable as e:
                rec = {"status": "n/a", "reason": str(e)}
            except Exception as e:  # noqa: BLE001
                rec = {"status": "error", "reason": first_line(e),
                       "traceback": traceback.format_exc(limit=3)}
            entry["impls"][impl] = rec
            gc.collect()
            if rec.get("status") == "ok":
                msg = (f"{rec['median_s'] * 1e3:9.1f} ms  {rec['gflops']:7.1f} GFLOP/s"
                       + (f"  rel err {rec['rel_l2_err']:.1e}" if "rel_l2_err" in rec else "")
                       + ("  WRONG" if rec.get("wrong") else "")
                       + f"  (n={len(rec['times_s'])}, setup {rec['setup_s']:.1f} s)")
            else:
                msg = f"{rec.get('status')}: {rec.get('reason', '')}"
            print(f"  {impl:15s} {msg}")
            sys.stdout.flush()
        results.append(entry)
        del inp, ref
        gc.collect()

    # --- extras: thread scaling and window-vs-global -------------------------
    extras = {}
    L_sc = min(2048, args.max_len or 2048)
    s = make_shape("mha", "f32", 128, L_sc, False)
    if not args.no_extras:
        print(f"\n## thread scaling: {s['name']}")
    inp = Inputs(s)
    sc = {"shape": s["name"]}
    for impl in () if args.no_extras else ("ours", "torch_sdpa"):
        for t in sorted({1, args.threads}):
            try:
                if impl == "ours":
                    run, _ = prep_ours(ctx, s, inp, libs, threads=t)
                else:
                    run, _ = prep_torch_sdpa(ctx, s, inp, threads=t)
                rec, _ = time_it(run, args.timeout, budget, rmin, rmax)
                sc[f"{impl}_{t}t_s"] = rec.get("median_s")
                print(f"  {impl:12s} {t} thread(s): {rec.get('median_s', float('nan')) * 1e3:.1f} ms")
            except Exception as e:  # noqa: BLE001
                sc[f"{impl}_{t}t_error"] = first_line(e)
                print(f"  {impl:12s} {t} thread(s): {first_line(e)}")
        a, b = sc.get(f"{impl}_1t_s"), sc.get(f"{impl}_{args.threads}t_s")
        if a and b:
            sc[f"{impl}_speedup"] = a / b
    if ctx.torch is not None:
        ctx.torch.set_num_threads(args.threads)
    extras["thread_scaling"] = sc
    del inp

    L_w = 2048 if args.quick else 8192
    if args.max_len:
        L_w = min(L_w, args.max_len)
    wg = {"L": L_w, "window": WINDOW, "ideal": L_w * L_w / visible_pairs(L_w, WINDOW),
          "ideal_simple": L_w / (2 * WINDOW + 1)}
    if not args.no_extras:
        print(f"\n## window {WINDOW} vs global, f32 D=128 L={L_w} (ours)")
    for kind in () if args.no_extras else ("mha", "win"):
        s = make_shape(kind, "f32", 128, L_w, False)
        inp = Inputs(s)
        try:
            run, conv = prep_ours(ctx, s, inp, libs)
            rec, out = time_it(run, 60.0, budget, rmin, rmax)
            wg[f"{kind}_s"] = rec.get("median_s")
            if kind == "win" and ctx.torch is not None and rec["status"] == "ok":
                # correctness of the windowed kernel on a few heads
                torch = ctx.torch
                F = torch.nn.functional
                mask = torch.from_numpy(band_mask_bool(L_w, WINDOW))
                with torch.inference_mode():
                    r = F.scaled_dot_product_attention(
                        torch.from_numpy(inp.q[:, :2]), torch.from_numpy(inp.k[:, :2]),
                        torch.from_numpy(inp.v[:, :2]), attn_mask=mask).numpy()
                wg["win_rel_l2_err_heads01"] = errors(conv(out)[:, :2], r)["rel_l2_err"]
            print(f"  {kind}: {rec.get('median_s', float('nan')) * 1e3:.1f} ms")
        except Exception as e:  # noqa: BLE001
            wg[f"{kind}_error"] = first_line(e)
            print(f"  {kind}: {first_line(e)}")
        del inp
        gc.collect()
    if wg.get("mha_s") and wg.get("win_s"):
        wg["speedup"] = wg["mha_s"] / wg["win_s"]
        wg["share_of_ideal"] = wg["speedup"] / wg["ideal_simple"]
    extras["window_vs_global"] = wg

    meta["load_after"] = loadavg()
    meta["wall_s"] = now() - t_start
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
        for n in ns:
            notes.append(f"{PEER_TITLES[impl]}: {n}")
    summary = []
    if sc.get("ours_speedup"):
        summary.append(f"thread scaling ({sc['shape']}): ours {args.threads} threads / 1 thread "
                       f"= {sc['ours_speedup']:.2f}x"
                       + (f"; torch SDPA {sc['torch_sdpa_speedup']:.2f}x"
                          if sc.get("torch_sdpa_speedup") else ""))
    if wg.get("speedup"):
        summary.append(f"window {WINDOW} vs global (ours, f32 D=128 L={L_w}): "
                       f"{wg['speedup']:.2f}x, ideal L/(2*{WINDOW}+1) = "
                       f"{wg['ideal_simple']:.2f}x -> {100 * wg['share_of_ideal']:.0f}% of ideal")
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
        extras["bf16_over_f32"] = pairs
    pk = ", ".join(f"{k}={v}" for k, v in peak.items())
    legend = ("GF/s = 4*B*H*Lq*Lk*D / time (halved for causal; dense-equivalent for "
              "windowed shapes, 'eff' counts only visible pairs); '(ours/x)' = ours / peer "
              "speed; %peak = ours (needed FLOPs) / measured fp32 FMA peak with "
              f"{args.threads} threads ({peak2} GFLOP/s); rel err = ||o-ref||/||ref|| "
              "vs torch SDPA f32 on the same (bf16-rounded) inputs.")
    print("\n" + text)
    print("\n" + legend)
    for line in summary + notes:
        print("- " + line)
    print(f"\n# load avg before {meta['load_before'][0]:.2f}, after "
          f"{meta['load_after'][0]:.2f}; wall {meta['wall_s']:.0f} s; peak {pk}")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results, "extras": extras,
                   "table": {"head": head, "rows": rows}, "notes": notes,
                   "summary": summary}, f, indent=1, default=str)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(f"Command: `{meta['command']}`  \nDate: {meta['date']}  \n"
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
