#!/usr/bin/env python3
"""bench/serving_layers.py - CPU layers at serving sizes: a GPT-2-style
layer (d = 768, 12 heads of 64, Q/K/V and output biases, causal) on short
prompts, mha's compiled layer against PyTorch eager (F.linear
projections, scaled_dot_product_attention, F.linear), in one run.

Usage (a Python with NumPy and torch; docs/performance.md, "Layers at
serving sizes"):

  python bench/serving_layers.py                # L = 16, 64, 128, 256, 512; B = 1, 4, 16
  python bench/serving_layers.py --quick        # L = 256, B = 1

What it does:
- compiles bench/out/serving_layers/spec.mlir with build/bin/mha-compile
  (MHA_COMPILE overrides): the layer with weights as arguments;
- times (one warm-up, then the median of as many calls as fit in --budget
  seconds): ours packing the weights on every call, ours reusing the
  panels of the previous call (mha_options.reuse_packed_weights), and
  PyTorch's layer on the same inputs;
- checks ours against PyTorch's y (relative L2 error above 1e-4 prints
  WRONG);
- GFLOP/s count the projections (8 B L d^2) and the causal attention
  (2 B Hq L^2 D).
Prints a Markdown table and writes bench/out/serving_layers/results.json.
"""
import argparse
import json
import os
import sys

from benchlib import build_library, median_seconds  # first: it sets NumPy's BLAS threads
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
from mha._dlpack import from_numpy, options  # noqa: E402

DM, H, D = 768, 12, 64


def spec_text():
    x = "tensor<?x?x%dxf32>" % DM
    w = "tensor<%dx%dxf32>" % (DM, DM)
    b = "tensor<%dxf32>" % DM
    return f"""
func.func @layer(%x: {x}, %wq: {w}, %wk: {w}, %wv: {w}, %wo: {w},
                 %bq: {b}, %bk: {b}, %bv: {b}, %bo: {b}) -> {x} {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
      {{num_heads = {H}, causal, has_qkv_bias, has_out_bias}}
      : {x}, {w}, {w}, {w}, {w}, {b}, {b}, {b}, {b} -> {x}
  return %y : {x}
}}
"""


def torch_layer(torch, x, w, b):
    F = torch.nn.functional
    B, L, _ = x.shape
    q, k, v = (F.linear(x, wi, bi).view(B, L, H, D).transpose(1, 2)
               for wi, bi in zip(w[:3], b[:3]))
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.linear(o.transpose(1, 2).reshape(B, L, DM), w[3], b[3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lens", default="16,64,128,256,512")
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=2.0)
    args = ap.parse_args()
    if args.quick:
        args.lens, args.batches = "256", "1"
    import torch
    torch.set_num_threads(args.threads)
    lib = build_library(os.path.join(ROOT, "bench/out/serving_layers"), "serving_layers",
                        spec_text())
    print("GPT-2-style layer d=%d, %d heads of %d, causal, biases (%d threads, torch %s)"
          % (DM, H, D, args.threads, torch.__version__))
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((DM, DM)) / np.sqrt(DM)).astype(np.float32) for _ in range(4)]
    bs = [rng.standard_normal(DM).astype(np.float32) for _ in range(4)]
    tw = [torch.from_numpy(w.T.copy()) for w in ws]  # torch's [out, in]
    tb = [torch.from_numpy(b) for b in bs]
    rows, results = [], []
    for B in map(int, args.batches.split(",")):
        for L in map(int, args.lens.split(",")):
            x = rng.standard_normal((B, L, DM)).astype(np.float32)
            tx = torch.from_numpy(x)
            ref = torch_layer(torch, tx, tw, tb).numpy()
            t_torch = median_seconds(lambda: torch_layer(torch, tx, tw, tb), args.budget,
                                     most=50)
            y = np.zeros_like(x)
            ins = [from_numpy(a) for a in [x] + ws + bs + [y]]
            fn = lib.function("layer", len(ins))
            line = {"B": B, "L": L, "torch_s": t_torch}
            for reuse in (False, True):
                opts = options(args.threads)
                opts.reuse_packed_weights = int(reuse)
                t = median_seconds(fn.prepare(ins, opts).run, args.budget, most=50)
                key = "reused" if reuse else "packed"
                line[key + "_s"] = t
                line[key + "_err"] = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
            results.append(line)
            flops = 8 * B * L * DM * DM + 2 * B * H * L * L * D
            gf = lambda s: flops / s / 1e9
            bad = any(line[k + "_err"] > 1e-4 for k in ("packed", "reused"))
            rows.append("| %d | %d | %.2f | %.2f | %.1f | %.2f | %.1f | %.2fx | %.2fx |%s" % (
                B, L, line["packed_s"] * 1e3, line["reused_s"] * 1e3, gf(line["reused_s"]),
                t_torch * 1e3, gf(t_torch), t_torch / line["packed_s"],
                t_torch / line["reused_s"], " WRONG" if bad else ""))
    print("\n| B | L | packing ms | reused ms | reused GF/s | torch ms | torch GF/s "
          "| vs torch (packing) | vs torch (reused) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    out = os.path.join(ROOT, "bench/out/serving_layers/results.json")
    with open(out, "w") as f:
        json.dump({"threads": args.threads, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
