"""mha.compile, the library cache and calls through the native extension
with NumPy, torch and other DLPack arrays (docs/python.md)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mha
from mha import _compile, reference, semantics
from conftest import ROOT, SPEC, attention_spec

rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def gqa_inputs(b=2, lq=9, lk=13):
    return randn(b, 4, lq, 16), randn(b, 2, lk, 16), randn(b, 2, lk, 8)


def gqa_reference(q, k, v, head_mask=None):
    p = semantics.normalise({"causal": True}, 4, 16)
    o, lse, _ = reference.attention(q.astype(np.float64), k.astype(np.float64),
                                    v.astype(np.float64), p, head_mask)
    return o, lse


# --- calls -------------------------------------------------------------------

def test_numpy_in_numpy_out(lib):
    q, k, v = gqa_inputs()
    o, lse = lib.gqa(q, k, v)
    assert isinstance(o, np.ndarray) and isinstance(lse, np.ndarray)
    assert o.shape == (2, 4, 9, 8) and lse.shape == (2, 4, 9)
    assert o.dtype == np.float32 and lse.dtype == np.float32
    assert o.flags.c_contiguous and lse.flags.c_contiguous
    ref_o, ref_lse = gqa_reference(q, k, v)
    assert reference.rel_err(o, ref_o) < 1e-5
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-5, atol=1e-5)


def test_one_result_is_an_array_not_a_tuple(lib):
    q, k = randn(1, 4, 7, 16), randn(1, 4, 7, 16)
    o = lib.win(q, k, k)
    assert isinstance(o, np.ndarray) and o.shape == (1, 4, 7, 16)
    p = semantics.normalise({"window_left": [2, -1, 0, 5]}, 4, 16)
    ref, _, _ = reference.attention(q.astype(np.float64), k.astype(np.float64),
                                    k.astype(np.float64), p)
    assert reference.rel_err(o, ref) < 1e-5


def test_strided_views_are_passed_without_copies(lib):
    # [B, L, H, D] storage, passed as its [B, H, L, D] view; a sliced view
    # (a byte offset into its buffer); a Lq = 0 call.
    q0, k0, v0 = gqa_inputs()
    q = np.ascontiguousarray(q0.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    k_big = randn(2, 2, 20, 16)
    k_big[:, :, 3:16] = k0
    k = k_big[:, :, 3:16]
    assert not q.flags.c_contiguous and not k.flags.c_contiguous
    o, lse = lib.gqa(q, k, v0)
    o_ref, lse_ref = lib.gqa(q0, k0, v0)
    np.testing.assert_array_equal(o, o_ref)
    np.testing.assert_array_equal(lse, lse_ref)
    o, lse = lib.gqa(q0[:, :, :0], k0, v0)
    assert o.shape == (2, 4, 0, 8) and lse.shape == (2, 4, 0)


def test_head_mask_ablates_heads(lib):
    q, k, v = gqa_inputs()
    o, lse = lib.gqa(q, k, v, head_mask=[1, 0, 1, 1], num_threads=2)
    assert not o[:, 1].any()
    assert np.isneginf(lse[:, 1]).all()
    full, _ = lib.gqa(q, k, v)
    np.testing.assert_array_equal(o[:, [0, 2, 3]], full[:, [0, 2, 3]])
    ref, _ = gqa_reference(q, k, v, [1, 0, 1, 1])
    assert reference.rel_err(o, ref) < 1e-5
    # A NumPy mask works too.
    o2, _ = lib.gqa(q, k, v, head_mask=np.array([True, False, True, True]))
    np.testing.assert_array_equal(o2, o)


def test_torch_in_torch_out(lib):
    torch = pytest.importorskip("torch")
    q, k, v = gqa_inputs()
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    o, lse = lib.gqa(tq, tk, tv)
    assert isinstance(o, torch.Tensor) and isinstance(lse, torch.Tensor)
    assert o.shape == (2, 4, 9, 8) and o.dtype == torch.float32 and o.is_contiguous()
    o_np, lse_np = lib.gqa(q, k, v)
    np.testing.assert_array_equal(o.numpy(), o_np)
    np.testing.assert_array_equal(lse.numpy(), lse_np)
    # Transposed and sliced views, tensors that require grad (a direct call
    # is not differentiable: use mha.torch for autograd).
    tq2 = tq.transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()
    o2, _ = lib.gqa(tq2, tk[:, :, :13], tv)
    assert not o2.requires_grad
    np.testing.assert_array_equal(o2.numpy(), o_np)


def test_other_dlpack_arrays_come_back_in_their_namespace(lib):
    # An array type that is neither NumPy nor torch: results come back
    # through its namespace's from_dlpack (here NumPy's).
    class Wrapped:
        def __init__(self, a):
            self.a = a
            self.shape = a.shape
            self.ndim = a.ndim

        def __dlpack__(self, **kwargs):
            return self.a.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

        def __array_namespace__(self):
            return np

    q, k, v = gqa_inputs()
    o, lse = lib.gqa(Wrapped(q), Wrapped(k), Wrapped(v))
    np.testing.assert_array_equal(o, lib.gqa(q, k, v)[0])


def test_bf16_numpy_with_ml_dtypes_and_torch(bf16_lib):
    torch = pytest.importorskip("torch")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    q, k, v = (torch.randn(1, 2, 5, 32).to(torch.bfloat16) for _ in range(3))
    o, lse = bf16_lib.attn16(q, k, v)
    assert o.dtype == torch.bfloat16 and lse.dtype == torch.float32
    ref = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(),
                                                           v.double())
    assert ((o.double() - ref).norm() / ref.norm()).item() < 1e-2
    qn, kn, vn = (x.float().numpy().astype(ml_dtypes.bfloat16) for x in (q, k, v))
    on, lsen = bf16_lib.attn16(qn, kn, vn)
    assert on.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(on.astype(np.float32), o.float().numpy())


def test_bf16_numpy_without_ml_dtypes_says_so(bf16_lib, monkeypatch):
    from mha import _runtime
    _runtime._numpy()
    monkeypatch.setattr(_runtime._Numpy, "bfloat16", None)
    q = np.zeros((1, 2, 3, 32), np.uint16)
    with pytest.raises(TypeError, match="ml_dtypes"):
        bf16_lib.attn16(q, q, q)


# --- errors ------------------------------------------------------------------

def test_error_carries_status_and_message_and_writes_nothing(lib):
    q, k, v = gqa_inputs()
    with pytest.raises(mha.Error) as e:
        lib.gqa(q, k[:, :, :12], v)
    err = e.value
    assert isinstance(err, RuntimeError)
    assert err.status == 4 and err.status_name == "MHA_ERR_SHAPE"
    assert err.function == "gqa"
    assert "gqa: 'k' (key) dim 2 (Lk) is 12 but 'v' (value) has 13" in err.message
    assert str(err).startswith("MHA_ERR_SHAPE: gqa: ")


@pytest.mark.parametrize("case,status", [
    ("dtype", "MHA_ERR_DTYPE"), ("rank", "MHA_ERR_RANK"), ("layout", "MHA_ERR_LAYOUT"),
    ("heads", "MHA_ERR_SHAPE"), ("threads", "MHA_ERR_INVALID_ARGUMENT"),
    ("mask", "MHA_ERR_INVALID_ARGUMENT")])
def test_error_statuses(lib, case, status):
    q, k, v = gqa_inputs()
    kwargs = {}
    if case == "dtype":
        q = q.astype(np.float64)
    elif case == "rank":
        q = q[0]
    elif case == "layout":
        q = randn(2, 4, 9, 32)[..., ::2]
    elif case == "heads":
        k = randn(2, 3, 13, 16)
    elif case == "threads":
        kwargs["num_threads"] = -1
    elif case == "mask":
        kwargs["head_mask"] = [1, 1, 1]
    with pytest.raises(mha.Error) as e:
        lib.gqa(q, k, v, **kwargs)
    assert e.value.status_name == status
    assert e.value.message


def test_call_errors_of_python(lib):
    q, k, v = gqa_inputs()
    with pytest.raises(TypeError, match=r"takes 3 arrays \(q, k, v\), 2 given"):
        lib.gqa(q, k)
    with pytest.raises(TypeError, match="not a DLPack-capable array"):
        lib.gqa(q, k, "not an array")
    class ShapeOnly:  # has a shape but no DLPack: refused by the extension
        shape = (2, 2, 13, 8)
    with pytest.raises(TypeError, match="is not a DLPack-capable array"):
        lib.gqa(q, k, ShapeOnly())
    with pytest.raises(AttributeError, match="exports no function 'nope'"):
        lib.nope
    assert "gqa" in dir(lib) and "gqa_backward" in dir(lib)


def test_fast_path_gives_the_general_paths_results(lib, bf16_lib):
    """A call with at most num_threads takes generated code per array type
    (mha._fastcall); its results are the general path's, bytes and types,
    and a call it cannot handle (another rank) falls back with the general
    path's error."""
    q, k, v = gqa_inputs(lq=5, lk=11)
    fast = lib.gqa(q, k, v, num_threads=1)
    assert callable(lib.gqa._fast[np.ndarray])
    general = lib.gqa._call((q, k, v), num_threads=1)
    for a, b in zip(fast, general):
        assert type(a) is type(b) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    with pytest.raises(mha.Error, match="'q' .query. has 3 dimensions"):
        lib.gqa(q[0], k, v)
    torch = pytest.importorskip("torch")
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    for a, b in zip(lib.gqa(tq, tk, tv), general):
        assert isinstance(a, torch.Tensor)
        np.testing.assert_array_equal(a.numpy(), b)
    assert callable(lib.gqa._fast[torch.Tensor])
    # bf16 results come from uint16 storage viewed as bf16.
    g = torch.Generator().manual_seed(3)
    x = [torch.randn(2, 2, 7, 32, generator=g).to(torch.bfloat16) for _ in range(3)]
    fast16 = bf16_lib.attn16(*x)
    general16 = bf16_lib.attn16._call(tuple(x))
    for a, b in zip(fast16, general16):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_compile_errors():
    with pytest.raises(mha.Error) as e:
        mha.compile("func.func @f(%q: tensor<?x4x?x16xf32>) { return }")
    assert e.value.status is None and e.value.status_name == "MHA_COMPILE_ERROR"
    assert "error" in e.value.message
    with pytest.raises(ValueError, match="target"):
        mha.compile(SPEC, target="tpu")
    with pytest.raises(TypeError):
        mha.compile(b"bytes are not a spec")


def test_tool_not_found(monkeypatch, tmp_path):
    monkeypatch.setenv("MHA_COMPILE", str(tmp_path / "no-such-tool"))
    with pytest.raises(mha.Error) as e:
        mha.compile(SPEC)
    assert e.value.status_name == "MHA_TOOL_NOT_FOUND"


def test_tool_search_order(monkeypatch, tmp_path):
    """MHA_COMPILE, then MHA_BUILD_DIR, then the build recorded at install
    time, then the tool `pip install` built into the package (installed
    without MHA_BUILD_DIR), then PATH."""
    from mha import _build_config
    tools = {}
    for where in ("explicit", "env_build", "recorded", "package", "path"):
        d = tmp_path / where / "bin"
        d.mkdir(parents=True)
        tools[where] = d / "mha-compile"
        tools[where].write_text("#!/bin/sh\n")
        tools[where].chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "path" / "bin"))
    monkeypatch.setattr(_compile, "_PACKAGE_TOOL", str(tools["package"]))
    monkeypatch.setattr(_build_config, "BUILD_DIR", str(tmp_path / "recorded"))
    monkeypatch.setenv("MHA_BUILD_DIR", str(tmp_path / "env_build"))
    monkeypatch.setenv("MHA_COMPILE", str(tools["explicit"]))
    found = []
    for unset in (lambda: monkeypatch.delenv("MHA_COMPILE"),
                  lambda: monkeypatch.delenv("MHA_BUILD_DIR"),
                  lambda: monkeypatch.setattr(_build_config, "BUILD_DIR", ""),
                  lambda: monkeypatch.setattr(_compile, "_PACKAGE_TOOL",
                                              str(tmp_path / "none"))):
        found.append(_compile.find_tool())
        unset()
    found.append(_compile.find_tool())
    assert found == [str(tools[w]) for w in
                     ("explicit", "env_build", "recorded", "package", "path")]


# --- the cache ---------------------------------------------------------------

def test_cache_hits_and_misses(cache_dir):
    spec = attention_spec("cached", 2, 2, 8, lse=False)
    before = dict(_compile.stats)
    a = mha.compile(spec, isa="generic")
    assert _compile.stats["misses"] == before["misses"] + 1
    b = mha.compile(spec, isa="generic")
    assert _compile.stats["hits"] == before["hits"] + 1
    assert a.path == b.path and os.path.dirname(a.path).startswith(str(cache_dir))
    # Other options, other text: other entries.
    c = mha.compile(spec, isa="avx2")
    d = mha.compile(spec + "\n// another spec text\n", isa="generic")
    assert len({a.path, c.path, d.path}) == 3
    assert _compile.stats["misses"] == before["misses"] + 3
    entry = os.path.dirname(a.path)
    assert json.load(open(os.path.join(entry, "manifest.json")))["functions"][0]["name"] \
        == "cached"
    # No temporary folder is left behind.
    assert not [n for n in os.listdir(cache_dir) if n.startswith(".")]
    x = randn(1, 2, 3, 8)
    np.testing.assert_allclose(c.cached(x, x, x), a.cached(x, x, x), rtol=1e-5, atol=1e-6)


def test_cache_key_follows_the_tool(tmp_path):
    # A copy of the tool (with the runtime archive where it looks for it) is
    # another tool: another key.
    tool = _compile.find_tool()
    build = os.path.dirname(os.path.dirname(tool))
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy2(tool, tmp_path / "bin" / "mha-compile")
    os.symlink(os.path.join(build, "lib", "libmha_runtime.a"),
               tmp_path / "lib" / "libmha_runtime.a")
    args = _compile.option_arguments("cpu", {})
    k1 = _compile.cache_key("x", args, tool)
    k2 = _compile.cache_key("x", args, str(tmp_path / "bin" / "mha-compile"))
    assert k1 != k2
    assert _compile.cache_key("x", args, tool) == k1


def test_cache_is_safe_across_processes(tmp_path):
    # Three processes compile the same new spec at once into one cache: all
    # succeed, one entry remains, no temporary folder is left.
    cache = tmp_path / "shared-cache"
    spec = attention_spec("concurrent", 2, 2, 8, lse=False)
    code = ("import mha, numpy as np, sys; lib = mha.compile(sys.stdin.read()); "
            "x = np.ones((1, 2, 2, 8), np.float32); print(lib.path, lib.concurrent(x, x, x).sum())")
    env = dict(os.environ, MHA_CACHE_DIR=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(3)]
    outs = [p.communicate(spec) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {o.split()[0] for o, _ in outs}
    assert len(paths) == 1
    assert [n for n in os.listdir(cache)] == [os.path.basename(os.path.dirname(paths.pop()))]


def test_options_become_tool_arguments():
    args = _compile.option_arguments("cpu", {"isa": "avx2", "micro_kernel": (4, 2, 4, 2),
                                             "function": ["a", "b"], "rows": 32})
    assert args == ["--target=cpu", "--function=a", "--function=b", "--isa=avx2",
                    "--micro-kernel=4,2,4,2", "--rows=32"]
    assert _compile.option_arguments("cuda", {"no_cubin": True}) == \
        ["--target=nvptx", "--no-cubin"]


def test_cpu_libraries_are_for_this_machine_by_default(monkeypatch):
    # No isa, cpu or features: the copies this CPU picks (--isa=host), and
    # a key that holds the CPU, so machines sharing a cache do not share
    # the library.
    args = _compile.option_arguments("cpu", {})
    assert args == ["--target=cpu", "--isa=host"]
    assert _compile.option_arguments("cpu", {"cpu": "znver4"}) == \
        ["--target=cpu", "--cpu=znver4"]
    assert _compile.option_arguments("cpu", {"isa": "auto"}) == \
        ["--target=cpu", "--isa=auto"]
    tool = _compile.find_tool()
    here = _compile.cache_key("x", args, tool)
    portable = _compile.cache_key("x", ["--target=cpu", "--isa=auto"], tool)
    monkeypatch.setattr(_compile, "host_cpu_identity", lambda: ["another CPU"])
    assert _compile.cache_key("x", args, tool) != here
    assert _compile.cache_key("x", ["--target=cpu", "--isa=auto"], tool) == portable


def test_the_default_library_holds_this_cpus_copies():
    # On an AVX-512 CPU: the AVX-512 copy, no AVX2 or SSE4.2 one; MHA_ISA
    # below it is refused with the function's name.
    flags = open("/proc/cpuinfo").read().split()
    if "avx512f" not in flags:
        pytest.skip("needs an AVX-512 CPU")
    lib = mha.compile(attention_spec("here", 2, 2, 8, lse=False))
    symbols = subprocess.run(["nm", lib.path], capture_output=True, text=True,
                             check=True).stdout
    assert "here__work_avx512" in symbols or " T here" in symbols
    assert "__work_avx2" not in symbols and "__work_generic" not in symbols
    x = randn(1, 2, 3, 8)
    code = ("import mha, numpy as np, sys; lib = mha.load(*sys.argv[1:]); "
            "x = np.ones((1, 2, 3, 8), np.float32)\n"
            "try:\n    lib.here(x, x, x)\nexcept mha.Error as e:\n"
            "    print(e)")
    manifest = os.path.join(os.path.dirname(lib.path), "manifest.json")
    out = subprocess.run([sys.executable, "-c", code, lib.path, manifest], capture_output=True,
                         text=True, env=dict(os.environ, MHA_ISA="avx2"), check=True).stdout
    assert out.startswith("MHA_ERR_NO_DEVICE: here: the library has no kernel copy"), out
    assert lib.here(x, x, x).shape == (1, 2, 3, 8)


def test_load_a_library_written_by_mha_compile(tmp_path):
    spec = tmp_path / "s.mlir"
    spec.write_text(attention_spec("direct", 2, 2, 8, lse=False))
    subprocess.run([_compile.find_tool(), str(spec), "-o", str(tmp_path / "libd.so"),
                    "--manifest", str(tmp_path / "libd.json")], check=True)
    lib = mha.load(str(tmp_path / "libd.so"))
    x = randn(1, 2, 4, 8)
    o = lib.direct(x, x, x)
    p = semantics.normalise({}, 2, 8)
    ref, _, _ = reference.attention(x.astype(np.float64), x.astype(np.float64),
                                    x.astype(np.float64), p)
    assert reference.rel_err(o, ref) < 1e-5


def test_library_introspection(lib):
    f = lib.gqa
    assert [p.name for p in f.inputs] == ["q", "k", "v"]
    assert [p.name for p in f.outputs] == ["o", "lse"]
    assert f.outputs[0].shape == ["B", 4, "Lq", 8]
    assert f.result_shapes([(3, 4, 5, 16), (3, 2, 7, 16), (3, 2, 7, 8)]) == \
        [(3, 4, 5, 8), (3, 4, 5)]
    assert lib.backward_of("gqa") is lib.gqa_backward and lib.backward_of("win") is None
    assert [x.name for x in lib.forward_functions()] == sorted(["gqa", "win"]) or \
        {x.name for x in lib.forward_functions()} == {"gqa", "win"}
    assert lib.cached_memory_bytes() >= 0
    assert lib.status_string(4).startswith("MHA_ERR_SHAPE")


def test_overhead_benchmark_runs():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "python_overhead.py"),
                          "--iterations", "20", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "lib.decode(numpy)" in out and "overhead" in out


LAYER_SPEC = """
func.func @layer(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>,
                 %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>, %bo: tensor<32xf32>)
    -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 2, num_kv_heads = 1,
                                                   has_out_bias}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
       tensor<32x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
"""


def test_layer_function_call():
    # mha.multi_head: results sized from the manifest ([B, L, 32]), NumPy
    # and torch, against a NumPy float64 layer (2 query heads, 1 KV head).
    lib = mha.compile(LAYER_SPEC)
    x = randn(2, 5, 32)
    w = [randn(32, 32) * 0.2, randn(32, 16) * 0.2, randn(32, 16) * 0.2,
         randn(32, 32) * 0.2, randn(32)]
    y = lib.layer(x, *w)
    assert y.shape == (2, 5, 32) and y.dtype == np.float32
    x64, (wq, wk, wv, wo, bo) = x.astype(np.float64), [a.astype(np.float64) for a in w]
    q, k, v = x64 @ wq, x64 @ wk, x64 @ wv
    heads = []
    for h in range(2):
        s = q[..., h * 16:(h + 1) * 16] @ k.transpose(0, 2, 1) / 4.0
        p = np.exp(s - s.max(-1, keepdims=True))
        heads.append(p / p.sum(-1, keepdims=True) @ v)
    ref = np.concatenate(heads, -1) @ wo + bo
    assert reference.rel_err(y, ref) < 1e-4
    torch = pytest.importorskip("torch")
    yt = lib.layer(torch.from_numpy(x), *(torch.from_numpy(a) for a in w))
    np.testing.assert_array_equal(yt.numpy(), y)


GROUPED_LOW_RANK_SPEC = """
func.func @layer(%x: tensor<?x?x32xf32>, %wq_down: tensor<32x6xf32>, %wq_up: tensor<6x16xf32>,
                 %wk: tensor<32x8xf32>, %wv: tensor<32x8xf32>, %wo: tensor<32x32xf32>,
                 %bq: tensor<4x8xf32>, %bk: tensor<2x8xf32>, %bv: tensor<2x8xf32>)
    -> tensor<?x?x32xf32> {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<32x6xf32>, tensor<6x16xf32> -> tensor<32x16xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2,
        sharing = #mha.sharing<grouped>, has_qkv_bias}
     : tensor<?x?x32xf32>, tensor<32x16xf32>, tensor<32x8xf32>, tensor<32x8xf32>,
       tensor<32x32xf32>, tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x8xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
"""


def test_grouped_low_rank_layer_call():
    # Grouped projections (4 query heads of 8 in 2 groups, 2 KV heads in one
    # group) with a low-rank Wq: the C parameters are named after the
    # factors, and the layer matches a NumPy float64 one.
    lib = mha.compile(GROUPED_LOW_RANK_SPEC)
    assert [p.name for p in lib.layer.inputs] == ["x", "wq_down", "wq_up", "wk", "wv",
                                                  "wo", "bq", "bk", "bv"]
    x = randn(2, 7, 32)
    shapes = [(32, 6), (6, 16), (32, 8), (32, 8), (32, 32), (4, 8), (2, 8), (2, 8)]
    w = [randn(*s) * 0.3 for s in shapes]
    y = lib.layer(x, *w)
    x64 = x.astype(np.float64)
    wqd, wqu, wk, wv, wo, bq, bk, bv = [a.astype(np.float64) for a in w]
    wq = wqd @ wqu
    heads = []
    for h in range(4):
        q = x64 @ wq[:, (h // 2) * 8:(h // 2 + 1) * 8] + bq[h]
        k, v = x64 @ wk + bk[h // 2], x64 @ wv + bv[h // 2]
        s = q @ k.transpose(0, 2, 1) / np.sqrt(8)
        p = np.exp(s - s.max(-1, keepdims=True))
        heads.append(p / p.sum(-1, keepdims=True) @ v)
    ref = np.concatenate(heads, -1) @ wo
    assert reference.rel_err(y, ref) < 1e-4


def test_dropout_seed_and_offset_reach_the_library():
    # Head 0 keeps every key (p = 0), head 1 drops half of them: the mask is
    # a function of (seed, offset) only.
    spec = attention_spec("drop", 2, 2, 8, lse=False,
                          attrs="dropout = array<f32: 0.0, 0.5>")
    lib = mha.compile(spec)
    q, k, v = randn(1, 2, 6, 8), randn(1, 2, 9, 8), randn(1, 2, 9, 8)
    a = lib.drop(q, k, v, dropout_seed=7, dropout_offset=1)
    np.testing.assert_array_equal(a, lib.drop(q, k, v, dropout_seed=7, dropout_offset=1))
    b = lib.drop(q, k, v, dropout_seed=8, dropout_offset=1)
    c = lib.drop(q, k, v, dropout_seed=7, dropout_offset=2)
    np.testing.assert_array_equal(a[:, 0], b[:, 0])
    assert not np.array_equal(a[:, 1], b[:, 1]) and not np.array_equal(a[:, 1], c[:, 1])
    p = semantics.normalise({}, 2, 8)
    ref, _, _ = reference.attention(q.astype(np.float64), k.astype(np.float64),
                                    v.astype(np.float64), p)
    assert reference.rel_err(a[:, 0], ref[:, 0]) < 1e-5
