#!/usr/bin/env python3
"""Attention-transfer distillation (MiniLM-style) with mha's fused loss.

A fixed teacher (4 heads of width 32 over random token embeddings) and a
student with narrower heads (width 16) whose query and key projections are
trained so that each of its heads attends like the teacher's: the loss is
the KL divergence between the two attention distributions of every row,
computed by `mha.attention_kl` (docs/language.md 4.9) as a torch custom op
whose autograd is the compiled student gradient. No L x L attention map is
ever stored. The first step is checked against the same loss and gradient
written in PyTorch (which materialises both maps).

    pip install ./python torch     # the mha package (docs/python.md)
    python examples/python/distill_attention.py [--steps 60] [--len 256]
"""
import argparse
import sys

import torch

import mha
import mha.torch as mt

H, D_MODEL, D_TEACHER, D_STUDENT = 4, 64, 32, 16


def spec():
    qt = f"tensor<?x{H}x?x{D_TEACHER}xf32>"
    qs = f"tensor<?x{H}x?x{D_STUDENT}xf32>"
    r = f"tensor<?x{H}x?xf32>"
    return f"""
func.func @transfer(%qt: {qt}, %kt: {qt}, %qs: {qs}, %ks: {qs}) -> ({r}, {r}, {r})
    attributes {{mha.backward}} {{
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks {{causal}}
      : {qt}, {qt}, {qs}, {qs} -> {r}, {r}, {r}
  return %kl, %lt, %ls : {r}, {r}, {r}
}}
"""


def heads(x, w, width):
    """[B, L, d] @ [d, H * width] as [B, H, L, width]."""
    b, n, _ = x.shape
    return (x @ w).reshape(b, n, H, width).transpose(1, 2)


def torch_transfer_loss(qt, kt, qs, ks):
    """The same loss in PyTorch: both maps materialised."""
    n = qt.shape[2]
    hidden = torch.ones(n, n, dtype=torch.bool).triu(1)
    st = (qt @ kt.transpose(-1, -2) * D_TEACHER ** -0.5).masked_fill(hidden, -torch.inf)
    ss = (qs @ ks.transpose(-1, -2) * D_STUDENT ** -0.5).masked_fill(hidden, -torch.inf)
    lpt, lps = st.log_softmax(-1), ss.log_softmax(-1)
    return (lpt.exp() * (lpt - lps)).masked_fill(hidden, 0.0).sum(-1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--len", type=int, default=256)
    p.add_argument("--batch", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    ops = mt.register(mha.compile(spec()))

    x = torch.randn(args.batch, args.len, D_MODEL)
    wq_t = torch.randn(D_MODEL, H * D_TEACHER) / D_MODEL ** 0.5 * 2
    wk_t = torch.randn(D_MODEL, H * D_TEACHER) / D_MODEL ** 0.5 * 2
    qt, kt = heads(x, wq_t, D_TEACHER), heads(x, wk_t, D_TEACHER)
    wq_s = torch.nn.Parameter(torch.randn(D_MODEL, H * D_STUDENT) / D_MODEL ** 0.5)
    wk_s = torch.nn.Parameter(torch.randn(D_MODEL, H * D_STUDENT) / D_MODEL ** 0.5)
    opt = torch.optim.Adam([wq_s, wk_s], lr=0.03)

    first = None
    for step in range(args.steps):
        qs, ks = heads(x, wq_s, D_STUDENT), heads(x, wk_s, D_STUDENT)
        kl, _, _ = ops.transfer(qt, kt, qs, ks)
        loss = kl.mean()
        opt.zero_grad()
        loss.backward()
        if step == 0:
            # The fused loss and its gradient against PyTorch's.
            grads = [wq_s.grad.clone(), wk_s.grad.clone()]
            ref = torch_transfer_loss(qt, kt, heads(x, wq_s, D_STUDENT),
                                      heads(x, wk_s, D_STUDENT)).mean()
            ref_grads = torch.autograd.grad(ref, [wq_s, wk_s])
            diff = max([abs(loss.item() - ref.item()) / abs(ref.item())] +
                       [((g - r).norm() / r.norm()).item()
                        for g, r in zip(grads, ref_grads)])
            print(f"step 0: kl {loss.item():.4f}, PyTorch {ref.item():.4f}; "
                  f"worst relative difference of loss and gradients {diff:.1e}")
            if diff > 1e-3:
                sys.exit("the fused loss disagrees with PyTorch's")
            first = loss.item()
        opt.step()
        if step % 10 == 9 or step == args.steps - 1:
            print(f"step {step + 1}: mean kl {loss.item():.4f}")
    fell = 1 - loss.item() / first
    print(f"the student's attention moved toward the teacher's: kl fell by {fell:.0%}")
    if fell <= 0:
        sys.exit("the loss did not fall")


if __name__ == "__main__":
    main()
