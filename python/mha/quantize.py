"""Symmetric int8 quantization of KV caches (docs/language.md 4.8) and of
layer weights (5.5, mha.quantized).

    k8, k_scale = mha.quantize.kv_cache(k)                # [B, Hkv, L, D], scales [Hkv]
    k8, k_scale = mha.quantize.kv_cache(pool, per_page=True)  # scales [pages, Hkv]
    w8, w_scale = mha.quantize.weight(w)                  # [K, N], scales [N]

A cache quantized here is what `mha.attention ... kv_scales(...)` reads:
key j of KV head g stands for `k8[..., g, j, :] * k_scale[g]` (or
`k_scale[page, g]`). Scales are max|x| / 127 over what they cover (1 where
that is all zeros) and values round to nearest, ties to even, into
[-127, 127]. NumPy arrays in, NumPy arrays out; a CPU torch tensor in,
torch tensors out (computed in NumPy).
"""
import numpy as np

__all__ = ["kv_cache", "weight", "dequantize", "dequantize_weight"]


def kv_cache(x, per_page=False):
    """(int8 array, float32 scales) of a cache x [N, Hkv, L, D]: one scale per
    KV head ([Hkv]), or with per_page one per page and KV head ([N, Hkv])."""
    if _is_torch(x):
        import torch
        q, scale = kv_cache(x.detach().float().numpy(), per_page)
        return torch.from_numpy(q), torch.from_numpy(scale)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"a cache is [N, Hkv, L, D], got shape {x.shape}")
    axes = (2, 3) if per_page else (0, 2, 3)
    amax = np.abs(x).max(axis=axes, initial=0.0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = scale.shape + (1, 1) if per_page else (1, -1, 1, 1)
    q = np.clip(np.rint(x / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def weight(w):
    """(int8 array, float32 scales) of a layer weight w [K, N]: one scale per
    output column, max|w[:, n]| / 127 (1 for an all-zero column), what
    `mha.quantized %w8, %scale` reads as `w8[k, n] * scale[n]`."""
    if _is_torch(w):
        import torch
        q, scale = weight(w.detach().float().numpy())
        return torch.from_numpy(q), torch.from_numpy(scale)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"a weight is [K, N], got shape {w.shape}")
    amax = np.abs(w).max(axis=0, initial=0.0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def dequantize_weight(q, scale):
    """float64 values of an int8 weight [K, N] and its column scales."""
    return np.asarray(q, dtype=np.float64) * np.asarray(scale, np.float64)


def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch"


def dequantize(q, scale):
    """float64 values of an int8 cache [N, Hkv, L, D] and its scales (a
    NumPy array; torch tensors in, a float64 torch tensor out)."""
    if _is_torch(q):
        import torch
        return torch.from_numpy(dequantize(q.numpy(), scale.numpy()))
    scale = np.asarray(scale, dtype=np.float64)
    shape = scale.shape + (1, 1) if scale.ndim == 2 else (1, -1, 1, 1)
    return np.asarray(q, dtype=np.float64) * scale.reshape(shape)
