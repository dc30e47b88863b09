"""Shared fixtures of the mha package's tests (pytest python/tests).

The package must be installed (`pip install ./python`, docs/python.md) and
find mha-compile (MHA_BUILD_DIR, the build recorded at install time, or
PATH). Every test session compiles into its own cache folder, so the cache
tests see misses and hits of their own.
"""
import os
import sys

import pytest

from specs import attention_spec  # noqa: F401 (the tests import it from here)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, os.pardir, os.pardir))

# The AVX512-BF16 copies run wherever the CPU has them, Intel's included
# (whose bf16 functions would otherwise run the AVX-512 copy).
os.environ.setdefault("MHA_ISA", "avx512bf16")

# The installed package, never python/mha from the source tree (which has
# no native extension).
if os.path.join(ROOT, "python") in [os.path.abspath(p) for p in sys.path]:
    raise RuntimeError("python/ is on sys.path: run pytest on the installed package")


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mha-cache")
    old = os.environ.get("MHA_CACHE_DIR")
    os.environ["MHA_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("MHA_CACHE_DIR", None)
    else:
        os.environ["MHA_CACHE_DIR"] = old


# The f32 library most tests use: GQA 4:2 heads, causal, D=16, Dv=8, with a
# backward; a second function with one result and per-head windows.
SPEC = attention_spec("gqa", 4, 2, 16, 8, attrs="causal", backward=True) + \
    attention_spec("win", 4, 4, 16, attrs="window_left = array<i64: 2, -1, 0, 5>",
                   lse=False)
BF16_SPEC = attention_spec("attn16", 2, 2, 32, dtype="bf16", backward=True)


@pytest.fixture(scope="session")
def lib(cache_dir):
    import mha
    return mha.compile(SPEC)


@pytest.fixture(scope="session")
def bf16_lib(cache_dir):
    import mha
    return mha.compile(BF16_SPEC)
