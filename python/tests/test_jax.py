"""mha.jax: exported functions as XLA FFI calls under jax.jit, and their
custom_vjp through <name>_backward, against float64 references (the
forward: mha.reference; the gradients: JAX's own autodiff of the attention
written in jax.numpy, in float64).

    pytest python/tests/test_jax.py
"""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import mha  # noqa: E402
import mha.jax  # noqa: E402
from mha import reference, semantics  # noqa: E402
from specs import attention_spec  # noqa: E402

HQ, HKV, D, DV = 4, 2, 16, 8


@pytest.fixture(scope="module")
def fns():
    text = (attention_spec("gqa", HQ, HKV, D, DV, attrs="causal", backward=True)
            + attention_spec("plain", HQ, HQ, D, backward=True)
            + attention_spec("bf16", HQ, HKV, D, dtype="bf16", attrs="causal", lse=False))
    return mha.jax.register(mha.compile(text))


def inputs(rng, b=2, lq=9, lk=13, hkv=HKV, dv=DV):
    return (rng.standard_normal((b, HQ, lq, D)).astype(np.float32),
            rng.standard_normal((b, hkv, lk, D)).astype(np.float32),
            rng.standard_normal((b, hkv, lk, dv)).astype(np.float32))


def reference_attention(q, k, v, causal):
    p = semantics.normalise({"causal": True} if causal else {}, HQ, D)
    o, lse, _ = reference.attention(*(np.asarray(x, np.float64) for x in (q, k, v)), p)
    return o, lse


def jnp_attention(q, k, v, causal):
    """The attention in jax.numpy (float64 under enable_x64): what the
    gradients are checked against."""
    rep = q.shape[1] // k.shape[1]
    k, v = jnp.repeat(k, rep, 1), jnp.repeat(v, rep, 1)
    s = jnp.einsum("bhid,bhjd->bhij", q, k) / np.sqrt(D)
    if causal:
        lq, lk = q.shape[2], k.shape[2]
        keep = np.arange(lk)[None, :] <= np.arange(lq)[:, None] + (lk - lq)
        s = jnp.where(keep, s, -jnp.inf)
    return jnp.einsum("bhij,bhjd->bhid", jax.nn.softmax(s, -1), v)


def test_jit_forward_matches_reference(fns):
    q, k, v = inputs(np.random.default_rng(0))
    o, lse = jax.jit(fns.gqa)(q, k, v)
    assert isinstance(o, jax.Array) and o.shape == (2, HQ, 9, DV) and lse.shape == (2, HQ, 9)
    want_o, want_lse = reference_attention(q, k, v, causal=True)
    np.testing.assert_allclose(np.asarray(o), want_o, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(lse), want_lse, rtol=1e-5, atol=1e-5)


def test_shapes_follow_the_arguments_under_jit(fns):
    # Dynamic B, Lq, Lk: each new shape traces again and sizes the results.
    f = jax.jit(fns.gqa)
    for b, lq, lk in ((1, 1, 5), (3, 17, 4)):
        q, k, v = inputs(np.random.default_rng(b), b, lq, lk)
        o, _ = f(q, k, v)
        np.testing.assert_allclose(np.asarray(o), reference_attention(q, k, v, True)[0],
                                   rtol=1e-5, atol=1e-5)


def test_bf16(fns):
    q, k, v = (jnp.asarray(x, jnp.bfloat16) for x in inputs(np.random.default_rng(2), dv=D))
    o = jax.jit(fns.bf16)(q, k, v)
    assert o.dtype == jnp.bfloat16
    want, _ = reference_attention(*(np.asarray(x, np.float32) for x in (q, k, v)), True)
    err = np.linalg.norm(np.asarray(o, np.float64) - want) / np.linalg.norm(want)
    assert err < 1e-2, err


@pytest.mark.parametrize("name,causal,hkv,dv", [("gqa", True, HKV, DV), ("plain", False, HQ, D)])
def test_grad_matches_float64_autodiff(fns, name, causal, hkv, dv):
    rng = np.random.default_rng(3)
    q, k, v = inputs(rng, hkv=hkv, dv=dv)
    w = rng.standard_normal((2, HQ, 9, dv)).astype(np.float32)
    fn = getattr(fns, name)

    def loss(q, k, v):
        out = fn(q, k, v)
        o = out[0] if isinstance(out, tuple) else out
        return jnp.sum(o * w)

    got = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)
    with jax.enable_x64(True):
        want = jax.grad(lambda q, k, v: jnp.sum(jnp_attention(q, k, v, causal) * w),
                        argnums=(0, 1, 2))(*(np.asarray(x, np.float64) for x in (q, k, v)))
        want = [np.asarray(g) for g in want]
    for g, r in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-4, atol=1e-4)


def test_gradient_through_lse_raises(fns):
    q, k, v = inputs(np.random.default_rng(4))
    with pytest.raises(Exception, match="a gradient reaches the 'lse' result"):
        jax.block_until_ready(jax.grad(lambda q: jnp.sum(fns.gqa(q, k, v)[1]))(q))


def test_lse_gradient_stopped_is_fine(fns):
    q, k, v = inputs(np.random.default_rng(5))

    def loss(q):
        o, lse = fns.gqa(q, k, v)
        return jnp.sum(o) + jnp.sum(jax.lax.stop_gradient(lse))

    g = jax.grad(loss)(q)
    assert np.all(np.isfinite(np.asarray(g)))


def test_bad_argument_raises_with_the_library_message(fns):
    q, k, v = inputs(np.random.default_rng(6))
    with pytest.raises(Exception, match=r"'k' \(key\)"):
        jax.block_until_ready(jax.jit(fns.gqa)(q, k[:, :, :, :8], v))
