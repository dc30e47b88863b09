//===- Launch.c - Checking a call and running its work grid -------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_rt_launch, the entry point that generated CPU wrappers call (see
// mha/Runtime/KernelAbi.h). It checks every DLTensor against the compiler's
// signature table before any tensor memory is touched (CallCheck.c, shared
// with the GPU launcher), so a bad call writes no output byte and leaves a
// message that names the function, the argument, the dimension, what was
// expected and what was found. Then it runs the work items on the memref
// descriptors the checks built, on the thread pool. It knows nothing about
// attention itself.
//
//===----------------------------------------------------------------------===//

#include "CallCheck.h"
#include "Status.h"
#include "ThreadPool.h"

#include "mha/Runtime/KernelAbi.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Head-alive masks up to this many heads live on the stack.
#define STACK_HEADS 256

//===----------------------------------------------------------------------===//
// Running the grid
//===----------------------------------------------------------------------===//

typedef struct grid {
  mha_work_fn work;
  void **descriptors;
  const uint8_t *head_alive;
  int64_t batch, heads, tiles;
} grid;

static void run_item(void *ctx, int64_t item) {
  const grid *g = (const grid *)ctx;
  int64_t per_tile = g->batch * g->heads;
  // Tile-major, last tile first: under a causal mask the last query rows
  // cost the most, and starting the longest items first shortens the tail.
  int64_t t = g->tiles - 1 - item / per_tile;
  int64_t rest = item % per_tile;
  g->work(g->descriptors, rest / g->heads, rest % g->heads, t, g->head_alive);
}

//===----------------------------------------------------------------------===//
// Split-KV decoding
//===----------------------------------------------------------------------===//

/// The parts S each sequence's keys are split into (KernelAbi.h): more
/// than 1 only when fewer items than the machine's CPUs would carry work
/// and every part keeps MHA_SPLIT_MIN_KEYS of the keys a sequence can hold.
/// The CPUs, not num_threads: the bytes of a result never depend on it.
static int64_t choose_splits(const int64_t *signature,
                             const mha_rt_checked_call *c, int64_t tiles) {
  if (!signature[MHA_SIG_SPLIT_KV])
    return 1;
  const int64_t *words = mha_rt_tensor_sig(signature, c->num_tensors);
  int64_t key_tensor = words[MHA_SIG_SPLIT_KEY_TENSOR];
  int64_t table = words[MHA_SIG_SPLIT_TABLE_TENSOR];
  // Keys per sequence: Lk, or pages per sequence x page size.
  int64_t capacity = c->memrefs[key_tensor].dims[2];
  if (table >= 0 &&
      __builtin_mul_overflow(capacity, c->memrefs[table].dims[1], &capacity))
    capacity = INT64_MAX;
  int64_t items;
  if (__builtin_mul_overflow(c->batch, words[MHA_SIG_SPLIT_KV_HEADS], &items) ||
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

/// The partial results of a split call and their descriptors: outputs
/// [S B H Lq, Dv], lse [S B H Lq] and arrival counts [B H tiles] (zeroed).
typedef struct split_buffers {
  float *outputs, *lse;
  int32_t *arrivals;
  mha_rt_memref outputs_memref, lse_memref, arrivals_memref;
} split_buffers;

static void set_vector(mha_rt_memref *m, void *data, int64_t size) {
  memset(m, 0, sizeof(*m));
  m->allocated = m->aligned = data;
  m->dims[0] = size;
  m->dims[1] = 1;
}

/// Allocates the buffers of `parts` parts; 0 when they cannot be had (the
/// call then runs unsplit).
static int alloc_split_buffers(split_buffers *sb, const int64_t *signature,
                               const mha_rt_checked_call *c, int64_t parts,
                               int64_t tiles) {
  memset(sb, 0, sizeof(*sb));
  if (parts <= 1)
    return 1;
  int64_t dv =
      mha_rt_tensor_sig(signature, c->num_tensors)[MHA_SIG_SPLIT_VALUE_DIM];
  int64_t rows, counts, floats;
  if (__builtin_mul_overflow(parts, c->batch, &rows) ||
      __builtin_mul_overflow(rows, c->heads, &rows) ||
      __builtin_mul_overflow(rows, c->rows, &rows) ||
      __builtin_mul_overflow(rows, dv, &floats) ||
      __builtin_mul_overflow(c->batch, c->heads, &counts) ||
      __builtin_mul_overflow(counts, tiles, &counts) ||
      floats > (int64_t)(SIZE_MAX / sizeof(float)))
    return 0;
  sb->outputs = (float *)malloc((size_t)floats * sizeof(float));
  sb->lse = (float *)malloc((size_t)rows * sizeof(float));
  sb->arrivals = (int32_t *)calloc((size_t)counts, sizeof(int32_t));
  if (!sb->outputs || !sb->lse || !sb->arrivals) {
    free(sb->outputs);
    free(sb->lse);
    free(sb->arrivals);
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

static void free_split_buffers(split_buffers *sb) {
  free(sb->outputs);
  free(sb->lse);
  free(sb->arrivals);
}

//===----------------------------------------------------------------------===//
// The entry point
//===----------------------------------------------------------------------===//

MHA_RT_HIDDEN int32_t mha_rt_launch(const int64_t *signature, const char *name,
                                    const char *const *arg_names,
                                    const DLTensor *const *tensors,
                                    const mha_options *options,
                                    mha_work_fn work) {
  mha_rt_checked_call c;
  int32_t status =
      mha_rt_check_call(signature, name, arg_names, tensors, options, kDLCPU,
                        work ? NULL : "no work function", &c);
  if (status != MHA_OK)
    return status;
  status = mha_rt_check_serving(signature, arg_names, &c);
  if (status == MHA_OK)
    status = mha_rt_check_scales(signature, arg_names, &c);
  if (status != MHA_OK)
    return status;
  int num_threads = c.options.num_threads;

  int64_t rows = signature[MHA_SIG_ROWS_PER_ITEM];
  int64_t lq = c.rows;
  grid g = {work, NULL, NULL, c.batch, c.heads, lq / rows + (lq % rows != 0)};
  // Split-KV: S items per query tile, item t being part t mod S of tile
  // t div S.
  int64_t query_tiles = g.tiles;
  int64_t parts = choose_splits(signature, &c, query_tiles);
  split_buffers split;
  if (!alloc_split_buffers(&split, signature, &c, parts, query_tiles))
    parts = 1;
  c.dropout_words[MHA_SPLIT_KV_COUNT] = (uint32_t)parts;
  g.tiles *= parts;
  int64_t num_items;
  if (__builtin_mul_overflow(g.batch, g.heads, &num_items) ||
      __builtin_mul_overflow(num_items, g.tiles, &num_items)) {
    free_split_buffers(&split);
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: the work grid %" PRId64 " x %" PRId64 " x %" PRId64
                " has more items than int64 can count",
                c.name, g.batch, g.heads, g.tiles);
  }
  if (num_items == 0) {
    free_split_buffers(&split);
    mha_rt_clear_error();
    return MHA_OK;
  }

  // The runtime head mask; the spec's static mask is applied by the kernel.
  uint8_t stack_alive[STACK_HEADS];
  uint8_t *alive = stack_alive;
  if (g.heads > STACK_HEADS) {
    alive = (uint8_t *)malloc((size_t)g.heads);
    if (!alive) {
      free_split_buffers(&split);
      MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                  "%s: could not allocate the %" PRId64 "-byte head mask",
                  c.name, g.heads);
    }
  }
  const uint8_t *mask = c.options.head_mask;
  for (int64_t h = 0; h < g.heads; ++h)
    alive[h] = mask ? (mask[h] != 0) : 1;

  void *descriptors[MHA_RT_MAX_TENSORS + 4];
  for (int i = 0; i < c.num_tensors; ++i)
    descriptors[i] = &c.memrefs[i];
  descriptors[c.num_tensors] = &c.dropout_memref;
  descriptors[c.num_tensors + 1] = &split.outputs_memref;
  descriptors[c.num_tensors + 2] = &split.lse_memref;
  descriptors[c.num_tensors + 3] = &split.arrivals_memref;
  g.descriptors = descriptors;
  g.head_alive = alive;

  // Fails, running no item, only when the calling thread's stack is too
  // small for one and no worker can be created to run them.
  int error = mha_rt_parallel_for(num_items, num_threads, run_item, &g);

  if (alive != stack_alive)
    free(alive);
  free_split_buffers(&split);
  if (error)
    return mha_rt_fail_no_worker(c.name, error);
  mha_rt_clear_error();
  return MHA_OK;
}
