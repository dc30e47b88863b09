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
#include "SplitKv.h"
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
// The entry point
//===----------------------------------------------------------------------===//

MHA_RT_HIDDEN int32_t mha_rt_launch(const int64_t *signature, const char *name,
                                    const char *const *arg_names,
                                    const DLTensor *const *tensors,
                                    const mha_options *options,
                                    mha_work_fn work) {
  mha_rt_checked_call c;
  int32_t status = mha_rt_check_cpu_call(signature, name, arg_names, tensors,
                                         options, work != NULL, &c);
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
  const int64_t *split_words = mha_rt_tensor_sig(signature, c.num_tensors);
  mha_rt_split_buffers split;
  int64_t parts = mha_rt_split_keys(
      signature[MHA_SIG_SPLIT_KV] ? split_words : NULL, &c, g.tiles, &split);
  g.tiles *= parts;
  int64_t num_items;
  if (__builtin_mul_overflow(g.batch, g.heads, &num_items) ||
      __builtin_mul_overflow(num_items, g.tiles, &num_items)) {
    mha_rt_free_split_buffers(&split);
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: the work grid %" PRId64 " x %" PRId64 " x %" PRId64
                " has more items than int64 can count",
                c.name, g.batch, g.heads, g.tiles);
  }
  if (num_items == 0) {
    mha_rt_free_split_buffers(&split);
    mha_rt_clear_error();
    return MHA_OK;
  }

  // The runtime head mask; the spec's static mask is applied by the kernel.
  uint8_t stack_alive[STACK_HEADS];
  uint8_t *alive = stack_alive;
  if (g.heads > STACK_HEADS) {
    alive = (uint8_t *)malloc((size_t)g.heads);
    if (!alive) {
      mha_rt_free_split_buffers(&split);
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
  mha_rt_free_split_buffers(&split);
  if (error)
    return mha_rt_fail_no_worker(c.name, error);
  mha_rt_clear_error();
  return MHA_OK;
}
