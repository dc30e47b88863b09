#!/usr/bin/env python3
"""bench/mla_layer.py - a multi-head latent attention layer
(#mha.sharing<latent>, DeepSeek-V2-Lite's attention sizes) on the CPU
against the same layer in PyTorch eager, in one run.

Usage (a Python with NumPy, torch and the mha package installed, e.g. the
tests' .venv; docs/performance.md, "MLA layers"):

  python bench/mla_layer.py                  # L = 512, 1024, 2048; f32, bf16
  python bench/mla_layer.py --quick          # L = 512, f32

The layer: d = 2048, 16 heads, latent rank r = 512, RoPE key Dr = 64, key
part Dn = 128, value Dv = 128, causal, B = 1. Ours: one compiled
mha.multi_head (projections, latent keys, attention, output projection in
one call). PyTorch: the layer as DeepSeek's code computes it (F.linear for
the projections, RoPE in eager ops, keys [k_nope | k_rope] expanded to
every head, scaled_dot_product_attention with is_causal). Both on the same
threads (torch.set_num_threads), timed after one warm-up call, the median of
as many calls as fit in --budget seconds (3 to 15). GFLOP/s count the
projections, 2 L (d H (Dn+Dr) + d (r+Dr) + r H (Dn+Dv) + H Dv d), and the
attention, 2 H L^2 (Dn+Dr+Dv) halved for causal. Both results are checked
against the PyTorch layer in float64 (relative L2 error). Prints a
Markdown table; writes bench/out/mla_layer/results.json.
"""
import argparse
import json
import os

import mha
from benchlib import ROOT, median_seconds

D_MODEL, H, R, DR, DN, DV = 2048, 16, 512, 64, 128, 128
THETA = 10000.0


def spec_text(dt):
    x = f"tensor<1x?x{D_MODEL}x{dt}>"
    wq = f"tensor<{D_MODEL}x{H * (DN + DR)}x{dt}>"
    wk = f"tensor<{D_MODEL}x{R + DR}x{dt}>"
    wv = f"tensor<{R}x{H * (DN + DV)}x{dt}>"
    wo = f"tensor<{H * DV}x{D_MODEL}x{dt}>"
    return f"""func.func @mla_{dt}(%x: {x}, %wq: {wq}, %wk: {wk}, %wv: {wv}, %wo: {wo}) -> {x} {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {{num_heads = {H},
         sharing = #mha.sharing<latent>, rope_theta = {THETA} : f32, causal}}
      : {x}, {wq}, {wk}, {wv}, {wo} -> {x}
  return %y : {x}
}}
"""


def torch_layer(torch, x, wq, wk, wv, wo):
    """DeepSeek's computation of the layer (weights as [in, out])."""
    F = torch.nn.functional
    L = x.shape[1]
    pos = torch.arange(L, dtype=torch.float64)
    freq = THETA ** (-2.0 * torch.arange(DR // 2, dtype=torch.float64) / DR)
    ang = pos[:, None] * freq[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)

    def rope(t):
        t1, t2 = t[..., :DR // 2], t[..., DR // 2:]
        return torch.cat([t1 * cos - t2 * sin, t2 * cos + t1 * sin], -1)

    q = F.linear(x, wq.t()).view(1, L, H, DN + DR).transpose(1, 2)
    q = torch.cat([q[..., :DN], rope(q[..., DN:])], -1)
    ckr = F.linear(x, wk.t())
    k_rope = rope(ckr[..., R:]).view(1, 1, L, DR)
    kv = F.linear(ckr[..., :R], wv.t()).view(1, L, H, DN + DV).transpose(1, 2)
    k = torch.cat([kv[..., :DN], k_rope.expand(1, H, L, DR)], -1)
    o = F.scaled_dot_product_attention(q, k, kv[..., DN:], is_causal=True)
    return F.linear(o.transpose(1, 2).reshape(1, L, H * DV), wo.t())


def flops(L):
    proj = 2.0 * L * (D_MODEL * H * (DN + DR) + D_MODEL * (R + DR) +
                      R * H * (DN + DV) + H * DV * D_MODEL)
    return proj + 2.0 * H * L * L * (DN + DR + DV) * 0.5


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lens", default="512,1024,2048")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=3.0)
    args = ap.parse_args()
    if args.quick:
        args.lens, args.dtypes = "512", "f32"
    import torch
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, torch {torch.__version__}")
    tdt = {"f32": torch.float32, "bf16": torch.bfloat16}
    gen = torch.Generator().manual_seed(0)

    def w(rows, cols):
        return torch.randn(rows, cols, generator=gen, dtype=torch.float64) / rows ** 0.5
    weights = [w(D_MODEL, H * (DN + DR)), w(D_MODEL, R + DR), w(R, H * (DN + DV)),
               w(H * DV, D_MODEL)]
    rows, results = [], []
    for dt in args.dtypes.split(","):
        lib = mha.compile(spec_text(dt))
        fn = getattr(lib, f"mla_{dt}")
        ws = [t.to(tdt[dt]) for t in weights]
        for L in map(int, args.lens.split(",")):
            x64 = torch.randn(1, L, D_MODEL, generator=gen, dtype=torch.float64)
            x = x64.to(tdt[dt])
            want = torch_layer(torch, x64, *[t.double() for t in ws])

            def ours():
                return fn(x, *ws, num_threads=args.threads)

            def peer():
                with torch.no_grad():
                    return torch_layer(torch, x, *ws)
            line = {"dtype": dt, "L": L}
            for name, run in (("ours", ours), ("torch", peer)):
                got = run()
                err = float((got.double() - want).norm() / want.norm())
                t = median_seconds(run, args.budget)
                line[name] = {"s": t, "GFLOPs": flops(L) / t / 1e9, "err": err}
            results.append(line)
            o, p = line["ours"], line["torch"]
            rows.append(f"| {dt} | {L} | {o['s'] * 1e3:.1f} | {o['GFLOPs']:.0f} | "
                        f"{p['s'] * 1e3:.1f} | {p['GFLOPs']:.0f} | "
                        f"{p['s'] / o['s']:.2f}x | {o['err']:.1e} | {p['err']:.1e} |")
    print("\n| dtype | L | ours ms | GFLOP/s | PyTorch ms | GFLOP/s | speed-up "
          "| ours err | PyTorch err |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    out = os.path.join(ROOT, "bench/out/mla_layer")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"threads": args.threads, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
