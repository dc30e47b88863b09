//===- CudaIndexCheck.c - Checking a GPU call's indices -----------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A GPU call leaves its serving indices (lengths, offsets, block tables) on
// the device: reading them on the host would wait for the stream, and the
// kernels clamp them into the tensors instead. `mha_options.check_indices`
// (or MHA_CHECK_INDICES=1) asks for the CPU's contract instead: the indices
// are copied to the host on the call's stream, the stream is waited for,
// and Serving.c checks them exactly as for a CPU call, so a bad one is a
// status naming the tensor and element before any kernel is launched.
//
//===----------------------------------------------------------------------===//

#include "CudaIndexCheck.h"

#include "CallCheck.h"
#include "Status.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static bool environment_asks;
static void read_environment(void) {
  const char *env = getenv("MHA_CHECK_INDICES");
  environment_asks = env && env[0] && strcmp(env, "0") != 0;
}

bool mha_rt_cuda_wants_index_check(const mha_rt_checked_call *c) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, read_environment);
  return c->options.check_indices != 0 || environment_asks;
}

// The elements a strided tensor spans, from its first (at `*first`,
// counted from its aligned pointer). Strides are never negative
// (CallCheck.c refuses them).
static int64_t span_of(const mha_rt_memref *m, int rank, int64_t *first) {
  int64_t last = m->offset;
  for (int d = 0; d < rank; ++d) {
    if (m->dims[d] == 0)
      return 0;
    last += (m->dims[d] - 1) * m->dims[rank + d];
  }
  *first = m->offset;
  return last - m->offset + 1;
}

static const int64_t kIndexRoles[] = {
    MHA_ROLE_KV_LENS, MHA_ROLE_Q_LENS, MHA_ROLE_BLOCK_TABLE,
    MHA_ROLE_CU_SEQLENS_Q, MHA_ROLE_CU_SEQLENS_K};
enum { NUM_INDEX_ROLES = sizeof(kIndexRoles) / sizeof(kIndexRoles[0]) };

int32_t mha_rt_cuda_check_indices(const mha_rt_cuda_driver *d,
                                  const int64_t *signature,
                                  const char *const *arg_names,
                                  const mha_rt_checked_call *c,
                                  CUstream stream) {
  int found[NUM_INDEX_ROLES];
  bool any = false;
  for (int r = 0; r < NUM_INDEX_ROLES; ++r) {
    found[r] = mha_rt_find_role(signature, c->num_tensors, kIndexRoles[r]);
    any = any || found[r] >= 0;
  }
  if (!any)
    return MHA_OK;
  // Waiting for a stream that a CUDA graph is capturing would end the
  // capture with an error.
  int capturing = CU_STREAM_CAPTURE_STATUS_NONE;
  CUresult r = d->cuStreamIsCapturing(stream, &capturing);
  if (r != CUDA_SUCCESS) {
    char what[256];
    mha_rt_cuda_describe(what, sizeof(what), "cuStreamIsCapturing", r);
    MHA_RT_FAIL(MHA_ERR_CUDA, "%s: %s", c->name, what);
  }
  if (capturing != CU_STREAM_CAPTURE_STATUS_NONE)
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->check_indices (or MHA_CHECK_INDICES) waits for "
                "the stream to read the indices, which a stream capturing a "
                "CUDA graph does not allow; capture without it",
                c->name);

  // The host copy: the same descriptors, the index tensors' pointing into
  // one host buffer.
  mha_rt_checked_call host = *c;
  int64_t first[NUM_INDEX_ROLES] = {0}, count[NUM_INDEX_ROLES] = {0};
  int64_t total = 0;
  for (int k = 0; k < NUM_INDEX_ROLES; ++k) {
    if (found[k] < 0)
      continue;
    int rank = (int)mha_rt_tensor_sig(signature, found[k])[MHA_SIG_T_RANK];
    count[k] = span_of(&c->memrefs[found[k]], rank, &first[k]);
    total += count[k];
  }
  int32_t *buffer = (int32_t *)malloc((size_t)(total ? total : 1) * 4);
  if (!buffer)
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                "%s: no host memory for the %lld indices to check", c->name,
                (long long)total);
  int32_t status = MHA_OK;
  int64_t at = 0;
  bool enqueued = false;
  for (int k = 0; k < NUM_INDEX_ROLES && status == MHA_OK; ++k) {
    if (found[k] < 0)
      continue;
    mha_rt_memref *m = &host.memrefs[found[k]];
    if (count[k]) {
      CUdeviceptr src =
          (CUdeviceptr)(uintptr_t)((const int32_t *)m->aligned + first[k]);
      r = d->cuMemcpyDtoHAsync(buffer + at, src, (size_t)count[k] * 4, stream);
      if (r != CUDA_SUCCESS) {
        char what[256];
        mha_rt_cuda_describe(what, sizeof(what), "cuMemcpyDtoHAsync_v2", r);
        mha_rt_set_error("%s: %s", c->name, what);
        status = MHA_ERR_CUDA;
      }
      enqueued = enqueued || r == CUDA_SUCCESS;
    }
    m->allocated = m->aligned = buffer + at;
    m->offset = 0;
    at += count[k];
  }
  // The buffer is freed only after the copies into it are done, failed
  // call or not.
  if (enqueued && (r = d->cuStreamSynchronize(stream)) != CUDA_SUCCESS &&
      status == MHA_OK) {
    char what[256];
    mha_rt_cuda_describe(what, sizeof(what), "cuStreamSynchronize", r);
    mha_rt_set_error("%s: %s", c->name, what);
    status = MHA_ERR_CUDA;
  }
  if (status == MHA_OK)
    status = mha_rt_check_serving(signature, arg_names, &host);
  free(buffer);
  return status;
}
