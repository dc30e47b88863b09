"""JAX integration: exported functions as XLA FFI calls, usable inside
jax.jit, differentiable through `<name>_backward`.

    lib = mha.compile(spec_text)
    fns = mha.jax.register(lib)
    o, lse = jax.jit(fns.attn)(q, k, v)        # jax arrays in, jax arrays out
    dq = jax.grad(lambda q: fns.attn(q, k, v)[0].sum())(q)

`register(lib, num_threads=0)` returns an object whose attribute NAME is a
JAX function of the exported function NAME's arguments (in the spec's
order) returning its results (one array, or a tuple). Each call is one
`jax.ffi.ffi_call` of the FFI target "mha_call" (mha._jax_ffi: a CPU
handler, and a CUDA one that passes XLA's stream and device, registered
once), which calls the library's C function on XLA's
buffers without copies; its result shapes come from the spec's signature,
so it traces under jax.jit. A function marked `mha.backward` gets a
`jax.custom_vjp` whose backward calls `<name>_backward`; a gradient that
reaches a result the C backward takes none of (lse, ...) raises mha.Error
when the backward runs. Errors of a call (a shape, an argument) come back
from XLA with the library's message. A CPU library takes CPU arrays, a
GPU library (target="cuda") GPU arrays (this path has not run on a GPU
yet), an "auto" library either; functions that write their arguments in
place (append functions) are not registered: JAX arrays are immutable.

`register(lib, save_activations=True)`: the forward of a layer marked
mha.backward under jax.grad (or jax.vjp) calls `<name>_forward_train`,
which keeps the activations its backward needs in a uint8 residual of
`<name>_saved_bytes(B, L)` bytes, and the backward reads them instead of
recomputing the forward (docs/language.md 7.1): the same gradients, less
time, that much more memory between the two. A plain call (no gradient)
runs `<name>` as without it.

Every function takes `head_mask=` (one entry per query head, 0 ablates
the head; docs/language.md 7.4), an array that may be traced, so one
jitted function serves every mask; its gradient uses the same mask. CPU
calls only: a GPU library's functions take none from JAX.

A function with a `dropout` attribute takes `dropout_key=` (a
jax.random key): the mask's seed and offset are drawn from it
(jax.random.bits), so a new key per step gives a new mask without
retracing, and the backward rebuilds the same mask from the same words.
Without a key the mask of seed 0, offset 0 is used.
"""
import numpy as np

import jax
import jax.numpy as jnp

from . import _runtime
from ._errors import Error

_TARGET = "mha_call"
_DTYPES = {"f32": jnp.float32, "f16": jnp.float16, "bf16": jnp.bfloat16,
           "i8": jnp.int8, "i32": jnp.int32}
_target_registered = False


def _register_target():
    global _target_registered
    if _target_registered:
        return
    try:
        from . import _jax_ffi
    except ImportError as e:
        raise Error(None, "mha.jax: this mha package was built without JAX's FFI "
                    "headers; reinstall it with JAX installed (docs/python.md)",
                    status_name_="MHA_ERR_NO_DEVICE") from e
    jax.ffi.register_ffi_target(_TARGET, _jax_ffi.handler(), platform="cpu")
    # The CUDA handler passes XLA's stream and device to GPU functions; a
    # JAX without CUDA support has no such platform to register it for.
    if hasattr(_jax_ffi, "cuda_handler"):
        try:
            jax.ffi.register_ffi_target(_TARGET, _jax_ffi.cuda_handler(), platform="CUDA")
        except Exception:  # noqa: BLE001 (no CUDA platform in this jaxlib)
            pass
    _target_registered = True


class Functions(_runtime.AttributeTable):
    """The JAX functions of one library: attribute NAME calls exported
    function NAME."""
    _table, _noun = "functions", "function"

    def __init__(self, lib):
        self.library = lib
        self.functions = {}


def register(lib, num_threads=0, save_activations=False):
    """The JAX functions of every exported forward function of `lib` (an
    mha.Library) but append functions; num_threads as mha_options';
    save_activations: layers marked mha.backward keep their activations
    for the backward (<name>_forward_train)."""
    if not isinstance(lib, _runtime.Library):
        raise TypeError("mha.jax.register takes an mha.Library (mha.compile's result)")
    _register_target()
    fns = Functions(lib)
    for f in lib.forward_functions():
        if any(p.role in _runtime._IN_PLACE for p in f.inputs):
            continue
        train = lib.forward_train_of(f.name) if save_activations else None
        fns.functions[f.name] = _make_function(lib, f, num_threads, train)
    return fns


# mha_call's `saved` attribute (python/src/jax_ffi.cpp): no saved
# activations, written as the last result, or read as an operand after the
# tensors (and the head mask).
_SAVED_NONE, _SAVED_WRITTEN, _SAVED_READ = 0, 1, 2


def _call(lib, f, arrays, num_threads, seed=None, saved_bytes=None, saved=None,
          mask=None):
    """One FFI call of `f`: its results, a list. `seed`: uint32 [3] dropout
    words (seed_lo, seed_hi, offset) after the arrays. `saved_bytes`: `f`
    (a <name>_forward_train) also returns its saved activations, a uint8
    vector of that many bytes; `saved`: that vector, which `f` (a layer's
    <name>_backward) reads. `mask`: a uint8 head mask."""
    shapes = f.result_shapes([a.shape for a in arrays])
    types = [jax.ShapeDtypeStruct(s, _DTYPES[p.dtype]) for s, p in zip(shapes, f.outputs)]
    mode = _SAVED_NONE
    if saved_bytes is not None:
        types.append(jax.ShapeDtypeStruct((saved_bytes,), jnp.uint8))
        mode = _SAVED_WRITTEN
    elif saved is not None:
        mode = _SAVED_READ
    call = jax.ffi.ffi_call(_TARGET, types, vmap_method="sequential")
    operands = list(arrays) + [x for x in (mask, saved, seed) if x is not None]
    return list(call(*operands, fn=np.int64(f._native.address),
                     last_error=np.int64(lib._native.last_error_address),
                     num_threads=np.int64(num_threads),
                     seeded=np.int64(seed is not None), saved=np.int64(mode),
                     masked=np.int64(mask is not None)))


def _dropout_words(key):
    """The uint32 [3] dropout words of a call: drawn from `key`, or zeros."""
    if key is None:
        return jnp.zeros(3, jnp.uint32)
    return jax.random.bits(key, (3,), jnp.uint32)


def _pack(results):
    return results[0] if len(results) == 1 else tuple(results)


def _head_mask(f, head_mask):
    """A call's head mask as a uint8 array of the function's query heads."""
    mask = jnp.asarray(head_mask)
    f.check_head_mask_length(mask.shape[0] if mask.ndim == 1 else -1)
    return (mask != 0).astype(jnp.uint8)


def _make_function(lib, f, num_threads, train=None):
    """The JAX function of `f`, which takes `head_mask=` and, with dropout,
    `dropout_key=`. Its inner functions (one with a mask operand, one
    without) take the mask and the dropout words as last arrays. `train`:
    f's <name>_forward_train, which its gradient's forward runs."""
    drops = f.has_dropout
    back = lib.backward_of(f.name)
    plan = _runtime.backward_plan(f, back)
    inner = {}

    def build(masked):
        def split(operands):
            """(arrays, mask, seed) of an inner function's operands."""
            n = len(operands) - masked - drops
            return (operands[:n], operands[n] if masked else None,
                    operands[-1] if drops else None)

        if plan is not None:
            return _differentiable(lib, f, back, plan, split, num_threads, train)

        def forward(*operands):
            arrays, mask, seed = split(operands)
            return _pack(_call(lib, f, arrays, num_threads, seed, mask=mask))
        return forward

    def function(*arrays, head_mask=None, dropout_key=None):
        if dropout_key is not None and not drops:
            raise TypeError(f"{f.name} has no dropout: it takes no dropout_key")
        masked = head_mask is not None
        if masked not in inner:
            inner[masked] = build(masked)
        extra = ([_head_mask(f, head_mask)] if masked else []) + \
            ([_dropout_words(dropout_key)] if drops else [])
        return inner[masked](*arrays, *extra)

    function.__name__ = f.name
    return function


def _differentiable(lib, f, back, plan, split, num_threads, train):
    """`f` as a jax.custom_vjp through `back` (backward_plan's `plan`);
    with `train` (f's <name>_forward_train) the forward keeps the saved
    activations that `back` reads."""
    sources, targets, differentiable = plan
    extra = [j for j in range(len(f.outputs)) if j not in differentiable]

    def check_extra(*grads):
        # Runs on the host when the backward runs (jax.debug.callback).
        for j, g in zip(extra, grads):
            if np.any(np.asarray(g) != 0):
                result = f.outputs[j].name
                raise Error(None, f"{f.name}: a gradient reaches the '{result}' result, "
                            f"but {back.name} takes none: apply jax.lax.stop_gradient "
                            f"to '{result}' before it reaches the loss", f.name,
                            "MHA_ERR_NO_GRADIENT")

    @jax.custom_vjp
    def function(*operands):
        arrays, mask, seed = split(operands)
        return _pack(_call(lib, f, arrays, num_threads, seed, mask=mask))

    def fwd(*operands):
        arrays, mask, seed = split(operands)
        if train is None:
            results, saved = _call(lib, f, arrays, num_threads, seed, mask=mask), None
        else:
            batch, length = arrays[0].shape[:2]  # x [B, L, d_model]
            *results, saved = _call(lib, train, arrays, num_threads, seed,
                                    saved_bytes=train.saved_bytes(batch, length),
                                    mask=mask)
        return _pack(results), (operands, results, saved)

    def bwd(residuals, cotangents):
        operands, results, saved = residuals
        arrays, mask, seed = split(operands)
        grads = list(cotangents) if len(results) > 1 else [cotangents]
        if extra:
            jax.debug.callback(check_extra, *[grads[j] for j in extra])
        args = [arrays[j] if kind == "in" else results[j] if kind == "out"
                else grads[j].astype(results[j].dtype) for kind, j in sources]
        out = _call(lib, back, args, num_threads, seed, saved=saved, mask=mask)
        grads_in = [None] * len(operands)  # None: none of the mask or the seed
        for i, g in zip(targets, out):
            grads_in[i] = g
        return tuple(grads_in)

    function.defvjp(fwd, bwd)
    return function
