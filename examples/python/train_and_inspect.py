#!/usr/bin/env python3
"""Compile a spec, train a tiny model with it, and look at a head.

A toy next-token model (embedding, Q/K/V projections, mha's grouped-query
causal attention, output projection) trains a few SGD steps on a repeating
token pattern, once with mha's attention (a torch custom op with autograd
from the compiled backward) and once with PyTorch's
scaled_dot_product_attention from the same initialisation: the losses must
agree. Then a second function of the same spec returns the attention
probabilities, and one head's map is written as a PGM image (a plain
greyscale format any viewer opens; darker = more attention).

    pip install ./python torch     # the mha package (docs/python.md)
    python examples/python/train_and_inspect.py [--steps 2] [--out head.pgm]
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

import mha
import mha.torch as mt

VOCAB, D_MODEL, HQ, HKV, D, L = 32, 64, 4, 2, 16, 24

SPEC = f"""
// Training: the attention of the model, with its backward.
func.func @attn(%q: tensor<?x{HQ}x?x{D}xf32>, %k: tensor<?x{HKV}x?x{D}xf32>,
                %v: tensor<?x{HKV}x?x{D}xf32>)
    -> (tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?xf32>) attributes {{mha.backward}} {{
  %o, %lse = mha.attention %q, %k, %v {{causal, return_lse}}
      : tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HKV}x?x{D}xf32>, tensor<?x{HKV}x?x{D}xf32>
      -> tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?xf32>
  return %o, %lse : tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?xf32>
}}
// Inspection: the same attention returning its probabilities.
func.func @probs(%q: tensor<?x{HQ}x?x{D}xf32>, %k: tensor<?x{HKV}x?x{D}xf32>,
                 %v: tensor<?x{HKV}x?x{D}xf32>)
    -> (tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?x?xf32>) {{
  %o, %p = mha.attention %q, %k, %v {{causal, return_probs}}
      : tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HKV}x?x{D}xf32>, tensor<?x{HKV}x?x{D}xf32>
      -> tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?x?xf32>
  return %o, %p : tensor<?x{HQ}x?x{D}xf32>, tensor<?x{HQ}x?x?xf32>
}}
"""


class TinyModel(torch.nn.Module):
    def __init__(self, attention):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, D_MODEL)
        self.wq = torch.nn.Linear(D_MODEL, HQ * D, bias=False)
        self.wk = torch.nn.Linear(D_MODEL, HKV * D, bias=False)
        self.wv = torch.nn.Linear(D_MODEL, HKV * D, bias=False)
        self.wo = torch.nn.Linear(HQ * D, VOCAB, bias=False)
        self.attention = attention

    def heads(self, tokens):
        x = self.embed(tokens)
        B = tokens.shape[0]
        q = self.wq(x).view(B, L, HQ, D).transpose(1, 2)
        k = self.wk(x).view(B, L, HKV, D).transpose(1, 2)
        v = self.wv(x).view(B, L, HKV, D).transpose(1, 2)
        return q, k, v

    def forward(self, tokens):
        o = self.attention(*self.heads(tokens))
        return self.wo(o.transpose(1, 2).reshape(tokens.shape[0], L, HQ * D))


def sdpa(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def train(model, tokens, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        logits = model(tokens[:, :-1] if tokens.shape[1] > L else tokens)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), tokens[:, 1:L].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def write_pgm(path, probs):
    """probs [L, L] in [0, 1] as an 8-bit greyscale image, 8x8 pixels a cell."""
    cells = (255 - np.clip(probs, 0, 1) * 255).astype(np.uint8)
    image = np.kron(cells, np.ones((8, 8), np.uint8))
    with open(path, "wb") as f:
        f.write(f"P5 {image.shape[1]} {image.shape[0]} 255\n".encode())
        f.write(image.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--head", type=int, default=0)
    ap.add_argument("--out", default="head.pgm")
    args = ap.parse_args()
    lib = mha.compile(SPEC)
    ops = mt.register(lib)
    torch.manual_seed(0)
    ours = TinyModel(mt.Attention(ops, "attn"))
    theirs = TinyModel(sdpa)
    theirs.load_state_dict(ours.state_dict())
    # A repeating pattern: the model can learn to copy from 5 tokens back.
    tokens = torch.arange(L).remainder(5).repeat(8, 1) + torch.randint(0, 6, (8, 1)) * 5
    ours_losses = train(ours, tokens, args.steps)
    theirs_losses = train(theirs, tokens, args.steps)
    for step, (a, b) in enumerate(zip(ours_losses, theirs_losses)):
        print(f"step {step}: loss {a:.6f} with mha, {b:.6f} with SDPA")
    worst = max(abs(a - b) / abs(b) for a, b in zip(ours_losses, theirs_losses))
    print(f"worst relative loss difference {worst:.2e}")
    if worst > 1e-4:
        raise SystemExit("the losses differ")

    with torch.no_grad():
        q, k, v = ours.heads(tokens[:1])
        _, probs = ops.probs(q.contiguous(), k.contiguous(), v.contiguous())
    head = probs[0, args.head].numpy()
    write_pgm(args.out, head)
    print(f"head {args.head}'s attention ({L}x{L}, rows sum to "
          f"{head.sum(-1).min():.4f}..{head.sum(-1).max():.4f}) written to {args.out}")


if __name__ == "__main__":
    main()
