#!/usr/bin/env python3
"""bench/compiled_model.py - a torch.compile'd model whose attention layers
are mha layers (mha.torch.Layer: one custom op per layer, projections and
attention inside) against the same model on PyTorch's own layers
(nn.Linear projections and F.scaled_dot_product_attention), also
torch.compile'd, on the CPU (issue 19's performance target: at least as
fast).

Usage (the Python the mha package is installed in, with torch;
docs/performance.md, "A compiled model"):

  python bench/compiled_model.py            # B=1 L=512 and 1024, B=4 L=256
  python bench/compiled_model.py --quick    # B=1 L=256
  python bench/compiled_model.py --profile  # B=1 L=1024: where the time goes

The model: 2 pre-norm GPT-2 blocks (d=768, 12 causal heads of 64 with
Q/K/V and output biases, LayerNorm, a GELU MLP of 4d), f32, the same
weights in both. Each model is compiled once (inductor, dynamic=False;
compile time not counted); rows time inference (torch.no_grad) and a
training step (forward, loss, backward, no optimizer), 2 threads: in
--rounds rounds that take each model in turn, one warm-up call and the
median of as many calls as fit in --budget / --rounds seconds, the best
round's median.
The outputs and gradients of the two models are compared (rel.err, the
largest over the output and every weight's gradient). mha.torch.register
runs the layers' CPU work on PyTorch's OpenMP threads
(Library.use_torch_threads); two columns time the mha model again on the
library's own threads, for the same ratios. The last three are a third
model: the SDPA model with mha's attention op (mha.torch.Attention, a
`mha.backward` attention function returning o and lse) in place of
F.scaled_dot_product_attention, so that autograd saves the activations
(q, k, v, o, lse) as it does for SDPA, where the layer op's backward
recomputes them (gradient checkpointing, the contract for layers). The
last column trains a fourth model: the mha-layer model with
`mha.torch.Layer(..., save_activations=True)`, whose layer op keeps those
activations for its backward (docs/language.md 7.1, "Saved
activations"); its inference is the mha-layer model's.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import mha
import mha.torch as mt

D, HEADS = 768, 12
SPEC = f"""
func.func @attn(%x: tensor<?x?x{D}xf32>, %wq: tensor<{D}x{D}xf32>, %wk: tensor<{D}x{D}xf32>,
                %wv: tensor<{D}x{D}xf32>, %wo: tensor<{D}x{D}xf32>, %bq: tensor<{D}xf32>,
                %bk: tensor<{D}xf32>, %bv: tensor<{D}xf32>, %bo: tensor<{D}xf32>)
    -> tensor<?x?x{D}xf32> attributes {{mha.backward}} {{
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
       {{num_heads = {HEADS}, has_qkv_bias, has_out_bias, causal}}
     : tensor<?x?x{D}xf32>, tensor<{D}x{D}xf32>, tensor<{D}x{D}xf32>, tensor<{D}x{D}xf32>,
       tensor<{D}x{D}xf32>, tensor<{D}xf32>, tensor<{D}xf32>, tensor<{D}xf32>,
       tensor<{D}xf32> -> tensor<?x?x{D}xf32>
  return %y : tensor<?x?x{D}xf32>
}}
func.func @attn_op(%q: tensor<?x{HEADS}x?x{D // HEADS}xf32>, %k: tensor<?x{HEADS}x?x{D // HEADS}xf32>,
                   %v: tensor<?x{HEADS}x?x{D // HEADS}xf32>)
    -> (tensor<?x{HEADS}x?x{D // HEADS}xf32>, tensor<?x{HEADS}x?xf32>) attributes {{mha.backward}} {{
  %o, %lse = mha.attention %q, %k, %v {{causal, return_lse}}
      : tensor<?x{HEADS}x?x{D // HEADS}xf32>, tensor<?x{HEADS}x?x{D // HEADS}xf32>,
        tensor<?x{HEADS}x?x{D // HEADS}xf32> -> tensor<?x{HEADS}x?x{D // HEADS}xf32>, tensor<?x{HEADS}x?xf32>
  return %o, %lse : tensor<?x{HEADS}x?x{D // HEADS}xf32>, tensor<?x{HEADS}x?xf32>
}}
"""


class TorchAttention(torch.nn.Module):
    """nn.Linear projections around F.scaled_dot_product_attention, or
    around mha's attention op when `mha_op` (an mha.torch.Attention on
    [B, L, H, D] views): autograd saves the activations either way."""

    def __init__(self, mha_op=None):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(D, D) for _ in range(4))
        self.mha_op = mha_op

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (p(x).view(b, n, HEADS, D // HEADS) for p in (self.q, self.k, self.v))
        if self.mha_op is not None:
            y = self.mha_op(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                               v.transpose(1, 2), is_causal=True)
            y = y.transpose(1, 2)
        return self.o(y.reshape(b, n, D))


def mha_attention(lib, peer, save_activations=False):
    """An mha layer holding `peer`'s weights (x @ W^T + b: W^T is ours)."""
    w = {}
    for name, lin in (("q", peer.q), ("k", peer.k), ("v", peer.v), ("o", peer.o)):
        w["w" + name] = lin.weight.detach().T.contiguous()
        w["b" + name] = lin.bias.detach().clone()
    return mt.Layer(lib, "attn", save_activations=save_activations, **w)


class Block(torch.nn.Module):
    def __init__(self, attention):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.attention = attention
        self.fc1, self.fc2 = torch.nn.Linear(D, 4 * D), torch.nn.Linear(4 * D, D)

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def models(lib, blocks=2):
    """The mha-layer model, the SDPA model, the attention-op model (the
    SDPA model with mha's attention op in place of SDPA) and the mha-layer
    model with saved activations, same weights."""
    torch.manual_seed(0)
    peer = torch.nn.Sequential(*(Block(TorchAttention()) for _ in range(blocks)))
    ours = torch.nn.Sequential(*(Block(mha_attention(lib, b.attention)) for b in peer))
    saving = torch.nn.Sequential(*(Block(mha_attention(lib, b.attention, True))
                                   for b in peer))
    op = mt.Attention(lib, "attn_op", layout="blhd")
    with_op = torch.nn.Sequential(*(Block(TorchAttention(op)) for _ in range(blocks)))
    # The SDPA model's weights: its norms and MLPs in both, its projections
    # in the attention-op model too (mha_attention took them already).
    shared = ("ln1", "ln2", "fc1", "fc2")
    for model, names in ((ours, shared), (with_op, shared + ("attention",)),
                         (saving, shared)):
        for a, b in zip(model, peer):
            for name in names:
                getattr(a, name).load_state_dict(getattr(b, name).state_dict())
    return ours, peer, with_op, saving


def median_seconds(run, budget, least=3, most=20):
    run()
    times = []
    t_end = time.perf_counter() + budget
    while len(times) < least or (len(times) < most and time.perf_counter() < t_end):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def profile(lib, budget):
    """One attention layer alone, eager, ours against PyTorch's; then the
    mean time of our op inside the compiled model (torch.profiler)."""
    from torch.profiler import ProfilerActivity
    ours, peer, with_op, _ = models(lib)
    x = torch.randn(1, 1024, D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        alone = [median_seconds(lambda m=m: m[0].attention(x), budget) for m in (ours, peer)]
        print(f"one layer, eager: mha {1e3 * alone[0]:.1f} ms, "
              f"nn.Linear + SDPA {1e3 * alone[1]:.1f} ms")
        compiled = torch.compile(ours, dynamic=False)
        median_seconds(lambda: compiled(x), budget)
        with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                compiled(x)
    for event in prof.key_averages():
        if event.key.endswith("::attn"):
            print(f"the layer op inside the compiled model: "
                  f"{event.cpu_time_total / event.count / 1e3:.1f} ms per call "
                  f"({event.count} calls)")
    # A training step of each compiled model: where its time goes.
    for name, model in (("mha", ours), ("SDPA", peer), ("attention-op", with_op)):
        compiled = torch.compile(model, dynamic=False)
        step = step_of(model, compiled, x)
        median_seconds(step, budget)
        with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                step()
        print(f"a training step of the {name} model, ms per step (self time):")
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        for event in events[:6]:
            print(f"  {event.key[:56]:56s} {event.self_cpu_time_total / 3e3:7.1f} "
                  f"({event.count // 3} calls)")


def forward_of(run, x):
    def forward():
        with torch.no_grad():
            return run(x)
    return forward


def step_of(model, run, x):
    def step():
        model.zero_grad(set_to_none=True)
        run(x).square().mean().backward()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=4.0,
                    help="seconds per model and pass, over all rounds")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # Three models of two blocks each, with and without grad: more compiled
    # versions of Block.forward than dynamo keeps by default.
    torch._dynamo.config.recompile_limit = 64
    lib = mha.compile(SPEC)
    if args.profile:
        return profile(lib, args.budget)
    shapes = [(1, 256)] if args.quick else [(1, 512), (1, 1024), (4, 256)]
    print(f"A compiled model: 2 GPT-2 blocks (d={D}, {HEADS} heads), f32, "
          f"{args.threads} threads, torch {torch.__version__}")
    print("| B | L | mha infer ms | SDPA infer ms | infer ratio | mha train ms "
          "| SDPA train ms | train ratio | rel.err | own threads: infer ratio "
          "| train ratio | attention op: infer ratio | train ratio | rel.err "
          "| saved layer: train ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for b, n in shapes:
        torch._dynamo.reset()  # Each shape's compilations from scratch.
        ours, peer, with_op, saving = models(lib)
        all_models = (ours, peer, with_op, saving)
        compiled = [torch.compile(m, dynamic=False) for m in all_models]
        x = torch.randn(b, n, D, generator=torch.Generator().manual_seed(1))
        outs, runs = [], []
        for model, run in zip(all_models, compiled):
            forward, step = forward_of(run, x), step_of(model, run, x)
            outs.append(forward())
            step()  # Compiles the backward too.
            runs.append((forward, step))
        # (mha, SDPA, attention op, saved layer, mha on its own threads) x
        # (infer, train): interleaved rounds, best median of each, so a
        # noisy host moves all alike.
        best = [[float("inf")] * 2 for _ in range(5)]
        for _ in range(args.rounds):
            for v, (forward, step) in enumerate(runs + runs[:1]):
                lib.use_torch_threads(v != 4)
                for m, f in enumerate((forward, step)):
                    best[v][m] = min(best[v][m],
                                     median_seconds(f, args.budget / args.rounds))
        lib.use_torch_threads(True)
        err = rel_err(outs[0], outs[1])
        op_err = rel_err(outs[2], outs[1])
        # The mha layer's parameters are ordered wq, wk, ..., bo; compare the
        # norms' and MLPs' gradients (the same parameters in both models);
        # the attention-op model has every parameter of the SDPA model.
        named = [dict(m.named_parameters()) for m in all_models]
        for name, p in named[1].items():
            if name in named[0] and "attention" not in name:
                err = max(err, rel_err(named[0][name].grad, p.grad),
                          rel_err(named[3][name].grad, p.grad))
            if not name.endswith("attention.k.bias"):  # Zero in exact arithmetic.
                op_err = max(op_err, rel_err(named[2][name].grad, p.grad))
        err = max(err, rel_err(outs[3], outs[1]))
        (mi, mt_), (si, st), (pi, pt), (_, vt), (oi, ot) = best
        print(f"| {b} | {n} | {1e3 * mi:.2f} | {1e3 * si:.2f} | {si / mi:.2f}x | "
              f"{1e3 * mt_:.2f} | {1e3 * st:.2f} | {st / mt_:.2f}x | {err:.1e} | "
              f"{si / oi:.2f}x | {st / ot:.2f}x | {si / pi:.2f}x | {st / pt:.2f}x | "
              f"{op_err:.1e} | {st / vt:.2f}x |", flush=True)

if __name__ == "__main__":
    main()
