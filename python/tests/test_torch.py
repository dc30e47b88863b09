"""mha.torch: custom ops, fake kernels, autograd, torch.compile, modules."""
import os

import pytest

torch = pytest.importorskip("torch")

import mha  # noqa: E402
import mha.torch as mt  # noqa: E402
from conftest import attention_spec  # noqa: E402
from specs import ENTROPY_SPEC  # noqa: E402

F = torch.nn.functional


@pytest.fixture(scope="module")
def ops(lib):
    return mt.register(lib)


def inputs(b=2, lq=9, lk=13, requires_grad=False, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, 4, lq, 16, generator=g, dtype=dtype)
    k = torch.randn(b, 2, lk, 16, generator=g, dtype=dtype)
    v = torch.randn(b, 2, lk, 8, generator=g, dtype=dtype)
    return tuple(x.requires_grad_(requires_grad) for x in (q, k, v))


def sdpa_gqa_causal(q, k, v, head_mask=None):
    """PyTorch's attention with the spec's meaning: GQA 4:2, causal aligned
    to the last key (row i sees keys j <= i + Lk - Lq), rows with no key 0."""
    kk, vv = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
    lq, lk = q.shape[2], k.shape[2]
    mask = torch.ones(lq, lk, dtype=torch.bool).tril(lk - lq)
    o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask)
    o = torch.where(mask.any(-1)[:, None], o, torch.zeros_like(o))
    if head_mask is not None:
        o = o * torch.tensor(head_mask, dtype=o.dtype)[None, :, None, None]
    return o


def test_register_names_ops_in_a_namespace_of_the_library(lib, ops):
    assert ops.namespace.startswith("mha_") and len(ops.namespace) == 20
    assert set(ops.ops) == {"gqa", "win"}
    assert mt.register(lib) is ops
    assert getattr(torch.ops, ops.namespace).gqa.default is not None
    other = mt.register(mha.compile(attention_spec("gqa", 4, 2, 16, 8, lse=False)))
    assert other.namespace != ops.namespace
    with pytest.raises(AttributeError, match="no op 'nope'"):
        ops.nope
    with pytest.raises(TypeError):
        mt.register("not a library")


def test_op_matches_the_library_call(lib, ops):
    q, k, v = inputs()
    o, lse = ops.gqa(q, k, v)
    o2, lse2 = lib.gqa(q, k, v)
    torch.testing.assert_close(o, o2, rtol=0, atol=0)
    torch.testing.assert_close(lse, lse2, rtol=0, atol=0)
    # Views: transposed storage and a last dimension that is not contiguous
    # (copied for the kernel).
    qt = q.transpose(1, 2).contiguous().transpose(1, 2)
    kn = torch.stack([k, k], -1)[..., 0]
    assert kn.stride(-1) == 2
    o3, _ = ops.gqa(qt, kn, v)
    torch.testing.assert_close(o3, o, rtol=0, atol=0)
    w = ops.win(q, q, q)
    assert isinstance(w, torch.Tensor) and w.shape == q.shape
    with pytest.raises(mha.Error, match="MHA_ERR_SHAPE"):
        ops.gqa(q, k[:, :, :5], v)


def test_fake_kernel_sizes_results(ops):
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        q, k, v = torch.empty(3, 4, 5, 16), torch.empty(3, 2, 7, 16), torch.empty(3, 2, 7, 8)
        o, lse = ops.gqa(q, k, v)
        assert o.shape == (3, 4, 5, 8) and lse.shape == (3, 4, 5)
        assert lse.dtype == torch.float32


def test_opcheck_forward(ops):
    # Every opcheck test, the AOT dispatcher ones with dynamic shapes, on
    # inputs without gradients (their gradient check backpropagates through
    # every result, lse included, which the contract forbids: see the next).
    q, k, v = inputs()
    torch.library.opcheck(ops.gqa, (q, k, v))
    torch.library.opcheck(ops.gqa, (q, k, v, torch.tensor([1, 0, 1, 1], dtype=torch.uint8), 2))
    torch.library.opcheck(ops.win, (q, q, q))
    q, k, v = inputs(requires_grad=True)
    torch.library.opcheck(ops.gqa, (q, k, v), test_utils=(
        "test_schema", "test_autograd_registration", "test_faketensor"))


def test_opcheck_backward_op(lib, ops):
    q, k, v = inputs()
    o, lse = lib.gqa(q, k, v)
    dout = torch.randn_like(o)
    torch.library.opcheck(ops.backward_ops["gqa"], (q, k, v, o, lse, dout))


def test_autograd_matches_float64_sdpa(ops):
    for lq, lk, head_mask in ((9, 13, None), (13, 9, None), (11, 11, [1, 0, 1, 1])):
        q, k, v = inputs(lq=lq, lk=lk, requires_grad=True)
        hm = None if head_mask is None else torch.tensor(head_mask, dtype=torch.uint8)
        o, _ = ops.gqa(q, k, v, hm)
        dout = torch.randn_like(o)
        dq, dk, dv = torch.autograd.grad(o, (q, k, v), dout)
        q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
        ref = sdpa_gqa_causal(q64, k64, v64, head_mask)
        rq, rk, rv = torch.autograd.grad(ref, (q64, k64, v64), dout.double())
        for got, want in ((o, ref), (dq, rq), (dk, rk), (dv, rv)):
            err = ((got.double() - want).norm() / want.norm().clamp_min(1e-30)).item()
            assert err < 1e-4, (lq, lk, head_mask, err)
        if head_mask is not None:
            assert not dq[:, 1].any()


def test_gradient_reaching_lse_is_an_error(ops):
    q, k, v = inputs(requires_grad=True)
    o, lse = ops.gqa(q, k, v)
    with pytest.raises(mha.Error) as e:
        (o.sum() + lse.sum()).backward()
    assert e.value.status_name == "MHA_ERR_NO_GRADIENT" and "'lse'" in e.value.message
    # Only lse in the loss: the same error.
    o, lse = ops.gqa(q, k, v)
    with pytest.raises(mha.Error, match="'lse'"):
        lse.sum().backward()
    # A detached lse is fine.
    o, lse = ops.gqa(q, k, v)
    (o.sum() + lse.detach().sum()).backward()
    assert q.grad is not None


def test_torch_compile_fullgraph_forward_and_backward(ops):
    def f(q, k, v):
        o, lse = ops.gqa(q * 0.5, k, v)
        return o.tanh(), lse

    compiled = torch.compile(f, fullgraph=True, dynamic=True)
    for lq in (9, 17):
        q, k, v = inputs(lq=lq, requires_grad=True)
        o, lse = compiled(q, k, v)
        (o.sum()).backward()        # lse is returned but unused: its zero gradient is fine
        grads = [x.grad.clone() for x in (q, k, v)]
        q2, k2, v2 = (x.detach().requires_grad_() for x in (q, k, v))
        o2, lse2 = f(q2, k2, v2)
        o2.sum().backward()
        torch.testing.assert_close(o, o2)
        torch.testing.assert_close(lse, lse2)
        for g, x in zip(grads, (q2, k2, v2)):
            torch.testing.assert_close(g, x.grad)
    # The lse rule holds under torch.compile too (checked when the backward runs).
    q, k, v = inputs(requires_grad=True)
    o, lse = compiled(q, k, v)
    with pytest.raises(Exception, match="MHA_ERR_NO_GRADIENT"):
        (o.sum() + lse.sum()).backward()


def test_torch_compile_has_no_graph_breaks(ops):
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    attn = mt.Attention(ops, "gqa")

    def f(q, k, v):
        return attn(q, k, v).sum()

    q, k, v = inputs()
    torch.compile(f, fullgraph=True)(q, k, v)
    assert not counters["graph_break"]


def test_attention_module_layouts(lib, ops):
    q, k, v = inputs()
    m = mt.Attention(lib, "gqa")
    torch.testing.assert_close(m(q, k, v), ops.gqa(q, k, v)[0])
    both = mt.Attention(lib, "gqa", return_all=True)(q, k, v)
    assert isinstance(both, tuple) and len(both) == 2
    blhd = mt.Attention(lib, "gqa", layout="blhd")
    out = blhd(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    torch.testing.assert_close(out, ops.gqa(q, k, v)[0].transpose(1, 2))
    with pytest.raises(ValueError):
        mt.Attention(lib, "gqa", layout="lbhd")


def test_bf16_op_and_gradients(bf16_lib):
    ops16 = mt.register(bf16_lib)
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, 7, 32, generator=g).to(torch.bfloat16).requires_grad_()
               for _ in range(3))
    o, _ = ops16.attn16(q, k, v)
    assert o.dtype == torch.bfloat16
    dout = torch.randn_like(o)
    grads = torch.autograd.grad(o, (q, k, v), dout)
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    ref = F.scaled_dot_product_attention(q64, k64, v64)
    refs = torch.autograd.grad(ref, (q64, k64, v64), dout.double())
    for got, want in zip((o,) + grads, (ref,) + refs):
        assert ((got.double() - want).norm() / want.norm()).item() < 2e-2


class TinyModel(torch.nn.Module):
    """Embedding -> q, k, v projections -> attention -> output projection
    -> logits; `attention` is either mha's module or PyTorch's SDPA."""

    def __init__(self, attention, vocab=11, heads=4, kv_heads=2, d=16):
        super().__init__()
        self.heads, self.kv_heads, self.d = heads, kv_heads, d
        self.emb = torch.nn.Embedding(vocab, 32)
        self.wq = torch.nn.Linear(32, heads * d)
        self.wk = torch.nn.Linear(32, kv_heads * d)
        self.wv = torch.nn.Linear(32, kv_heads * 8)
        self.wo = torch.nn.Linear(heads * 8, vocab)
        self.attention = attention

    def forward(self, tokens):
        b, n = tokens.shape
        x = self.emb(tokens)
        q = self.wq(x).view(b, n, self.heads, self.d)
        k = self.wk(x).view(b, n, self.kv_heads, self.d)
        v = self.wv(x).view(b, n, self.kv_heads, 8)
        o = self.attention(q, k, v)           # [B, L, H, 8]
        return self.wo(o.reshape(b, n, -1))


def sdpa_blhd(q, k, v):
    return sdpa_gqa_causal(q.transpose(1, 2), k.transpose(1, 2),
                           v.transpose(1, 2)).transpose(1, 2)


def test_two_training_steps_match_pytorch_attention(lib):
    torch.manual_seed(0)
    ours = TinyModel(mt.Attention(lib, "gqa", layout="blhd"))
    theirs = TinyModel(sdpa_blhd)
    theirs.load_state_dict(ours.state_dict())
    tokens = torch.randint(0, 11, (3, 12))
    targets = torch.randint(0, 11, (3, 12))
    losses = {}
    for name, model in (("mha", ours), ("torch", theirs)):
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        losses[name] = []
        for _ in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(model(tokens).flatten(0, 1), targets.flatten())
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    assert losses["mha"] == pytest.approx(losses["torch"], rel=1e-5)
    assert losses["mha"][1] != losses["mha"][0]
    for (n, p), (_, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(p, p2, rtol=1e-4, atol=1e-5, msg=n)


def test_layer_function_as_an_op():
    from test_package import LAYER_SPEC
    lib = mha.compile(LAYER_SPEC)
    ops = mt.register(lib)
    g = torch.Generator().manual_seed(2)
    shapes = ((32, 32), (32, 16), (32, 16), (32, 32), (32,))
    args = [torch.randn(2, 5, 32, generator=g)] + \
        [torch.randn(*s, generator=g) * 0.2 for s in shapes]
    torch.testing.assert_close(ops.layer(*args), lib.layer(*args), rtol=0, atol=0)
    torch.library.opcheck(ops.layer, tuple(args))


@pytest.fixture(scope="module")
def dropout_ops():
    lib = mha.compile(attention_spec("drop", 2, 2, 8, 16, attrs="dropout = array<f32: 0.5, 0.25>",
                                     backward=True) +
                      attention_spec("nodrop", 2, 2, 8, 16, backward=True))
    return mt.register(lib)


def dropout_inputs(lq=5, lk=16, seed=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 2, lq, 8, generator=g), torch.randn(2, 2, lk, 8, generator=g),
            torch.randn(2, 2, lk, 16, generator=g))


def test_dropout_seed_chooses_the_mask(dropout_ops):
    q, k, v = dropout_inputs()
    s1, s2 = torch.tensor([7, 1]), torch.tensor([8, 1])
    o1, _ = dropout_ops.drop(q, k, v, dropout_seed=s1)
    assert torch.equal(o1, dropout_ops.drop(q, k, v, dropout_seed=s1)[0])
    assert not torch.equal(o1, dropout_ops.drop(q, k, v, dropout_seed=s2)[0])
    assert not torch.equal(o1, dropout_ops.drop(q, k, v, dropout_seed=torch.tensor([7, 2]))[0])
    with pytest.raises(mha.Error, match="dropout_seed must be an int64 tensor of 2 elements"):
        dropout_ops.drop(q, k, v, dropout_seed=torch.tensor([7.0, 1.0]))


def test_dropout_gradients_match_float64_autograd(dropout_ops):
    """Autograd through the op (the backward rebuilds the mask from the saved
    seed) against float64 autograd of softmax(s) * Z @ v, Z the keep factors
    read off a forward call with v = I (o = the dropped probabilities)."""
    q, k, v = dropout_inputs()
    seed = torch.tensor([12345, 6])
    eye = torch.eye(16).expand(2, 2, 16, 16).contiguous()
    dropped, _ = dropout_ops.drop(q, k, eye, dropout_seed=seed)
    p = torch.softmax(q.double() @ k.double().transpose(-1, -2) / 8 ** 0.5, -1)
    rate = torch.tensor([0.5, 0.25], dtype=torch.float64)[None, :, None, None]
    keep = dropped.double() != 0
    assert torch.allclose(dropped.double(), p * keep / (1 - rate), atol=1e-6)
    z = keep / (1 - rate)

    qq, kk, vv = (x.clone().requires_grad_() for x in (q, k, v))
    o, _ = dropout_ops.drop(qq, kk, vv, dropout_seed=seed)
    dout = torch.randn_like(o)
    grads = torch.autograd.grad(o, (qq, kk, vv), dout)
    q64, k64, v64 = (x.double().requires_grad_() for x in (q, k, v))
    o64 = (torch.softmax(q64 @ k64.transpose(-1, -2) / 8 ** 0.5, -1) * z) @ v64
    want = torch.autograd.grad(o64, (q64, k64, v64), dout.double())
    assert torch.allclose(o.double(), o64, atol=1e-5)
    for g, w in zip(grads, want):
        assert torch.allclose(g.double(), w, atol=1e-5), (g - w).abs().max()


def test_dropout_under_torch_compile_takes_new_seeds(dropout_ops):
    q, k, v = (x.requires_grad_() for x in dropout_inputs())
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def step(q, k, v, seed):
        return dropout_ops.drop(q, k, v, dropout_seed=seed)[0].sum()

    for s in ([1, 0], [2, 0]):
        seed = torch.tensor(s)
        loss = step(q, k, v, seed)
        gq = torch.autograd.grad(loss, q)[0]
        eager = dropout_ops.drop(q, k, v, dropout_seed=seed)[0].sum()
        assert torch.allclose(loss, eager)
        assert torch.allclose(gq, torch.autograd.grad(eager, q)[0], atol=1e-6)


def test_attention_module_draws_masks_and_evaluates_without_dropout(dropout_ops):
    q, k, v = dropout_inputs()
    module = mt.Attention(dropout_ops, "drop", eval_name="nodrop")
    torch.manual_seed(0)
    a = module(q, k, v)
    torch.manual_seed(0)
    assert torch.equal(a, module(q, k, v))  # torch's generator draws the seed
    assert not torch.equal(a, module(q, k, v))
    module.eval()
    assert torch.equal(module(q, k, v), dropout_ops.nodrop(q, k, v)[0])
    with pytest.raises(mha.Error, match="pass eval_name="):
        mt.Attention(dropout_ops, "drop").eval()(q, k, v)



@pytest.mark.parametrize("use_output", [True, False])
def test_entropy_regulariser_gradients(use_output):
    """loss = sum(dout * o) + sum(dent * entropy): autograd passes the
    entropy's gradient to the backward as dentropy (zeros for an unused
    output), against float64 autograd of the causal GQA attention."""
    ops = mt.register(mha.compile(ENTROPY_SPEC))
    q, k, v = inputs(lq=9, lk=13, requires_grad=True)
    o, lse, ent = ops.ent(q, k, v)
    dout, dent = torch.randn_like(o), torch.randn_like(ent)
    loss = (dent * ent).sum() + ((dout * o).sum() if use_output else 0)
    grads = torch.autograd.grad(loss, (q, k, v), retain_graph=True)

    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    kk, vv = k64.repeat_interleave(2, 1), v64.repeat_interleave(2, 1)
    mask = torch.ones(9, 13, dtype=torch.bool).tril(13 - 9)
    s = (q64 @ kk.transpose(-1, -2) / 4.0).masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, -1)
    h = -(p * torch.log(torch.where(mask, p, torch.ones_like(p)))).sum(-1)
    want_loss = (dent.double() * h).sum() + ((dout.double() * (p @ vv)).sum()
                                             if use_output else 0)
    want = torch.autograd.grad(want_loss, (q64, k64, v64), allow_unused=True)
    want = [w if w is not None else torch.zeros_like(x) for w, x in zip(want, (q64, k64, v64))]
    assert torch.allclose(ent.double(), h, atol=1e-5)
    for g, w in zip(grads, want):
        assert torch.allclose(g.double(), w, atol=1e-4), (g - w).abs().max()
    with pytest.raises(mha.Error, match="a gradient reaches the 'lse' result"):
        torch.autograd.grad(lse.sum() + ent.sum(), q)


def test_layer_module_holds_the_weights():
    import numpy as np
    import test_quantized_weights as q
    from mha import quantize
    lib = mha.compile(q.spec("int4"))
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.standard_normal((2, 7, q.D_MODEL)).astype(np.float32))

    def w(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float32)
    q4, sq = quantize.weight(w(q.D_MODEL, q.HQ * q.DH), bits=4, group_size=q.GROUP)
    o4, so = quantize.weight(w(q.HQ * q.DH, q.D_MODEL), bits=4, group_size=q.GROUP)
    wk, wv = w(q.D_MODEL, q.HKV * q.DH), w(q.D_MODEL, q.HKV * q.DH)
    layer = mt.Layer(lib, "layer_int4", wq=q4, wq_scale=sq, wk=wk, wv=wv, wo=o4,
                     wo_scale=so)
    want = lib.layer_int4(x, *(torch.from_numpy(a) for a in (q4, sq, wk, wv, o4, so)))
    torch.testing.assert_close(layer(x), want, rtol=0, atol=0)
    # Float tensors are parameters, quantized values buffers; state_dict
    # carries them all into a fresh module.
    assert {n for n, _ in layer.named_parameters()} == {"wq_scale", "wk", "wv", "wo_scale"}
    assert {n for n, _ in layer.named_buffers()} == {"wq", "wo"}
    fresh = mt.Layer(lib, "layer_int4")
    fresh.load_state_dict(layer.state_dict())
    torch.testing.assert_close(fresh(x), want, rtol=0, atol=0)
    with pytest.raises(mha.Error, match="the function has no backward .mark it mha.backward"):
        layer(x.clone().requires_grad_())
    with torch.no_grad():
        layer(x.clone().requires_grad_())
    with pytest.raises(ValueError, match=r"'wq' must be torch.int8 \[48, 24\], got torch.float32"):
        mt.Layer(lib, "layer_int4", wq=np.zeros((48, 24), np.float32))
    with pytest.raises(ValueError, match="has no parameter"):
        mt.Layer(lib, "layer_int4", bq=np.zeros(48, np.float32))
    with pytest.raises(ValueError, match="not a layer"):
        mt.Layer(lib, "nothing")


# Run in a fresh process, so that the library's own worker threads are
# counted from none: with PyTorch's OpenMP threads doing the work, a call
# on 2 threads starts no thread; on the library's own, one worker.
_THREADS_SCRIPT = r"""
import os, sys
import torch
import mha, mha.torch as mt

def tasks():
    return len(os.listdir("/proc/self/task"))

torch.set_num_threads(2)
torch.ones(512, 512) @ torch.ones(512, 512)  # PyTorch's OpenMP team starts.
lib = mha.compile(sys.argv[1])
g = torch.Generator().manual_seed(2)
shapes = ((32, 32), (32, 16), (32, 16), (32, 32), (32,))
args = [torch.randn(4, 67, 32, generator=g)] + \
    [torch.randn(*s, generator=g) * 0.2 for s in shapes]
before = tasks()
ops = mt.register(lib)
torch_dir = os.path.dirname(torch.__file__)
if lib.torch_threads is None:
    print("no OpenMP runtime in", torch_dir)
    sys.exit(0)
assert lib.torch_threads.startswith(torch_dir), lib.torch_threads
shared = lib.layer(*args, num_threads=2)
assert tasks() == before, (tasks(), before)
assert lib.use_torch_threads(False) is None and lib.torch_threads is None
own = lib.layer(*args, num_threads=2)
assert tasks() == before + 1, (tasks(), before)
assert lib.use_torch_threads() == lib.torch_threads is not None
again = ops.layer(*args)
assert torch.equal(shared, own) and torch.equal(shared, again)
print("ok")
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_registered_library_runs_on_torch_threads():
    import subprocess
    import sys
    from test_package import LAYER_SPEC
    out = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, LAYER_SPEC],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    if "no OpenMP runtime" in out.stdout:
        pytest.skip(out.stdout.strip())
    assert out.stdout.strip() == "ok"


def test_use_torch_threads_keeps_the_results(lib):
    q, k, v = inputs(b=3, lq=70, lk=90)
    shared_before = lib.torch_threads is not None
    try:
        assert lib.use_torch_threads(False) is None
        own = lib.gqa(q, k, v, num_threads=2)
        path = lib.use_torch_threads()
        assert path is None or path.startswith(os.path.dirname(torch.__file__))
        for _ in range(3):
            torch.testing.assert_close(lib.gqa(q, k, v, num_threads=2), own,
                                       rtol=0, atol=0)
    finally:
        lib.use_torch_threads(shared_before)


def test_layer_module_sees_weights_written_in_place():
    """Two calls keep the weights' panels; an optimizer-style write in
    place makes the next call pack again (the module passes
    reuse_packed_weights only for unchanged weights, and a call without it
    drops the kept panels), so no call uses stale panels."""
    from test_package import LAYER_SPEC
    lib = mha.compile(LAYER_SPEC)
    g = torch.Generator().manual_seed(4)
    names = ("wq", "wk", "wv", "wo", "bo")
    shapes = ((32, 32), (32, 16), (32, 16), (32, 32), (32,))
    w = {n: torch.randn(*s, generator=g) * 0.2 for n, s in zip(names, shapes)}
    layer = mt.Layer(lib, "layer", **w)
    x = torch.randn(2, 5, 32, generator=g)
    with torch.no_grad():
        for _ in range(2):
            torch.testing.assert_close(layer(x), lib.layer(x, *w.values()), rtol=0, atol=0)
        layer.wq.mul_(-0.5)
        layer.wo.add_(0.1)
        want = lib.layer(x, *(getattr(layer, n) for n in names))
        for _ in range(3):
            torch.testing.assert_close(layer(x), want, rtol=0, atol=0)
