#!/usr/bin/env python3
"""bench/layer_backward.py - the backward of whole layers on the CPU
(`<name>_backward` of an mha.multi_head marked mha.backward) against
PyTorch autograd over F.linear + scaled_dot_product_attention, each
implementation timed in a process of its own.

Usage (a Python with NumPy and torch; docs/performance.md, "Layer
backward"):

  python bench/layer_backward.py             # GPT-2 L=1024, LLaMA L=2048
  python bench/layer_backward.py --quick     # GPT-2 L=512, LLaMA L=512
  python bench/layer_backward.py --dtype bf16   # bf16 layers (and PyTorch's)

Rows: a GPT-2-style layer (d=768, 12 heads of 64, biases, causal) and a
LLaMA-style one (d=4096, 32 query heads, 8 KV heads of 128, RoPE, causal),
f32 (or --dtype bf16: every argument and y bf16, PyTorch's in bf16 too),
B=1. Columns:
- `bwd`: ours = one `<name>_backward` call (it recomputes the forward:
  nothing is saved between the calls); PyTorch = `y.backward(dy)` after a
  forward with autograd (its graph saves the activations);
- `step`: forward + backward, ours = `<name>` then `<name>_backward`,
  PyTorch = the forward with autograd then the backward: a training step's
  attention layer;
- `saved`: ours with saved activations (docs/language.md 7.1):
  `<name>_backward` reading what `<name>_forward_train` saved (`saved
  bwd`), and the step `<name>_forward_train` then that backward (`saved
  step`), against PyTorch's bwd and step;
- GFLOP/s of `bwd` count the backward's useful work: twice the forward's
  GEMMs (dx and dW) and 2.5x its attention (FlashAttention's convention),
  not our recomputation; the forward counts projections 2 L d (Hq + 2 Hkv)
  D + 2 L Hq D d and attention 4 Hq L^2 D (halved for causal).
- `rel.err`: ours against PyTorch's gradients (the largest relative error
  over dx and every weight and bias), computed after the timings.

Method: each implementation runs in a worker process (this script with
--worker), one warm-up call, then the median of as many calls as fit in
--budget seconds; ours first, PyTorch second, ours again last ('rerun':
the second time against the first). Specs compile with
build/bin/mha-compile into bench/out/layer_backward/.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys

from benchlib import build_library, median_seconds  # first: it sets NumPy's BLAS threads
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
from mha._dlpack import options  # noqa: E402

OUT = os.path.join(ROOT, "bench/out/layer_backward")


def shapes(quick):
    return [dict(name="gpt2", d=768, hq=12, hkv=12, dh=64, L=512 if quick else 1024,
                 rope=None, bias=True),
            dict(name="llama", d=4096, hq=32, hkv=8, dh=128, L=512 if quick else 2048,
                 rope=10000.0, bias=False)]


def spec_text(rows, dtype="f32"):
    out = []
    for s in rows:
        d, hq, hkv, dh, L = s["d"], s["hq"], s["hkv"], s["dh"], s["L"]
        e = dtype
        t = f"tensor<1x{L}x{d}x{e}>"
        args = [("x", t), ("wq", f"tensor<{d}x{hq * dh}x{e}>"),
                ("wk", f"tensor<{d}x{hkv * dh}x{e}>"), ("wv", f"tensor<{d}x{hkv * dh}x{e}>"),
                ("wo", f"tensor<{hq * dh}x{d}x{e}>")]
        attrs = [f"num_heads = {hq}", f"num_kv_heads = {hkv}", "causal"]
        if s["bias"]:
            args += [("bq", f"tensor<{hq * dh}x{e}>"), ("bk", f"tensor<{hkv * dh}x{e}>"),
                     ("bv", f"tensor<{hkv * dh}x{e}>"), ("bo", f"tensor<{d}x{e}>")]
            attrs += ["has_qkv_bias", "has_out_bias"]
        if s["rope"]:
            attrs.append(f"rope_theta = {s['rope']:.1f} : f32")
        sig = ", ".join(f"%{n}: {ty}" for n, ty in args)
        ops = ", ".join(f"%{n}" for n, _ in args)
        tys = ", ".join(ty for _, ty in args)
        out.append(f"func.func @{s['name']}({sig}) -> {t} attributes {{mha.backward}} {{\n"
                   f"  %y = mha.multi_head {ops} {{{', '.join(attrs)}}} : {tys} -> {t}\n"
                   f"  return %y : {t}\n}}\n")
    return "".join(out)


def draw(s):
    """The inputs of shape `s`, the same in every worker."""
    rng = np.random.default_rng(7)
    d, hq, hkv, dh, L = s["d"], s["hq"], s["hkv"], s["dh"], s["L"]
    w = lambda r, c: (rng.standard_normal((r, c), dtype=np.float32)
                      / np.float32(np.sqrt(r)))
    t = {"x": rng.standard_normal((1, L, d), dtype=np.float32),
         "wq": w(d, hq * dh), "wk": w(d, hkv * dh), "wv": w(d, hkv * dh),
         "wo": w(hq * dh, d)}
    if s["bias"]:
        for n, c in (("bq", hq * dh), ("bk", hkv * dh), ("bv", hkv * dh), ("bo", d)):
            t[n] = np.float32(0.1) * rng.standard_normal(c, dtype=np.float32)
    dy = rng.standard_normal((1, L, d), dtype=np.float32)
    return t, dy


def torch_layer(torch, s, t):
    """F.linear projections, RoPE in eager ops, SDPA (GQA by repeating K, V)."""
    F = torch.nn.functional
    x, L, dh = t["x"], s["L"], s["dh"]

    def heads(y, h):
        return y.view(1, L, h, dh).transpose(1, 2)

    q = heads(F.linear(x, t["wq"].T, t.get("bq")), s["hq"])
    k = heads(F.linear(x, t["wk"].T, t.get("bk")), s["hkv"])
    v = heads(F.linear(x, t["wv"].T, t.get("bv")), s["hkv"])
    if s["rope"]:
        freq = s["rope"] ** (-2.0 * torch.arange(dh // 2, dtype=torch.float64) / dh)
        ang = torch.arange(L, dtype=torch.float64)[:, None] * freq[None]
        c, sn = ang.cos().to(x.dtype), ang.sin().to(x.dtype)

        def rope(z):
            z1, z2 = z[..., :dh // 2], z[..., dh // 2:]
            return torch.cat([z1 * c - z2 * sn, z2 * c + z1 * sn], -1)
        q, k = rope(q), rope(k)
    rep = s["hq"] // s["hkv"]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.linear(o.transpose(1, 2).reshape(1, L, -1), t["wo"].T, t.get("bo"))


def worker(kind, index, quick, threads, budget, dtype):
    s = shapes(quick)[index]
    t, dy = draw(s)
    names = list(t)
    result = {}
    if kind == "torch":
        import torch
        torch.set_num_threads(threads)
        dt = torch.bfloat16 if dtype == "bf16" else torch.float32
        tt = {n: torch.from_numpy(a).to(dt).requires_grad_() for n, a in t.items()}
        tdy = torch.from_numpy(dy).to(dt)

        def step():
            for p in tt.values():
                p.grad = None
            torch_layer(torch, s, tt).backward(tdy)
        y = [None]

        def forward():
            y[0] = torch_layer(torch, s, tt)

        def backward():
            y[0].backward(tdy, retain_graph=True)
        forward()
        result["step"] = median_seconds(step, budget)
        result["bwd"] = median_seconds(backward, budget)
        step()
        np.savez(os.path.join(OUT, f"torch_{s['name']}.npz"),
                 **{n: tt[n].grad.float().numpy() for n in names})
    else:
        if dtype == "bf16":
            import ml_dtypes
            t = {n: a.astype(ml_dtypes.bfloat16) for n, a in t.items()}
            dy = dy.astype(ml_dtypes.bfloat16)
        lib = build_library(OUT, "layer_backward_" + dtype,
                            spec_text(shapes(quick), dtype))
        grads = [np.empty_like(t[n]) for n in names]
        y = np.empty_like(dy)

        def training(forward, opts):
            """The backward's call and a step (`forward`, then the backward),
            both with `opts`."""
            fwd = lib.function(forward, len(names) + 1).prepare(
                [t[n] for n in names] + [y], opts)
            bwd = lib.function(s["name"] + "_backward", 2 * len(names) + 1).prepare(
                [t[n] for n in names] + [dy] + grads, opts)

            def step():
                fwd.run()
                bwd.run()
            return bwd.run, step
        bwd, step = training(s["name"], options(threads))
        result["bwd"] = median_seconds(bwd, budget)
        result["step"] = median_seconds(step, budget)
        # Saved activations: one buffer, written by forward_train, read by
        # the backward (which leaves it as it was: it can be timed alone).
        saved_bytes = getattr(lib.lib, s["name"] + "_saved_bytes")
        saved_bytes.restype = ctypes.c_int64
        nbytes = saved_bytes(ctypes.c_int64(1), ctypes.c_int64(s["L"]))
        raw = np.zeros(nbytes + 64, np.uint8)
        buffer = raw[(-raw.ctypes.data) % 64:][:nbytes]
        saved_opts = options(threads, saved_activations=buffer.ctypes.data,
                             saved_activations_bytes=nbytes)
        saved_bwd, saved_step = training(s["name"] + "_forward_train", saved_opts)
        result["saved_step"] = median_seconds(saved_step, budget)
        result["saved_bwd"] = median_seconds(saved_bwd, budget)
        result["saved_mib"] = nbytes / 2**20
        np.savez(os.path.join(OUT, f"ours_{s['name']}.npz"),
                 **{n: g.astype(np.float32) for n, g in zip(names, grads)})
    print(json.dumps(result))


def flops(s):
    d, hq, hkv, dh, L = s["d"], s["hq"], s["hkv"], s["dh"], s["L"]
    gemm = 2 * L * d * (hq + 2 * hkv) * dh + 2 * L * hq * dh * d
    attention = 4 * hq * L * L * dh / 2
    return gemm, attention


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=6.0)
    ap.add_argument("--dtype", default="f32", choices=("f32", "bf16"))
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "INDEX"))
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), args.quick, args.threads,
                      args.budget, args.dtype)
    os.makedirs(OUT, exist_ok=True)
    build_library(OUT, "layer_backward_" + args.dtype,
                  spec_text(shapes(args.quick), args.dtype))
    import torch
    print(f"Layer backward, {args.dtype}, B=1, {args.threads} threads, "
          f"torch {torch.__version__}")
    print("| layer | L | ours bwd ms | GF/s | rerun | torch bwd ms | ours/torch bwd "
          "| ours step ms | torch step ms | ours/torch step | saved bwd ms "
          "| saved/torch bwd | saved step ms | saved/torch step | saved MiB | rel.err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for i, s in enumerate(shapes(args.quick)):
        def run(kind):
            cmd = [sys.executable, __file__, "--worker", kind, str(i), "--threads",
                   str(args.threads), "--budget", str(args.budget),
                   "--dtype", args.dtype] + \
                (["--quick"] if args.quick else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            return json.loads(out.strip().splitlines()[-1])
        first, peer, last = run("ours"), run("torch"), run("ours")
        ours = np.load(os.path.join(OUT, f"ours_{s['name']}.npz"))
        want = np.load(os.path.join(OUT, f"torch_{s['name']}.npz"))
        err = max(float(np.abs(ours[n] - want[n]).max() / max(np.abs(want[n]).max(), 1e-30))
                  for n in want.files if n != "bk")
        gemm, attention = flops(s)
        gfs = (2 * gemm + 2.5 * attention) / first["bwd"] / 1e9
        rerun = last["bwd"] / first["bwd"] - 1
        row = dict(layer=s["name"], L=s["L"], ours_bwd=first["bwd"], torch_bwd=peer["bwd"],
                   ours_step=first["step"], torch_step=peer["step"], gflops=gfs,
                   saved_bwd=first["saved_bwd"], saved_step=first["saved_step"],
                   saved_mib=first["saved_mib"], rerun=rerun, rel_err=err)
        results.append(row)
        print(f"| {s['name']} | {s['L']} | {1e3 * first['bwd']:.1f} | {gfs:.1f} | "
              f"{100 * rerun:+.0f}%{'!' if abs(rerun) > 0.1 else ''} | "
              f"{1e3 * peer['bwd']:.1f} | {peer['bwd'] / first['bwd']:.2f}x | "
              f"{1e3 * first['step']:.1f} | {1e3 * peer['step']:.1f} | "
              f"{peer['step'] / first['step']:.2f}x | "
              f"{1e3 * first['saved_bwd']:.1f} | {peer['bwd'] / first['saved_bwd']:.2f}x | "
              f"{1e3 * first['saved_step']:.1f} | "
              f"{peer['step'] / first['saved_step']:.2f}x | {first['saved_mib']:.0f} | "
              f"{err:.2e} |")
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
