//===- CudaDriver.c - The CUDA driver, loaded at run time ---------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Opens libcuda.so.1 (or $MHA_LIBCUDA) on the first GPU call, resolves the
// entry points the launcher needs and runs cuInit, once per process (per
// generated library, as each carries its own runtime). The outcome, success
// or the reason of a failure, is kept so later calls answer at once: a
// machine without a driver costs one dlopen, not one per call.
//
//===----------------------------------------------------------------------===//

#ifndef _GNU_SOURCE
#define _GNU_SOURCE // dlopen and friends under -std=c11
#endif

#include "CudaDriver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STATE_UNLOADED = 0, STATE_LOADED = 1, STATE_FAILED = 2 };

static struct {
  pthread_mutex_t mutex; // Serialises loading and resetting.
  _Atomic int state;     // Published with release once the rest is set.
  void *handle;
  mha_rt_cuda_driver driver;
  char why[MHA_RT_ERROR_CAPACITY]; // When STATE_FAILED.
  char path[1024];                 // A test's override; "" = none.
} cuda = {PTHREAD_MUTEX_INITIALIZER, STATE_UNLOADED, NULL, {0}, "", ""};

// dlsym returns void *; the driver's entry points are functions.
static void *lookup(const char *symbol) { return dlsym(cuda.handle, symbol); }

#define RESOLVE(field, symbol)                                                 \
  do {                                                                         \
    void *p = lookup(symbol);                                                  \
    if (!p) {                                                                  \
      missing = symbol;                                                        \
      goto fail_symbol;                                                        \
    }                                                                          \
    memcpy(&d->field, &p, sizeof(p));                                          \
  } while (0)

static const char *driver_path(void) {
  if (cuda.path[0])
    return cuda.path;
  const char *env = getenv("MHA_LIBCUDA");
  return env && env[0] ? env : "libcuda.so.1";
}

// Called with the mutex held and state UNLOADED; sets the state.
static void load_locked(void) {
  const char *path = driver_path();
  // RTLD_LOCAL: the driver's symbols must not satisfy anyone else's lookups.
  cuda.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!cuda.handle) {
    const char *err = dlerror();
    snprintf(cuda.why, sizeof(cuda.why),
             "%s could not be loaded: %s; this function needs an NVIDIA GPU "
             "and driver",
             path, err ? err : "unknown dlopen error");
    atomic_store_explicit(&cuda.state, STATE_FAILED, memory_order_release);
    return;
  }

  mha_rt_cuda_driver *d = &cuda.driver;
  const char *missing = NULL;
  RESOLVE(cuInit, "cuInit");
  RESOLVE(cuGetErrorName, "cuGetErrorName");
  RESOLVE(cuGetErrorString, "cuGetErrorString");
  RESOLVE(cuDeviceGet, "cuDeviceGet");
  RESOLVE(cuDeviceGetAttribute, "cuDeviceGetAttribute");
  RESOLVE(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  RESOLVE(cuCtxPushCurrent, "cuCtxPushCurrent_v2");
  RESOLVE(cuCtxPopCurrent, "cuCtxPopCurrent_v2");
  RESOLVE(cuModuleLoadDataEx, "cuModuleLoadDataEx");
  RESOLVE(cuModuleGetFunction, "cuModuleGetFunction");
  RESOLVE(cuFuncSetAttribute, "cuFuncSetAttribute");
  RESOLVE(cuMemAllocAsync, "cuMemAllocAsync");
  RESOLVE(cuMemFreeAsync, "cuMemFreeAsync");
  RESOLVE(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  RESOLVE(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  RESOLVE(cuStreamSynchronize, "cuStreamSynchronize");
  RESOLVE(cuStreamIsCapturing, "cuStreamIsCapturing");
  RESOLVE(cuLaunchKernel, "cuLaunchKernel");
  void *encode = lookup("cuTensorMapEncodeTiled");
  memcpy(&d->cuTensorMapEncodeTiled, &encode, sizeof(encode));

  CUresult result = d->cuInit(0);
  if (result != CUDA_SUCCESS) {
    char what[256];
    mha_rt_cuda_describe(what, sizeof(what), "cuInit", result);
    snprintf(cuda.why, sizeof(cuda.why),
             "%s (driver %s); this function needs an NVIDIA GPU and driver",
             what, path);
    goto fail;
  }
  atomic_store_explicit(&cuda.state, STATE_LOADED, memory_order_release);
  return;

fail_symbol:
  // cuMemAllocAsync came with CUDA 11.2: older drivers lack it.
  snprintf(cuda.why, sizeof(cuda.why),
           "%s has no %s: the NVIDIA driver is too old (CUDA 11.2 or newer "
           "is needed)",
           path, missing);
fail:
  // The handle stays open: unloading a driver that ran cuInit is unsafe, and
  // the failure is final anyway.
  atomic_store_explicit(&cuda.state, STATE_FAILED, memory_order_release);
}

const mha_rt_cuda_driver *mha_rt_cuda_load(const char **why) {
  int state = atomic_load_explicit(&cuda.state, memory_order_acquire);
  if (state == STATE_UNLOADED) {
    pthread_mutex_lock(&cuda.mutex);
    if (atomic_load_explicit(&cuda.state, memory_order_relaxed) ==
        STATE_UNLOADED)
      load_locked();
    state = atomic_load_explicit(&cuda.state, memory_order_relaxed);
    pthread_mutex_unlock(&cuda.mutex);
  }
  if (state == STATE_LOADED)
    return &cuda.driver;
  *why = cuda.why;
  return NULL;
}

void mha_rt_cuda_describe(char *buf, size_t size, const char *call,
                          CUresult result) {
  const char *name = NULL, *text = NULL;
  // Only a loaded driver can name its errors.
  if (atomic_load_explicit(&cuda.state, memory_order_acquire) != STATE_FAILED &&
      cuda.driver.cuGetErrorName) {
    if (cuda.driver.cuGetErrorName(result, &name) != CUDA_SUCCESS)
      name = NULL;
    if (cuda.driver.cuGetErrorString(result, &text) != CUDA_SUCCESS)
      text = NULL;
  }
  if (name && text)
    snprintf(buf, size, "%s failed: %s (%s)", call, name, text);
  else if (name)
    snprintf(buf, size, "%s failed: %s", call, name);
  else
    snprintf(buf, size, "%s failed: CUDA error %d", call, result);
}

void mha_rt_cuda_driver_reset(const char *libcuda_path) {
  pthread_mutex_lock(&cuda.mutex);
  if (cuda.handle)
    dlclose(cuda.handle);
  cuda.handle = NULL;
  memset(&cuda.driver, 0, sizeof(cuda.driver));
  cuda.why[0] = '\0';
  snprintf(cuda.path, sizeof(cuda.path), "%s",
           libcuda_path ? libcuda_path : "");
  atomic_store_explicit(&cuda.state, STATE_UNLOADED, memory_order_release);
  pthread_mutex_unlock(&cuda.mutex);
}
