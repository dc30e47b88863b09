//===- CudaLaunch.c - Checking a call and launching its kernel ----*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_rt_cuda_launch, the entry point that generated GPU wrappers call (see
// mha/Runtime/GpuAbi.h). It runs the same checks as the CPU launcher (with
// kDLCUDA tensors, CallCheck.c) plus the kernel's own requirements and the
// hardware's grid limits, all before the driver is touched, so a bad call
// fails the same way on a machine with or without a GPU. Then, per device,
// it retains the primary context and loads the module once, and launches
// the kernel on the caller's stream. The call returns once the kernel is
// enqueued; like any CUDA library call it does not wait for it.
//
//===----------------------------------------------------------------------===//

#include "CallCheck.h"
#include "CudaDriver.h"
#include "CudaIndexCheck.h"
#include "Status.h"

#include "mha/Runtime/GpuAbi.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Runtime head masks up to this many heads are staged on the stack.
#define STACK_HEADS 256
// Dynamic shared memory a kernel gets without opting in.
#define DEFAULT_SHARED_BYTES (48 * 1024)
// Hardware limits of a launch (all GPUs since compute capability 3.0).
#define MAX_GRID_X INT32_MAX
#define MAX_GRID_YZ 65535
#define MAX_BLOCK_THREADS 1024
// Kernel parameters: each tensor's descriptor, then the head mask's, then the
// tensor maps' address or the split-KV partial results' two descriptors.
#define PARTIALS_PARAMS ((3 + 2 * 5) + (3 + 2 * 4))
#define MAX_PARAMS                                                             \
  (MHA_RT_MAX_TENSORS * (3 + 2 * MHA_SIG_MAX_RANK) + 5 + PARTIALS_PARAMS)

//===----------------------------------------------------------------------===//
// Picking an image
//===----------------------------------------------------------------------===//

static bool image_usable(const mha_gpu_image *image) {
  return image->data && image->size > 0 &&
         (image->format == MHA_GPU_IMAGE_PTX ||
          image->format == MHA_GPU_IMAGE_CUBIN);
}

// Whether `image` may run on a device of capability `device_sm` (major*10 +
// minor). A cubin runs on the same major and any minor at least its own; PTX
// is compiled by the driver for any newer device. Arch-specific code ("a"
// targets, both forms) only on exactly its capability.
static bool image_fits(const mha_gpu_image *image, int32_t device_sm) {
  if (image->sm > device_sm)
    return false;
  if (image->arch_specific && image->sm != device_sm)
    return false;
  if (image->format == MHA_GPU_IMAGE_CUBIN)
    return image->sm / 10 == device_sm / 10;
  return true;
}

// Best of the fitting images of one format: the highest sm, an arch-specific
// one over a portable one of the same sm (it was built for exactly this
// device), and the first of equals.
static int32_t best_of_format(const mha_gpu_kernel *kernel, int32_t format,
                              int32_t device_sm) {
  int32_t best = -1;
  for (int32_t i = 0; i < kernel->num_images; ++i) {
    const mha_gpu_image *image = &kernel->images[i];
    if (image->format != format || !image_usable(image) ||
        !image_fits(image, device_sm))
      continue;
    if (best < 0)
      best = i;
    else {
      const mha_gpu_image *b = &kernel->images[best];
      if (image->sm > b->sm ||
          (image->sm == b->sm && image->arch_specific && !b->arch_specific))
        best = i;
    }
  }
  return best;
}

int32_t mha_rt_cuda_pick_image(const mha_gpu_kernel *kernel, int32_t major,
                               int32_t minor) {
  if (!kernel || !kernel->images || kernel->num_images <= 0 || major < 0 ||
      minor < 0 || minor > 9)
    return -1;
  int32_t device_sm = major * 10 + minor;
  int32_t best = best_of_format(kernel, MHA_GPU_IMAGE_CUBIN, device_sm);
  return best >= 0 ? best
                   : best_of_format(kernel, MHA_GPU_IMAGE_PTX, device_sm);
}

// "sm_80 cubin, sm_90a cubin, sm_80 PTX": what a library has, for messages.
static const char *list_images(char buf[160], const mha_gpu_kernel *kernel) {
  size_t len = 0;
  buf[0] = '\0';
  for (int32_t i = 0; i < kernel->num_images && len < 160; ++i) {
    const mha_gpu_image *image = &kernel->images[i];
    int n = snprintf(buf + len, 160 - len, "%ssm_%d%s %s", i ? ", " : "",
                     image->sm, image->arch_specific ? "a" : "",
                     image->format == MHA_GPU_IMAGE_PTX ? "PTX" : "cubin");
    if (n < 0)
      break;
    len += (size_t)n;
  }
  if (kernel->num_images <= 0)
    snprintf(buf, 160, "no device code at all");
  return buf;
}

//===----------------------------------------------------------------------===//
// Checks beyond the signature
//===----------------------------------------------------------------------===//

// The descriptor comes from our own compiler: anything odd in it is a bug.
static int32_t check_kernel(const char *name, const mha_gpu_kernel *kernel) {
  if (!kernel->kernel_name || !kernel->kernel_name[0] ||
      kernel->block_threads < 1 || kernel->block_threads > MAX_BLOCK_THREADS ||
      kernel->shared_bytes < 0 || kernel->rows_per_block < 1 ||
      kernel->heads_per_block < 0 || kernel->num_images < 0 ||
      (kernel->num_images > 0 && !kernel->images))
    MHA_RT_FAIL(
        MHA_ERR_INTERNAL,
        "%s: the kernel descriptor (entry %s, %d threads, %d bytes of shared "
        "memory, %d rows per block, %d images) is invalid",
        name, kernel->kernel_name ? kernel->kernel_name : "(null)",
        kernel->block_threads, kernel->shared_bytes, kernel->rows_per_block,
        kernel->num_images);
  return MHA_OK;
}

// MHA_GPU_REQ_ALIGNED_ROWS: the kernel copies rows of q, k and v (and a
// backward's dout) with 16-byte cp.async, so each row must start on a
// 16-byte boundary. Empty tensors are never read; a dimension of size 1
// never steps its stride.
static int32_t check_aligned_rows(const mha_rt_checked_call *c,
                                  const int64_t *signature,
                                  const char *const *arg_names,
                                  const DLTensor *const *tensors) {
  char label[96], dim[32];
  for (int i = 0; i < c->num_tensors; ++i) {
    int64_t role = mha_rt_tensor_sig(signature, i)[MHA_SIG_T_ROLE];
    if ((role != MHA_ROLE_QUERY && role != MHA_ROLE_KEY &&
         role != MHA_ROLE_VALUE && role != MHA_ROLE_GRAD_OUTPUT) ||
        c->empty[i])
      continue;
    const DLTensor *t = tensors[i];
    uintptr_t start = (uintptr_t)t->data + (uintptr_t)t->byte_offset;
    if (start % 16 != 0)
      MHA_RT_FAIL(
          MHA_ERR_LAYOUT,
          "%s: %s starts at address %p + byte_offset %" PRIu64
          ", which is not 16-byte aligned; this GPU kernel needs 16-byte "
          "aligned rows",
          c->name, mha_rt_tensor_label(label, signature, arg_names, i), t->data,
          (uint64_t)t->byte_offset);
    int rank = t->ndim;
    const mha_rt_memref *m = &c->memrefs[i];
    for (int d = 0; d + 1 < rank; ++d) {
      int64_t size = m->dims[d], stride = m->dims[rank + d];
      // The stride was range-checked with the extent, so the product fits.
      if (size > 1 && (stride * c->elem_size[i]) % 16 != 0)
        MHA_RT_FAIL(
            MHA_ERR_LAYOUT,
            "%s: %s %s has stride %" PRId64 " (%" PRId64
            " bytes), which is not a multiple of 16 bytes; this GPU kernel "
            "needs 16-byte aligned rows",
            c->name, mha_rt_tensor_label(label, signature, arg_names, i),
            mha_rt_dim_label(dim, signature, i, d), stride,
            stride * c->elem_size[i]);
    }
  }
  return MHA_OK;
}

//===----------------------------------------------------------------------===//
// Per-device state, kept for the life of the library
//===----------------------------------------------------------------------===//

typedef struct device_entry {
  int ordinal;
  CUcontext context; // The primary context, retained once.
  int major, minor;
  int multiprocessors;
  struct device_entry *next;
} device_entry;

// Modules are keyed by their images, so kernels that share a module (one
// image set, several entries) load it once.
typedef struct module_entry {
  const mha_gpu_image *images;
  int32_t num_images;
  int ordinal;
  CUmodule module;
  struct module_entry *next;
} module_entry;

typedef struct function_entry {
  const mha_gpu_kernel *kernel;
  int ordinal;
  CUfunction function;
  struct function_entry *next;
} function_entry;

// Lookups take the mutex on every call: it costs far less than a launch,
// and a module load (possibly a PTX JIT) happens under it once.
static struct {
  pthread_mutex_t mutex;
  device_entry *devices;
  module_entry *modules;
  function_entry *functions;
} cache = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL};

static int32_t cuda_error(const char *name, const char *call, CUresult result,
                          const char *detail) {
  char what[256];
  mha_rt_cuda_describe(what, sizeof(what), call, result);
  mha_rt_set_error("%s: %s%s", name, what, detail ? detail : "");
  return MHA_ERR_CUDA;
}

// With cache.mutex held.
static int32_t get_device(const mha_rt_cuda_driver *d, const char *name,
                          int ordinal, device_entry **out) {
  for (device_entry *e = cache.devices; e; e = e->next)
    if (e->ordinal == ordinal) {
      *out = e;
      return MHA_OK;
    }
  CUdevice device;
  CUresult r = d->cuDeviceGet(&device, ordinal);
  if (r == CUDA_ERROR_INVALID_DEVICE)
    MHA_RT_FAIL(
        MHA_ERR_DEVICE,
        "%s: the tensors are on CUDA device %d, which this machine does not "
        "have",
        name, ordinal);
  if (r != CUDA_SUCCESS)
    return cuda_error(name, "cuDeviceGet", r, NULL);
  int major = 0, minor = 0;
  r = d->cuDeviceGetAttribute(
      &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
  if (r == CUDA_SUCCESS)
    r = d->cuDeviceGetAttribute(
        &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
  int multiprocessors = 0;
  if (r == CUDA_SUCCESS)
    r = d->cuDeviceGetAttribute(
        &multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
  if (r != CUDA_SUCCESS)
    return cuda_error(name, "cuDeviceGetAttribute", r, NULL);
  device_entry *e = (device_entry *)calloc(1, sizeof(*e));
  if (!e)
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
  // The primary context is the one CUDA runtime users (PyTorch, CuPy, JAX)
  // share, so their streams and pointers are valid in it.
  r = d->cuDevicePrimaryCtxRetain(&e->context, device);
  if (r != CUDA_SUCCESS) {
    free(e);
    return cuda_error(name, "cuDevicePrimaryCtxRetain", r, NULL);
  }
  e->ordinal = ordinal;
  e->major = major;
  e->minor = minor;
  e->multiprocessors = multiprocessors;
  e->next = cache.devices;
  cache.devices = e;
  *out = e;
  return MHA_OK;
}

// With cache.mutex held and the device's context current.
static int32_t get_module(const mha_rt_cuda_driver *d, const char *name,
                          const mha_gpu_kernel *kernel, const device_entry *dev,
                          CUmodule *out) {
  for (module_entry *e = cache.modules; e; e = e->next)
    if (e->images == kernel->images && e->num_images == kernel->num_images &&
        e->ordinal == dev->ordinal) {
      *out = e->module;
      return MHA_OK;
    }
  char list[160];
  int32_t pick = mha_rt_cuda_pick_image(kernel, dev->major, dev->minor);
  if (pick < 0)
    MHA_RT_FAIL(
        MHA_ERR_NO_DEVICE,
        "%s: no device code of this library runs on CUDA device %d (compute "
        "capability %d.%d); it has %s",
        name, dev->ordinal, dev->major, dev->minor, list_images(list, kernel));
  const mha_gpu_image *image = &kernel->images[pick];
  if (image->format == MHA_GPU_IMAGE_PTX &&
      ((const char *)image->data)[image->size - 1] != '\0')
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the sm_%d PTX image is not NUL-terminated", name,
                image->sm);
  module_entry *e = (module_entry *)calloc(1, sizeof(*e));
  if (!e)
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
  // For PTX the driver compiles here; its log says why when that fails.
  char log[512] = "";
  int options[2] = {CU_JIT_ERROR_LOG_BUFFER,
                    CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[2] = {log, (void *)(uintptr_t)sizeof(log)};
  CUresult r =
      d->cuModuleLoadDataEx(&e->module, image->data, 2, options, values);
  if (r != CUDA_SUCCESS) {
    free(e);
    log[sizeof(log) - 1] = '\0';
    char detail[640];
    snprintf(detail, sizeof(detail), " loading the sm_%d%s %s image%s%s",
             image->sm, image->arch_specific ? "a" : "",
             image->format == MHA_GPU_IMAGE_PTX ? "PTX" : "cubin",
             log[0] ? ": " : "", log);
    return cuda_error(name, "cuModuleLoadDataEx", r, detail);
  }
  e->images = kernel->images;
  e->num_images = kernel->num_images;
  e->ordinal = dev->ordinal;
  e->next = cache.modules;
  cache.modules = e;
  *out = e->module;
  return MHA_OK;
}

// With cache.mutex held and the device's context current.
static int32_t get_function(const mha_rt_cuda_driver *d, const char *name,
                            const mha_gpu_kernel *kernel,
                            const device_entry *dev, CUfunction *out) {
  for (function_entry *e = cache.functions; e; e = e->next)
    if (e->kernel == kernel && e->ordinal == dev->ordinal) {
      *out = e->function;
      return MHA_OK;
    }
  CUmodule module;
  int32_t status = get_module(d, name, kernel, dev, &module);
  if (status != MHA_OK)
    return status;
  CUfunction function;
  CUresult r = d->cuModuleGetFunction(&function, module, kernel->kernel_name);
  if (r != CUDA_SUCCESS) {
    char detail[160];
    snprintf(detail, sizeof(detail), " for kernel '%s'", kernel->kernel_name);
    return cuda_error(name, "cuModuleGetFunction", r, detail);
  }
  // Beyond 48 KiB of dynamic shared memory a kernel must opt in; once per
  // function and device, as the attribute sticks.
  if (kernel->shared_bytes > DEFAULT_SHARED_BYTES) {
    r = d->cuFuncSetAttribute(function,
                              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                              kernel->shared_bytes);
    if (r != CUDA_SUCCESS) {
      char detail[160];
      snprintf(detail, sizeof(detail),
               " raising the dynamic shared memory of '%s' to %d bytes on "
               "CUDA device %d (compute capability %d.%d)",
               kernel->kernel_name, kernel->shared_bytes, dev->ordinal,
               dev->major, dev->minor);
      return cuda_error(name, "cuFuncSetAttribute", r, detail);
    }
  }
  function_entry *e = (function_entry *)calloc(1, sizeof(*e));
  if (!e)
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
  e->kernel = kernel;
  e->ordinal = dev->ordinal;
  e->function = function;
  e->next = cache.functions;
  cache.functions = e;
  *out = function;
  return MHA_OK;
}

// The multiprocessors of CUDA device `ordinal`.
static int32_t get_multiprocessors(const mha_rt_cuda_driver *d,
                                   const char *name, int ordinal, int *out) {
  pthread_mutex_lock(&cache.mutex);
  device_entry *dev;
  int32_t status = get_device(d, name, ordinal, &dev);
  if (status == MHA_OK)
    *out = dev->multiprocessors;
  pthread_mutex_unlock(&cache.mutex);
  return status;
}

// Makes the device's primary context current (pushed) and finds the kernel.
// On success the caller pops the context; on error it is already popped.
// `*kernel` becomes its portable counterpart when none of its images fits
// the device (an sm_90a kernel on another GPU).
static int32_t prepare(const mha_rt_cuda_driver *d, const char *name,
                       const mha_gpu_kernel **kernel_io, int ordinal,
                       CUfunction *function) {
  pthread_mutex_lock(&cache.mutex);
  device_entry *dev;
  int32_t status = get_device(d, name, ordinal, &dev);
  const mha_gpu_kernel *kernel = *kernel_io;
  if (status == MHA_OK && kernel->portable &&
      mha_rt_cuda_pick_image(kernel, dev->major, dev->minor) < 0) {
    kernel = kernel->portable; // checked by the caller
    *kernel_io = kernel;
  }
  if (status == MHA_OK) {
    CUresult r = d->cuCtxPushCurrent(dev->context);
    if (r != CUDA_SUCCESS)
      status = cuda_error(name, "cuCtxPushCurrent_v2", r, NULL);
    else {
      status = get_function(d, name, kernel, dev, function);
      if (status != MHA_OK) {
        CUcontext popped;
        d->cuCtxPopCurrent(&popped);
      }
    }
  }
  pthread_mutex_unlock(&cache.mutex);
  return status;
}

void mha_rt_cuda_reset_for_testing(const char *libcuda_path) {
  pthread_mutex_lock(&cache.mutex);
  while (cache.devices) {
    device_entry *next = cache.devices->next;
    free(cache.devices);
    cache.devices = next;
  }
  while (cache.modules) {
    module_entry *next = cache.modules->next;
    free(cache.modules);
    cache.modules = next;
  }
  while (cache.functions) {
    function_entry *next = cache.functions->next;
    free(cache.functions);
    cache.functions = next;
  }
  pthread_mutex_unlock(&cache.mutex);
  mha_rt_cuda_driver_reset(libcuda_path);
}

//===----------------------------------------------------------------------===//
// The launch
//===----------------------------------------------------------------------===//

// The k and v tensor maps of a MHA_GPU_REQ_TENSOR_MAPS kernel: [D, L, H, B]
// with 64 x tma_box_rows boxes, 128-byte swizzle (the layout the kernel's
// warpgroup MMAs read), zeros past the end. Returns false when the driver
// cannot encode them.
static bool encode_tensor_maps(const mha_rt_cuda_driver *d,
                               const mha_rt_checked_call *c,
                               const int64_t *signature,
                               const mha_gpu_kernel *kernel,
                               CUtensorMap maps[2]) {
  if (!d->cuTensorMapEncodeTiled || kernel->tma_box_rows < 1 ||
      kernel->tma_box_rows > 256)
    return false;
  int found = 0;
  for (int i = 0; i < c->num_tensors; ++i) {
    const int64_t *sig = mha_rt_tensor_sig(signature, i);
    int slot = sig[MHA_SIG_T_ROLE] == MHA_ROLE_KEY     ? 0
               : sig[MHA_SIG_T_ROLE] == MHA_ROLE_VALUE ? 1
                                                       : -1;
    if (slot < 0)
      continue;
    if (sig[MHA_SIG_T_RANK] != 4 || sig[MHA_SIG_T_DTYPE_BITS] != 16)
      return false;
    const mha_rt_memref *m = &c->memrefs[i];
    // Strides in bytes of L, H and B; a dimension of size 1 never steps
    // its stride, which then only has to be valid (a multiple of 16).
    uint64_t dims[4], strides[3];
    for (int k = 0; k < 4; ++k)
      dims[k] = (uint64_t)m->dims[3 - k];
    uint64_t contiguous = dims[0] * 2;
    for (int k = 1; k < 4; ++k) {
      uint64_t stride = (uint64_t)m->dims[4 + 3 - k] * 2;
      if (dims[k] == 1)
        stride = (contiguous + 15) / 16 * 16;
      strides[k - 1] = stride;
      contiguous = stride * dims[k];
    }
    uint32_t box[4] = {64, (uint32_t)kernel->tma_box_rows, 1, 1};
    uint32_t unit[4] = {1, 1, 1, 1};
    void *address = (char *)m->aligned + m->offset * 2;
    int type = sig[MHA_SIG_T_DTYPE_CODE] == kDLBfloat
                   ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                   : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    if (d->cuTensorMapEncodeTiled(
            &maps[slot], type, 4, address, dims, strides, box, unit,
            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
            CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      return false;
    found |= 1 << slot;
  }
  return found == 3;
}

typedef struct grid {
  int64_t tiles, head_blocks, batch;
} grid;

static bool grid_empty(const grid *g) {
  return g->batch == 0 || g->tiles == 0 || g->head_blocks == 0;
}

// The launch grid of `kernel` for the call: query tiles x head blocks x B,
// or (over_keys) key tiles x KV heads x B. With packed queries
// (cu_seqlens_q, S + 1 entries; q is [1, Hq, total, D]) the kernel walks
// the query tiles of every sequence in turn, then those of the rows past
// the last one, whose lengths only the device knows: ceil(total / rows) +
// S + 1 tiles cover any offsets, x head blocks x 1.
static int32_t get_grid(const mha_rt_checked_call *c, const int64_t *signature,
                        const mha_gpu_kernel *kernel, grid *g) {
  int64_t rows = kernel->rows_per_block;
  int64_t per_block = kernel->heads_per_block > 0 ? kernel->heads_per_block : 1;
  int64_t extent = c->rows, heads = c->heads;
  const char *what = "query tiles";
  if (kernel->over_keys) {
    // k is [B, Hkv, Lk, D] (the signature's rank 4, checked).
    int key = mha_rt_find_role(signature, c->num_tensors, MHA_ROLE_KEY);
    if (key < 0 || mha_rt_tensor_sig(signature, key)[MHA_SIG_T_RANK] != 4)
      MHA_RT_FAIL(MHA_ERR_INTERNAL,
                  "%s: the kernel '%s' walks keys, but the signature has no "
                  "rank-4 k",
                  c->name, kernel->kernel_name);
    heads = c->memrefs[key].dims[1];
    extent = c->memrefs[key].dims[2];
    what = "key tiles";
  }
  if (heads % per_block != 0)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: %" PRId64
                " heads are not a multiple of the kernel's %" PRId64
                " heads per block",
                c->name, heads, per_block);
  g->tiles = extent / rows + (extent % rows != 0);
  g->head_blocks = heads / per_block;
  g->batch = c->batch;
  int cu_q = mha_rt_find_role(signature, c->num_tensors, MHA_ROLE_CU_SEQLENS_Q);
  if (cu_q >= 0 && !kernel->over_keys) {
    g->batch = 1;
    if (extent > 0)
      g->tiles += c->memrefs[cu_q].dims[0];
  }
  if (!grid_empty(g) &&
      (g->tiles > MAX_GRID_X || g->head_blocks > MAX_GRID_YZ ||
       g->batch > MAX_GRID_YZ))
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: the grid of %" PRId64 " x %" PRId64 " x %" PRId64
                " blocks (%s of %" PRId64 " rows x head blocks x B) exceeds "
                "the GPU's limits of %d x %d x %d",
                c->name, g->tiles, g->head_blocks, g->batch, what, rows,
                MAX_GRID_X, MAX_GRID_YZ, MAX_GRID_YZ);
  return MHA_OK;
}

//===----------------------------------------------------------------------===//
// Split-KV
//===----------------------------------------------------------------------===//

// The parts of each row's keys for a call of a kernel with split_keys
// (GpuAbi.h) whose split grid is `g`: enough for two blocks per
// multiprocessor, 1 when the unsplit grid fills the device or the cache is
// too short. Shapes and the device only: the same for every call of one
// batch shape (CUDA graphs).
static int64_t choose_parts(const mha_rt_checked_call *c,
                            const int64_t *signature, const grid *g,
                            int multiprocessors) {
  int key = mha_rt_find_role(signature, c->num_tensors, MHA_ROLE_KEY);
  int table = mha_rt_find_role(signature, c->num_tensors, MHA_ROLE_BLOCK_TABLE);
  if (key < 0 || multiprocessors <= 0)
    return 1;
  int64_t capacity = c->memrefs[key].dims[2], blocks;
  if (table >= 0 &&
      __builtin_mul_overflow(capacity, c->memrefs[table].dims[1], &capacity))
    capacity = INT64_MAX;
  if (__builtin_mul_overflow(g->tiles, g->head_blocks, &blocks) ||
      __builtin_mul_overflow(blocks, g->batch, &blocks) || blocks <= 0 ||
      blocks >= multiprocessors)
    return 1;
  int64_t parts = (2 * (int64_t)multiprocessors + blocks - 1) / blocks;
  if (parts > capacity / MHA_GPU_SPLIT_MIN_KEYS)
    parts = capacity / MHA_GPU_SPLIT_MIN_KEYS;
  if (parts > MHA_GPU_SPLIT_MAX_PARTS)
    parts = MHA_GPU_SPLIT_MAX_PARTS;
  return parts < 2 ? 1 : parts;
}

// The parts' outputs [parts, B, Hq, Lq, Dv] and lse [parts, B, Hq, Lq] in
// one stream-ordered f32 buffer (B = 1 and Lq = total rows for packed
// queries), as the split kernels' two memref
// parameters (allocated, aligned, offset, sizes, strides; 8 bytes each).
typedef struct partials {
  CUdeviceptr buffer;
  int64_t outputs[3 + 2 * 5], lse[3 + 2 * 4];
} partials;

// Row-major sizes and strides of a memref parameter at `m`.
static void describe_contiguous(int64_t *m, CUdeviceptr data,
                                const int64_t *sizes, int rank) {
  m[0] = m[1] = (int64_t)data;
  m[2] = 0;
  int64_t stride = 1;
  for (int k = rank - 1; k >= 0; --k) {
    m[3 + k] = sizes[k];
    m[3 + rank + k] = stride;
    stride *= sizes[k];
  }
}

static int32_t alloc_partials(const mha_rt_cuda_driver *d,
                              const mha_rt_checked_call *c,
                              const int64_t *signature, int64_t parts,
                              int64_t batch, CUstream stream, partials *p) {
  int value = mha_rt_find_role(signature, c->num_tensors, MHA_ROLE_VALUE);
  int64_t dv = value >= 0 ? c->memrefs[value].dims[3] : 0, rows, floats;
  int64_t sizes[5] = {parts, batch, c->heads, c->rows, dv};
  if (__builtin_mul_overflow(parts, batch, &rows) ||
      __builtin_mul_overflow(rows, c->heads, &rows) ||
      __builtin_mul_overflow(rows, c->rows, &rows) ||
      __builtin_mul_overflow(rows, dv + 1, &floats) ||
      floats > INT64_MAX / (int64_t)sizeof(float))
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                "%s: the split-KV partial results of %" PRId64
                " parts do not fit in memory",
                c->name, parts);
  CUresult r =
      d->cuMemAllocAsync(&p->buffer, (size_t)floats * sizeof(float), stream);
  if (r != CUDA_SUCCESS) {
    p->buffer = 0;
    return cuda_error(c->name, "cuMemAllocAsync", r,
                      " for the split-KV partial results");
  }
  describe_contiguous(p->outputs, p->buffer, sizes, 5);
  describe_contiguous(
      p->lse, p->buffer + (CUdeviceptr)(rows * dv) * sizeof(float), sizes, 4);
  return MHA_OK;
}

// The runtime head mask as the kernel's memref<?xi8> parameter.
typedef struct mask_memref {
  void *allocated;
  void *aligned;
  int64_t offset, size, stride;
} mask_memref;

// Copies the caller's head mask (c->heads bytes) to a new stream-ordered
// device buffer *mask_ptr; on failure nothing stays allocated.
static int32_t stage_head_mask(const mha_rt_cuda_driver *d,
                               const mha_rt_checked_call *c,
                               const uint8_t *host_mask, CUstream stream,
                               CUdeviceptr *mask_ptr) {
  int32_t status = MHA_OK;
  uint8_t stack_mask[STACK_HEADS];
  uint8_t *staged = stack_mask;
  if (c->heads > STACK_HEADS) {
    staged = (uint8_t *)malloc((size_t)c->heads);
    if (!staged)
      MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                  "%s: could not allocate the %" PRId64 "-byte head mask",
                  c->name, c->heads);
  }
  memcpy(staged, host_mask, (size_t)c->heads);
  CUresult r = d->cuMemAllocAsync(mask_ptr, (size_t)c->heads, stream);
  if (r != CUDA_SUCCESS)
    status = cuda_error(c->name, "cuMemAllocAsync", r, " for the head mask");
  else {
    r = d->cuMemcpyHtoDAsync(*mask_ptr, staged, (size_t)c->heads, stream);
    if (r != CUDA_SUCCESS) {
      status =
          cuda_error(c->name, "cuMemcpyHtoDAsync_v2", r, " for the head mask");
      d->cuMemFreeAsync(*mask_ptr, stream);
    }
  }
  if (staged != stack_mask)
    free(staged);
  if (status != MHA_OK)
    *mask_ptr = 0;
  return status;
}

// The kernel parameters of the tensors' memrefs (allocated, aligned,
// offset, sizes, strides: 8 bytes each, passed by address); returns how
// many were written.
static int push_tensor_params(const int64_t *signature, mha_rt_checked_call *c,
                              void **params) {
  int n = 0;
  for (int i = 0; i < c->num_tensors; ++i) {
    mha_rt_memref *m = &c->memrefs[i];
    int rank = (int)mha_rt_tensor_sig(signature, i)[MHA_SIG_T_RANK];
    params[n++] = &m->allocated;
    params[n++] = &m->aligned;
    params[n++] = &m->offset;
    for (int k = 0; k < 2 * rank; ++k) // sizes, then strides
      params[n++] = &m->dims[k];
  }
  return n;
}

// Whether `stream` is capturing a CUDA graph. Captures happen on streams
// the caller created, never on the legacy default stream (NULL), which is
// not asked (it needs a current context).
static bool stream_is_capturing(const mha_rt_cuda_driver *d, CUstream stream) {
  int status = CU_STREAM_CAPTURE_STATUS_NONE;
  return stream && d->cuStreamIsCapturing(stream, &status) == CUDA_SUCCESS &&
         status != CU_STREAM_CAPTURE_STATUS_NONE;
}

// The kernel to launch for rows whose alignment check gave
// `aligned_status`: `kernel`, or its fallback when it needs aligned rows
// and they are not.
static int32_t choose_for_rows(const char *name, const mha_gpu_kernel *kernel,
                               int32_t aligned_status,
                               const mha_gpu_kernel **out) {
  int32_t status = check_kernel(name, kernel);
  if (status != MHA_OK)
    return status;
  *out = kernel;
  if (!(kernel->requirements & MHA_GPU_REQ_ALIGNED_ROWS) ||
      aligned_status == MHA_OK)
    return MHA_OK;
  // Rows that cp.async cannot copy: the kernel with narrower loads, when
  // the library has one.
  if (!kernel->fallback)
    return aligned_status;
  kernel = kernel->fallback;
  if (kernel->fallback || kernel->requirements != 0)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the fallback kernel '%s' has requirements of its own",
                name, kernel->kernel_name ? kernel->kernel_name : "(null)");
  *out = kernel;
  return check_kernel(name, kernel);
}

MHA_RT_HIDDEN int32_t mha_rt_on_cuda(const DLTensor *t) {
  return t && t->device.device_type == kDLCUDA;
}

MHA_RT_HIDDEN int32_t mha_rt_cuda_launch(const int64_t *signature,
                                         const char *name,
                                         const char *const *arg_names,
                                         const DLTensor *const *tensors,
                                         const mha_options *options,
                                         const mha_gpu_kernel *kernel) {
  mha_rt_checked_call c;
  int32_t status =
      mha_rt_check_call(signature, name, arg_names, tensors, options, kDLCUDA,
                        kernel ? NULL : "no kernel", &c);
  if (status != MHA_OK ||
      (status = mha_rt_refuse_positions(&c, "GPU functions")) != MHA_OK)
    return status;
  if ((status = check_kernel(c.name, kernel)) != MHA_OK)
    return status;
  if (mha_rt_find_role(signature, c.num_tensors, MHA_ROLE_KEY_NEW) >= 0 &&
      (status = mha_rt_refuse_append_options(&c)) != MHA_OK)
    return status;
  int32_t aligned = MHA_OK;
  const mha_gpu_kernel *related[] = {kernel, kernel->then, kernel->split_keys};
  bool needs_alignment = false;
  for (int k = 0; k < 3; ++k)
    needs_alignment =
        needs_alignment ||
        (related[k] && (related[k]->requirements & MHA_GPU_REQ_ALIGNED_ROWS));
  if (needs_alignment)
    aligned = check_aligned_rows(&c, signature, arg_names, tensors);
  // The call's kernels: the first and the one after it (a backward's two).
  enum { MAX_KERNELS = 2 };
  const mha_gpu_kernel *kernels[MAX_KERNELS] = {NULL, NULL};
  if ((status = choose_for_rows(c.name, kernel, aligned, &kernels[0])) !=
          MHA_OK ||
      (kernels[0]->then &&
       (status = choose_for_rows(c.name, kernels[0]->then, aligned,
                                 &kernels[1])) != MHA_OK))
    return status;
  if (kernels[1] && kernels[1]->then)
    MHA_RT_FAIL(MHA_ERR_INTERNAL, "%s: more than %d kernels in a chain", c.name,
                MAX_KERNELS);
  mha_rt_clear_error();

  // The grid of every kernel this call may launch is checked before the
  // driver is loaded; the device picks between a kernel and its portable
  // counterpart.
  grid g[MAX_KERNELS];
  bool empty = true;
  for (int k = 0; k < MAX_KERNELS && kernels[k]; ++k) {
    const mha_gpu_kernel *portable = kernels[k]->portable;
    if ((status = get_grid(&c, signature, kernels[k], &g[k])) != MHA_OK ||
        (portable &&
         ((status = check_kernel(c.name, portable)) != MHA_OK ||
          (status = get_grid(&c, signature, portable, &g[k])) != MHA_OK)))
      return status;
    empty = empty && grid_empty(&g[k]);
  }

  // Even a call with nothing to do says when there is no GPU: a program
  // should not learn that only from its first non-empty call.
  const char *why = NULL;
  const mha_rt_cuda_driver *d = mha_rt_cuda_load(&why);
  if (!d)
    MHA_RT_FAIL(MHA_ERR_NO_DEVICE, "%s: %s", c.name, why);
  if (empty) {
    mha_rt_clear_error();
    return MHA_OK;
  }
  kernel = kernels[0];

  // Split-KV: a forward call whose blocks cannot fill the device runs the
  // split kernel and then its merge instead (rows aligned for its cp.async).
  int64_t parts = 1;
  const mha_gpu_kernel *split = kernel->split_keys;
  if (split && !kernels[1] && aligned == MHA_OK) {
    grid split_grid;
    int multiprocessors = 0;
    if (!split->then || split->then->then)
      MHA_RT_FAIL(MHA_ERR_INTERNAL,
                  "%s: the split-KV kernel '%s' needs exactly one merge "
                  "kernel after it",
                  c.name, split->kernel_name ? split->kernel_name : "(null)");
    if ((status = check_kernel(c.name, split)) != MHA_OK ||
        (status = check_kernel(c.name, split->then)) != MHA_OK ||
        (status = get_grid(&c, signature, split, &split_grid)) != MHA_OK ||
        (status = get_multiprocessors(d, c.name, c.device_id,
                                      &multiprocessors)) != MHA_OK)
      return status;
    parts = choose_parts(&c, signature, &split_grid, multiprocessors);
    if (parts > 1) {
      split_grid.tiles *= parts; // fewer blocks than multiprocessors before
      kernels[0] = kernel = split;
      kernels[1] = split->then;
      g[0] = split_grid;
      if ((status = get_grid(&c, signature, kernels[1], &g[1])) != MHA_OK)
        return status;
    }
  }

  // A CUDA graph records a copy from host memory as a copy it repeats at
  // each replay, from the same address: the head mask and the tensor maps
  // are staged on the stack, so a capture must not copy them.
  CUstream stream = (CUstream)c.options.cuda_stream;
  bool capturing = stream_is_capturing(d, stream);
  if (capturing && c.options.head_mask)
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->head_mask is copied from host memory, which a "
                "CUDA graph would read again at each replay; capture without "
                "a run-time head mask (a static head_mask works)",
                c.name);

  // A kernel that loads with TMA needs tensor maps; where the driver cannot
  // encode them (too old, or a layout TMA cannot describe) or a graph is
  // being captured, the portable kernel runs instead.
  CUtensorMap maps[2];
  if ((kernel->requirements & MHA_GPU_REQ_TENSOR_MAPS) &&
      (capturing || !encode_tensor_maps(d, &c, signature, kernel, maps))) {
    if (!kernel->portable && capturing)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: the kernel's TMA tensor maps are copied from host "
                  "memory, which a CUDA graph capture cannot hold, and the "
                  "library has no portable kernel",
                  c.name);
    if (!kernel->portable)
      MHA_RT_FAIL(
          MHA_ERR_CUDA,
          "%s: the CUDA driver cannot describe k and v as TMA tensor maps "
          "(cuTensorMapEncodeTiled%s)",
          c.name, d->cuTensorMapEncodeTiled ? " failed" : " is missing");
    kernel = kernel->portable;
  }

  CUfunction functions[MAX_KERNELS];
  CUcontext popped;
  status = prepare(d, c.name, &kernel, c.device_id, &functions[0]);
  if (status != MHA_OK)
    return status;
  kernels[0] = kernel;
  if (parts == 1)
    get_grid(&c, signature, kernel, &g[0]); // checked above
  // The next kernel's function, with the context already current (prepare
  // pushes it once more).
  if (kernels[1]) {
    status = prepare(d, c.name, &kernels[1], c.device_id, &functions[1]);
    if (status == MHA_OK)
      d->cuCtxPopCurrent(&popped);
    if (status != MHA_OK) {
      d->cuCtxPopCurrent(&popped);
      return status;
    }
  }
  if (mha_rt_cuda_wants_index_check(&c) &&
      (status = mha_rt_cuda_check_indices(d, signature, arg_names, &c,
                                          stream)) != MHA_OK) {
    d->cuCtxPopCurrent(&popped);
    return status;
  }

  // The runtime head mask goes to a stream-ordered device copy that lives
  // until the kernel has run. It is staged through pageable (stack) memory,
  // which the driver copies before cuMemcpyHtoDAsync returns, so the caller
  // may reuse its mask at once, as on the CPU.
  mask_memref mask = {NULL, NULL, 0, 0, 1};
  CUdeviceptr mask_ptr = 0;
  const uint8_t *host_mask = c.options.head_mask;
  if (host_mask && (status = stage_head_mask(d, &c, host_mask, stream,
                                             &mask_ptr)) != MHA_OK) {
    d->cuCtxPopCurrent(&popped);
    return status;
  }
  if (host_mask) {
    mask.allocated = mask.aligned = (void *)(uintptr_t)mask_ptr;
    mask.size = c.heads;
  }

  // Each parameter is 8 bytes (a pointer or an int64), passed by address.
  void *params[MAX_PARAMS];
  int n = push_tensor_params(signature, &c, params);
  params[n++] = &mask.allocated;
  params[n++] = &mask.aligned;
  params[n++] = &mask.offset;
  params[n++] = &mask.size;
  params[n++] = &mask.stride;
  // The tensor maps, stream-ordered like the mask.
  CUdeviceptr maps_ptr = 0;
  if (kernel->requirements & MHA_GPU_REQ_TENSOR_MAPS) {
    CUresult r = d->cuMemAllocAsync(&maps_ptr, sizeof(maps), stream);
    if (r != CUDA_SUCCESS) {
      maps_ptr = 0;
      status = cuda_error(c.name, "cuMemAllocAsync", r, " for the tensor maps");
    } else if ((r = d->cuMemcpyHtoDAsync(maps_ptr, maps, sizeof(maps),
                                         stream)) != CUDA_SUCCESS)
      status =
          cuda_error(c.name, "cuMemcpyHtoDAsync_v2", r, " for the tensor maps");
    params[n++] = &maps_ptr;
  }
  // The split-KV partial results, stream-ordered like the mask.
  partials split_results = {0};
  if (parts > 1 && status == MHA_OK) {
    status = alloc_partials(d, &c, signature, parts, g[0].batch, stream,
                            &split_results);
    for (int k = 0; k < 3 + 2 * 5; ++k)
      params[n++] = &split_results.outputs[k];
    for (int k = 0; k < 3 + 2 * 4; ++k)
      params[n++] = &split_results.lse[k];
  }

  // In order on the stream, each with the same parameters; a kernel with
  // an empty grid (a backward's dq with no query rows) is skipped.
  for (int k = 0; k < MAX_KERNELS && kernels[k] && status == MHA_OK; ++k) {
    if (grid_empty(&g[k]))
      continue;
    CUresult r = d->cuLaunchKernel(
        functions[k], (unsigned)g[k].tiles, (unsigned)g[k].head_blocks,
        (unsigned)g[k].batch, (unsigned)kernels[k]->block_threads, 1, 1,
        (unsigned)kernels[k]->shared_bytes, stream, params, NULL);
    if (r != CUDA_SUCCESS)
      status = cuda_error(c.name, "cuLaunchKernel", r, NULL);
  }
  // Stream-ordered: freed once the kernel is done with them.
  if (mask_ptr) {
    CUresult fr = d->cuMemFreeAsync(mask_ptr, stream);
    if (fr != CUDA_SUCCESS && status == MHA_OK)
      status = cuda_error(c.name, "cuMemFreeAsync", fr, " for the head mask");
  }
  if (maps_ptr) {
    CUresult fr = d->cuMemFreeAsync(maps_ptr, stream);
    if (fr != CUDA_SUCCESS && status == MHA_OK)
      status = cuda_error(c.name, "cuMemFreeAsync", fr, " for the tensor maps");
  }
  if (split_results.buffer) {
    CUresult fr = d->cuMemFreeAsync(split_results.buffer, stream);
    if (fr != CUDA_SUCCESS && status == MHA_OK)
      status = cuda_error(c.name, "cuMemFreeAsync", fr,
                          " for the split-KV partial results");
  }
  CUresult r = d->cuCtxPopCurrent(&popped);
  if (r != CUDA_SUCCESS && status == MHA_OK)
    status = cuda_error(c.name, "cuCtxPopCurrent_v2", r, NULL);
  if (status == MHA_OK)
    mha_rt_clear_error();
  return status;
}
