//===- PackedWeights.c - Panels kept across layer calls -----------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// See PackedWeights.h. A decoding step reads each weight once: packing it
// on every call would read it twice and write it once more (3x the bytes
// the step needs), so a caller whose weights do not change asks to keep
// the panels (mha_options.reuse_packed_weights).
//
//===----------------------------------------------------------------------===//

#include "PackedWeights.h"
#include "Status.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Weight sets whose panels are kept at once (a model's layers, each its
 * own weights, may share one function); the least recently used set that
 * no call leases makes room for another. */
#define PACKED_ENTRIES 128

typedef struct packed_entry {
  mha_rt_packed_key key;
  int n;
  void *buffers[MHA_RT_MAX_PACKED];
  size_t bytes[MHA_RT_MAX_PACKED];
  int leases;     // Calls running on these panels.
  bool stale;     // Forgotten while leased: freed when the last lease ends.
  uint64_t stamp; // Of the last acquire or store.
} packed_entry;

typedef struct packed_cache_state {
  pthread_mutex_t mutex; // Guards the rest.
  uint64_t clock;
  // Allocated when first used, so a scan touches only the sets there are.
  packed_entry *entries[PACKED_ENTRIES];
} packed_cache_state;

/* Shared by the generated libraries of a program as mha_rt_temp_cache_v1
 * is (TempCache.c): mha_release_cached_memory, which binds to one
 * library's copy, frees every library's panels. */
MHA_RT_EXPORT packed_cache_state mha_rt_packed_cache_v2 = {
    .mutex = PTHREAD_MUTEX_INITIALIZER};
static packed_cache_state *const packed = &mha_rt_packed_cache_v2;

static bool is_weight_role(int64_t role) {
  return (role >= MHA_ROLE_QUERY_WEIGHT && role <= MHA_ROLE_OUT_BIAS) ||
         (role >= MHA_ROLE_QUERY_WEIGHT_DOWN &&
          role <= MHA_ROLE_OUT_WEIGHT_UP) ||
         (role >= MHA_ROLE_QUERY_WEIGHT_SCALE &&
          role <= MHA_ROLE_OUT_WEIGHT_SCALE);
}

void mha_rt_packed_key_of(mha_rt_packed_key *key, const int64_t *signature,
                          uintptr_t work, const mha_rt_checked_call *c) {
  memset(key, 0, sizeof(*key));
  key->signature = signature;
  key->work = work;
  int n = 0;
  for (int i = 0; i < c->num_tensors; ++i) {
    const int64_t *t = mha_rt_tensor_sig(signature, i);
    if (!is_weight_role(t[MHA_SIG_T_ROLE]))
      continue;
    const mha_rt_memref *m = &c->memrefs[i];
    int rank = (int)t[MHA_SIG_T_RANK];
    key->words[n++] = (int64_t)(uintptr_t)m->aligned;
    key->words[n++] = m->offset;
    for (int d = 0; d < 2 * rank; ++d)
      key->words[n++] = m->dims[d];
  }
  key->num_words = n;
}

static bool same_key(const mha_rt_packed_key *a, const mha_rt_packed_key *b) {
  return a->signature == b->signature && a->work == b->work &&
         a->num_words == b->num_words &&
         memcmp(a->words, b->words, (size_t)a->num_words * sizeof(int64_t)) ==
             0;
}

/* The slot of the set of `key`, or -1. Needs the lock. */
static int find(const mha_rt_packed_key *key) {
  for (int i = 0; i < PACKED_ENTRIES; ++i)
    if (packed->entries[i] && same_key(&packed->entries[i]->key, key))
      return i;
  return -1;
}

/* Takes slot i's entry out of the cache; the caller frees it outside the
 * lock (free_entry). Needs the lock. */
static packed_entry *take(int i) {
  packed_entry *e = packed->entries[i];
  packed->entries[i] = NULL;
  return e;
}

static void free_entry(packed_entry *e) {
  if (!e)
    return;
  for (int i = 0; i < e->n; ++i)
    free(e->buffers[i]);
  free(e);
}

bool mha_rt_packed_acquire(const mha_rt_packed_key *key, int n,
                           const size_t *bytes, void **buffers) {
  pthread_mutex_lock(&packed->mutex);
  int i = find(key);
  packed_entry *e = i >= 0 ? packed->entries[i] : NULL;
  bool hit = e && !e->stale && e->n == n;
  for (int j = 0; hit && j < n; ++j)
    hit = e->bytes[j] >= bytes[j];
  if (hit) {
    ++e->leases;
    e->stamp = ++packed->clock;
    for (int j = 0; j < n; ++j)
      buffers[j] = e->buffers[j];
  }
  pthread_mutex_unlock(&packed->mutex);
  return hit;
}

void mha_rt_packed_release(const mha_rt_packed_key *key) {
  packed_entry *gone = NULL;
  pthread_mutex_lock(&packed->mutex);
  int i = find(key);
  packed_entry *e = i >= 0 ? packed->entries[i] : NULL;
  if (e && e->leases > 0 && --e->leases == 0 && e->stale)
    gone = take(i);
  pthread_mutex_unlock(&packed->mutex);
  free_entry(gone);
}

void mha_rt_packed_forget(const mha_rt_packed_key *key) {
  packed_entry *gone = NULL;
  pthread_mutex_lock(&packed->mutex);
  int i = find(key);
  if (i >= 0) {
    if (packed->entries[i]->leases > 0)
      packed->entries[i]->stale = true;
    else
      gone = take(i);
  }
  pthread_mutex_unlock(&packed->mutex);
  free_entry(gone);
}

/* An empty slot, else that of the least recently used set no call leases,
 * else -1. Needs the lock. */
static int slot_for_new_set(void) {
  int oldest = -1;
  for (int i = 0; i < PACKED_ENTRIES; ++i) {
    packed_entry *e = packed->entries[i];
    if (!e)
      return i;
    if (e->leases == 0 &&
        (oldest < 0 || e->stamp < packed->entries[oldest]->stamp))
      oldest = i;
  }
  return oldest;
}

bool mha_rt_packed_store(const mha_rt_packed_key *key, int n,
                         void *const *buffers, const size_t *bytes) {
  if (n < 1 || n > MHA_RT_MAX_PACKED)
    return false;
  packed_entry *fresh = calloc(1, sizeof(packed_entry));
  if (!fresh)
    return false;
  fresh->key = *key;
  fresh->n = n;
  for (int j = 0; j < n; ++j) {
    fresh->buffers[j] = buffers[j];
    fresh->bytes[j] = bytes[j];
  }
  packed_entry *gone = NULL;
  int slot = -1;
  pthread_mutex_lock(&packed->mutex);
  int same = find(key);
  if (same >= 0) {
    // Another call runs on these weights' panels: keep them.
    if (packed->entries[same]->leases == 0)
      slot = same;
  } else {
    slot = slot_for_new_set();
  }
  if (slot >= 0) {
    gone = take(slot);
    fresh->stamp = ++packed->clock;
    packed->entries[slot] = fresh;
  }
  pthread_mutex_unlock(&packed->mutex);
  free_entry(gone);
  if (slot < 0) {
    free(fresh); // Not the buffers: the caller frees them.
    return false;
  }
  return true;
}

size_t mha_rt_packed_release_all(void) {
  size_t freed = 0;
  for (int i = 0; i < PACKED_ENTRIES; ++i) {
    packed_entry *gone = NULL;
    pthread_mutex_lock(&packed->mutex);
    packed_entry *e = packed->entries[i];
    if (e && e->leases == 0) {
      for (int j = 0; j < e->n; ++j)
        freed += e->bytes[j];
      gone = take(i);
    }
    pthread_mutex_unlock(&packed->mutex);
    free_entry(gone);
  }
  return freed;
}

size_t mha_rt_packed_bytes(void) {
  size_t bytes = 0;
  pthread_mutex_lock(&packed->mutex);
  for (int i = 0; i < PACKED_ENTRIES; ++i)
    for (int j = 0; packed->entries[i] && j < packed->entries[i]->n; ++j)
      bytes += packed->entries[i]->bytes[j];
  pthread_mutex_unlock(&packed->mutex);
  return bytes;
}
