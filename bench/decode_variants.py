#!/usr/bin/env python3
"""bench/decode_variants.py - the same decode function of several compiled
libraries (e.g. the decode spec of bench/decode.py built by two compilers),
timed alternately in one process: the way docs/performance.md compares code
generation variants on a noisy shared host.

Usage (a Python with NumPy and the mha package's sources):

  python bench/decode_variants.py DTYPE LK THREADS LIB.so [LIB.so ...]
  B=4 HQ=32 HKV=8 python bench/decode_variants.py f32 16384 2 old.so new.so
  LQ=4 python bench/decode_variants.py f32 16384 2 old.so new.so   # bench/decode.py --lq 4's spec

DTYPE is f32, bf16 or i8 (the `decode_<dtype>` function of
bench/out/decode/spec.mlir: kv_lens, contiguous cache). With MLA=1, f32
or bf16: the `mla` function of bench/out/mla_decode/spec.mlir (written by
`bench/mla_decode.py --dtype DTYPE`): 16 heads of 576 against a latent
cache [B, 1, LK, 576] whose first 512 columns are the values. Prints each
library's largest difference from the first library's output, then per
library the best and median of 7 rounds of 5 calls (best of each round) as
GB/s of the cache read (K and V; MLA: the latent cache once).
"""
import sys, os, time, subprocess
import benchlib  # noqa: F401  (before NumPy: one BLAS thread; mha's path)
import numpy as np
from mha._dlpack import from_numpy, options
from mha import _library
dt, L, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); libs = sys.argv[4:]
B, HQ, HKV, D = int(os.environ.get("B", 1)), int(os.environ.get("HQ", 32)), int(os.environ.get("HKV", 8)), 128
LQ = int(os.environ.get("LQ", 1))  # new rows per sequence, as the spec has them
mla = os.environ.get("MLA") == "1"
if mla:
    HQ, HKV, D, DV = 16, 1, 576, 512
rng = np.random.default_rng(0)
q = rng.standard_normal((B, HQ, LQ, D), dtype=np.float32)
k = rng.standard_normal((B, HKV, L, D), dtype=np.float32)
v = rng.standard_normal((B, HKV, L, D), dtype=np.float32)
extra = []
if dt == "bf16":
    q, k, v = ((x.view(np.uint32) >> 16).astype(np.uint16) for x in (q, k, v))
if dt == "i8":
    from mha import quantize
    (k, ks), (v, vs) = quantize.kv_cache(k), quantize.kv_cache(v)
    extra = [ks, vs]
if mla:
    v = k[..., :DV]
t = lambda x: from_numpy(x, "bf16" if dt == "bf16" else None)
calls = []
for path in libs:
    o = np.zeros((B, HQ, LQ, v.shape[-1]), np.uint16 if dt == "bf16" else np.float32)
    lib = _library.Library(path)
    fn = "mla" if mla else "decode_" + dt
    c = lib.function(fn, 5 + len(extra)).prepare([t(q), t(k), t(v)] + extra + [np.full(B, L, np.int32), t(o)], options(threads))
    c.run(); calls.append((c, o))
# bf16 outputs are raw bits: their values, not the bit patterns, compared.
value = (lambda o: (o.astype(np.uint32) << 16).view(np.float32)) if dt == "bf16" else \
    (lambda o: o.astype(np.float32))
outs = [value(o) for _, o in calls]
for o in outs[1:]:
    print("maxdiff vs first", np.abs(o - outs[0]).max())
res = {p: [] for p in libs}
for rnd in range(7):
    for p, (c, _) in zip(libs, calls):
        ts = []
        for i in range(5):
            s = time.perf_counter(); c.run(); ts.append(time.perf_counter() - s)
        res[p].append(min(ts))
nb = k.nbytes if mla else 2 * k.nbytes
for p in libs:
    r = np.array(res[p])
    print("%-14s best %.2f ms %.1f GB/s   median %.1f GB/s" % (os.path.basename(p), r.min()*1e3, nb / r.min() / 1e9, nb / np.median(r) / 1e9))
