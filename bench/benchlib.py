"""Helpers the benchmarks share: compiling a spec they write, timing a call,
and one NumPy BLAS thread. Import it before NumPy: OpenBLAS reads its
thread count when it loads, and its idle threads spin after each call,
taking the cores the library's threads time on (nothing timed here is
NumPy's)."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from mha._library import Library  # noqa: E402


def build_library(out, stem, text):
    """`text` written to <out>/spec.mlir and compiled to <out>/lib<stem>.so
    with build/bin/mha-compile (MHA_COMPILE overrides) when the library is
    older than the spec or the compiler; returns the loaded Library."""
    compile_bin = os.environ.get("MHA_COMPILE",
                                 os.path.join(ROOT, "build/bin/mha-compile"))
    os.makedirs(out, exist_ok=True)
    spec, lib = os.path.join(out, "spec.mlir"), os.path.join(out, "lib%s.so" % stem)
    if not os.path.exists(spec) or open(spec).read() != text:
        with open(spec, "w") as f:
            f.write(text)
    # The runtime archive links into the library: a newer one rebuilds it.
    runtime = os.path.join(os.path.dirname(os.path.dirname(compile_bin)),
                           "lib/libmha_runtime.a")
    inputs = [spec, compile_bin] + ([runtime] if os.path.exists(runtime) else [])
    if (not os.path.exists(lib) or
            os.path.getmtime(lib) < max(os.path.getmtime(p) for p in inputs)):
        subprocess.run([compile_bin, spec, "-o", lib], check=True)
    return Library(lib)


def median_seconds(run, budget, least=3, most=15):
    """One warm-up call, then the median of as many timed calls as fit in
    `budget` seconds (between `least` and `most`)."""
    t0 = time.perf_counter()
    run()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(int(max(least, min(most, budget / max(warm, 1e-6))))):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
