"""PyTorch integration: custom ops with fake kernels and autograd.

    lib = mha.compile(spec_text)
    ops = mha.torch.register(lib)
    o, lse = ops.attn(q, k, v)                 # torch.ops.mha_<hash>.attn
    layer = mha.torch.Attention(lib, "attn")   # an nn.Module returning o

`register(lib)` makes every exported forward function of the library a
`torch.library.custom_op` in a namespace of its own (`mha_` and 16 hex
digits of the library's cache key, so two libraries never clash):

    NAME(Tensor q, Tensor k, Tensor v, Tensor? head_mask=None,
         int num_threads=0) -> Tensor | (Tensor, ...)

with one Tensor per argument of the spec's function, the results in the
spec's order, a fake (meta) kernel that sizes the results from the spec's
signature (so torch.compile, including dynamic shapes, traces it without
running it), and, when the function is marked `mha.backward`, autograd
through a second op `NAME_backward` that calls the library's
`<name>_backward`. A gradient that reaches `lse` (or `probs`) raises
mha.Error: the C backward takes none. Inputs whose last dimension is not
contiguous are copied (the C functions need stride 1 there); any other
strides pass as they are.

Context parallelism (mha/_ring.py): `ring_attention(q, k, v, fn=lib.NAME,
group=None)` over torch.distributed, `ring_shard(x, group)` and
`ring_unshard(x, group)` (the balanced layout), `merge_states`.
"""
import hashlib

import torch

from . import _runtime
from ._errors import Error
# Context parallelism (mha/_ring.py): ring attention over torch.distributed.
from ._ring import head_sees, merge_states, ring_attention, ring_shard, ring_unshard  # noqa: F401

_registered = {}


def _contiguous_last(t):
    return t if t.dim() == 0 or t.stride(-1) == 1 or t.size(-1) <= 1 else t.contiguous()


def _namespace(lib):
    key = lib.key or hashlib.sha256(lib.path.encode()).hexdigest()
    return "mha_" + key[:16]


class Ops(_runtime.AttributeTable):
    """The custom ops of one library: attribute NAME is the op of exported
    function NAME (a torch.library.CustomOpDef; also torch.ops.<namespace>.
    NAME); `namespace` is the library's torch.ops namespace."""
    _table, _noun = "ops", "op"

    def __init__(self, lib, namespace):
        self.library = lib
        self.namespace = namespace
        self.ops = {}
        # NAME -> the op of NAME_backward (what autograd calls).
        self.backward_ops = {}


def register(lib):
    """The custom ops of every exported forward function of `lib` (an
    mha.Library); registering the same library again returns the same Ops."""
    if not isinstance(lib, _runtime.Library):
        raise TypeError("mha.torch.register takes an mha.Library (mha.compile's result)")
    ns = _namespace(lib)
    ops = _registered.get(ns)
    if ops is not None:
        return ops
    if lib.target != "cpu":
        raise Error(None, "mha.torch.register: only CPU libraries have torch ops so far "
                    "(docs/python.md)", status_name_="MHA_ERR_DEVICE")
    ops = Ops(lib, ns)
    for f in lib.forward_functions():
        ops.ops[f.name] = _make_op(lib, ns, f, ops.backward_ops)
    _registered[ns] = ops
    return ops


def _fill(args, kwargs, names, defaults):
    """The optional arguments of an op call by position, then by name, then
    their defaults (the dispatcher drops arguments equal to their
    defaults)."""
    return [args[i] if i < len(args) else kwargs.get(n, d)
            for i, (n, d) in enumerate(zip(names, defaults))]


def _options(extra, kwargs):
    return _fill(extra, kwargs, ["head_mask", "num_threads"], [None, 0])


def _schema(f, results):
    # The caches of an append function are written in place: mutable
    # aliases (Tensor(a!)), and the op returns nothing.
    mutable = iter("abcdefgh")
    args = ", ".join(f"Tensor({next(mutable)}!) {p.name}" if p.role in _runtime._IN_PLACE
                     else f"Tensor {p.name}" for p in f.inputs)
    ret = "Tensor" if results == 1 else "(" + ", ".join(["Tensor"] * results) + ")"
    return f"({args}, Tensor? head_mask=None, int num_threads=0) -> {ret}"


def _fake_results(f, tensors):
    like = tensors[0]
    dtypes = _runtime._torch().dtypes
    shapes = f.result_shapes([t.shape for t in tensors])
    outs = [like.new_empty(s, dtype=dtypes[p.dtype]) for s, p in zip(shapes, f.outputs)]
    if not outs:
        return None
    return outs[0] if len(outs) == 1 else tuple(outs)


def _make_op(lib, ns, f, ops_backward):
    n_in = len(f.inputs)
    in_place = [p.role in _runtime._IN_PLACE for p in f.inputs]

    def impl(*args, **kwargs):
        # Written in place: passed as they are (the C function names a
        # non-contiguous last dimension).
        tensors = [t if w else _contiguous_last(t) for t, w in zip(args[:n_in], in_place)]
        head_mask, num_threads = _options(args[n_in:], kwargs)
        return f(*tensors, num_threads=num_threads, head_mask=head_mask)

    def fake(*args, **kwargs):
        return _fake_results(f, args[:n_in])

    mutates = tuple(p.name for p, w in zip(f.inputs, in_place) if w)
    op = torch.library.custom_op(f"{ns}::{f.name}", impl, mutates_args=mutates,
                                 device_types="cpu", schema=_schema(f, len(f.outputs)))
    op.register_fake(fake)
    back = lib.backward_of(f.name)
    plan = _runtime.backward_plan(f, back)
    if plan is not None:
        _register_autograd(lib, ns, f, back, plan, op, ops_backward)
    return op


def _register_autograd(lib, ns, f, back, plan, op, ops_backward):
    n_in = len(f.inputs)
    sources, grad_targets, differentiable = plan

    # The gradients of the results the C backward takes none of (lse, ...):
    # the backward op gets them too and raises at run time when one is not
    # all zeros (under torch.compile an unused result's gradient arrives as
    # zeros, so the check cannot be made while tracing).
    extra = [j for j in range(len(f.outputs)) if j not in differentiable]
    extra_names = [f"grad_{f.outputs[j].name}" for j in extra]
    nb = len(back.inputs)
    bop_schema = "(" + ", ".join([f"Tensor {p.name}" for p in back.inputs]
                                 + [f"Tensor? {n}=None" for n in extra_names]) + \
        ", Tensor? head_mask=None, int num_threads=0) -> (" + \
        ", ".join(["Tensor"] * len(back.outputs)) + ")"
    names = extra_names + ["head_mask", "num_threads"]
    defaults = [None] * len(extra_names) + [None, 0]

    def bimpl(*args, **kwargs):
        tensors = [_contiguous_last(t) for t in args[:nb]]
        rest = _fill(args[nb:], kwargs, names, defaults)
        for name, g in zip(extra_names, rest):
            if g is not None and bool(g.ne(0).any()):
                result = name[len("grad_"):]
                raise Error(None, f"{f.name}: a gradient reaches the '{result}' result, "
                            f"but {back.name} takes none (only "
                            + ", ".join(f"'{f.outputs[i].name}'" for i in sorted(differentiable))
                            + f" can be differentiated): detach '{result}' (.detach()) "
                            "before it reaches the loss", f.name, "MHA_ERR_NO_GRADIENT")
        head_mask, num_threads = rest[-2], rest[-1]
        out = back(*tensors, num_threads=num_threads, head_mask=head_mask)
        return out if isinstance(out, tuple) else (out,)

    def bfake(*args, **kwargs):
        out = _fake_results(back, args[:nb])
        return out if isinstance(out, tuple) else (out,)

    bop = torch.library.custom_op(f"{ns}::{back.name}", bimpl, mutates_args=(),
                                  device_types="cpu", schema=bop_schema)
    bop.register_fake(bfake)

    def setup_context(ctx, inputs, output):
        outputs = output if isinstance(output, tuple) else (output,)
        # Unused results get None, not zeros: no check, no work.
        ctx.set_materialize_grads(False)
        ctx.head_mask = inputs[n_in]
        ctx.num_threads = inputs[n_in + 1]
        ctx.save_for_backward(*inputs[:n_in], *outputs)

    o_index = next(iter(differentiable))

    def backward(ctx, *grads):
        saved = ctx.saved_tensors
        ins, outs = saved[:n_in], saved[n_in:]
        gout = grads[o_index]
        extras = [grads[j] for j in extra]
        if gout is None:
            if all(g is None for g in extras):
                return (None,) * (n_in + 2)
            gout = torch.zeros_like(outs[o_index])
        args = []
        for kind, j in sources:
            args.append(ins[j] if kind == "in" else outs[j] if kind == "out" else gout)
        results = bop(*args, *extras, ctx.head_mask, ctx.num_threads)
        grads_in = [None] * n_in
        for i, g in zip(grad_targets, results):
            if ctx.needs_input_grad[i]:
                grads_in[i] = g
        return (*grads_in, None, None)

    ops_backward[f.name] = bop
    op.register_autograd(backward, setup_context=setup_context)


class Attention(torch.nn.Module):
    """An attention function of a library as a module:
    forward(q, k, v, head_mask=None) returns the function's output `o`
    (all its results with return_all=True). layout="blhd" takes and returns
    [B, L, H, D] tensors (passed to the kernel as transposed views, no
    copies); the default "bhld" is the spec's logical layout."""

    def __init__(self, lib, name, *, layout="bhld", return_all=False, num_threads=0):
        super().__init__()
        ops = register(lib) if isinstance(lib, _runtime.Library) else lib
        if not isinstance(ops, Ops):
            raise TypeError("Attention takes an mha.Library or mha.torch.register's result")
        if layout not in ("bhld", "blhd"):
            raise ValueError(f"layout must be 'bhld' or 'blhd', not {layout!r}")
        self.op = getattr(ops, name)
        self.name = name
        self.layout = layout
        self.return_all = return_all
        self.num_threads = num_threads

    def extra_repr(self):
        return f"{self.name}, layout={self.layout}"

    def forward(self, q, k, v, head_mask=None):
        if self.layout == "blhd":
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        out = self.op(q, k, v, head_mask, self.num_threads)
        outs = list(out) if isinstance(out, tuple) else [out]
        if self.layout == "blhd":
            # o [B, H, L, Dv] -> [B, L, H, Dv]; lse and entropy stay [B, H, L].
            outs[0] = outs[0].transpose(1, 2)
        if not self.return_all:
            return outs[0]
        return outs[0] if len(outs) == 1 else tuple(outs)
