"""mha: Python bindings of the mha attention compiler (docs/python.md).

    import mha
    lib = mha.compile(open("model.mlir").read(), target="cpu")
    o, lse = lib.attn(q, k, v)        # NumPy or torch arrays in, the same kind out
    ops = mha.torch.register(lib)     # torch.library custom ops with autograd

  mha.compile     compile a spec (cached under $MHA_CACHE_DIR) -> mha.Library
  mha.load        load a library written by `mha-compile --manifest`
  mha.Error       what a failed call raises (a RuntimeError)
  mha.torch       PyTorch custom ops and modules
  mha.semantics   the attributes of mha.attention and the key-visibility rule
  mha.reference   the float64 NumPy reference of mha.attention
  mha.quantize    int8 KV caches and layer weights with their scales

Attributes are imported on first use: `import mha.semantics` needs nothing
but the standard library (scripts of the repository use it before any
virtual environment exists), and NumPy and torch are imported only by the
calls that need them.
"""
from ._errors import Error, status_name  # noqa: F401 (standard library only)

__all__ = ["Error", "status_name", "compile", "load"]

__version__ = "0.1.0"


def compile(spec_text, target="cpu", **options):  # noqa: A001 (the package's verb)
    """Compiles a spec (its text) with mha-compile and loads the library.

    target: "cpu" (the default), "cuda" (an NVIDIA GPU library) or "auto"
    (one library with both: each call runs where its tensors live; the GPU
    path has not run on a GPU yet, see docs/python.md). options: mha-compile's
    options as keywords, underscores for dashes (isa="avx2", rows=32,
    micro_kernel=(4, 2, 4, 2), function=["attn"]). Libraries are cached under
    $MHA_CACHE_DIR (default ~/.cache/mha) by spec text, options and the
    identity of the tool; a cached library is not compiled again.
    Raises mha.Error (status_name "MHA_COMPILE_ERROR", mha-compile's
    diagnostics as message) when the spec does not compile."""
    from . import _compile, _runtime
    path, manifest, key = _compile.build_library(spec_text, target, **options)
    return _runtime.load(path, manifest, key, spec_text)


def load(path, manifest_path=None):
    """A library already written by `mha-compile SPEC -o PATH --manifest
    MANIFEST` (manifest_path defaults to PATH with .json for .so)."""
    import json
    import os
    from . import _runtime
    if manifest_path is None:
        manifest_path = os.path.splitext(path)[0] + ".json"
    with open(manifest_path) as f:
        manifest = json.load(f)
    return _runtime.load(os.path.abspath(path), manifest)


def __getattr__(name):
    # mha.torch, mha.Library, ... on first use.
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    if name in ("Library", "Function"):
        from . import _runtime
        return getattr(_runtime, name)
    raise AttributeError(f"module 'mha' has no attribute '{name}'")
