#!/usr/bin/env python3
"""Whole-layer benchmark (issue 5): our compiled mha.multi_head against
PyTorch on the same inputs, each timed in a process of its own.

  bench/run.sh --layers [--quick]          (or: bench/.venv/bin/python bench/layers.py)

Rows: a LLaMA-style layer (d=4096, 32 heads, 8 KV heads, RoPE, causal,
L=2048, B=1; f32 and bf16), a GPT-2-style layer (d=768, 12 heads, biases,
causal, L=1024) and the GPT-2 layer with half its heads pruned by a static
head_mask. Peers: torch.nn.functional projections (F.linear, RoPE in
eager ops) + scaled_dot_product_attention, and torch.nn.MultiheadAttention
where it applies (no GQA, no RoPE). GFLOP/s count the projections
(2*B*L*d*(Hq+2*Hkv)*D + 2*B*L*Hq*D*d) and the attention (4*B*Hq*L^2*D,
halved for causal); the pruned row counts the dense layer's FLOPs, so its
time is what to compare. A second table compares our GEMM phases (timed by
MHA_PROFILE=1 mha-run) with NumPy's OpenBLAS on the same products. Specs
are compiled with build/bin/mha-compile into bench/out/layers/.

Method (as bench.py's): every implementation runs in a worker process of
its own (this script with --worker) on inputs drawn from the same seed, the
peers' order alternates from row to row, ours is timed first and again last
(the 'rerun' column: the second time relative to the first, '!' above 10%),
and each worker saves its output for the error column.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
from mha import reference as R  # noqa: E402
from mha._dlpack import options  # noqa: E402
from mha._library import Library  # noqa: E402

SPREAD_FLAG = 0.10


def layer_spec(name, dt, d, hq, hkv, dh, L, rope=None, bias=False,
               causal=True, mask=None):
    """The spec text of one exported layer function (static B = 1)."""
    t = f"tensor<1x{L}x{d}x{dt}>"
    wq, wkv, wo = (f"tensor<{d}x{hq * dh}x{dt}>", f"tensor<{d}x{hkv * dh}x{dt}>",
                   f"tensor<{hq * dh}x{d}x{dt}>")
    args = [("x", t), ("wq", wq), ("wk", wkv), ("wv", wkv), ("wo", wo)]
    attrs = [f"num_heads = {hq}", f"num_kv_heads = {hkv}"]
    if bias:
        args += [("bq", f"tensor<{hq * dh}x{dt}>"), ("bk", f"tensor<{hkv * dh}x{dt}>"),
                 ("bv", f"tensor<{hkv * dh}x{dt}>"), ("bo", f"tensor<{d}x{dt}>")]
        attrs += ["has_qkv_bias", "has_out_bias"]
    if rope:
        attrs.append(f"rope_theta = {rope:.1f} : f32")
    if causal:
        attrs.append("causal")
    if mask is not None:
        attrs.append("head_mask = array<i1: " +
                     ", ".join("true" if m else "false" for m in mask) + ">")
    sig = ", ".join(f"%{n}: {ty}" for n, ty in args)
    ops = ", ".join(f"%{n}" for n, _ in args)
    tys = ", ".join(ty for _, ty in args)
    return (f"func.func @{name}({sig}) -> {t} {{\n"
            f"  %y = mha.multi_head {ops} {{{', '.join(attrs)}}} : {tys} -> {t}\n"
            f"  return %y : {t}\n}}\n")


def shapes(quick):
    llama_L = 512 if quick else 2048
    gpt_L = 256 if quick else 1024
    half = [h % 2 == 0 for h in range(12)]
    return [
        dict(name="llama_f32", dt="f32", d=4096, hq=32, hkv=8, dh=128, L=llama_L,
             rope=10000.0, bias=False),
        dict(name="llama_bf16", dt="bf16", d=4096, hq=32, hkv=8, dh=128, L=llama_L,
             rope=10000.0, bias=False),
        dict(name="gpt2_f32", dt="f32", d=768, hq=12, hkv=12, dh=64, L=gpt_L,
             rope=None, bias=True),
        dict(name="gpt2_half_pruned_f32", dt="f32", d=768, hq=12, hkv=12, dh=64,
             L=gpt_L, rope=None, bias=True, mask=half),
    ]


def flops(s):
    L, d, hq, hkv, dh = s["L"], s["d"], s["hq"], s["hkv"], s["dh"]
    return (2.0 * L * d * (hq + 2 * hkv) * dh + 2.0 * L * hq * dh * d +
            4.0 * hq * L * L * dh * 0.5)


def time_it(run, reps):
    run()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def inputs(s, seed):
    """The row's inputs: the same in every worker (seed and row name)."""
    rng = np.random.default_rng([seed, sum(map(ord, s["name"]))])
    d, hq, hkv, dh, L = s["d"], s["hq"], s["hkv"], s["dh"], s["L"]
    t = {"x": rng.standard_normal((1, L, d), dtype=np.float32),
         "wq": rng.standard_normal((d, hq * dh), dtype=np.float32) / np.sqrt(d),
         "wk": rng.standard_normal((d, hkv * dh), dtype=np.float32) / np.sqrt(d),
         "wv": rng.standard_normal((d, hkv * dh), dtype=np.float32) / np.sqrt(d),
         "wo": rng.standard_normal((hq * dh, d), dtype=np.float32) / np.sqrt(hq * dh)}
    if s["bias"]:
        for n, c in (("bq", hq * dh), ("bk", hkv * dh), ("bv", hkv * dh), ("bo", d)):
            t[n] = rng.standard_normal((c,), dtype=np.float32) * 0.1
    t = {n: a.astype(np.float32) for n, a in t.items()}
    if s["dt"] == "bf16":  # the values both sides see
        t = {n: R.bf16_bits_to_f32(R.f32_to_bf16_bits(a)) for n, a in t.items()}
    return t


def prep_ours(lib, s, t, threads):
    bf16 = s["dt"] == "bf16"
    names = ["x", "wq", "wk", "wv", "wo"] + (["bq", "bk", "bv", "bo"] if s["bias"] else [])
    store = [R.f32_to_bf16_bits(t[n]) if bf16 else np.ascontiguousarray(t[n])
             for n in names]
    y = np.zeros(t["x"].shape, dtype=np.uint16 if bf16 else np.float32)
    call = lib.function(s["name"], len(store) + 1).prepare(
        store + [y], options(threads), dtype="bf16" if bf16 else None)
    return call.run, lambda _: R.bf16_bits_to_f32(y) if bf16 else y


def torch_layer(torch, s, t, threads):
    """F.linear projections, RoPE in eager ops, SDPA, output F.linear."""
    F = torch.nn.functional
    dtype = torch.bfloat16 if s["dt"] == "bf16" else torch.float32
    T = {n: torch.from_numpy(a).to(dtype) for n, a in t.items()}
    # F.linear takes [out, in] weights.
    W = {n: T[n].t().contiguous() for n in ("wq", "wk", "wv", "wo")}
    L, hq, hkv, dh = s["L"], s["hq"], s["hkv"], s["dh"]
    mask = s.get("mask")
    cos = sin = None
    if s["rope"]:
        inv = 1.0 / (s["rope"] ** (torch.arange(0, dh // 2, dtype=torch.float64) * 2 / dh))
        ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
        cos = torch.cat([ang.cos(), ang.cos()], -1).to(dtype)
        sin = torch.cat([ang.sin(), ang.sin()], -1).to(dtype)

    def rope(z):
        z1, z2 = z[..., : dh // 2], z[..., dh // 2:]
        return z * cos + torch.cat([-z2, z1], -1) * sin

    def run():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            x = T["x"]
            q = F.linear(x, W["wq"], T.get("bq")).view(1, L, hq, dh).transpose(1, 2)
            k = F.linear(x, W["wk"], T.get("bk")).view(1, L, hkv, dh).transpose(1, 2)
            v = F.linear(x, W["wv"], T.get("bv")).view(1, L, hkv, dh).transpose(1, 2)
            if cos is not None:
                q, k = rope(q), rope(k)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               enable_gqa=hq != hkv)
            if mask is not None:
                o = o * torch.tensor(mask, dtype=dtype)[None, :, None, None]
            o = o.transpose(1, 2).reshape(1, L, hq * dh)
            return F.linear(o, W["wo"], T.get("bo"))
    return run, lambda out: out.float().numpy()


def torch_mha_module(torch, s, t, threads):
    """torch.nn.MultiheadAttention with our weights (no GQA, no RoPE)."""
    if s["rope"] or s["hq"] != s["hkv"] or s.get("mask") is not None:
        return None
    d, L = s["d"], s["L"]
    dtype = torch.bfloat16 if s["dt"] == "bf16" else torch.float32
    m = torch.nn.MultiheadAttention(d, s["hq"], bias=s["bias"], batch_first=True)
    with torch.no_grad():
        m.in_proj_weight.copy_(torch.from_numpy(
            np.concatenate([t["wq"].T, t["wk"].T, t["wv"].T], 0)))
        m.out_proj.weight.copy_(torch.from_numpy(t["wo"].T))
        if s["bias"]:
            m.in_proj_bias.copy_(torch.from_numpy(np.concatenate([t["bq"], t["bk"], t["bv"]])))
            m.out_proj.bias.copy_(torch.from_numpy(t["bo"]))
    m = m.to(dtype).eval()
    x = torch.from_numpy(t["x"]).to(dtype)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=dtype)

    def run():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            return m(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)[0]
    return run, lambda out: out.float().numpy()


def gemm_rows(s, mha_run, spec, lib_path, reps, blas):
    """Our projection phases (MHA_PROFILE=1 mha-run, a process of its own)
    against NumPy's OpenBLAS on the same products (blas: the gemm_blas
    worker's times): x [L, d] times [Wq|Wk|Wv], and the attention output
    [L, Hq*D] times Wo."""
    env = dict(os.environ, MHA_PROFILE="1")
    r = subprocess.run([mha_run, spec, lib_path, "--function", s["name"], "--time-only",
                        "--repeats", str(reps)], env=env, capture_output=True, text=True)
    phases = {}
    for line in r.stderr.splitlines():
        m = re.search(r"phase (\d+) \(\d+ work items\): ([0-9.]+) ms", line)
        if m:
            phases.setdefault(int(m.group(1)), []).append(float(m.group(2)) / 1e3)
    # Phase 0 packs every weight, then the RoPE table (if any), Q/K/V, the
    # attention and the output projection.
    first = 2 if s["rope"] else 1
    if first + 2 not in phases:
        return None
    med = {p: sorted(v)[len(v) // 2] for p, v in phases.items()}
    L, d, hq, hkv, dh = s["L"], s["d"], s["hq"], s["hkv"], s["dh"]
    # Each GEMM is charged its share of the packing (by weight size), as
    # OpenBLAS packs inside its calls.
    qkv_share = (hq + 2 * hkv) / (2 * hq + 2 * hkv)
    qkv_time = med[first] + qkv_share * med[0]
    out_time = med[first + 2] + (1 - qkv_share) * med[0]
    qkv_flops = 2.0 * L * d * (hq + 2 * hkv) * dh
    out_flops = 2.0 * L * hq * dh * d
    if blas.get("status") != "ok":
        return None
    blas_qkv, blas_out = blas["qkv_s"], blas["out_s"]
    return (qkv_flops / qkv_time * 1e-9, qkv_flops / blas_qkv * 1e-9,
            out_flops / out_time * 1e-9, out_flops / blas_out * 1e-9)


# ----------------------------------------------------------------------------
# Workers: one process per implementation and row
# ----------------------------------------------------------------------------
def worker_main(task_path):
    with open(task_path) as f:
        task = json.load(f)
    rec = {}
    try:
        s, impl, threads, reps = task["row"], task["impl"], task["threads"], task["reps"]
        t = inputs(s, task["seed"])
        if impl == "ours":
            run, get = prep_ours(Library(task["lib"]), s, t, threads)
        elif impl == "gemm_blas":
            # NumPy's OpenBLAS on the layer's two GEMM shapes.
            L, d, hq, dh = s["L"], s["d"], s["hq"], s["dh"]
            x = t["x"].reshape(L, d)
            wqkv = np.concatenate([t["wq"], t["wk"], t["wv"]], axis=1)
            o = np.ascontiguousarray(np.random.default_rng(1).standard_normal(
                (L, hq * dh), dtype=np.float32))
            rec = {"status": "ok", "qkv_s": time_it(lambda: x @ wqkv, reps),
                   "out_s": time_it(lambda: o @ t["wo"], reps)}
            run = None
        else:
            import torch
            torch.set_num_threads(threads)
            made = (torch_layer if impl == "torch_layer" else torch_mha_module)(
                torch, s, t, threads)
            if made is None:
                rec = {"status": "n/a"}
                run = None
            else:
                prun, get = made
                res = {}

                def run():
                    res["o"] = prun()
        if run is not None:
            rec = {"status": "ok", "median_s": time_it(run, reps)}
            out = get(res["o"] if impl != "ours" else None)
            np.save(task["save"], np.ascontiguousarray(out, dtype=np.float32))
    except Exception as e:  # noqa: BLE001
        rec = {"status": "error", "reason": f"{type(e).__name__}: {e}".splitlines()[0]}
    with open(task["result"], "w") as f:
        json.dump(rec, f)
    sys.stdout.flush()
    os._exit(0)


def run_worker(work, task, settle_s=1.0):
    """One worker process, after a pause of settle_s (the previous worker's
    memory is still being returned to the kernel when it exits)."""
    time.sleep(settle_s)
    tpath = os.path.join(work, "task.json")
    rpath = os.path.join(work, "result.json")
    if os.path.exists(rpath):
        os.remove(rpath)
    task = dict(task, result=rpath)
    with open(tpath, "w") as f:
        json.dump(task, f)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", tpath],
                       capture_output=True, text=True)
    if not os.path.exists(rpath):
        tail = (p.stdout + p.stderr).strip().splitlines()
        return {"status": "error", "reason": f"worker exited {p.returncode}: "
                + (tail[-1] if tail else "no output")}
    with open(rpath) as f:
        return json.load(f)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="regex on row names")
    args = ap.parse_args()
    out = os.path.join(HERE, "out", "layers")
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    compile_bin = os.environ.get("MHA_COMPILE", os.path.join(ROOT, "build", "bin", "mha-compile"))
    rows = shapes(args.quick)
    if args.only:
        rows = [r for r in rows if re.search(args.only, r["name"])]
    spec = "".join(layer_spec(r["name"], r["dt"], r["d"], r["hq"], r["hkv"], r["dh"], r["L"],
                              r["rope"], r["bias"], True, r.get("mask")) for r in rows)
    path = os.path.join(out, "layers.mlir")
    with open(path, "w") as f:
        f.write(spec)
    lib_path = os.path.join(out, "liblayers.so")
    subprocess.run([compile_bin, path, "-o", lib_path], check=True)
    load = os.getloadavg()[0]
    print(f"threads={args.threads}, reps={args.reps} (median), each implementation in a "
          f"process of its own; load avg {load:.2f}")
    print(f"{'layer':24} {'ours ms':>9} {'GF/s':>7} {'rerun':>7} | {'F+SDPA ms':>9} {'x':>5} | "
          f"{'nn.MHA ms':>9} {'x':>5} | rel.err vs F+SDPA")
    gemm_lines = []
    results = []
    peers = ["torch_layer", "torch_mha"]
    for n, s in enumerate(rows):
        order = ["ours"] + (peers if n % 2 == 0 else peers[::-1]) + ["ours"]
        rec = {}
        for pos, impl in enumerate(order):
            key = "ours_again" if impl == "ours" and pos else impl
            rec[key] = run_worker(work, dict(row=s, impl=impl, threads=args.threads,
                                             reps=args.reps, seed=args.seed, lib=lib_path,
                                             save=os.path.join(work, f"{key}.npy")))
        ours = rec["ours"].get("median_s")
        again = rec["ours_again"].get("median_s")
        if not ours:
            print(f"{s['name']:24} ours failed: {rec['ours'].get('reason')}", flush=True)
            continue
        sp = (again - ours) / ours if again else None
        line = (f"{s['name']:24} {ours * 1e3:9.1f} {flops(s) / ours * 1e-9:7.1f} "
                + (f"{100 * sp:+6.0f}%" + ("!" if abs(sp) > SPREAD_FLAG else " ")
                   if sp is not None else f"{'-':>8}") + " |")
        for impl in peers:
            pt = rec[impl].get("median_s")
            if pt is None:
                line += f" {'n/a':>9} {'':>5} |"
            else:
                line += f" {pt * 1e3:9.1f} {pt / ours:5.2f} |"
        err = None
        if rec["torch_layer"].get("median_s"):
            err = R.rel_err(np.load(os.path.join(work, "ours.npy")),
                            np.load(os.path.join(work, "torch_layer.npy")))
            line += f" {err:.2e}"
        for f_ in ("ours.npy", "ours_again.npy", "torch_layer.npy", "torch_mha.npy"):
            if os.path.exists(os.path.join(work, f_)):
                os.remove(os.path.join(work, f_))
        print(line, flush=True)
        results.append(dict(row=s["name"], flops=flops(s), rel_err=err, spread=sp,
                            **{k: v for k, v in rec.items()}))
        if s["dt"] == "f32" and s.get("mask") is None:
            blas = run_worker(work, dict(row=s, impl="gemm_blas", threads=args.threads,
                                         reps=args.reps, seed=args.seed))
            g = gemm_rows(s, os.path.join(os.path.dirname(compile_bin), "mha-run"),
                          path, lib_path, args.reps, blas)
            if g:
                gemm_lines.append(f"{s['name']:24} {g[0]:9.1f} {g[1]:9.1f} {g[0] / g[1]:5.2f} | "
                                  f"{g[2]:9.1f} {g[3]:9.1f} {g[2] / g[3]:5.2f}")
    print("\nGEMMs, f32 GFLOP/s (ours: the projection phases; OpenBLAS: NumPy matmul)")
    print(f"{'layer':24} {'QKV ours':>9} {'OpenBLAS':>9} {'x':>5} | {'out ours':>9} "
          f"{'OpenBLAS':>9} {'x':>5}")
    for g in gemm_lines:
        print(g)
    print(f"\nload avg after {os.getloadavg()[0]:.2f}; 'rerun' = ours timed again after "
          f"the peers, relative to the first time ('!' above {100 * SPREAD_FLAG:.0f}%)")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(threads=args.threads, reps=args.reps, load_before=load,
                       load_after=os.getloadavg()[0], rows=results,
                       gemm=gemm_lines), f, indent=1)


if __name__ == "__main__":
    main()
