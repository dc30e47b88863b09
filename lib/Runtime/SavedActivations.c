//===- SavedActivations.c - A layer backward's saved activations --*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The buffer of mha_options.saved_activations (SavedActivations.h): its
// size for B and L, its header and the places of the saved temporaries.
//
//===----------------------------------------------------------------------===//

#include "SavedActivations.h"

#include "mha/Runtime/KernelAbi.h"

#include <inttypes.h>
#include <string.h>

/* The buffer's first bytes (MHA_SAVED_HEADER_BYTES of room). */
typedef struct saved_header {
  uint64_t magic;
  uint64_t layer; /* A hash of the layer's temporaries. */
  int64_t batch, len;
} saved_header;

#define SAVED_MAGIC UINT64_C(0x3156415341484d) /* "MHASAV1" */

static uint64_t round_up64(uint64_t n) { return (n + 63) / 64 * 64; }

/* FNV-1a over the temporaries' words: what the buffer's layout depends on. */
static uint64_t layer_hash(const int64_t *temp_words, int64_t num_temps) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (int64_t i = 0; i < num_temps * MHA_SIG_TEMP_WORDS; ++i) {
    h ^= (uint64_t)temp_words[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

/* The buffer's bytes for B and L: 0 when the layer saves nothing, -1 when
 * they overflow. */
static int64_t saved_bytes(const int64_t *temp_words, int64_t num_temps,
                           int64_t batch, int64_t len) {
  uint64_t total = MHA_SAVED_HEADER_BYTES;
  bool any = false;
  for (int64_t i = 0; i < num_temps; ++i) {
    const int64_t *tw = temp_words + i * MHA_SIG_TEMP_WORDS;
    if (!(tw[MHA_SIG_TEMP_SHAPE] & MHA_TEMP_SAVED))
      continue;
    int64_t shape = tw[MHA_SIG_TEMP_SHAPE] & MHA_TEMP_SHAPE_MASK;
    int64_t rows = shape == MHA_TEMP_PER_BATCH ? batch : 1;
    int64_t tokens = shape == MHA_TEMP_FIXED ? 1 : len;
    int64_t bytes;
    if (__builtin_mul_overflow(rows, tokens, &bytes) ||
        __builtin_mul_overflow(bytes, tw[MHA_SIG_TEMP_COLS], &bytes) ||
        __builtin_mul_overflow(bytes, tw[MHA_SIG_TEMP_BYTES], &bytes) ||
        bytes > (INT64_C(1) << 60))
      return -1;
    total = round_up64(total) + (uint64_t)bytes;
    any = true;
  }
  if (!any)
    return 0;
  total = round_up64(total);
  return total > (UINT64_C(1) << 62) ? -1 : (int64_t)total;
}

MHA_RT_HIDDEN int64_t mha_rt_layer_saved_bytes(const int64_t *signature,
                                               int64_t batch, int64_t len) {
  if (!signature || batch < 0 || len < 0)
    return -1;
  const int64_t *layer =
      mha_rt_tensor_sig(signature, (int)signature[MHA_SIG_NUM_TENSORS]);
  int64_t num_temps = layer[MHA_SIG_LAYER_NUM_TEMPS];
  if (num_temps < 0 || num_temps > MHA_LAYER_MAX_TEMPS)
    return -1;
  return saved_bytes(layer + MHA_SIG_LAYER_WORDS, num_temps, batch, len);
}

int32_t mha_rt_plan_saved_use(mha_rt_saved_use *use,
                              const mha_rt_checked_call *c, bool forward_train,
                              const int64_t *temp_words, int64_t num_temps) {
  memset(use, 0, sizeof(*use));
  void *buffer = c->options.saved_activations;
  if (!buffer) {
    if (forward_train)
      MHA_RT_FAIL(MHA_ERR_NULL_POINTER,
                  "%s: options->saved_activations is NULL; it writes there "
                  "the activations the backward reads (a buffer of the "
                  "function's _saved_bytes(B, L) bytes)",
                  c->name);
    return MHA_OK;
  }
  int64_t need = saved_bytes(temp_words, num_temps, c->batch, c->rows);
  if (need == 0)
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->saved_activations is set, but only the "
                "_forward_train and _backward functions of a layer marked "
                "mha.backward take saved activations",
                c->name);
  if (need < 0)
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: the saved activations of B = %" PRId64 " and L = %" PRId64
                " are too large",
                c->name, c->batch, c->rows);
  if (c->options.saved_activations_bytes < (uint64_t)need)
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->saved_activations_bytes is %" PRIu64
                ", but B = %" PRId64 " and L = %" PRId64 " need %" PRId64
                " bytes (the function's _saved_bytes(B, L))",
                c->name, c->options.saved_activations_bytes, c->batch, c->rows,
                need);
  if ((uintptr_t)buffer % 64 != 0)
    MHA_RT_FAIL(MHA_ERR_LAYOUT,
                "%s: options->saved_activations is not 64-byte aligned",
                c->name);
  saved_header *h = (saved_header *)buffer;
  if (!forward_train && (h->magic != SAVED_MAGIC ||
                         h->layer != layer_hash(temp_words, num_temps) ||
                         h->batch != c->batch || h->len != c->rows))
    MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                "%s: options->saved_activations holds no activations of "
                "this layer with B = %" PRId64 " and L = %" PRId64
                " (write them with the layer's _forward_train first)",
                c->name, c->batch, c->rows);
  // Until the phases have written them, the buffer holds none.
  if (forward_train)
    h->magic = 0;
  use->writes = forward_train;
  use->reads = !forward_train;
  use->base = (unsigned char *)buffer;
  use->next = MHA_SAVED_HEADER_BYTES;
  return MHA_OK;
}

void *mha_rt_next_saved(mha_rt_saved_use *use, size_t bytes) {
  void *place = use->base + use->next;
  use->next = round_up64(use->next + bytes);
  return place;
}

void mha_rt_finish_saved(const mha_rt_saved_use *use,
                         const mha_rt_checked_call *c,
                         const int64_t *temp_words, int64_t num_temps) {
  if (!use->writes)
    return;
  saved_header *h = (saved_header *)use->base;
  h->layer = layer_hash(temp_words, num_temps);
  h->batch = c->batch;
  h->len = c->rows;
  h->magic = SAVED_MAGIC;
}
