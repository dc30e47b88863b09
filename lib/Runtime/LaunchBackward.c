//===- LaunchBackward.c - Running a backward function's grids -----*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_rt_launch_backward, the entry point of generated `<name>_backward`
// functions (see mha/Runtime/KernelAbi.h): the same checks as mha_rt_launch,
// then, when the kernel asks for per-row statistics (the entropy gradient),
// one parallel loop of row items that write them, then one parallel loop
// over two independent grids, the key items (dk and dv of one key tile of
// one KV head) and the query items (dq of one query tile of one head). Every
// gradient element is written by exactly one item, which sums in a fixed order:
// the results are the same bytes for every thread count, without atomics. It
// knows nothing about the math.
//
//===----------------------------------------------------------------------===//

#include "CallCheck.h"
#include "Status.h"
#include "TempCache.h"
#include "ThreadPool.h"

#include "mha/Runtime/KernelAbi.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct backward_grid {
  mha_layer_work_fn work;
  void **descriptors;
  const uint8_t *head_alive;
  int64_t batch;
  int64_t kv_heads, key_tiles, key_items;
  int64_t heads, query_tiles;
  int64_t phase_offset; // 2 for the row items, else 0
} backward_grid;

static void run_item(void *ctx, int64_t item) {
  const backward_grid *g = (const backward_grid *)ctx;
  if (item < g->key_items) {
    int64_t per_tile = g->batch * g->kv_heads;
    int64_t t = item / per_tile, rest = item % per_tile;
    g->work(g->descriptors, 0, rest / g->kv_heads, rest % g->kv_heads, t,
            g->head_alive);
    return;
  }
  item -= g->key_items;
  int64_t per_tile = g->batch * g->heads;
  // Last tile first, as in Launch.c: under a causal mask they cost most.
  int64_t t = g->query_tiles - 1 - item / per_tile, rest = item % per_tile;
  g->work(g->descriptors, 1 + g->phase_offset, rest / g->heads, rest % g->heads,
          t, g->head_alive);
}

/// The largest dq temporary a signature may ask for: the widest head.
#define MHA_RT_MAX_DQ_COLUMNS 1024

/// A contiguous f32 temporary shaped after q's rows: [B, Hq, Lq] (rank 3,
/// one column) or [B, Hq, Lq, columns] (rank 4), described in `m`, from
/// the runtime's temporary cache (its size in `*capacity`; its contents
/// are stale: the kernels write every element before reading it); NULL
/// when allocation fails (the caller checked the size against overflow).
static float *take_row_temporary(const mha_rt_checked_call *c, int64_t heads,
                                 int rank, int64_t columns, mha_rt_memref *m,
                                 size_t *capacity) {
  // Shaped as q's rows (tensor 0), packed or not.
  int64_t batch = c->memrefs[0].dims[0], rows = c->memrefs[0].dims[2];
  size_t bytes = (size_t)(batch * heads * rows * columns) * sizeof(float);
  float *data = (float *)mha_rt_take_temp((bytes + 64) / 64 * 64, capacity);
  memset(m, 0, sizeof(*m));
  m->allocated = m->aligned = data;
  int64_t sizes[4] = {batch, heads, rows, columns};
  int64_t row = rank == 4 ? columns : 1;
  int64_t strides[4] = {heads * rows * row, rows * row, row, 1};
  memcpy(m->dims, sizes, (size_t)rank * sizeof(int64_t));
  memcpy(m->dims + rank, strides, (size_t)rank * sizeof(int64_t));
  return data;
}

static int mul_overflows(int64_t a, int64_t b, int64_t c, int64_t *out) {
  return __builtin_mul_overflow(a, b, out) ||
         __builtin_mul_overflow(*out, c, out);
}

MHA_RT_HIDDEN int32_t mha_rt_launch_backward(const int64_t *signature,
                                             const char *name,
                                             const char *const *arg_names,
                                             const DLTensor *const *tensors,
                                             const mha_options *options,
                                             mha_layer_work_fn work) {
  mha_rt_checked_call c;
  int32_t status = mha_rt_check_cpu_call(signature, name, arg_names, tensors,
                                         options, work != NULL, &c);
  if (status == MHA_OK)
    status = mha_rt_check_serving(signature, arg_names, &c);
  if (status != MHA_OK)
    return status;
  const int64_t *words = mha_rt_tensor_sig(signature, c.num_tensors);
  int64_t kv_heads = words[MHA_SIG_BACKWARD_KV_HEADS];
  int64_t keys = words[MHA_SIG_BACKWARD_KEYS_PER_ITEM];
  int64_t key_tensor = words[MHA_SIG_BACKWARD_KEY_TENSOR];
  int64_t row_stats = words[MHA_SIG_BACKWARD_ROW_STATS];
  int64_t dq_columns = words[MHA_SIG_BACKWARD_DQ_COLUMNS];
  int64_t rows = signature[MHA_SIG_ROWS_PER_ITEM];
  if (kv_heads < 1 || keys < 1 || rows < 1 || key_tensor < 0 ||
      key_tensor >= c.num_tensors || (row_stats != 0 && row_stats != 1) ||
      dq_columns < 0 || dq_columns > MHA_RT_MAX_DQ_COLUMNS)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the signature's backward section is malformed", c.name);
  // With lengths or offsets (Serving.c) the grid's batch is the
  // sequences (and one more item row with packed queries) and its rows and
  // keys the longest sequence's.
  int64_t lk =
      c.sequence_keys >= 0 ? c.sequence_keys : c.memrefs[key_tensor].dims[2];
  int64_t lq = c.rows;
  backward_grid g;
  memset(&g, 0, sizeof(g));
  g.work = work;
  g.batch = c.batch;
  g.kv_heads = kv_heads;
  g.key_tiles = lk / keys + (lk % keys != 0);
  g.heads = c.heads;
  g.query_tiles = lq / rows + (lq % rows != 0);
  int64_t query_items, num_items, temp_floats;
  if (mul_overflows(g.batch, g.kv_heads, g.key_tiles, &g.key_items) ||
      mul_overflows(g.batch, g.heads, g.query_tiles, &query_items) ||
      __builtin_add_overflow(g.key_items, query_items, &num_items) ||
      mul_overflows(c.memrefs[0].dims[0], g.heads, c.memrefs[0].dims[2],
                    &temp_floats) ||
      __builtin_mul_overflow(temp_floats, dq_columns ? dq_columns : 1,
                             &temp_floats) ||
      temp_floats > (int64_t)(SIZE_MAX / sizeof(float)))
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: the backward's work grids have more items than int64 "
                "can count",
                c.name);
  if (num_items == 0) {
    mha_rt_clear_error();
    return MHA_OK;
  }

  // The runtime head mask as a rank-1 i8 memref [Hq].
  uint8_t *alive = (uint8_t *)malloc((size_t)g.heads + 1);
  if (!alive)
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                "%s: could not allocate the %" PRId64 "-byte head mask", c.name,
                g.heads);
  const uint8_t *mask = c.options.head_mask;
  for (int64_t h = 0; h < g.heads; ++h)
    alive[h] = mask ? (mask[h] != 0) : 1;
  mha_rt_memref alive_memref;
  memset(&alive_memref, 0, sizeof(alive_memref));
  alive_memref.allocated = alive_memref.aligned = alive;
  alive_memref.offset = 0;
  alive_memref.dims[0] = g.heads; // size
  alive_memref.dims[1] = 1;       // stride

  // The per-row statistics [B, Hq, Lq] and the dq sums [B, Hq, Lq, D],
  // contiguous.
  mha_rt_memref stats_memref, dq_memref;
  void *temps[2] = {NULL, NULL};
  size_t capacities[2] = {0, 0};
  if ((row_stats && !(temps[0] = take_row_temporary(
                          &c, g.heads, 3, 1, &stats_memref, &capacities[0]))) ||
      (dq_columns &&
       !(temps[1] = take_row_temporary(&c, g.heads, 4, dq_columns, &dq_memref,
                                       &capacities[1])))) {
    mha_rt_return_temps(temps, capacities, 2);
    free(alive);
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                "%s: could not allocate the backward's %" PRId64
                "-column row temporary",
                c.name, (row_stats && !temps[0]) ? (int64_t)1 : dq_columns);
  }
  if (!row_stats)
    memset(&stats_memref, 0, sizeof(stats_memref));
  if (!dq_columns)
    memset(&dq_memref, 0, sizeof(dq_memref));

  void *descriptors[MHA_RT_MAX_TENSORS + 4];
  for (int i = 0; i < c.num_tensors; ++i)
    descriptors[i] = &c.memrefs[i];
  descriptors[c.num_tensors] = &alive_memref;
  descriptors[c.num_tensors + 1] = &stats_memref;
  descriptors[c.num_tensors + 2] = &dq_memref;
  descriptors[c.num_tensors + 3] = &c.dropout_memref;
  g.descriptors = descriptors;
  g.head_alive = alive;

  int num_threads = c.options.num_threads;
  int error = 0;
  if (row_stats) {
    // The row items: the query grid with phase 2, before anything reads
    // the statistics.
    backward_grid rows_grid = g;
    rows_grid.key_items = 0;
    rows_grid.phase_offset = 1;
    error = mha_rt_parallel_for(query_items, num_threads, run_item, &rows_grid);
  }
  if (!error)
    error = mha_rt_parallel_for(num_items, num_threads, run_item, &g);
  mha_rt_return_temps(temps, capacities, 2);
  free(alive);
  if (error)
    return mha_rt_fail_no_worker(c.name, error);
  mha_rt_clear_error();
  return MHA_OK;
}
