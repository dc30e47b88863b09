"""Multi-head latent attention (DeepSeek-V2) decoding with mha's attention:
the up-projections absorbed into the query and output sides, so that every
head attends in latent space (head dims r + Dr and r) against one cache of
latents shared by all heads, with the value being the latent part of the
same cache (a strided view: inputs may alias). Checked against the float64
MLA layer computed the direct way (per-head keys and values up-projected
from the latents), for a contiguous and a paged latent cache.

    pytest python/tests/test_mla.py
"""
import numpy as np
import pytest

import mha

import collections

# d, heads, latent rank, no-RoPE and RoPE query/key dims, value dim. WIDE
# has latent heads of 288 + 256 (DeepSeek's 576 + 512 halved): decoding is
# compute-bound there, and each group item takes 8 of the 16 heads.
Dims = collections.namedtuple("Dims", "d h r dn dr dv")
SMALL = Dims(48, 4, 24, 16, 8, 12)
WIDE = Dims(64, 16, 256, 16, 32, 16)
PAGE = 8


def mla_spec(dims):
    _, H, R, DN, DR, _ = dims
    lat = R + DR
    q = f"tensor<?x{H}x1x{lat}xf32>"
    k = f"tensor<?x1x?x{lat}xf32>"
    v = f"tensor<?x1x?x{R}xf32>"
    pool_k = f"tensor<?x1x{PAGE}x{lat}xf32>"
    pool_v = f"tensor<?x1x{PAGE}x{R}xf32>"
    o = f"tensor<?x{H}x1x{R}xf32>"
    # The score of the direct form is scaled by 1/sqrt(Dn + Dr), not by
    # 1/sqrt of the latent head dim.
    attrs = f"{{causal, scale = {1.0 / np.sqrt(DN + DR):.9e} : f32}}"
    return f"""
func.func @mla(%q: {q}, %k: {k}, %v: {v}, %l: tensor<?xi32>) -> {o} {{
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>) {attrs}
      : {q}, {k}, {v} -> {o}
  return %o : {o}
}}
func.func @mla_paged(%q: {q}, %k: {pool_k}, %v: {pool_v}, %l: tensor<?xi32>,
                     %t: tensor<?x?xi32>) -> {o} {{
  %o = mha.attention %q, %k, %v kv_lens(%l : tensor<?xi32>)
      block_table(%t : tensor<?x?xi32>) {attrs} : {q}, {pool_k}, {pool_v} -> {o}
  return %o : {o}
}}
"""


@pytest.fixture(scope="module", params=[SMALL, WIDE], ids=["small", "wide"])
def case(request):
    return request.param, mha.compile(mla_spec(request.param))


def rope(x, positions, theta=10000.0):
    """GPT-NeoX pairs (t, t + n/2) of the last dim at `positions`."""
    n = x.shape[-1]
    freq = theta ** (-2.0 * np.arange(n // 2) / n)
    ang = positions[:, None] * freq[None, :]
    c, s = np.cos(ang), np.sin(ang)
    x1, x2 = x[..., : n // 2], x[..., n // 2:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def weights(rng, dims):
    D_MODEL, H, R, DN, DR, DV = dims

    def w(rows, cols):
        return rng.standard_normal((rows, cols)) / np.sqrt(rows)
    return dict(dkv=w(D_MODEL, R), kr=w(D_MODEL, DR), uk=w(R, H * DN),
                uv=w(R, H * DV), q=w(D_MODEL, H * (DN + DR)), o=w(H * DV, D_MODEL))


def rms_norm(x, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)


def direct_step(W, dims, xs, x_new, eps=None):
    """The float64 MLA layer for the last token of each sequence, per-head
    keys and values up-projected from the latents. xs[b]: [L_b - 1, d]
    earlier tokens; x_new: [B, d]. With `eps`, DeepSeek's RMS norms (their
    weights folded into the next projection) on the latent and, when W has
    the query's factors "qa" and "qb", on the query's rank product."""
    _, H, R, DN, DR, DV = dims
    ys = []
    for b, past in enumerate(xs):
        x = np.concatenate([past, x_new[b:b + 1]], 0)
        L = x.shape[0]
        pos = np.arange(L, dtype=np.float64)
        c = x @ W["dkv"]
        if eps is not None:
            c = rms_norm(c, eps)
        k_rope = rope(x @ W["kr"], pos)
        if "qa" in W:
            q = (rms_norm(x[-1:] @ W["qa"], eps) @ W["qb"]).reshape(H, DN + DR)
        else:
            q = (x[-1:] @ W["q"]).reshape(H, DN + DR)
        q_nope, q_rope = q[:, :DN], rope(q[:, DN:], pos[-1:])
        out = []
        for h in range(H):
            k_nope = c @ W["uk"][:, h * DN:(h + 1) * DN]
            v = c @ W["uv"][:, h * DV:(h + 1) * DV]
            s = (k_nope @ q_nope[h] + k_rope @ q_rope[h]) / np.sqrt(DN + DR)
            p = np.exp(s - s.max())
            out.append((p / p.sum()) @ v)
        ys.append(np.concatenate(out) @ W["o"])
    return np.stack(ys)


def absorbed_inputs(W, dims, xs, x_new):
    """The latent cache [B, 1, Lmax, r + Dr] (rows [c, rope(k_rope)]), the
    absorbed queries [B, H, 1, r + Dr] and kv_lens."""
    _, H, R, DN, DR, DV = dims
    B = len(xs)
    lens = np.array([p.shape[0] + 1 for p in xs], np.int32)
    cache = np.zeros((B, 1, lens.max(), R + DR), np.float32)
    q_lat = np.zeros((B, H, 1, R + DR), np.float32)
    for b, past in enumerate(xs):
        x = np.concatenate([past, x_new[b:b + 1]], 0)
        pos = np.arange(x.shape[0], dtype=np.float64)
        cache[b, 0, :x.shape[0]] = np.concatenate(
            [x @ W["dkv"], rope(x @ W["kr"], pos)], -1)
        q = (x[-1:] @ W["q"]).reshape(H, DN + DR)
        for h in range(H):
            # q_nope . (c W_uk_h) = (q_nope W_uk_h^T) . c
            q_lat[b, h, 0, :R] = W["uk"][:, h * DN:(h + 1) * DN] @ q[h, :DN]
        q_lat[b, :, 0, R:] = rope(q[:, DN:], pos[-1:])
    return cache, q_lat, lens


def absorbed_output(W, dims, o_lat):
    """o_h = o_lat_h W_uv_h, y = concat_h(o_h) W_o, from [B, H, 1, r]."""
    _, H, R, DN, DR, DV = dims
    B = o_lat.shape[0]
    o = np.stack([o_lat[:, h, 0].astype(np.float64) @ W["uv"][:, h * DV:(h + 1) * DV]
                  for h in range(H)], 1)
    return o.reshape(B, H * DV) @ W["o"]


def to_pages(cache, lens, rng):
    """The cache as a pool [pages, 1, PAGE, r + Dr] in a shuffled page
    order, and its block table."""
    B, _, L, n = cache.shape
    per = (L + PAGE - 1) // PAGE
    order = rng.permutation(B * per)
    pool = np.zeros((B * per, 1, PAGE, n), np.float32)
    padded = np.zeros((B, 1, per * PAGE, n), np.float32)
    padded[:, :, :L] = cache
    for b in range(B):
        for i in range(per):
            pool[order[b * per + i], 0] = padded[b, 0, i * PAGE:(i + 1) * PAGE]
    return pool, order.reshape(B, per).astype(np.int32)


# With more threads than the call's 4 sequences, WIDE's group items split
# the 16 heads in two; with one thread one item takes them all.
@pytest.mark.parametrize("threads", [1, 8])
@pytest.mark.parametrize("paged", [False, True])
def test_absorbed_decode_matches_direct_mla(case, paged, threads):
    dims, lib = case
    R = dims.r
    rng = np.random.default_rng(3 + paged)
    W = weights(rng, dims)
    past_lens = [0, 6, 40, 17]  # the first sequence has only its new token
    xs = [rng.standard_normal((n, dims.d)) for n in past_lens]
    x_new = rng.standard_normal((len(xs), dims.d))
    want = direct_step(W, dims, xs, x_new)
    cache, q_lat, lens = absorbed_inputs(W, dims, xs, x_new)
    if paged:
        pool, table = to_pages(cache, lens, rng)
        # The values are the latent columns of the same pool: a view.
        o_lat = lib.mla_paged(q_lat, pool, pool[..., :R], lens, table,
                              num_threads=threads)
    else:
        o_lat = lib.mla(q_lat, cache, cache[..., :R], lens, num_threads=threads)
    got = absorbed_output(W, dims, o_lat)
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert err < 1e-5, err


Q_RANK = 12


def latent_layer_spec(dims):
    """@mla_layer, and @mla_rms_layer with DeepSeek-V3's query factors and
    RMS norms (rms_norm_eps)."""
    D_MODEL, H, R, DN, DR, DV = dims
    x = f"tensor<?x?x{D_MODEL}xf32>"
    wq = f"tensor<{D_MODEL}x{H * (DN + DR)}xf32>"
    qa = f"tensor<{D_MODEL}x{Q_RANK}xf32>"
    qb = f"tensor<{Q_RANK}x{H * (DN + DR)}xf32>"
    wk = f"tensor<{D_MODEL}x{R + DR}xf32>"
    wv = f"tensor<{R}x{H * (DN + DV)}xf32>"
    wo = f"tensor<{H * DV}x{D_MODEL}xf32>"
    return f"""
func.func @mla_layer(%x: {x}, %wq: {wq}, %wk: {wk}, %wv: {wv}, %wo: {wo}) -> {x} {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {{num_heads = {H},
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}}
      : {x}, {wq}, {wk}, {wv}, {wo} -> {x}
  return %y : {x}
}}
func.func @mla_rms_layer(%x: {x}, %qa: {qa}, %qb: {qb}, %wk: {wk}, %wv: {wv},
                         %wo: {wo}) -> {x} {{
  %wq = mha.low_rank %qa, %qb : {qa}, {qb} -> {wq}
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {{num_heads = {H},
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32,
         rms_norm_eps = 1.0e-6 : f32, causal}}
      : {x}, {wq}, {wk}, {wv}, {wo} -> {x}
  return %y : {x}
}}
"""


def deepseek_layout(W, dims):
    """The layer's weights from the factors: Wk = [W_dkv | W_kr] (DeepSeek's
    kv_a_proj_with_mqa), Wv = every head's [W_uk_h | W_uv_h] (kv_b_proj)."""
    _, H, R, DN, DR, DV = dims
    wv = np.concatenate(
        [np.concatenate([W["uk"][:, h * DN:(h + 1) * DN],
                         W["uv"][:, h * DV:(h + 1) * DV]], 1) for h in range(H)], 1)
    wk = np.concatenate([W["dkv"], W["kr"]], 1)
    return [a.astype(np.float32) for a in (W["q"], wk, wv, W["o"])]


# The compiled latent layer (#mha.sharing<latent>) against the same direct
# float64 MLA, row by row: row l of sequence b is the decoding step of
# token l after tokens 0 .. l-1.
@pytest.mark.parametrize("rms", [False, True], ids=["plain", "rms_norm"])
@pytest.mark.parametrize("dims", [SMALL, WIDE], ids=["small", "wide"])
def test_latent_layer_matches_direct_mla(dims, rms):
    lib = mha.compile(latent_layer_spec(dims))
    rng = np.random.default_rng(11)
    W = weights(rng, dims)
    x = rng.standard_normal((2, 13, dims.d))
    _, wk, wv, wo = deepseek_layout(W, dims)
    eps = None
    if rms:
        eps = 1e-6
        W["qa"] = rng.standard_normal((dims.d, Q_RANK)) / np.sqrt(dims.d)
        W["qb"] = rng.standard_normal((Q_RANK, W["q"].shape[1])) / np.sqrt(Q_RANK)
        y = lib.mla_rms_layer(x.astype(np.float32), W["qa"].astype(np.float32),
                              W["qb"].astype(np.float32), wk, wv, wo)
    else:
        y = lib.mla_layer(x.astype(np.float32), *deepseek_layout(W, dims))
    want = np.stack([np.concatenate(
        [direct_step(W, dims, [x[b, :l]], x[b, l:l + 1], eps) for l in range(13)])
        for b in range(2)])
    err = np.linalg.norm(y - want) / np.linalg.norm(want)
    assert err < 1e-5, err
