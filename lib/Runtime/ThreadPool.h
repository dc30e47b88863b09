//===- ThreadPool.h - The runtime's persistent worker pool --------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to the runtime. One pool per generated library, built on pthreads
// alone (no OpenMP, no libstdc++), so a generated library depends on nothing
// but libc.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_THREADPOOL_H
#define MHA_LIB_RUNTIME_THREADPOOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MHA_RT_HIDDEN __attribute__((visibility("hidden")))

/// Calls fn(ctx, i) exactly once for every i in [0, num_items), on at most
/// num_threads threads (0 = one per online CPU): the pool's, or the
/// program's executor's when one is set (mha_set_executor). The calling thread
/// takes part and counts as one of them, so a call always makes progress even
/// when every worker is busy with another caller's job. Items are claimed in
/// index order from an atomic counter: order them as you want them started.
/// num_threads == 1 runs everything on the calling thread without any
/// synchronisation. Thread-safe and reentrant (fn may call it again).
///
/// A calling thread with less than MHA_WORK_ITEM_STACK_BYTES of stack free
/// below this call (mha/Runtime/KernelAbi.h) runs no item itself: up to
/// num_threads pool workers run them all while it waits. Should the pool
/// have no worker and be unable to create one, nothing runs and the call
/// returns pthread_create's error (report it with mha_rt_fail_no_worker).
/// Returns 0 otherwise; a negative num_items counts as no item.
MHA_RT_HIDDEN int mha_rt_parallel_for(int64_t num_items, int num_threads,
                                      void (*fn)(void *ctx, int64_t item),
                                      void *ctx);

/// Sets the last error for a failed mha_rt_parallel_for (`error`, from
/// pthread_create) of the generated function `name`; returns
/// MHA_ERR_OUT_OF_MEMORY.
MHA_RT_HIDDEN int32_t mha_rt_fail_no_worker(const char *name, int error);

/// Tests only: the pool creates no worker beyond `max_workers` (-1: no cap)
/// and reports EAGAIN as if pthread_create had failed; workers it has stay.
MHA_RT_HIDDEN void mha_rt_pool_cap_workers_for_testing(int max_workers);

/// Tests only: idle threads spin `ns` nanoseconds (0: never) before they
/// sleep, instead of MHA_SPIN_US; returns the previous value.
MHA_RT_HIDDEN int64_t mha_rt_pool_set_spin_for_testing(int64_t ns);

/// The number of online CPUs (at least 1): what num_threads == 0 means.
MHA_RT_HIDDEN int mha_rt_num_cpus(void);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // MHA_LIB_RUNTIME_THREADPOOL_H
