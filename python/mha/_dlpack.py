"""DLPack and mha_options by hand, with ctypes (standard library only).

The structs of dlpack.h (v0.6 and later: DLDevice, DLDataType, DLTensor)
and of include/mha/runtime.h (mha_options, the mha_status values). A
generated function takes one DLTensor pointer per argument and result, then
an mha_options pointer (NULL = defaults), and returns an mha_status.
"""
import ctypes
import math

# DLDeviceType and DLDataTypeCode values used here.
KDL_CPU, KDL_CUDA = 1, 2
KDL_INT, KDL_UINT, KDL_FLOAT, KDL_BFLOAT = 0, 1, 2, 4


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class MhaOptions(ctypes.Structure):
    """struct mha_options (include/mha/runtime.h); zero = every default."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("num_threads", ctypes.c_int32),
                ("cuda_stream", ctypes.c_void_p),
                ("head_mask", ctypes.POINTER(ctypes.c_uint8)),
                ("deterministic", ctypes.c_int32),
                ("dropout_seed", ctypes.c_uint64), ("dropout_offset", ctypes.c_uint64),
                ("use_positions", ctypes.c_int32), ("query_start", ctypes.c_int64),
                ("key_start", ctypes.c_int64), ("reuse_packed_weights", ctypes.c_int32),
                ("check_indices", ctypes.c_int32),
                ("saved_activations", ctypes.c_void_p),
                ("saved_activations_bytes", ctypes.c_uint64)]


# enum mha_status: values are stable.
MHA_OK = 0
MHA_ERR_NULL_POINTER = 1
MHA_ERR_RANK = 2
MHA_ERR_DTYPE = 3
MHA_ERR_SHAPE = 4
MHA_ERR_DEVICE = 5
MHA_ERR_LAYOUT = 6
MHA_ERR_INVALID_ARGUMENT = 7
MHA_ERR_NO_DEVICE = 8
MHA_ERR_CUDA = 9
MHA_ERR_OUT_OF_MEMORY = 10
MHA_ERR_INTERNAL = 11
STATUS_NAMES = {code: name for name, code in globals().items()
                if name == "MHA_OK" or name.startswith("MHA_ERR_")}


def status_name(status):
    return STATUS_NAMES.get(status, f"mha_status {status}")


# Element types by name: (DLDataTypeCode, bits). bf16 is also what NumPy
# arrays of uint16 carry when the caller says so (see from_numpy).
DTYPES = {"f16": (KDL_FLOAT, 16), "bf16": (KDL_BFLOAT, 16), "f32": (KDL_FLOAT, 32),
          "f64": (KDL_FLOAT, 64), "i32": (KDL_INT, 32), "i64": (KDL_INT, 64),
          "i8": (KDL_INT, 8), "u8": (KDL_UINT, 8), "u16": (KDL_UINT, 16)}
_NUMPY_DTYPES = {"float16": "f16", "bfloat16": "bf16", "float32": "f32",
                 "float64": "f64", "int8": "i8", "int32": "i32", "int64": "i64", "uint8": "u8",
                 "uint16": "u16"}


def make_tensor(data, shape, strides, dtype, device=(KDL_CPU, 0), keep=None):
    """A DLTensor over memory the caller owns: data (an address), shape and
    strides in elements, dtype a name of DTYPES or a (code, bits) pair,
    device a (device_type, device_id) pair. The struct holds its shape and
    stride arrays and `keep` (the owner of the memory) alive."""
    code, bits = DTYPES[dtype] if isinstance(dtype, str) else dtype
    n = len(shape)
    c_shape = (ctypes.c_int64 * n)(*shape)
    c_strides = (ctypes.c_int64 * n)(*strides)
    t = DLTensor()
    t.data = data
    t.device = DLDevice(*device)
    t.ndim = n
    t.dtype = DLDataType(code, bits, 1)
    t.shape = c_shape
    t.strides = c_strides
    t.byte_offset = 0
    t._keep = (c_shape, c_strides, keep)
    return t


def from_numpy(arr, dtype=None):
    """A kDLCPU DLTensor over a NumPy array (any strides that are whole
    elements). dtype overrides the element type, e.g. "bf16" for bf16
    values stored in a uint16 array."""
    name = dtype or _NUMPY_DTYPES.get(arr.dtype.name)
    if name is None:
        raise TypeError(f"no DLPack type for NumPy dtype {arr.dtype}")
    size = arr.itemsize
    if any(s % size for s in arr.strides):
        raise ValueError("strides are not whole elements")
    strides = [s // size for s in arr.strides]
    if arr.size == 0:
        # No element, no meaningful strides (NumPy gives zeros): compact
        # ones, as the native extension passes.
        strides = [math.prod(arr.shape[d + 1:]) for d in range(arr.ndim)]
    return make_tensor(arr.ctypes.data, arr.shape, strides, name, keep=arr)


def options(num_threads=0, cuda_stream=None, head_mask=None, check_indices=False,
            saved_activations=None, saved_activations_bytes=0):
    """An MhaOptions: worker threads (0 = all cores), a CUstream address
    (None = the default stream), a runtime head mask (Hq values, 0 ablates
    the head; None keeps every head), check_indices (GPU: check the serving
    indices on the host), a layer backward's saved activations (an address
    and its bytes)."""
    o = MhaOptions()
    o.struct_size = ctypes.sizeof(MhaOptions)
    o.num_threads = num_threads
    o.cuda_stream = cuda_stream
    o.check_indices = 1 if check_indices else 0
    o.saved_activations = saved_activations
    o.saved_activations_bytes = saved_activations_bytes
    if head_mask is not None:
        arr = (ctypes.c_uint8 * len(head_mask))(*[1 if x else 0 for x in head_mask])
        o.head_mask = ctypes.cast(arr, ctypes.POINTER(ctypes.c_uint8))
        o._keep = arr
    return o
