//===- Serving.c - Checking lengths, offsets and block tables -----*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The serving tensors of an attention function (docs/language.md 4.6) hold
// indices: key and query lengths, offsets of packed sequences, page numbers.
// A kernel trusts them, so every one a call will use is checked here, on
// the CPU, after the tensors' own checks and before any output is touched:
// a bad one is a status naming the tensor, the element and the bound, and
// nothing is written. The grid follows from them: one item row per
// sequence, as many query tiles as the longest sequence needs. The scales
// of a quantized cache (4.8) are checked here too, with or without serving
// tensors.
//
//===----------------------------------------------------------------------===//

#include "CallCheck.h"
#include "Status.h"

#include "mha/Runtime/KernelAbi.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// The tensors of a call by role, -1 when absent.
typedef struct serving_tensors {
  int q, k, kv_lens, q_lens, block_table, cu_q, cu_k;
  // What a call appends, -1 if nothing: an append function's new keys
  // (rows in dim 2) or a layer's decoding step's input x (rows in dim 1);
  // k is then the key cache.
  int appending, appended_dim;
  // The dimension of q's rows: 2, or 1 for a layer's input x [B, L, d].
  int q_rows_dim;
} serving_tensors;

// Where element [i] (or [i, j]) of a rank-1 (rank-2) tensor is, in
// elements from its aligned pointer.
static int64_t element_offset(const mha_rt_memref *m, int rank, int64_t i,
                              int64_t j) {
  int64_t at = m->offset + i * m->dims[rank];
  if (rank == 2)
    at += j * m->dims[rank + 1];
  return at;
}

// Element [i] (or [i, j]) of an i32 tensor, through its descriptor.
static int64_t element(const mha_rt_memref *m, int rank, int64_t i, int64_t j) {
  return ((const int32_t *)m->aligned)[element_offset(m, rank, i, j)];
}

typedef struct checker {
  const int64_t *sig;
  const char *const *arg_names;
  const mha_rt_checked_call *c;
} checker;

static const char *label(const checker *ch, char buf[96], int i) {
  return mha_rt_tensor_label(buf, ch->sig, ch->arg_names, i);
}
// "'kv_lens'": the name an element is shown under ("'kv_lens'[3]").
static const char *name_of(const checker *ch, char buf[96], int i) {
  if (ch->arg_names && ch->arg_names[i])
    snprintf(buf, 96, "'%s'", ch->arg_names[i]);
  else
    snprintf(buf, 96, "tensor %d", i);
  return buf;
}
static int64_t size(const checker *ch, int i, int d) {
  return ch->c->memrefs[i].dims[d];
}

// A tensor of offsets of packed rows: S + 1 of them, from 0, never
// decreasing, the last within `total` (dim `rows_dim` of tensor `packed`).
static int32_t check_offsets(const checker *ch, int cu, int64_t sequences,
                             int packed, int rows_dim) {
  char a[96], b[96], dim[32];
  const char *name = ch->c->name;
  if (size(ch, cu, 0) != sequences + 1)
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: %s has %" PRId64 " entries but must have S + 1 = %" PRId64
                " (one offset per sequence and the end)",
                name, label(ch, a, cu), size(ch, cu, 0), sequences + 1);
  const mha_rt_memref *m = &ch->c->memrefs[cu];
  int64_t total = size(ch, packed, rows_dim);
  int64_t previous = 0;
  for (int64_t s = 0; s <= sequences; ++s) {
    int64_t offset = element(m, 1, s, 0);
    if (s == 0 && offset != 0)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: %s[0] is %" PRId64 " but must be 0", name,
                  name_of(ch, a, cu), offset);
    if (offset < previous)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: %s[%" PRId64 "] is %" PRId64 ", less than [%" PRId64
                  "] = %" PRId64 "; offsets must not decrease",
                  name, name_of(ch, a, cu), s, offset, s - 1, previous);
    if (offset > total)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: %s[%" PRId64 "] is %" PRId64 " but %s %s is %" PRId64,
                  name, name_of(ch, a, cu), s, offset, label(ch, b, packed),
                  mha_rt_dim_label(dim, ch->sig, packed, rows_dim), total);
    previous = offset;
  }
  return MHA_OK;
}

// The most rows a sequence of checked offsets `cu` has, or the rows past
// its last one (of `total`).
static int64_t longest_packed(const mha_rt_memref *cu, int64_t sequences,
                              int64_t total) {
  int64_t longest = total - element(cu, 1, sequences, 0);
  for (int64_t s = 0; s < sequences; ++s) {
    int64_t len = element(cu, 1, s + 1, 0) - element(cu, 1, s, 0);
    longest = len > longest ? len : longest;
  }
  return longest;
}

// The keys a call appends to sequence s: its packed rows, its q_lens, or
// all the new rows (0 when it appends nothing).
static int64_t appended_keys(const checker *ch, const serving_tensors *t,
                             int64_t s) {
  if (t->appending < 0)
    return 0;
  const mha_rt_memref *m = ch->c->memrefs;
  if (t->cu_q >= 0)
    return element(&m[t->cu_q], 1, s + 1, 0) - element(&m[t->cu_q], 1, s, 0);
  if (t->q_lens >= 0)
    return element(&m[t->q_lens], 1, s, 0);
  return size(ch, t->appending, t->appended_dim);
}

// A tensor of lengths: each in [0, limit], where `what` says what bounds
// them.
static int32_t check_lengths(const checker *ch, int lens, int64_t sequences,
                             int64_t limit, const char *what) {
  char a[96];
  if (size(ch, lens, 0) != sequences)
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: %s has %" PRId64 " entries but there are %" PRId64
                " sequences",
                ch->c->name, label(ch, a, lens), size(ch, lens, 0), sequences);
  for (int64_t s = 0; s < sequences; ++s) {
    int64_t n = element(&ch->c->memrefs[lens], 1, s, 0);
    if (n < 0 || n > limit)
      MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                  "%s: %s[%" PRId64 "] is %" PRId64
                  " but must be in [0, %" PRId64 "] (%s)",
                  ch->c->name, name_of(ch, a, lens), s, n, limit, what);
  }
  return MHA_OK;
}

// The pages sequence s uses (those holding keys 0 .. kv_lens[s] - 1) exist.
static int32_t check_block_table(const checker *ch, const serving_tensors *t,
                                 int64_t sequences) {
  char a[96], b[96];
  int table = t->block_table;
  if (size(ch, table, 0) != sequences)
    MHA_RT_FAIL(
        MHA_ERR_SHAPE,
        "%s: %s dim 0 is %" PRId64 " but there are %" PRId64 " sequences",
        ch->c->name, label(ch, a, table), size(ch, table, 0), sequences);
  int64_t pages = size(ch, t->k, 0), page_size = size(ch, t->k, 2);
  for (int64_t s = 0; s < sequences; ++s) {
    int64_t keys =
        element(&ch->c->memrefs[t->kv_lens], 1, s, 0) + appended_keys(ch, t, s);
    int64_t used = page_size ? (keys + page_size - 1) / page_size : 0;
    for (int64_t p = 0; p < used; ++p) {
      int64_t page = element(&ch->c->memrefs[table], 2, s, p);
      if (page < 0 || page >= pages)
        MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                    "%s: %s[%" PRId64 ", %" PRId64 "] is %" PRId64
                    " but %s has %" PRId64 " pages (dim 0)",
                    ch->c->name, name_of(ch, a, table), s, p, page,
                    label(ch, b, t->k), pages);
    }
  }
  return MHA_OK;
}

// The scales of a quantized cache (f32 [Hkv] or [pages, Hkv]) or of an int8
// weight (f32 [N]): each finite and > 0, else a key, value or weight would
// decode as 0, infinity or NaN. `what` names the quantized tensor.
static int32_t check_scales(const checker *ch, int scales, const char *what) {
  char a[96];
  if (scales < 0)
    return MHA_OK;
  const mha_rt_memref *m = &ch->c->memrefs[scales];
  int rank = (int)mha_rt_tensor_sig(ch->sig, scales)[MHA_SIG_T_RANK];
  int64_t rows = rank == 2 ? size(ch, scales, 0) : 1;
  int64_t cols = size(ch, scales, rank - 1);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      int64_t at =
          rank == 2 ? element_offset(m, 2, i, j) : element_offset(m, 1, j, 0);
      float s = ((const float *)m->aligned)[at];
      if (!(s > 0.0f) || s == INFINITY) {
        char index[48];
        if (rank == 2)
          snprintf(index, sizeof(index), "[%" PRId64 ", %" PRId64 "]", i, j);
        else
          snprintf(index, sizeof(index), "[%" PRId64 "]", j);
        MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                    "%s: %s%s is %g but the scales of %s must be finite and "
                    "> 0",
                    ch->c->name, name_of(ch, a, scales), index, (double)s,
                    what);
      }
    }
  return MHA_OK;
}

int32_t mha_rt_check_scales(const int64_t *signature,
                            const char *const *arg_names,
                            const mha_rt_checked_call *c) {
  static const struct {
    int64_t role;
    const char *what;
  } kinds[] = {{MHA_ROLE_KEY_SCALE, "a quantized cache"},
               {MHA_ROLE_VALUE_SCALE, "a quantized cache"},
               {MHA_ROLE_QUERY_WEIGHT_SCALE, "a quantized weight"},
               {MHA_ROLE_KEY_WEIGHT_SCALE, "a quantized weight"},
               {MHA_ROLE_VALUE_WEIGHT_SCALE, "a quantized weight"},
               {MHA_ROLE_OUT_WEIGHT_SCALE, "a quantized weight"}};
  checker ch = {signature, arg_names, c};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); ++i) {
    int32_t status = check_scales(
        &ch, mha_rt_find_role(signature, c->num_tensors, kinds[i].role),
        kinds[i].what);
    if (status != MHA_OK)
      return status;
  }
  return MHA_OK;
}

int32_t mha_rt_check_serving(const int64_t *signature,
                             const char *const *arg_names,
                             mha_rt_checked_call *c) {
  int n = c->num_tensors;
  serving_tensors t = {mha_rt_find_role(signature, n, MHA_ROLE_QUERY),
                       mha_rt_find_role(signature, n, MHA_ROLE_KEY),
                       mha_rt_find_role(signature, n, MHA_ROLE_KV_LENS),
                       mha_rt_find_role(signature, n, MHA_ROLE_Q_LENS),
                       mha_rt_find_role(signature, n, MHA_ROLE_BLOCK_TABLE),
                       mha_rt_find_role(signature, n, MHA_ROLE_CU_SEQLENS_Q),
                       mha_rt_find_role(signature, n, MHA_ROLE_CU_SEQLENS_K),
                       mha_rt_find_role(signature, n, MHA_ROLE_KEY_NEW),
                       2,
                       2};
  int layer = mha_rt_find_role(signature, n, MHA_ROLE_LAYER_INPUT);
  bool keys_are_rows = false;
  if (layer >= 0 && mha_rt_find_role(signature, n, MHA_ROLE_KEY_CACHE) >= 0) {
    // A layer's decoding step appends its input's rows.
    t.q = t.appending = layer;
    t.q_rows_dim = t.appended_dim = 1;
  } else if (layer >= 0) {
    // A layer over packed sequences: its keys are its input's rows too.
    t.q = t.k = layer;
    t.q_rows_dim = 1;
    keys_are_rows = true;
  }
  if (t.kv_lens < 0 && t.q_lens < 0 && t.block_table < 0 && t.cu_q < 0 &&
      t.cu_k < 0)
    return MHA_OK;
  checker ch = {signature, arg_names, c};
  char a[96], dim[32];
  if (t.appending >= 0)
    t.k = mha_rt_find_role(signature, n, MHA_ROLE_KEY_CACHE);
  if (t.appending >= 0 && layer < 0) {
    t.q = t.appending; // Sequences are the new keys' batch.
    int32_t refused = mha_rt_refuse_append_options(c);
    if (refused != MHA_OK)
      return refused;
  }
  if (t.q < 0 || t.k < 0)
    MHA_RT_FAIL(MHA_ERR_INTERNAL, "%s: serving tensors without q and k",
                c->name);
  int64_t sequences = size(&ch, t.q, 0);
  if (t.cu_q >= 0) {
    if (size(&ch, t.cu_q, 0) < 1)
      MHA_RT_FAIL(MHA_ERR_SHAPE,
                  "%s: %s has no entries but needs S + 1 >= 1 offsets", c->name,
                  label(&ch, a, t.cu_q));
    sequences = size(&ch, t.cu_q, 0) - 1;
  }
  // Dense keys have one batch element per sequence.
  bool dense_keys = t.block_table < 0 && t.cu_k < 0 && !keys_are_rows;
  if (dense_keys && size(&ch, t.k, 0) != sequences)
    MHA_RT_FAIL(MHA_ERR_SHAPE,
                "%s: %s dim 0 is %" PRId64 " but there are %" PRId64
                " sequences",
                c->name, label(&ch, a, t.k), size(&ch, t.k, 0), sequences);
  int32_t status = MHA_OK;
  if (t.cu_q >= 0 &&
      (status = check_offsets(&ch, t.cu_q, sequences, t.q, t.q_rows_dim)))
    return status;
  if (t.cu_k >= 0 && (status = check_offsets(&ch, t.cu_k, sequences, t.k, 2)))
    return status;
  if (t.q_lens >= 0) {
    char rows[160];
    snprintf(rows, sizeof(rows), "the rows of %s %s", name_of(&ch, a, t.q),
             mha_rt_dim_label(dim, signature, t.q, t.q_rows_dim));
    if ((status = check_lengths(&ch, t.q_lens, sequences,
                                size(&ch, t.q, t.q_rows_dim), rows)))
      return status;
  }
  if (t.kv_lens >= 0) {
    char what[200];
    int64_t limit = size(&ch, t.k, 2);
    if (t.block_table >= 0) {
      int64_t max_pages = size(&ch, t.block_table, 1);
      // A table may have any number of columns (a stride of 0 makes even
      // 2^62 of them a small tensor): past INT64_MAX keys, every i32
      // length fits.
      if (__builtin_mul_overflow(max_pages, size(&ch, t.k, 2), &limit))
        limit = INT64_MAX;
      snprintf(what, sizeof(what),
               "%s holds %" PRId64 " pages of %" PRId64 " keys per sequence",
               label(&ch, a, t.block_table), max_pages, size(&ch, t.k, 2));
    } else {
      snprintf(what, sizeof(what), "the keys of %s %s", label(&ch, a, t.k),
               mha_rt_dim_label(dim, signature, t.k, 2));
    }
    bool per_sequence = t.appending >= 0 && (t.q_lens >= 0 || t.cu_q >= 0);
    if (t.appending >= 0 && !per_sequence) {
      // Room for the new keys after the old ones.
      int64_t appended = size(&ch, t.appending, t.appended_dim);
      char rows[160];
      snprintf(rows, sizeof(rows), "%s %s", name_of(&ch, a, t.appending),
               mha_rt_dim_label(dim, signature, t.appending, t.appended_dim));
      limit -= appended;
      size_t used = strlen(what);
      snprintf(what + used, sizeof(what) - used,
               ", less the %" PRId64 " new keys of %s", appended, rows);
      if (limit < 0)
        MHA_RT_FAIL(MHA_ERR_SHAPE,
                    "%s: %" PRId64 " new keys (%s) do not fit: %s", c->name,
                    appended, rows, what);
    }
    if ((status = check_lengths(&ch, t.kv_lens, sequences, limit, what)))
      return status;
    // Room for each sequence's own new keys after its old ones.
    for (int64_t s = 0; per_sequence && s < sequences; ++s) {
      int64_t n = element(&c->memrefs[t.kv_lens], 1, s, 0);
      int64_t appended = appended_keys(&ch, &t, s);
      if (n + appended > limit)
        MHA_RT_FAIL(MHA_ERR_INVALID_ARGUMENT,
                    "%s: %s[%" PRId64 "] is %" PRId64
                    " but must be in [0, %" PRId64 "] (%s, less the %" PRId64
                    " new keys of sequence %" PRId64 ")",
                    c->name, name_of(&ch, a, t.kv_lens), s, n, limit - appended,
                    what, appended, s);
    }
  }
  if (t.block_table >= 0 && (status = check_block_table(&ch, &t, sequences)))
    return status;

  // The grid: with packed queries, one more item row for the rows past
  // the last sequence, and as many tiles as the longest sequence needs.
  if (t.appending >= 0 && t.cu_q < 0)
    return MHA_OK; // The grid of the new keys or rows, from the signature.
  int64_t batch = sequences, rows = size(&ch, t.q, t.q_rows_dim);
  if (t.cu_q >= 0) {
    batch = sequences + 1;
    rows = longest_packed(&c->memrefs[t.cu_q], sequences, rows);
  }
  c->sequence_batch = batch;
  c->sequence_rows = rows;
  c->sequences = sequences;
  if (t.cu_k >= 0)
    c->sequence_keys =
        longest_packed(&c->memrefs[t.cu_k], sequences, size(&ch, t.k, 2));
  // A layer's other phases run over its input's rows.
  c->batch = layer >= 0 ? size(&ch, layer, 0) : batch;
  c->rows = layer >= 0 ? size(&ch, layer, 1) : rows;
  return MHA_OK;
}
