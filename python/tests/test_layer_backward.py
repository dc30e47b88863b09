"""The backward of a layer (docs/language.md 7.3): `<name>_backward(x,
weights..., biases..., dy)` returns dx and the gradient of every weight and
bias, recomputing the forward inside. Checked against float64 autograd of
the same layer written in PyTorch, for every sharing scheme with
projections (independent, GQA, MQA, shared_head_bias, grouped), biases,
RoPE, attention attributes, pruned heads, odd sizes and bf16.

    pytest python/tests/test_layer_backward.py
"""
import numpy as np
import pytest

import mha

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(41)


def rope(x, theta):
    """GPT-NeoX pairs (t, t + D/2) of x [B, H, L, D] at positions 0..L-1."""
    n, length = x.shape[-1], x.shape[-2]
    freq = theta ** (-2.0 * torch.arange(n // 2, dtype=torch.float64) / n)
    ang = torch.arange(length, dtype=torch.float64)[:, None] * freq[None, :]
    c, s = torch.cos(ang), torch.sin(ang)
    x1, x2 = x[..., : n // 2], x[..., n // 2:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def project(x, w, b, heads, d, sharing):
    """[B, heads, L, d] of x W (+ b): heads read their group's columns."""
    B, L, _ = x.shape
    y = x @ w  # [B, L, groups * d]
    groups = w.shape[1] // d
    y = y.reshape(B, L, groups, d).repeat_interleave(heads // groups, dim=2)
    if b is not None:
        y = y + b.reshape(heads, d)
    return y.permute(0, 2, 1, 3)


def layer(t, hq, hkv, d, sharing="independent", theta=None, causal=True,
          window=None, softcap=None, head_mask=None):
    """The float64 layer of the spec `spec(...)` on the tensors `t`."""
    x = t["x"]
    B, L, _ = x.shape
    q = project(x, t["wq"], t.get("bq"), hq, d, sharing)
    k = project(x, t["wk"], t.get("bk"), hkv, d, sharing)
    v = project(x, t["wv"], t.get("bv"), hkv, d, sharing)
    if theta:
        q, k = rope(q, theta), rope(k, theta)
    k = k.repeat_interleave(hq // hkv, dim=1)
    v = v.repeat_interleave(hq // hkv, dim=1)
    s = q @ k.transpose(-1, -2) / np.sqrt(d)
    if softcap:
        s = softcap * torch.tanh(s / softcap)
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    visible = torch.ones(L, L, dtype=torch.bool)
    if causal:
        visible &= j <= i
    if window is not None:
        visible &= j >= i - window
    s = s.masked_fill(~visible, float("-inf"))
    o = torch.softmax(s, -1) @ v
    if head_mask is not None:
        o = o * torch.tensor(head_mask, dtype=torch.float64)[None, :, None, None]
    o = o.permute(0, 2, 1, 3).reshape(B, L, hq * d)
    y = o @ t["wo"]
    if "bo" in t:
        y = y + t["bo"]
    return y


def spec(name, d_model, hq, hkv, d, dtype="f32", sharing="independent",
         groups=None, qkv_bias=False, out_bias=False, attrs="causal",
         lengths=None):
    """A layer function with mha.backward; `groups` (Gq, Gkv) for grouped;
    `lengths` "cu_seqlens_q" (x [1, T, d]) or "q_lens" for sequences of
    different lengths, the last argument."""
    ty = lambda *s: "tensor<" + "x".join(map(str, s)) + f"x{dtype}>"
    if sharing == "independent":
        gq, gkv = hq, hkv
    elif sharing == "shared_head_bias":
        gq, gkv = 1, 1
    else:
        gq, gkv = groups
    args = [("x", ty(1 if lengths == "cu_seqlens_q" else "?", "?", d_model)),
            ("wq", ty(d_model, gq * d)),
            ("wk", ty(d_model, gkv * d)), ("wv", ty(d_model, gkv * d)),
            ("wo", ty(hq * d, d_model))]
    flat = sharing == "independent"
    if qkv_bias:
        args += [("bq", ty(hq * d) if flat else ty(hq, d)),
                 ("bk", ty(hkv * d) if flat else ty(hkv, d)),
                 ("bv", ty(hkv * d) if flat else ty(hkv, d))]
    if out_bias:
        args += [("bo", ty(d_model))]
    flags = (", has_qkv_bias" if qkv_bias else "") + (", has_out_bias" if out_bias else "")
    share = "" if sharing == "independent" else f", sharing = #mha.sharing<{sharing}>"
    operands = ", ".join("%" + n for n, _ in args)
    types = ", ".join(t for _, t in args[1:])
    params = ", ".join(f"%{n}: {t}" for n, t in args)
    if lengths:
        params += ", %lens: tensor<?xi32>"
        operands += f" {lengths}(%lens : tensor<?xi32>)"
    return f"""
func.func @{name}({params}) -> {args[0][1]}
    attributes {{mha.backward}} {{
  %y = mha.multi_head {operands} {{num_heads = {hq}, num_kv_heads = {hkv}{share}{flags},
      {attrs}}} : {args[0][1]}, {types} -> {args[0][1]}
  return %y : {args[0][1]}
}}
""", [n for n, _ in args]


def draw(names, d_model, hq, hkv, d, sharing, groups, B, L):
    gq, gkv = {"independent": (hq, hkv), "shared_head_bias": (1, 1)}.get(
        sharing, groups)
    flat = sharing == "independent"
    shapes = {"x": (B, L, d_model), "wq": (d_model, gq * d),
              "wk": (d_model, gkv * d), "wv": (d_model, gkv * d),
              "wo": (hq * d, d_model),
              "bq": (hq * d,) if flat else (hq, d),
              "bk": (hkv * d,) if flat else (hkv, d),
              "bv": (hkv * d,) if flat else (hkv, d), "bo": (d_model,)}
    out = {}
    for n in names:
        scale = 1.0 if n == "x" else 1.0 / np.sqrt(shapes[n][0])
        out[n] = (RNG.standard_normal(shapes[n]) * scale).astype(np.float32)
    return out


def compare(names, grads, t, tol=1e-4):
    """Each gradient against float64 autograd's (t[n].grad), relative to
    its largest element. dbk is zero in exact arithmetic (softmax cancels
    a shift of every score of a row): gradients far below the others are
    measured against a thousandth of the largest."""
    assert len(grads) == len(names)
    floor = 1e-3 * max(np.abs(t[n].grad.numpy()).max() for n in names)
    for n, g in zip(names, grads):
        ref = t[n].grad.numpy()
        got = np.asarray(g, np.float64)
        assert got.shape == ref.shape, n
        err = np.abs(got - ref).max() / max(np.abs(ref).max(), floor)
        assert err < tol, f"d{n}: relative error {err:.2e}"


def leaves(names, arrays):
    return {n: torch.tensor(np.asarray(arrays[n], np.float64), requires_grad=True)
            for n in names}


def check(lib, name, names, arrays, reference, B, L, d_model):
    dy = RNG.standard_normal((B, L, d_model)).astype(np.float32)
    grads = getattr(lib, name + "_backward")(*[arrays[n] for n in names], dy)
    t = leaves(names, arrays)
    reference(t).backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)


CASES = {
    # name: (d_model, hq, hkv, d, sharing, groups, qkv_bias, out_bias, attrs, theta)
    "mha": (48, 4, 4, 16, "independent", None, True, True, "causal", None),
    "gqa_rope": (64, 4, 2, 16, "independent", None, False, True,
                 "causal, rope_theta = 10000.0 : f32", 10000.0),
    "mqa": (40, 4, 1, 8, "independent", None, True, False, "causal", None),
    "shared": (32, 4, 2, 8, "shared_head_bias", None, True, True, "causal", None),
    "grouped": (32, 4, 2, 8, "grouped", (2, 1), True, False,
                "causal, rope_theta = 500.0 : f32", 500.0),
    "odd_noncausal": (36, 3, 3, 12, "independent", None, False, False,
                      "softcap = 5.0 : f32", None),
    "wide": (64, 4, 4, 32, "independent", None, True, True,
             "causal, rope_theta = 10000.0 : f32", 10000.0),
}


def case_spec(case):
    d_model, hq, hkv, d, sharing, groups, qb, ob, attrs, _ = CASES[case]
    return spec(case, d_model, hq, hkv, d, sharing=sharing, groups=groups,
                qkv_bias=qb, out_bias=ob, attrs=attrs)


@pytest.fixture(scope="module")
def cases_lib():
    """Every case's function in one library (one compilation)."""
    return mha.compile("".join(case_spec(c)[0] for c in sorted(CASES)))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("B,L", [(2, 13), (1, 70)])
def test_layer_gradients_match_float64_autograd(cases_lib, case, B, L):
    d_model, hq, hkv, d, sharing, groups, qb, ob, attrs, theta = CASES[case]
    _, names = case_spec(case)
    lib = cases_lib
    arrays = draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    causal = "causal" in attrs
    softcap = 5.0 if "softcap" in attrs else None
    check(lib, case, names, arrays,
          lambda t: layer(t, hq, hkv, d, sharing, theta, causal=causal,
                          softcap=softcap),
          B, L, d_model)


def run_case(name, attrs, B=2, L=11, d_model=32, hq=4, hkv=2, d=8, qb=True, ob=True,
             **reference):
    text, names = spec(name, d_model, hq, hkv, d, qkv_bias=qb, out_bias=ob,
                       attrs=attrs)
    lib = mha.compile(text)
    arrays = draw(names, d_model, hq, hkv, d, "independent", None, B, L)
    return lib, names, arrays


def test_windows_and_pruned_heads():
    """Per-head windows, a head pruned by the spec's head_mask: the pruned
    head's Wq columns and Wo rows get zero gradients."""
    lib, names, arrays = run_case(
        "win", "causal, window_left = array<i64: 3, -1, 0, 5>, "
               "head_mask = array<i1: true, false, true, true>")
    B, L, d_model = arrays["x"].shape
    windows = [3, None, 0, 5]

    def reference(t):
        ys = []
        for h, w in enumerate(windows):
            mask = [float(i == h) for i in range(4)] if h != 1 else [0.0] * 4
            ys.append(layer(t, 4, 2, 8, window=w, head_mask=mask))
        y = sum(ys)
        return y - (len(windows) - 1) * (t["bo"] if "bo" in t else 0)

    check(lib, "win", names, arrays, reference, B, L, d_model)
    grads = lib.win_backward(*[arrays[n] for n in names],
                             RNG.standard_normal((B, L, d_model)).astype(np.float32))
    dwq, dwo = grads[names.index("wq")], grads[names.index("wo")]
    assert not np.any(dwq[:, 8:16]) and not np.any(dwo[8:16])


def test_runtime_head_mask_and_thread_counts():
    """The call's head_mask prunes heads as the spec's does; the gradients
    are the same bytes for 1 thread and for all."""
    lib, names, arrays = run_case("rt", "causal")
    B, L, d_model = arrays["x"].shape
    mask = np.array([1, 1, 0, 1], np.uint8)
    dy = RNG.standard_normal((B, L, d_model)).astype(np.float32)
    args = [arrays[n] for n in names] + [dy]
    grads = lib.rt_backward(*args, head_mask=mask)
    t = leaves(names, arrays)
    layer(t, 4, 2, 8, head_mask=[1.0, 1.0, 0.0, 1.0]).backward(
        torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)
    one = lib.rt_backward(*args, head_mask=mask, num_threads=1)
    for a, b in zip(grads, one):
        assert np.array_equal(a, b)


def test_dropout_gradients_use_the_forward_mask():
    """Dropout in the layer (SPEC.md: the keep mask of (seed, offset, b, h,
    i, j)): Z read off an attention function with the same rates and v = I,
    then float64 autograd of softmax(s) * Z."""
    B, L, rates = 2, 9, "array<f32: 0.5, 0.25, 0.0, 0.75>"
    lib, names, arrays = run_case("drop", f"causal, dropout = {rates}", B=B, L=L)
    probe = mha.compile(f"""
func.func @keep(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                %v: tensor<?x4x?x{L}xf32>) -> tensor<?x4x?x{L}xf32> {{
  %o = mha.attention %q, %k, %v {{dropout = {rates}}}
      : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x{L}xf32>
      -> tensor<?x4x?x{L}xf32>
  return %o : tensor<?x4x?x{L}xf32>
}}""")
    seed, offset = 1234567, 3
    zeros = np.zeros((B, 4, L, 8), np.float32)
    eye = np.broadcast_to(np.eye(L, dtype=np.float32), (B, 4, L, L)).copy()
    kept = probe.keep(zeros, zeros, eye, dropout_seed=seed, dropout_offset=offset)
    rate = np.array([0.5, 0.25, 0.0, 0.75])[None, :, None, None]
    z = torch.tensor((kept != 0) / (1 - rate))
    dy = RNG.standard_normal((B, L, 32)).astype(np.float32)
    grads = lib.drop_backward(*[arrays[n] for n in names], dy,
                              dropout_seed=seed, dropout_offset=offset)
    t = leaves(names, arrays)
    x = t["x"]
    q = project(x, t["wq"], t["bq"], 4, 8, "independent")
    k = project(x, t["wk"], t["bk"], 2, 8, "independent").repeat_interleave(2, 1)
    v = project(x, t["wv"], t["bv"], 2, 8, "independent").repeat_interleave(2, 1)
    s = (q @ k.transpose(-1, -2) / np.sqrt(8)).masked_fill(
        ~torch.ones(L, L, dtype=torch.bool).tril(), float("-inf"))
    o = (torch.softmax(s, -1) * z) @ v
    y = o.permute(0, 2, 1, 3).reshape(B, L, 32) @ t["wo"] + t["bo"]
    y.backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)


def test_bf16_layer():
    """bf16 x, weights and gradients (f32 sums): within 2e-2 of float64."""
    text, names = spec("bf", 48, 4, 2, 16, dtype="bf16", qkv_bias=True,
                       out_bias=True, attrs="causal, rope_theta = 10000.0 : f32")
    lib = mha.compile(text)
    arrays = draw(names, 48, 4, 2, 16, "independent", None, 2, 19)
    bf = {n: torch.tensor(a).to(torch.bfloat16) for n, a in arrays.items()}
    dy = torch.randn(2, 19, 48).to(torch.bfloat16)
    grads = lib.bf_backward(*[bf[n] for n in names], dy)
    t = {n: bf[n].double().requires_grad_() for n in names}
    layer(t, 4, 2, 16, theta=10000.0).backward(dy.double())
    for n, g in zip(names, grads):
        assert g.dtype == torch.bfloat16
        ref = t[n].grad
        err = (g.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-3)
        assert err < 2e-2, (n, float(err))


def test_strided_rows_and_bad_arguments():
    """x and dy with rows not evenly spaced across the batch (no flat
    rows); a dy of the wrong width is refused, naming it."""
    lib, names, arrays = run_case("st", "causal")
    B, L, d_model = arrays["x"].shape
    big = RNG.standard_normal((B, L + 3, d_model)).astype(np.float32)
    arrays["x"] = big[:, 2:L + 2]
    check(lib, "st", names, arrays, lambda t: layer(t, 4, 2, 8), B, L, d_model)
    with pytest.raises(mha.Error, match="dy"):
        lib.st_backward(*[arrays[n] for n in names],
                        np.zeros((B, L, d_model + 1), np.float32))


class TorchLayer(torch.nn.Module):
    """PyTorch's own layer of the same math: F.linear and
    scaled_dot_product_attention (GQA by repeating K and V)."""

    def __init__(self, state, hq, hkv, d):
        super().__init__()
        self.w = torch.nn.ParameterDict(
            {n: torch.nn.Parameter(torch.tensor(a)) for n, a in state.items()})
        self.hq, self.hkv, self.d = hq, hkv, d

    def forward(self, x):
        w, (B, L, _) = self.w, x.shape

        def heads(y, h):
            return y.reshape(B, L, h, self.d).transpose(1, 2)

        q = heads(x @ w["wq"] + w["bq"], self.hq)
        k = heads(x @ w["wk"] + w["bk"], self.hkv).repeat_interleave(self.hq // self.hkv, 1)
        v = heads(x @ w["wv"] + w["bv"], self.hkv).repeat_interleave(self.hq // self.hkv, 1)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return o.transpose(1, 2).reshape(B, L, -1) @ w["wo"] + w["bo"]


def test_torch_layer_trains_as_pytorch_does():
    """mha.torch.Layer of a function with mha.backward: its parameters
    require grad, autograd calls the backward, and five SGD steps from the
    same initialisation give PyTorch's losses."""
    import mha.torch as mt
    text, names = spec("train", 32, 4, 2, 8, qkv_bias=True, out_bias=True)
    lib = mha.compile(text)
    state = draw(names[1:], 32, 4, 2, 8, "independent", None, 1, 1)
    ours = mt.Layer(lib, "train", **state)
    theirs = TorchLayer(state, 4, 2, 8)
    assert all(p.requires_grad for p in ours.parameters())
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 10, 32, generator=g)
    target = torch.randn(3, 10, 32, generator=g)
    losses = []
    for model in (ours, theirs):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        run = []
        for _ in range(5):
            opt.zero_grad()
            loss = ((model(x) - target) ** 2).mean()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]


@pytest.mark.parametrize("save", [False, True])
def test_torch_layer_with_a_runtime_head_mask(cases_lib, save):
    """Layer.forward(x, head_mask=m): y and every gradient those of the
    library's calls with the same mask (the pruned head's projections get
    no gradient), with and without saved activations."""
    d_model, hq, hkv, d, sharing, groups, *_ = CASES["mha"]
    _, names = case_spec("mha")
    arrays = draw(names, d_model, hq, hkv, d, sharing, groups, 2, 9)
    layer = mha.torch.Layer(cases_lib, "mha", save_activations=save,
                            **{n: arrays[n] for n in names[1:]})
    mask = np.array([1, 0, 1, 1], np.uint8)
    x = torch.tensor(arrays["x"], requires_grad=True)
    y = layer(x, head_mask=torch.tensor(mask))
    dy = torch.randn_like(y)
    y.backward(dy)
    inputs = [arrays[n] for n in names]
    assert np.array_equal(y.detach().numpy(), cases_lib.mha(*inputs, head_mask=mask))
    want = cases_lib.mha_backward(*inputs, dy.numpy(), head_mask=mask)
    got = [x.grad] + [getattr(layer, n).grad for n in names[1:]]
    for n, g, w in zip(names, got, want):
        assert np.array_equal(g.numpy(), w), n
    assert not layer.wq.grad[:, d:2 * d].any() and layer.wq.grad[:, :d].any()


def test_layer_backward_op_under_opcheck():
    """The layer's custom op with autograd passes torch.library.opcheck
    (fake kernel, autograd registration, schema)."""
    import mha.torch as mt
    text, names = spec("oc", 24, 2, 2, 8, qkv_bias=False, out_bias=True)
    ops = mt.register(mha.compile(text))
    g = torch.Generator().manual_seed(2)
    args = [torch.randn(2, 5, 24, generator=g, requires_grad=True)] + [
        (torch.randn(*s, generator=g) * 0.2).requires_grad_()
        for s in [(24, 16), (24, 16), (24, 16), (16, 24), (24,)]]
    torch.library.opcheck(ops.oc, tuple(args))


def test_jax_grad_of_layer():
    """mha.jax: a layer with mha.backward is a custom_vjp whose gradients,
    under jax.jit(jax.grad), are float64 autograd's."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import mha.jax as mj
    text, names = spec("jl", 32, 4, 2, 8, qkv_bias=True, out_bias=True)
    fns = mj.register(mha.compile(text))
    arrays = draw(names, 32, 4, 2, 8, "independent", None, 2, 9)
    dy = RNG.standard_normal((2, 9, 32)).astype(np.float32)

    def loss(*a):
        return jnp.sum(fns.jl(*a) * dy)
    args = [jnp.asarray(arrays[n]) for n in names]
    grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(args)))))(*args)
    t = leaves(names, arrays)
    layer(t, 4, 2, 8).backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, [np.asarray(g) for g in grads], t)


# ----------------------------------------------------------------------------
# Sequences of different lengths (docs/language.md 5.9): packed rows with
# cu_seqlens_q, padded ones with q_lens.
# ----------------------------------------------------------------------------

# (case, kind): packed with RoPE, grouped projections and whole-head
# attention items; padded with RoPE and with a softcap.
SEQUENCE_CASES = [("gqa_rope", "cu_seqlens_q"), ("grouped", "cu_seqlens_q"),
                  ("wide", "cu_seqlens_q"), ("gqa_rope", "q_lens"),
                  ("odd_noncausal", "q_lens")]


def sequences_spec(case, lengths):
    d_model, hq, hkv, d, sharing, groups, qb, ob, attrs, _ = CASES[case]
    return spec(f"{case}_{lengths}", d_model, hq, hkv, d, sharing=sharing,
                groups=groups, qkv_bias=qb, out_bias=ob, attrs=attrs,
                lengths=lengths)


@pytest.fixture(scope="module")
def sequences_lib():
    return mha.compile("".join(sequences_spec(c, kind)[0] for c, kind in SEQUENCE_CASES))


@pytest.mark.parametrize("case,kind", SEQUENCE_CASES)
def test_sequences_of_different_lengths(sequences_lib, case, kind):
    """Each sequence's rows are its own layer (RoPE from its first row);
    rows of no sequence (past the last offset, or padding past q_lens)
    give y = bo, so only dbo sees their dy. Against float64 autograd of
    the layer on each sequence alone."""
    d_model, hq, hkv, d, sharing, groups, qb, ob, attrs, theta = CASES[case]
    _, names = sequences_spec(case, kind)
    lens = [5, 0, 70, 1, 33]
    if kind == "cu_seqlens_q":
        cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        B, L = 1, int(cu[-1]) + 3
        pieces = [(0, slice(cu[s], cu[s + 1])) for s in range(len(lens))]
        lengths = cu
    else:
        B, L = len(lens), max(lens) + 2
        pieces = [(s, slice(0, n)) for s, n in enumerate(lens)]
        lengths = np.array(lens, np.int32)
    arrays = draw(names, d_model, hq, hkv, d, sharing, groups, B, L)
    dy = RNG.standard_normal((B, L, d_model)).astype(np.float32)
    grads = getattr(sequences_lib, f"{case}_{kind}_backward")(
        *[arrays[n] for n in names], lengths, dy)
    t = leaves(names, arrays)
    causal = "causal" in attrs
    softcap = 5.0 if "softcap" in attrs else None
    dy64 = torch.tensor(dy, dtype=torch.float64)
    loss = 0
    covered = np.zeros((B, L), bool)
    for b, rows in pieces:
        covered[b, rows] = True
        if rows.stop == rows.start:
            continue
        seq = dict(t, x=t["x"][b:b + 1, rows])
        y = layer(seq, hq, hkv, d, sharing, theta, causal=causal, softcap=softcap)
        loss = loss + (y * dy64[b:b + 1, rows]).sum()
    if "bo" in t:  # rows of no sequence: y = bo
        loss = loss + (t["bo"] * dy64[torch.from_numpy(~covered)].sum(0)).sum()
    loss.backward()
    compare(names, grads, t)
    assert not np.any(grads[0][~covered])  # dx of rows of no sequence


def test_torch_layer_trains_over_packed_sequences(sequences_lib):
    """mha.torch.Layer of a packed layer with mha.backward: layer(x, cu)
    is differentiable, with the backward's gradients."""
    import mha.torch as mt
    d_model, hq, hkv, d, sharing, groups, _, _, _, _ = CASES["gqa_rope"]
    _, names = sequences_spec("gqa_rope", "cu_seqlens_q")
    arrays = draw(names, d_model, hq, hkv, d, sharing, groups, 1, 20)
    cu = np.array([0, 7, 16], np.int32)
    model = mt.Layer(sequences_lib, "gqa_rope_cu_seqlens_q",
                     **{n: arrays[n] for n in names[1:]})
    x = torch.from_numpy(arrays["x"]).requires_grad_()
    y = model(x, torch.from_numpy(cu))
    dy = torch.randn_like(y)
    y.backward(dy)
    want = sequences_lib.gqa_rope_cu_seqlens_q_backward(
        *[arrays[n] for n in names], cu, dy.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), want[0])
    np.testing.assert_array_equal(model.wq.grad.numpy(), want[1])


# ----------------------------------------------------------------------------
# Low-rank weights (mha.low_rank, docs/language.md 5.4): W = down . up, each
# factor an argument with its own gradient.
# ----------------------------------------------------------------------------

LOW_RANK_SPEC = """
func.func @lr(%x: tensor<?x?x32xf32>, %qa: tensor<32x6xf32>, %qb: tensor<6x32xf32>,
              %wk: tensor<32x16xf32>, %va: tensor<32x5xf32>, %vb: tensor<5x16xf32>,
              %oa: tensor<32x7xf32>, %ob: tensor<7x32xf32>, %bq: tensor<32xf32>,
              %bk: tensor<16xf32>, %bv: tensor<16xf32>, %bo: tensor<32xf32>)
    -> tensor<?x?x32xf32> attributes {mha.backward} {
  %wq = mha.low_rank %qa, %qb : tensor<32x6xf32>, tensor<6x32xf32> -> tensor<32x32xf32>
  %wv = mha.low_rank %va, %vb : tensor<32x5xf32>, tensor<5x16xf32> -> tensor<32x16xf32>
  %wo = mha.low_rank %oa, %ob : tensor<32x7xf32>, tensor<7x32xf32> -> tensor<32x32xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
      {num_heads = 4, num_kv_heads = 2, has_qkv_bias, has_out_bias, causal,
       rope_theta = 10000.0 : f32}
      : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<32x32xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16xf32>,
        tensor<32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
"""


@pytest.mark.parametrize("B,L", [(2, 13), (1, 70)])
def test_low_rank_factors_get_their_gradients(B, L):
    """Wq, Wv and Wo low-rank (Wk full): the backward returns dx and the
    gradient of each factor, against float64 autograd through the
    products down . up."""
    lib = mha.compile(LOW_RANK_SPEC)
    shapes = {"x": (B, L, 32), "qa": (32, 6), "qb": (6, 32), "wk": (32, 16),
              "va": (32, 5), "vb": (5, 16), "oa": (32, 7), "ob": (7, 32),
              "bq": (32,), "bk": (16,), "bv": (16,), "bo": (32,)}
    names = list(shapes)
    arrays = {n: (RNG.standard_normal(s) / np.sqrt(s[0] if n != "x" else 1))
              .astype(np.float32) for n, s in shapes.items()}
    dy = RNG.standard_normal((B, L, 32)).astype(np.float32)
    grads = lib.lr_backward(*[arrays[n] for n in names], dy)
    t = leaves(names, arrays)
    full = dict(x=t["x"], wq=t["qa"] @ t["qb"], wk=t["wk"], wv=t["va"] @ t["vb"],
                wo=t["oa"] @ t["ob"], bq=t["bq"], bk=t["bk"], bv=t["bv"], bo=t["bo"])
    layer(full, 4, 2, 8, theta=10000.0).backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)


# Low-rank weights whose products are shared by heads: (sharing, groups
# (Gq, Gkv), {weight: rank}); 4 query heads, 2 KV heads, D = 8, per-head
# biases, RoPE.
SHARED_LOW_RANK = {
    "shared_head_bias": (None, {"wq": 5, "wv": 3}),
    "grouped": ((2, 1), {"wq": 6, "wk": 4}),
}


def shared_low_rank_spec(sharing):
    groups, ranks = SHARED_LOW_RANK[sharing]
    gq, gkv = groups or (1, 1)
    ty = lambda *s: "tensor<" + "x".join(map(str, s)) + "xf32>"
    cols = {"wq": gq * 8, "wk": gkv * 8, "wv": gkv * 8}
    shapes, factors, weights = {"x": None}, "", []
    for w, n in cols.items():
        if w in ranks:
            r = ranks[w]
            shapes.update({w + "_down": (32, r), w + "_up": (r, n)})
            factors += (f"  %{w} = mha.low_rank %{w}_down, %{w}_up : {ty(32, r)}, "
                        f"{ty(r, n)} -> {ty(32, n)}\n")
        else:
            shapes[w] = (32, n)
        weights.append(ty(32, n))
    shapes.update(wo=(32, 32), bq=(4, 8), bk=(2, 8), bv=(2, 8))
    params = ", ".join(["%x: tensor<?x?x32xf32>"] +
                       [f"%{n}: {ty(*s)}" for n, s in shapes.items() if s])
    return f"""
func.func @{sharing}_lr({params}) -> tensor<?x?x32xf32> attributes {{mha.backward}} {{
{factors}  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv
      {{num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<{sharing}>, has_qkv_bias,
       causal, rope_theta = 10000.0 : f32}}
      : tensor<?x?x32xf32>, {", ".join(weights)}, {ty(32, 32)}, {ty(4, 8)}, {ty(2, 8)},
        {ty(2, 8)} -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}}
""", shapes


@pytest.mark.parametrize("sharing", sorted(SHARED_LOW_RANK))
def test_low_rank_factors_of_shared_projections(sharing):
    """Low-rank products read by several heads (shared_head_bias: one
    product for every head, grouped: one per group): dT = dY B^T sums the
    gradients of the heads that read each group's columns, and dB sums
    them over those heads."""
    spec_text, shapes = shared_low_rank_spec(sharing)
    lib = mha.compile(spec_text)
    names = list(shapes)
    B, L = 2, 15
    arrays = {n: (RNG.standard_normal(s or (B, L, 32)) / np.sqrt(s[0] if s else 1))
              .astype(np.float32) for n, s in shapes.items()}
    dy = RNG.standard_normal((B, L, 32)).astype(np.float32)
    grads = getattr(lib, sharing + "_lr_backward")(*[arrays[n] for n in names], dy)
    t = leaves(names, arrays)
    full = {n: t[n] for n in names if not n.endswith(("_down", "_up"))}
    for w in SHARED_LOW_RANK[sharing][1]:
        full[w] = t[w + "_down"] @ t[w + "_up"]
    layer(full, 4, 2, 8, sharing, 10000.0).backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)


def test_torch_layer_trains_low_rank_factors():
    """mha.torch.Layer of the low-rank layer: each factor is a parameter
    (wq_down, wq_up, ...) whose gradient is the backward's."""
    import mha.torch as mt
    lib = mha.compile(LOW_RANK_SPEC)
    shapes = {"qa": (32, 6), "qb": (6, 32), "wk": (32, 16), "va": (32, 5), "vb": (5, 16),
              "oa": (32, 7), "ob": (7, 32), "bq": (32,), "bk": (16,), "bv": (16,), "bo": (32,)}
    names = ["wq_down", "wq_up", "wk", "wv_down", "wv_up", "wo_down", "wo_up",
             "bq", "bk", "bv", "bo"]
    arrays = [(RNG.standard_normal(s) / np.sqrt(s[0])).astype(np.float32)
              for s in shapes.values()]
    model = mt.Layer(lib, "lr", **dict(zip(names, arrays)))
    assert all(p.requires_grad for p in model.parameters())
    x = torch.from_numpy(RNG.standard_normal((2, 9, 32)).astype(np.float32))
    y = model(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    want = lib.lr_backward(x.numpy(), *arrays, dy.numpy())
    for name, w in zip(names, want[1:]):
        np.testing.assert_array_equal(getattr(model, name).grad.numpy(), w)


# ----------------------------------------------------------------------------
# Multi-head latent attention (#mha.sharing<latent>, docs/language.md 5.3):
# keys and values up-projected from one latent per token, a RoPE key all
# heads share, RMS norms on the latent and a low-rank Wq's product.
# ----------------------------------------------------------------------------

# d = 40, 3 heads, latent rank 12, key parts Dn = 6, RoPE key Dr = 4,
# values Dv = 5 (D = Dn + Dr = 10 != Dv).
MLA = dict(d=40, h=3, r=12, dn=6, dr=4, dv=5, q_rank=7, o_rank=9)


def rms(x, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def latent_layer(t, theta, eps, causal=True, softcap=None):
    """The float64 latent layer of docs/language.md 5.3 on the tensors `t`
    (wq or wq_down/wq_up, wk, wv, wo or wo_down/wo_up, bo)."""
    H, r, dn, dr, dv = (MLA[k] for k in ("h", "r", "dn", "dr", "dv"))
    x = t["x"]
    B, L, _ = x.shape
    if "wq_down" in t:
        down = x @ t["wq_down"]
        q = (rms(down, eps) if eps else down) @ t["wq_up"]
    else:
        q = x @ t["wq"]
    q = q.reshape(B, L, H, dn + dr).permute(0, 2, 1, 3)
    latent = x @ t["wk"]
    c, kr = latent[..., :r], latent[:, None, :, r:]
    if theta:
        q = torch.cat([q[..., :dn], rope(q[..., dn:], theta)], -1)
        kr = rope(kr, theta)
    kv = (rms(c, eps) if eps else c) @ t["wv"]
    kv = kv.reshape(B, L, H, dn + dv).permute(0, 2, 1, 3)
    k = torch.cat([kv[..., :dn], kr.expand(B, H, L, dr)], -1)
    s = q @ k.transpose(-1, -2) / np.sqrt(dn + dr)
    if softcap:
        s = softcap * torch.tanh(s / softcap)
    if causal:
        s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
    o = (torch.softmax(s, -1) @ kv[..., dn:]).permute(0, 2, 1, 3).reshape(B, L, H * dv)
    wo = t["wo_down"] @ t["wo_up"] if "wo_down" in t else t["wo"]
    return o @ wo + t["bo"]


def latent_spec(name, theta=True, eps=None, low_rank=False, attrs="causal",
                lengths=None):
    """A latent layer with mha.backward; `low_rank` factors Wq and Wo."""
    d, H, r, dn, dr, dv, qr, orank = MLA.values()
    ty = lambda *s: "tensor<" + "x".join(map(str, s)) + "xf32>"
    x = ty(1 if lengths == "cu_seqlens_q" else "?", "?", d)
    shapes = {"x": None, "wq": (d, H * (dn + dr)), "wk": (d, r + dr),
              "wv": (r, H * (dn + dv)), "wo": (H * dv, d), "bo": (d,)}
    if low_rank:
        del shapes["wq"], shapes["wo"]
        shapes = dict(x=None, wq_down=(d, qr), wq_up=(qr, H * (dn + dr)),
                      **{k: shapes[k] for k in ("wk", "wv")},
                      wo_down=(H * dv, orank), wo_up=(orank, d), bo=(d,))
    params = [f"%x: {x}"] + [f"%{n}: {ty(*s)}" for n, s in shapes.items() if s]
    factors = ""
    wq, wo = "%wq", "%wo"
    if low_rank:
        factors = (f"  %wq = mha.low_rank %wq_down, %wq_up : {ty(d, qr)}, "
                   f"{ty(qr, H * (dn + dr))} -> {ty(d, H * (dn + dr))}\n"
                   f"  %wo = mha.low_rank %wo_down, %wo_up : {ty(H * dv, orank)}, "
                   f"{ty(orank, d)} -> {ty(H * dv, d)}\n")
    clause = ""
    if lengths:
        params.append("%lens: tensor<?xi32>")
        clause = f" {lengths}(%lens : tensor<?xi32>)"
    extra = (", rope_theta = 10000.0 : f32" if theta else "") + (
        f", rms_norm_eps = {eps:.1e} : f32" if eps else "")
    types = ", ".join([x, ty(d, H * (dn + dr)), ty(d, r + dr), ty(r, H * (dn + dv)),
                       ty(H * dv, d), ty(d)])
    return f"""
func.func @{name}({", ".join(params)}) -> {x} attributes {{mha.backward}} {{
{factors}  %y = mha.multi_head %x, {wq}, %wk, %wv, {wo}, %bo{clause}
      {{num_heads = {H}, sharing = #mha.sharing<latent>, has_out_bias{extra}, {attrs}}}
      : {types} -> {x}
  return %y : {x}
}}
""", {n: s for n, s in shapes.items()}


# name: (RoPE, RMS eps, low-rank Wq and Wo, attributes)
LATENT_CASES = {
    "mla_rope": (True, None, False, "causal"),
    "mla_v3": (True, 1e-6, True, "causal"),
    "mla_norope": (False, 1e-5, False, "softcap = 5.0 : f32"),
}


@pytest.fixture(scope="module")
def latent_lib():
    return mha.compile("".join(latent_spec(n, *c[:3], attrs=c[3])[0]
                               for n, c in LATENT_CASES.items()))


def draw_latent(shapes, B, L):
    out = {}
    for n, s in shapes.items():
        s = (B, L, MLA["d"]) if n == "x" else s
        scale = 1.0 if n == "x" else 1.0 / np.sqrt(s[0])
        out[n] = (RNG.standard_normal(s) * scale).astype(np.float32)
    return out


@pytest.mark.parametrize("case", sorted(LATENT_CASES))
@pytest.mark.parametrize("B,L", [(2, 13), (1, 70)])
def test_latent_layer_gradients_match_float64_autograd(latent_lib, case, B, L):
    """dx and the gradient of every weight of an MLA layer: the key parts'
    gradients go back through the latent's up-projection, the shared RoPE
    key's (summed over the heads, rotated back) to the latent's last
    columns, both through the RMS norm to Wk and x; DeepSeek-V3's form
    adds the norm between Wq's factors and a low-rank Wo."""
    theta, eps, low_rank, attrs = LATENT_CASES[case]
    _, shapes = latent_spec(case, theta, eps, low_rank, attrs)
    names = list(shapes)
    arrays = draw_latent(shapes, B, L)
    dy = RNG.standard_normal((B, L, MLA["d"])).astype(np.float32)
    grads = getattr(latent_lib, case + "_backward")(*[arrays[n] for n in names], dy)
    t = leaves(names, arrays)
    y = latent_layer(t, 10000.0 if theta else None, eps, causal="causal" in attrs,
                     softcap=5.0 if "softcap" in attrs else None)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)


def test_the_language_reference_latent_example_runs():
    """docs/language.md 7.1's DeepSeek-V3-form latent layer, as written
    there: every factor's and weight's gradient against float64 autograd."""
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "language.md")
    text = open(path).read()
    start = text.index("func.func @mla_v3_train(")
    lib = mha.compile(text[start:text.index("\n}\n", start) + 3])
    _, shapes = latent_spec("mla_v3_train", True, 1e-6, True)
    names = list(shapes)
    arrays = draw_latent(shapes, 2, 11)
    dy = RNG.standard_normal((2, 11, MLA["d"])).astype(np.float32)
    grads = lib.mla_v3_train_backward(*[arrays[n] for n in names], dy)
    t = leaves(names, arrays)
    latent_layer(t, 10000.0, 1e-6).backward(torch.tensor(dy, dtype=torch.float64))
    compare(names, grads, t)


def test_latent_layer_over_packed_sequences():
    """A packed latent layer (cu_seqlens_q): each sequence's gradients are
    those of the layer on that sequence alone (RoPE from its first row);
    rows of no sequence reach only dbo."""
    spec_text, shapes = latent_spec("mla_packed", eps=1e-6, low_rank=True,
                                    lengths="cu_seqlens_q")
    lib = mha.compile(spec_text)
    names = list(shapes)
    lens = [9, 0, 41, 1]
    cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    L = int(cu[-1]) + 2
    arrays = draw_latent(shapes, 1, L)
    dy = RNG.standard_normal((1, L, MLA["d"])).astype(np.float32)
    grads = lib.mla_packed_backward(*[arrays[n] for n in names], cu, dy)
    t = leaves(names, arrays)
    dy64 = torch.tensor(dy, dtype=torch.float64)
    loss = (t["bo"] * dy64[0, cu[-1]:].sum(0)).sum()
    for s in range(len(lens)):
        rows = slice(cu[s], cu[s + 1])
        if lens[s]:
            y = latent_layer(dict(t, x=t["x"][:, rows]), 10000.0, 1e-6)
            loss = loss + (y * dy64[:, rows]).sum()
    loss.backward()
    compare(names, grads, t)
    assert not np.any(grads[0][0, cu[-1]:])


def test_torch_layer_trains_a_latent_layer(latent_lib):
    """mha.torch.Layer of the V3-form latent layer: every factor and
    weight is a parameter with the backward's gradient."""
    import mha.torch as mt
    _, shapes = latent_spec("mla_v3", True, 1e-6, True)
    arrays = draw_latent(shapes, 2, 9)
    names = list(shapes)[1:]
    model = mt.Layer(latent_lib, "mla_v3", **{n: arrays[n] for n in names})
    x = torch.from_numpy(arrays["x"]).requires_grad_()
    y = model(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    want = latent_lib.mla_v3_backward(*[arrays[n] for n in list(shapes)], dy.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), want[0])
    for name, w in zip(names, want[1:]):
        np.testing.assert_array_equal(getattr(model, name).grad.numpy(), w)
