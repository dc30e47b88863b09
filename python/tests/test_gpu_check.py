"""The GPU check (docs/gpu.md) dry-runs against the CPU back end: its
split-KV cases (with their merge_states and append_kv functions), its
packed-sequence cases and two decoding cases with a bad index (refused
as check_indices asks) compile for the CPU and pass check.py, so the
checker's code for them is sound before a GPU machine runs it, and the
archive gpu-build.sh writes (what is carried there) unpacks and checks.

    pytest python/tests/test_gpu_check.py
"""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from mha._compile import find_tool

ONLY = "^(split|varlen|kv_lens_decode|paged_decode)_"


def test_serving_cases_pass_on_the_cpu(tmp_path):
    pytest.importorskip("torch")
    bundle = tmp_path / "bundle"
    env = dict(os.environ, MHA_GPU_TARGET="cpu", MHA_GPU_BUNDLE=str(bundle),
               MHA_GPU_ONLY=ONLY, MHA_COMPILE=find_tool())
    build = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu-build.sh")],
                           env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    assert "7 compiled, 0 failed" in build.stdout
    shutil.rmtree(bundle)  # the archive alone, as on the GPU machine
    check = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "gpu-check.sh"), str(bundle) + ".tar.gz",
         "--only", ONLY, "--no-bench", "--flex", "none"],
        env=dict(os.environ, PYTHON=sys.executable), capture_output=True, text=True,
        timeout=600)
    out = check.stdout + check.stderr
    assert check.returncode == 0, out[-3000:]
    # 3 split cases (plain and their variants), 2 packed ones and 2
    # decoding ones (4 calls each); merge and append on two split cases and
    # a packed one.
    assert "correctness 22 ok, 0 FAILED" in out, out[-3000:]
    assert sum("| bad_index " in line for line in out.splitlines()) == 2
    for variant in ("merge", "append"):
        assert sum(f"| {variant} " in line for line in out.splitlines()) == 3
