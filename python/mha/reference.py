"""The float64 NumPy reference of mha.attention, and bf16 storage.

    params = semantics.normalise(attrs, hq, d)
    o, lse, alive = attention(q, k, v, params)

follows SPEC.md's order of operations exactly, as the C++ reference
(lib/Reference/AttentionReference.cpp) does: scores q.k * scale /
temperature[h], then softcap * tanh(s / softcap), then minus
alibi_slopes[h] * |diagonal(i) - j|, then the keys that `key_visible` hides
removed, softmax over the visible keys. A row without a visible key, and
every row of a pruned head (head_mask, or the runtime head mask), gets
o = 0 and lse = -inf.
"""
import functools

import numpy as np

from .semantics import diagonal, key_visible

# Rows of scores computed at once (bounds the memory of long sequences).
_CHUNK_ELEMENTS = 1 << 22


def _row_chunks(lq, lk):
    step = max(1, _CHUNK_ELEMENTS // max(lk, 1))
    for r0 in range(0, lq, step):
        yield r0, min(lq, r0 + step)


def alive_heads(params, runtime_head_mask=None):
    """[Hq] bool: the spec's head_mask and the runtime one (0 ablates)."""
    alive = np.array(params["head_mask"], dtype=bool)
    if runtime_head_mask is not None:
        alive = alive & np.array([bool(x) for x in runtime_head_mask])
    return alive


def visible_rows(params, h, lq, lk, rows=None, alive=True):
    """[rows, Lk] bool: the keys each query row of head h sees."""
    r0, r1 = rows or (0, lq)
    i = np.arange(r0, r1).reshape(-1, 1)
    j = np.arange(lk).reshape(1, -1)
    return np.broadcast_to(
        key_visible(i, j, lq, lk, params["causal"], int(params["window_left"][h]),
                    int(params["window_right"][h]), params["sink_tokens"], alive),
        (r1 - r0, lk))


def visibility(params, hq, lq, lk, runtime_head_mask=None):
    """[Hq, Lq, Lk] bool: key j visible to query i of head h."""
    i = np.arange(lq).reshape(1, lq, 1)
    j = np.arange(lk).reshape(1, 1, lk)
    wl = np.array(params["window_left"]).reshape(hq, 1, 1)
    wr = np.array(params["window_right"]).reshape(hq, 1, 1)
    alive = alive_heads(params, runtime_head_mask).reshape(hq, 1, 1)
    return np.broadcast_to(key_visible(i, j, lq, lk, params["causal"], wl, wr,
                                       params["sink_tokens"], alive), (hq, lq, lk))


def mask(lq, lk, causal=False, window_left=-1, window_right=-1, sink_tokens=0):
    """[Lq, Lk] bool of one head: what a peer's boolean attention mask (True =
    attend) or additive bias (0 / -inf) is made of."""
    i = np.arange(lq).reshape(lq, 1)
    j = np.arange(lk).reshape(1, lk)
    return np.broadcast_to(key_visible(i, j, lq, lk, causal, window_left, window_right,
                                       sink_tokens), (lq, lk))


@functools.lru_cache(maxsize=256)
def visible_pairs(lq, lk, causal=False, window_left=-1, window_right=-1, sink_tokens=0):
    """The number of visible (query, key) pairs of one head, counted with
    key_visible (row blocks; cached): what a FLOP count of windowed
    attention needs."""
    j = np.arange(lk).reshape(1, lk)
    n = 0
    for r0, r1 in _row_chunks(lq, lk):
        i = np.arange(r0, r1).reshape(-1, 1)
        v = key_visible(i, j, lq, lk, causal, window_left, window_right, sink_tokens)
        n += int(np.count_nonzero(np.broadcast_to(v, (r1 - r0, lk))))
    return n


def attention(q, k, v, params, runtime_head_mask=None):
    """float64 attention of q [B, Hq, Lq, D], k [B, Hkv, Lk, D],
    v [B, Hkv, Lk, Dv] (any float arrays; Hq a multiple of Hkv) with the
    normalised parameters of mha.semantics.normalise.

    Returns o [B, Hq, Lq, Dv], lse [B, Hq, Lq] (float64) and alive [Hq]
    (bool: the heads neither head mask prunes)."""
    B, hq, lq, _ = q.shape
    hkv, lk, dv = k.shape[1], k.shape[2], v.shape[3]
    group = hq // hkv
    alive = alive_heads(params, runtime_head_mask)
    o = np.zeros((B, hq, lq, dv))
    lse = np.full((B, hq, lq), -np.inf)
    j = np.arange(lk).reshape(1, lk)
    for h in range(hq):
        if not alive[h]:
            continue
        k64 = np.asarray(k[:, h // group], dtype=np.float64)
        v64 = np.asarray(v[:, h // group], dtype=np.float64)
        factor = params["scale"] / params["temperature"][h]
        cap = params["softcap"]
        slope = params["alibi_slopes"][h]
        for r0, r1 in _row_chunks(lq, lk):
            q64 = np.asarray(q[:, h, r0:r1], dtype=np.float64)
            s = np.matmul(q64, k64.transpose(0, 2, 1)) * factor
            if cap is not None:
                s = cap * np.tanh(s / cap)
            i = np.arange(r0, r1).reshape(-1, 1)
            if slope:
                s = s - slope * np.abs(diagonal(i, lq, lk) - j)
            vis = visible_rows(params, h, lq, lk, (r0, r1))
            s = np.where(vis, s, -np.inf)
            m = s.max(axis=-1, keepdims=True, initial=-np.inf)  # Lk may be 0
            m = np.where(np.isfinite(m), m, 0.0)
            p = np.exp(s - m)
            den = p.sum(axis=-1, keepdims=True)
            with np.errstate(divide="ignore"):
                lse[:, h, r0:r1] = (np.log(den) + m)[..., 0]
            o[:, h, r0:r1] = np.matmul(p, v64) / np.where(den > 0, den, 1.0)
    return o, lse, alive


def attention_backward(q, k, v, dout, params, runtime_head_mask=None):
    """float64 gradients dq, dk, dv of attention(q, k, v, params) for the
    output gradient dout [B, Hq, Lq, Dv], derived analytically (softcap
    through tanh, ALiBi and the masks as constants; dk and dv summed over
    the query heads of a KV group). Rows without a visible key and pruned
    heads contribute nothing."""
    B, hq, lq, _ = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    group = hq // hkv
    alive = alive_heads(params, runtime_head_mask)
    dq = np.zeros(q.shape)
    dk = np.zeros(k.shape)
    dv = np.zeros(v.shape)
    j = np.arange(lk).reshape(1, lk)
    for h in range(hq):
        if not alive[h]:
            continue
        kv = h // group
        k64 = np.asarray(k[:, kv], dtype=np.float64)
        v64 = np.asarray(v[:, kv], dtype=np.float64)
        factor = params["scale"] / params["temperature"][h]
        cap = params["softcap"]
        slope = params["alibi_slopes"][h]
        for r0, r1 in _row_chunks(lq, lk):
            q64 = np.asarray(q[:, h, r0:r1], dtype=np.float64)
            do64 = np.asarray(dout[:, h, r0:r1], dtype=np.float64)
            s = np.matmul(q64, k64.transpose(0, 2, 1)) * factor
            slope_of_cap = 1.0
            if cap is not None:
                t = np.tanh(s / cap)
                s = cap * t
                slope_of_cap = 1.0 - t * t
            i = np.arange(r0, r1).reshape(-1, 1)
            if slope:
                s = s - slope * np.abs(diagonal(i, lq, lk) - j)
            s = np.where(visible_rows(params, h, lq, lk, (r0, r1)), s, -np.inf)
            m = s.max(axis=-1, keepdims=True, initial=-np.inf)
            m = np.where(np.isfinite(m), m, 0.0)
            p = np.exp(s - m)
            den = p.sum(axis=-1, keepdims=True)
            p = p / np.where(den > 0, den, 1.0)
            dp = np.matmul(do64, v64.transpose(0, 2, 1))
            o = np.matmul(p, v64)
            ds = p * (dp - (do64 * o).sum(axis=-1, keepdims=True))
            ds = ds * slope_of_cap * factor
            dq[:, h, r0:r1] = np.matmul(ds, k64)
            dk[:, kv] += np.matmul(ds.transpose(0, 2, 1), q64)
            dv[:, kv] += np.matmul(p.transpose(0, 2, 1), do64)
    return dq, dk, dv


# ----------------------------------------------------------------------------
# bf16 in NumPy: uint16 storage (the upper half of an f32, rounded to
# nearest even).
# ----------------------------------------------------------------------------
def f32_to_bf16_bits(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = ((u >> 16) & 1) + np.uint32(0x7FFF)
    return ((u + r) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.ascontiguousarray(b).astype(np.uint32) << 16).view(np.float32)


def rel_err(x, ref):
    """||x - ref|| / ||ref|| in float64 (||x - ref|| when ref is 0)."""
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    n = float(np.sqrt(np.sum(ref * ref)))
    d = float(np.sqrt(np.sum((x - ref) ** 2)))
    return d / n if n > 0 else d


def _kl_scores(q, k, scale, causal):
    """Scores [B, H, Lq, Lk] of one model in float64 with the keys a row
    cannot see at -inf; K's heads repeated over their query groups."""
    q = np.asarray(q, dtype=np.float64)
    k = np.repeat(np.asarray(k, dtype=np.float64), q.shape[1] // k.shape[1], axis=1)
    s = scale * np.einsum("bhid,bhjd->bhij", q, k)
    lq, lk = q.shape[2], k.shape[2]
    s[..., ~mask(lq, lk, causal=causal)] = -np.inf
    return s


def _log_softmax(s):
    """(log P, lse) of scores with -inf for hidden keys; rows without a
    visible key get lse -inf and log P -inf."""
    m = np.max(s, axis=-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        lse = np.log(np.sum(np.exp(s - m_safe), axis=-1, keepdims=True)) + m_safe
    return s - np.where(np.isfinite(lse), lse, 0.0), lse[..., 0]


def attention_kl(qt, kt, qs, ks, causal=False, teacher_scale=None,
                 student_scale=None):
    """mha.attention_kl in float64: (kl, lse_t, lse_s), each [B, Hq, Lq].
    kl = sum_j P_t (log P_t - log P_s) over the visible keys; 0 (and both
    lse -inf) for a row without one."""
    st = _kl_scores(qt, kt, teacher_scale or qt.shape[3] ** -0.5, causal)
    ss = _kl_scores(qs, ks, student_scale or qs.shape[3] ** -0.5, causal)
    log_pt, lse_t = _log_softmax(st)
    log_ps, lse_s = _log_softmax(ss)
    visible = ~np.isneginf(st)  # a NaN score is visible: it reaches kl
    with np.errstate(invalid="ignore"):
        terms = np.where(visible, np.exp(log_pt) * (log_pt - log_ps), 0.0)
    return terms.sum(axis=-1), lse_t, lse_s


def attention_kl_grad(qt, kt, qs, ks, dkl, causal=False, teacher_scale=None,
                      student_scale=None):
    """The gradient of sum dkl * kl (attention_kl) with respect to q_s and
    k_s in float64, analytically: dS = dkl_i (P_s - P_t) on visible pairs,
    dq_s = scale_s dS k_s and dk_s = scale_s dS^T q_s summed over the query
    heads that share a KV head."""
    scale_s = student_scale or qs.shape[3] ** -0.5
    st = _kl_scores(qt, kt, teacher_scale or qt.shape[3] ** -0.5, causal)
    ss = _kl_scores(qs, ks, scale_s, causal)
    visible = ~np.isneginf(st)  # a NaN score is visible: it reaches kl
    pt = np.where(visible, np.exp(_log_softmax(st)[0]), 0.0)
    ps = np.where(visible, np.exp(_log_softmax(ss)[0]), 0.0)
    ds = scale_s * np.asarray(dkl, dtype=np.float64)[..., None] * (ps - pt)
    group = qs.shape[1] // ks.shape[1]
    k = np.repeat(np.asarray(ks, dtype=np.float64), group, axis=1)
    dq = np.einsum("bhij,bhjd->bhid", ds, k)
    dk = np.einsum("bhij,bhid->bhjd", ds, np.asarray(qs, dtype=np.float64))
    b, h, lk, d = dk.shape
    return dq, dk.reshape(b, h // group, group, lk, d).sum(axis=2)
