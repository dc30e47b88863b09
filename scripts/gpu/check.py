#!/usr/bin/env python3
"""The one-command GPU check (issue 6): correctness and speed of a bundle.

    python3 check.py BUNDLE_DIR [--device cuda|cpu] [--only REGEX] [--no-bench]

BUNDLE_DIR is what scripts/gpu-build.sh wrote: manifest.json, one spec and
one library per case, and a copy of the repository's python/mha in
python/ (the structs, library calls and float64 reference shared with
bench/). Runs
where the GPU is: python3 with PyTorch, NumPy (and, for the FlexAttention
peer, Triton); no MLIR, no internet.

Correctness: every case of the manifest is called through ctypes on
hand-built DLTensors (fresh random normal inputs, outputs poisoned with NaN)
and compared with the float64 reference of SPEC.md (mha.reference, NumPy on
the host) on the same inputs; bad inputs must fail with the right status
and leave the outputs untouched. Speed: each benchmark shape is timed for
our kernel, PyTorch SDPA (FlashAttention-2 and cuDNN backends) and
FlexAttention on the same inputs, CUDA events, median of several runs after
warm-up.

The last lines printed are two tables; the full log (gpu-check.log) and the
results (gpu-check.json) go to $OUT if set, else BUNDLE_DIR (--out
overrides). Exit status: 0 when every correctness case passed and our kernel
ran (and agreed with a peer) on every benchmark shape; 1 otherwise; 2 when
the bundle cannot be read.

--device cpu runs the same plumbing on kDLCPU tensors against a bundle built
with MHA_GPU_TARGET=cpu (peers that need CUDA print n/a; the benchmark specs
run at a tiny length, --bench-L).
"""
import argparse
import ctypes
import datetime
import itertools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
import zlib


def _use_mha_package():
    """Puts the folder holding the `mha` package on sys.path: the bundle's
    python/ (scripts/gpu-build.sh copies python/mha there) or the
    repository's python/ (when run from scripts/gpu/)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "python"), os.path.join(here, os.pardir, os.pardir, "python")):
        if os.path.isfile(os.path.join(p, "mha", "reference.py")):
            sys.path.insert(0, os.path.abspath(p))
            return
    raise ImportError("python/mha not found beside check.py or in the repository")


_use_mha_package()
from mha import reference as mha_reference  # noqa: E402
from mha._dlpack import (KDL_CPU, KDL_CUDA, MHA_ERR_DEVICE,  # noqa: E402
                         MHA_ERR_DTYPE, MHA_ERR_INVALID_ARGUMENT, MHA_ERR_SHAPE,
                         make_tensor, options, status_name)
from mha._library import Library  # noqa: E402
from mha.semantics import has_window, key_visible  # noqa: E402

T0 = time.perf_counter()

# ----------------------------------------------------------------------------
# Logging: everything printed also goes to the log file (flushed as we go, so
# a run killed by a time limit still leaves its log).
# ----------------------------------------------------------------------------
class Log:
    def __init__(self):
        self.lines = []
        self.file = None

    def open(self, path):
        self.file = open(path, "w")
        for line in self.lines:
            self.file.write(line + "\n")
        self.file.flush()

    def __call__(self, *parts):
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.lines.append(line)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()


log = Log()


def first_line(e):
    s = f"{type(e).__name__}: {e}".strip()
    return s.splitlines()[0][:200] if s else type(e).__name__


def elapsed():
    return time.perf_counter() - T0


class NotApplicable(Exception):
    """A peer has no kernel for this shape; printed as n/a with the reason."""


torch = None  # imported in main (so --help works without it)


def torch_dtype(name):
    return {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}[name]


DL_DTYPES = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64",
             "int32": "i32"}


def dltensor(t, fake_device=None):
    """A DLTensor (mha._dlpack) over torch tensor t: data_ptr (storage offset
    included), byte_offset 0, shape and strides in elements. fake_device
    overrides the (device_type, device_id) for the wrong-device test. The
    struct keeps the tensor alive."""
    if fake_device is not None:
        device = fake_device
    elif t.is_cuda:
        device = (KDL_CUDA, t.device.index or 0)
    else:
        device = (KDL_CPU, 0)
    return make_tensor(t.data_ptr(), tuple(t.shape), t.stride(),
                       DL_DTYPES[str(t.dtype).replace("torch.", "")], device, keep=t)


# ----------------------------------------------------------------------------
# The float64 reference of SPEC.md (mha.reference, NumPy, on the host)
# ----------------------------------------------------------------------------
def reference(q, k, v, a, rt_mask=None, kv_lens=None, q_lens=None):
    """o [B,Hq,Lq,Dv], lse [B,Hq,Lq] (float64) and alive [Hq] (bool) of
    mha.reference.attention, as torch tensors on q's device; with kv_lens
    (q_lens), batch element b has its first kv_lens[b] keys (q_lens[b]
    rows), each attended alone; padding rows get o = 0 and lse = -inf."""
    host = [x.detach().to("cpu", torch.float64).numpy() for x in (q, k, v)]
    if kv_lens is None and q_lens is None:
        o, lse, alive = (torch.from_numpy(x)
                         for x in mha_reference.attention(*host, a, rt_mask))
    else:
        B, hq, lq, lk = q.shape[0], q.shape[1], q.shape[2], k.shape[2]
        o = torch.zeros((B, hq, lq, v.shape[3]), dtype=torch.float64)
        lse = torch.full((B, hq, lq), float("-inf"), dtype=torch.float64)
        alive = None
        for b in range(B):
            rows = q_lens[b] if q_lens else lq
            keys = kv_lens[b] if kv_lens else lk
            ob, lb, alive = mha_reference.attention(
                host[0][b:b + 1, :, :rows], host[1][b:b + 1, :, :keys],
                host[2][b:b + 1, :, :keys], a, rt_mask)
            o[b, :, :rows] = torch.from_numpy(ob[0])
            lse[b, :, :rows] = torch.from_numpy(lb[0])
        alive = torch.from_numpy(alive)
    dev = q.device
    return o.to(dev), lse.to(dev), alive.to(dev)


# ----------------------------------------------------------------------------
# Correctness
# ----------------------------------------------------------------------------
def seed_of(*parts):
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def randn(shape, dtype, device, gen, blhd=False, unaligned=False):
    """Random normal tensor of logical shape [B, H, L, X]; with blhd a
    transposed view of [B, L, H, X] storage; with unaligned a view of
    [B, H, L, X + 1] storage without its first column, so that no row starts
    on a 16-byte boundary (the GPU library's fallback kernel)."""
    if unaligned:
        wide = torch.randn(tuple(shape[:-1]) + (shape[-1] + 1,), generator=gen,
                           device=device, dtype=torch.float32)
        return wide.to(dtype)[..., 1:]
    if blhd and len(shape) == 4:
        b, h, l, x = shape
        t = torch.randn((b, l, h, x), generator=gen, device=device, dtype=torch.float32)
        return t.to(dtype).transpose(1, 2)
    t = torch.randn(shape, generator=gen, device=device, dtype=torch.float32)
    return t.to(dtype)


def paged_cache(k, v, page_size, seed, vllm_layout=False):
    """Page pools [pages, Hkv, page_size, D] holding k's and v's keys in a
    shuffled page order (3 spare pages of noise, a last table column of -1
    that no key reaches) and the block table [B, max_pages] (i32); with
    vllm_layout the pools are transposed views of [pages, page_size, Hkv,
    D] storage."""
    B, hkv, lk, _ = k.shape
    per_seq = -(-lk // page_size)
    pages = B * per_seq + 3
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(pages, generator=gen).tolist()
    table = torch.full((B, per_seq + 1), -1, dtype=torch.int32)
    pools = []
    for x in (k, v):
        shape = (pages, page_size, hkv, x.shape[3]) if vllm_layout else \
            (pages, hkv, page_size, x.shape[3])
        pool = torch.randn(shape, generator=gen).to(x.dtype).to(x.device)
        view = pool.transpose(1, 2) if vllm_layout else pool
        for b in range(B):
            for p in range(per_seq):
                keys = slice(p * page_size, min((p + 1) * page_size, lk))
                view[order[b * per_seq + p], :, :keys.stop - keys.start] = x[b, :, keys]
        pools.append(view)
    for b in range(B):
        table[b, :per_seq] = torch.tensor(order[b * per_seq:(b + 1) * per_seq])
    return pools[0], pools[1], table.to(k.device)


def poisoned(shape, dtype, device, blhd=False):
    if blhd and len(shape) == 4:
        b, h, l, x = shape
        return torch.full((b, l, h, x), float("nan"), dtype=dtype, device=device).transpose(1, 2)
    return torch.full(shape, float("nan"), dtype=dtype, device=device)


def check_lse(lse, ref, tol, problems):
    """Our lse against the float64 reference `ref`: no NaN, -inf exactly
    where the reference has no visible key, elsewhere within `tol`
    (absolute). Appends what is wrong to `problems`; returns the largest
    error."""
    ours = lse.to(torch.float64)
    ref_empty = torch.isneginf(ref)
    nan = int(torch.isnan(ours).sum())
    if nan:
        problems.append(f"{nan} NaN in lse")
    bad_inf = int((ref_empty != torch.isneginf(ours)).sum())
    if bad_inf:
        problems.append(f"{bad_inf} lse rows -inf in one of ours/ref only")
    fin = ~ref_empty & torch.isfinite(ours)
    err = float((ours[fin] - ref[fin]).abs().max()) if bool(fin.any()) else 0.0
    if not err < tol:
        problems.append(f"lse abs err {err:.3g} >= {tol:g}")
    return err


def rel_err(x, ref):
    n = float(torch.linalg.vector_norm(ref))
    d = float(torch.linalg.vector_norm(x - ref))
    return d / n if n > 0 else d


def rt_mask_for(case):
    """The case's runtime head mask (manifest), else every third head ablated."""
    return case.get("runtime_head_mask") or [0 if h % 3 == 2 else 1
                                             for h in range(case["Hq"])]


def run_variant(ctx, case, lib, variant):
    """Runs one variant of one case; returns a result dict."""
    if variant.startswith("backward"):
        return run_backward(ctx, case, lib, variant)
    if variant == "merge":
        return run_merge(ctx, case, lib)
    if variant == "append":
        return run_append(ctx, case, lib)
    if "seqlens_q" in case:
        return run_packed(ctx, case, lib, variant)
    dev = ctx.device
    res = dict(case=case["name"], variant=variant, dtype=case["dtype"], rel_err=None,
               lse_err=None, status="ok", detail="")
    if variant == "stream" and dev.type != "cuda":
        res["status"] = "skip"
        res["detail"] = "needs CUDA"
        return res
    dt = torch_dtype(case["dtype"])
    B, hq, hkv, lq, lk, D, Dv = (case[x] for x in ("B", "Hq", "Hkv", "Lq", "Lk", "D", "Dv"))
    a = case["attrs"]
    want_lse = "lse" in case["results"]
    blhd = variant == "blhd"
    unaligned = variant == "unaligned"
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed_of(ctx.seed, case["name"], variant))
    q = randn((B, hq, lq, D), dt, dev, gen, blhd, unaligned)
    k = randn((B, hkv, lk, D), dt, dev, gen, blhd, unaligned)
    v = randn((B, hkv, lk, Dv), dt, dev, gen, blhd, unaligned)
    o = poisoned((B, hq, lq, Dv), dt, dev, blhd)
    lse = poisoned((B, hq, lq), torch.float32, dev) if want_lse else None
    rt = rt_mask_for(case) if variant == "rt_mask" else None

    fake_dev = None
    expect = 0
    if variant == "bad_device":
        expect = MHA_ERR_DEVICE
        if dev.type == "cuda":
            q = q.cpu()               # a real host tensor among device tensors
        else:
            fake_dev = (KDL_CUDA, 0)  # a host tensor claiming to be on the GPU
    elif variant == "bad_shape":
        expect = MHA_ERR_SHAPE
        k = k[:, :, : lk - 1]         # k shorter than v
    elif variant == "bad_dtype":
        expect = MHA_ERR_DTYPE
        q = q.to(torch.float32 if dt != torch.float32 else torch.float16)
    elif variant == "bad_index":
        expect = MHA_ERR_INVALID_ARGUMENT  # with check_indices (below)

    stream = None
    stream_ptr = None
    if dev.type == "cuda":
        if variant == "stream":
            stream = torch.cuda.Stream(device=dev)
            stream.wait_stream(torch.cuda.current_stream(dev))
            stream_ptr = stream.cuda_stream
        else:
            stream_ptr = torch.cuda.current_stream(dev).cuda_stream
    opts = None if variant == "null_opts" else options(0, stream_ptr, rt,
                                                       check_indices=variant == "bad_index")
    # Valid key lengths and real query rows (kv_lens, q_lens: [B] i32)
    # follow k and v, then the block table of a paged cache, whose pools
    # the call reads in place of k and v (the reference reads k and v).
    kv_lens, q_lens = case.get("kv_lens"), case.get("q_lens")
    lens = [dltensor(torch.tensor(x, dtype=torch.int32, device=dev))
            for x in (kv_lens, q_lens) if x]
    k_arg, v_arg = k, v
    if variant == "bad_index" and not case.get("page_size"):
        lens[0] = dltensor(torch.tensor([lk + 1] + kv_lens[1:], dtype=torch.int32,
                                        device=dev))
    if case.get("page_size"):
        k_arg, v_arg, table = paged_cache(k, v, case["page_size"],
                                          seed_of(ctx.seed, case["name"], variant, "pages"),
                                          vllm_layout=variant == "vllm")
        if variant == "bad_index":
            table[0, 0] = 1 << 30  # a page past the pool, which kv_lens[0] uses
        lens.append(dltensor(table))
    tensors = [dltensor(q, fake_dev), dltensor(k_arg), dltensor(v_arg)] + lens + [dltensor(o)]
    if want_lse:
        tensors.append(dltensor(lse))
    f = lib.function(case["function"], 3 + len(lens) + len(case["results"]))
    call = f.prepare(tensors, opts)
    st = call()
    if stream is not None:
        stream.synchronize()
    elif dev.type == "cuda":
        torch.cuda.synchronize(dev)

    if expect:
        err = lib.last_error()
        problems = []
        if st != expect:
            problems.append(f"status {status_name(st)}, expected {status_name(expect)}"
                            + (f" ({err})" if st else ""))
        if st != 0 and not err:
            problems.append("mha_last_error() is empty")
        if not bool(torch.isnan(o.float()).all()):
            problems.append("output written on error")
        if want_lse and not bool(torch.isnan(lse).all()):
            problems.append("lse written on error")
        if variant == "bad_index" and dev.type == "cuda" and not problems:
            # Unchecked, the kernels clamp the index: the call runs, and
            # nothing reads outside the tensors (no CUDA error).
            st = f.prepare(tensors, options(0, stream_ptr, rt))()
            torch.cuda.synchronize(dev)
            if st != 0:
                problems.append(f"unchecked: status {status_name(st)} ({lib.last_error()})")
        res["detail"] = err
        if problems:
            res["status"] = "FAIL"
            res["detail"] = "; ".join(problems)
        return res

    if st != 0:
        res["status"] = "FAIL"
        res["detail"] = str(lib.error(st))
        return res

    ref_o, ref_lse, alive = reference(q, k, v, a, rt, kv_lens, q_lens)
    o64 = o.to(torch.float64)
    problems = []
    nan = int(torch.isnan(o64).sum())
    if nan:
        problems.append(f"{nan} NaN (unwritten or computed) in o")
    o64 = torch.nan_to_num(o64, nan=0.0)
    res["rel_err"] = rel_err(o64, ref_o)
    # f32 specs run on bf16 tensor cores on the GPU (operands rounded to
    # bf16, f32 accumulation): bf16 tolerances there.
    exact_f32 = case["dtype"] == "f32" and dev.type == "cpu"
    tol = 1e-5 if exact_f32 else 1e-2
    if not res["rel_err"] < tol:
        problems.append(f"rel err {res['rel_err']:.3g} >= {tol:g}")
    dead = ~alive
    if bool(dead.any()):
        nz = int((o64[:, dead] != 0).sum())
        if nz:
            problems.append(f"{nz} nonzero outputs in pruned heads")
    if want_lse:
        ref = ref_lse[:, alive]
        res["lse_err"] = check_lse(lse[:, alive], ref, 1e-4 if exact_f32 else 1e-2,
                                   problems)
        res["empty_rows"] = int(torch.isneginf(ref).sum())
    if problems:
        res["status"] = "FAIL"
        res["detail"] = "; ".join(problems)
    return res


PACKED_TAIL_ROWS = 3


def run_packed(ctx, case, lib, variant):
    """A case of packed sequences (cu_seqlens_q, and cu_seqlens_k or a
    paged cache with kv_lens): each sequence against the float64 reference
    of its own rows and keys; the rows past the last sequence must be o = 0
    and lse = -inf."""
    dev = ctx.device
    res = dict(case=case["name"], variant=variant, dtype=case["dtype"], rel_err=None,
               lse_err=None, status="ok", detail="")
    dt = torch_dtype(case["dtype"])
    hq, hkv, D, Dv, a = (case[x] for x in ("Hq", "Hkv", "D", "Dv", "attrs"))
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed_of(ctx.seed, case["name"], variant))
    lens_q = case["seqlens_q"]
    cu = lambda lens: torch.tensor([0] + list(itertools.accumulate(lens)),  # noqa: E731
                                   dtype=torch.int32, device=dev)
    total = sum(lens_q) + PACKED_TAIL_ROWS
    q = randn((1, hq, total, D), dt, dev, gen)
    o = poisoned((1, hq, total, Dv), dt, dev)
    lse = poisoned((1, hq, total), torch.float32, dev)
    if "seqlens_k" in case:
        lens_k = case["seqlens_k"]
        k = randn((1, hkv, sum(lens_k), D), dt, dev, gen)
        v = randn((1, hkv, sum(lens_k), Dv), dt, dev, gen)
        starts = [int(x) for x in cu(lens_k)[:-1]]
        keys = [(k[:, :, s:s + n], v[:, :, s:s + n]) for s, n in zip(starts, lens_k)]
        args = [k, v, cu(lens_q), cu(lens_k)]
    else:  # a paged cache [S, Hkv, Lk, D] with kv_lens
        B, lk = case["B"], case["Lk"]
        k = randn((B, hkv, lk, D), dt, dev, gen)
        v = randn((B, hkv, lk, Dv), dt, dev, gen)
        lens_k = case["kv_lens"]
        keys = [(k[b:b + 1, :, :n], v[b:b + 1, :, :n]) for b, n in enumerate(lens_k)]
        kp, vp, table = paged_cache(k, v, case["page_size"],
                                    seed_of(ctx.seed, case["name"], variant, "pages"))
        args = [kp, vp, torch.tensor(lens_k, dtype=torch.int32, device=dev), table,
                cu(lens_q)]
    st = call_and_wait(ctx, lib, case["function"], [q] + args + [o, lse])
    if st != 0:
        res.update(status="FAIL", detail=str(lib.error(st)))
        return res
    ref_o = torch.zeros((1, hq, total, Dv), dtype=torch.float64, device=dev)
    ref_lse = torch.full((1, hq, total), float("-inf"), dtype=torch.float64, device=dev)
    start = 0
    for n, (ks, vs) in zip(lens_q, keys):
        if n:
            ob, lb, _ = reference(q[:, :, start:start + n], ks, vs, a)
            ref_o[:, :, start:start + n] = ob
            ref_lse[:, :, start:start + n] = lb
        start += n
    problems = []
    o64 = o.double()
    if bool(torch.isnan(o64).any()):
        problems.append(f"{int(torch.isnan(o64).sum())} NaN in o (unwritten rows?)")
    res["rel_err"] = rel_err(torch.nan_to_num(o64), ref_o)
    if not res["rel_err"] < 1e-2:
        problems.append(f"rel err {res['rel_err']:.3g} >= 1e-2")
    res["lse_err"] = check_lse(lse, ref_lse, 1e-2, problems)
    if problems:
        res.update(status="FAIL", detail="; ".join(problems))
    return res


def call_and_wait(ctx, lib, function, tensors):
    """Calls `function` on the current stream and waits; its status."""
    dev = ctx.device
    stream = torch.cuda.current_stream(dev).cuda_stream if dev.type == "cuda" else None
    f = lib.function(function, len(tensors))
    st = f.prepare([dltensor(t) for t in tensors], options(0, stream, None))()
    sync(dev)
    return st


def run_merge(ctx, case, lib):
    """`<name>_merge` (mha.merge_states) on random pairs with rows of
    lse = -inf on either side (their outputs NaN: they must add nothing) and
    on both, against a float64 merge."""
    dev = ctx.device
    res = dict(case=case["name"], variant="merge", dtype=case["dtype"], rel_err=None,
               lse_err=None, status="ok", detail="")
    dt = torch_dtype(case["dtype"])
    B, hq, lq, Dv = case["B"], case["Hq"], max(case["Lq"], 9), case["Dv"]
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed_of(ctx.seed, case["name"], "merge"))
    oa, ob = (randn((B, hq, lq, Dv), dt, dev, gen) for _ in range(2))
    la, lb = (3 * randn((B, hq, lq), torch.float32, dev, gen) for _ in range(2))
    rows = torch.arange(lq, device=dev)
    la[..., rows % 3 == 1] = float("-inf")
    lb[..., rows % 4 == 1] = float("-inf")   # rows 1, 13, ...: both empty
    oa[la == float("-inf")] = float("nan")
    ob[lb == float("-inf")] = float("nan")
    o = poisoned((B, hq, lq, Dv), dt, dev)
    lse = poisoned((B, hq, lq), torch.float32, dev)
    st = call_and_wait(ctx, lib, case["merge_function"], [oa, la, ob, lb, o, lse])
    if st != 0:
        res.update(status="FAIL", detail=str(lib.error(st)))
        return res
    la64, lb64 = la.double(), lb.double()
    m = torch.maximum(la64, lb64)
    empty = torch.isneginf(m)
    m = torch.where(empty, torch.zeros_like(m), m)
    wa, wb = torch.exp(la64 - m), torch.exp(lb64 - m)
    side = lambda w, x: torch.where(w.unsqueeze(-1) == 0, torch.zeros_like(x),  # noqa: E731
                                    w.unsqueeze(-1) * x)
    total = wa + wb
    ref_o = (side(wa, oa.double()) + side(wb, ob.double())) / \
        torch.where(empty, torch.ones_like(total), total).unsqueeze(-1)
    ref_lse = torch.where(empty, torch.full_like(m, float("-inf")), m + torch.log(total))
    problems = []
    o64 = o.double()
    if bool(torch.isnan(o64).any()):
        problems.append(f"{int(torch.isnan(o64).sum())} NaN in o")
    res["rel_err"] = rel_err(torch.nan_to_num(o64), ref_o)
    tol = 1e-5 if case["dtype"] == "f32" and dev.type == "cpu" else 1e-2
    if not res["rel_err"] < tol:
        problems.append(f"rel err {res['rel_err']:.3g} >= {tol:g}")
    res["lse_err"] = check_lse(lse, ref_lse, 1e-3, problems)
    if problems:
        res.update(status="FAIL", detail="; ".join(problems))
    return res


def rope64(x, positions, theta):
    """x [..., n, D] rotated at `positions` [n] in float64 (pairs (i, i +
    D/2), angle p * theta^(-2i/D): docs/language.md 4.7)."""
    d = x.shape[-1]
    freqs = theta ** (-2.0 * torch.arange(d // 2, dtype=torch.float64) / d)
    ang = positions.double().unsqueeze(-1).cpu() * freqs
    c, s_ = torch.cos(ang).to(x.device), torch.sin(ang).to(x.device)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * c - x2 * s_, x2 * c + x1 * s_], dim=-1)


def run_append(ctx, case, lib):
    """`<name>_append` (mha.append_kv with RoPE) of 3 new keys per sequence
    (packed cases: 3, 0, 2, 1, ... packed, and a row past the last
    sequence) into random caches (paged like the case's, a full one, an
    empty one) against float64 RoPE: the appended slots within 1e-2, the
    values and every other slot bit for bit."""
    dev = ctx.device
    res = dict(case=case["name"], variant="append", dtype=case["dtype"], rel_err=None,
               lse_err=None, status="ok", detail="")
    dt = torch_dtype(case["dtype"])
    B, hkv, lk, D, Dv = (case[x] for x in ("B", "Hkv", "Lk", "D", "Dv"))
    packed = "seqlens_q" in case
    counts = [(3, 0, 2, 1)[b % 4] for b in range(B)] if packed else [3] * B
    lens = [min(x, lk - n) for x, n in zip(case["kv_lens"], counts)]
    lens[0] = lk - counts[0]  # fills the cache
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed_of(ctx.seed, case["name"], "append"))
    # New keys: [B, Hkv, 3, D], or packed [1, Hkv, sum + 1, D].
    rows = [(b, slice(None), t) for b in range(B) for t in range(counts[b])]
    shape = (1, hkv, sum(counts) + 1) if packed else (B, hkv, 3)
    kn, vn = randn(shape + (D,), dt, dev, gen), randn(shape + (Dv,), dt, dev, gen)
    new_row = (lambda b, t: (0, slice(None), sum(counts[:b]) + t)) if packed else \
        (lambda b, t: (b, slice(None), t))
    k, v = randn((B, hkv, lk, D), dt, dev, gen), randn((B, hkv, lk, Dv), dt, dev, gen)
    kv_lens = torch.tensor(lens, dtype=torch.int32, device=dev)
    table = None
    if case.get("page_size"):
        k, v, table = paged_cache(k, v, case["page_size"],
                                  seed_of(ctx.seed, case["name"], "append-pages"))

    def slot(b, p):
        if table is None:
            return (b, slice(None), p)
        ps = case["page_size"]
        return (int(table[b, p // ps]), slice(None), p % ps)

    want_k, want_v = k.clone(), v.clone()
    written = torch.zeros(k.shape[:3], dtype=torch.bool, device=dev)
    for b, _, t in rows:
        p = lens[b] + t
        x = kn[new_row(b, t)].double().unsqueeze(1)  # [Hkv, 1, D]
        rotated = rope64(x, torch.tensor([p], device=dev), case["append_rope_theta"])
        want_k[slot(b, p)] = rotated[:, 0].to(dt)
        want_v[slot(b, p)] = vn[new_row(b, t)]
        written[slot(b, p)] = True
    args = [kn, vn, kv_lens] + ([table] if table is not None else [])
    if packed:
        args.append(torch.tensor([0] + list(itertools.accumulate(counts)),
                                 dtype=torch.int32, device=dev))
    st = call_and_wait(ctx, lib, case["append_function"], args + [k, v])
    if st != 0:
        res.update(status="FAIL", detail=str(lib.error(st)))
        return res
    problems = []
    if not torch.equal(v, want_v):
        problems.append("values differ")
    if not torch.equal(k[~written], want_k[~written]):
        problems.append("keys outside the appended slots changed")
    res["rel_err"] = rel_err(k[written].double(), want_k[written].double())
    if not res["rel_err"] < 1e-2:
        problems.append(f"rotated keys rel err {res['rel_err']:.3g} >= 1e-2")
    if problems:
        res.update(status="FAIL", detail="; ".join(problems))
    return res


def run_backward(ctx, case, lib, variant):
    """The backward variants: our forward, then `<name>_backward` twice
    (the gradients must be the same bits), against the float64 gradients
    of mha.reference.attention_backward."""
    dev = ctx.device
    res = dict(case=case["name"], variant=variant, dtype=case["dtype"], rel_err=None,
               lse_err=None, status="ok", detail="")
    dt = torch_dtype(case["dtype"])
    B, hq, hkv, lq, lk, D, Dv = (case[x] for x in ("B", "Hq", "Hkv", "Lq", "Lk", "D", "Dv"))
    unaligned = variant == "backward_unaligned"
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed_of(ctx.seed, case["name"], variant))
    q, k, v = (randn(s, dt, dev, gen, unaligned=unaligned)
               for s in ((B, hq, lq, D), (B, hkv, lk, D), (B, hkv, lk, Dv)))
    dout = randn((B, hq, lq, Dv), dt, dev, gen, unaligned=unaligned)
    o = poisoned((B, hq, lq, Dv), dt, dev)
    lse = poisoned((B, hq, lq), torch.float32, dev)
    rt = rt_mask_for(case) if variant == "backward_rt_mask" else None
    stream = torch.cuda.current_stream(dev).cuda_stream if dev.type == "cuda" else None
    opts = options(0, stream, rt)
    # Padded batches: the lengths follow v in both calls.
    kv_lens, q_lens = case.get("kv_lens"), case.get("q_lens")
    lens = [torch.tensor(x, dtype=torch.int32, device=dev) for x in (kv_lens, q_lens) if x]
    inputs = [q, k, v] + lens
    st = lib.function(case["function"], 5 + len(lens)).prepare(
        [dltensor(x) for x in inputs + [o, lse]], opts)()
    sync(dev)
    grads = [poisoned(x.shape, dt, dev) for x in (q, k, v)]
    call = None
    if st == 0:
        call = lib.function(case["function"] + "_backward", 9 + len(lens)).prepare(
            [dltensor(x) for x in inputs + [o, lse, dout, *grads]], opts)
        st = call()
        sync(dev)
    if st != 0:
        res["status"] = "FAIL"
        res["detail"] = str(lib.error(st))
        return res
    first = [g.clone() for g in grads]
    st = call()
    sync(dev)
    host = [x.detach().to("cpu", torch.float64).numpy() for x in (q, k, v, dout)]
    if kv_lens or q_lens:
        # Each sequence alone; padding rows and keys get zero gradients.
        ref = [x * 0.0 for x in host[:3]]
        for b in range(B):
            rows = q_lens[b] if q_lens else lq
            keys = kv_lens[b] if kv_lens else lk
            part = mha_reference.attention_backward(
                host[0][b:b + 1, :, :rows], host[1][b:b + 1, :, :keys],
                host[2][b:b + 1, :, :keys], host[3][b:b + 1, :, :rows],
                case["attrs"], rt)
            ref[0][b, :, :rows] = part[0][0]
            ref[1][b, :, :keys] = part[1][0]
            ref[2][b, :, :keys] = part[2][0]
    else:
        ref = mha_reference.attention_backward(*host, case["attrs"], rt)
    problems = []
    errs = []
    for name, g, r, g0 in zip(("dq", "dk", "dv"), grads, ref, first):
        g64 = g.to(torch.float64)
        nan = int(torch.isnan(g64).sum())
        if nan:
            problems.append(f"{nan} NaN in {name}")
        errs.append(rel_err(torch.nan_to_num(g64, nan=0.0), torch.from_numpy(r).to(dev)))
        if st != 0 or not torch.equal(g.view(torch.int16), g0.view(torch.int16)):
            problems.append(f"{name} differs between two calls")
    res["rel_err"] = max(errs)
    res["detail"] = "dq/dk/dv " + "/".join(fmt_e(e) for e in errs)
    tol = 1e-4 if case["dtype"] == "f32" and dev.type == "cpu" else 2e-2
    if not res["rel_err"] < tol:
        problems.append(f"rel err {res['rel_err']:.3g} >= {tol:g}")
    if problems:
        res["status"] = "FAIL"
        res["detail"] += "; " + "; ".join(problems)
    return res


def run_correctness(ctx, manifest):
    results = []
    only = re.compile(ctx.args.only) if ctx.args.only else None
    for case in manifest["cases"]:
        if only and not only.search(case["name"]):
            continue
        path = os.path.join(ctx.bundle, case["library"])
        try:
            lib = Library(path)
        except OSError as e:
            for var in case["variants"]:
                results.append(dict(case=case["name"], variant=var, dtype=case["dtype"],
                                    rel_err=None, lse_err=None, status="FAIL",
                                    detail=f"cannot load {case['library']}: {first_line(e)}"))
            log(f"  {case['name']}: cannot load {path}: {first_line(e)}")
            continue
        for var in case["variants"]:
            t = time.perf_counter()
            try:
                r = run_variant(ctx, case, lib, var)
            except Exception as e:  # noqa: BLE001
                r = dict(case=case["name"], variant=var, dtype=case["dtype"], rel_err=None,
                         lse_err=None, status="FAIL", detail="exception: " + first_line(e))
                log(traceback.format_exc().rstrip())
            r["seconds"] = round(time.perf_counter() - t, 3)
            results.append(r)
            log(f"  {r['case']:<28} {r['variant']:<10} {r['status']:<4} "
                f"rel={fmt_e(r['rel_err'])} lse={fmt_e(r['lse_err'])}"
                + (f"  {r['detail']}" if r['detail'] else ""))
    return results


# ----------------------------------------------------------------------------
# Speed
# ----------------------------------------------------------------------------
def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_ms(fn, dev, target_s, min_runs=5, max_runs=50):
    """Median milliseconds of fn (CUDA events on the GPU), after warm-up."""
    fn()
    sync(dev)
    t = time.perf_counter()
    fn()
    fn()
    sync(dev)
    est = max((time.perf_counter() - t) / 2, 1e-6)
    if est > 0.5:          # a slow kernel: fewer runs
        min_runs = 3
    n = int(min(max(target_s / est, min_runs), max_runs))
    for _ in range(2 if est < 0.1 else 0):
        fn()
    sync(dev)
    times = []
    if dev.type == "cuda":
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(n)]
        for s, e in ev:
            s.record()
            fn()
            e.record()
        torch.cuda.synchronize(dev)
        times = [s.elapsed_time(e) for s, e in ev]
    else:
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), n


def bench_flops(spec, B, L, Lq=None):
    a = spec["attrs"]
    hq, D, Dv = spec["Hq"], spec["D"], spec["Dv"]
    if Lq is not None and Lq != L:
        # Decoding shapes: non-causal specs only (every key visible).
        return 2.0 * B * hq * Lq * L * (D + Dv), "dense (Lq x Lk)"
    if has_window(a):
        pairs = sum(mha_reference.visible_pairs(L, L, a["causal"], a["window_left"][h],
                                                a["window_right"][h], a["sink_tokens"])
                    for h in range(hq) if a["head_mask"][h])
        return 2.0 * B * pairs * (D + Dv), "visible pairs"
    f = 2.0 * B * hq * L * L * (D + Dv)
    return (f / 2, "dense/2 (causal)") if a["causal"] else (f, "dense")


def plain_spec(spec):
    """Only causal/windows/sinks: what the peers can express."""
    a = spec["attrs"]
    return (a["softcap"] is None and not any(a["alibi_slopes"])
            and all(t == 1.0 for t in a["temperature"]) and all(a["head_mask"])
            and abs(a["scale"] - 1 / math.sqrt(spec["D"])) < 1e-6 * a["scale"])


class Peers:
    def __init__(self, ctx):
        self.ctx = ctx
        self.flex = None
        self.flex_err = None
        self.sdpa_err = None
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel
            self.SDPBackend, self.sdpa_kernel = SDPBackend, sdpa_kernel
        except Exception as e:  # noqa: BLE001
            self.sdpa_err = "import failed: " + first_line(e)
        if ctx.args.flex == "none":
            self.flex_err = "disabled (--flex none)"
            return
        try:
            from torch.nn.attention.flex_attention import (create_block_mask,
                                                           flex_attention)
            import torch._dynamo
            for attr in ("cache_size_limit", "recompile_limit",
                         "accumulated_cache_size_limit", "accumulated_recompile_limit"):
                if hasattr(torch._dynamo.config, attr):
                    setattr(torch._dynamo.config, attr, 1024)
            # One compiled function; each shape/mask specialises it once.
            self.flex = torch.compile(flex_attention, dynamic=False)
            self.create_block_mask = create_block_mask
        except Exception as e:  # noqa: BLE001
            self.flex_err = "import failed: " + first_line(e)

    def sdpa(self, backend_name, spec, q, k, v, notes):
        if self.ctx.device.type != "cuda" and not self.ctx.args.peers_on_cpu:
            raise NotApplicable("needs CUDA")
        if self.sdpa_err:
            raise NotApplicable(self.sdpa_err)
        if not plain_spec(spec) or has_window(spec["attrs"]):
            raise NotApplicable("no per-head window/sinks in SDPA (FA2/cuDNN take no such mask)")
        F = torch.nn.functional
        backend = getattr(self.SDPBackend, backend_name)
        causal = spec["attrs"]["causal"]
        hq, hkv = spec["Hq"], spec["Hkv"]
        if hq == hkv:
            def run():
                with self.sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            run()
            return run
        try:
            def run():
                with self.sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                                          enable_gqa=True)
            run()
            notes.append(f"{backend_name}: GQA via enable_gqa=True")
            return run
        except Exception as e:  # noqa: BLE001
            kr = k.repeat_interleave(hq // hkv, dim=1)
            vr = v.repeat_interleave(hq // hkv, dim=1)

            def run():
                with self.sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, kr, vr, is_causal=causal)
            run()
            notes.append(f"{backend_name}: GQA via repeat_interleave outside the timing "
                         f"(enable_gqa failed: {first_line(e)})")
            return run

    def flex_fn(self, spec, q, k, v, run_flag, notes):
        if self.flex is None:
            raise NotApplicable(self.flex_err)
        args = self.ctx.args
        if args.flex == "auto" and not run_flag:
            raise NotApplicable("not timed for this shape (--flex all times it)")
        if elapsed() > args.budget * 0.6:
            raise NotApplicable(f"time budget: {elapsed():.0f} s used (--budget {args.budget})")
        if not plain_spec(spec):
            raise NotApplicable("score modifiers not expressed for Flex here")
        a = spec["attrs"]
        dev = q.device
        lq, lk = q.shape[2], k.shape[2]
        block_mask = None
        if a["causal"] or has_window(a):
            wl = torch.tensor(a["window_left"], device=dev)
            wr = torch.tensor(a["window_right"], device=dev)
            causal, sinks = a["causal"], a["sink_tokens"]
            per_head = has_window(a)

            def mask_mod(b, h, qi, kv):
                if per_head:
                    return key_visible(qi, kv, lq, lk, causal, wl[h], wr[h], sinks)
                return key_visible(qi, kv, lq, lk, causal)
            block_mask = self.create_block_mask(mask_mod, None,
                                                spec["Hq"] if per_head else None,
                                                lq, lk, device=dev)
            notes.append("flex: " + ("per-head window block mask" if per_head
                                     else "causal block mask"))
        gqa = spec["Hq"] != spec["Hkv"]

        def run():
            return self.flex(q, k, v, block_mask=block_mask, enable_gqa=gqa)
        t = time.perf_counter()
        run()
        sync(dev)
        notes.append(f"flex: first call (compile) {time.perf_counter() - t:.1f} s")
        return run


def autograd_backward(forward, q, k, v, dout):
    """A peer's backward alone: `forward(q, k, v)` once on leaves that need
    gradients (outside the timing), then a function computing dq, dk, dv
    from its graph (kept for the next call)."""
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    o = forward(*leaves)

    def run():
        return torch.autograd.grad(o, leaves, dout, retain_graph=True)
    return run


def bench_backward_impls(ctx, spec, run, peers, q, k, v, dout, lib_of, row):
    """The backward benchmark's implementations: ours (`<name>_backward`
    after one forward call for o and lse) and the peers' autograd."""
    dev = ctx.device
    B, hq, Lq, Dv = q.shape[0], q.shape[1], q.shape[2], v.shape[3]

    def prep_ours():
        lib = lib_of(spec)
        stream = torch.cuda.current_stream(dev).cuda_stream if dev.type == "cuda" else None
        opts = options(0, stream)
        o = torch.empty((B, hq, Lq, Dv), dtype=q.dtype, device=dev)
        lse = torch.empty((B, hq, Lq), dtype=torch.float32, device=dev)
        st = lib.function(spec["function"], 5).prepare(
            [dltensor(x) for x in (q, k, v, o, lse)], opts)()
        if st != 0:
            raise lib.error(st)
        grads = [torch.empty_like(x) for x in (q, k, v)]
        call = lib.function(spec["function"] + "_backward", 9).prepare(
            [dltensor(x) for x in (q, k, v, o, lse, dout, *grads)], opts)

        def go():
            st = call()
            if st != 0:
                raise lib.error(st)
            return grads
        return go

    def sdpa(backend):
        return autograd_backward(
            lambda *x: peers.sdpa(backend, spec, *x, row["notes"])(), q, k, v, dout)

    def flex():
        return autograd_backward(
            lambda *x: peers.flex_fn(spec, *x, run["flex"], row["notes"])(), q, k, v, dout)
    return [("ours", prep_ours), ("fa2", lambda: sdpa("FLASH_ATTENTION")),
            ("cudnn", lambda: sdpa("CUDNN_ATTENTION")), ("flex", flex)]


def max_rel_err(ours, ref):
    """rel_err of a tensor, or the largest over tuples of them."""
    if isinstance(ours, (list, tuple)):
        return max(rel_err(x.double(), r.double()) for x, r in zip(ours, ref))
    return rel_err(ours.double(), ref.double())


def run_bench(ctx, manifest):
    dev = ctx.device
    args = ctx.args
    specs = {s["name"]: s for s in manifest["bench_specs"]}
    peers = Peers(ctx)
    rows = []
    target_s = 0.05 if dev.type == "cpu" else args.target_s
    libs = {}
    only = re.compile(args.bench_only) if args.bench_only else None
    seen = set()
    for run in manifest["bench"]:
        spec = specs[run["spec"]]
        B = args.bench_B or run["B"]
        L = args.bench_L or run["L"]
        # Decoding shapes: Lq query rows against L keys (default Lq = L).
        Lq = min(run.get("Lq") or L, L)
        if (spec["name"], B, L, Lq) in seen or (only and not only.search(spec["name"])):
            continue
        seen.add((spec["name"], B, L, Lq))
        hq, hkv, D, Dv = spec["Hq"], spec["Hkv"], spec["D"], spec["Dv"]
        a = spec["attrs"]
        label = (f"{spec['name'].replace('bench_', '')} B={B} H={hq}"
                 + (f":{hkv}" if hkv != hq else "")
                 + (f" Lq={Lq} Lk={L}" if Lq != L else f" L={L}"))
        row = dict(shape=label, spec=spec["name"], B=B, L=L, Lq=Lq, Hq=hq,
                   Hkv=hkv, D=D, causal=a["causal"], ms={}, tflops={}, na={},
                   notes=[])
        flops, how = bench_flops(spec, B, L, Lq)
        backward = spec.get("backward", False)
        if backward:  # FlashAttention's convention
            flops, how = 2.5 * flops, "2.5 x forward, " + how
            row["shape"] = label = "bwd " + label.replace("bwd_", "")
        row["flops"], row["flop_count"] = flops, how
        rows.append(row)
        if elapsed() > args.budget:
            for impl in ("ours", "fa2", "cudnn", "flex"):
                row["na"][impl] = f"time budget ({args.budget} s) used up"
            log(f"  {label}: skipped (time budget)")
            continue
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed_of(ctx.seed, "bench", spec["name"], B, L, Lq))
        dt = torch_dtype(spec["dtype"])
        q = randn((B, hq, Lq, D), dt, dev, gen)
        k = randn((B, hkv, L, D), dt, dev, gen)
        v = randn((B, hkv, L, Dv), dt, dev, gen)
        o = torch.empty((B, hq, Lq, Dv), dtype=dt, device=dev)
        outputs = {}

        def prep_ours():
            if spec["library"] not in libs:
                libs[spec["library"]] = Library(os.path.join(ctx.bundle, spec["library"]))
            lib = libs[spec["library"]]
            stream = torch.cuda.current_stream(dev).cuda_stream if dev.type == "cuda" else None
            call = lib.function(spec["function"], 4).prepare(
                [dltensor(q), dltensor(k), dltensor(v), dltensor(o)], options(0, stream))

            def go():
                st = call()
                if st != 0:
                    raise lib.error(st)
                return o
            return go

        impls = [("ours", prep_ours),
                 ("fa2", lambda: peers.sdpa("FLASH_ATTENTION", spec, q, k, v, row["notes"])),
                 ("cudnn", lambda: peers.sdpa("CUDNN_ATTENTION", spec, q, k, v, row["notes"])),
                 ("flex", lambda: peers.flex_fn(spec, q, k, v, run["flex"], row["notes"]))]
        if backward:
            dout = randn((B, hq, Lq, Dv), dt, dev, gen)

            def lib_of(s):
                if s["library"] not in libs:
                    libs[s["library"]] = Library(os.path.join(ctx.bundle, s["library"]))
                return libs[s["library"]]
            impls = bench_backward_impls(ctx, spec, run, peers, q, k, v, dout, lib_of,
                                         row)
        for impl, prep in impls:
            try:
                fn = prep()
                ms, n = time_ms(fn, dev, target_s)
                out = fn()
                outputs[impl] = ([x.clone() for x in out] if isinstance(out, (list, tuple))
                                 else out.clone())
                sync(dev)
                row["ms"][impl] = ms
                row["tflops"][impl] = flops / (ms * 1e-3) / 1e12
                row.setdefault("runs", {})[impl] = n
            except NotApplicable as e:
                row["na"][impl] = str(e)
            except Exception as e:  # noqa: BLE001
                row["na"][impl] = first_line(e)
                if impl == "ours":
                    row["ours_error"] = first_line(e)
            finally:
                sync(dev) if dev.type == "cuda" else None
        # Our output against a peer's on the same inputs (or, tiny shapes, the
        # float64 reference).
        if "ours" in outputs:
            ref_name = next((p for p in ("flex", "fa2", "cudnn") if p in outputs), None)
            if ref_name:
                err = max_rel_err(outputs["ours"], outputs[ref_name])
            elif B * hq * Lq * L <= 2 ** 26:
                ref_name = "float64 reference"
                if backward:
                    host = [x.to("cpu", torch.float64).numpy() for x in (q, k, v, dout)]
                    ref = [torch.from_numpy(g).to(dev)
                           for g in mha_reference.attention_backward(*host, a)]
                else:
                    ref = reference(q, k, v, a)[0]
                err = max_rel_err(outputs["ours"], ref)
            else:
                err = None
            row["check_vs"], row["check_err"] = ref_name, err
            if err is not None and not err < 2e-2:
                row["ours_error"] = f"disagrees with {ref_name}: rel err {err:.3g}"
            ours = outputs["ours"]
            if any(bool(torch.isnan(x).any())
                   for x in (ours if isinstance(ours, list) else [ours])):
                row["ours_error"] = "NaN in output"
        del q, k, v, o, outputs
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        msg = "  ".join(f"{i}={fmt_tf(row['tflops'][i])}" if i in row["tflops"] else f"{i}=n/a"
                        for i in ("ours", "fa2", "cudnn", "flex"))
        log(f"  {label:<36} TFLOP/s {msg}"
            + (f"  check vs {row['check_vs']}: {fmt_e(row['check_err'])}"
               if row.get("check_vs") else ""))
        for impl, why in row["na"].items():
            log(f"      {impl}: n/a: {why}")
        for note in row["notes"]:
            log(f"      note: {note}")
        if row.get("ours_error") and row["ours_error"] != row["na"].get("ours"):
            log(f"      OURS FAILED: {row['ours_error']}")
    return rows


# ----------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------
def fmt_tf(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def fmt_e(x):
    return "-" if x is None else f"{x:.2e}"


def table(headers, rows):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
         for i, h in enumerate(headers)]
    out = ["| " + " | ".join(str(h).ljust(w[i]) for i, h in enumerate(headers)) + " |",
           "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |")
    return out


def environment(ctx, manifest):
    env = dict(time=datetime.datetime.now().isoformat(timespec="seconds"),
               host=platform.node(), python=platform.python_version(),
               torch=torch.__version__, torch_cuda=torch.version.cuda,
               device=str(ctx.device), bundle=os.path.abspath(ctx.bundle),
               bundle_target=manifest.get("target"), bundle_chip=manifest.get("chip"))
    try:
        import triton
        env["triton"] = triton.__version__
    except Exception as e:  # noqa: BLE001
        env["triton"] = "n/a: " + first_line(e)
    if ctx.device.type == "cuda":
        p = torch.cuda.get_device_properties(ctx.device)
        env["gpu"] = p.name
        env["capability"] = "sm_%d%d" % (p.major, p.minor)
        env["gpu_memory_gib"] = round(p.total_memory / 2 ** 30, 1)
        env["sms"] = p.multi_processor_count
        try:
            r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=20)
            env["driver"] = r.stdout.strip().splitlines()[0] if r.returncode == 0 else "?"
        except Exception:  # noqa: BLE001
            try:
                cuda = ctypes.CDLL("libcuda.so.1")
                ver = ctypes.c_int()
                cuda.cuDriverGetVersion(ctypes.byref(ver))
                env["driver"] = f"CUDA driver API {ver.value}"
            except Exception as e:  # noqa: BLE001
                env["driver"] = "n/a: " + first_line(e)
    else:
        env["cpu"] = platform.processor() or platform.machine()
    return env


def main(argv=None):
    global torch
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", nargs="?", default=here, help="bundle folder (default: this script's)")
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None,
                    help="default: cpu for a bundle built with --target=cpu, else cuda")
    ap.add_argument("--out", default=None, help="log/JSON folder (default $OUT, else the bundle)")
    ap.add_argument("--only", default=None, help="regex: only these check cases")
    ap.add_argument("--no-check", action="store_true", help="skip the correctness cases")
    ap.add_argument("--no-bench", action="store_true", help="skip the benchmark")
    ap.add_argument("--flex", choices=["auto", "all", "none"], default="auto",
                    help="FlexAttention on the shapes marked in the manifest (auto), all, none")
    ap.add_argument("--bench-L", type=int, default=None,
                    help="override the benchmark lengths (default 256 with --device cpu)")
    ap.add_argument("--bench-B", type=int, default=None,
                    help="override the benchmark batch (default 1 with --device cpu)")
    ap.add_argument("--bench-only", default=None, help="regex: only these benchmark specs")
    ap.add_argument("--peers-on-cpu", action="store_true",
                    help="with --device cpu, run the SDPA peers on CPU too (plumbing test)")
    ap.add_argument("--target-s", type=float, default=0.15,
                    help="seconds of timed runs per implementation and shape (5..50 runs)")
    ap.add_argument("--budget", type=float, default=240,
                    help="seconds: Flex stops compiling after 60%%, the benchmark stops after it")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    out_dir = args.out or os.environ.get("OUT") or args.bundle
    os.makedirs(out_dir, exist_ok=True)
    log.open(os.path.join(out_dir, "gpu-check.log"))
    try:
        with open(os.path.join(args.bundle, "manifest.json")) as f:
            manifest = json.load(f)
    except Exception as e:  # noqa: BLE001
        log(f"gpu-check: cannot read {args.bundle}/manifest.json: {first_line(e)}")
        return 2
    import torch as _torch
    torch = _torch

    class Ctx:
        pass
    ctx = Ctx()
    ctx.args = args
    ctx.bundle = args.bundle
    ctx.seed = args.seed
    dev_name = args.device or ("cpu" if manifest.get("target") == "cpu" else "cuda")
    if dev_name == "cuda" and not torch.cuda.is_available():
        log("gpu-check: torch sees no CUDA device (use --device cpu with a cpu bundle)")
        return 2
    ctx.device = torch.device("cuda", torch.cuda.current_device()) if dev_name == "cuda" \
        else torch.device("cpu")
    if dev_name == "cpu":
        args.bench_L = args.bench_L or 256
        args.bench_B = args.bench_B or 1

    env = environment(ctx, manifest)
    if dev_name == "cuda":
        log(f"GPU: {env['gpu']} ({env['capability']}, {env['sms']} SMs, "
            f"{env['gpu_memory_gib']} GiB), driver {env.get('driver')}")
    else:
        log(f"CPU mode: {env['cpu']} (kDLCPU tensors)")
    log(f"torch {env['torch']} (CUDA {env['torch_cuda']}), triton {env['triton']}, "
        f"python {env['python']}")
    log(f"bundle {env['bundle']}: target {env['bundle_target']} chip {env['bundle_chip']}, "
        f"{len(manifest['cases'])} cases, {len(manifest['bench'])} benchmark shapes")
    if (manifest.get("target") == "cpu") != (dev_name == "cpu"):
        log(f"WARNING: bundle built for --target={manifest.get('target')} but running "
            f"on {dev_name}: expect MHA_ERR_DEVICE everywhere")

    results, rows = [], []
    if not args.no_check:
        log("\n== correctness ==")
        results = run_correctness(ctx, manifest)
        log(f"correctness done at {elapsed():.1f} s")
    if not args.no_bench:
        log("\n== speed (TFLOP/s; 4*B*H*Lq*Lk*D / t, /2 causal, visible pairs for windows) ==")
        try:
            rows = run_bench(ctx, manifest)
        except Exception as e:  # noqa: BLE001
            log(traceback.format_exc().rstrip())
            rows = [dict(shape="(benchmark crashed)", ms={}, tflops={}, na={},
                         notes=[], ours_error=first_line(e))]
        log(f"speed done at {elapsed():.1f} s")

    failed = [r for r in results if r["status"] == "FAIL"]
    bench_failed = [r for r in rows if r.get("ours_error")]

    log("\n== correctness ==")
    for line in table(["case", "variant", "dtype", "rel err", "lse err", "status"],
                      [(r["case"], r["variant"], r["dtype"], fmt_e(r["rel_err"]),
                        fmt_e(r["lse_err"]),
                        r["status"] + (f": {r['detail'][:70]}" if r["status"] != "ok"
                                       and r["detail"] else ""))
                       for r in results]):
        log(line)

    def tf(r, i):
        return fmt_tf(r["tflops"][i]) if i in r["tflops"] else "n/a"
    speed = []
    for r in rows:
        ratio = (f"{r['tflops']['ours'] / r['tflops']['flex']:.2f}"
                 if "ours" in r["tflops"] and "flex" in r["tflops"] else "n/a")
        ours = tf(r, "ours") + (" FAIL" if r.get("ours_error") else "")
        speed.append((r["shape"], ours, tf(r, "fa2"), tf(r, "cudnn"), tf(r, "flex"), ratio))
    if rows:
        log(f"\n== speed (TFLOP/s, {env.get('gpu', env.get('cpu'))}) ==")
        for line in table(["shape", "ours", "FA2", "cuDNN", "Flex", "ours/Flex"], speed):
            log(line)
        gqa = sorted({n for r in rows for n in r["notes"] if "GQA via" in n})
        if gqa:
            log("GQA peers: " + "; ".join(gqa))
        log("n/a: see the log above for each reason; Flex times exclude its compile.")

    n_ok = sum(1 for r in results if r["status"] == "ok")
    n_skip = sum(1 for r in results if r["status"] == "skip")
    summary = (f"\ngpu-check: correctness {n_ok} ok, {len(failed)} FAILED, {n_skip} skipped; "
               f"benchmark {len(rows) - len(bench_failed)}/{len(rows)} shapes ok; "
               f"{elapsed():.0f} s; log and JSON in {out_dir}")
    log(summary)
    with open(os.path.join(out_dir, "gpu-check.json"), "w") as f:
        json.dump(dict(environment=env, correctness=results, speed=rows,
                       failed=[f"{r['case']}/{r['variant']}" for r in failed],
                       bench_failed=[r["shape"] for r in bench_failed],
                       seconds=round(elapsed(), 1)), f, indent=1)
    return 1 if failed or bench_failed else 0


if __name__ == "__main__":
    sys.exit(main())
