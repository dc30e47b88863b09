"""Loading a library written by mha-compile and calling its functions.

    lib = Library("libattn.so")
    f = lib.function("attn", 4)           # q, k, v -> o: four tensors
    f(q, k, v, o, num_threads=2)          # NumPy arrays; raises MhaError
    lib.set_cached_memory_limit(64 << 20) # cap the layer cache (64 MiB)
    call = f.prepare([q, k, v, o])        # pointers built once, for timing:
    status = call()                       #   the raw mha_status
    call.run()                            #   or raise MhaError

Arguments are NumPy arrays (bf16 as uint16 with dtype="bf16") or DLTensor
structs built by the caller (mha._dlpack.make_tensor: torch, CUDA memory).
Standard library only (NumPy arrays are used through their ctypes view).
"""
import ctypes

from . import _dlpack
from ._dlpack import DLTensor, MhaOptions


class MhaError(RuntimeError):
    """A generated function returned an error status."""

    def __init__(self, status, message, function=None):
        self.status = status
        self.status_name = _dlpack.status_name(status)
        self.message = message
        self.function = function
        super().__init__(f"{self.status_name} ({status}): {message}")


class Library:
    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.lib.mha_last_error.restype = ctypes.c_char_p
        self.lib.mha_last_error.argtypes = []
        self.lib.mha_status_string.restype = ctypes.c_char_p
        self.lib.mha_status_string.argtypes = [ctypes.c_int]
        for name in ("mha_release_cached_memory", "mha_cached_memory_bytes"):
            getattr(self.lib, name).restype = ctypes.c_size_t
            getattr(self.lib, name).argtypes = []
        self.lib.mha_set_cached_memory_limit.restype = ctypes.c_size_t
        self.lib.mha_set_cached_memory_limit.argtypes = [ctypes.c_size_t]
        self._functions = {}

    def release_cached_memory(self):
        """Frees the layer temporaries the library keeps between calls;
        returns the bytes freed."""
        return self.lib.mha_release_cached_memory()

    def set_cached_memory_limit(self, nbytes):
        """Caps the cache (0: cache nothing); returns the previous cap."""
        return self.lib.mha_set_cached_memory_limit(nbytes)

    def cached_memory_bytes(self):
        return self.lib.mha_cached_memory_bytes()

    def last_error(self):
        """mha_last_error(): the message of this thread's last failed call."""
        return (self.lib.mha_last_error() or b"").decode(errors="replace")

    def status_string(self, status):
        return (self.lib.mha_status_string(status) or b"?").decode(errors="replace")

    def error(self, status, function=None):
        """The MhaError of a failed call (call right after it)."""
        return MhaError(status, self.last_error(), function)

    def function(self, name, n_tensors):
        """The exported function `name` taking n_tensors DLTensor pointers
        (arguments then results) and an mha_options pointer."""
        key = (name, n_tensors)
        if key not in self._functions:
            self._functions[key] = Function(self, name, n_tensors)
        return self._functions[key]


def _tensor(x, dtype):
    return x if isinstance(x, DLTensor) else _dlpack.from_numpy(x, dtype)


class Function:
    def __init__(self, lib, name, n_tensors):
        self.lib = lib
        self.name = name
        self.n_tensors = n_tensors
        f = getattr(lib.lib, name)
        f.argtypes = [ctypes.POINTER(DLTensor)] * n_tensors + [ctypes.POINTER(MhaOptions)]
        f.restype = ctypes.c_int
        self.cfunc = f

    def prepare(self, tensors, options=None, dtype=None):
        """A Call with its pointers built once. tensors: NumPy arrays or
        DLTensors (dtype applies to the arrays, e.g. "bf16"); options: an
        MhaOptions, or None for a NULL pointer (every default)."""
        if len(tensors) != self.n_tensors:
            raise TypeError(f"{self.name}: {len(tensors)} tensors, expected {self.n_tensors}")
        return Call(self, [_tensor(t, dtype) for t in tensors], options)

    def __call__(self, *tensors, dtype=None, num_threads=0, cuda_stream=None,
                 head_mask=None):
        """Calls once; raises MhaError on an error status."""
        opts = _dlpack.options(num_threads, cuda_stream, head_mask)
        self.prepare(tensors, opts, dtype).run()


class Call:
    """One prepared call: calling it only crosses into the library."""

    def __init__(self, function, structs, options):
        self.function = function
        self.structs = structs
        self.options = options
        self._args = [ctypes.byref(s) for s in structs] + \
            [ctypes.byref(options) if options is not None else None]

    def __call__(self):
        """The raw mha_status of one call."""
        return self.function.cfunc(*self._args)

    def run(self):
        """One call; raises MhaError on an error status."""
        status = self.function.cfunc(*self._args)
        if status != 0:
            raise self.function.lib.error(status, self.function.name)
