#!/usr/bin/env python3
"""bench/mla_step.py - CPU decoding steps of a whole multi-head latent
attention layer (DeepSeek-V2-Lite's attention: d = 2048, 16 heads, latent
rank 512, RoPE key 64, Dn = Dv = 128, RMS norms) against the grouped-query
layer of the same width (d = 2048, 16 query heads of 128, 8 or 4 KV
heads), and against the same absorbed MLA step in PyTorch eager, one run.

Usage (a Python with NumPy and torch; docs/performance.md, "MLA decoding
steps"):

  python bench/mla_step.py                      # bf16, B = 1 and 4
  python bench/mla_step.py --quick              # B = 1, Lk = 16384
  python bench/mla_step.py --lens 16384 --batches 1,8 --dtype f32

What it does:
- compiles bench/out/mla_step/spec.mlir with build/bin/mha-compile
  (MHA_COMPILE overrides): the latent step over a contiguous cache of
  latents [B, 1, capacity, 576] (docs/language.md 5.8, "Latent (MLA)
  steps") and GQA steps over caches [B, Hkv, capacity, 128], weights as
  arguments;
- probes the read bandwidth on the same threads (torch sum of a 1 GiB f32
  array, best of 5);
- times each step with the weights' panels reused
  (mha_options.reuse_packed_weights: a server's steady state), one warm-up,
  then the median of as many calls as fit in --budget seconds; every call
  appends at position Lk (kv_lens = Lk, not advanced);
- PyTorch eager: the absorbed step written with F.linear and einsum over
  the same cache (the form of DeepSeek's inference code); ours is checked
  against it (relative L2 error, WRONG above 3e-2 bf16 or 1e-4 f32);
- GB/s = bytes a step must read (weights and the cache's Lk + 1 rows) per
  second, %read against the probe; GFLOP/s of the MLA attention (2 x 16 x
  (576 + 512) per key and sequence).
Prints a Markdown table; writes bench/out/mla_step/results.json.
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

DM, H, R, DN, DR, DV, DH, THETA, EPS = 2048, 16, 512, 128, 64, 128, 128, 10000.0, 1e-6
LAT = R + DR
GQA_KV = (8, 4)


def spec_text(dt):
    x = f"tensor<?x?x{DM}x{dt}>"
    t = lambda a, b: f"tensor<{a}x{b}x{dt}>"
    wq, wk, wv, wo = t(DM, H * (DN + DR)), t(DM, LAT), t(R, H * (DN + DV)), t(H * DV, DM)
    c = f"tensor<?x1x?x{LAT}x{dt}>"
    out = [f"""
func.func @mla(%x: {x}, %wq: {wq}, %wk: {wk}, %wv: {wv}, %wo: {wo},
    %lens: tensor<?xi32>, %c: {c}) -> ({x}, {c}) {{
  %y, %c2 = mha.multi_head %x, %wq, %wk, %wv, %wo cache(%c : {c})
      kv_lens(%lens : tensor<?xi32>) {{num_heads = {H}, sharing = #mha.sharing<latent>,
      causal, rope_theta = {THETA} : f32, rms_norm_eps = {EPS:.1e} : f32}}
      : {x}, {wq}, {wk}, {wv}, {wo} -> {x} cache({c})
  return %y, %c2 : {x}, {c}
}}
"""]
    for hkv in GQA_KV:
        wkv, gq, go = t(DM, hkv * DH), t(DM, H * DH), t(H * DH, DM)
        kc = f"tensor<?x{hkv}x?x{DH}x{dt}>"
        out.append(f"""
func.func @gqa{hkv}(%x: {x}, %wq: {gq}, %wk: {wkv}, %wv: {wkv}, %wo: {go},
    %lens: tensor<?xi32>, %kc: {kc}, %vc: {kc}) -> ({x}, {kc}, {kc}) {{
  %y, %k, %v = mha.multi_head %x, %wq, %wk, %wv, %wo
      cache(%kc, %vc : {kc}, {kc}) kv_lens(%lens : tensor<?xi32>)
      {{num_heads = {H}, num_kv_heads = {hkv}, causal, rope_theta = {THETA} : f32}}
      : {x}, {gq}, {wkv}, {wkv}, {go} -> {x} cache({kc}, {kc})
  return %y, %k, %v : {x}, {kc}, {kc}
}}
""")
    return "".join(out)


def torch_mla_step(torch, x, w, cache, pos, cos, sin):
    """The absorbed MLA step in PyTorch eager over cache [B, capacity, 576],
    the new latent written at `pos`; w as the spec's weights ([in, out])."""
    F = torch.nn.functional
    wq, wk, wv, wo = w
    B = x.shape[0]

    def rope(t):
        t1, t2 = t[..., :DR // 2], t[..., DR // 2:]
        return torch.cat([t1 * cos - t2 * sin, t2 * cos + t1 * sin], dim=-1)

    q = (x[:, 0] @ wq).view(B, H, DN + DR)
    c = x[:, 0] @ wk
    latent = c[:, :R].float()
    latent = latent * torch.rsqrt(latent.pow(2).mean(-1, keepdim=True) + EPS)
    cache[:, pos, :R] = latent.to(x.dtype)
    cache[:, pos, R:] = rope(c[:, R:])
    wv3 = wv.view(R, H, DN + DV)
    q_lat = torch.einsum("bhd,rhd->bhr", q[..., :DN], wv3[..., :DN])
    q_abs = torch.cat([q_lat, rope(q[..., DN:])], -1)
    keys = cache[:, :pos + 1]
    s = torch.einsum("bhc,btc->bht", q_abs, keys).float() / (DN + DR) ** 0.5
    p = F.softmax(s, -1).to(x.dtype)
    o_lat = torch.einsum("bht,btr->bhr", p, keys[..., :R])
    o = torch.einsum("bhr,rhv->bhv", o_lat, wv3[..., DN:])
    return (o.reshape(B, H * DV) @ wo)[:, None]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lens", default="4096,16384,32768")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--dtype", default="bf16", choices=("bf16", "f32"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=3.0)
    args = ap.parse_args()
    if args.quick:
        args.lens, args.batches = "16384", "1"
    import torch
    torch.set_num_threads(args.threads)
    dt = args.dtype
    out = os.path.join(ROOT, "bench/out/mla_step")
    lib = build_library(out, "mla_step", spec_text(dt))
    read_bw, _ = probe_bandwidth(torch)
    print("MLA layer d=%d, %d heads, r=%d, Dr=%d vs GQA %s, %s, one new token; read "
          "probe %.1f GB/s (%d threads, torch %s)" % (
              DM, H, R, DR, "/".join("16:%d" % k for k in GQA_KV), dt, read_bw,
              args.threads, torch.__version__))
    rng = np.random.default_rng(0)
    tdt = torch.bfloat16 if dt == "bf16" else torch.float32
    elt = 2 if dt == "bf16" else 4

    def weight(rows, cols):
        return torch.from_numpy(rng.standard_normal((rows, cols), dtype=np.float32)
                                / np.sqrt(rows)).to(tdt)

    def raw(t):  # the bytes of a torch tensor as the array we pass
        return t.view(torch.int16).numpy().view(np.uint16) if dt == "bf16" else t.numpy()

    def tensor(t):  # a torch tensor, or a NumPy array of its bytes
        a = t if isinstance(t, np.ndarray) else raw(t)
        return from_numpy(a, "bf16" if dt == "bf16" else None)

    def timed(name, ins, y):
        opts = options(args.threads)
        opts.reuse_packed_weights = 1
        call = lib.function(name, len(ins)).prepare(ins, opts)
        seconds = median_seconds(call.run, args.budget)
        got = (y.astype(np.uint32) << 16).view(np.float32) if dt == "bf16" else y
        return seconds, got

    mla_w = [weight(DM, H * (DN + DR)), weight(DM, LAT), weight(R, H * (DN + DV)),
             weight(H * DV, DM)]
    gqa_w = {k: [weight(DM, H * DH), weight(DM, k * DH), weight(DM, k * DH),
                 weight(H * DH, DM)] for k in GQA_KV}
    nbytes = lambda ws: sum(t.numel() for t in ws) * elt
    freqs = THETA ** (-2.0 * np.arange(DR // 2) / DR)
    rows, results = [], []
    for B in map(int, args.batches.split(",")):
        for Lk in map(int, args.lens.split(",")):
            cap = Lk + 1
            x = torch.from_numpy(rng.standard_normal((B, 1, DM), dtype=np.float32)).to(tdt)
            lens = np.full(B, Lk, np.int32)
            ydt = np.uint16 if dt == "bf16" else np.float32
            cache = torch.from_numpy(rng.standard_normal((B, 1, cap, LAT),
                                                         dtype=np.float32)).to(tdt)
            angle = torch.from_numpy(Lk * freqs).float()
            cos, sin = angle.cos().to(tdt), angle.sin().to(tdt)
            ref = torch_mla_step(torch, x, mla_w, cache[:, 0], Lk, cos, sin).float().numpy()
            t_torch = median_seconds(
                lambda: torch_mla_step(torch, x, mla_w, cache[:, 0], Lk, cos, sin),
                args.budget)
            y = np.zeros((B, 1, DM), ydt)
            t_mla, got = timed("mla", [tensor(x)] + [tensor(w) for w in mla_w] +
                               [lens, tensor(cache), tensor(y)], y)
            err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
            line = {"B": B, "Lk": Lk, "mla_s": t_mla, "mla_err": err, "torch_s": t_torch}
            for k in GQA_KV:
                shape = (B, k, cap, DH)
                kc, vc = (torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(tdt)
                          for _ in range(2))
                yg = np.zeros((B, 1, DM), ydt)
                line["gqa%d_s" % k], _ = timed(
                    "gqa%d" % k, [tensor(x)] + [tensor(w) for w in gqa_w[k]] +
                    [lens, tensor(kc), tensor(vc), tensor(yg)], yg)
            results.append(line)
            mla_bytes = nbytes(mla_w) + B * cap * LAT * elt
            flops = 2 * H * (LAT + R) * cap * B
            bad = err > (3e-2 if dt == "bf16" else 1e-4)
            gqa_bytes = nbytes(gqa_w[GQA_KV[0]]) + 2 * B * GQA_KV[0] * cap * DH * elt
            cells = [str(B), str(Lk), "%.2f" % (t_mla * 1e3),
                     "%.1f" % (mla_bytes / t_mla / 1e9),
                     "%.0f%%" % (100 * mla_bytes / t_mla / 1e9 / read_bw),
                     "%.0f" % (flops / t_mla / 1e9), "%.2f" % (t_torch * 1e3),
                     "%.2fx" % (t_torch / t_mla)]
            for k in GQA_KV:
                cells += ["%.2f" % (line["gqa%d_s" % k] * 1e3),
                          "%.2fx" % (line["gqa%d_s" % k] / t_mla)]
            cells.append("%.1fx" % (gqa_bytes / mla_bytes))
            bad = err > (3e-2 if dt == "bf16" else 1e-4)
            rows.append("| " + " | ".join(cells) + " |" + (" WRONG" if bad else ""))
    header = ["B", "Lk", "MLA ms", "GB/s", "%read", "attention GFLOP/s", "torch MLA ms",
              "vs torch"]
    for k in GQA_KV:
        header += ["GQA 16:%d ms" % k, "MLA vs 16:%d" % k]
    header.append("bytes 16:%d / MLA" % GQA_KV[0])
    print("\n| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    print("\n".join(rows))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"read_GBps": read_bw, "threads": args.threads, "dtype": dt,
                   "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
