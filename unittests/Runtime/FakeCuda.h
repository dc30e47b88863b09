//===- FakeCuda.h - A recording stand-in for libcuda.so.1 ---------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// FakeCuda.c is built as a shared library that exports the CUDA driver entry
// points the runtime resolves. The runtime's tests point the runtime at it
// (mha_rt_cuda_reset_for_testing) and link it too, so they share one copy of
// its state: what the runtime asked the "driver" to do is recorded here, and
// any call can be told to fail.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_UNITTESTS_RUNTIME_FAKECUDA_H
#define MHA_UNITTESTS_RUNTIME_FAKECUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FAKE_CUDA_MAX_DEVICES 4
#define FAKE_CUDA_MAX_PARAMS 256
#define FAKE_CUDA_MAX_RECORDS 512
#define FAKE_CUDA_MAX_MASK 1024

typedef struct fake_launch {
  unsigned grid[3], block[3], shared_bytes;
  void *stream;
  int device; // Of the current context, -1 if none.
  char function_name[64];
  uint64_t params[FAKE_CUDA_MAX_PARAMS]; // fake_cuda_set_num_params words.
} fake_launch;

typedef struct fake_module_load {
  int device;
  const void *image;
} fake_module_load;

typedef struct fake_attribute {
  int device;
  char function_name[64];
  int attribute, value;
} fake_attribute;

typedef struct fake_upload {
  uint64_t pointer;
  uint64_t bytes;
  void *stream;
  uint8_t data[FAKE_CUDA_MAX_MASK];
} fake_upload;

typedef struct fake_tensor_map {
  int data_type, swizzle, oob_fill;
  uint32_t rank;
  const void *address;
  uint64_t dims[4], strides[3];
  uint32_t box[4];
} fake_tensor_map;

typedef struct fake_alloc {
  uint64_t pointer, bytes;
  void *stream;
  int freed;
  void *free_stream;
} fake_alloc;

/// Forgets every record and setting: two devices of capability 8.6 with 84
/// multiprocessors, no failures, no parameters decoded.
void fake_cuda_reset(void);
void fake_cuda_set_device(int device, int major, int minor);
void fake_cuda_set_multiprocessors(int device, int count);
void fake_cuda_set_device_count(int count);
/// Makes every later call of the entry point `call` (its exported name, e.g.
/// "cuLaunchKernel") return `result`; NULL clears.
void fake_cuda_fail(const char *call, int result);
/// What cuStreamIsCapturing answers for every stream (0: not capturing).
void fake_cuda_set_capturing(int capturing);
/// How many 8-byte kernel parameters cuLaunchKernel records.
void fake_cuda_set_num_params(int count);

int fake_cuda_init_calls(void);
int fake_cuda_retains(int device);
int fake_cuda_num_launches(void);
fake_launch fake_cuda_launch(int i);
int fake_cuda_num_module_loads(void);
fake_module_load fake_cuda_module_load(int i);
int fake_cuda_num_attributes(void);
fake_attribute fake_cuda_attribute(int i);
int fake_cuda_num_tensor_maps(void);
/// The encoded map's first 8 bytes hold the record's index.
fake_tensor_map fake_cuda_tensor_map(int i);
int fake_cuda_num_uploads(void);
fake_upload fake_cuda_upload(int i);
int fake_cuda_num_allocs(void);
fake_alloc fake_cuda_alloc(int i);
/// cuMemcpyDtoHAsync_v2 and cuStreamSynchronize calls.
int fake_cuda_num_downloads(void);
int fake_cuda_num_syncs(void);
/// Contexts this thread has pushed and not popped.
int fake_cuda_context_depth(void);
/// Pops every context this thread pushed.
void fake_cuda_pop_all(void);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // MHA_UNITTESTS_RUNTIME_FAKECUDA_H
