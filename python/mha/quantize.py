"""Symmetric int8 quantization of KV caches (docs/language.md 4.8) and
int8 or int4 quantization of layer weights (5.5, mha.quantized).

    k8, k_scale = mha.quantize.kv_cache(k)                # [B, Hkv, L, D], scales [Hkv]
    k8, k_scale = mha.quantize.kv_cache(pool, per_page=True)  # scales [pages, Hkv]
    w8, w_scale = mha.quantize.weight(w)                  # [K, N], scales [N]
    w4, w_scale = mha.quantize.weight(w, bits=4, group_size=128)
                                          # [K, N/2] two per byte, scales [K/128, N]

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


def weight(w, bits=8, group_size=None):
    """(values, float32 scales) of a layer weight w [K, N], what
    `mha.quantized %values, %scale {bits = ...}` reads as
    `values[k, n] * scale[k // group_size, n]`: one scale per output column
    ([N]), or with group_size one per column and group of group_size rows
    ([K / group_size, N]), max|w| / 127 (bits=8) or / 7 (bits=4) over what it
    covers, 1 where that is all zeros. int8 values are [K, N]; int4 ones are
    packed two per byte, [K, N / 2] int8, column 2c in the low nibble of
    byte c."""
    if _is_torch(w):
        import torch
        q, scale = weight(w.detach().float().numpy(), bits, group_size)
        return torch.from_numpy(q), torch.from_numpy(scale)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"a weight is [K, N], got shape {w.shape}")
    if bits not in (8, 4):
        raise ValueError(f"bits must be 8 or 4, got {bits}")
    k, n = w.shape
    if bits == 4 and n % 2:
        raise ValueError(f"int4 weights need an even number of columns, got {n}")
    rows = k if group_size is None else group_size
    if rows < 1 or k % rows:
        raise ValueError(f"group_size must divide the {k} rows, got {group_size}")
    levels = 127 if bits == 8 else 7
    groups = w.reshape(k // rows, rows, n)
    amax = np.abs(groups).max(axis=1, initial=0.0)
    scale = np.where(amax > 0, amax / levels, 1.0).astype(np.float32)
    q = np.clip(np.rint(groups / scale[:, None, :]), -levels, levels)
    q = q.astype(np.int8).reshape(k, n)
    if group_size is None:
        scale = scale[0]
    if bits == 4:
        q = ((q[:, 0::2] & 0xF) | (q[:, 1::2] << 4)).astype(np.int8)
    return q, scale


def dequantize_weight(q, scale, bits=8):
    """float64 values of a quantized weight (int8 [K, N], or int4 packed [K,
    N / 2]) and its scales ([N] or [G, N])."""
    q = np.asarray(q, dtype=np.int8)
    if bits == 4:
        low = (q << 4).astype(np.int8) >> 4
        high = q >> 4
        q = np.stack([low, high], axis=2).reshape(q.shape[0], -1)
    scale = np.asarray(scale, np.float64)
    if scale.ndim == 2:
        scale = np.repeat(scale, q.shape[0] // scale.shape[0], axis=0)
    return q.astype(np.float64) * scale


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
