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
from specs import ENTROPY_SPEC, attention_spec  # noqa: E402

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


def test_runtime_head_mask_under_jit(fns):
    """head_mask= as a traced argument: one jitted function, two masks,
    each the library's direct call with that mask; the gradient under the
    mask is the backward's with it (the pruned heads' dq is 0); a mask of
    the wrong length raises."""
    lib = fns.library
    q, k, v = inputs(np.random.default_rng(12))
    w = np.random.default_rng(13).standard_normal((2, HQ, 9, DV)).astype(np.float32)
    call = jax.jit(lambda q, k, v, m: fns.gqa(q, k, v, head_mask=m))
    for mask in ([1, 0, 1, 1], [0, 1, 1, 0]):
        m = np.array(mask, np.uint8)
        o, lse = call(q, k, v, m)
        want_o, _ = lib.gqa(q, k, v, head_mask=m)
        assert np.array_equal(np.asarray(o), np.asarray(want_o))
        grads = jax.jit(jax.grad(lambda q, k, v, m: jnp.sum(fns.gqa(q, k, v, head_mask=m)[0] * w),
                                 argnums=(0, 1, 2)))(q, k, v, m)
        want = lib.gqa_backward(q, k, v, np.asarray(o), np.asarray(lse), w, head_mask=m)
        for g, x in zip(grads, want):
            assert np.array_equal(np.asarray(g), np.asarray(x))
        assert not np.asarray(grads[0])[:, m == 0].any()
    with pytest.raises(mha.Error, match="head_mask has 3 entries but the spec has 4"):
        fns.gqa(q, k, v, head_mask=np.ones(3, np.uint8))


def test_bad_argument_raises_with_the_library_message(fns):
    q, k, v = inputs(np.random.default_rng(6))
    with pytest.raises(Exception, match=r"'k' \(key\)"):
        jax.block_until_ready(jax.jit(fns.gqa)(q, k[:, :, :, :8], v))


def test_layer_and_serving_functions(fns):
    # A layer (mha.multi_head) and a decoding function with kv_lens (i32)
    # through JAX, against the direct calls of the same library.
    lib = mha.compile("""
func.func @layer(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>,
                 %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, causal}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
       tensor<32x32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
func.func @decode(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                  %l: tensor<?xi32>) -> tensor<?x4x1x16xf32> {
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) {causal}
     : tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}
""")
    jfns = mha.jax.register(lib)
    rng = np.random.default_rng(7)
    layer_args = [rng.standard_normal(s).astype(np.float32) / 4
                  for s in ((2, 11, 32), (32, 32), (32, 16), (32, 16), (32, 32))]
    np.testing.assert_allclose(np.asarray(jax.jit(jfns.layer)(*layer_args)),
                               lib.layer(*layer_args), rtol=1e-6, atol=1e-6)
    q = rng.standard_normal((3, 4, 1, 16)).astype(np.float32)
    k = rng.standard_normal((3, 2, 20, 16)).astype(np.float32)
    v = rng.standard_normal((3, 2, 20, 16)).astype(np.float32)
    lens = np.array([20, 1, 7], np.int32)
    np.testing.assert_allclose(np.asarray(jax.jit(jfns.decode)(q, k, v, lens)),
                               lib.decode(q, k, v, lens), rtol=1e-6, atol=1e-6)


def test_entropy_regulariser_gradient():
    """jax.grad of sum(w * o) + sum(u * entropy): the custom_vjp passes the
    entropy's cotangent to the backward as dentropy."""
    fns = mha.jax.register(mha.compile(ENTROPY_SPEC))
    rng = np.random.default_rng(5)
    q, k, v = inputs(rng)
    w = rng.standard_normal((2, HQ, 9, DV)).astype(np.float32)
    u = rng.standard_normal((2, HQ, 9)).astype(np.float32)

    def loss(q, k, v):
        o, _, ent = fns.ent(q, k, v)
        return jnp.sum(o * w) + jnp.sum(ent * u)

    got = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)

    def ref_loss(q, k, v):
        rep = HQ // HKV
        kk, vv = jnp.repeat(k, rep, 1), jnp.repeat(v, rep, 1)
        keep = np.arange(13)[None, :] <= np.arange(9)[:, None] + 4
        s = jnp.where(keep, jnp.einsum("bhid,bhjd->bhij", q, kk) / np.sqrt(D), -jnp.inf)
        p = jax.nn.softmax(s, -1)
        ent = -jnp.sum(jnp.where(keep, p * jnp.log(jnp.where(keep, p, 1.0)), 0.0), -1)
        return jnp.sum(jnp.einsum("bhij,bhjd->bhid", p, vv) * w) + jnp.sum(ent * u)

    with jax.enable_x64(True):
        want = jax.grad(ref_loss, argnums=(0, 1, 2))(*(np.asarray(x, np.float64)
                                                       for x in (q, k, v)))
        want = [np.asarray(g) for g in want]
    for g, r in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-4, atol=1e-4)


def test_dropout_keys_and_gradients():
    """A function with dropout takes dropout_key: the same key repeats the
    mask, another changes it, under jit without retracing; jax.grad
    matches float64 autodiff of softmax(s) * Z @ v, Z the keep factors
    read off a call with v = I (o = the dropped probabilities)."""
    fns = mha.jax.register(mha.compile(attention_spec(
        "drop", 2, 2, 8, 16, attrs="dropout = array<f32: 0.5, 0.25>", backward=True)))
    rng = np.random.default_rng(9)
    q = rng.standard_normal((2, 2, 5, 8)).astype(np.float32)
    k = rng.standard_normal((2, 2, 16, 8)).astype(np.float32)
    v = rng.standard_normal((2, 2, 16, 16)).astype(np.float32)
    key, other = jax.random.key(1), jax.random.key(2)
    run = jax.jit(lambda q, k, v, key: fns.drop(q, k, v, dropout_key=key)[0])
    a = np.asarray(run(q, k, v, key))
    np.testing.assert_array_equal(a, np.asarray(run(q, k, v, key)))
    assert not np.array_equal(a, np.asarray(run(q, k, v, other)))

    eye = np.broadcast_to(np.eye(16, dtype=np.float32), (2, 2, 16, 16)).copy()
    dropped = np.asarray(run(q, k, eye, key), np.float64)
    z = (dropped != 0) / (1 - np.array([0.5, 0.25])[None, :, None, None])
    w = rng.standard_normal((2, 2, 5, 16)).astype(np.float32)
    got = jax.jit(jax.grad(lambda q, k, v: jnp.sum(fns.drop(q, k, v, dropout_key=key)[0] * w),
                           argnums=(0, 1, 2)))(q, k, v)
    with jax.enable_x64(True):
        def ref(q, k, v):
            p = jax.nn.softmax(jnp.einsum("bhid,bhjd->bhij", q, k) / np.sqrt(8), -1)
            return jnp.sum(jnp.einsum("bhij,bhjd->bhid", p * z, v) * w)
        want = jax.grad(ref, argnums=(0, 1, 2))(*(np.asarray(x, np.float64) for x in (q, k, v)))
    for g, r in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-4)


def test_int8_cache_under_jit():
    """A function over an int8 cache (kv_scales) under jax.jit, against the
    float64 reference over the dequantized cache."""
    from mha import quantize
    q4, k4, s = "tensor<?x4x?x16xf32>", "tensor<?x2x?x16xi8>", "tensor<2xf32>"
    fns = mha.jax.register(mha.compile(f"""
func.func @q8(%q: {q4}, %k: {k4}, %v: {k4}, %ks: {s}, %vs: {s}) -> {q4} {{
  %o = mha.attention %q, %k, %v kv_scales(%ks, %vs : {s}, {s}) {{causal}} : {q4}, {k4}, {k4} -> {q4}
  return %o : {q4}
}}"""))
    rng = np.random.default_rng(4)
    q = rng.standard_normal((2, 4, 3, 16)).astype(np.float32)
    k8, ks = quantize.kv_cache(rng.standard_normal((2, 2, 20, 16)))
    v8, vs = quantize.kv_cache(rng.standard_normal((2, 2, 20, 16)))
    got = np.asarray(jax.jit(fns.q8)(q, k8, v8, ks, vs))
    params = semantics.normalise({"causal": True}, 4, 16)
    want, _, _ = reference.attention(q, quantize.dequantize(k8, ks),
                                     quantize.dequantize(v8, vs), params)
    assert reference.rel_err(got, want) < 2e-5
