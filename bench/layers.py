#!/usr/bin/env python3
"""Whole-layer benchmark (issue 5): our compiled mha.multi_head against
PyTorch on the same inputs, in one process.

  bench/.venv/bin/python bench/layers.py [--quick] [--threads N]

Rows: a LLaMA-style layer (d=4096, 32 heads, 8 KV heads, RoPE, causal,
L=2048, B=1; f32 and bf16), a GPT-2-style layer (d=768, 12 heads, biases,
causal, L=1024) and the GPT-2 layer with half its heads pruned by a static
head_mask. Peers: torch.nn.functional projections (F.linear, RoPE in
eager ops) + scaled_dot_product_attention, and torch.nn.MultiheadAttention
where it applies (no GQA, no RoPE). GFLOP/s count the projections
(2*B*L*d*(Hq+2*Hkv)*D + 2*B*L*Hq*D*d) and the attention (4*B*Hq*L^2*D,
halved for causal); the pruned row counts the dense layer's FLOPs, so its
time is what to compare. A second table compares our GEMM phases (timed by
MHA_PROFILE=1 mha-run) with NumPy's OpenBLAS on the same products. Specs
are compiled with build/bin/mha-compile into bench/out/layers/.
"""

import argparse
import ctypes
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench import (DLTensor, MhaOptions, OurLibrary, bf16_bits_to_f32,  # noqa: E402
                   dltensor, f32_to_bf16_bits)


def layer_spec(name, dt, d, hq, hkv, dh, L, rope=None, bias=False,
               causal=True, mask=None):
    """The spec text of one exported layer function (static B = 1)."""
    t = f"tensor<1x{L}x{d}x{dt}>"
    wq, wkv, wo = (f"tensor<{d}x{hq * dh}x{dt}>", f"tensor<{d}x{hkv * dh}x{dt}>",
                   f"tensor<{hq * dh}x{d}x{dt}>")
    args = [("x", t), ("wq", wq), ("wk", wkv), ("wv", wkv), ("wo", wo)]
    attrs = [f"num_heads = {hq}", f"num_kv_heads = {hkv}"]
    if bias:
        args += [("bq", f"tensor<{hq * dh}x{dt}>"), ("bk", f"tensor<{hkv * dh}x{dt}>"),
                 ("bv", f"tensor<{hkv * dh}x{dt}>"), ("bo", f"tensor<{d}x{dt}>")]
        attrs += ["has_qkv_bias", "has_out_bias"]
    if rope:
        attrs.append(f"rope_theta = {rope:.1f} : f32")
    if causal:
        attrs.append("causal")
    if mask is not None:
        attrs.append("head_mask = array<i1: " +
                     ", ".join("true" if m else "false" for m in mask) + ">")
    sig = ", ".join(f"%{n}: {ty}" for n, ty in args)
    ops = ", ".join(f"%{n}" for n, _ in args)
    tys = ", ".join(ty for _, ty in args)
    return (f"func.func @{name}({sig}) -> {t} {{\n"
            f"  %y = mha.multi_head {ops} {{{', '.join(attrs)}}} : {tys} -> {t}\n"
            f"  return %y : {t}\n}}\n")


def shapes(quick):
    llama_L = 512 if quick else 2048
    gpt_L = 256 if quick else 1024
    half = [h % 2 == 0 for h in range(12)]
    return [
        dict(name="llama_f32", dt="f32", d=4096, hq=32, hkv=8, dh=128, L=llama_L,
             rope=10000.0, bias=False),
        dict(name="llama_bf16", dt="bf16", d=4096, hq=32, hkv=8, dh=128, L=llama_L,
             rope=10000.0, bias=False),
        dict(name="gpt2_f32", dt="f32", d=768, hq=12, hkv=12, dh=64, L=gpt_L,
             rope=None, bias=True),
        dict(name="gpt2_half_pruned_f32", dt="f32", d=768, hq=12, hkv=12, dh=64,
             L=gpt_L, rope=None, bias=True, mask=half),
    ]


def flops(s):
    L, d, hq, hkv, dh = s["L"], s["d"], s["hq"], s["hkv"], s["dh"]
    return (2.0 * L * d * (hq + 2 * hkv) * dh + 2.0 * L * hq * dh * d +
            4.0 * hq * L * L * dh * 0.5)


def time_it(run, reps):
    run()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def inputs(s, rng):
    d, hq, hkv, dh, L = s["d"], s["hq"], s["hkv"], s["dh"], s["L"]
    t = {"x": rng.standard_normal((1, L, d), dtype=np.float32),
         "wq": rng.standard_normal((d, hq * dh), dtype=np.float32) / np.sqrt(d),
         "wk": rng.standard_normal((d, hkv * dh), dtype=np.float32) / np.sqrt(d),
         "wv": rng.standard_normal((d, hkv * dh), dtype=np.float32) / np.sqrt(d),
         "wo": rng.standard_normal((hq * dh, d), dtype=np.float32) / np.sqrt(hq * dh)}
    if s["bias"]:
        for n, c in (("bq", hq * dh), ("bk", hkv * dh), ("bv", hkv * dh), ("bo", d)):
            t[n] = rng.standard_normal((c,), dtype=np.float32) * 0.1
    t = {n: a.astype(np.float32) for n, a in t.items()}
    if s["dt"] == "bf16":  # the values both sides see
        t = {n: bf16_bits_to_f32(f32_to_bf16_bits(a)) for n, a in t.items()}
    return t


def prep_ours(lib, s, t, threads):
    bf16 = s["dt"] == "bf16"
    names = ["x", "wq", "wk", "wv", "wo"] + (["bq", "bk", "bv", "bo"] if s["bias"] else [])
    store = [f32_to_bf16_bits(t[n]) if bf16 else np.ascontiguousarray(t[n]) for n in names]
    y = np.zeros(t["x"].shape, dtype=np.uint16 if bf16 else np.float32)
    tensors = [dltensor(a, bf16) for a in store] + [dltensor(y, bf16)]
    fn = getattr(lib.lib, s["name"])
    fn.argtypes = [ctypes.POINTER(DLTensor)] * len(tensors) + [ctypes.POINTER(MhaOptions)]
    fn.restype = ctypes.c_int
    opts = MhaOptions(threads, None, None)
    ptrs = [ctypes.byref(x) for x in tensors]

    def run():
        status = fn(*ptrs, ctypes.byref(opts))
        if status:
            raise RuntimeError(lib.error(status))
    return run, lambda: (bf16_bits_to_f32(y) if bf16 else y).astype(np.float64)


def torch_layer(torch, s, t, threads):
    """F.linear projections, RoPE in eager ops, SDPA, output F.linear."""
    F = torch.nn.functional
    dtype = torch.bfloat16 if s["dt"] == "bf16" else torch.float32
    T = {n: torch.from_numpy(a).to(dtype) for n, a in t.items()}
    # F.linear takes [out, in] weights.
    W = {n: T[n].t().contiguous() for n in ("wq", "wk", "wv", "wo")}
    L, hq, hkv, dh = s["L"], s["hq"], s["hkv"], s["dh"]
    mask = s.get("mask")
    cos = sin = None
    if s["rope"]:
        inv = 1.0 / (s["rope"] ** (torch.arange(0, dh // 2, dtype=torch.float64) * 2 / dh))
        ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
        cos = torch.cat([ang.cos(), ang.cos()], -1).to(dtype)
        sin = torch.cat([ang.sin(), ang.sin()], -1).to(dtype)

    def rope(z):
        z1, z2 = z[..., : dh // 2], z[..., dh // 2:]
        return z * cos + torch.cat([-z2, z1], -1) * sin

    def run():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            x = T["x"]
            q = F.linear(x, W["wq"], T.get("bq")).view(1, L, hq, dh).transpose(1, 2)
            k = F.linear(x, W["wk"], T.get("bk")).view(1, L, hkv, dh).transpose(1, 2)
            v = F.linear(x, W["wv"], T.get("bv")).view(1, L, hkv, dh).transpose(1, 2)
            if cos is not None:
                q, k = rope(q), rope(k)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               enable_gqa=hq != hkv)
            if mask is not None:
                o = o * torch.tensor(mask, dtype=dtype)[None, :, None, None]
            o = o.transpose(1, 2).reshape(1, L, hq * dh)
            return F.linear(o, W["wo"], T.get("bo"))
    return run, lambda out: out.float().numpy().astype(np.float64)


def torch_mha_module(torch, s, t, threads):
    """torch.nn.MultiheadAttention with our weights (no GQA, no RoPE)."""
    if s["rope"] or s["hq"] != s["hkv"] or s.get("mask") is not None:
        return None
    d, L = s["d"], s["L"]
    dtype = torch.bfloat16 if s["dt"] == "bf16" else torch.float32
    m = torch.nn.MultiheadAttention(d, s["hq"], bias=s["bias"], batch_first=True)
    with torch.no_grad():
        m.in_proj_weight.copy_(torch.from_numpy(
            np.concatenate([t["wq"].T, t["wk"].T, t["wv"].T], 0)))
        m.out_proj.weight.copy_(torch.from_numpy(t["wo"].T))
        if s["bias"]:
            m.in_proj_bias.copy_(torch.from_numpy(np.concatenate([t["bq"], t["bk"], t["bv"]])))
            m.out_proj.bias.copy_(torch.from_numpy(t["bo"]))
    m = m.to(dtype).eval()
    x = torch.from_numpy(t["x"]).to(dtype)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=dtype)

    def run():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            return m(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)[0]
    return run, lambda out: out.float().numpy().astype(np.float64)


def gemm_rows(s, mha_run, spec, lib_path, t, reps):
    """Our projection phases (MHA_PROFILE=1 mha-run) against NumPy's
    OpenBLAS on the same products: x [L, d] times [Wq|Wk|Wv], and the
    attention output [L, Hq*D] times Wo."""
    env = dict(os.environ, MHA_PROFILE="1")
    r = subprocess.run([mha_run, spec, lib_path, "--function", s["name"], "--time-only",
                        "--repeats", str(reps)], env=env, capture_output=True, text=True)
    phases = {}
    for line in r.stderr.splitlines():
        m = re.search(r"phase (\d+) \(\d+ work items\): ([0-9.]+) ms", line)
        if m:
            phases.setdefault(int(m.group(1)), []).append(float(m.group(2)) / 1e3)
    # Phase 0 packs every weight, then the RoPE table (if any), Q/K/V, the
    # attention and the output projection.
    first = 2 if s["rope"] else 1
    if first + 2 not in phases:
        return None
    med = {p: sorted(v)[len(v) // 2] for p, v in phases.items()}
    L, d, hq, hkv, dh = s["L"], s["d"], s["hq"], s["hkv"], s["dh"]
    # Each GEMM is charged its share of the packing (by weight size), as
    # OpenBLAS packs inside its calls.
    qkv_share = (hq + 2 * hkv) / (2 * hq + 2 * hkv)
    qkv_time = med[first] + qkv_share * med[0]
    out_time = med[first + 2] + (1 - qkv_share) * med[0]
    qkv_flops = 2.0 * L * d * (hq + 2 * hkv) * dh
    out_flops = 2.0 * L * hq * dh * d
    x = t["x"].reshape(L, d)
    wqkv = np.concatenate([t["wq"], t["wk"], t["wv"]], axis=1)
    o = np.ascontiguousarray(np.random.default_rng(1).standard_normal((L, hq * dh),
                                                                       dtype=np.float32))
    blas_qkv = time_it(lambda: x @ wqkv, reps)
    blas_out = time_it(lambda: o @ t["wo"], reps)
    return (qkv_flops / qkv_time * 1e-9, qkv_flops / blas_qkv * 1e-9,
            out_flops / out_time * 1e-9, out_flops / blas_out * 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    out = os.path.join(HERE, "out", "layers")
    os.makedirs(out, exist_ok=True)
    compile_bin = os.environ.get("MHA_COMPILE", os.path.join(ROOT, "build", "bin", "mha-compile"))
    rows = shapes(args.quick)
    spec = "".join(layer_spec(r["name"], r["dt"], r["d"], r["hq"], r["hkv"], r["dh"], r["L"],
                              r["rope"], r["bias"], True, r.get("mask")) for r in rows)
    path = os.path.join(out, "layers.mlir")
    with open(path, "w") as f:
        f.write(spec)
    lib_path = os.path.join(out, "liblayers.so")
    subprocess.run([compile_bin, path, "-o", lib_path], check=True)
    lib = OurLibrary(lib_path)
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        torch = None
        print(f"torch unavailable: {e}")
    print(f"threads={args.threads}")
    print(f"{'layer':24} {'ours ms':>9} {'GF/s':>7} | {'F+SDPA ms':>9} {'x':>5} | "
          f"{'nn.MHA ms':>9} {'x':>5} | rel.err vs F+SDPA")
    rng = np.random.default_rng(0)
    gemm_lines = []
    for s in rows:
        t = inputs(s, rng)
        run, get = prep_ours(lib, s, t, args.threads)
        ours = time_it(run, args.reps)
        line = f"{s['name']:24} {ours * 1e3:9.1f} {flops(s) / ours * 1e-9:7.1f} |"
        ref_out = None
        for maker in (torch_layer, torch_mha_module):
            made = maker(torch, s, t, args.threads) if torch else None
            if made is None:
                line += f" {'n/a':>9} {'':>5} |"
                continue
            prun, pget = made
            res = {}

            def wrapped():
                res["o"] = prun()
            pt = time_it(wrapped, args.reps)
            if maker is torch_layer:
                ref_out = pget(res["o"])
            line += f" {pt * 1e3:9.1f} {pt / ours:5.2f} |"
        if ref_out is not None:
            ours_out = get()
            err = np.linalg.norm(ours_out - ref_out) / np.linalg.norm(ref_out)
            line += f" {err:.2e}"
        print(line, flush=True)
        if s["dt"] == "f32" and s.get("mask") is None:
            g = gemm_rows(s, os.path.join(os.path.dirname(compile_bin), "mha-run"),
                          path, lib_path, t, args.reps)
            if g:
                gemm_lines.append(f"{s['name']:24} {g[0]:9.1f} {g[1]:9.1f} {g[0] / g[1]:5.2f} | "
                                  f"{g[2]:9.1f} {g[3]:9.1f} {g[2] / g[3]:5.2f}")
    print(f"\nGEMMs, f32 GFLOP/s (ours: the projection phases; OpenBLAS: NumPy matmul)")
    print(f"{'layer':24} {'QKV ours':>9} {'OpenBLAS':>9} {'x':>5} | {'out ours':>9} "
          f"{'OpenBLAS':>9} {'x':>5}")
    for g in gemm_lines:
        print(g)


if __name__ == "__main__":
    main()
