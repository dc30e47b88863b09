"""mha.compile(target="auto"): one library whose functions run on the CPU
for host tensors and on the GPU for CUDA tensors (docs/python.md). Without
a GPU here, its CPU half is held to a --target=cpu library of the same spec
(the same bits) through direct calls and through mha.torch's ops and
autograd; test/Integration/GPU/auto-target.mlir checks that CUDA tensors
reach the GPU half."""
import pytest

torch = pytest.importorskip("torch")

import mha  # noqa: E402
import mha.torch as mt  # noqa: E402
from mha import _compile  # noqa: E402
from specs import attention_spec  # noqa: E402

# bf16 with a backward: both back ends compile it (the GPU's backward takes
# f16/bf16 with head dims that are multiples of 16).
SPEC = attention_spec("attn", 4, 2, 16, dtype="bf16", attrs="causal", backward=True)


@pytest.fixture(scope="module")
def libs():
    return mha.compile(SPEC, target="auto", no_cubin=True), mha.compile(SPEC)


def inputs(requires_grad=False):
    g = torch.Generator().manual_seed(3)
    shapes = ((2, 4, 9, 16), (2, 2, 13, 16), (2, 2, 13, 16))
    return [torch.randn(s, generator=g).bfloat16().requires_grad_(requires_grad)
            for s in shapes]


def test_options_of_an_auto_library():
    # Its CPU half is for this machine, as a CPU library is.
    assert _compile.option_arguments("auto", {}) == ["--target=auto", "--isa=host"]


def test_host_tensors_run_the_cpu_half(libs):
    auto, cpu = libs
    assert auto.target == "auto"
    q, k, v = inputs()
    o, lse = auto.attn(q, k, v)
    o_cpu, lse_cpu = cpu.attn(q, k, v)
    assert o.device.type == "cpu" and o.dtype == torch.bfloat16
    torch.testing.assert_close(o, o_cpu, rtol=0, atol=0)
    torch.testing.assert_close(lse, lse_cpu, rtol=0, atol=0)


def test_torch_ops_and_autograd_run_the_cpu_half(libs):
    auto, cpu = libs
    results = []
    for lib in (auto, cpu):
        q, k, v = inputs(requires_grad=True)
        o, _ = mt.register(lib).attn(q, k, v)
        o.float().square().sum().backward()
        results.append([o.detach(), q.grad, k.grad, v.grad])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_jax_functions_run_the_cpu_half(libs):
    jax = pytest.importorskip("jax")
    import mha.jax as mj
    from mha import _jax_ffi
    # The CUDA handler is built beside the CPU one (it runs where jaxlib has
    # CUDA and a GPU library's functions get GPU arrays).
    assert type(_jax_ffi.cuda_handler()).__name__ == "PyCapsule"
    auto, cpu = libs
    q, k, v = (x.float().numpy() for x in inputs())
    q, k, v = (jax.numpy.asarray(x, dtype=jax.numpy.bfloat16) for x in (q, k, v))
    o, lse = jax.jit(mj.register(auto).attn)(q, k, v)
    o_cpu, lse_cpu = jax.jit(mj.register(cpu).attn)(q, k, v)
    assert (o == o_cpu).all() and (lse == lse_cpu).all()
