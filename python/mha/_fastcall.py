"""The fast path of a call (docs/python.md, "Overhead").

Function.__call__ spends a few microseconds on bookkeeping that most calls
do not need: options, bf16 views, devices, frameworks without DLPack export.
For the common call, arrays of one kind with at most num_threads given,
this module generates straight-line code per function and array kind:
the inputs' ranks checked, the results allocated from the inputs' sizes,
the native call, the status. Anything else (other options, a rank the spec
does not have) returns SLOW and takes the general path, which raises the
same errors as before.
"""

# Returned by a fast call that cannot handle its arguments.
SLOW = object()


def build(function, first, runtime):
    """fast(num_threads, *arrays) for calls whose first array has the type
    of `first`, or None where the function or that type does not qualify.
    `runtime` is mha._runtime (its kinds and lazily imported modules)."""
    f = function
    if f._shapes is None:
        return None
    kind = runtime._kind_of(first)
    if kind == runtime._NUMPY and f.library.target in ("cpu", "auto"):
        N = runtime._numpy()
        if any(p.dtype not in N.dtypes or p.dtype == "bf16" for p in f.params):
            return None  # ml_dtypes' bf16 arrays go as uint16: the general path
        return _generate(f, torch=None, numpy=N, runtime=runtime)
    if kind == runtime._TORCH and f._cpu and type(first).__name__ == "Tensor":
        N = runtime._numpy_or_none()
        if N is None:
            return None
        return _generate(f, torch=runtime._torch(), numpy=N, runtime=runtime)
    return None


def _generate(f, torch, numpy, runtime):
    n = f._n_in
    args = ", ".join(f"a{i}" for i in range(n))
    lines = [f"def fast(num_threads, {args}):"]
    lines.append("    try:")
    lines += [f"        s{i} = a{i}.shape" for i in range(n)]
    lines += ["    except AttributeError:", "        return SLOW"]
    cond = " or ".join(f"len(s{i}) != {r}" for i, r in enumerate(f._ranks))
    if cond:
        lines += [f"    if {cond}:", "        return SLOW"]
    scope = {"SLOW": SLOW, "empty": numpy.mod.empty, "native": f._native,
             "Error": runtime.Error, "last_error": f.library._native.last_error,
             "name": f.name}
    results, bf16 = [], 0
    for j, (p, plan) in enumerate(f._plans):
        dims = [str(d) if i < 0 else f"s{i}[{d}]" for i, d in plan]
        shape = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        if p.dtype == "bf16":  # torch only: uint16 storage viewed as bf16
            scope[f"dt{j}"] = numpy.mod.uint16
            bf16 |= 1 << (n + j)
            results.append(f"from_numpy(r{j}).view(bfloat16)")
        else:
            scope[f"dt{j}"] = numpy.dtypes[p.dtype]
            results.append(f"from_numpy(r{j})" if torch else f"r{j}")
        lines.append(f"    r{j} = empty({shape}, dt{j})")
    inputs = [f"to_dlpack(a{i})" if torch else f"a{i}" for i in range(n)]
    tensors = ", ".join(inputs + [f"r{j}" for j in range(len(results))])
    extra = f", None, 0, 0, {bf16}" if bf16 else ""
    lines += [f"    status = native([{tensors}], num_threads{extra})",
              "    if status:",
              "        raise Error(status, last_error(), name)"]
    if not results:
        lines.append("    return None")
    elif len(results) == 1:
        lines.append(f"    return {results[0]}")
    else:
        lines.append("    return (" + ", ".join(results) + ",)")
    if torch:
        scope.update(to_dlpack=torch.mod._C._to_dlpack, from_numpy=torch.mod.from_numpy,
                     bfloat16=torch.mod.bfloat16)
    exec(compile("\n".join(lines), f"<mha {f.name} fast call>", "exec"), scope)
    return scope["fast"]
