"""The Python examples (examples/python/) run and check themselves.

    pytest python/tests/test_examples.py
"""
import os
import subprocess
import sys

import pytest

from conftest import ROOT


def test_paged_decode_example():
    pytest.importorskip("torch")
    script = os.path.join(ROOT, "examples", "python", "paged_decode.py")
    p = subprocess.run([sys.executable, script, "--steps", "3", "--batch", "2"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "worst relative error" in p.stdout


def test_train_and_inspect_example(tmp_path):
    pytest.importorskip("torch")
    script = os.path.join(ROOT, "examples", "python", "train_and_inspect.py")
    out = tmp_path / "head.pgm"
    p = subprocess.run([sys.executable, script, "--steps", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "worst relative loss difference" in p.stdout
    data = out.read_bytes()
    assert data.startswith(b"P5 192 192 255\n") and len(data) == len(b"P5 192 192 255\n") + 192 * 192


def test_distill_attention_example():
    pytest.importorskip("torch")
    script = os.path.join(ROOT, "examples", "python", "distill_attention.py")
    p = subprocess.run([sys.executable, script, "--steps", "12", "--len", "96"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "worst relative difference of loss and gradients" in p.stdout
    assert "kl fell by" in p.stdout
