#!/usr/bin/env python3
"""bench/layouts.py - attention and its backward on [B, H, L, D] tensors
against the same calls on [B, L, H, D] views (the layout a projection's
output reshaped per head has, and a layer's temporaries), f32 causal GQA
32:8, D = 128, B = 1: several libraries of the spec alternately in one
process, the way docs/performance.md compares code generation variants on
a noisy shared host.

Usage (a Python with NumPy and the mha package's sources):

  python bench/layouts.py [--len L] [--threads N] [--kv-heads H] [--aligned] [LIB.so ...]

Without libraries it writes bench/out/layouts/spec.mlir (HQ query heads,
--kv-heads KV heads) and compiles it with build/bin/mha-compile
(MHA_COMPILE overrides); compile that spec with two compilers to compare
them. Inputs are NumPy arrays (16 bytes into a cache line) unless
--aligned puts them on 64-byte lines as PyTorch does. Prints each library's gradients' largest
difference from the first library's (per layout), then per library, layout and
direction the best and median of 5 rounds of 3 calls (best of each round).
"""
import argparse
import os
import sys
import time

from benchlib import build_library  # first: it sets NumPy's BLAS threads
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from mha import _library  # noqa: E402
from mha._dlpack import from_numpy, options  # noqa: E402

HQ, D = 32, 128


def spec(hkv):
    return SPEC.format(HQ=HQ, HKV=hkv, D=D)


SPEC = """func.func @gqa(%q: tensor<?x{HQ}x?x{D}xf32>, %k: tensor<?x{HKV}x?x{D}xf32>,
               %v: tensor<?x{HKV}x?x{D}xf32>)
    -> (tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?xf32>) attributes {{mha.backward}} {{
  %o, %lse = mha.attention %q, %k, %v {{causal, return_lse}}
      : tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HKV}x?x{D}xf32>, tensor<?x{HKV}x?x{D}xf32>
      -> tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?xf32>
  return %o, %lse : tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?xf32>
}}
"""


def array(shape, aligned):
    """Zeros of `shape`: NumPy's own (16 bytes into a cache line), or
    starting on a 64-byte line as PyTorch's tensors do."""
    if not aligned:
        return np.zeros(shape, np.float32)
    n = int(np.prod(shape))
    buf = np.zeros(n + 16, np.float32)
    first = (-buf.ctypes.data % 64) // 4
    return buf[first:first + n].reshape(shape)


def tensors(rng, layout, L, hkv, aligned):
    """q, k, v, o, dout, dq, dk, dv in `layout` (o and the gradients
    zeroed), lse [1, HQ, L]."""
    def make(h, fill):
        shape = (1, h, L, D) if layout == "bhld" else (1, L, h, D)
        x = array(shape, aligned)
        if fill:
            x[...] = rng.standard_normal(shape, dtype=np.float32)
        return x if layout == "bhld" else x.transpose(0, 2, 1, 3)
    q, k, v = make(HQ, True), make(hkv, True), make(hkv, True)
    o, dout = make(HQ, False), make(HQ, True)
    dq, dk, dv = make(HQ, False), make(hkv, False), make(hkv, False)
    return q, k, v, o, np.zeros((1, HQ, L), np.float32), dout, dq, dk, dv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--len", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kv-heads", type=int, default=8,
                    help="KV heads of the spec (32: MHA); libraries given must match")
    ap.add_argument("--aligned", action="store_true",
                    help="tensors on 64-byte lines, as PyTorch allocates them")
    ap.add_argument("libs", nargs="*")
    args = ap.parse_args()
    paths = args.libs or [build_library(
        os.path.join(ROOT, "bench/out/layouts"), "layouts_kv%d" % args.kv_heads,
        spec(args.kv_heads)).path]
    rng = np.random.default_rng(0)
    inputs = {layout: tensors(rng, layout, args.len, args.kv_heads, args.aligned)
              for layout in ("bhld", "blhd")}
    calls, grads = {}, {}
    for path in paths:
        lib = _library.Library(path)
        for layout, (q, k, v, o, lse, dout, dq, dk, dv) in inputs.items():
            fwd = lib.function("gqa", 5).prepare(
                [from_numpy(x) for x in (q, k, v, o, lse)], options(args.threads))
            fwd.run()
            bwd = lib.function("gqa_backward", 9).prepare(
                [from_numpy(x) for x in (q, k, v, o, lse, dout, dq, dk, dv)],
                options(args.threads))
            bwd.run()
            calls[path, layout] = (fwd, bwd)
            grads.setdefault(layout, []).append([np.array(g) for g in (dq, dk, dv)])
    for layout, per_lib in grads.items():
        for g in per_lib[1:]:
            print(f"{layout}: max gradient difference vs the first library:",
                  max(float(np.abs(a - b).max()) for a, b in zip(g, per_lib[0])))
    best = {key: ([], []) for key in calls}
    for _ in range(5):
        for key, pair in calls.items():
            for c, out in zip(pair, best[key]):
                ts = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    c.run()
                    ts.append(time.perf_counter() - t0)
                out.append(min(ts))
    print(f"f32 causal {HQ}:{args.kv_heads} heads D={D} L={args.len}, "
          f"{'64-byte aligned' if args.aligned else 'NumPy'} arrays, "
          f"{args.threads} thread(s): ms, best / median")
    for (path, layout), (f, b) in best.items():
        print("%-28s %s  forward %7.1f / %7.1f  backward %7.1f / %7.1f" % (
            os.path.basename(path), layout, 1e3 * min(f), 1e3 * np.median(f),
            1e3 * min(b), 1e3 * np.median(b)))


if __name__ == "__main__":
    main()
