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
