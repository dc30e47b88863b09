//===- CudaDriver.h - The CUDA driver, loaded at run time ---------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to the runtime. Generated GPU libraries must load on machines
// without a GPU (and be linked without the CUDA toolkit), so the driver is
// opened with dlopen on first use and its entry points found with dlsym. The
// few driver types and constants we need are declared here: the build has
// no cuda.h. Values are those of the CUDA driver API (cuda.h), which NVIDIA
// keeps stable.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_CUDADRIVER_H
#define MHA_LIB_RUNTIME_CUDADRIVER_H

#include "Status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr; // The _v2 (64-bit) device pointer.
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_NOT_FOUND = 500
};

// CUdevice_attribute.
enum {
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
};

// CUstreamCaptureStatus: anything but NONE is a capture in progress.
enum { CU_STREAM_CAPTURE_STATUS_NONE = 0 };

// CUfunction_attribute.
enum { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8 };

// CUjit_option: where cuModuleLoadDataEx writes the PTX compiler's errors.
enum { CU_JIT_ERROR_LOG_BUFFER = 5, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6 };

// Tensor maps (TMA descriptors, CUDA 12.0): 128 opaque bytes.
typedef struct CUtensorMap {
  _Alignas(64) uint64_t opaque[16];
} CUtensorMap;

enum {
  CU_TENSOR_MAP_DATA_TYPE_FLOAT16 = 6,
  CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9,
  CU_TENSOR_MAP_INTERLEAVE_NONE = 0,
  CU_TENSOR_MAP_SWIZZLE_128B = 3,
  CU_TENSOR_MAP_L2_PROMOTION_L2_128B = 2,
  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0 // zeros
};

/// The driver entry points the runtime uses (the versioned symbols where the
/// driver has several).
typedef struct mha_rt_cuda_driver {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuGetErrorName)(CUresult error, const char **name);
  CUresult (*cuGetErrorString)(CUresult error, const char **text);
  CUresult (*cuDeviceGet)(CUdevice *device, int ordinal);
  CUresult (*cuDeviceGetAttribute)(int *value, int attribute, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *context, CUdevice device);
  CUresult (*cuCtxPushCurrent)(CUcontext context); // cuCtxPushCurrent_v2
  CUresult (*cuCtxPopCurrent)(CUcontext *context); // cuCtxPopCurrent_v2
  CUresult (*cuModuleLoadDataEx)(CUmodule *module, const void *image,
                                 unsigned num_options, int *options,
                                 void **option_values);
  CUresult (*cuModuleGetFunction)(CUfunction *function, CUmodule module,
                                  const char *name);
  CUresult (*cuFuncSetAttribute)(CUfunction function, int attribute, int value);
  CUresult (*cuMemAllocAsync)(CUdeviceptr *pointer, size_t bytes,
                              CUstream stream);
  CUresult (*cuMemFreeAsync)(CUdeviceptr pointer, CUstream stream);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t bytes,
                                CUstream stream); // cuMemcpyHtoDAsync_v2
  CUresult (*cuMemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t bytes,
                                CUstream stream); // cuMemcpyDtoHAsync_v2
  CUresult (*cuStreamSynchronize)(CUstream stream);
  CUresult (*cuStreamIsCapturing)(CUstream stream, int *status);
  CUresult (*cuLaunchKernel)(CUfunction function, unsigned grid_x,
                             unsigned grid_y, unsigned grid_z, unsigned block_x,
                             unsigned block_y, unsigned block_z,
                             unsigned shared_bytes, CUstream stream,
                             void **params, void **extra);
  // Optional (CUDA 12.0): NULL when the driver lacks it, and the kernels
  // that load with TMA give way to their portable counterparts.
  CUresult (*cuTensorMapEncodeTiled)(
      CUtensorMap *map, int data_type, uint32_t rank, void *address,
      const uint64_t *dims, const uint64_t *strides, const uint32_t *box,
      const uint32_t *element_strides, int interleave, int swizzle,
      int l2_promotion, int oob_fill);
} mha_rt_cuda_driver;

/// The driver, loaded (and cuInit'ed) on the first call; thread-safe. NULL
/// when it cannot be used, with *why set to a static message such as
/// "libcuda.so.1 could not be loaded: ...; this function needs an NVIDIA GPU
/// and driver" (the caller reports it as MHA_ERR_NO_DEVICE). The outcome is
/// kept: later calls answer at once.
MHA_RT_HIDDEN const mha_rt_cuda_driver *mha_rt_cuda_load(const char **why);

/// Formats "<call> failed: CUDA_ERROR_X (text)" for a failed driver call.
MHA_RT_HIDDEN void mha_rt_cuda_describe(char *buf, size_t size,
                                        const char *call, CUresult result);

/// Forgets the loaded driver (dlclose) so the next call loads
/// `libcuda_path` instead (NULL: $MHA_LIBCUDA, else libcuda.so.1). Not
/// thread-safe with concurrent calls: for tests only.
MHA_RT_HIDDEN void mha_rt_cuda_driver_reset(const char *libcuda_path);

/// Test hook: mha_rt_cuda_driver_reset plus dropping every cached context,
/// module and function of mha_rt_cuda_launch. Not thread-safe with
/// concurrent calls.
MHA_RT_HIDDEN void mha_rt_cuda_reset_for_testing(const char *libcuda_path);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // MHA_LIB_RUNTIME_CUDADRIVER_H
