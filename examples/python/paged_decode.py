#!/usr/bin/env python3
"""A toy decoding loop on a paged KV cache with mha and PyTorch.

Each step of a batch of sequences appends its new key and value (keys
rotated by RoPE at their positions) into a shared page pool and attends
over everything cached so far, with one compiled library and two torch
custom ops under torch.compile. The result of every step is compared with
PyTorch's scaled_dot_product_attention on the unpaged keys.

    pip install ./python torch     # the mha package (docs/python.md)
    python examples/python/paged_decode.py [--steps 8] [--batch 3]
"""
import argparse

import torch
import torch.nn.functional as F

import mha
import mha.torch as mt

HQ, HKV, D, PAGE, THETA = 8, 2, 64, 16, 10000.0


def spec():
    kn = f"tensor<?x{HKV}x?x{D}xf32>"
    pool = f"tensor<?x{HKV}x{PAGE}x{D}xf32>"
    q = f"tensor<?x{HQ}x1x{D}xf32>"
    return f"""
func.func @append(%kn: {kn}, %vn: {kn}, %lens: tensor<?xi32>, %table: tensor<?x?xi32>,
                  %kc: {pool}, %vc: {pool}) -> ({pool}, {pool}) {{
  %k, %v = mha.append_kv %kn, %vn into %kc, %vc kv_lens(%lens : tensor<?xi32>)
      block_table(%table : tensor<?x?xi32>) {{rope_theta = {THETA} : f32}}
      : {kn}, {kn}, {pool}, {pool} -> {pool}, {pool}
  return %k, %v : {pool}, {pool}
}}
func.func @attend(%q: {q}, %k: {pool}, %v: {pool}, %lens: tensor<?xi32>,
                  %table: tensor<?x?xi32>) -> {q} {{
  %o = mha.attention %q, %k, %v kv_lens(%lens : tensor<?xi32>)
      block_table(%table : tensor<?x?xi32>) {{causal}} : {q}, {pool}, {pool} -> {q}
  return %o : {q}
}}
"""


def rope(x, positions):
    """x [..., n, D] rotated at positions [n] (pairs (i, i + D/2))."""
    freqs = THETA ** (-2.0 * torch.arange(D // 2, dtype=torch.float64) / D)
    angle = positions.to(torch.float64)[:, None] * freqs[None, :]
    c, s = torch.cos(angle).float(), torch.sin(angle).float()
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    ops = mt.register(mha.compile(spec()))
    B, steps = args.batch, args.steps
    # Prompts of different lengths, already in the cache; pages in a
    # shuffled order, one page pool for the whole batch.
    lens = torch.randint(1, 40, (B,), dtype=torch.int32)
    pages_per_seq = (int(lens.max()) + steps + PAGE - 1) // PAGE
    table = torch.randperm(B * pages_per_seq, dtype=torch.int32).reshape(B, pages_per_seq)
    k_cache = torch.zeros(B * pages_per_seq, HKV, PAGE, D)
    v_cache = torch.zeros_like(k_cache)
    history_k = [torch.zeros(HKV, 0, D) for _ in range(B)]  # rotated, unpaged
    history_v = [torch.zeros(HKV, 0, D) for _ in range(B)]
    for b in range(B):  # the prompts, written with the same op
        n = int(lens[b])
        k, v = torch.randn(1, HKV, n, D), torch.randn(1, HKV, n, D)
        ops.append(k, v, torch.zeros(1, dtype=torch.int32), table[b:b + 1], k_cache, v_cache)
        history_k[b] = rope(k[0], torch.arange(n))
        history_v[b] = v[0]

    @torch.compile(fullgraph=True)
    def step(q, k_new, v_new, lens, table, k_cache, v_cache):
        ops.append(k_new, v_new, lens, table, k_cache, v_cache)
        return ops.attend(q, k_cache, v_cache, lens + 1, table)

    worst = 0.0
    for _ in range(steps):
        # The model rotates its query at the sequence's position; the new
        # key is rotated by the append.
        q = torch.stack([rope(torch.randn(HQ, 1, D), lens[b:b + 1]) for b in range(B)])
        k_new, v_new = torch.randn(B, HKV, 1, D), torch.randn(B, HKV, 1, D)
        o = step(q, k_new, v_new, lens, table, k_cache, v_cache)
        for b in range(B):
            history_k[b] = torch.cat([history_k[b], rope(k_new[b], lens[b:b + 1])], dim=1)
            history_v[b] = torch.cat([history_v[b], v_new[b]], dim=1)
            want = F.scaled_dot_product_attention(q[b:b + 1], history_k[b][None],
                                                  history_v[b][None], enable_gqa=True)
            worst = max(worst, float((o[b:b + 1] - want).norm() / want.norm()))
        lens = lens + 1
    print(f"{steps} steps of {B} sequences: worst relative error {worst:.2e}")
    assert worst < 1e-5, worst


if __name__ == "__main__":
    main()
