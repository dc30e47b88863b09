"""PyTorch integration: custom ops with fake kernels and autograd.

    lib = mha.compile(spec_text)
    ops = mha.torch.register(lib)
    o, lse = ops.attn(q, k, v)                 # torch.ops.mha_<hash>.attn
    layer = mha.torch.Attention(lib, "attn")   # an nn.Module returning o

`register(lib)` makes every exported forward function of the library a
`torch.library.custom_op` in a namespace of its own (`mha_` and 16 hex
digits of the library's cache key, so two libraries never clash):

    NAME(Tensor q, Tensor k, Tensor v, Tensor? head_mask=None,
         int num_threads=0, Tensor? dropout_seed=None) -> Tensor | (Tensor, ...)

with one Tensor per argument of the spec's function, the results in the
spec's order, a fake (meta) kernel that sizes the results from the spec's
signature (so torch.compile, including dynamic shapes, traces it without
running it), and, when the function is marked `mha.backward`, autograd
through a second op `NAME_backward` that calls the library's
`<name>_backward`. `dropout_seed` (int64 [2]: the seed and the offset of
docs/language.md 6.7) chooses the dropout mask of a function with a
`dropout` attribute; autograd passes the same tensor to the backward, which
rebuilds the same mask. Without it the mask of seed 0, offset 0 is used;
`Attention` draws a fresh one per call from torch's generator. A gradient
that reaches `lse` (or `probs`) raises
mha.Error: the C backward takes none. Inputs whose last dimension is not
contiguous are copied (the C functions need stride 1 there); any other
strides pass as they are.

Context parallelism (mha/_ring.py): `ring_attention(q, k, v, fn=lib.NAME,
group=None)` over torch.distributed, `RingAttention(fn, group)` (the same
as a module of custom ops, for torch.compile), `ring_shard(x, group)` and
`ring_unshard(x, group)` (the balanced layout), `merge_states`.
"""
import hashlib

import torch

from . import _runtime
from ._errors import Error
# Context parallelism (mha/_ring.py): ring attention over torch.distributed.
from ._ring import (RingAttention, head_sees, merge_states, ring_attention,  # noqa: F401
                    ring_shard, ring_unshard)

_registered = {}


def _contiguous_last(t):
    return t if t.dim() == 0 or t.stride(-1) == 1 or t.size(-1) <= 1 else t.contiguous()


def _namespace(lib):
    key = lib.key or hashlib.sha256(lib.path.encode()).hexdigest()
    return "mha_" + key[:16]


class Ops(_runtime.AttributeTable):
    """The custom ops of one library: attribute NAME is the op of exported
    function NAME (torch.ops.<namespace>.NAME.default, or the
    torch.library.CustomOpDef of a function that writes its arguments);
    `namespace` is the library's torch.ops namespace."""
    _table, _noun = "ops", "op"

    def __init__(self, lib, namespace):
        self.library = lib
        self.namespace = namespace
        self.ops = {}
        # NAME -> the op of NAME_backward (what autograd calls).
        self.backward_ops = {}
        # The torch.library.Library the ops are defined in (they live as
        # long as it does).
        self.definitions = torch.library.Library(namespace, "DEF")


def _define(ops, name, impl, fake, schema, device_types, mutates=()):
    """The op `namespace::name`. An op that writes no argument is defined
    with torch.library's low-level calls (define, impl per device,
    register_fake), which add only the dispatcher to the Python function;
    torch.library.custom_op's wrapper adds output checks and an autograd
    layer to every call (docs/python.md, "Overhead"). An op that writes
    its arguments is a custom_op, which also keeps their version counters
    right for autograd."""
    if mutates:
        op = torch.library.custom_op(f"{ops.namespace}::{name}", impl,
                                     mutates_args=mutates, device_types=device_types,
                                     schema=schema)
        op.register_fake(fake)
        return op
    lib = ops.definitions
    lib.define(name + schema)
    for device in device_types:
        lib.impl(name, impl, device.upper())
    torch.library.register_fake(f"{ops.namespace}::{name}", fake, lib=lib)
    return getattr(getattr(torch.ops, ops.namespace), name).default


def _register_autograd(ops, op, backward, setup_context):
    if isinstance(op, torch._ops.OpOverload):
        torch.library.register_autograd(op, backward, setup_context=setup_context,
                                        lib=ops.definitions)
    else:
        op.register_autograd(backward, setup_context=setup_context)


def register(lib):
    """The custom ops of every exported forward function of `lib` (an
    mha.Library); registering the same library again returns the same Ops.
    The library's CPU work then runs on PyTorch's OpenMP threads
    (lib.use_torch_threads())."""
    if not isinstance(lib, _runtime.Library):
        raise TypeError("mha.torch.register takes an mha.Library (mha.compile's result)")
    ns = _namespace(lib)
    ops = _registered.get(ns)
    if ops is not None:
        return ops
    ops = Ops(lib, ns)
    if lib.target != "gpu":
        lib.use_torch_threads()
    for f in lib.forward_functions():
        ops.ops[f.name] = _make_op(lib, ops, f)
    _registered[ns] = ops
    return ops


def _fill(args, kwargs, names, defaults):
    """The optional arguments of an op call by position, then by name, then
    their defaults (the dispatcher drops arguments equal to their
    defaults)."""
    return [args[i] if i < len(args) else kwargs.get(n, d)
            for i, (n, d) in enumerate(zip(names, defaults))]


_OPTIONS = ["head_mask", "num_threads", "dropout_seed"]
_OPTION_DEFAULTS = [None, 0, None]
_OPTIONS_SCHEMA = "Tensor? head_mask=None, int num_threads=0, Tensor? dropout_seed=None"


def _options(extra, kwargs):
    return _fill(extra, kwargs, _OPTIONS, _OPTION_DEFAULTS)


def _dropout_words(name, seed):
    """The (dropout_seed, dropout_offset) keywords of a call from an op's
    `dropout_seed` tensor (None: the defaults)."""
    if seed is None:
        return {}
    if seed.numel() != 2 or seed.dtype != torch.int64:
        raise Error(None, f"{name}: dropout_seed must be an int64 tensor of 2 elements "
                    f"(seed, offset), got {seed.dtype} of shape {tuple(seed.shape)}",
                    name, "MHA_ERR_INVALID_ARGUMENT")
    s, o = (int(x) for x in seed.reshape(2).tolist())
    return {"dropout_seed": s & (2**64 - 1), "dropout_offset": o & (2**64 - 1)}


# The inputs of a layer's decoding step that each call passes (not module
# state).
# The inputs a layer module takes per call: a decoding step's cache
# tensors, the row counts or offsets of sequences of different lengths.
_STEP_ROLES = ("kv_lens", "q_lens", "block_table", "cu_seqlens_q", "key_cache",
               "value_cache", "key_scale", "value_scale")


def _is_layer(f):
    return any(p.role == "layer_input" for p in f.inputs)


def _schema(f, results):
    # The caches of an append function are written in place: mutable
    # aliases (Tensor(a!)), and the op returns nothing. Layers take
    # mha_options.reuse_packed_weights too.
    mutable = iter("abcdefgh")
    args = ", ".join(f"Tensor({next(mutable)}!) {p.name}" if p.role in _runtime._IN_PLACE
                     else f"Tensor {p.name}" for p in f.inputs)
    ret = "Tensor" if results == 1 else "(" + ", ".join(["Tensor"] * results) + ")"
    options = _OPTIONS_SCHEMA + (", bool reuse_packed_weights=False" if _is_layer(f) else "")
    return f"({args}, {options}) -> {ret}"


def _device_types(lib):
    """The torch devices an op of `lib` runs on: a GPU library's on CUDA
    tensors, a --target=auto library's on both."""
    return {"cpu": ("cpu",), "nvptx": ("cuda",)}.get(lib.target, ("cpu", "cuda"))


def _fake_results(f, tensors):
    like = tensors[0]
    dtypes = _runtime._torch().dtypes
    shapes = f.result_shapes([t.shape for t in tensors])
    outs = [like.new_empty(s, dtype=dtypes[p.dtype]) for s, p in zip(shapes, f.outputs)]
    if not outs:
        return None
    return outs[0] if len(outs) == 1 else tuple(outs)


def _make_op(lib, ops, f):
    n_in = len(f.inputs)
    in_place = [p.role in _runtime._IN_PLACE for p in f.inputs]
    is_layer = _is_layer(f)  # once, not per call

    def impl(*args, **kwargs):
        # Written in place: passed as they are (the C function names a
        # non-contiguous last dimension).
        tensors = [t if w else _contiguous_last(t) for t, w in zip(args[:n_in], in_place)]
        head_mask, num_threads, seed = _options(args[n_in:], kwargs)
        # Only the options given: a call without any takes the fast path.
        options = _dropout_words(f.name, seed)
        if head_mask is not None:
            options["head_mask"] = head_mask
        if is_layer and _fill(args[n_in + len(_OPTIONS):], kwargs,
                              ["reuse_packed_weights"], [False])[0]:
            options["reuse_packed_weights"] = True
        return f(*tensors, num_threads=num_threads, **options)

    def fake(*args, **kwargs):
        return _fake_results(f, args[:n_in])

    mutates = tuple(p.name for p, w in zip(f.inputs, in_place) if w)
    op = _define(ops, f.name, impl, fake, _schema(f, len(f.outputs)), _device_types(lib),
                 mutates)
    back = lib.backward_of(f.name)
    plan = _runtime.backward_plan(f, back)
    if plan is not None:
        _add_backward(ops, f, back, plan, op)
        train = lib.forward_train_of(f.name)
        if train is not None:
            ops.ops[train.name] = _add_saved_training(ops, f, train, back, plan)
    return op


def _add_backward(ops, f, back, plan, op):
    n_in = len(f.inputs)
    sources, grad_targets, differentiable = plan
    # The op's options get no gradient (a layer's reuse_packed_weights too).
    no_grads = (None,) * (len(_OPTIONS) + (1 if _is_layer(f) else 0))

    # The gradients of the results the C backward takes none of (lse, ...):
    # the backward op gets them too and raises at run time when one is not
    # all zeros (under torch.compile an unused result's gradient arrives as
    # zeros, so the check cannot be made while tracing).
    extra = [j for j in range(len(f.outputs)) if j not in differentiable]
    extra_names = [f"grad_{f.outputs[j].name}" for j in extra]
    nb = len(back.inputs)
    bop_schema = "(" + ", ".join([f"Tensor {p.name}" for p in back.inputs]
                                 + [f"Tensor? {n}=None" for n in extra_names]) + \
        f", {_OPTIONS_SCHEMA}) -> (" + \
        ", ".join(["Tensor"] * len(back.outputs)) + ")"
    names = extra_names + _OPTIONS
    defaults = [None] * len(extra_names) + _OPTION_DEFAULTS

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
        head_mask, num_threads, seed = rest[-3:]
        out = back(*tensors, num_threads=num_threads, head_mask=head_mask,
                   **_dropout_words(back.name, seed))
        return out if isinstance(out, tuple) else (out,)

    def bfake(*args, **kwargs):
        out = _fake_results(back, args[:nb])
        return out if isinstance(out, tuple) else (out,)

    bop = _define(ops, back.name, bimpl, bfake, bop_schema, _device_types(ops.library))

    def setup_context(ctx, inputs, output):
        outputs = output if isinstance(output, tuple) else (output,)
        # Unused results get None, not zeros: no check, no work.
        ctx.set_materialize_grads(False)
        ctx.head_mask, ctx.num_threads, ctx.dropout_seed = inputs[n_in:n_in + 3]
        ctx.save_for_backward(*inputs[:n_in], *outputs)

    def backward(ctx, *grads):
        saved = ctx.saved_tensors
        ins, outs = saved[:n_in], saved[n_in:]
        extras = [grads[j] for j in extra]
        if all(grads[j] is None for j in differentiable) and \
                all(g is None for g in extras):
            return (None,) * n_in + no_grads
        # A differentiated result the loss does not use (the output, or the
        # entropy of an entropy regulariser) has gradient 0.
        args = []
        for kind, j in sources:
            if kind == "grad":
                args.append(grads[j] if grads[j] is not None else torch.zeros_like(outs[j]))
            else:
                args.append(ins[j] if kind == "in" else outs[j])
        results = bop(*args, *extras, ctx.head_mask, ctx.num_threads, ctx.dropout_seed)
        grads_in = [None] * n_in
        for i, g in zip(grad_targets, results):
            if ctx.needs_input_grad[i]:
                grads_in[i] = g
        return (*grads_in, *no_grads)

    ops.backward_ops[f.name] = bop
    _register_autograd(ops, op, backward, setup_context)


def _add_saved_training(ops, f, train, back, plan):
    """The op <name>_forward_train of a layer marked mha.backward: y and
    the saved activations (a uint8 tensor of <name>_saved_bytes(B, L)),
    which its autograd hands to <name>_backward (op <name>_backward_saved)
    instead of recomputing the forward (docs/language.md 7.1)."""
    n_in, nb = len(f.inputs), len(back.inputs)
    sources, grad_targets, _ = plan

    def saved_size(x):
        return train.saved_bytes(int(x.shape[0]), int(x.shape[1]))

    def call_options(name, extra, kwargs):
        head_mask, num_threads, seed = _options(extra, kwargs)
        options = _dropout_words(name, seed)
        if head_mask is not None:
            options["head_mask"] = head_mask
        return num_threads, options

    def timpl(*args, **kwargs):
        tensors = [_contiguous_last(t) for t in args[:n_in]]
        num_threads, options = call_options(f.name, args[n_in:], kwargs)
        # torch's CPU allocations are 64-byte aligned, as the buffer must
        # be; zeroed, so the bytes the library leaves (padding) are the same
        # in every call (torch.compile and opcheck compare results).
        saved = torch.zeros(saved_size(tensors[0]), dtype=torch.uint8)
        y = train(*tensors, num_threads=num_threads, saved_activations=saved, **options)
        return y, saved

    def tfake(*args, **kwargs):
        x = args[0]
        return _fake_results(f, args[:n_in]), x.new_empty((saved_size(x),),
                                                          dtype=torch.uint8)

    inputs = ", ".join(f"Tensor {p.name}" for p in f.inputs)
    top = _define(ops, train.name, timpl, tfake,
                  f"({inputs}, {_OPTIONS_SCHEMA}) -> (Tensor, Tensor)",
                  _device_types(ops.library))

    def bimpl(*args, **kwargs):
        tensors = [_contiguous_last(t) for t in args[:nb]]
        num_threads, options = call_options(back.name, args[nb + 1:], kwargs)
        out = back(*tensors, num_threads=num_threads, saved_activations=args[nb],
                   **options)
        return out if isinstance(out, tuple) else (out,)

    def bfake(*args, **kwargs):
        out = _fake_results(back, args[:nb])
        return out if isinstance(out, tuple) else (out,)

    back_inputs = ", ".join(f"Tensor {p.name}" for p in back.inputs)
    bop = _define(ops, back.name + "_saved", bimpl, bfake,
                  f"({back_inputs}, Tensor saved, {_OPTIONS_SCHEMA}) -> ("
                  + ", ".join(["Tensor"] * len(back.outputs)) + ")",
                  _device_types(ops.library))

    def setup_context(ctx, inputs, output):
        ctx.set_materialize_grads(False)
        ctx.options = inputs[n_in:n_in + len(_OPTIONS)]
        ctx.save_for_backward(*inputs[:n_in], output[1])

    def backward(ctx, dy, _saved_grad):
        no_grads = (None,) * len(_OPTIONS)
        if dy is None:
            return (None,) * n_in + no_grads
        *ins, saved = ctx.saved_tensors
        args = [dy if kind == "grad" else ins[j] for kind, j in sources]
        results = bop(*args, saved, *ctx.options)
        grads_in = [None] * n_in
        for i, g in zip(grad_targets, results):
            if ctx.needs_input_grad[i]:
                grads_in[i] = g
        return (*grads_in, *no_grads)

    _register_autograd(ops, top, backward, setup_context)
    return top


class Attention(torch.nn.Module):
    """An attention function of a library as a module:
    forward(q, k, v, head_mask=None) returns the function's output `o`
    (all its results with return_all=True). layout="blhd" takes and returns
    [B, L, H, D] tensors (passed to the kernel as transposed views, no
    copies); the default "bhld" is the spec's logical layout.

    A function with `dropout` gets a fresh mask per call in training mode
    (a seed drawn from torch's generator, so torch.manual_seed repeats
    it); in eval mode the module calls `eval_name`, a function of the same
    library without dropout, and raises when there is none (the spec fixes
    the rates: the library cannot turn dropout off)."""

    def __init__(self, lib, name, *, layout="bhld", return_all=False, num_threads=0,
                 eval_name=None):
        super().__init__()
        ops = register(lib) if isinstance(lib, _runtime.Library) else lib
        if not isinstance(ops, Ops):
            raise TypeError("Attention takes an mha.Library or mha.torch.register's result")
        if layout not in ("bhld", "blhd"):
            raise ValueError(f"layout must be 'bhld' or 'blhd', not {layout!r}")
        self.op = getattr(ops, name)
        self.eval_op = getattr(ops, eval_name) if eval_name else None
        self.drops = ops.library.functions[name].has_dropout
        self.name = name
        self.layout = layout
        self.return_all = return_all
        self.num_threads = num_threads

    def extra_repr(self):
        return f"{self.name}, layout={self.layout}"

    def forward(self, q, k, v, head_mask=None):
        if self.layout == "blhd":
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        op, seed = self.op, None
        if self.drops and self.training:
            seed = torch.randint(-2**63, 2**63 - 1, (2,), dtype=torch.int64)
        elif self.drops:
            if self.eval_op is None:
                raise Error(None, f"{self.name} drops probabilities (dropout) and the "
                            "module is in eval mode: pass eval_name=, a function of the "
                            "library without dropout", self.name, "MHA_ERR_INVALID_ARGUMENT")
            op = self.eval_op
        out = op(q, k, v, head_mask, self.num_threads, seed)
        outs = list(out) if isinstance(out, tuple) else [out]
        if self.layout == "blhd":
            # o [B, H, L, Dv] -> [B, L, H, Dv]; lse and entropy stay [B, H, L].
            outs[0] = outs[0].transpose(1, 2)
        if not self.return_all:
            return outs[0]
        return outs[0] if len(outs) == 1 else tuple(outs)


_TORCH_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16",
                 "i8": "int8", "i32": "int32"}


class Layer(torch.nn.Module):
    """An mha.multi_head function of a library as a module: forward(x)
    returns y. Every other input of the function is the module's, named
    after its C parameter (wq, wk, wv, wo, bq, ..., wq_scale for a quantized
    weight, wq_down and wq_up for low-rank factors) with the manifest's
    shape and dtype: float tensors as Parameters, integer ones (quantized
    values) as buffers, so state_dict() saves and loads them all. They start
    at zero unless given by keyword (any array torch.as_tensor takes; shape
    and dtype are checked).

    A decoding step (docs/language.md 5.8) takes its cache tensors per
    call, in the function's order: forward(x, kv_lens, [block_table,]
    k_cache, v_cache, [k_scale, v_scale]) writes the caches in place and
    returns y. A layer over packed or padded sequences (5.9) takes their
    offsets or row counts: forward(x, cu_seqlens_q), forward(x, q_lens).
    `head_mask=` (a uint8 tensor of the query heads, 0 ablates a head,
    docs/language.md 7.4) prunes heads for one call, in the forward and
    its backward.

    A call whose weights are the tensors of the module's previous call,
    unchanged since (torch's version counters say so), lets the library
    reuse the GEMM panels it packed then (mha_options.reuse_packed_weights):
    a decoding step then reads its weights once, not three times.

    A function marked mha.backward trains: its float parameters require
    grad and autograd calls `<name>_backward` (docs/language.md 7.1), so an
    optimizer updates them; with `dropout`, training mode draws a seed per
    call from torch's generator. By default the backward recomputes the
    forward; `save_activations=True` keeps its activations instead, from
    the op <name>_forward_train until the backward (<name>_saved_bytes(B,
    L), docs/language.md 7.1), which saves the backward that
    recomputation. Without mha.backward the module is for inference: its
    parameters do not require grad and a call on a tensor that does
    raises."""

    def __init__(self, lib, name, *, num_threads=0, save_activations=False, **tensors):
        super().__init__()
        ops = register(lib) if isinstance(lib, _runtime.Library) else lib
        if not isinstance(ops, Ops):
            raise TypeError("Layer takes an mha.Library or mha.torch.register's result")
        f = ops.library.functions.get(name)
        roles = [p.role for p in f.params] if f else []
        if f is None or "layer_input" not in roles:
            raise ValueError(f"{name!r} is not a layer (mha.multi_head) function of "
                             "the library")
        self.op = getattr(ops, name)
        self.name = name
        self.num_threads = num_threads
        self._last_weights = None
        self.trains = _runtime.backward_plan(f, ops.library.backward_of(name)) is not None
        self.train_op = None
        if save_activations:
            train = ops.library.forward_train_of(name)
            if train is None or not self.trains:
                raise ValueError(f"{name}: save_activations needs a layer marked "
                                 "mha.backward (docs/language.md 7.1)")
            self.train_op = getattr(ops, train.name)
        self.drops = f.has_dropout
        # The module's state, and (a decoding step) what each call passes.
        self._step = [p.name for p in f.inputs[1:] if p.role in _STEP_ROLES]
        self._is_step = [p.role in _STEP_ROLES for p in f.inputs[1:]]
        self._names = [p.name for p in f.inputs[1:] if p.role not in _STEP_ROLES]
        unknown = set(tensors) - set(self._names)
        if unknown:
            raise ValueError(f"{name} has no parameter {sorted(unknown)}; it takes "
                             f"{self._names}")
        for p in f.inputs[1:]:
            if p.role in _STEP_ROLES:
                continue
            dtype = getattr(torch, _TORCH_DTYPES[p.dtype])
            value = tensors.get(p.name)
            if value is None:
                value = torch.zeros(p.shape, dtype=dtype)
            else:
                value = torch.as_tensor(value)
                if list(value.shape) != p.shape or value.dtype != dtype:
                    raise ValueError(
                        f"{name}: '{p.name}' must be {dtype} {p.shape}, got "
                        f"{value.dtype} {list(value.shape)}")
            if dtype.is_floating_point:
                self.register_parameter(
                    p.name, torch.nn.Parameter(value.clone(), requires_grad=self.trains))
            else:
                self.register_buffer(p.name, value.clone())

    def extra_repr(self):
        return self.name

    def forward(self, x, *step, head_mask=None):
        if not self.trains and torch.is_grad_enabled() and x.requires_grad:
            raise Error(None, f"{self.name}: the function has no backward (mark it "
                        "mha.backward, docs/language.md 7.1); call the module under "
                        "torch.no_grad() or on a tensor that does not require grad",
                        self.name, "MHA_ERR_INVALID_ARGUMENT")
        if len(step) != len(self._step):
            raise TypeError(f"{self.name}: forward takes x" +
                            "".join(", " + n for n in self._step) +
                            f"; {1 + len(step)} tensors given")
        state, per_call = iter(self._names), iter(step)
        args = [next(per_call) if s else getattr(self, next(state)) for s in self._is_step]
        weights = [a for a, s in zip(args, self._is_step) if not s]
        seed = None
        if self.drops and self.training:
            seed = torch.randint(-2**63, 2**63 - 1, (2,), dtype=torch.int64)
        if self.train_op is not None and torch.is_grad_enabled() and \
                (x.requires_grad or any(w.requires_grad for w in weights)):
            return self.train_op(x, *args, head_mask=head_mask,
                                 num_threads=self.num_threads, dropout_seed=seed)[0]
        return self.op(x, *args, head_mask=head_mask, num_threads=self.num_threads,
                       dropout_seed=seed,
                       reuse_packed_weights=self._weights_unchanged(weights))

    def _weights_unchanged(self, weights):
        """Whether `weights` are the very tensors of the previous call, with
        the same storage and not written since (their version counters);
        remembers them for the next call. Holding them keeps a replaced
        tensor's memory from being reused by another at the same address."""
        seen = [(w, w._version, w.data_ptr()) for w in weights]
        last, self._last_weights = self._last_weights, seen
        return last is not None and all(
            a is b and va == vb and pa == pb for (a, va, pa), (b, vb, pb) in zip(last, seen))
