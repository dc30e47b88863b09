//===- TempCache.c - Temporaries kept between calls --------------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The runtime's temporaries (a layer's projections and panels, the
// backward's row statistics and dq sums) and the library-wide cache that
// keeps them between calls (TempCache.h).
//
//===----------------------------------------------------------------------===//

#define _DEFAULT_SOURCE /* madvise */

#include "TempCache.h"

#include "PackedWeights.h"
#include "Status.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A new temporary of `bytes` (a multiple of 64), 64-byte aligned. Large
 * ones are asked for transparent huge pages: their first touch (the packed
 * weights of a 4096-wide layer are 80-170 MB) then faults 2 MB at a time
 * instead of 4 KB, which measured a third of the packing phase. */
static void *alloc_temp(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
#ifdef MADV_HUGEPAGE
  if (bytes >= 2 * huge) {
    size_t rounded = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
    if (p)
      (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only */
    return p;
  }
#endif
  return aligned_alloc(64, bytes);
}

/* Temporaries outlive a call in a small library-wide cache, so the next
 * call of a layer of about the same size reuses them instead of faulting
 * fresh pages in (the GPT-2-style layer of bench/layers.py: 34.5 -> 33.0
 * ms per call; its packing phase alone took 1-5.5 ms from one run to the
 * next with fresh pages). At most TEMP_CACHE_SLOTS buffers and `limit`
 * bytes in all are kept: initially TEMP_CACHE_BYTES, or 0 (every temporary
 * is freed at the end of its call) with MHA_TEMP_CACHE=0 in the
 * environment; mha_set_cached_memory_limit changes it and
 * mha_release_cached_memory empties the cache. A temporary in use by a
 * running call is never in the cache. */
#define TEMP_CACHE_SLOTS 16
#define TEMP_CACHE_BYTES ((size_t)1 << 30)

typedef struct cached_temp {
  void *data;
  size_t bytes;
} cached_temp;

typedef struct temp_cache_state {
  pthread_mutex_t mutex; // Guards the rest.
  bool limit_set;        // `limit` holds MHA_TEMP_CACHE or a set value.
  size_t limit;
  size_t total;
  cached_temp slots[TEMP_CACHE_SLOTS];
} temp_cache_state;

/* Default visibility on purpose, as the last-error buffer in Status.c: a
 * program linked against two generated libraries binds its calls of the
 * mha_*cached_memory* functions to the first library's copy, and since this
 * state is interposable too, both runtimes resolve it to that copy's
 * definition: one cache, all of which those functions see. (A library
 * dlopen'ed with RTLD_LOCAL keeps a cache of its own.) The name carries the
 * layout's version, so that runtimes with different layouts never share. */
MHA_RT_EXPORT temp_cache_state mha_rt_temp_cache_v1 = {
    .mutex = PTHREAD_MUTEX_INITIALIZER};
static temp_cache_state *const cache = &mha_rt_temp_cache_v1;

/* Locks the cache; its limit is MHA_TEMP_CACHE's until someone sets it. */
static void lock_cache(void) {
  pthread_mutex_lock(&cache->mutex);
  if (!cache->limit_set) {
    const char *env = getenv("MHA_TEMP_CACHE");
    cache->limit = (env && env[0] == '0') ? 0 : TEMP_CACHE_BYTES;
    cache->limit_set = true;
  }
}

static void unlock_cache(void) { pthread_mutex_unlock(&cache->mutex); }

/* Moves the largest cached temporaries out of the cache into `out` (at
 * least TEMP_CACHE_SLOTS entries) until at most `keep` bytes stay; returns
 * how many were moved. Needs the cache locked. Freeing them is the caller's
 * business, after unlocking: a free of a large buffer is a munmap. */
static int evict_temps(size_t keep, void **out) {
  int n = 0;
  while (cache->total > keep) {
    int largest = -1;
    for (int i = 0; i < TEMP_CACHE_SLOTS; ++i)
      if (cache->slots[i].data &&
          (largest < 0 || cache->slots[i].bytes > cache->slots[largest].bytes))
        largest = i;
    if (largest < 0)
      break;
    out[n++] = cache->slots[largest].data;
    cache->total -= cache->slots[largest].bytes;
    cache->slots[largest].data = NULL;
    cache->slots[largest].bytes = 0;
  }
  return n;
}

static void free_all(void **data, int n) {
  for (int i = 0; i < n; ++i)
    free(data[i]);
}

MHA_RT_EXPORT size_t mha_release_cached_memory(void) {
  void *evicted[TEMP_CACHE_SLOTS];
  lock_cache();
  size_t bytes = cache->total;
  int n = evict_temps(0, evicted);
  unlock_cache();
  free_all(evicted, n);
  return bytes + mha_rt_packed_release_all();
}

MHA_RT_EXPORT size_t mha_set_cached_memory_limit(size_t bytes) {
  void *evicted[TEMP_CACHE_SLOTS];
  lock_cache();
  size_t previous = cache->limit;
  cache->limit = bytes;
  int n = evict_temps(bytes, evicted);
  unlock_cache();
  free_all(evicted, n);
  return previous;
}

MHA_RT_EXPORT size_t mha_cached_memory_bytes(void) {
  lock_cache();
  size_t bytes = cache->total;
  unlock_cache();
  return bytes + mha_rt_packed_bytes();
}

MHA_RT_HIDDEN void *mha_rt_take_temp(size_t bytes, size_t *capacity) {
  void *data = NULL;
  lock_cache();
  int best = -1;
  for (int i = 0; i < TEMP_CACHE_SLOTS; ++i) {
    size_t have = cache->slots[i].bytes;
    if (cache->slots[i].data && have >= bytes && have / 2 <= bytes &&
        (best < 0 || have < cache->slots[best].bytes))
      best = i;
  }
  if (best >= 0) {
    data = cache->slots[best].data;
    *capacity = cache->slots[best].bytes;
    cache->total -= *capacity;
    cache->slots[best].data = NULL;
    cache->slots[best].bytes = 0;
  }
  unlock_cache();
  if (!data) {
    data = alloc_temp(bytes);
    *capacity = bytes;
  }
  return data;
}

MHA_RT_HIDDEN void mha_rt_return_temps(void **temps, const size_t *capacities,
                                       int n) {
  lock_cache();
  for (int i = 0; i < n; ++i) {
    int slot = -1;
    if (temps[i] && cache->total + capacities[i] <= cache->limit)
      for (int j = 0; j < TEMP_CACHE_SLOTS && slot < 0; ++j)
        if (!cache->slots[j].data)
          slot = j;
    if (slot < 0)
      continue; // Freed below, unlocked.
    cache->slots[slot].data = temps[i];
    cache->slots[slot].bytes = capacities[i];
    cache->total += capacities[i];
    temps[i] = NULL;
  }
  unlock_cache();
  free_all(temps, n);
}
