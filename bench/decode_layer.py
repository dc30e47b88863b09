#!/usr/bin/env python3
"""bench/decode_layer.py - CPU decoding steps of a whole layer: one new
token per sequence through a LLaMA-style layer (d = 4096, 32 query heads,
8 KV heads of 128, RoPE, causal) with a KV cache, mha's decoding step
(docs/language.md 5.8) against PyTorch eager (F.linear, RoPE, the cache
written in place, scaled_dot_product_attention over it, F.linear), in one
run.

Usage (a Python with NumPy and torch; docs/performance.md, "Layer decoding
steps"):

  python bench/decode_layer.py                  # f32 and bf16, B = 1 and 4
  python bench/decode_layer.py --quick          # f32, B = 1, Lk = 4096
  python bench/decode_layer.py --lens 16384 --batches 1,8 --dtypes bf16
  python bench/decode_layer.py --layers 4       # 4 layers of one function per step

What it does:
- compiles bench/out/decode_layer/spec.mlir with build/bin/mha-compile
  (MHA_COMPILE overrides): per dtype a decoding step over a contiguous
  cache [B, 8, capacity, 128], weights as arguments;
- probes the machine's read bandwidth on the same threads (torch sum of a
  1 GiB f32 array, best of 5);
- times each step (one warm-up, then the median of as many calls as fit in
  --budget seconds): ours with the weights packed per call, ours reusing
  the panels of the last call (mha_options.reuse_packed_weights), and
  PyTorch's; every call appends at position Lk (kv_lens = Lk, not advanced,
  so each call does the same work);
- checks ours against PyTorch's y (relative L2 error; above 1e-4 f32 or
  3e-2 bf16 prints WRONG);
- GB/s = bytes a step must read (the four weights, and K and V of Lk + 1
  keys) per second; %read is against the read probe.
- --layers N: each step runs N layers of the same function, each with its
  own weights and cache (a model's layers: the weights no longer stay in
  the last-level cache from one step to the next); times are per layer.
Prints a Markdown table and writes bench/out/decode_layer/results.json.
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
from decode import probe_bandwidth  # noqa: E402

DM, HQ, HKV, D, THETA = 4096, 32, 8, 128, 500000.0


def spec_text():
    out = []
    for dt in ("f32", "bf16"):
        x = "tensor<?x?x%dx%s>" % (DM, dt)
        wq, wkv = "tensor<%dx%dx%s>" % (DM, HQ * D, dt), "tensor<%dx%dx%s>" % (DM, HKV * D, dt)
        wo = "tensor<%dx%dx%s>" % (HQ * D, DM, dt)
        kc = "tensor<?x%dx?x%dx%s>" % (HKV, D, dt)
        out.append(f"""
func.func @step_{dt}(%x: {x}, %wq: {wq}, %wk: {wkv}, %wv: {wkv}, %wo: {wo},
    %lens: tensor<?xi32>, %kc: {kc}, %vc: {kc}) -> ({x}, {kc}, {kc}) {{
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : {kc}, {kc}) kv_lens(%lens : tensor<?xi32>)
      {{num_heads = {HQ}, num_kv_heads = {HKV}, causal, rope_theta = {THETA} : f32}}
      : {x}, {wq}, {wkv}, {wkv}, {wo} -> {x} cache({kc}, {kc})
  return %y, %k, %v : {x}, {kc}, {kc}
}}
""")
    return "".join(out)


def torch_step(torch, x, w, kc, vc, pos, cos, sin):
    """PyTorch eager: y of one step over caches [B, Hkv, capacity, D], the
    new keys written at `pos` (the same slot every call)."""
    F = torch.nn.functional
    B, L, _ = x.shape
    q = F.linear(x, w[0]).view(B, L, HQ, D).transpose(1, 2)
    k = F.linear(x, w[1]).view(B, L, HKV, D).transpose(1, 2)
    v = F.linear(x, w[2]).view(B, L, HKV, D).transpose(1, 2)

    def rope(t):
        t1, t2 = t[..., :D // 2], t[..., D // 2:]
        return torch.cat([t1 * cos - t2 * sin, t2 * cos + t1 * sin], dim=-1)

    q, k = rope(q), rope(k)
    kc[:, :, pos:pos + L] = k
    vc[:, :, pos:pos + L] = v
    o = F.scaled_dot_product_attention(q, kc[:, :, :pos + L], vc[:, :, :pos + L],
                                       enable_gqa=True)
    return F.linear(o.transpose(1, 2).reshape(B, L, HQ * D), w[3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lens", default="1024,4096,16384")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=3.0)
    ap.add_argument("--layers", type=int, default=1,
                    help="layers per step, each with its own weights and cache")
    args = ap.parse_args()
    if args.quick:
        args.lens, args.batches, args.dtypes = "4096", "1", "f32"
    import torch
    torch.set_num_threads(args.threads)
    out = os.path.join(ROOT, "bench/out/decode_layer")
    lib = build_library(out, "decode_layer", spec_text())
    read_bw, _ = probe_bandwidth(torch)
    print("layer d=%d, %d:%d heads of %d, one new token; read probe %.1f GB/s "
          "(%d threads, torch %s)" % (DM, HQ, HKV, D, read_bw, args.threads,
                                      torch.__version__))
    rng = np.random.default_rng(0)
    rows, results = [], []
    freqs = THETA ** (-2.0 * np.arange(D // 2) / D)
    for dt in args.dtypes.split(","):
        tdt = torch.bfloat16 if dt == "bf16" else torch.float32
        elt = 2 if dt == "bf16" else 4
        # Weights as the spec stores them ([in, out]); torch's are [out, in].
        shapes = ((DM, HQ * D), (DM, HKV * D), (DM, HKV * D), (HQ * D, DM))
        layers = []  # per layer: (our weights, torch's)
        for _ in range(args.layers):
            tw = [torch.from_numpy(rng.standard_normal(s, dtype=np.float32) /
                                   np.sqrt(s[0])).to(tdt) for s in shapes]
            layers.append((tw, [t.t().contiguous() for t in tw]))

        def raw(t):  # the bytes of a torch tensor as the array we pass
            return t.view(torch.int16).numpy().view(np.uint16) if dt == "bf16" else t.numpy()

        def tensor(a):
            return from_numpy(a, "bf16" if dt == "bf16" else None)

        weight_bytes = sum(t.numel() for t in layers[0][0]) * elt
        for B in map(int, args.batches.split(",")):
            for Lk in map(int, args.lens.split(",")):
                cap = Lk + 1
                x = torch.from_numpy(rng.standard_normal((B, 1, DM), dtype=np.float32)).to(tdt)

                def cache():
                    return torch.from_numpy(rng.standard_normal(
                        (B, HKV, cap, D), dtype=np.float32)).to(tdt)
                caches = [(cache(), cache()) for _ in layers]
                angle = torch.from_numpy(Lk * freqs).float()
                cos, sin = angle.cos().to(tdt), angle.sin().to(tdt)
                lens = np.full(B, Lk, np.int32)
                per_layer = list(zip(layers, caches))
                ref = torch_step(torch, x, layers[0][1], *caches[0], Lk, cos,
                                 sin).float().numpy()

                def torch_steps():
                    for (_, w_torch), (kc, vc) in per_layer:
                        torch_step(torch, x, w_torch, kc, vc, Lk, cos, sin)
                t_torch = median_seconds(torch_steps, args.budget) / args.layers
                y = np.zeros((B, 1, DM), np.uint16 if dt == "bf16" else np.float32)
                fn = lib.function("step_" + dt, 9)
                line = {"dtype": dt, "B": B, "Lk": Lk, "layers": args.layers,
                        "torch_s": t_torch}
                for reuse in (False, True):
                    opts = options(args.threads)
                    opts.reuse_packed_weights = int(reuse)
                    # Layer 0 last, so y holds its result.
                    calls = [fn.prepare([tensor(raw(x))] + [tensor(raw(t)) for t in tw] +
                                        [lens, tensor(raw(kc)), tensor(raw(vc)), tensor(y)],
                                        opts)
                             for (tw, _), (kc, vc) in reversed(per_layer)]

                    def steps():
                        for call in calls:
                            call.run()
                    t = median_seconds(steps, args.budget) / args.layers
                    got = (y.astype(np.uint32) << 16).view(np.float32) if dt == "bf16" else y
                    err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
                    key = "reused" if reuse else "packed"
                    line[key + "_s"], line[key + "_err"] = t, err
                results.append(line)
                nbytes = weight_bytes + 2 * B * HKV * (Lk + 1) * D * elt
                gb = lambda s: nbytes / s / 1e9
                tol = 3e-2 if dt == "bf16" else 1e-4
                bad = any(line[k + "_err"] > tol for k in ("packed", "reused"))
                rows.append("| %s | %d | %d | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.2fx | "
                            "%.2fx |%s" % (
                                dt, B, Lk, line["packed_s"] * 1e3, line["reused_s"] * 1e3,
                                gb(line["reused_s"]), 100 * gb(line["reused_s"]) / read_bw,
                                t_torch * 1e3, t_torch / line["packed_s"],
                                t_torch / line["reused_s"], " WRONG" if bad else ""))
    if args.layers > 1:
        print(f"\n{args.layers} layers per step; times per layer")
    print("\n| dtype | B | Lk | packing ms | reused ms | reused GB/s | %read | torch ms "
          "| vs torch (packing) | vs torch (reused) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"read_GBps": read_bw, "threads": args.threads, "results": results},
                  f, indent=1)


if __name__ == "__main__":
    main()
