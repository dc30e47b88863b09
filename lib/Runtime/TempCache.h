/*===- TempCache.h - Temporaries kept between calls ---------------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
 *
 * Private to the runtime. Temporaries outlive a call in a small
 * library-wide cache (mha_set_cached_memory_limit, MHA_TEMP_CACHE;
 * TempCache.c says how much it keeps), so the next call of about the same
 * size reuses them instead of faulting fresh pages in.
 *===----------------------------------------------------------------------===*/

#ifndef MHA_LIB_RUNTIME_TEMPCACHE_H
#define MHA_LIB_RUNTIME_TEMPCACHE_H

#include "Status.h"

#include <stddef.h>

/* A 64-byte-aligned temporary of at least `bytes` (a multiple of 64): the
 * smallest cached one that is not more than twice as large, or a new one
 * (NULL when allocation fails). Its size goes to `*capacity`. Its contents
 * are whatever a previous call left. */
MHA_RT_HIDDEN void *mha_rt_take_temp(size_t bytes, size_t *capacity);

/* Returns `n` temporaries of mha_rt_take_temp (NULL entries are skipped) to
 * the cache, or frees those it has no room for; sets each entry to NULL or
 * leaves it to be freed. */
MHA_RT_HIDDEN void mha_rt_return_temps(void **temps, const size_t *capacities,
                                       int n);

#endif /* MHA_LIB_RUNTIME_TEMPCACHE_H */
