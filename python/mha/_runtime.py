"""Compiled libraries and calling their functions (the native call path).

    lib = mha.compile(spec_text)           # a Library
    o, lse = lib.attn(q, k, v)             # NumPy in, NumPy out; torch in, torch out
    lib.attn.params                        # the C parameters (from the manifest)

A call converts its arrays to DLPack tensors in the native extension
(mha._native: no copies, any strides with a contiguous last dimension),
allocates the results in the caller's framework on the inputs' device,
contiguous in the logical layout, with shapes derived from the inputs and
the spec's signature (mha-compile --manifest), calls the C function and
raises mha.Error on an error status.
"""
import ctypes
import os
import sys

from . import _fastcall, _native
from ._errors import Error, status_name

_DTYPE_BITS = {"f32": 32, "f16": 16, "bf16": 16}

_UNBUILT = object()  # Function._fast: no fast call built yet for a type

# Array kinds (by Python type) and how results are made for each.
_NUMPY, _TORCH, _OTHER = 0, 1, 2
_kinds = {}


def _kind_of(x):
    t = type(x)
    kind = _kinds.get(t)
    if kind is None:
        module = t.__module__.split(".")[0]
        if module == "numpy" and t.__name__ == "ndarray":
            kind = _NUMPY
        elif module == "torch":
            kind = _TORCH
        else:
            kind = _OTHER
        _kinds[t] = kind
    return kind


class _Torch:
    """torch, imported on the first torch call."""
    mod = None
    dtypes = None
    to_dlpack = None


def _torch():
    if _Torch.mod is None:
        import torch
        from torch.utils.dlpack import to_dlpack
        _Torch.mod = torch
        _Torch.to_dlpack = to_dlpack
        _Torch.dtypes = {"f32": torch.float32, "f16": torch.float16,
                         "bf16": torch.bfloat16}
    return _Torch


class _Numpy:
    mod = None
    dtypes = None      # element type name -> NumPy dtype (bf16: ml_dtypes, if any)
    bfloat16 = None


def _numpy():
    if _Numpy.mod is None:
        import numpy as np
        _Numpy.mod = np
        _Numpy.dtypes = {"f32": np.dtype(np.float32), "f16": np.dtype(np.float16)}
        try:
            import ml_dtypes
            _Numpy.bfloat16 = np.dtype(ml_dtypes.bfloat16)
            _Numpy.dtypes["bf16"] = _Numpy.bfloat16
        except ImportError:
            pass
    return _Numpy


def _numpy_or_none():
    try:
        return _numpy()
    except ImportError:
        return None


# Roles of tensors a call writes in place (mha.append_kv's caches).
_IN_PLACE = ("key_cache", "value_cache")

# The roles of a backward function's parameters that the frameworks' autograd
# (mha.torch, mha.jax) knows how to fill: the forward's inputs, its saved
# results, the gradient of its output, and the gradients it returns.
# The attention-transfer loss's gradient (mha.attention_kl) is the student's.
_BACKWARD_ROLES = {"query", "key", "value", "saved_output", "saved_lse", "grad_output",
                   "grad_entropy", "grad_query", "grad_key", "grad_value",
                   "teacher_query", "teacher_key", "student_query", "student_key",
                   "saved_teacher_lse", "saved_student_lse", "grad_kl",
                   "grad_student_query", "grad_student_key",
                   # a padded or packed batch's lengths and offsets
                   "kv_lens", "q_lens", "cu_seqlens_q", "cu_seqlens_k"}
# A layer's backward (mha.multi_head): its forward's inputs, dy, and the
# gradient of every input.
_LAYER_GRADS = {"grad_layer_input": "layer_input", "grad_query_weight": "query_weight",
                "grad_key_weight": "key_weight", "grad_value_weight": "value_weight",
                "grad_out_weight": "out_weight", "grad_query_bias": "query_bias",
                "grad_key_bias": "key_bias", "grad_value_bias": "value_bias",
                "grad_out_bias": "out_bias",
                # low-rank factors (mha.low_rank)
                **{f"grad_{w}_weight_{f}": f"{w}_weight_{f}"
                   for w in ("query", "key", "value", "out") for f in ("down", "up")}}
_BACKWARD_ROLES |= {"grad_layer_output"} | set(_LAYER_GRADS) | set(_LAYER_GRADS.values())
# The forward result whose gradient a backward argument is.
_GRAD_RESULT = {"grad_output": "output", "grad_entropy": "entropy", "grad_kl": "kl",
                "grad_layer_output": "layer_output"}
_SAVED = {"saved_output": "output", "saved_lse": "lse",
          "saved_teacher_lse": "teacher_lse", "saved_student_lse": "student_lse"}
_GRAD_OF = {"grad_query": "query", "grad_key": "key", "grad_value": "value",
            "grad_student_query": "student_query", "grad_student_key": "student_key",
            **_LAYER_GRADS}


def _is_backward(f):
    """Whether `f` is a backward function: it takes the gradient of an
    attention's output, of an attention-transfer loss or of a layer's."""
    return any(p.role in ("grad_output", "grad_kl", "grad_layer_output")
               for p in f.params)


def backward_plan(f, back):
    """How autograd calls `back`, the backward of forward function `f`, or
    None when it has parameters autograd cannot fill: `sources`, where each
    backward argument comes from (("in", i) forward argument i, ("out", j)
    forward result j, ("grad", j) the gradient of forward result j);
    `targets`, the forward argument each backward result is the gradient
    of; `differentiable`, the forward results whose gradients it takes."""
    if back is None or not all(p.role in _BACKWARD_ROLES for p in back.params):
        return None
    in_roles = [p.role for p in f.inputs]
    out_roles = [p.role for p in f.outputs]
    sources = []
    for p in back.inputs:
        if p.role in _SAVED:
            sources.append(("out", out_roles.index(_SAVED[p.role])))
        elif p.role in _GRAD_RESULT:
            sources.append(("grad", out_roles.index(_GRAD_RESULT[p.role])))
        else:
            sources.append(("in", in_roles.index(p.role)))
    targets = [in_roles.index(_GRAD_OF[p.role]) for p in back.outputs]
    differentiable = {j for kind, j in sources if kind == "grad"}
    return sources, targets, differentiable


class AttributeTable:
    """Attribute NAME is entry NAME of the dict attribute that `_table`
    names, and dir() lists the entries: mha.torch's ops and mha.jax's
    functions of a library."""
    _table = "entries"
    _noun = "entry"

    def __getattr__(self, name):
        entries = self.__dict__.get(self._table, {})
        if name in entries:
            return entries[name]
        raise AttributeError(f"no {self._noun} '{name}' "
                             f"({self._noun}s: {', '.join(sorted(entries)) or 'none'})")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get(self._table, {})))


class Param:
    """One C parameter of an exported function (a manifest entry)."""

    def __init__(self, entry):
        self.name = entry["name"]
        self.role = entry["role"]
        self.input = bool(entry["input"])
        self.dtype = entry["dtype"]
        self.shape = list(entry["shape"])

    def __repr__(self):
        dims = ", ".join(str(d) for d in self.shape)
        return f"{self.name}: [{dims}] {self.dtype} ({self.role})"


class Function:
    """An exported function of a Library: call it with the function's
    arguments (DLPack-capable arrays); returns its results."""

    def __init__(self, library, name, params, attention=None,
                 saved_bytes_function=None):
        self.library = library
        self.name = name
        self.params = [Param(p) for p in params]
        # A layer backward's <name>_forward_train: the C function that
        # sizes its saved activations (docs/language.md 7.1).
        self.saved_bytes_function = saved_bytes_function
        self._saved_bytes = None
        # The function's mha.attention ops with their mask attributes, per
        # query head (the manifest's "attention" list; None when the tool
        # that wrote the manifest predates it, [] for functions without one).
        self.attention = attention
        # Whether an mha.attention of the function drops probabilities.
        self.has_dropout = any(a.get("dropout") for a in attention or [])
        # The caches of an append function are written in place: the
        # caller passes them like inputs (they come last in C order).
        self.inputs = [p for p in self.params if p.input or p.role in _IN_PLACE]
        self.outputs = [p for p in self.params
                        if not p.input and p.role not in _IN_PLACE]
        self._native = library._native.function(name, len(self.params))
        self._n_in = len(self.inputs)
        self._ranks = tuple(len(p.shape) for p in self.inputs)
        # Each dynamic size comes from the first input that has it.
        where = {}
        for i, p in enumerate(self.inputs):
            for d, s in enumerate(p.shape):
                if isinstance(s, str) and s != "?" and s not in where:
                    where[s] = (i, d)
        self._sizes = where
        self._plans = []
        for p in self.outputs:
            plan = []
            for s in p.shape:
                if isinstance(s, int):
                    plan.append((-1, s))
                elif s in where:
                    plan.append(where[s])
                else:
                    plan.append(None)
            self._plans.append((p, tuple(plan)))
        self._single = len(self.outputs) == 1
        self.num_heads = self._static_heads()
        self._shapes = self._shape_function()
        self._torch_dtypes = None
        self._fast = {}  # array type -> generated fast call (_fastcall) or None
        self._cpu = library.target == "cpu"
        self._auto = library.target == "auto"  # runs where its tensors are

    def saved_bytes(self, batch, length):
        """A <name>_forward_train's bytes of saved activations for x [B,
        L, d] (its <name>_saved_bytes)."""
        if self.saved_bytes_function is None:
            raise TypeError(f"{self.name} saves no activations")
        if self._saved_bytes is None:
            fn = getattr(ctypes.CDLL(self.library.path), self.saved_bytes_function)
            fn.restype = ctypes.c_int64
            fn.argtypes = [ctypes.c_int64, ctypes.c_int64]
            self._saved_bytes = fn
        return self._saved_bytes(batch, length)

    def _static_heads(self):
        """Hq when the spec fixes it (the query's dim 1, or a layer's
        num_heads), else None."""
        for p in self.inputs:
            if p.role in ("query", "teacher_query") and isinstance(p.shape[1], int):
                return p.shape[1]
        if any(p.role == "layer_input" for p in self.inputs) and self.attention:
            return self.attention[0].get("num_heads")
        return None

    def __repr__(self):
        return f"<mha function {self.name}({', '.join(map(repr, self.params))})>"

    def result_shapes(self, shapes):
        """The results' shapes for inputs of the given shapes (sequences of
        sizes, ints or torch SymInts): what the fake kernels use."""
        out = []
        for p, plan in self._plans:
            shape = []
            for step in plan:
                if step is None:
                    raise Error(None, f"{self.name}: cannot size result '{p.name}' "
                                f"{p.shape} from the arguments",
                                self.name, "MHA_ERR_SHAPE")
                i, d = step
                shape.append(d if i < 0 else shapes[i][d])
            out.append(tuple(shape))
        return out

    def _shape_function(self):
        """A function of the inputs returning the results' shapes (generated
        code: a call's bookkeeping costs well under a microsecond), raising
        _RankMismatch when an input has the wrong rank; None when a result
        cannot be sized from the inputs."""
        args = ", ".join(f"a{i}" for i in range(self._n_in))
        lines = [f"def shapes({args}):"]
        for i, r in enumerate(self._ranks):
            lines.append(f"    s{i} = a{i}.shape")
        cond = " or ".join(f"len(s{i}) != {r}" for i, r in enumerate(self._ranks))
        if cond:
            lines.append(f"    if {cond}:")
            lines.append("        raise _RankMismatch")
        outs = []
        for p, plan in self._plans:
            if any(step is None for step in plan):
                return None
            dims = [str(d) if i < 0 else f"s{i}[{d}]" for i, d in plan]
            outs.append("(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")")
        lines.append("    return (" + "".join(o + ", " for o in outs) + ")")
        scope = {"_RankMismatch": _RankMismatch}
        exec(compile("\n".join(lines), f"<mha {self.name} shapes>", "exec"), scope)
        return scope["shapes"]

    def _rank_error(self, arrays):
        for a, r, p in zip(arrays, self._ranks, self.inputs):
            nd = len(a.shape)
            if nd != r:
                return Error(2, f"{self.name}: '{p.name}' ({p.role}) has {nd} dimensions "
                             f"but the spec expects {r}", self.name)
        return Error(2, f"{self.name}: an argument has the wrong rank", self.name)

    def check_head_mask_length(self, entries):
        """Raises unless a head mask of `entries` entries fits the spec."""
        if self.num_heads is None:
            raise ValueError(f"{self.name}: head_mask needs a spec with a static number "
                             "of query heads")
        if entries != self.num_heads:
            raise Error(7, f"{self.name}: head_mask has {entries} entries but the "
                        f"spec has {self.num_heads} query heads", self.name)

    def _head_mask(self, head_mask):
        if head_mask is None:
            return None
        if hasattr(head_mask, "tolist"):
            head_mask = head_mask.tolist()
        mask = bytes(1 if x else 0 for x in head_mask)
        self.check_head_mask_length(len(mask))
        return mask

    def __call__(self, *arrays, num_threads=0, **options):
        if not options and len(arrays) == self._n_in and arrays:
            t = type(arrays[0])
            fast = self._fast.get(t, _UNBUILT)
            if fast is _UNBUILT:
                fast = self._fast[t] = _fastcall.build(self, arrays[0], sys.modules[__name__])
            if fast is not None:
                result = fast(num_threads, *arrays)
                if result is not _fastcall.SLOW:
                    return result
        return self._call(arrays, num_threads=num_threads, **options)

    def _call(self, arrays, num_threads=0, head_mask=None, deterministic=False,
              cuda_stream=None, dropout_seed=0, dropout_offset=0, positions=None,
              reuse_packed_weights=False, check_indices=False, saved_activations=None):
        """The general path of a call: every option, array kind and device."""
        if len(arrays) != self._n_in:
            raise TypeError(f"{self.name}() takes {self._n_in} arrays "
                            f"({', '.join(p.name for p in self.inputs)}), "
                            f"{len(arrays)} given")
        shape_fn = self._shapes
        if shape_fn is None:
            self.result_shapes([a.shape for a in arrays])  # raises, naming the result
        try:
            shapes = shape_fn(*arrays)
        except _RankMismatch:
            raise self._rank_error(arrays) from None
        except (AttributeError, TypeError):
            for a, p in zip(arrays, self.inputs):
                if not hasattr(a, "shape"):
                    raise TypeError(f"{self.name}: '{p.name}' (a {type(a).__name__}) is not "
                                    "a DLPack-capable array") from None
            raise
        mask = None if head_mask is None else self._head_mask(head_mask)
        kind = _kinds.get(type(arrays[0]))
        if kind is None:
            kind = _kind_of(arrays[0])
        bf16 = 0
        if kind == _TORCH:
            T = _Torch if _Torch.mod is not None else _torch()
            empty, to_dlpack, dtypes = T.mod.empty, T.to_dlpack, self._torch_dtypes
            if dtypes is None:
                dtypes = self._torch_dtypes = [T.dtypes[p.dtype] for p in self.outputs]
            # torch's C exporter: a tenth of Tensor.__dlpack__'s cost.
            tensors = [to_dlpack(a) for a in arrays]
            N = _Numpy if _Numpy.mod is not None else _numpy_or_none()
            on_cpu = self._cpu or (self._auto and arrays[0].device.type == "cpu")
            if on_cpu and N is not None:
                # CPU results from NumPy: np.empty and torch.from_numpy cost
                # half of torch.empty and its export.
                results = []
                empty, from_numpy = N.mod.empty, T.mod.from_numpy
                for j, (s, p) in enumerate(zip(shapes, self.outputs)):
                    if p.dtype == "bf16":
                        raw = empty(s, N.mod.uint16)
                        bf16 |= 1 << (self._n_in + j)
                        results.append(from_numpy(raw).view(T.mod.bfloat16))
                    else:
                        raw = empty(s, N.dtypes[p.dtype])
                        results.append(from_numpy(raw))
                    tensors.append(raw)
            else:
                if on_cpu:
                    results = [empty(s, dtype=dt) for s, dt in zip(shapes, dtypes)]
                else:
                    device = arrays[0].device
                    results = [empty(s, dtype=dt, device=device)
                               for s, dt in zip(shapes, dtypes)]
                    # A GPU library runs on torch's current stream, ordered
                    # with the work that made its inputs.
                    if cuda_stream is None and device.type == "cuda":
                        cuda_stream = T.mod.cuda.current_stream(device).cuda_stream
                tensors += [to_dlpack(r) for r in results]
        else:
            N = _Numpy if _Numpy.mod is not None else _numpy()
            tensors = list(arrays)
            if N.bfloat16 is not None and kind == _NUMPY:
                for i, a in enumerate(arrays):
                    if getattr(a, "dtype", None) == N.bfloat16:
                        tensors[i] = a.view(N.mod.uint16)
                        bf16 |= 1 << i
            results = []
            empty = N.mod.empty
            for j, (s, p) in enumerate(zip(shapes, self.outputs)):
                if p.dtype == "bf16":
                    if N.bfloat16 is None:
                        raise TypeError(f"{self.name}: bf16 results with NumPy need the "
                                        "ml_dtypes package (pip install ml_dtypes), or "
                                        "pass torch tensors")
                    raw = empty(s, N.mod.uint16)
                    bf16 |= 1 << (self._n_in + j)
                    tensors.append(raw)
                    results.append(raw.view(N.bfloat16))
                else:
                    r = empty(s, N.dtypes[p.dtype])
                    tensors.append(r)
                    results.append(r)
        saved, saved_bytes = _buffer(saved_activations)
        status = self._native(tensors, num_threads, mask, 1 if deterministic else 0,
                              cuda_stream or 0, bf16, dropout_seed, dropout_offset, positions,
                              1 if reuse_packed_weights else 0, 1 if check_indices else 0,
                              saved, saved_bytes)
        if status:
            raise Error(status, self.library._native.last_error(), self.name)
        if not self.outputs:
            return None
        if kind == _OTHER:
            results = _to_framework(arrays[0], results)
        return results[0] if self._single else tuple(results)


def _buffer(array):
    """(address, bytes) of a contiguous CPU buffer: a NumPy array or a
    torch tensor (a layer's saved activations); (0, 0) for None."""
    if array is None:
        return 0, 0
    if hasattr(array, "data_ptr"):
        if array.device.type != "cpu" or not array.is_contiguous():
            raise TypeError("saved_activations must be a contiguous CPU tensor")
        return array.data_ptr(), array.numel() * array.element_size()
    if not array.flags["C_CONTIGUOUS"]:
        raise TypeError("saved_activations must be a contiguous array")
    return array.ctypes.data, array.nbytes


class _RankMismatch(Exception):
    pass


def _to_framework(like, results):
    """Results (NumPy) in the framework of `like` (the array API's
    from_dlpack of its namespace), or NumPy when it has none."""
    ns = getattr(like, "__array_namespace__", None)
    if ns is None:
        return results
    xp = ns()
    return [xp.from_dlpack(r) for r in results]


class Library:
    """A library compiled by mha-compile, loaded in this process. Its
    exported functions are attributes (lib.<name>), also in lib.functions;
    a function marked mha.backward has lib.<name>_backward too."""

    def __init__(self, path, manifest, key=None, spec_text=None):
        self.path = path
        self.key = key
        self.spec_text = spec_text
        self.manifest = manifest
        self._native = _native.Library(path)
        self.target = manifest.get("target", "cpu")
        self.torch_threads = None  # use_torch_threads
        self.functions = {}
        for entry in manifest["functions"]:
            f = Function(self, entry["name"], entry["params"], entry.get("attention"),
                         entry.get("saved_bytes_function"))
            self.functions[f.name] = f

    def __getattr__(self, name):
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(f"library {self.path} exports no function '{name}' "
                             f"(it has {', '.join(sorted(functions)) or 'none'})")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.functions))

    def __repr__(self):
        return f"<mha.Library {os.path.basename(os.path.dirname(self.path))[:12]}: " \
               f"{', '.join(self.functions)}>"

    def forward_functions(self):
        """The exported functions that are not backward functions (nor a
        layer backward's <name>_forward_train)."""
        return [f for f in self.functions.values()
                if not _is_backward(f) and f.saved_bytes_function is None]

    def forward_train_of(self, name):
        """The <name>_forward_train of a layer marked mha.backward (which
        saves the activations its backward reads), or None."""
        f = self.functions.get(name + "_forward_train")
        return f if f is not None and f.saved_bytes_function else None

    def backward_of(self, name):
        """The backward function of `name` (None without mha.backward)."""
        f = self.functions.get(name + "_backward")
        return f if f is not None and _is_backward(f) else None

    def last_error(self):
        return self._native.last_error()

    def status_string(self, status):
        return self._native.status_string(status) or status_name(status)

    def release_cached_memory(self):
        return self._native.release_cached_memory()

    def cached_memory_bytes(self):
        return self._native.cached_memory_bytes()

    def set_cached_memory_limit(self, nbytes):
        return self._native.set_cached_memory_limit(nbytes)

    def use_torch_threads(self, enable=True):
        """Runs the CPU work of this library's calls on the threads of
        PyTorch's OpenMP runtime (True) or on the library's own threads
        (False; the default until mha.torch.register(lib) sets True).
        PyTorch's threads spin a while after each of its CPU operators, and
        would take the cores from the library's own threads that start right
        after. Returns the OpenMP runtime's path, or None where torch is not
        imported or its CPU operators use no OpenMP runtime that exports
        GOMP_parallel."""
        torch = sys.modules.get("torch")
        path = None
        if enable and torch is not None and getattr(torch, "__file__", None):
            path = self._native.use_openmp(os.path.dirname(torch.__file__)) or None
        if path is None:
            self._native.use_openmp("")
        self.torch_threads = path
        return path


_loaded = {}


def load(path, manifest, key=None, spec_text=None):
    """The Library at path, loaded once per process and cache key."""
    lib = _loaded.get((path, key))
    if lib is None:
        lib = Library(path, manifest, key, spec_text)
        _loaded[(path, key)] = lib
    return lib
