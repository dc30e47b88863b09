"""mha.attention_kl, the fused attention-transfer loss of distillation
(docs/language.md 4.9), and its student gradient `<name>_backward`: against
the float64 reference (mha.reference.attention_kl and the analytic
attention_kl_grad, itself checked against torch autograd in float64), on
odd sizes, grouped heads, causal rows with and without keys, mixed element
types, pruned heads and bad calls.

    pytest python/tests/test_attention_kl.py
"""
import numpy as np
import pytest

import mha
from mha import reference


def kl_spec(name, hq, hkv_t, hkv_s, dt, ds, t_type="f32", s_type="f32",
            attrs="", backward=True):
    qt = f"tensor<?x{hq}x?x{dt}x{t_type}>"
    kt = f"tensor<?x{hkv_t}x?x{dt}x{t_type}>"
    qs = f"tensor<?x{hq}x?x{ds}x{s_type}>"
    ks = f"tensor<?x{hkv_s}x?x{ds}x{s_type}>"
    r = f"tensor<?x{hq}x?xf32>"
    marker = " attributes {mha.backward}" if backward else ""
    return f"""
func.func @{name}(%qt: {qt}, %kt: {kt}, %qs: {qs}, %ks: {ks}) -> ({r}, {r}, {r}){marker} {{
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {{{attrs}}}
      : {qt}, {kt}, {qs}, {ks} -> {r}, {r}, {r}
  return %kl, %lt, %ls : {r}, {r}, {r}
}}
"""


# name: (Hq, Hkv_t, Hkv_s, D_t, D_s, teacher type, student type, attributes)
CASES = {
    "plain": (4, 4, 4, 24, 16, "f32", "f32", ""),
    "causal": (4, 4, 4, 24, 16, "f32", "f32", "causal"),
    "grouped": (6, 2, 3, 16, 40, "f32", "f32", "causal"),
    "mqa_scaled": (4, 1, 1, 64, 32, "f32", "f32",
                   "teacher_scale = 0.05 : f32, student_scale = 0.1 : f32"),
    "wide": (2, 2, 1, 128, 96, "f32", "f32", "causal"),
    "bf16_student": (4, 2, 2, 32, 16, "f32", "bf16", "causal"),
    "f16": (2, 2, 2, 16, 16, "f16", "f16", ""),
}


@pytest.fixture(scope="module")
def lib():
    return mha.compile("".join(kl_spec(n, *c) for n, c in CASES.items()))


def attrs_of(case):
    text = CASES[case][7]
    out = {"causal": "causal" in text}
    for key in ("teacher_scale", "student_scale"):
        if key in text:
            out[key] = float(text.split(key + " = ")[1].split(" ")[0])
    return out


def inputs(case, b, lq, lk, seed=0, related=0.7):
    """Teacher and student heads whose distributions are related (a
    distilled student): the student's queries and keys are noisy
    projections of the teacher's."""
    hq, hkv_t, hkv_s, dt, ds, tt, st, _ = CASES[case]
    rng = np.random.default_rng(seed)
    qt = rng.standard_normal((b, hq, lq, dt)).astype(np.float32)
    kt = rng.standard_normal((b, hkv_t, lk, dt)).astype(np.float32)
    proj = rng.standard_normal((dt, ds)).astype(np.float32) / np.sqrt(dt)
    qs = related * qt @ proj + rng.standard_normal((b, hq, lq, ds)).astype(np.float32)
    k_src = kt[:, np.arange(hkv_s) % hkv_t]
    ks = related * k_src @ proj + rng.standard_normal((b, hkv_s, lk, ds)).astype(np.float32)
    return qt, kt, qs.astype(np.float32), ks.astype(np.float32)


def typed(x, name):
    return x.astype(np.float16) if name == "f16" else x


def rounded(x, name):
    """What the library sees of an f32 array stored as `name`."""
    if name == "bf16":
        return reference.bf16_bits_to_f32(reference.f32_to_bf16_bits(x))
    if name == "f16":
        return x.astype(np.float16).astype(np.float32)
    return x


def call(lib, case, qt, kt, qs, ks, **kw):
    tt, st = CASES[case][5], CASES[case][6]
    f = getattr(lib, case)
    if "bf16" in (tt, st):
        # NumPy has no bf16 without ml_dtypes: pass the bits through torch.
        torch = pytest.importorskip("torch")
        conv = lambda x, t: torch.from_numpy(x).to(torch.bfloat16) if t == "bf16" \
            else torch.from_numpy(x)
        out = f(conv(qt, tt), conv(kt, tt), conv(qs, st), conv(ks, st), **kw)
        return [np.asarray(o.float()) for o in out]
    out = f(typed(qt, tt), typed(kt, tt), typed(qs, st), typed(ks, st), **kw)
    return [np.asarray(o) for o in out]


SHAPES = [(2, 37, 37), (1, 5, 70), (1, 9, 5), (1, 100, 131)]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("b,lq,lk", SHAPES)
def test_loss_matches_float64(lib, case, b, lq, lk):
    qt, kt, qs, ks = inputs(case, b, lq, lk)
    tt, st = CASES[case][5], CASES[case][6]
    kl, lse_t, lse_s = call(lib, case, qt, kt, qs, ks)
    want_kl, want_t, want_s = reference.attention_kl(
        rounded(qt, tt), rounded(kt, tt), rounded(qs, st), rounded(ks, st),
        **attrs_of(case))
    empty = ~np.isfinite(want_t)
    assert np.array_equal(~np.isfinite(lse_t), empty)
    assert np.all(kl[empty] == 0) and np.all(np.isneginf(lse_s[empty]))
    # The divergence is a difference of terms of the size of lse: its error
    # is absolute, a few f32 ulps of them.
    tol = 2e-5 if "f16" not in (tt, st) else 1e-3
    assert np.max(np.abs(kl - want_kl)) < tol * (1 + np.max(np.abs(want_t[~empty]), initial=0))
    assert np.max(np.abs(lse_t[~empty] - want_t[~empty]), initial=0) < 1e-5 * max(1, np.max(np.abs(want_t[~empty]), initial=1))
    assert np.max(np.abs(lse_s[~empty] - want_s[~empty]), initial=0) < 1e-5 * max(1, np.max(np.abs(want_s[~empty]), initial=1))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("b,lq,lk", SHAPES)
def test_gradient_matches_float64(lib, case, b, lq, lk):
    qt, kt, qs, ks = inputs(case, b, lq, lk, seed=1)
    tt, st = CASES[case][5], CASES[case][6]
    kl, lse_t, lse_s = call(lib, case, qt, kt, qs, ks)
    dkl = np.random.default_rng(2).standard_normal(kl.shape).astype(np.float32)
    back = getattr(lib, case + "_backward")
    if "bf16" in (tt, st):
        torch = pytest.importorskip("torch")
        conv = lambda x, t: torch.from_numpy(x).to(torch.bfloat16) if t == "bf16" \
            else torch.from_numpy(x)
        dq, dk = back(conv(qt, tt), conv(kt, tt), conv(qs, st), conv(ks, st),
                      torch.from_numpy(lse_t), torch.from_numpy(lse_s),
                      torch.from_numpy(dkl))
        dq, dk = np.asarray(dq.float()), np.asarray(dk.float())
    else:
        dq, dk = back(typed(qt, tt), typed(kt, tt), typed(qs, st), typed(ks, st),
                      lse_t, lse_s, dkl)
    want_dq, want_dk = reference.attention_kl_grad(
        rounded(qt, tt), rounded(kt, tt), rounded(qs, st), rounded(ks, st), dkl,
        **attrs_of(case))
    tol = 1e-4 if st == "f32" and tt == "f32" else 2e-2
    assert reference.rel_err(dq, want_dq) < tol
    assert reference.rel_err(dk, want_dk) < tol


def test_reference_gradient_is_autograd():
    """The analytic gradient the tests compare with is torch autograd's of
    the materialised loss, in float64."""
    torch = pytest.importorskip("torch")
    qt, kt, qs, ks = inputs("grouped", 2, 11, 13, seed=3)
    dkl = np.random.default_rng(4).standard_normal((2, 6, 11))
    tq = torch.tensor(qs, dtype=torch.float64, requires_grad=True)
    tk = torch.tensor(ks, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor(reference.mask(11, 13, causal=True))
    st = torch.einsum("bhid,bhjd->bhij", torch.tensor(qt, dtype=torch.float64),
                      torch.tensor(kt, dtype=torch.float64).repeat_interleave(3, 1)) / 4.0
    ss = torch.einsum("bhid,bhjd->bhij", tq, tk.repeat_interleave(2, 1)) / np.sqrt(40)
    log_pt = torch.log_softmax(st.masked_fill(~mask, -torch.inf), -1)
    log_ps = torch.log_softmax(ss.masked_fill(~mask, -torch.inf), -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).masked_fill(~mask, 0).sum(-1)
    (kl * torch.tensor(dkl)).sum().backward()
    want_dq, want_dk = reference.attention_kl_grad(qt, kt, qs, ks, dkl, causal=True)
    assert reference.rel_err(tq.grad.numpy(), want_dq) < 1e-12
    assert reference.rel_err(tk.grad.numpy(), want_dk) < 1e-12
    want_kl, _, _ = reference.attention_kl(qt, kt, qs, ks, causal=True)
    assert reference.rel_err(kl.detach().numpy(), want_kl) < 1e-12


def test_identical_heads_have_no_divergence(lib):
    qt, kt, _, _ = inputs("plain", 1, 40, 40)
    qs, ks = qt[..., :16].copy(), kt[..., :16].copy()
    qt16, kt16 = (qs * np.sqrt(24 / 16)).astype(np.float32), ks  # same scores
    kl, lse_t, lse_s = call(lib, "plain", np.concatenate([qt16, np.zeros_like(qt[..., 16:])], -1),
                            np.concatenate([kt16, np.zeros_like(kt[..., 16:])], -1), qs, ks)
    assert np.max(np.abs(kl)) < 1e-5
    assert np.max(np.abs(lse_t - lse_s)) < 1e-5


@pytest.mark.parametrize("case", ["plain", "causal"])
def test_nan_inputs_reach_the_rows_that_see_them(lib, case):
    """A NaN teacher query makes its row's loss NaN; a NaN student key makes
    NaN the loss of every row that sees that key, as in float64."""
    qt, kt, qs, ks = inputs(case, 1, 9, 11, seed=3)
    qt[0, 1, 4, 0] = np.nan
    ks[0, 2, 6, 3] = np.nan
    kl, _, _ = call(lib, case, qt, kt, qs, ks)
    want, _, _ = reference.attention_kl(qt, kt, qs, ks, **attrs_of(case))
    assert np.isnan(want).any() and not np.isnan(want).all()
    np.testing.assert_array_equal(np.isnan(kl), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_allclose(kl[finite], want[finite], rtol=2e-4, atol=2e-5)


def test_pruned_heads_and_threads(lib):
    qt, kt, qs, ks = inputs("causal", 2, 70, 70, seed=5)
    mask = np.array([1, 0, 1, 1], np.uint8)
    kl, lse_t, lse_s = call(lib, "causal", qt, kt, qs, ks, head_mask=mask)
    assert np.all(kl[:, 1] == 0) and np.all(np.isneginf(lse_t[:, 1]))
    want, _, _ = reference.attention_kl(qt, kt, qs, ks, causal=True)
    assert np.max(np.abs(kl[:, [0, 2, 3]] - want[:, [0, 2, 3]])) < 1e-4
    dkl = np.ones_like(kl)
    dq, dk = lib.causal_backward(qt, kt, qs, ks, lse_t, lse_s, dkl, head_mask=mask)
    dq, dk = np.asarray(dq), np.asarray(dk)
    assert np.all(dq[:, 1] == 0)
    # The result bytes do not depend on the thread count (no atomics).
    for threads in (1, 3):
        again = call(lib, "causal", qt, kt, qs, ks, num_threads=threads)
        assert np.array_equal(again[0], call(lib, "causal", qt, kt, qs, ks)[0])
        dq1, dk1 = lib.causal_backward(qt, kt, qs, ks, lse_t, lse_s, dkl,
                                       num_threads=threads, head_mask=mask)
        assert np.array_equal(np.asarray(dq1), dq)
        assert np.array_equal(np.asarray(dk1), dk)


def test_bad_calls_name_the_argument(lib):
    qt, kt, qs, ks = inputs("plain", 1, 8, 8)
    with pytest.raises(mha.Error, match=r"'k_s' \(student key\) dim 3 \(D_s\)"):
        lib.plain(qt, kt, qs, ks[..., :8].copy())
    with pytest.raises(mha.Error, match=r"'k_t' \(teacher key\) dim 2 \(Lk\)"):
        lib.plain(qt, kt[:, :, :5].copy(), qs, ks)
    kl, lse_t, lse_s = lib.plain(qt, kt, qs, ks)
    with pytest.raises(mha.Error, match=r"'dkl' \(KL gradient\)"):
        lib.plain_backward(qt, kt, qs, ks, lse_t, lse_s, np.zeros((1, 4, 7), np.float32))


def test_only_some_results(cache_dir):
    r = "tensor<?x2x?xf32>"
    t = "tensor<?x2x?x16xf32>"
    lib = mha.compile(f"""
func.func @kl_only(%qt: {t}, %kt: {t}, %qs: {t}, %ks: {t}) -> {r} {{
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks : {t}, {t}, {t}, {t} -> {r}, {r}, {r}
  return %kl : {r}
}}""")
    rng = np.random.default_rng(6)
    x = [rng.standard_normal((1, 2, 19, 16)).astype(np.float32) for _ in range(4)]
    kl = np.asarray(lib.kl_only(*x))
    want, _, _ = reference.attention_kl(*x)
    assert np.max(np.abs(kl - want)) < 1e-4


def test_torch_autograd(lib):
    """Through mha.torch the loss is a custom op whose autograd calls the
    student gradient: the teacher gets none."""
    torch = pytest.importorskip("torch")
    import mha.torch as mt
    ops = mt.register(lib)
    qt, kt, qs, ks = inputs("grouped", 2, 33, 33, seed=7)
    tqs = torch.tensor(qs, requires_grad=True)
    tks = torch.tensor(ks, requires_grad=True)
    tqt = torch.tensor(qt, requires_grad=True)
    kl, _, _ = ops.grouped(tqt, torch.tensor(kt), tqs, tks)
    weights = torch.linspace(0.5, 1.5, kl.numel()).reshape(kl.shape)
    (kl * weights).sum().backward()
    want_dq, want_dk = reference.attention_kl_grad(qt, kt, qs, ks, weights.numpy(),
                                                   causal=True)
    assert reference.rel_err(tqs.grad.numpy(), want_dq) < 1e-4
    assert reference.rel_err(tks.grad.numpy(), want_dk) < 1e-4
    assert tqt.grad is None


def test_jax_grad_under_jit(lib):
    """Through mha.jax the loss is an FFI call under jax.jit whose
    custom_vjp calls the student gradient (the teacher's gradient is 0)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import mha.jax
    fns = mha.jax.register(lib)
    qt, kt, qs, ks = inputs("mqa_scaled", 1, 21, 40, seed=8)
    weights = np.random.default_rng(9).standard_normal((1, 4, 21)).astype(np.float32)

    def loss(qt, kt, qs, ks):
        kl, _, _ = fns.mqa_scaled(qt, kt, qs, ks)
        return jnp.sum(kl * weights)

    dqt, dqs, dks = jax.jit(jax.grad(loss, argnums=(0, 2, 3)))(qt, kt, qs, ks)
    want_dq, want_dk = reference.attention_kl_grad(qt, kt, qs, ks, weights,
                                                   **attrs_of("mqa_scaled"))
    assert reference.rel_err(np.asarray(dqs), want_dq) < 1e-4
    assert reference.rel_err(np.asarray(dks), want_dk) < 1e-4
    assert not np.any(np.asarray(dqt))


def test_widest_heads_that_fit(cache_dir):
    """D_t = 512 and D_s = 256 fit the work items' stack budget (1024 with
    the gradient does not: tile-kl-invalid.mlir)."""
    lib = mha.compile(kl_spec("wide512", 2, 1, 2, 512, 256))
    rng = np.random.default_rng(10)
    qt = rng.standard_normal((1, 2, 70, 512)).astype(np.float32) * 0.2
    kt = rng.standard_normal((1, 1, 70, 512)).astype(np.float32)
    qs = rng.standard_normal((1, 2, 70, 256)).astype(np.float32) * 0.2
    ks = rng.standard_normal((1, 2, 70, 256)).astype(np.float32)
    kl, lse_t, lse_s = (np.asarray(x) for x in lib.wide512(qt, kt, qs, ks))
    want, _, _ = reference.attention_kl(qt, kt, qs, ks)
    assert np.max(np.abs(kl - want)) < 1e-4
    dkl = np.ones_like(kl)
    dq, dk = lib.wide512_backward(qt, kt, qs, ks, lse_t, lse_s, dkl)
    want_dq, want_dk = reference.attention_kl_grad(qt, kt, qs, ks, dkl)
    assert reference.rel_err(np.asarray(dq), want_dq) < 1e-4
    assert reference.rel_err(np.asarray(dk), want_dk) < 1e-4
