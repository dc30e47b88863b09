//===- CudaIndexCheck.h - Checking a GPU call's indices -----------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to the runtime: mha_options.check_indices for GPU calls.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_CUDAINDEXCHECK_H
#define MHA_LIB_RUNTIME_CUDAINDEXCHECK_H

#include "CallCheck.h"
#include "CudaDriver.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Whether the call asks for its indices to be checked on the host:
/// options->check_indices, or MHA_CHECK_INDICES set (and not "0") in the
/// environment when the first GPU call runs.
MHA_RT_HIDDEN bool mha_rt_cuda_wants_index_check(const mha_rt_checked_call *c);

/// Copies the call's index tensors (kv_lens, q_lens, block_table,
/// cu_seqlens_q/k) to the host on `stream`, waits for it, and checks them
/// as a CPU call does (mha_rt_check_serving). A stream capturing a CUDA
/// graph is refused. Needs the device's context current; writes no tensor.
MHA_RT_HIDDEN int32_t mha_rt_cuda_check_indices(const mha_rt_cuda_driver *d,
                                                const int64_t *signature,
                                                const char *const *arg_names,
                                                const mha_rt_checked_call *c,
                                                CUstream stream);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // MHA_LIB_RUNTIME_CUDAINDEXCHECK_H
