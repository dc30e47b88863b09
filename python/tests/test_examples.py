"""The Python examples (examples/python/) run and check themselves.

    pytest python/tests/test_examples.py
"""
import os
import subprocess
import sys

import pytest

from conftest import ROOT


def run_example(name, *args):
    """Runs examples/python/<name> with `args`; returns its output after
    checking that it succeeded."""
    pytest.importorskip("torch")
    script = os.path.join(ROOT, "examples", "python", name)
    p = subprocess.run([sys.executable, script, *args],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_paged_decode_example():
    out = run_example("paged_decode.py", "--steps", "3", "--batch", "2")
    assert "worst relative error" in out


def test_train_and_inspect_example(tmp_path):
    out = tmp_path / "head.pgm"
    stdout = run_example("train_and_inspect.py", "--steps", "2", "--out", str(out))
    assert "worst relative loss difference" in stdout
    data = out.read_bytes()
    assert data.startswith(b"P5 192 192 255\n") and len(data) == len(b"P5 192 192 255\n") + 192 * 192


def test_distill_attention_example():
    out = run_example("distill_attention.py", "--steps", "12", "--len", "96")
    assert "worst relative difference of loss and gradients" in out
    assert "kl fell by" in out
