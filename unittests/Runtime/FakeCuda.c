//===- FakeCuda.c - A recording stand-in for libcuda.so.1 ---------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Just enough of the CUDA driver API for mha_rt_cuda_launch, recording its
// calls (see FakeCuda.h). Device pointers are host allocations, so uploads
// can be read back. Built with -DFAKE_CUDA_OLD it lacks cuMemAllocAsync,
// like a driver older than CUDA 11.2.
//
//===----------------------------------------------------------------------===//

#include "FakeCuda.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
  OK = 0,
  ERR_INVALID_VALUE = 1,
  ERR_NOT_INITIALIZED = 3,
  ERR_INVALID_DEVICE = 101,
  ERR_INVALID_CONTEXT = 201,
  ERR_INVALID_HANDLE = 400,
  ERR_NOT_FOUND = 500
};

typedef struct fake_context {
  int device;
} fake_context;
typedef struct fake_module {
  int device;
  const void *image;
} fake_module;
typedef struct fake_function {
  int device;
  char name[64];
} fake_function;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int initialised;
  int init_calls;
  int device_count;
  int major[FAKE_CUDA_MAX_DEVICES], minor[FAKE_CUDA_MAX_DEVICES];
  int multiprocessors[FAKE_CUDA_MAX_DEVICES];
  int retains[FAKE_CUDA_MAX_DEVICES];
  char fail_call[64];
  int fail_result;
  int num_params;
  int num_launches, num_loads, num_attributes, num_uploads, num_allocs;
  int num_maps;
  int capturing, num_downloads, num_syncs;
  fake_tensor_map maps[64];
  fake_launch launches[FAKE_CUDA_MAX_RECORDS];
  fake_module_load loads[FAKE_CUDA_MAX_RECORDS];
  fake_attribute attributes[FAKE_CUDA_MAX_RECORDS];
  fake_upload uploads[64];
  fake_alloc allocs[FAKE_CUDA_MAX_RECORDS];
} fake;
static fake_context contexts[FAKE_CUDA_MAX_DEVICES];
// Handles come from pools (reused round-robin), so nothing the runtime
// forgets on a reset leaks.
static fake_module modules[FAKE_CUDA_MAX_RECORDS];
static fake_function functions[FAKE_CUDA_MAX_RECORDS];
static unsigned next_module, next_function;

// Each thread's context stack, as the driver keeps one per thread.
static _Thread_local fake_context *stack[16];
static _Thread_local int depth;

static void reset_locked(void) {
  // Device memory the runtime did not free (after an injected failure).
  for (int i = 0; i < fake.num_allocs && i < FAKE_CUDA_MAX_RECORDS; ++i)
    if (!fake.allocs[i].freed)
      free((void *)(uintptr_t)fake.allocs[i].pointer);
  memset(&fake, 0, sizeof(fake));
  fake.device_count = 2;
  for (int i = 0; i < FAKE_CUDA_MAX_DEVICES; ++i) {
    fake.major[i] = 8;
    fake.minor[i] = 6;
    fake.multiprocessors[i] = 84;
    contexts[i].device = i;
  }
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void first_use(void) { reset_locked(); }

// Takes the lock; returns the injected failure for `call`, if any.
static CUresult enter(const char *call) {
  pthread_once(&once, first_use);
  pthread_mutex_lock(&mutex);
  if (fake.fail_call[0] && strcmp(fake.fail_call, call) == 0)
    return fake.fail_result;
  return OK;
}
static CUresult leave(CUresult result) {
  pthread_mutex_unlock(&mutex);
  return result;
}
#define ENTER(call)                                                            \
  do {                                                                         \
    CUresult injected = enter(call);                                           \
    if (injected != OK)                                                        \
      return leave(injected);                                                  \
    if (!fake.initialised && strcmp(call, "cuInit") != 0)                      \
      return leave(ERR_NOT_INITIALIZED);                                       \
  } while (0)

static int current_device(void) {
  return depth ? stack[depth - 1]->device : -1;
}

//===----------------------------------------------------------------------===//
// The driver API
//===----------------------------------------------------------------------===//

EXPORT CUresult cuInit(unsigned flags) {
  ENTER("cuInit");
  ++fake.init_calls;
  fake.initialised = 1;
  return leave(flags ? ERR_INVALID_VALUE : OK);
}

static const char *error_name(CUresult r) {
  switch (r) {
  case 0:
    return "CUDA_SUCCESS";
  case 1:
    return "CUDA_ERROR_INVALID_VALUE";
  case 2:
    return "CUDA_ERROR_OUT_OF_MEMORY";
  case 3:
    return "CUDA_ERROR_NOT_INITIALIZED";
  case 100:
    return "CUDA_ERROR_NO_DEVICE";
  case 101:
    return "CUDA_ERROR_INVALID_DEVICE";
  case 201:
    return "CUDA_ERROR_INVALID_CONTEXT";
  case 218:
    return "CUDA_ERROR_INVALID_PTX";
  case 400:
    return "CUDA_ERROR_INVALID_HANDLE";
  case 500:
    return "CUDA_ERROR_NOT_FOUND";
  case 700:
    return "CUDA_ERROR_ILLEGAL_ADDRESS";
  case 701:
    return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
  }
  return NULL;
}

EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  *name = error_name(error);
  return *name ? OK : ERR_INVALID_VALUE;
}

EXPORT CUresult cuGetErrorString(CUresult error, const char **text) {
  *text = error_name(error) ? "fake driver error text" : NULL;
  return *text ? OK : ERR_INVALID_VALUE;
}

EXPORT CUresult cuDeviceGet(int *device, int ordinal) {
  ENTER("cuDeviceGet");
  if (ordinal < 0 || ordinal >= fake.device_count)
    return leave(ERR_INVALID_DEVICE);
  *device = ordinal;
  return leave(OK);
}

EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  ENTER("cuDeviceGetAttribute");
  if (device < 0 || device >= fake.device_count)
    return leave(ERR_INVALID_DEVICE);
  if (attribute == 75)
    *value = fake.major[device];
  else if (attribute == 76)
    *value = fake.minor[device];
  else if (attribute == 16)
    *value = fake.multiprocessors[device];
  else
    return leave(ERR_INVALID_VALUE);
  return leave(OK);
}

EXPORT CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  ENTER("cuDevicePrimaryCtxRetain");
  if (device < 0 || device >= fake.device_count)
    return leave(ERR_INVALID_DEVICE);
  ++fake.retains[device];
  *context = &contexts[device];
  return leave(OK);
}

EXPORT CUresult cuCtxPushCurrent_v2(void *context) {
  ENTER("cuCtxPushCurrent_v2");
  if (!context || depth == 16)
    return leave(ERR_INVALID_CONTEXT);
  stack[depth++] = (fake_context *)context;
  return leave(OK);
}

EXPORT CUresult cuCtxPopCurrent_v2(void **context) {
  ENTER("cuCtxPopCurrent_v2");
  if (!depth)
    return leave(ERR_INVALID_CONTEXT);
  fake_context *top = stack[--depth];
  if (context)
    *context = top;
  return leave(OK);
}

EXPORT CUresult cuModuleLoadDataEx(void **module, const void *image,
                                   unsigned num_options, int *options,
                                   void **values) {
  CUresult injected = enter("cuModuleLoadDataEx");
  if (injected != OK) {
    // Like ptxas, say why in the error log the caller provided.
    for (unsigned i = 0; i < num_options; ++i)
      if (options[i] == 5) // CU_JIT_ERROR_LOG_BUFFER
        snprintf((char *)values[i], 32, "ptxas fatal: fake JIT error");
    return leave(injected);
  }
  if (!depth)
    return leave(ERR_INVALID_CONTEXT);
  fake_module *m = &modules[next_module++ % FAKE_CUDA_MAX_RECORDS];
  m->device = current_device();
  m->image = image;
  if (fake.num_loads < FAKE_CUDA_MAX_RECORDS)
    fake.loads[fake.num_loads] = (fake_module_load){m->device, image};
  ++fake.num_loads;
  *module = m;
  return leave(OK);
}

EXPORT CUresult cuModuleGetFunction(void **function, void *module,
                                    const char *name) {
  ENTER("cuModuleGetFunction");
  fake_module *m = (fake_module *)module;
  if (!m || !depth || m->device != current_device())
    return leave(ERR_INVALID_HANDLE);
  if (strlen(name) >= 64)
    return leave(ERR_NOT_FOUND);
  fake_function *f = &functions[next_function++ % FAKE_CUDA_MAX_RECORDS];
  f->device = m->device;
  snprintf(f->name, sizeof(f->name), "%s", name);
  *function = f;
  return leave(OK);
}

EXPORT CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  ENTER("cuFuncSetAttribute");
  fake_function *f = (fake_function *)function;
  if (!f)
    return leave(ERR_INVALID_HANDLE);
  if (fake.num_attributes < FAKE_CUDA_MAX_RECORDS) {
    fake_attribute *a = &fake.attributes[fake.num_attributes];
    a->device = current_device();
    snprintf(a->function_name, sizeof(a->function_name), "%s", f->name);
    a->attribute = attribute;
    a->value = value;
  }
  ++fake.num_attributes;
  return leave(OK);
}

#ifndef FAKE_CUDA_OLD
EXPORT CUresult cuMemAllocAsync(CUdeviceptr *pointer, size_t bytes,
                                void *stream) {
  ENTER("cuMemAllocAsync");
  if (!depth)
    return leave(ERR_INVALID_CONTEXT);
  void *p = malloc(bytes ? bytes : 1);
  *pointer = (CUdeviceptr)(uintptr_t)p;
  if (fake.num_allocs < FAKE_CUDA_MAX_RECORDS)
    fake.allocs[fake.num_allocs] =
        (fake_alloc){*pointer, bytes, stream, 0, NULL};
  ++fake.num_allocs;
  return leave(OK);
}
#endif

EXPORT CUresult cuMemFreeAsync(CUdeviceptr pointer, void *stream) {
  ENTER("cuMemFreeAsync");
  for (int i = 0; i < fake.num_allocs && i < FAKE_CUDA_MAX_RECORDS; ++i)
    if (fake.allocs[i].pointer == pointer && !fake.allocs[i].freed) {
      fake.allocs[i].freed = 1;
      fake.allocs[i].free_stream = stream;
      free((void *)(uintptr_t)pointer);
      return leave(OK);
    }
  return leave(ERR_INVALID_VALUE);
}

EXPORT CUresult cuTensorMapEncodeTiled(void *map, int data_type, uint32_t rank,
                                       void *address, const uint64_t *dims,
                                       const uint64_t *strides,
                                       const uint32_t *box,
                                       const uint32_t *element_strides,
                                       int interleave, int swizzle,
                                       int l2_promotion, int oob_fill) {
  ENTER("cuTensorMapEncodeTiled");
  (void)interleave, (void)l2_promotion;
  if (rank != 4 || ((uintptr_t)address % 16) != 0)
    return leave(ERR_INVALID_VALUE);
  for (uint32_t k = 0; k < rank; ++k)
    if (element_strides[k] != 1 || box[k] == 0 || box[k] > 256 ||
        (k > 0 && strides[k - 1] % 16 != 0))
      return leave(ERR_INVALID_VALUE);
  memset(map, 0, 128);
  uint64_t index = (uint64_t)fake.num_maps;
  memcpy(map, &index, sizeof(index));
  if (fake.num_maps < 64) {
    fake_tensor_map *m = &fake.maps[fake.num_maps];
    *m = (fake_tensor_map){data_type, swizzle, oob_fill, rank,
                           address,   {0},     {0},      {0}};
    memcpy(m->dims, dims, sizeof(m->dims));
    memcpy(m->strides, strides, sizeof(m->strides));
    memcpy(m->box, box, sizeof(m->box));
  }
  ++fake.num_maps;
  return leave(OK);
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src,
                                     size_t bytes, void *stream) {
  ENTER("cuMemcpyHtoDAsync_v2");
  memcpy((void *)(uintptr_t)dst, src, bytes);
  if (fake.num_uploads < 64) {
    fake_upload *u = &fake.uploads[fake.num_uploads];
    u->pointer = dst;
    u->bytes = bytes;
    u->stream = stream;
    memcpy(u->data, src,
           bytes < FAKE_CUDA_MAX_MASK ? bytes : FAKE_CUDA_MAX_MASK);
  }
  ++fake.num_uploads;
  return leave(OK);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes,
                                     void *stream) {
  ENTER("cuMemcpyDtoHAsync_v2");
  (void)stream;
  if (!depth)
    return leave(ERR_INVALID_CONTEXT);
  memcpy(dst, (const void *)(uintptr_t)src, bytes);
  ++fake.num_downloads;
  return leave(OK);
}

EXPORT CUresult cuStreamSynchronize(void *stream) {
  ENTER("cuStreamSynchronize");
  (void)stream;
  ++fake.num_syncs;
  return leave(OK);
}

EXPORT CUresult cuStreamIsCapturing(void *stream, int *status) {
  ENTER("cuStreamIsCapturing");
  (void)stream;
  *status = fake.capturing;
  return leave(OK);
}

EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, void *stream,
                               void **params, void **extra) {
  ENTER("cuLaunchKernel");
  fake_function *f = (fake_function *)function;
  if (!f || !depth || f->device != current_device())
    return leave(ERR_INVALID_HANDLE);
  if (extra)
    return leave(ERR_INVALID_VALUE);
  if (fake.num_launches < FAKE_CUDA_MAX_RECORDS) {
    fake_launch *l = &fake.launches[fake.num_launches];
    memset(l, 0, sizeof(*l));
    l->grid[0] = gx, l->grid[1] = gy, l->grid[2] = gz;
    l->block[0] = bx, l->block[1] = by, l->block[2] = bz;
    l->shared_bytes = shared;
    l->stream = stream;
    l->device = current_device();
    snprintf(l->function_name, sizeof(l->function_name), "%s", f->name);
    for (int i = 0; i < fake.num_params; ++i)
      memcpy(&l->params[i], params[i], sizeof(uint64_t));
  }
  ++fake.num_launches;
  return leave(OK);
}

//===----------------------------------------------------------------------===//
// Control and records
//===----------------------------------------------------------------------===//

#define LOCKED(expr)                                                           \
  pthread_once(&once, first_use);                                              \
  pthread_mutex_lock(&mutex);                                                  \
  expr;                                                                        \
  pthread_mutex_unlock(&mutex)

EXPORT void fake_cuda_reset(void) { LOCKED(reset_locked()); }
EXPORT void fake_cuda_set_device(int device, int major, int minor) {
  LOCKED(fake.major[device] = major; fake.minor[device] = minor);
}
EXPORT void fake_cuda_set_multiprocessors(int device, int count) {
  LOCKED(fake.multiprocessors[device] = count);
}
EXPORT void fake_cuda_set_device_count(int count) {
  LOCKED(fake.device_count = count);
}
EXPORT void fake_cuda_fail(const char *call, int result) {
  LOCKED(
      snprintf(fake.fail_call, sizeof(fake.fail_call), "%s", call ? call : "");
      fake.fail_result = result);
}
EXPORT void fake_cuda_set_capturing(int capturing) {
  LOCKED(fake.capturing = capturing);
}
EXPORT void fake_cuda_set_num_params(int count) {
  LOCKED(fake.num_params = count);
}

#define GETTER(type, fn, expr)                                                 \
  EXPORT type fn {                                                             \
    type value;                                                                \
    LOCKED(value = (expr));                                                    \
    return value;                                                              \
  }
GETTER(int, fake_cuda_init_calls(void), fake.init_calls)
GETTER(int, fake_cuda_retains(int device), fake.retains[device])
GETTER(int, fake_cuda_num_launches(void), fake.num_launches)
GETTER(fake_launch, fake_cuda_launch(int i), fake.launches[i])
GETTER(int, fake_cuda_num_module_loads(void), fake.num_loads)
GETTER(fake_module_load, fake_cuda_module_load(int i), fake.loads[i])
GETTER(int, fake_cuda_num_attributes(void), fake.num_attributes)
GETTER(fake_attribute, fake_cuda_attribute(int i), fake.attributes[i])
GETTER(int, fake_cuda_num_tensor_maps(void), fake.num_maps)
GETTER(fake_tensor_map, fake_cuda_tensor_map(int i), fake.maps[i])
GETTER(int, fake_cuda_num_uploads(void), fake.num_uploads)
GETTER(fake_upload, fake_cuda_upload(int i), fake.uploads[i])
GETTER(int, fake_cuda_num_allocs(void), fake.num_allocs)
GETTER(int, fake_cuda_num_downloads(void), fake.num_downloads)
GETTER(int, fake_cuda_num_syncs(void), fake.num_syncs)
GETTER(fake_alloc, fake_cuda_alloc(int i), fake.allocs[i])

EXPORT int fake_cuda_context_depth(void) { return depth; }
EXPORT void fake_cuda_pop_all(void) { depth = 0; }
