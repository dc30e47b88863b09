#!/usr/bin/env python3
"""bench/mla_decode.py - CPU decoding with multi-head latent attention
(MLA, DeepSeek-V2-Lite's attention sizes) against grouped-query decoding
with the same query heads, in one run.

Usage (a Python with NumPy, torch and the mha package installed, e.g. the
tests' .venv; docs/performance.md, "MLA decode"):

  python bench/mla_decode.py                 # Lk = 4096, 16384, 65536; B = 1, 4
  python bench/mla_decode.py --quick         # Lk = 16384, B = 1

The attention of one decoding step of one layer, 16 query heads, bf16:
- MLA, absorbed: queries [B, 16, 1, 576] against the latent cache
  [B, 1, Lk, 576] (512 latent + 64 RoPE columns), values the first 512
  columns of the same cache (a strided view), scale 1/sqrt(192); one
  mha.attention with kv_lens (tests: python/tests/test_mla.py).
- GQA 16:8 and 16:4 with D = 128: k, v [B, Hkv, Lk, 128] with kv_lens.
Each is timed after one warm-up call, the median of as many calls as fit in
--budget seconds (3 to 25). GB/s counts the cache bytes read once (MLA:
576 columns per key; GQA: k and v); GFLOP/s the score and value products
(MLA: 2 x 16 x (576 + 512) per key, GQA: 2 x 16 x 256). The read bandwidth
probe is torch's sum of a 1 GiB f32 array (best of 5) on the same threads.
Results are checked against a float64 evaluation (relative L2 error).
Prints a Markdown table; writes bench/out/mla_decode/results.json.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
import mha  # noqa: E402  (the installed package, before benchlib's path)
from benchlib import median_seconds  # noqa: E402

H, LAT, R, DH = 16, 576, 512, 128
SCALE = 1.0 / 192 ** 0.5


def spec_text():
    q = f"tensor<?x{H}x1x{LAT}xbf16>"
    k = f"tensor<?x1x?x{LAT}xbf16>"
    v = f"tensor<?x1x?x{R}xbf16>"
    o = f"tensor<?x{H}x1x{R}xbf16>"
    out = [f"""func.func @mla(%q: {q}, %k: {k}, %v: {v}, %l: tensor<?xi32>) -> {o} {{
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) {{causal, scale = {SCALE:.9e} : f32}}
      : {q}, {k}, {v} -> {o}
  return %o : {o}
}}"""]
    for hkv in (8, 4):
        qg = f"tensor<?x{H}x1x{DH}xbf16>"
        kv = f"tensor<?x{hkv}x?x{DH}xbf16>"
        out.append(f"""func.func @gqa{hkv}(%q: {qg}, %k: {kv}, %v: {kv}, %l: tensor<?xi32>) -> {qg} {{
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) {{causal}}
      : {qg}, {kv}, {kv} -> {qg}
  return %o : {qg}
}}""")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lens", default="4096,16384,65536")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=2.0)
    args = ap.parse_args()
    if args.quick:
        args.lens, args.batches = "16384", "1"
    import torch
    torch.set_num_threads(args.threads)
    lib = mha.compile(spec_text())
    x = torch.ones(1 << 28)
    read_bw = x.numel() * 4 / min(median_seconds(lambda: x.sum(), 0.5)
                                  for _ in range(5)) / 1e9
    del x
    print(f"read probe {read_bw:.1f} GB/s ({args.threads} threads, torch {torch.__version__})")
    gen = torch.Generator().manual_seed(0)
    rows, results = [], []
    for B in map(int, args.batches.split(",")):
        for L in map(int, args.lens.split(",")):
            lens = torch.full((B,), L, dtype=torch.int32)
            line = {"B": B, "Lk": L}
            cells = []
            for name in ("mla", "gqa8", "gqa4"):
                if name == "mla":
                    q = torch.randn(B, H, 1, LAT, generator=gen).bfloat16()
                    k = torch.randn(B, 1, L, LAT, generator=gen).bfloat16()
                    v = k[..., :R]
                    nbytes, flops = B * L * LAT * 2, 2.0 * B * L * H * (LAT + R)
                    scale = SCALE
                else:
                    hkv = int(name[3:])
                    q = torch.randn(B, H, 1, DH, generator=gen).bfloat16()
                    k = torch.randn(B, hkv, L, DH, generator=gen).bfloat16()
                    v = torch.randn(B, hkv, L, DH, generator=gen).bfloat16()
                    nbytes, flops = 2 * B * hkv * L * DH * 2, 2.0 * B * L * H * 2 * DH
                    scale = DH ** -0.5
                fn = getattr(lib, name)
                o = fn(q, k, v, lens, num_threads=args.threads)
                t = median_seconds(lambda: fn(q, k, v, lens, num_threads=args.threads),
                                   args.budget, most=25)
                # float64 reference: the query heads of each KV head as rows.
                hkv = k.shape[1]
                qd = q.double().reshape(B, hkv, H // hkv, q.shape[-1])
                p = torch.softmax(qd @ k.double().transpose(-1, -2) * scale, -1)
                ref = (p @ v.double()).reshape(B, H, 1, v.shape[-1])
                err = float((o.double() - ref).norm() / ref.norm())
                line[name] = {"s": t, "GBps": nbytes / t / 1e9,
                              "GFLOPs": flops / t / 1e9, "err": err}
                cells.append(f"{t * 1e3:.2f} | {nbytes / t / 1e9:.1f} | "
                             f"{flops / t / 1e9:.0f}")
            results.append(line)
            bad = any(line[n]["err"] > 2e-2 for n in ("mla", "gqa8", "gqa4"))
            rows.append(f"| {B} | {L} | " + " | ".join(cells) +
                        f" | {line['gqa8']['s'] / line['mla']['s']:.2f}x"
                        f" | {line['gqa4']['s'] / line['mla']['s']:.2f}x |"
                        + (" WRONG" if bad else ""))
    print("\n| B | Lk | MLA ms | GB/s | GFLOP/s | GQA 16:8 ms | GB/s | GFLOP/s "
          "| GQA 16:4 ms | GB/s | GFLOP/s | MLA speed-up vs 16:8 | vs 16:4 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    out = os.path.join(ROOT, "bench/out/mla_decode")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"read_GBps": read_bw, "threads": args.threads,
                   "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
