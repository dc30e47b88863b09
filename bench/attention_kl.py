#!/usr/bin/env python3
"""bench/attention_kl.py - the attention-transfer loss of distillation
(mha.attention_kl, docs/language.md 4.9) against PyTorch materialising both
attention maps, in one run: time and memory.

Usage (a Python with NumPy and torch; docs/performance.md, "Distillation
loss"):

  python bench/attention_kl.py                 # L = 1024, 2048, 4096
  python bench/attention_kl.py --lens 4096 --threads 2 --causal

What it does:
- compiles bench/out/attention_kl/spec.mlir with build/bin/mha-compile
  (MHA_COMPILE overrides): a teacher of 12 heads of D_t = 64 and a student of
  12 heads of D_s = 32 (BERT-base into a 384-wide MiniLM), f32, B = 1, with
  the student gradient (mha.backward);
- PyTorch's loss: S = Q K^T * scale for both models, log_softmax of each,
  F.kl_div(log P_s, log P_t, log_target=True) summed over the keys; its
  gradient by autograd with respect to the student's q and k;
- times each (one warm-up, then the median of the calls that fit in
  --budget seconds), the loss alone and the loss plus the gradient;
- measures the peak resident memory each adds to a fresh process holding
  only the inputs (a subprocess per implementation and length: VmHWM of
  /proc/self/status, reset through /proc/self/clear_refs once the inputs
  exist);
- checks our kl and gradients against PyTorch's (relative L2 error above
  1e-4 prints WRONG).
Prints a Markdown table.
"""
import argparse
import os
import subprocess
import sys

from benchlib import build_library, median_seconds  # first: it sets NumPy's BLAS threads
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
from mha._dlpack import from_numpy, options  # noqa: E402

H, DT, DS = 12, 64, 32


def spec_text(causal):
    qt, qs = f"tensor<1x{H}x?x{DT}xf32>", f"tensor<1x{H}x?x{DS}xf32>"
    r = f"tensor<1x{H}x?xf32>"
    attrs = " {causal}" if causal else ""
    return f"""
func.func @kl(%qt: {qt}, %kt: {qt}, %qs: {qs}, %ks: {qs}) -> ({r}, {r}, {r})
    attributes {{mha.backward}} {{
  %kl, %lt, %ls = mha.attention_kl %qt, %kt, %qs, %ks{attrs}
      : {qt}, {qt}, {qs}, {qs} -> {r}, {r}, {r}
  return %kl, %lt, %ls : {r}, {r}, {r}
}}
"""


def inputs(length):
    rng = np.random.default_rng(0)
    qt = rng.standard_normal((1, H, length, DT), dtype=np.float32)
    kt = rng.standard_normal((1, H, length, DT), dtype=np.float32)
    qs = rng.standard_normal((1, H, length, DS), dtype=np.float32)
    ks = rng.standard_normal((1, H, length, DS), dtype=np.float32)
    dkl = rng.standard_normal((1, H, length), dtype=np.float32)
    return qt, kt, qs, ks, dkl


def torch_loss(torch, qt, kt, qs, ks, causal):
    st = (qt @ kt.transpose(-1, -2)) * DT ** -0.5
    ss = (qs @ ks.transpose(-1, -2)) * DS ** -0.5
    if causal:
        hidden = torch.ones(st.shape[-2:], dtype=torch.bool).triu(1)
        st = st.masked_fill(hidden, -torch.inf)
        ss = ss.masked_fill(hidden, -torch.inf)
    lpt, lps = st.log_softmax(-1), ss.log_softmax(-1)
    terms = torch.nn.functional.kl_div(lps, lpt, log_target=True, reduction="none")
    if causal:
        terms = terms.masked_fill(hidden, 0.0)
    return terms.sum(-1)


class Ours:
    def __init__(self, lib, arrays, threads):
        qt, kt, qs, ks, dkl = arrays
        shape = dkl.shape
        self.kl, self.lse_t, self.lse_s = (np.empty(shape, np.float32) for _ in range(3))
        self.dq, self.dk = np.empty_like(qs), np.empty_like(ks)
        opts = options(threads)
        t = from_numpy
        self.loss = lib.function("kl", 7).prepare(
            [t(x) for x in (qt, kt, qs, ks, self.kl, self.lse_t, self.lse_s)], opts)
        self.grad = lib.function("kl_backward", 9).prepare(
            [t(x) for x in (qt, kt, qs, ks, self.lse_t, self.lse_s, dkl, self.dq, self.dk)],
            opts)

    def run_loss(self):
        if self.loss():
            raise RuntimeError("kl failed")

    def run_both(self):
        self.run_loss()
        if self.grad():
            raise RuntimeError("kl_backward failed")


def status_mib(field):
    """A size of /proc/self/status in MiB (VmRSS now, VmHWM its peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_mib():
    """Resets the peak (VmHWM) to the current resident size and returns it."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_mib("VmRSS")


def measure_memory(args):
    """Child mode: the peak memory one loss-and-gradient adds, in MiB."""
    import torch
    torch.set_num_threads(args.threads)
    arrays = inputs(args.memory_len)
    if args.memory == "ours":
        lib = build_library(args.out, "kl", spec_text(args.causal))
        ours = Ours(lib, arrays, args.threads)
        before = reset_peak_mib()
        ours.run_both()
    else:
        tq = [torch.from_numpy(x) for x in arrays]
        qs = tq[2].clone().requires_grad_()
        ks = tq[3].clone().requires_grad_()
        before = reset_peak_mib()
        torch_loss(torch, tq[0], tq[1], qs, ks, args.causal).backward(tq[4])
    print(f"{status_mib('VmHWM') - before:.1f}")


def memory_of(args, which, length):
    cmd = [sys.executable, os.path.abspath(__file__), "--memory", which,
           "--memory-len", str(length), "--threads", str(args.threads)]
    if args.causal:
        cmd.append("--causal")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def rel_err(x, ref):
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lens", default="1024,2048,4096")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--budget", type=float, default=6.0)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--memory", choices=["ours", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--memory-len", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.path.join(HERE, "out", "attention_kl"))
    args = p.parse_args()
    if args.memory:
        return measure_memory(args)
    import torch
    torch.set_num_threads(args.threads)
    lib = build_library(args.out, "kl", spec_text(args.causal))
    print(f"teacher {H}x{DT}, student {H}x{DS}, f32, B=1, "
          f"{'causal' if args.causal else 'no mask'}, {args.threads} threads\n")
    print("| L | ours loss ms | torch loss ms | speed-up | ours loss+grad ms "
          "| torch loss+grad ms | speed-up | ours MiB | torch MiB | memory ratio | error |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for length in (int(x) for x in args.lens.split(",")):
        arrays = inputs(length)
        ours = Ours(lib, arrays, args.threads)
        tq = [torch.from_numpy(x) for x in arrays]
        qs = tq[2].clone().requires_grad_()
        ks = tq[3].clone().requires_grad_()

        def torch_forward():
            with torch.no_grad():
                return torch_loss(torch, tq[0], tq[1], tq[2], tq[3], args.causal)

        def torch_both():
            qs.grad = ks.grad = None
            torch_loss(torch, tq[0], tq[1], qs, ks, args.causal).backward(tq[4])

        t_ours = median_seconds(ours.run_loss, args.budget)
        t_torch = median_seconds(torch_forward, args.budget)
        tb_ours = median_seconds(ours.run_both, args.budget)
        tb_torch = median_seconds(torch_both, args.budget)
        err = max(rel_err(ours.kl, torch_forward()), rel_err(ours.dq, qs.grad),
                  rel_err(ours.dk, ks.grad))
        m_ours = memory_of(args, "ours", length)
        m_torch = memory_of(args, "torch", length)
        flag = "" if err < 1e-4 else " WRONG"
        print(f"| {length} | {t_ours * 1e3:.1f} | {t_torch * 1e3:.1f} | "
              f"{t_torch / t_ours:.2f}x | {tb_ours * 1e3:.1f} | {tb_torch * 1e3:.1f} | "
              f"{tb_torch / tb_ours:.2f}x | {m_ours:.1f} | {m_torch:.0f} | "
              f"{m_torch / max(m_ours, 0.1):.0f}x | {err:.1e}{flag} |", flush=True)


if __name__ == "__main__":
    main()
