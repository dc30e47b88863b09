/*===- GpuAbi.h - Contract between generated GPU code and runtime -*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
 *
 * Each exported function `f` of a library compiled with --target=nvptx is a
 * thin wrapper that calls mha_rt_cuda_launch with the same signature table
 * as the CPU path (KernelAbi.h), the tensors in signature order and an
 * mha_gpu_kernel that names the kernel and embeds its device code (PTX and,
 * when ptxas was found at compile time, cubins).
 *
 * The runtime checks every tensor against the table (they must be kDLCUDA
 * tensors of one device) before anything else, loads libcuda.so.1 with
 * dlopen on first use, loads the best image for the device once per device,
 * and launches the kernel on options->cuda_stream with
 *   grid  = (ceil(Lq / rows_per_block), Hq / heads_per_block, B)
 *           (over_keys: (ceil(Lk / rows_per_block), Hkv, B)),
 *   block = (block_threads, 1, 1)
 *   dynamic shared memory = shared_bytes (the limit is raised when > 48 KiB)
 * (Hq is the signature's MHA_SIG_GRID_HEADS; its MHA_SIG_ROWS_PER_ITEM is
 * not used on the GPU, rows_per_block is.) A grid beyond the hardware's
 * limits (x < 2^31, y and z <= 65535) is MHA_ERR_SHAPE. The call returns once
 * the kernel is enqueued, without waiting for it, like any CUDA library.
 * and these parameters, in order (an MLIR memref descriptor flattened, as
 * convert-gpu-to-nvvm expands memref arguments of a gpu.func):
 *   for each tensor i in signature order, rank r from the table:
 *     void *allocated, void *aligned, int64_t offset (elements),
 *     int64_t sizes[r], int64_t strides[r] (elements)
 *   then the runtime head mask as a memref<?xi8>:
 *     void *allocated, void *aligned, int64_t offset = 0,
 *     int64_t size, int64_t stride = 1
 *   where size = 0 (and NULL pointers) when options->head_mask is NULL (all
 *   heads alive), else Hq and the pointers address a device copy of the mask
 *   (one byte per query head, 0 = ablated) that lives until the kernel has
 *   run (stream-ordered allocation);
 *   then, for kernels with MHA_GPU_REQ_TENSOR_MAPS, uint64_t tensor_maps.
 *===----------------------------------------------------------------------===*/

#ifndef MHA_RUNTIME_GPUABI_H
#define MHA_RUNTIME_GPUABI_H

#include "mha/Runtime/KernelAbi.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The format of one embedded device image. */
enum { MHA_GPU_IMAGE_PTX = 0, MHA_GPU_IMAGE_CUBIN = 1 };

/* One device image. `sm` is the compute capability times ten (80, 90);
 * `arch_specific` is 1 for an "a" target (sm_90a), whose cubin runs only on
 * exactly that capability. PTX images are NUL-terminated text (`size`
 * counts the NUL). */
typedef struct mha_gpu_image {
  int32_t sm;
  int32_t arch_specific;
  int32_t format;
  int32_t reserved;
  const void *data;
  int64_t size;
} mha_gpu_image;

/* Requirements the kernel places on its tensors beyond the signature. */
enum {
  /* Rows of q, k and v start on 16-byte boundaries: data + byte_offset is
   * 16-byte aligned and the strides of every dimension but the last (the
   * first three of a rank-4 tensor) are multiples of 16 bytes (the kernel
   * copies rows with 16-byte cp.async). Dimensions of size 1 (whose stride
   * is never used) and empty tensors are exempt. Else MHA_ERR_LAYOUT. */
  MHA_GPU_REQ_ALIGNED_ROWS = 1,
  /* The kernel loads k and v with TMA: it takes one more parameter after
   * the head mask, the device address of two CUtensorMaps (k's, then v's,
   * 128 bytes each) over [D, L, H, B] (innermost first) with boxes of
   * [64, tma_box_rows, 1, 1] elements, 128-byte swizzle and zero fill,
   * which the runtime encodes and uploads (stream-ordered) for each call.
   * Where the driver cannot encode them, the portable kernel runs. Only
   * with MHA_GPU_REQ_ALIGNED_ROWS. */
  MHA_GPU_REQ_TENSOR_MAPS = 2
};

typedef struct mha_gpu_kernel {
  const char *kernel_name; /* NUL-terminated entry name in the images */
  int32_t block_threads;
  int32_t shared_bytes;   /* dynamic shared memory per block */
  int32_t rows_per_block; /* query rows per block (grid x) */
  int32_t requirements;   /* MHA_GPU_REQ_* bits */
  int32_t num_images;
  /* Query heads per block (GQA packing: heads of one KV group share its
   * K/V tiles); divides Hq. 0 means 1. */
  int32_t heads_per_block;
  const mha_gpu_image *images;
  /* The kernel to launch instead when the tensors do not meet
   * `requirements` (rows not 16-byte aligned: it loads rows with narrower
   * loads); its own fallback is NULL. NULL when there is none. */
  const struct mha_gpu_kernel *fallback;
  /* The kernel to launch on a device that none of this kernel's images
   * fits: an arch-specific kernel (sm_90a) names its portable counterpart
   * (which launches on its own grid). NULL when there is none. */
  const struct mha_gpu_kernel *portable;
  /* Rows (keys) of the k and v boxes of MHA_GPU_REQ_TENSOR_MAPS. */
  int32_t tma_box_rows;
  /* 1: the grid walks keys, (ceil(Lk / rows_per_block), Hkv, B) with
   * rows_per_block keys of one KV head per block (Lk and Hkv from the
   * tensor with role MHA_ROLE_KEY); heads_per_block is 1. */
  int32_t over_keys;
  /* The kernel launched after this one on the same stream with the same
   * parameters (a backward's dk/dv kernel after its dq kernel), chosen
   * between it and its fallback by the same alignment check. NULL: none. */
  const struct mha_gpu_kernel *then;
  /* Split-KV decoding (a forward kernel; NULL: none): the kernel to launch
   * instead when the call's grid has fewer blocks than the device has
   * multiprocessors, its rows' keys are aligned (it requires
   * MHA_GPU_REQ_ALIGNED_ROWS and has no fallback) and the key capacity
   * allows at least two parts (below). Its grid is (ceil(Lq /
   * rows_per_block) * parts, Hq / heads_per_block, B): block x handles
   * query tile x / parts and part x % parts of its keys. It and its `then`
   * (the merge kernel: (ceil(Lq / rows_per_block), Hq, B)) take two more
   * parameters after the head mask, memrefs of a stream-ordered f32 buffer
   * of the call: the parts' outputs [parts, B, Hq, Lq, Dv] and their lse
   * [parts, B, Hq, Lq] (contiguous). */
  const struct mha_gpu_kernel *split_keys;
} mha_gpu_kernel;

/* Split-KV parts: at most MHA_GPU_SPLIT_MAX_PARTS, each of at least
 * MHA_GPU_SPLIT_MIN_KEYS keys of the cache's capacity (Lk, or table
 * columns x page size), enough for two blocks per multiprocessor. The
 * number depends on the shapes and the device only (never on the lengths
 * the device holds): a CUDA graph captured for one batch shape stays
 * valid. */
enum { MHA_GPU_SPLIT_MIN_KEYS = 256, MHA_GPU_SPLIT_MAX_PARTS = 64 };

/* Checks the call, then launches the kernel. `name` is the exported
 * function's name and `arg_names` the C parameter names, for messages.
 * Returns MHA_ERR_DEVICE for tensors that are not kDLCUDA or not all on one
 * device, MHA_ERR_NO_DEVICE when libcuda.so.1 cannot be loaded (even for a
 * call with an empty grid) or no image fits the device, MHA_ERR_CUDA when a
 * driver call fails. All argument checks come before the driver is loaded.
 * The runtime head mask is copied before the call returns. */
int32_t mha_rt_cuda_launch(const int64_t *signature, const char *name,
                           const char *const *arg_names,
                           const DLTensor *const *tensors,
                           const mha_options *options,
                           const mha_gpu_kernel *kernel);

/* Nonzero when `t` is a tensor on a CUDA device (kDLCUDA): the dispatchers
 * of a --target=auto library call the GPU half of a function for it and
 * the CPU half otherwise (which reports a NULL tensor or a wrong device). */
int32_t mha_rt_on_cuda(const DLTensor *t);

/* The image the runtime loads on a device of compute capability
 * major.minor: the cubin of the highest sm <= the device's with the same
 * major (an arch-specific one only on exactly its capability), else the PTX
 * of the highest sm <= the device's (compiled by the driver; arch-specific
 * PTX too only on exactly its capability). Between two images of the same
 * sm the arch-specific one wins (on its own capability). -1 if none fits.
 * Exposed for tests. */
MHA_RT_HIDDEN_ABI int32_t mha_rt_cuda_pick_image(const mha_gpu_kernel *kernel,
                                                 int32_t major, int32_t minor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MHA_RUNTIME_GPUABI_H */
