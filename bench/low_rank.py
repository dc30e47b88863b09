#!/usr/bin/env python3
"""The low-rank layer's time against its rank (issue 21): one layer with
every weight given as mha.low_rank factors of rank r, for several r, and the
same layer with full weights, all timed by mha-run in one run.

  python3 bench/low_rank.py [--quick] [--reps 5] [--threads 2]

The layer: d=2048, 16 heads of 128 (MHA), causal, no RoPE, B=1, L=512 (256
with --quick), f32, weights as C parameters (packed at every call, as
users pass them). Each row is `mha-run --time-only` (median of --reps calls,
random inputs) with MHA_PROFILE=1, which also times every phase: 'GEMMs'
is the sum of the projection phases (weight packing, down projections,
Q/K/V, Wo's down projection, output), 'attention' the attention phase. The
GEMMs' multiply-adds per row are r (d + n) for each factored [d, n] weight
(d n for a full one); 'GEMM ns/MAC-row' divides the GEMM time by them and
by L, the figure that is flat when the time is proportional to the rank.
mha-run checks nothing in --time-only mode; the factored layers' numerics
are tested in test/Integration/CPU/layers.mlir and low-rank.mlir.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "build", "bin")


def spec(name, d, heads, dh, L, rank):
    """A layer function: full weights (rank None) or all four factored."""
    n = heads * dh
    t = f"tensor<1x{L}x{d}xf32>"
    shapes = {"wq": (d, n), "wk": (d, n), "wv": (d, n), "wo": (n, d)}
    args, body, weights = [("x", t)], [], []
    for w, (rows, cols) in shapes.items():
        full = f"tensor<{rows}x{cols}xf32>"
        weights.append((w, full))
        if rank is None:
            args.append((w, full))
            continue
        down, up = f"tensor<{rows}x{rank}xf32>", f"tensor<{rank}x{cols}xf32>"
        args += [(w + "_down", down), (w + "_up", up)]
        body.append(f"  %{w} = mha.low_rank %{w}_down, %{w}_up : {down}, {up} -> {full}")
    sig = ", ".join(f"%{a}: {ty}" for a, ty in args)
    ops = ", ".join(f"%{w}" for w, _ in weights)
    tys = ", ".join(ty for _, ty in weights)
    body.append(f"  %y = mha.multi_head %x, {ops} {{num_heads = {heads}, causal}}"
                f" : {t}, {tys} -> {t}")
    return (f"func.func @{name}({sig}) -> {t} {{\n" + "\n".join(body) +
            f"\n  return %y : {t}\n}}\n")


def macs_per_row(d, n, rank):
    full = 3 * d * n + n * d
    return full if rank is None else 4 * rank * (d + n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    d, heads, dh = 2048, 16, 128
    L = 256 if args.quick else 512
    ranks = [64, 128, 256, 512, 768, None]
    out = os.path.join(HERE, "out", "low_rank")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "low_rank.mlir")
    names = {r: f"rank_{r}" if r else "full" for r in ranks}
    with open(path, "w") as f:
        for r in ranks:
            f.write(spec(names[r], d, heads, dh, L, r) + "\n")
    lib = os.path.join(out, "liblow_rank.so")
    subprocess.run([os.path.join(BIN, "mha-compile"), path, "--target=cpu",
                    "-o", lib], check=True)
    print(f"d={d} H={heads} D={dh} L={L} B=1 f32 causal, {args.threads} threads, "
          f"median of {args.reps}")
    print("| rank | MAC/row | layer ms | GEMMs ms | attention ms | "
          "GEMM ns/MAC-row | GEMM GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for r in ranks:
        env = dict(os.environ, MHA_PROFILE="1")
        run = subprocess.run(
            [os.path.join(BIN, "mha-run"), path, lib, "--function", names[r],
             "--time-only", "--repeats", str(args.reps),
             "--num-threads", str(args.threads)],
            env=env, capture_output=True, text=True, check=True)
        total = float(re.search(r"([0-9.]+) ms", run.stdout).group(1))
        # The last --reps calls' phases: attention is the one phase that
        # follows Q/K/V (phase 2 full, 3 with down projections).
        phases = {}
        for m in re.finditer(r"phase (\d+) \(\d+ work items\): ([0-9.]+) ms",
                             run.stderr):
            phases.setdefault(int(m.group(1)), []).append(float(m.group(2)))
        med = {p: sorted(v)[len(v) // 2] for p, v in phases.items()}
        attention = med[2 if r is None else 3]
        gemms = sum(med.values()) - attention
        macs = macs_per_row(d, heads * dh, r)
        print(f"| {r or 'full'} | {macs} | {total:.2f} | {gemms:.2f} | "
              f"{attention:.2f} | {gemms * 1e6 / (macs * L):.4f} | "
              f"{2.0 * macs * L / (gemms * 1e6):.1f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
