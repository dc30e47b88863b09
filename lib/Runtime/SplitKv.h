//===- SplitKv.h - The runtime side of split-KV decoding ----------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to the runtime: how many parts a call splits each sequence's keys
// into, and the partial results the parts write (KernelAbi.h, split-KV).
// Shared by attention functions (Launch.c) and layer decoding steps, whose
// attention phase splits the same way (LaunchLayer.c).
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_SPLITKV_H
#define MHA_LIB_RUNTIME_SPLITKV_H

#include "CallCheck.h"
#include "ThreadPool.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The partial results of a split call and their descriptors: outputs
/// [S B H Lq, Dv], lse [S B H Lq] and arrival counts [B H tiles] (zeroed),
/// B and Lq being the call's sequence grid. All null (empty descriptors)
/// for a call that does not split.
typedef struct mha_rt_split_buffers {
  float *outputs, *lse;
  int32_t *arrivals;
  mha_rt_memref outputs_memref, lse_memref, arrivals_memref;
} mha_rt_split_buffers;

/// Splits the keys of call `c`, whose grid is c->sequence_batch x heads x
/// `tiles`: chooses the parts S (more than 1 only when fewer items than the
/// machine's CPUs would carry work and every part keeps MHA_SPLIT_MIN_KEYS
/// of the keys a sequence can hold; the CPUs, not num_threads, so the bytes
/// of a result never depend on it), allocates `sb` for them and sets the
/// call words MHA_SPLIT_KV_*. `split_words` are the MHA_SIG_SPLIT_WORDS
/// words of the signature. Returns S: 1, with `sb` empty, when the call
/// does not split or its buffers cannot be had.
MHA_RT_HIDDEN int64_t mha_rt_split_keys(const int64_t *split_words,
                                        mha_rt_checked_call *c, int64_t tiles,
                                        mha_rt_split_buffers *sb);

MHA_RT_HIDDEN void mha_rt_free_split_buffers(mha_rt_split_buffers *sb);

#ifdef __cplusplus
}
#endif

#endif // MHA_LIB_RUNTIME_SPLITKV_H
