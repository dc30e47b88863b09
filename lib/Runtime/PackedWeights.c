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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MHA_RT_EXPORT __attribute__((visibility("default")))

/* Functions whose panels are kept at once; the least recently used entry
 * that no call leases makes room for another. */
#define PACKED_ENTRIES 16

typedef struct packed_entry {
  bool used;
  mha_rt_packed_key key;
  int n;
  void *buffers[MHA_RT_MAX_PACKED];
  size_t bytes[MHA_RT_MAX_PACKED];
  int leases;     // Calls running on these panels.
  uint64_t stamp; // Of the last acquire or store.
} packed_entry;

typedef struct packed_cache_state {
  pthread_mutex_t mutex; // Guards the rest.
  uint64_t clock;
  packed_entry entries[PACKED_ENTRIES];
} packed_cache_state;

/* Shared by the generated libraries of a program as mha_rt_temp_cache_v1
 * is (TempCache.c): mha_release_cached_memory, which binds to one
 * library's copy, frees every library's panels. */
MHA_RT_EXPORT packed_cache_state mha_rt_packed_cache_v1 = {
    .mutex = PTHREAD_MUTEX_INITIALIZER};
static packed_cache_state *const packed = &mha_rt_packed_cache_v1;

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

static bool same_function(const mha_rt_packed_key *a,
                          const mha_rt_packed_key *b) {
  return a->signature == b->signature && a->work == b->work;
}

static bool same_key(const mha_rt_packed_key *a, const mha_rt_packed_key *b) {
  return same_function(a, b) && a->num_words == b->num_words &&
         memcmp(a->words, b->words, (size_t)a->num_words * sizeof(int64_t)) ==
             0;
}

static packed_entry *find(const mha_rt_packed_key *key, bool whole_key) {
  for (int i = 0; i < PACKED_ENTRIES; ++i) {
    packed_entry *e = &packed->entries[i];
    if (e->used &&
        (whole_key ? same_key(&e->key, key) : same_function(&e->key, key)))
      return e;
  }
  return NULL;
}

bool mha_rt_packed_acquire(const mha_rt_packed_key *key, int n,
                           const size_t *bytes, void **buffers) {
  pthread_mutex_lock(&packed->mutex);
  packed_entry *e = find(key, true);
  bool hit = e && e->n == n;
  for (int i = 0; hit && i < n; ++i)
    hit = e->bytes[i] >= bytes[i];
  if (hit) {
    ++e->leases;
    e->stamp = ++packed->clock;
    for (int i = 0; i < n; ++i)
      buffers[i] = e->buffers[i];
  }
  pthread_mutex_unlock(&packed->mutex);
  return hit;
}

void mha_rt_packed_release(const mha_rt_packed_key *key) {
  pthread_mutex_lock(&packed->mutex);
  packed_entry *e = find(key, true);
  if (e && e->leases > 0)
    --e->leases;
  pthread_mutex_unlock(&packed->mutex);
}

/* Empties entry `e` into `out` (MHA_RT_MAX_PACKED slots); returns how many
 * buffers it held. Needs the lock. */
static int take_buffers(packed_entry *e, void **out) {
  int n = e->used ? e->n : 0;
  for (int i = 0; i < n; ++i)
    out[i] = e->buffers[i];
  memset(e, 0, sizeof(*e));
  return n;
}

bool mha_rt_packed_store(const mha_rt_packed_key *key, int n,
                         void *const *buffers, const size_t *bytes) {
  if (n < 1 || n > MHA_RT_MAX_PACKED)
    return false;
  void *old[MHA_RT_MAX_PACKED];
  int num_old = 0;
  pthread_mutex_lock(&packed->mutex);
  packed_entry *e = find(key, false);
  if (e && e->leases > 0)
    e = NULL; // Another call runs on the function's panels: keep them.
  else if (!e) {
    for (int i = 0; i < PACKED_ENTRIES && !e; ++i)
      if (!packed->entries[i].used)
        e = &packed->entries[i];
    for (int i = 0; i < PACKED_ENTRIES && !e; ++i) {
      packed_entry *c = &packed->entries[i];
      if (c->leases == 0 && (!e || c->stamp < e->stamp))
        e = c;
    }
  }
  if (e) {
    num_old = take_buffers(e, old);
    e->used = true;
    e->key = *key;
    e->n = n;
    for (int i = 0; i < n; ++i) {
      e->buffers[i] = buffers[i];
      e->bytes[i] = bytes[i];
    }
    e->stamp = ++packed->clock;
  }
  pthread_mutex_unlock(&packed->mutex);
  for (int i = 0; i < num_old; ++i)
    free(old[i]);
  return e != NULL;
}

size_t mha_rt_packed_release_all(void) {
  size_t freed = 0;
  for (int i = 0; i < PACKED_ENTRIES; ++i) {
    void *old[MHA_RT_MAX_PACKED];
    int n = 0;
    pthread_mutex_lock(&packed->mutex);
    packed_entry *e = &packed->entries[i];
    if (e->used && e->leases == 0) {
      for (int j = 0; j < e->n; ++j)
        freed += e->bytes[j];
      n = take_buffers(e, old);
    }
    pthread_mutex_unlock(&packed->mutex);
    for (int j = 0; j < n; ++j)
      free(old[j]);
  }
  return freed;
}

size_t mha_rt_packed_bytes(void) {
  size_t bytes = 0;
  pthread_mutex_lock(&packed->mutex);
  for (int i = 0; i < PACKED_ENTRIES; ++i)
    for (int j = 0; packed->entries[i].used && j < packed->entries[i].n; ++j)
      bytes += packed->entries[i].bytes[j];
  pthread_mutex_unlock(&packed->mutex);
  return bytes;
}
