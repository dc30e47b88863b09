//===- CallCheck.c - Checking a call against its signature --------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The checks every generated function runs before it touches any tensor
// memory, shared by the CPU and GPU launchers (see CallCheck.h). A bad call
// writes no output byte and leaves a message that names the function, the
// argument, the dimension, what was expected and what was found. A good one
// leaves MLIR memref descriptors of its tensors. Nothing here dereferences a
// tensor's data, so device pointers are checked the same way as host ones.
//
//===----------------------------------------------------------------------===//

#include "CallCheck.h"
#include "ThreadPool.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAX_TENSORS MHA_RT_MAX_TENSORS
#define NUM_SYMBOLS MHA_RT_NUM_SYMBOLS

_Static_assert(offsetof(mha_rt_memref, dims) == offsetof(mha_memref4, sizes) &&
                   offsetof(mha_memref4, strides) ==
                       offsetof(mha_rt_memref, dims) + 4 * sizeof(int64_t) &&
                   offsetof(mha_memref3, strides) ==
                       offsetof(mha_rt_memref, dims) + 3 * sizeof(int64_t),
               "mha_rt_memref must match the MLIR descriptor layout");

// What the checks learn about one tensor.
typedef struct tensor_info {
  int64_t sizes[MHA_SIG_MAX_RANK];
  int64_t strides[MHA_SIG_MAX_RANK]; // In elements.
  int64_t elem_size;                 // In bytes.
  bool empty;
  uintptr_t lo, hi; // Bytes [lo, hi) it may touch; unused when empty.
} tensor_info;

// Everything needed to name things in messages.
typedef struct call {
  const int64_t *sig;
  const char *name;
  const char *const *arg_names;
  int num_tensors;
  int num_inputs;
  const DLTensor *first_tensor; // The first checked tensor, for its device.
  int first_index;
} call;

//===----------------------------------------------------------------------===//
// Names for messages
//===----------------------------------------------------------------------===//

static const int64_t *tensor_sig(const call *c, int i) {
  return mha_rt_tensor_sig(c->sig, i);
}
static int64_t dim_sym(const call *c, int i, int d) {
  return tensor_sig(c, i)[MHA_SIG_T_DIMS + 2 * d];
}
static int64_t dim_static(const call *c, int i, int d) {
  return tensor_sig(c, i)[MHA_SIG_T_DIMS + 2 * d + 1];
}

static const char *role_name(int64_t role) {
  switch (role) {
  case MHA_ROLE_QUERY:
    return "query";
  case MHA_ROLE_KEY:
    return "key";
  case MHA_ROLE_VALUE:
    return "value";
  case MHA_ROLE_OUTPUT:
    return "output";
  case MHA_ROLE_LSE:
    return "lse";
  case MHA_ROLE_PROBS:
    return "probs";
  case MHA_ROLE_ENTROPY:
    return "entropy";
  case MHA_ROLE_LAYER_INPUT:
    return "layer input";
  case MHA_ROLE_QUERY_WEIGHT:
    return "query weight";
  case MHA_ROLE_KEY_WEIGHT:
    return "key weight";
  case MHA_ROLE_VALUE_WEIGHT:
    return "value weight";
  case MHA_ROLE_OUT_WEIGHT:
    return "output weight";
  case MHA_ROLE_QUERY_BIAS:
    return "query bias";
  case MHA_ROLE_KEY_BIAS:
    return "key bias";
  case MHA_ROLE_VALUE_BIAS:
    return "value bias";
  case MHA_ROLE_OUT_BIAS:
    return "output bias";
  case MHA_ROLE_LAYER_OUTPUT:
    return "layer output";
  case MHA_ROLE_SAVED_OUTPUT:
    return "output";
  case MHA_ROLE_SAVED_LSE:
    return "lse";
  case MHA_ROLE_GRAD_OUTPUT:
    return "output gradient";
  case MHA_ROLE_GRAD_QUERY:
    return "query gradient";
  case MHA_ROLE_GRAD_KEY:
    return "key gradient";
  case MHA_ROLE_GRAD_VALUE:
    return "value gradient";
  case MHA_ROLE_GRAD_ENTROPY:
    return "entropy gradient";
  case MHA_ROLE_PARTIAL_OUTPUT_A:
    return "first partial output";
  case MHA_ROLE_PARTIAL_LSE_A:
    return "first partial lse";
  case MHA_ROLE_PARTIAL_OUTPUT_B:
    return "second partial output";
  case MHA_ROLE_PARTIAL_LSE_B:
    return "second partial lse";
  case MHA_ROLE_KV_LENS:
    return "key lengths";
  case MHA_ROLE_Q_LENS:
    return "query lengths";
  case MHA_ROLE_BLOCK_TABLE:
    return "block table";
  case MHA_ROLE_CU_SEQLENS_Q:
    return "query offsets";
  case MHA_ROLE_CU_SEQLENS_K:
    return "key offsets";
  case MHA_ROLE_KEY_NEW:
    return "new keys";
  case MHA_ROLE_VALUE_NEW:
    return "new values";
  case MHA_ROLE_KEY_CACHE:
    return "key cache";
  case MHA_ROLE_VALUE_CACHE:
    return "value cache";
  case MHA_ROLE_QUERY_WEIGHT_DOWN:
    return "query weight's down factor";
  case MHA_ROLE_QUERY_WEIGHT_UP:
    return "query weight's up factor";
  case MHA_ROLE_KEY_WEIGHT_DOWN:
    return "key weight's down factor";
  case MHA_ROLE_KEY_WEIGHT_UP:
    return "key weight's up factor";
  case MHA_ROLE_VALUE_WEIGHT_DOWN:
    return "value weight's down factor";
  case MHA_ROLE_VALUE_WEIGHT_UP:
    return "value weight's up factor";
  case MHA_ROLE_OUT_WEIGHT_DOWN:
    return "output weight's down factor";
  case MHA_ROLE_OUT_WEIGHT_UP:
    return "output weight's up factor";
  case MHA_ROLE_KEY_SCALE:
    return "key cache scales";
  case MHA_ROLE_VALUE_SCALE:
    return "value cache scales";
  case MHA_ROLE_TEACHER_QUERY:
    return "teacher query";
  case MHA_ROLE_TEACHER_KEY:
    return "teacher key";
  case MHA_ROLE_STUDENT_QUERY:
    return "student query";
  case MHA_ROLE_STUDENT_KEY:
    return "student key";
  case MHA_ROLE_KL:
    return "KL divergence";
  case MHA_ROLE_TEACHER_LSE:
    return "teacher lse";
  case MHA_ROLE_STUDENT_LSE:
    return "student lse";
  case MHA_ROLE_SAVED_TEACHER_LSE:
    return "teacher lse";
  case MHA_ROLE_SAVED_STUDENT_LSE:
    return "student lse";
  case MHA_ROLE_GRAD_KL:
    return "KL gradient";
  case MHA_ROLE_GRAD_STUDENT_QUERY:
    return "student query gradient";
  case MHA_ROLE_GRAD_STUDENT_KEY:
    return "student key gradient";
  case MHA_ROLE_QUERY_WEIGHT_SCALE:
    return "query weight's scales";
  case MHA_ROLE_KEY_WEIGHT_SCALE:
    return "key weight's scales";
  case MHA_ROLE_VALUE_WEIGHT_SCALE:
    return "value weight's scales";
  case MHA_ROLE_OUT_WEIGHT_SCALE:
    return "output weight's scales";
  case MHA_ROLE_GRAD_LAYER_OUTPUT:
    return "layer output gradient";
  case MHA_ROLE_GRAD_LAYER_INPUT:
    return "layer input gradient";
  case MHA_ROLE_GRAD_QUERY_WEIGHT:
    return "query weight gradient";
  case MHA_ROLE_GRAD_KEY_WEIGHT:
    return "key weight gradient";
  case MHA_ROLE_GRAD_VALUE_WEIGHT:
    return "value weight gradient";
  case MHA_ROLE_GRAD_OUT_WEIGHT:
    return "output weight gradient";
  case MHA_ROLE_GRAD_QUERY_BIAS:
    return "query bias gradient";
  case MHA_ROLE_GRAD_KEY_BIAS:
    return "key bias gradient";
  case MHA_ROLE_GRAD_VALUE_BIAS:
    return "value bias gradient";
  case MHA_ROLE_GRAD_OUT_BIAS:
    return "output bias gradient";
  }
  return "tensor";
}

static const char *symbol_name(int64_t sym) {
  static const char *const names[NUM_SYMBOLS] = {
      NULL,    "B",         "Lq",   "Lk",    "Hq",    "Hkv", "D",  "Dv",
      "pages", "page_size", "Lnew", "Hkv_t", "Hkv_s", "D_t", "D_s"};
  return sym > 0 && sym < NUM_SYMBOLS ? names[sym] : NULL;
}

static const char *device_name(int type) {
  switch (type) {
  case kDLCPU:
    return "kDLCPU";
  case kDLCUDA:
    return "kDLCUDA";
  case kDLCUDAHost:
    return "kDLCUDAHost";
  case kDLOpenCL:
    return "kDLOpenCL";
  case kDLVulkan:
    return "kDLVulkan";
  case kDLMetal:
    return "kDLMetal";
  case kDLVPI:
    return "kDLVPI";
  case kDLROCM:
    return "kDLROCM";
  case kDLROCMHost:
    return "kDLROCMHost";
  case kDLExtDev:
    return "kDLExtDev";
  case kDLCUDAManaged:
    return "kDLCUDAManaged";
  // Newer DLPack versions than the one we build against.
  case 14:
    return "kDLOneAPI";
  case 15:
    return "kDLWebGPU";
  case 16:
    return "kDLHexagon";
  }
  return "an unknown device type";
}

// "float32", "bfloat16", "int8", "float32x4", ...
static const char *dtype_name(char buf[48], unsigned code, unsigned bits,
                              unsigned lanes) {
  static const char *const codes[] = {"int",    "uint",   "float",
                                      "handle", "bfloat", "complex"};
  int n;
  if (code < sizeof(codes) / sizeof(codes[0]))
    n = snprintf(buf, 48, "%s%u", codes[code], bits);
  else
    n = snprintf(buf, 48, "type code %u with %u bits", code, bits);
  if (lanes != 1 && n > 0 && n < 48)
    snprintf(buf + n, 48 - (size_t)n, "x%u", lanes);
  return buf;
}

// "'k' (key)": the C parameter and what it is.
static const char *tensor_label(char buf[96], const call *c, int i) {
  const char *role = role_name(tensor_sig(c, i)[MHA_SIG_T_ROLE]);
  if (c->arg_names && c->arg_names[i])
    snprintf(buf, 96, "'%s' (%s)", c->arg_names[i], role);
  else
    snprintf(buf, 96, "tensor %d (%s)", i, role);
  return buf;
}

// "dim 2 (Lk)", or "dim 2" for a dimension without a symbol.
static const char *dim_label(char buf[32], const call *c, int i, int d) {
  const char *sym = symbol_name(dim_sym(c, i, d));
  if (sym)
    snprintf(buf, 32, "dim %d (%s)", d, sym);
  else
    snprintf(buf, 32, "dim %d", d);
  return buf;
}

// The shape the spec expects, e.g. "[B, Hq, Lq, 64]".
static const char *expected_shape(char buf[96], const call *c, int i) {
  int rank = (int)tensor_sig(c, i)[MHA_SIG_T_RANK];
  size_t len = 0;
  buf[0] = '\0';
  for (int d = 0; d < rank && len < 96; ++d) {
    const char *sep = d ? ", " : "[";
    const char *sym = symbol_name(dim_sym(c, i, d));
    int64_t size = dim_static(c, i, d);
    int n = size >= 0
                ? snprintf(buf + len, 96 - len, "%s%" PRId64, sep, size)
                : snprintf(buf + len, 96 - len, "%s%s", sep, sym ? sym : "?");
    if (n < 0)
      break;
    len += (size_t)n;
  }
  if (len < 96)
    snprintf(buf + len, 96 - len, "]");
  return buf;
}

// A caller's shape, e.g. "[2, 8, 128, 64]".
static const char *actual_shape(char buf[128], const int64_t *sizes, int rank) {
  size_t len = 0;
  buf[0] = '\0';
  for (int d = 0; d < rank && len < 128; ++d) {
    int n =
        snprintf(buf + len, 128 - len, "%s%" PRId64, d ? ", " : "[", sizes[d]);
    if (n < 0)
      break;
    len += (size_t)n;
  }
  if (len < 128)
    snprintf(buf + len, 128 - len, "]");
  return buf;
}

//===----------------------------------------------------------------------===//
// Checks
//===----------------------------------------------------------------------===//

// The table comes from our own compiler: anything odd in it is a bug.
static int32_t check_signature(const call *c, const int64_t *sig,
                               const char *body_missing) {
  const char *name = c->name;
  if (sig[MHA_SIG_VERSION] != MHA_ABI_VERSION)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the library was compiled for runtime ABI version %" PRId64
                " but its runtime implements version %d",
                name, sig[MHA_SIG_VERSION], MHA_ABI_VERSION);
  int64_t num_tensors = sig[MHA_SIG_NUM_TENSORS];
  if (num_tensors < 1 || num_tensors > MAX_TENSORS)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the signature has %" PRId64
                " tensors but the runtime supports 1 to %d",
                name, num_tensors, MAX_TENSORS);
  int64_t num_inputs = sig[MHA_SIG_NUM_INPUTS];
  if (num_inputs < 0 || num_inputs > num_tensors)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the signature has %" PRId64 " inputs among %" PRId64
                " tensors",
                name, num_inputs, num_tensors);
  if (sig[MHA_SIG_GRID_HEADS] < 0 || sig[MHA_SIG_ROWS_PER_ITEM] < 1 ||
      !symbol_name(sig[MHA_SIG_GRID_BATCH_SYM]) ||
      !symbol_name(sig[MHA_SIG_GRID_ROWS_SYM]))
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the signature's grid (heads %" PRId64
                ", rows per item %" PRId64 ", symbols %" PRId64 " and %" PRId64
                ") is invalid",
                name, sig[MHA_SIG_GRID_HEADS], sig[MHA_SIG_ROWS_PER_ITEM],
                sig[MHA_SIG_GRID_BATCH_SYM], sig[MHA_SIG_GRID_ROWS_SYM]);
  if (body_missing)
    MHA_RT_FAIL(MHA_ERR_INTERNAL, "%s: %s", name, body_missing);
  for (int i = 0; i < (int)num_tensors; ++i) {
    const int64_t *ts = tensor_sig(c, i);
    int64_t rank = ts[MHA_SIG_T_RANK], bits = ts[MHA_SIG_T_DTYPE_BITS];
    bool ok = rank >= 1 && rank <= MHA_SIG_MAX_RANK && bits >= 8 &&
              bits <= 64 && bits % 8 == 0 && ts[MHA_SIG_T_DTYPE_CODE] >= 0 &&
              ts[MHA_SIG_T_DTYPE_CODE] <= 255;
    for (int d = 0; ok && d < rank; ++d)
      ok = dim_sym(c, i, d) >= 0 && dim_sym(c, i, d) < NUM_SYMBOLS &&
           dim_static(c, i, d) >= -1;
    if (!ok)
      MHA_RT_FAIL(MHA_ERR_INTERNAL, "%s: the signature of tensor %d is invalid",
                  name, i);
  }
  return MHA_OK;
}

// The checks of one tensor, in order: what it is (pointer, device, rank,
// dtype), its sizes (binding the size symbols), its strides, the bytes it
// spans and, for outputs, that its elements do not overlap. Each fails with
// a message naming the function, the tensor and the dimension.

static int32_t check_identity(const call *c, int i, const DLTensor *t,
                              int device_type) {
  const int64_t *ts = tensor_sig(c, i);
  const char *name = c->name;
  char label[96], buf[128], buf2[128];
  int rank = (int)ts[MHA_SIG_T_RANK];
  unsigned code = (unsigned)ts[MHA_SIG_T_DTYPE_CODE];
  unsigned bits = (unsigned)ts[MHA_SIG_T_DTYPE_BITS];
  if (!t)
    MHA_RT_FAIL(MHA_ERR_NULL_POINTER, "%s: %s is NULL", name,
                tensor_label(label, c, i));
  if ((int)t->device.device_type != device_type)
    MHA_RT_FAIL(
        MHA_ERR_DEVICE,
        "%s: %s is on device %s (device_type %d, device_id %d) but %s runs "
        "on the %s (%s)",
        name, tensor_label(label, c, i), device_name(t->device.device_type),
        (int)t->device.device_type, t->device.device_id, name,
        device_type == kDLCPU ? "CPU" : "GPU", device_name(device_type));
  // A kernel runs on one GPU and reads its tensors through that GPU's
  // addresses: all of them must live there.
  if (device_type == kDLCUDA) {
    if (t->device.device_id < 0)
      MHA_RT_FAIL(MHA_ERR_DEVICE,
                  "%s: %s is on CUDA device %d, which cannot exist", name,
                  tensor_label(label, c, i), t->device.device_id);
    const DLTensor *first = c->first_tensor;
    if (first && first->device.device_id != t->device.device_id)
      MHA_RT_FAIL(
          MHA_ERR_DEVICE,
          "%s: %s is on CUDA device %d but %s is on CUDA device %d; all "
          "tensors of a call must be on one GPU",
          name, tensor_label(label, c, i), t->device.device_id,
          tensor_label(buf, c, c->first_index), first->device.device_id);
  }
  if (t->ndim != rank)
    MHA_RT_FAIL(MHA_ERR_RANK,
                "%s: %s has %d dimensions but the spec expects %d: %s", name,
                tensor_label(label, c, i), t->ndim, rank,
                expected_shape(buf, c, i));
  if (t->dtype.code != code || t->dtype.bits != bits || t->dtype.lanes != 1)
    MHA_RT_FAIL(MHA_ERR_DTYPE, "%s: %s dtype is %s but the spec expects %s",
                name, tensor_label(label, c, i),
                dtype_name(buf, t->dtype.code, t->dtype.bits, t->dtype.lanes),
                dtype_name(buf2, code, bits, 1));
  if (!t->shape)
    MHA_RT_FAIL(MHA_ERR_NULL_POINTER, "%s: %s has a NULL shape", name,
                tensor_label(label, c, i));

  return MHA_OK;
}

static int32_t check_sizes(const call *c, int i, const DLTensor *t,
                           tensor_info *info, int64_t bound[NUM_SYMBOLS],
                           int bound_by[NUM_SYMBOLS][2]) {
  const char *name = c->name;
  char label[96], dim[32], buf[128];
  int rank = t->ndim;
  info->empty = false;
  for (int d = 0; d < rank; ++d) {
    int64_t size = t->shape[d];
    int64_t want = dim_static(c, i, d), sym = dim_sym(c, i, d);
    if (size < 0)
      MHA_RT_FAIL(MHA_ERR_SHAPE,
                  "%s: %s %s is %" PRId64 " but sizes cannot be negative", name,
                  tensor_label(label, c, i), dim_label(dim, c, i, d), size);
    if (want >= 0 && size != want)
      MHA_RT_FAIL(MHA_ERR_SHAPE,
                  "%s: %s %s is %" PRId64 " but the spec expects %" PRId64,
                  name, tensor_label(label, c, i), dim_label(dim, c, i, d),
                  size, want);
    if (sym != MHA_SYM_NONE) {
      if (bound_by[sym][0] < 0) {
        bound[sym] = size;
        bound_by[sym][0] = i;
        bound_by[sym][1] = d;
      } else if (bound[sym] != size) {
        // "'k' (key) dim 2 (Lk) is 100 but 'v' (value) has 99": the first
        // tensor that used the symbol, then this one.
        int first = bound_by[sym][0], first_dim = bound_by[sym][1];
        char other[32] = "";
        if (first == i || first_dim != d)
          snprintf(other, sizeof(other), " dim %d", d);
        MHA_RT_FAIL(MHA_ERR_SHAPE,
                    "%s: %s %s is %" PRId64 " but %s%s has %" PRId64, name,
                    tensor_label(label, c, first),
                    dim_label(dim, c, first, first_dim), bound[sym],
                    tensor_label((char *)buf, c, i), other, size);
      }
    }
    info->sizes[d] = size;
    if (size == 0)
      info->empty = true;
  }
  if (!t->data && !info->empty)
    MHA_RT_FAIL(MHA_ERR_NULL_POINTER, "%s: %s has NULL data but shape %s", name,
                tensor_label(label, c, i),
                actual_shape(buf, info->sizes, rank));

  return MHA_OK;
}

static int32_t check_strides(const call *c, int i, const DLTensor *t,
                             tensor_info *info) {
  const int64_t *ts = tensor_sig(c, i);
  const char *name = c->name;
  char label[96], dim[32];
  int rank = t->ndim;
  unsigned bits = (unsigned)ts[MHA_SIG_T_DTYPE_BITS];
  int64_t elem = (int64_t)(bits / 8);
  info->elem_size = elem;
  if (t->byte_offset % (uint64_t)elem != 0)
    MHA_RT_FAIL(MHA_ERR_LAYOUT,
                "%s: %s byte_offset %" PRIu64
                " is not a multiple of its element size (%" PRId64 " bytes)",
                name, tensor_label(label, c, i), (uint64_t)t->byte_offset,
                elem);
  if (t->strides) {
    for (int d = 0; d < rank; ++d) {
      int64_t stride = t->strides[d];
      if (stride < 0)
        MHA_RT_FAIL(MHA_ERR_LAYOUT,
                    "%s: %s %s has stride %" PRId64
                    " but negative strides are not supported",
                    name, tensor_label(label, c, i), dim_label(dim, c, i, d),
                    stride);
      info->strides[d] = stride;
    }
    if (rank > 0 && info->sizes[rank - 1] > 1 && info->strides[rank - 1] != 1)
      MHA_RT_FAIL(MHA_ERR_LAYOUT,
                  "%s: %s %s has stride %" PRId64
                  " but the last dimension must be contiguous (stride 1)",
                  name, tensor_label(label, c, i),
                  dim_label(dim, c, i, rank - 1), info->strides[rank - 1]);
  } else {
    // Compact row-major; sizes of 0 count as 1, as in PyTorch. An overflow
    // here implies the extent check below fails too, so saturate.
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      info->strides[d] = stride;
      int64_t size = info->sizes[d] > 1 ? info->sizes[d] : 1;
      if (__builtin_mul_overflow(stride, size, &stride))
        stride = INT64_MAX;
    }
  }

  return MHA_OK;
}

static int32_t check_extent(const call *c, int i, const DLTensor *t,
                            tensor_info *info) {
  const char *name = c->name;
  char label[96], buf[128];
  int rank = t->ndim;
  int64_t elem = info->elem_size;
  // The bytes [lo, hi) the kernel may touch, without overflowing int64.
  info->lo = info->hi = 0;
  if (info->empty)
    return MHA_OK;
  bool overflow = t->byte_offset > (uint64_t)INT64_MAX;
  int64_t last = overflow ? 0 : (int64_t)t->byte_offset / elem;
  for (int d = 0; d < rank && !overflow; ++d) {
    int64_t reach;
    overflow =
        __builtin_mul_overflow(info->sizes[d] - 1, info->strides[d], &reach) ||
        __builtin_add_overflow(last, reach, &last);
  }
  int64_t end_bytes = 0;
  overflow = overflow || __builtin_add_overflow(last, 1, &last) ||
             __builtin_mul_overflow(last, elem, &end_bytes) ||
             (uintptr_t)t->data > UINTPTR_MAX - (uintptr_t)end_bytes;
  if (overflow)
    MHA_RT_FAIL(MHA_ERR_LAYOUT,
                "%s: %s with shape %s, its strides and byte_offset %" PRIu64
                " spans more bytes than int64 can address",
                name, tensor_label(label, c, i),
                actual_shape(buf, info->sizes, rank), (uint64_t)t->byte_offset);
  info->lo = (uintptr_t)t->data + (uintptr_t)t->byte_offset;
  info->hi = (uintptr_t)t->data + (uintptr_t)end_bytes;

  return MHA_OK;
}

static int32_t check_no_overlap(const call *c, int i, const DLTensor *t,
                                tensor_info *info) {
  const char *name = c->name;
  char label[96], dim[32];
  int rank = t->ndim;
  // Work items write outputs concurrently: an output whose elements alias
  // each other (e.g. a zero stride) would be a data race. Walking dimensions
  // by increasing stride, each stride must step past everything the smaller
  // ones reach.
  if (i >= c->num_inputs && t->strides) {
    bool used[MHA_SIG_MAX_RANK] = {false};
    int64_t reach = 0;
    for (int k = 0; k < rank; ++k) {
      int best = -1;
      for (int d = 0; d < rank; ++d)
        if (!used[d] && info->sizes[d] > 1 &&
            (best < 0 || info->strides[d] < info->strides[best]))
          best = d;
      if (best < 0)
        break;
      used[best] = true;
      if (info->strides[best] <= reach)
        MHA_RT_FAIL(MHA_ERR_LAYOUT,
                    "%s: %s %s has stride %" PRId64
                    ", so elements of this output overlap each other",
                    name, tensor_label(label, c, i), dim_label(dim, c, i, best),
                    info->strides[best]);
      reach += (info->sizes[best] - 1) * info->strides[best]; // Checked above.
    }
  }
  return MHA_OK;
}

static int32_t check_tensor(const call *c, int i, const DLTensor *t,
                            int device_type, int64_t bound[NUM_SYMBOLS],
                            int bound_by[NUM_SYMBOLS][2], tensor_info *info) {
  int32_t status;
  if ((status = check_identity(c, i, t, device_type)) != MHA_OK ||
      (status = check_sizes(c, i, t, info, bound, bound_by)) != MHA_OK ||
      (status = check_strides(c, i, t, info)) != MHA_OK ||
      (status = check_extent(c, i, t, info)) != MHA_OK)
    return status;
  return info->empty ? MHA_OK : check_no_overlap(c, i, t, info);
}

//===----------------------------------------------------------------------===//
// The whole call
//===----------------------------------------------------------------------===//

const char *mha_rt_tensor_label(char buf[96], const int64_t *signature,
                                const char *const *arg_names, int i) {
  call c = {signature, "", arg_names, 0, 0, NULL, 0};
  return tensor_label(buf, &c, i);
}

const char *mha_rt_dim_label(char buf[32], const int64_t *signature, int i,
                             int d) {
  call c = {signature, "", NULL, 0, 0, NULL, 0};
  return dim_label(buf, &c, i, d);
}

// The size struct_size = 0 stands for: the fields up to key_start.
#define OPTIONS_SIZE_V1 (offsetof(mha_options, key_start) + sizeof(int64_t))

/* Copies the fields of `in` that its struct_size covers into `out`, zeros
 * elsewhere; fields of a newer header past ours must be 0. */
static int32_t read_options(const char *name, const mha_options *in,
                            mha_options *out) {
  memset(out, 0, sizeof(*out));
  if (!in)
    return MHA_OK;
  size_t size = in->struct_size ? in->struct_size : OPTIONS_SIZE_V1;
  if (size < offsetof(mha_options, num_threads))
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->struct_size is %zu, smaller than the field "
                "itself; set it with MHA_OPTIONS_INIT (sizeof(mha_options))",
                name, size);
  const unsigned char *bytes = (const unsigned char *)in;
  for (size_t i = sizeof(mha_options); i < size; ++i)
    if (bytes[i] != 0)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: options->struct_size is %zu and byte %zu is set, but "
                  "this library knows only the first %zu bytes of "
                  "mha_options (a newer header's field it cannot honour)",
                  name, size, i, sizeof(mha_options));
  memcpy(out, in, size < sizeof(mha_options) ? size : sizeof(mha_options));
  out->struct_size = (uint32_t)sizeof(mha_options);
  return MHA_OK;
}

static void set_dropout_words(mha_rt_checked_call *out) {
  out->dropout_words[MHA_DROPOUT_SEED_LO] = (uint32_t)out->options.dropout_seed;
  out->dropout_words[MHA_DROPOUT_SEED_HI] =
      (uint32_t)(out->options.dropout_seed >> 32);
  out->dropout_words[MHA_DROPOUT_OFFSET_LO] =
      (uint32_t)out->options.dropout_offset;
  uint32_t *w = out->dropout_words;
  const mha_options *o = &out->options;
  w[MHA_POSITIONS_USED] = o->use_positions != 0;
  w[MHA_POSITIONS_QUERY_LO] = (uint32_t)(uint64_t)o->query_start;
  w[MHA_POSITIONS_QUERY_HI] = (uint32_t)((uint64_t)o->query_start >> 32);
  w[MHA_POSITIONS_KEY_LO] = (uint32_t)(uint64_t)o->key_start;
  w[MHA_POSITIONS_KEY_HI] = (uint32_t)((uint64_t)o->key_start >> 32);
  w[MHA_HEAD_MASK_GIVEN] = o->head_mask != NULL;
  w[MHA_CALL_THREADS] =
      (uint32_t)(o->num_threads > 0 ? o->num_threads : mha_rt_num_cpus());
  w[MHA_SPLIT_KV_COUNT] = 1; // mha_rt_launch may split keys (KernelAbi.h)
  mha_rt_memref *m = &out->dropout_memref;
  memset(m, 0, sizeof(*m));
  m->allocated = m->aligned = out->dropout_words;
  m->dims[0] = MHA_CALL_WORDS; // size
  m->dims[1] = 1;              // stride
}

int32_t mha_rt_refuse_positions(const mha_rt_checked_call *c,
                                const char *kind) {
  if (!c->options.use_positions)
    return MHA_OK;
  MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
              "%s: options->use_positions is set, but %s do not support "
              "explicit positions yet (only CPU attention functions and "
              "their backward do)",
              c->name, kind);
}

int32_t mha_rt_refuse_append_options(const mha_rt_checked_call *c) {
  if (c->options.head_mask)
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->head_mask is set, but an append function "
                "has no heads to ablate",
                c->name);
  return mha_rt_refuse_positions(c, "append functions");
}

int32_t mha_rt_check_call(const int64_t *signature, const char *name,
                          const char *const *arg_names,
                          const DLTensor *const *tensors,
                          const mha_options *options, int device_type,
                          const char *body_missing, mha_rt_checked_call *out) {
  call c = {
      signature, name ? name : "(unnamed function)", arg_names, 0, 0, NULL, 0};
  out->name = c.name;
  if (!signature)
    MHA_RT_FAIL(MHA_ERR_INTERNAL, "%s: no signature table", c.name);
  int32_t status = check_signature(&c, signature, body_missing);
  if (status != MHA_OK)
    return status;
  c.num_tensors = (int)signature[MHA_SIG_NUM_TENSORS];
  c.num_inputs = (int)signature[MHA_SIG_NUM_INPUTS];
  if (!tensors)
    MHA_RT_FAIL(MHA_ERR_NULL_POINTER, "%s: the tensor array is NULL", c.name);

  tensor_info info[MAX_TENSORS];
  int64_t bound[NUM_SYMBOLS] = {0};
  int bound_by[NUM_SYMBOLS][2];
  for (int s = 0; s < NUM_SYMBOLS; ++s)
    bound_by[s][0] = bound_by[s][1] = -1;
  for (int i = 0; i < c.num_tensors; ++i) {
    status =
        check_tensor(&c, i, tensors[i], device_type, bound, bound_by, &info[i]);
    if (status != MHA_OK)
      return status;
    if (!c.first_tensor) {
      c.first_tensor = tensors[i];
      c.first_index = i;
    }
  }

  // Outputs may share no byte with any other tensor (inputs may alias each
  // other: they are only read).
  for (int i = c.num_inputs; i < c.num_tensors; ++i) {
    if (info[i].empty)
      continue;
    for (int j = 0; j < c.num_tensors; ++j) {
      if (j == i || info[j].empty || (j >= c.num_inputs && j < i))
        continue;
      if (info[i].lo < info[j].hi && info[j].lo < info[i].hi) {
        char a[96], b[96];
        MHA_RT_FAIL(
            MHA_ERR_LAYOUT,
            "%s: output %s overlaps %s in memory; an output may share no "
            "byte with another tensor",
            c.name, tensor_label(a, &c, i), tensor_label(b, &c, j));
      }
    }
  }

  status = read_options(c.name, options, &out->options);
  if (status != MHA_OK)
    return status;
  int num_threads = out->options.num_threads;
  if (num_threads < 0)
    MHA_RT_FAIL(
        MHA_ERR_INVALID_ARGUMENT,
        "%s: options->num_threads is %d but must be >= 0 (0 = all cores)",
        c.name, num_threads);
  if (out->options.use_positions) {
    const char *field = NULL;
    int64_t value = 0;
    if (out->options.query_start < 0 ||
        out->options.query_start > MHA_MAX_POSITION)
      field = "query_start", value = out->options.query_start;
    else if (out->options.key_start < 0 ||
             out->options.key_start > MHA_MAX_POSITION)
      field = "key_start", value = out->options.key_start;
    if (field)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: options->%s is %" PRId64 " but must be a position "
                  "in [0, 2^38]",
                  c.name, field, value);
  }
  if (out->options.saved_activations &&
      mha_rt_find_role(signature, c.num_tensors, MHA_ROLE_LAYER_INPUT) < 0)
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->saved_activations is set, but only the "
                "_forward_train and _backward functions of a layer marked "
                "mha.backward take saved activations",
                c.name);
  set_dropout_words(out);

  int64_t batch_sym = signature[MHA_SIG_GRID_BATCH_SYM];
  int64_t rows_sym = signature[MHA_SIG_GRID_ROWS_SYM];
  if (bound_by[batch_sym][0] < 0 || bound_by[rows_sym][0] < 0)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: no tensor gives the grid's sizes %s and %s", c.name,
                symbol_name(batch_sym), symbol_name(rows_sym));

  out->num_tensors = c.num_tensors;
  out->num_inputs = c.num_inputs;
  out->device_id = tensors[0]->device.device_id;
  out->batch = bound[batch_sym];
  out->heads = signature[MHA_SIG_GRID_HEADS];
  out->rows = bound[rows_sym];
  out->sequence_batch = out->batch;
  out->sequence_rows = out->rows;
  out->sequences = out->batch;
  out->sequence_keys = -1;
  for (int i = 0; i < c.num_tensors; ++i) {
    int rank = (int)tensor_sig(&c, i)[MHA_SIG_T_RANK];
    mha_rt_memref *m = &out->memrefs[i];
    m->allocated = m->aligned = (char *)tensors[i]->data;
    m->offset =
        (int64_t)(tensors[i]->byte_offset / (uint64_t)info[i].elem_size);
    for (int d = 0; d < 2 * MHA_SIG_MAX_RANK; ++d)
      m->dims[d] = 0;
    for (int d = 0; d < rank; ++d) {
      m->dims[d] = info[i].sizes[d];
      m->dims[rank + d] = info[i].strides[d];
    }
    out->elem_size[i] = info[i].elem_size;
    out->empty[i] = info[i].empty;
  }
  return MHA_OK;
}

int32_t mha_rt_check_cpu_call(const int64_t *signature, const char *name,
                              const char *const *arg_names,
                              const DLTensor *const *tensors,
                              const mha_options *options, bool has_work,
                              mha_rt_checked_call *out) {
  int32_t status = mha_rt_check_call(signature, name, arg_names, tensors,
                                     options, kDLCPU, NULL, out);
  if (status == MHA_OK && !has_work)
    MHA_RT_FAIL(MHA_ERR_NO_DEVICE,
                "%s: the library has no kernel copy for this CPU's vector "
                "instructions (or the lower level MHA_ISA asks for): it was "
                "built for a CPU with more (mha-compile --isa=host, or a "
                "single --isa copy)",
                out->name);
  return status;
}
