//===- SplitKv.c - The runtime side of split-KV decoding ----------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "SplitKv.h"

#include "mha/Runtime/KernelAbi.h"

#include <stdlib.h>
#include <string.h>

static int64_t choose_splits(const int64_t *words, const mha_rt_checked_call *c,
                             int64_t tiles) {
  // The grid's sizes reach the kernel as 32-bit call words.
  if (c->sequence_batch > UINT32_MAX || c->sequence_rows > UINT32_MAX)
    return 1;
  int64_t key_tensor = words[MHA_SIG_SPLIT_KEY_TENSOR];
  int64_t table = words[MHA_SIG_SPLIT_TABLE_TENSOR];
  // Keys per sequence: the longest packed sequence's, Lk, or pages per
  // sequence x page size.
  int64_t capacity =
      c->sequence_keys >= 0 ? c->sequence_keys : c->memrefs[key_tensor].dims[2];
  if (table >= 0 &&
      __builtin_mul_overflow(capacity, c->memrefs[table].dims[1], &capacity))
    capacity = INT64_MAX;
  // The items that carry work: the sequences' (not the item of the rows
  // past the last packed sequence, which has no keys).
  int64_t items;
  if (__builtin_mul_overflow(c->sequences, words[MHA_SIG_SPLIT_KV_HEADS],
                             &items) ||
      __builtin_mul_overflow(items, tiles, &items))
    return 1;
  int64_t cpus = mha_rt_num_cpus();
  if (items <= 0 || items >= cpus)
    return 1;
  int64_t parts = (cpus + items - 1) / items;
  if (parts > capacity / MHA_SPLIT_MIN_KEYS)
    parts = capacity / MHA_SPLIT_MIN_KEYS;
  if (parts > MHA_SPLIT_MAX_PARTS)
    parts = MHA_SPLIT_MAX_PARTS;
  return parts < 1 ? 1 : parts;
}

static void set_vector(mha_rt_memref *m, void *data, int64_t size) {
  memset(m, 0, sizeof(*m));
  m->allocated = m->aligned = data;
  m->dims[0] = size;
  m->dims[1] = 1;
}

static int alloc_split_buffers(mha_rt_split_buffers *sb, int64_t dv,
                               const mha_rt_checked_call *c, int64_t parts,
                               int64_t tiles) {
  int64_t rows, counts, floats;
  if (__builtin_mul_overflow(parts, c->sequence_batch, &rows) ||
      __builtin_mul_overflow(rows, c->heads, &rows) ||
      __builtin_mul_overflow(rows, c->sequence_rows, &rows) ||
      __builtin_mul_overflow(rows, dv, &floats) ||
      __builtin_mul_overflow(c->sequence_batch, c->heads, &counts) ||
      __builtin_mul_overflow(counts, tiles, &counts) ||
      floats > (int64_t)(SIZE_MAX / sizeof(float)))
    return 0;
  sb->outputs = (float *)malloc((size_t)floats * sizeof(float));
  sb->lse = (float *)malloc((size_t)rows * sizeof(float));
  sb->arrivals = (int32_t *)calloc((size_t)counts, sizeof(int32_t));
  if (!sb->outputs || !sb->lse || !sb->arrivals) {
    mha_rt_free_split_buffers(sb);
    memset(sb, 0, sizeof(*sb));
    return 0;
  }
  mha_rt_memref *o = &sb->outputs_memref;
  o->allocated = o->aligned = sb->outputs;
  o->dims[0] = rows;
  o->dims[1] = dv;
  o->dims[2] = dv; // strides
  o->dims[3] = 1;
  set_vector(&sb->lse_memref, sb->lse, rows);
  set_vector(&sb->arrivals_memref, sb->arrivals, counts);
  return 1;
}

MHA_RT_HIDDEN int64_t mha_rt_split_keys(const int64_t *split_words,
                                        mha_rt_checked_call *c, int64_t tiles,
                                        mha_rt_split_buffers *sb) {
  memset(sb, 0, sizeof(*sb));
  int64_t parts = split_words ? choose_splits(split_words, c, tiles) : 1;
  if (parts > 1 &&
      !alloc_split_buffers(sb, split_words[MHA_SIG_SPLIT_VALUE_DIM], c, parts,
                           tiles))
    parts = 1;
  c->dropout_words[MHA_SPLIT_KV_COUNT] = (uint32_t)parts;
  c->dropout_words[MHA_SPLIT_KV_BATCH] =
      parts > 1 ? (uint32_t)c->sequence_batch : 0;
  c->dropout_words[MHA_SPLIT_KV_ROWS] =
      parts > 1 ? (uint32_t)c->sequence_rows : 0;
  return parts;
}

MHA_RT_HIDDEN void mha_rt_free_split_buffers(mha_rt_split_buffers *sb) {
  free(sb->outputs);
  free(sb->lse);
  free(sb->arrivals);
}
