"""Saved activations of a layer backward (docs/language.md 7.1): a layer
marked mha.backward also exports `<name>_forward_train(x, weights...,
biases..., y)`, which writes y and the activations its backward needs into
the caller's buffer (mha_options.saved_activations, `<name>_saved_bytes(B,
L)` bytes), and `<name>_backward` given that buffer reads them instead of
recomputing the forward. The gradients are the recomputing backward's, bit
for bit (the same kernel runs the same phases), for every kind of layer;
the buffer is left as it was, so a second backward gives them again. Bad
buffers fail naming the field, with nothing written.

    pytest python/tests/test_saved_activations.py
"""
import ctypes

import numpy as np
import pytest

import mha
from mha import _dlpack

import test_layer_backward as tlb

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(23)


class SavedLayer:
    """ctypes calls of one layer's _forward_train, _backward and
    _saved_bytes in a compiled library."""

    def __init__(self, lib, name):
        self.lib, self.name = lib, name
        self.so = ctypes.CDLL(lib.path)
        self.so.mha_last_error.restype = ctypes.c_char_p
        self.bytes_fn = getattr(self.so, name + "_saved_bytes")
        self.bytes_fn.restype = ctypes.c_int64
        self.bytes_fn.argtypes = [ctypes.c_int64, ctypes.c_int64]

    def saved_bytes(self, batch, length):
        return self.bytes_fn(batch, length)

    def buffer(self, nbytes, misalign=0):
        """A 64-byte aligned uint8 array of nbytes (plus `misalign`)."""
        raw = np.zeros(nbytes + 128, np.uint8)
        start = (-raw.ctypes.data) % 64 + misalign
        return raw[start:start + nbytes]

    def call(self, suffix, arrays, saved=None, nbytes=None, **options):
        """(status, last error) of <name><suffix>(arrays..., opts)."""
        fn = getattr(self.so, self.name + suffix)
        fn.restype = ctypes.c_int
        tensors = [_dlpack.from_numpy(a, "bf16" if a.dtype == np.uint16 else None)
                   for a in arrays]
        opts = _dlpack.options(
            saved_activations=None if saved is None else saved.ctypes.data,
            saved_activations_bytes=(saved.nbytes if nbytes is None else nbytes)
            if saved is not None else 0, **options)
        status = fn(*[ctypes.byref(t) for t in tensors], ctypes.byref(opts))
        return status, self.so.mha_last_error().decode()

    def forward_train(self, inputs, y_shape, dtype=np.float32, **options):
        batch, length = y_shape[0], y_shape[1]
        saved = self.buffer(self.saved_bytes(batch, length))
        y = np.zeros(y_shape, dtype)
        status, error = self.call("_forward_train", inputs + [y], saved, **options)
        assert status == _dlpack.MHA_OK, error
        return y, saved

    def backward(self, inputs, dy, like, saved=None, **options):
        grads = [np.full_like(g, 7) for g in like]
        status, error = self.call("_backward", inputs + [dy] + grads, saved, **options)
        assert status == _dlpack.MHA_OK, error
        return grads


def check_saved(lib, name, inputs, y_shape, y_tol=1e-5, bf16=False, **options):
    """forward_train's y against the forward's; the backward with the saved
    activations, twice, against the recomputing one, bit for bit."""
    layer = SavedLayer(lib, name)
    dtype = np.uint16 if bf16 else np.float32
    y, saved = layer.forward_train(inputs, y_shape, dtype, **options)
    # The library's own calls take bf16 as torch tensors.
    wrap = (lambda a: torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
            if a.dtype == np.uint16 else a)
    unwrap = (lambda r: r.view(torch.int16).numpy().view(np.uint16)) if bf16 \
        else np.ascontiguousarray
    lib_options = {k: v for k, v in options.items() if k == "head_mask"}
    forward = unwrap(getattr(lib, name)(*map(wrap, inputs), **lib_options))
    as_f32 = (lambda a: (a.astype(np.uint32) << 16).view(np.float32)) if bf16 \
        else (lambda a: np.asarray(a, np.float32))
    ref = as_f32(forward)
    err = np.abs(as_f32(y) - ref).max() / max(np.abs(ref).max(), 1e-6)
    assert err < y_tol, f"y: relative error {err:.2e} against {name}()"
    dy = RNG.standard_normal(y_shape).astype(np.float32)
    if bf16:
        dy = (dy.view(np.uint32) >> 16).astype(np.uint16)
    recomputed = [unwrap(g) for g in getattr(lib, name + "_backward")(
        *map(wrap, inputs), wrap(dy), **lib_options)]
    for attempt in range(2):
        got = layer.backward(inputs, dy, recomputed, saved, **options)
        for g, r in zip(got, recomputed):
            assert np.array_equal(g, r), f"backward {attempt} with saved activations"
    return y


@pytest.fixture(scope="module")
def cases_lib():
    return mha.compile("".join(tlb.case_spec(c)[0] for c in sorted(tlb.CASES)))


@pytest.mark.parametrize("case", sorted(tlb.CASES))
@pytest.mark.parametrize("B,L", [(2, 13), (1, 70)])
def test_every_sharing_scheme(cases_lib, case, B, L):
    """y against float64 too; the gradients those of the recomputation."""
    d_model, hq, hkv, d, sharing, groups, qb, ob, attrs, theta = tlb.CASES[case]
    _, names = tlb.case_spec(case)
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    y = check_saved(cases_lib, case, [arrays[n] for n in names], (B, L, d_model))
    t = tlb.leaves(names, arrays)
    ref = tlb.layer(t, hq, hkv, d, sharing, theta, causal="causal" in attrs,
                    softcap=5.0 if "softcap" in attrs else None).detach().numpy()
    assert np.abs(y - ref).max() / np.abs(ref).max() < 1e-4


def test_runtime_head_mask_and_threads(cases_lib):
    """The forward_train and backward calls of one training step share
    the options: a runtime head mask, one thread."""
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES["mha"]
    _, names = tlb.case_spec("mha")
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, 2, 19)
    check_saved(cases_lib, "mha", [arrays[n] for n in names], (2, 19, d_model),
                head_mask=[1, 0, 1, 1], num_threads=1)


def test_low_rank_weights():
    """Low-rank Wq, Wv and Wo: forward_train computes y through O A_o."""
    lib = mha.compile(tlb.LOW_RANK_SPEC)
    shapes = {"x": (2, 17, 32), "qa": (32, 6), "qb": (6, 32), "wk": (32, 16),
              "va": (32, 5), "vb": (5, 16), "oa": (32, 7), "ob": (7, 32),
              "bq": (32,), "bk": (16,), "bv": (16,), "bo": (32,)}
    arrays = [(RNG.standard_normal(s) / np.sqrt(s[0] if n != "x" else 1))
              .astype(np.float32) for n, s in shapes.items()]
    check_saved(lib, "lr", arrays, (2, 17, 32))


@pytest.mark.parametrize("case", ["mla_rope", "mla_v3"])
def test_latent_layers(case):
    """MLA, with DeepSeek-V3's RMS norms (normalised in place by the
    recomputation, so the backward leaves the buffer as it was)."""
    theta, eps, low_rank, attrs = tlb.LATENT_CASES[case]
    text, shapes = tlb.latent_spec(case, theta, eps, low_rank, attrs)
    lib = mha.compile(text)
    arrays = tlb.draw_latent(shapes, 2, 15)
    check_saved(lib, case, [arrays[n] for n in shapes], (2, 15, tlb.MLA["d"]))


@pytest.mark.parametrize("case,kind", [("gqa_rope", "cu_seqlens_q"),
                                       ("odd_noncausal", "q_lens")])
def test_sequences_of_different_lengths(case, kind):
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES[case]
    text, names = tlb.sequences_spec(case, kind)
    lib = mha.compile(text)
    lens = [5, 0, 21, 1]
    if kind == "cu_seqlens_q":
        lengths = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        B, L = 1, int(lengths[-1]) + 3
    else:
        lengths, B, L = np.array(lens, np.int32), len(lens), max(lens) + 2
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    check_saved(lib, f"{case}_{kind}", [arrays[n] for n in names] + [lengths],
                (B, L, d_model))


def test_bf16_layer():
    """A bf16 layer: the saved attention output is f32 (the backward's), so
    y rounds once from it; the gradients are the recomputation's."""
    text, names = tlb.spec("bf", 64, 4, 2, 16, dtype="bf16", out_bias=True,
                           attrs="causal, rope_theta = 10000.0 : f32")
    lib = mha.compile(text)
    arrays = tlb.draw(names, 64, 4, 2, 16, "independent", None, 2, 23)
    bf = [(a.view(np.uint32) >> 16).astype(np.uint16) for a in
          (arrays[n] for n in names)]
    check_saved(lib, "bf", bf, (2, 23, 64), y_tol=2e-2, bf16=True)


def test_the_python_reference_example_runs():
    """docs/python.md's block of saved-activation calls, as written there,
    on docs/language.md 7.1's @gqa layer: y is gqa's, the gradients the
    recomputing backward's, bit for bit."""
    import os
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
    language = open(os.path.join(docs, "language.md")).read()
    start = language.index("func.func @gqa(%x: tensor<?x?x48xf32>")
    lib = mha.compile(language[start:language.index("\n}\n", start) + 3])
    python = open(os.path.join(docs, "python.md")).read()
    start = python.index("buf = torch.zeros(lib.gqa_forward_train")
    block = python[start:python.index("```", start)]
    B, L = 2, 19
    shapes = {"x": (B, L, 48), "wq": (48, 64), "wk": (48, 32), "wv": (48, 32),
              "wo": (64, 48), "bq": (64,), "bk": (32,), "bv": (32,), "bo": (48,)}
    args = {n: torch.tensor((RNG.standard_normal(s) /
                             (1 if n == "x" else np.sqrt(s[0]))).astype(np.float32))
            for n, s in shapes.items()}
    dy = torch.tensor(RNG.standard_normal((B, L, 48)).astype(np.float32))
    scope = dict(args, lib=lib, torch=torch, B=B, L=L, dy=dy)
    exec(block, scope)
    inputs = list(args.values())
    assert torch.allclose(scope["y"], lib.gqa(*inputs), rtol=1e-5, atol=1e-6)
    for name, want in zip(["dx", "dwq", "dwk", "dwv", "dwo", "dbq", "dbk", "dbv", "dbo"],
                          lib.gqa_backward(*inputs, dy)):
        assert torch.equal(scope[name], want), name


def test_saved_bytes():
    """<name>_saved_bytes: the buffer's size, growing with B and L; -1 for
    negative sizes; a buffer one byte short is refused."""
    lib = mha.compile(tlb.case_spec("gqa_rope")[0])
    layer = SavedLayer(lib, "gqa_rope")
    assert layer.saved_bytes(-1, 4) == -1 and layer.saved_bytes(1, -4) == -1
    one, two = layer.saved_bytes(1, 64), layer.saved_bytes(2, 64)
    assert 0 < one < two and layer.saved_bytes(1, 128) > one
    # Q, K, V (4 + 2 + 2 heads of 16), the f32 attention output (4 x 16),
    # lse (4 heads): at least these floats per row.
    assert one >= 64 * (128 + 64 + 4) * 4


def test_empty_sequences(cases_lib):
    """L = 0 and B = 0: nothing to compute, but the buffer records the
    call, so the backward of the same shapes takes it; the weights' and
    biases' gradients, sums over no rows, are zeros, with and without the
    buffer (mha-fuzz-runtime found them left unwritten)."""
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES["gqa_rope"]
    _, names = tlb.case_spec("gqa_rope")
    layer = SavedLayer(cases_lib, "gqa_rope")
    for B, L in [(2, 0), (0, 5)]:
        arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
        inputs = [arrays[n] for n in names]
        y, saved = layer.forward_train(inputs, (B, L, d_model))
        dy = np.zeros((B, L, d_model), np.float32)
        for buffer in (saved, None):
            grads = layer.backward(inputs, dy, [arrays[n] for n in names], buffer)
            assert grads[0].shape == (B, L, d_model)
            for n, g in zip(names[1:], grads[1:]):
                assert g.size and not g.any(), n


def test_bad_buffers_are_refused():
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES["gqa_rope"]
    text, names = tlb.case_spec("gqa_rope")
    lib = mha.compile(text + tlb.spec("other", 64, 4, 2, 16)[0])
    layer = SavedLayer(lib, "gqa_rope")
    B, L = 2, 9
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    inputs = [arrays[n] for n in names]
    need = layer.saved_bytes(B, L)

    def refused(suffix, outputs, watched, saved, code, text, nbytes=None):
        """The call fails with `code`, `text` in its message, `watched`
        (an output filled with 5) untouched."""
        status, error = layer.call(suffix, inputs + outputs, saved, nbytes)
        assert status == code, error
        assert text in error, error
        assert np.all(watched == 5), "written on failure"

    y = np.full((B, L, d_model), 5, np.float32)
    refused("_forward_train", [y], y, None, _dlpack.MHA_ERR_NULL_POINTER,
            "options->saved_activations is NULL")
    refused("_forward_train", [y], y, layer.buffer(need),
            _dlpack.MHA_ERR_INVALID_ARGUMENT, f"need {need} bytes", nbytes=need - 1)
    refused("_forward_train", [y], y, layer.buffer(need, misalign=8),
            _dlpack.MHA_ERR_LAYOUT, "not 64-byte aligned")
    # A backward needs the activations of this layer, B and L.
    dy = RNG.standard_normal((B, L, d_model)).astype(np.float32)
    dx = np.full((B, L, d_model), 5, np.float32)
    grads = [dx] + [np.zeros_like(arrays[n]) for n in names[1:]]
    refused("_backward", [dy] + grads, dx, layer.buffer(need),
            _dlpack.MHA_ERR_INVALID_ARGUMENT,
            "holds no activations of this layer with B = 2 and L = 9")
    shorter = layer.buffer(need)
    status, error = layer.call(
        "_forward_train", [a[:, :L - 1] if a.ndim == 3 else a for a in inputs]
        + [np.zeros((B, L - 1, d_model), np.float32)], shorter)
    assert status == _dlpack.MHA_OK, error
    refused("_backward", [dy] + grads, dx, shorter, _dlpack.MHA_ERR_INVALID_ARGUMENT,
            "holds no activations of this layer with B = 2 and L = 9")
    refused("_backward", [dy] + grads, dx, shorter, _dlpack.MHA_ERR_INVALID_ARGUMENT,
            f"need {need} bytes", nbytes=layer.saved_bytes(B, L - 1))
    # Another layer's activations of the same B and L.
    other = SavedLayer(lib, "other")
    o_names = tlb.spec("other", 64, 4, 2, 16)[1]
    o_arrays = tlb.draw(o_names, 64, 4, 2, 16, "independent", None, B, L)
    o_saved = other.buffer(max(need, other.saved_bytes(B, L)))
    status, error = other.call("_forward_train", [o_arrays[n] for n in o_names]
                               + [np.zeros((B, L, 64), np.float32)], o_saved)
    assert status == _dlpack.MHA_OK, error
    refused("_backward", [dy] + grads, dx, o_saved, _dlpack.MHA_ERR_INVALID_ARGUMENT,
            "holds no activations of this layer")
    # The forward itself and attention functions take none.
    status, error = layer.call("", inputs + [y], layer.buffer(need))
    assert status == _dlpack.MHA_ERR_INVALID_ARGUMENT and np.all(y == 5)
    assert "only the _forward_train and _backward functions" in error
    att = mha.compile("""
func.func @att(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x8xf32>)
    -> tensor<?x2x?x8xf32> {
  %o = mha.attention %q, %k, %v {causal} : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
      tensor<?x2x?x8xf32> -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}""")
    a = SavedLayer.__new__(SavedLayer)
    a.lib, a.name = att, "att"
    a.so = ctypes.CDLL(att.path)
    a.so.mha_last_error.restype = ctypes.c_char_p
    q = RNG.standard_normal((1, 2, 5, 8)).astype(np.float32)
    status, error = a.call("", [q, q, q, np.zeros_like(q)], layer.buffer(64))
    assert status == _dlpack.MHA_ERR_INVALID_ARGUMENT
    assert "only the _forward_train and _backward functions" in error


# ----------------------------------------------------------------------------
# PyTorch: mha.torch.Layer(..., save_activations=True)
# ----------------------------------------------------------------------------

def torch_layers(lib, case, B, L):
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES[case]
    _, names = tlb.case_spec(case)
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    weights = {n: arrays[n] for n in names[1:]}
    import mha.torch
    plain = mha.torch.Layer(lib, case, **weights)
    saving = mha.torch.Layer(lib, case, save_activations=True, **weights)
    return plain, saving, arrays["x"]


def test_torch_layer_with_saved_activations_trains_as_without(cases_lib):
    """The module's y and every gradient, with and without saved
    activations, bit for bit; and under torch.compile."""
    plain, saving, x = torch_layers(cases_lib, "gqa_rope", 2, 13)
    xs = [torch.tensor(x, requires_grad=True) for _ in range(3)]
    compiled = torch.compile(saving, backend="aot_eager")
    ys = [plain(xs[0]), saving(xs[1]), compiled(xs[2])]
    dy = torch.randn_like(ys[0])
    for y in ys:
        y.backward(dy)
    for y, xi in zip(ys[1:], xs[1:]):
        assert torch.equal(y, ys[0]) and torch.equal(xi.grad, xs[0].grad)
    # The saving module's parameters got the gradients of two calls.
    for p, q in zip(plain.parameters(), saving.parameters()):
        assert torch.equal(q.grad, 2 * p.grad)
    # Without gradients the module runs the plain forward.
    with torch.no_grad():
        assert torch.equal(saving(xs[0]), ys[0])


def test_forward_train_op_under_opcheck(cases_lib):
    import mha.torch
    ops = mha.torch.register(cases_lib)
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES["mha"]
    _, names = tlb.case_spec("mha")
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, 2, 7)
    args = tuple(torch.tensor(arrays[n], requires_grad=True) for n in names)
    torch.library.opcheck(ops.mha_forward_train, args)


def test_save_activations_needs_a_backward():
    import mha.torch
    lib = mha.compile(tlb.case_spec("mqa")[0].replace(" attributes {mha.backward}", ""))
    with pytest.raises(ValueError, match="save_activations needs a layer marked"):
        mha.torch.Layer(lib, "mqa", save_activations=True)


# ----------------------------------------------------------------------------
# JAX: mha.jax.register(lib, save_activations=True)
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["gqa_rope", "grouped", "odd_noncausal"])
def test_jax_layer_gradients_with_and_without_saved_activations(cases_lib, case):
    """jax.grad of a layer under jit: the saving functions' gradients are
    the recomputing ones' bit for bit, and both float64 autograd's; the
    saving gradient runs <name>_forward_train (mha_call's saved=1) and the
    backward reads its buffer (saved=2)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import mha.jax
    B, L = 2, 13
    d_model, hq, hkv, d, sharing, groups, qb, ob, attrs, theta = tlb.CASES[case]
    _, names = tlb.case_spec(case)
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    w = RNG.standard_normal((B, L, d_model)).astype(np.float32)
    args = [arrays[n] for n in names]
    grads = []
    for save in (False, True):
        fn = getattr(mha.jax.register(cases_lib, save_activations=save), case)
        loss = lambda *a, fn=fn: jnp.sum(fn(*a) * w)  # noqa: E731
        grad = jax.grad(loss, argnums=tuple(range(len(args))))
        modes = [int(dict(e.params["attributes"])["saved"])
                 for e in jax.make_jaxpr(grad)(*args).jaxpr.eqns
                 if e.primitive.name == "ffi_call"]
        assert modes == ([1, 2] if save else [0, 0])
        grads.append([np.asarray(g) for g in jax.jit(grad)(*args)])
    for plain, saved in zip(*grads):
        assert np.array_equal(plain, saved)
    t = tlb.leaves(names, arrays)
    tlb.layer(t, hq, hkv, d, sharing, theta, causal="causal" in attrs,
              softcap=5.0 if "softcap" in attrs else None).backward(
        torch.tensor(w, dtype=torch.float64))
    tlb.compare(names, grads[1], t)


def test_jax_layer_head_mask_with_saved_activations(cases_lib):
    """A layer's head_mask under jax.grad with saved activations: the
    library's backward with the same mask, bit for bit."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import mha.jax
    d_model, hq, hkv, d, sharing, groups, *_ = tlb.CASES["mha"]
    _, names = tlb.case_spec("mha")
    arrays = tlb.draw(names, d_model, hq, hkv, d, sharing, groups, 2, 11)
    args = [arrays[n] for n in names]
    w = RNG.standard_normal((2, 11, d_model)).astype(np.float32)
    mask = np.array([1, 1, 0, 1], np.uint8)
    fn = mha.jax.register(cases_lib, save_activations=True).mha
    grads = jax.jit(jax.grad(lambda m, *a: jnp.sum(fn(*a, head_mask=m) * w),
                             argnums=tuple(range(1, len(args) + 1))))(mask, *args)
    want = cases_lib.mha_backward(*args, w, head_mask=mask)
    for n, g, x in zip(names, grads, want):
        assert np.array_equal(np.asarray(g), np.asarray(x)), n


def test_the_python_jax_example_runs():
    """docs/python.md's mha.jax save_activations block, as written there, on
    docs/language.md 7.1's @gqa layer: the gradients of x, wq and wk are
    the library's backward's, bit for bit."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import os
    import mha.jax
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
    language = open(os.path.join(docs, "language.md")).read()
    start = language.index("func.func @gqa(%x: tensor<?x?x48xf32>")
    lib = mha.compile(language[start:language.index("\n}\n", start) + 3])
    python = open(os.path.join(docs, "python.md")).read()
    start = python.index("fns = mha.jax.register(lib, save_activations=True)")
    block = python[start:python.index("```", start)]
    B, L = 2, 9
    shapes = {"x": (B, L, 48), "wq": (48, 64), "wk": (48, 32), "wv": (48, 32),
              "wo": (64, 48), "bq": (64,), "bk": (32,), "bv": (32,), "bo": (48,)}
    args = {n: (RNG.standard_normal(s) / (1 if n == "x" else np.sqrt(s[0]))).astype(np.float32)
            for n, s in shapes.items()}
    t = RNG.standard_normal((B, L, 48)).astype(np.float32)
    scope = dict(args, lib=lib, mha=mha, jax=jax, jnp=jnp, t=t)
    exec(block, scope)
    want = lib.gqa_backward(*args.values(), t)
    for g, w in zip(scope["grads"], want[:3]):
        assert np.array_equal(np.asarray(g), np.asarray(w))


def test_jax_layer_with_dropout_saves_its_mask_words(cases_lib):
    """A dropout layer's saving gradient uses the key's mask in the forward
    and the backward: the recomputing gradients, bit for bit."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import mha.jax
    lib, names, arrays = tlb.run_case("drop", "causal, dropout = array<f32: 0.5, 0.25, 0.0, 0.75>", B=2, L=9)
    args = [arrays[n] for n in names]
    key = jax.random.key(5)
    grads = []
    for save in (False, True):
        fn = mha.jax.register(lib, save_activations=save).drop
        grad = jax.jit(jax.grad(lambda *a, fn=fn: jnp.sum(fn(*a, dropout_key=key) ** 2),
                                argnums=tuple(range(len(args)))))
        grads.append([np.asarray(g) for g in grad(*args)])
    for plain, saved in zip(*grads):
        assert np.array_equal(plain, saved)
