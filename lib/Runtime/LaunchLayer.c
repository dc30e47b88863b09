//===- LaunchLayer.c - Running a layer's phases -------------------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_rt_launch_layer, the entry point of generated layer functions (see
// mha/Runtime/KernelAbi.h): the same checks as mha_rt_launch, then the
// layer's temporaries (projections, attention output, RoPE table, packed
// weights), then each phase's grid on the thread pool, one phase after the
// other. It knows nothing about the math of a layer. A layer backward's
// <name>_forward_train runs the same kernel as its <name>_backward, only
// the phases that compute y and the saved activations (KernelAbi.h).
//
//===----------------------------------------------------------------------===//

#define _DEFAULT_SOURCE /* clock_gettime */

#include "CallCheck.h"
#include "PackedWeights.h"
#include "SavedActivations.h"
#include "SplitKv.h"
#include "Status.h"
#include "TempCache.h"
#include "ThreadPool.h"

#include "mha/Runtime/KernelAbi.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TEMPS MHA_LAYER_MAX_TEMPS
#define MAX_PHASES MHA_LAYER_MAX_PHASES

typedef struct phase_grid {
  mha_layer_work_fn work;
  void **descriptors;
  const uint8_t *head_alive;
  int64_t phase, batch, heads, tiles;
} phase_grid;

static void run_item(void *ctx, int64_t item) {
  const phase_grid *g = (const phase_grid *)ctx;
  int64_t per_tile = g->batch * g->heads;
  // Last tile first, as in Launch.c: causal attention's longest items.
  int64_t t = g->tiles - 1 - item / per_tile;
  // Batch elements innermost: the items of one weight block (a "head" of
  // a projection phase) for every batch element run one after the other,
  // so its panel comes from memory once for all of them (a decoding step
  // has B rows of one token each).
  int64_t rest = item % per_tile;
  g->work(g->descriptors, g->phase, rest % g->batch, rest / g->batch, t,
          g->head_alive);
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A call's temporaries: each from the temp cache, or a leased panel. */
typedef struct temp_set {
  void *data[MAX_TEMPS];
  size_t capacities[MAX_TEMPS];
  bool leased[MAX_TEMPS];
  int n; // Allocated so far.
} temp_set;

/* How a call uses kept panels (mha_options.reuse_packed_weights): `reuse`
 * when asked and the layer has fixed temporaries; `leased` when the panels
 * of the same weights were kept (then `buffers` are the fixed temporaries,
 * in order, and the packing phases are skipped). */
typedef struct packed_use {
  bool reuse, leased;
  mha_rt_packed_key key;
  int num_fixed, next;
  size_t bytes[MHA_RT_MAX_PACKED];
  void *buffers[MHA_RT_MAX_PACKED];
} packed_use;

static void plan_packed_use(packed_use *pu, const int64_t *signature,
                            mha_layer_work_fn work,
                            const mha_rt_checked_call *c,
                            const int64_t *temp_words, int64_t num_temps) {
  memset(pu, 0, sizeof(*pu));
  for (int64_t i = 0; i < num_temps; ++i) {
    const int64_t *tw = temp_words + i * MHA_SIG_TEMP_WORDS;
    int64_t cols = tw[MHA_SIG_TEMP_COLS], elt = tw[MHA_SIG_TEMP_BYTES];
    if ((tw[MHA_SIG_TEMP_SHAPE] & MHA_TEMP_SHAPE_MASK) != MHA_TEMP_FIXED)
      continue;
    if (pu->num_fixed == MHA_RT_MAX_PACKED || cols < 1 || cols > (1LL << 40) ||
        elt < 1 || elt > 4)
      return; // Malformed: the temporaries' loop reports it.
    pu->bytes[pu->num_fixed++] = ((size_t)(cols * elt) + 63) / 64 * 64;
  }
  if (pu->num_fixed == 0)
    return;
  mha_rt_packed_key_of(&pu->key, signature, (uintptr_t)work, c);
  if (!c->options.reuse_packed_weights) {
    // The caller may have written these weights in place since their
    // panels were kept (docs/language.md 7.4): no later call may use them.
    mha_rt_packed_forget(&pu->key);
    return;
  }
  pu->reuse = true;
  pu->leased =
      mha_rt_packed_acquire(&pu->key, pu->num_fixed, pu->bytes, pu->buffers);
}

/* After a call that packed its weights under reuse_packed_weights: keeps
 * its fixed temporaries as the panels of these weights. */
static void keep_packed(temp_set *ts, packed_use *pu,
                        const int64_t *temp_words) {
  if (!pu->reuse || pu->leased)
    return;
  int fixed[MHA_RT_MAX_PACKED], n = 0;
  void *buffers[MHA_RT_MAX_PACKED];
  size_t bytes[MHA_RT_MAX_PACKED];
  for (int i = 0; i < ts->n && n < MHA_RT_MAX_PACKED; ++i)
    if ((temp_words[i * MHA_SIG_TEMP_WORDS + MHA_SIG_TEMP_SHAPE] &
         MHA_TEMP_SHAPE_MASK) == MHA_TEMP_FIXED) {
      fixed[n] = i;
      buffers[n] = ts->data[i];
      bytes[n++] = ts->capacities[i];
    }
  if (n != pu->num_fixed || !mha_rt_packed_store(&pu->key, n, buffers, bytes))
    return;
  for (int j = 0; j < n; ++j)
    ts->data[fixed[j]] = NULL; // The kept panels own them now.
}

/* Whether the layer input and output of call `c` (and a backward's dx and
 * dy) can be viewed as [1, B L, d]: their rows are evenly spaced across
 * batch elements. */
static bool has_flat_rows(const int64_t *signature,
                          const mha_rt_checked_call *c) {
  for (int i = 0; i < c->num_tensors; ++i) {
    int64_t role = mha_rt_tensor_sig(signature, i)[MHA_SIG_T_ROLE];
    if (role != MHA_ROLE_LAYER_INPUT && role != MHA_ROLE_LAYER_OUTPUT &&
        role != MHA_ROLE_GRAD_LAYER_INPUT && role != MHA_ROLE_GRAD_LAYER_OUTPUT)
      continue;
    const mha_rt_memref *m = &c->memrefs[i]; // [B, L, d]: sizes, strides
    if (m->dims[1] != 1 && m->dims[3] != m->dims[1] * m->dims[4])
      return false;
  }
  return true;
}

/* Ends a call: ends the lease and returns the other temporaries. */
static void finish_temps(temp_set *ts, packed_use *pu) {
  for (int i = 0; i < ts->n; ++i)
    if (ts->leased[i])
      ts->data[i] = NULL;
  if (pu->leased)
    mha_rt_packed_release(&pu->key);
  pu->leased = false;
  mha_rt_return_temps(ts->data, ts->capacities, ts->n);
}

// Zeros every element of tensor i of a checked call, through its strides
// (rank 1 or 2: a weight's or a bias's gradient).
static void zero_tensor(const mha_rt_checked_call *c, int i, int rank) {
  const mha_rt_memref *m = &c->memrefs[i];
  int64_t rows = rank == 2 ? m->dims[0] : 1, cols = m->dims[rank - 1];
  int64_t row_stride = rank == 2 ? m->dims[2] : 0,
          col_stride = m->dims[2 * rank - 1];
  int64_t elem = c->elem_size[i];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      memset((char *)m->aligned +
                 (m->offset + r * row_stride + j * col_stride) * elem,
             0, (size_t)elem);
}

// A layer backward's outputs that are not empty when the call has no
// rows (its weights' and biases' gradients): zeros.
static void zero_gradients(const int64_t *signature,
                           const mha_rt_checked_call *c) {
  for (int i = c->num_inputs; i < c->num_tensors; ++i) {
    const int64_t *t = mha_rt_tensor_sig(signature, i);
    int64_t role = t[MHA_SIG_T_ROLE], rank = t[MHA_SIG_T_RANK];
    if (role >= MHA_ROLE_GRAD_QUERY_WEIGHT &&
        role <= MHA_ROLE_GRAD_OUT_WEIGHT_UP && !c->empty[i] &&
        (rank == 1 || rank == 2))
      zero_tensor(c, i, (int)rank);
  }
}

MHA_RT_HIDDEN int32_t mha_rt_launch_layer(const int64_t *signature,
                                          const char *name,
                                          const char *const *arg_names,
                                          const DLTensor *const *tensors,
                                          const mha_options *options,
                                          mha_layer_work_fn work) {
  mha_rt_checked_call c;
  int32_t status = mha_rt_check_cpu_call(signature, name, arg_names, tensors,
                                         options, work != NULL, &c);
  if (status != MHA_OK ||
      (status = mha_rt_refuse_positions(&c, "layer functions")) != MHA_OK ||
      (status = mha_rt_check_scales(signature, arg_names, &c)) != MHA_OK ||
      // A decoding step's lengths and pages, before anything is written.
      (status = mha_rt_check_serving(signature, arg_names, &c)) != MHA_OK)
    return status;
  const int64_t *layer = mha_rt_tensor_sig(signature, c.num_tensors);
  int64_t num_temps = layer[MHA_SIG_LAYER_NUM_TEMPS];
  int64_t num_phases = layer[MHA_SIG_LAYER_NUM_PHASES];
  // A forward_train call's tensors are the first of the kernel's.
  int64_t kernel_tensors = layer[MHA_SIG_LAYER_KERNEL_TENSORS];
  bool forward_train = kernel_tensors > 0;
  if (!forward_train)
    kernel_tensors = c.num_tensors;
  if (num_temps < 0 || num_temps > MAX_TEMPS || num_phases < 1 ||
      num_phases > MAX_PHASES || kernel_tensors < c.num_tensors ||
      kernel_tensors > MHA_RT_MAX_TENSORS)
    MHA_RT_FAIL(MHA_ERR_INTERNAL,
                "%s: the signature's layer section (%" PRId64
                " temporaries, %" PRId64 " phases, %" PRId64
                " kernel tensors) is malformed",
                c.name, num_temps, num_phases, kernel_tensors);
  const int64_t *temp_words = layer + MHA_SIG_LAYER_WORDS;
  const int64_t *phase_words = temp_words + num_temps * MHA_SIG_TEMP_WORDS;
  int64_t batch = c.batch, len = c.rows;
  mha_rt_saved_use saved;
  status =
      mha_rt_plan_saved_use(&saved, &c, forward_train, temp_words, num_temps);
  if (status != MHA_OK)
    return status;
  if (batch == 0 || len == 0) {
    // No rows: nothing to compute. A backward's weight and bias gradients
    // are sums over no rows, zeros; the saved activations get their header
    // (a backward of B = 0 or L = 0 checks it too).
    zero_gradients(signature, &c);
    mha_rt_finish_saved(&saved, &c, temp_words, num_temps);
    mha_rt_clear_error();
    return MHA_OK;
  }

  // Panels kept by an earlier call with the same weights, if asked.
  packed_use pu;
  plan_packed_use(&pu, signature, work, &c, temp_words, num_temps);

  // The temporaries, contiguous [B or 1, L or 1, cols] of 1, 2 or 4-byte
  // elements (the fixed ones: the leased panels when there are).
  temp_set ts = {{NULL}, {0}, {false}, 0};
  mha_rt_memref temp_memrefs[MAX_TEMPS];
  for (int64_t i = 0; i < num_temps; ++i) {
    const int64_t *tw = temp_words + i * MHA_SIG_TEMP_WORDS;
    int64_t shape = tw[MHA_SIG_TEMP_SHAPE] & MHA_TEMP_SHAPE_MASK;
    bool in_saved = saved.base && (tw[MHA_SIG_TEMP_SHAPE] & MHA_TEMP_SAVED);
    int64_t rows = shape == MHA_TEMP_PER_BATCH ? batch : 1;
    int64_t tokens = shape == MHA_TEMP_FIXED ? 1 : len;
    int64_t cols = tw[MHA_SIG_TEMP_COLS], elt = tw[MHA_SIG_TEMP_BYTES];
    int64_t elems, bytes;
    if (shape < MHA_TEMP_PER_TOKEN || shape > MHA_TEMP_FIXED ||
        (elt != 1 && elt != 2 && elt != 4)) {
      finish_temps(&ts, &pu);
      MHA_RT_FAIL(MHA_ERR_INTERNAL,
                  "%s: temporary %" PRId64 " has an unknown shape %" PRId64
                  " or element size %" PRId64,
                  c.name, i, shape, elt);
    }
    if (cols < 1 || __builtin_mul_overflow(rows, tokens, &elems) ||
        __builtin_mul_overflow(elems, cols, &elems) ||
        __builtin_mul_overflow(elems, elt, &bytes)) {
      finish_temps(&ts, &pu);
      MHA_RT_FAIL(MHA_ERR_SHAPE,
                  "%s: temporary %" PRId64 " (%" PRId64 " x %" PRId64
                  " x %" PRId64 " elements) is too large",
                  c.name, i, rows, tokens, cols);
    }
    ts.n = (int)i + 1;
    if (shape == MHA_TEMP_FIXED && pu.leased) {
      ts.data[i] = pu.buffers[pu.next++];
      ts.leased[i] = true;
    } else if (in_saved) {
      ts.data[i] = mha_rt_next_saved(&saved, (size_t)bytes);
      ts.leased[i] = true; // The caller's.
    } else {
      // 64-byte aligned rows start on cache lines when cols allows it.
      size_t rounded = ((size_t)bytes + 63) / 64 * 64;
      ts.data[i] = mha_rt_take_temp(rounded, &ts.capacities[i]);
    }
    if (!ts.data[i]) {
      finish_temps(&ts, &pu);
      MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
                  "%s: could not allocate the %" PRId64
                  "-byte temporary %" PRId64,
                  c.name, bytes, i);
    }
    mha_rt_memref *m = &temp_memrefs[i];
    memset(m, 0, sizeof(*m));
    m->allocated = m->aligned = ts.data[i];
    m->offset = 0;
    int64_t sizes[3] = {rows, tokens, cols};
    int64_t strides[3] = {tokens * cols, cols, 1};
    for (int d = 0; d < 3; ++d) {
      m->dims[d] = sizes[d];
      m->dims[3 + d] = strides[d];
    }
  }

  // Head masks: the runtime mask for the attention, all alive elsewhere.
  int64_t max_heads = c.heads;
  for (int64_t p = 0; p < num_phases; ++p) {
    int64_t h = phase_words[p * MHA_SIG_PHASE_WORDS + MHA_SIG_PHASE_HEADS];
    if (h > max_heads)
      max_heads = h;
  }
  uint8_t *alive = (uint8_t *)malloc((size_t)(2 * max_heads + 1));
  if (!alive) {
    finish_temps(&ts, &pu);
    MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY, "%s: could not allocate the head masks",
                c.name);
  }
  uint8_t *all_alive = alive + max_heads;
  const uint8_t *mask = c.options.head_mask;
  for (int64_t h = 0; h < max_heads; ++h) {
    alive[h] = (mask && h < c.heads) ? (mask[h] != 0) : 1;
    all_alive[h] = 1;
  }

  // A decoding step's attention may split its keys (KernelAbi.h): the
  // split words follow the phases, the partial buffers the call words
  // (empty until the attention phase allocates them).
  const int64_t *split_words =
      signature[MHA_SIG_SPLIT_KV]
          ? phase_words + num_phases * MHA_SIG_PHASE_WORDS
          : NULL;
  mha_rt_split_buffers split;
  memset(&split, 0, sizeof(split));
  // A forward_train call has y in dy's place, then the gradients, which
  // none of its phases touches: empty descriptors.
  mha_rt_memref no_tensor;
  memset(&no_tensor, 0, sizeof(no_tensor));
  void *descriptors[MHA_RT_MAX_TENSORS + MAX_TEMPS + 4];
  for (int i = 0; i < kernel_tensors; ++i)
    descriptors[i] = i < c.num_tensors ? (void *)&c.memrefs[i] : &no_tensor;
  void **after = descriptors + kernel_tensors;
  for (int64_t i = 0; i < num_temps; ++i)
    after[i] = &temp_memrefs[i];
  after[num_temps] = &c.dropout_memref;
  after[num_temps + 1] = &split.outputs_memref;
  after[num_temps + 2] = &split.lse_memref;
  after[num_temps + 3] = &split.arrivals_memref;
  int num_threads = c.options.num_threads;
  bool flat_rows = has_flat_rows(signature, &c);
  c.dropout_words[MHA_LAYER_FLAT_ROWS] = flat_rows;
  // MHA_PROFILE=1: the wall time of every phase on stderr, to see where a
  // layer spends its time.
  const char *profile_env = getenv("MHA_PROFILE");
  int profile = profile_env && profile_env[0] == '1';

  for (int64_t p = 0; p < num_phases; ++p) {
    const int64_t *pw = phase_words + p * MHA_SIG_PHASE_WORDS;
    int64_t heads = pw[MHA_SIG_PHASE_HEADS], rows = pw[MHA_SIG_PHASE_ROWS];
    int64_t kind = pw[MHA_SIG_PHASE_KIND] & MHA_PHASE_KIND_MASK;
    int64_t flags = pw[MHA_SIG_PHASE_KIND] & ~(int64_t)MHA_PHASE_KIND_MASK;
    if (heads < 0 || rows < 1) {
      free(alive);
      finish_temps(&ts, &pu);
      MHA_RT_FAIL(MHA_ERR_INTERNAL,
                  "%s: phase %" PRId64 " of the signature is malformed", c.name,
                  p);
    }
    if (kind == MHA_PHASE_PACKING && pu.leased)
      continue; // The leased panels hold what it would write.
    bool forward_phase =
        flags & (MHA_PHASE_RECOMPUTATION | MHA_PHASE_FORWARD_OUTPUT);
    if (forward_train ? !forward_phase
                      : (flags & MHA_PHASE_FORWARD_OUTPUT) ||
                            (saved.reads && (flags & MHA_PHASE_RECOMPUTATION)))
      continue;
    // Flat rows: one sequence of B x L rows (both below 2^31, checked).
    bool flat = kind == MHA_PHASE_FLAT && flat_rows;
    int64_t grid_batch = flat ? 1 : batch, grid_len = flat ? batch * len : len;
    if (kind == MHA_PHASE_MASKED || kind == MHA_PHASE_SEQUENCES) {
      // The attention (and a packed step's append): a row per sequence.
      grid_batch = c.sequence_batch;
      grid_len = c.sequence_rows;
    }
    phase_grid g = {work,
                    descriptors,
                    kind == MHA_PHASE_MASKED ? alive : all_alive,
                    p,
                    grid_batch,
                    heads,
                    grid_len / rows + (grid_len % rows != 0)};
    // The attention of a step that splits: S items per query tile.
    int64_t parts = mha_rt_split_keys(
        kind == MHA_PHASE_MASKED ? split_words : NULL, &c, g.tiles, &split);
    g.tiles *= parts;
    int64_t items = 0;
    if (__builtin_mul_overflow(grid_batch, heads, &items) ||
        __builtin_mul_overflow(items, g.tiles, &items)) {
      mha_rt_free_split_buffers(&split);
      free(alive);
      finish_temps(&ts, &pu);
      MHA_RT_FAIL(MHA_ERR_SHAPE,
                  "%s: phase %" PRId64 " has too many work items", c.name, p);
    }
    double start = profile ? seconds() : 0.0;
    // Fails, running no item, only when this thread's stack is too small
    // for an item and no worker can be created: then already in phase 0
    // (every phase asks from this frame, and workers never go away), so y,
    // which the last phase writes, is untouched.
    int error = mha_rt_parallel_for(items, num_threads, run_item, &g);
    mha_rt_free_split_buffers(&split);
    memset(&split, 0, sizeof(split));
    if (error) {
      free(alive);
      finish_temps(&ts, &pu);
      return mha_rt_fail_no_worker(c.name, error);
    }
    if (profile)
      fprintf(stderr,
              "mha profile: %s phase %" PRId64 " (%" PRId64
              " work items): %.3f ms\n",
              c.name, p, items, 1e3 * (seconds() - start));
  }
  free(alive);
  mha_rt_finish_saved(&saved, &c, temp_words, num_temps);
  // A backward that read saved activations packed no panel of the
  // recomputation: its set is not one to keep.
  if (!saved.reads)
    keep_packed(&ts, &pu, temp_words);
  finish_temps(&ts, &pu);
  mha_rt_clear_error();
  return MHA_OK;
}
