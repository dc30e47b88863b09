#!/usr/bin/env python3
"""Per-call overhead of the mha Python package over the kernel alone.

A decode-sized call (B=1, H=8, Lq=1, Lk=128, D=64, f32) of a compiled
spec, timed three ways in one process:

  kernel   the C function called in a loop by the native extension with its
           DLTensors built once (mha._native Function.time): the floor;
  numpy    lib.decode(q, k, v) with NumPy arrays: DLPack import of the
           inputs, result allocation, the call, the status check;
  torch    the same with torch tensors (CPU);
  torch op the torch.library custom op of mha.torch.register (dispatcher
           included), when torch is installed.

Overhead = per-call time minus the kernel's, each the best of several
rounds (the rounds interleave the variants, so a busy machine slows them
alike; the minimum is the least disturbed figure). Run it from the
virtual environment that has the package (`pip install ./python`, see
docs/python.md):

    MHA_BUILD_DIR=build .venv/bin/python bench/python_overhead.py [--threads 1]
"""
import argparse
import time

import mha

SPEC = """
func.func @decode(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                  %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>
       -> tensor<?x8x?x64xf32>
  return %o : tensor<?x8x?x64xf32>
}
"""


def per_call_ns(fn, iterations):
    """The mean time of `iterations` calls."""
    t0 = time.perf_counter_ns()
    for _ in range(iterations):
        fn()
    return (time.perf_counter_ns() - t0) / iterations


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="num_threads of every call")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    import numpy as np
    lib = mha.compile(SPEC)
    f = lib.decode
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 8, 1, 64), dtype=np.float32)
    k = rng.standard_normal((1, 8, 128, 64), dtype=np.float32)
    v = rng.standard_normal((1, 8, 128, 64), dtype=np.float32)
    o = np.empty_like(q)
    nt, it, rep = args.threads, args.iterations, args.repeats

    f(q, k, v, num_threads=nt)  # warm up (thread pool, page faults)
    variants = [("kernel (C loop, prebuilt DLTensors)",
                 lambda: f._native.time([q, k, v, o], nt, it))]
    variants.append(("lib.decode(numpy)",
                     lambda: per_call_ns(lambda: f(q, k, v, num_threads=nt), it)))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        from mha import torch as mha_torch
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        variants.append(("lib.decode(torch)",
                         lambda: per_call_ns(lambda: f(tq, tk, tv, num_threads=nt), it)))
        op = mha_torch.register(lib).decode
        variants.append(("torch op (dispatcher)",
                         lambda: per_call_ns(lambda: op(tq, tk, tv, None, nt), it)))
    best = [float("inf")] * len(variants)
    for _ in range(rep):
        for i, (_, measure) in enumerate(variants):
            best[i] = min(best[i], measure())
    kernel = best[0]
    rows = [(name, ns) for (name, _), ns in zip(variants, best)]
    print(f"decode call B=1 H=8 Lq=1 Lk=128 D=64 f32, num_threads={nt}")
    for name, ns in rows:
        extra = "" if ns is kernel else f"   overhead {(ns - kernel) / 1000:6.2f} us"
        print(f"  {name:38s} {ns / 1000:7.2f} us{extra}")


if __name__ == "__main__":
    main()
