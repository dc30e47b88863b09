#!/usr/bin/env python3
"""bench/packed_layer.py - a layer over prompts of different lengths: a
GPT-2-style layer (d = 768, 12 heads of 64, biases, causal) on S prompts
packed into one call (cu_seqlens_q, docs/language.md 5.9), against the same
layer on the prompts padded to the longest, one call per prompt, and
PyTorch eager (F.linear projections, scaled_dot_product_attention,
F.linear) per prompt and padded, in one run.

Usage (a Python with NumPy and torch; docs/performance.md, "Packed
sequences"):

  python bench/packed_layer.py               # three mixes of prompt lengths
  python bench/packed_layer.py --quick       # the first mix

What it does:
- compiles bench/out/packed_layer/spec.mlir with build/bin/mha-compile
  (MHA_COMPILE overrides): the packed layer and the plain one, weights as
  arguments;
- times (one warm-up, then the median of as many calls as fit in --budget
  seconds), every mha call with the panels of the previous call reused
  (mha_options.reuse_packed_weights, as mha.torch.Layer does);
- checks the packed layer's rows against PyTorch's per-prompt y (relative
  L2 error above 1e-4 prints WRONG);
- GFLOP/s count the work of the real rows only: the projections (8 T d^2,
  T = the prompts' total) and the causal attention (2 H sum(L_s^2) D).
Prints a Markdown table and writes bench/out/packed_layer/results.json.
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
from serving_layers import DM, H, D, torch_layer  # noqa: E402  (the same layer)

MIXES = {
    "chat": [37, 512, 64, 200, 16, 300, 90, 128],
    "short": [5, 12, 30, 7, 64, 3, 18, 40, 9, 22, 16, 50, 11, 27, 8, 35],
    "one long": [1024, 16, 32, 8],
}


def spec_text():
    w = "tensor<%dx%dxf32>" % (DM, DM)
    b = "tensor<%dxf32>" % DM
    attrs = f"{{num_heads = {H}, causal, has_qkv_bias, has_out_bias}}"
    text = ""
    for name, x, cu_arg, cu in (
            ("packed", "tensor<1x?x%dxf32>" % DM, ", %cu: tensor<?xi32>",
             " cu_seqlens_q(%cu : tensor<?xi32>)"),
            ("layer", "tensor<?x?x%dxf32>" % DM, "", "")):
        text += f"""
func.func @{name}(%x: {x}, %wq: {w}, %wk: {w}, %wv: {w}, %wo: {w},
                 %bq: {b}, %bk: {b}, %bv: {b}, %bo: {b}{cu_arg}) -> {x} {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo{cu} {attrs}
      : {x}, {w}, {w}, {w}, {w}, {b}, {b}, {b}, {b} -> {x}
  return %y : {x}
}}
"""
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=2.0)
    args = ap.parse_args()
    mixes = dict(list(MIXES.items())[:1]) if args.quick else MIXES
    import torch
    torch.set_num_threads(args.threads)
    lib = build_library(os.path.join(ROOT, "bench/out/packed_layer"), "packed_layer",
                        spec_text())
    print("GPT-2-style layer d=%d, %d heads of %d, causal, biases (%d threads, torch %s)"
          % (DM, H, D, args.threads, torch.__version__))
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((DM, DM)) / np.sqrt(DM)).astype(np.float32) for _ in range(4)]
    bs = [rng.standard_normal(DM).astype(np.float32) for _ in range(4)]
    tw = [torch.from_numpy(w.T.copy()) for w in ws]  # torch's [out, in]
    tb = [torch.from_numpy(b) for b in bs]
    opts = options(args.threads)
    opts.reuse_packed_weights = 1
    packed_fn = lib.function("packed", 11)
    layer_fn = lib.function("layer", 10)
    rows, results = [], []
    for mix, lengths in mixes.items():
        S, longest = len(lengths), max(lengths)
        cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        total = int(cu[-1])
        x = rng.standard_normal((1, total, DM)).astype(np.float32)
        prompts = [x[:, cu[s]:cu[s + 1]].copy() for s in range(S)]
        padded = np.zeros((S, longest, DM), np.float32)
        for s, p in enumerate(prompts):
            padded[s, :lengths[s]] = p[0]

        # PyTorch: a call per prompt, and the padded batch (causal: the real
        # rows see only real rows).
        tprompts = [torch.from_numpy(p) for p in prompts]
        tpadded = torch.from_numpy(padded)
        ref = np.concatenate([torch_layer(torch, p, tw, tb).numpy() for p in tprompts],
                             axis=1)
        t_torch_each = median_seconds(
            lambda: [torch_layer(torch, p, tw, tb) for p in tprompts], args.budget, most=30)
        t_torch_padded = median_seconds(lambda: torch_layer(torch, tpadded, tw, tb),
                                        args.budget, most=30)

        y = np.zeros_like(x)
        run = packed_fn.prepare([from_numpy(a) for a in [x] + ws + bs + [cu, y]], opts).run
        t_packed = median_seconds(run, args.budget, most=30)
        err = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
        y_pad = np.zeros_like(padded)
        run = layer_fn.prepare([from_numpy(a) for a in [padded] + ws + bs + [y_pad]],
                               opts).run
        t_padded = median_seconds(run, args.budget, most=30)
        outs = [np.zeros_like(p) for p in prompts]
        calls = [layer_fn.prepare([from_numpy(a) for a in [p] + ws + bs + [o]], opts).run
                 for p, o in zip(prompts, outs)]
        t_each = median_seconds(lambda: [c() for c in calls], args.budget, most=30)

        flops = 8 * total * DM * DM + 2 * H * sum(n * n for n in lengths) * D
        gf = lambda s: flops / s / 1e9
        line = {"mix": mix, "lengths": lengths, "packed_s": t_packed, "padded_s": t_padded,
                "each_s": t_each, "torch_each_s": t_torch_each,
                "torch_padded_s": t_torch_padded, "packed_err": err}
        results.append(line)
        best_torch = min(t_torch_each, t_torch_padded)
        rows.append("| %s | %d | %d | %d | %.2f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2fx |%s" % (
            mix, S, total, S * longest, t_packed * 1e3, gf(t_packed), t_padded * 1e3,
            t_each * 1e3, t_torch_each * 1e3, t_torch_padded * 1e3, best_torch / t_packed,
            " WRONG" if err > 1e-4 else ""))
    print("\n| mix | S | T | S x Lmax | packed ms | packed GF/s | padded ms | per prompt ms "
          "| torch per prompt ms | torch padded ms | vs best torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    out = os.path.join(ROOT, "bench/out/packed_layer/results.json")
    with open(out, "w") as f:
        json.dump({"threads": args.threads, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
