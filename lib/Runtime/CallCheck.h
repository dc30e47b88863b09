//===- CallCheck.h - Checking a call against its signature --------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to the runtime: the argument checks and memref descriptors shared
// by the CPU launcher (mha_rt_launch) and the GPU one (mha_rt_cuda_launch).
// Both check every DLTensor against the compiler's signature table before any
// tensor memory is touched; they differ only in the device the tensors must
// live on.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_CALLCHECK_H
#define MHA_LIB_RUNTIME_CALLCHECK_H

#include "Status.h"

#include "mha/Runtime/KernelAbi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A call has a handful of tensors (a layer backward with biases and
/// low-rank Wq, Wv and Wo 25, Python's kMaxTensors 32):
/// bounded arrays keep it off the heap.
#define MHA_RT_MAX_TENSORS 32
#define MHA_RT_NUM_SYMBOLS (MHA_SYM_STUDENT_DIM + 1)

/// A strided memref descriptor of any rank up to 4: {allocated, aligned,
/// offset, sizes[rank], strides[rank]} with no padding, which is what
/// StridedMemRefType<T, rank> (and mha_memref3/4) look like.
typedef struct mha_rt_memref {
  void *allocated;
  void *aligned;
  int64_t offset; // In elements.
  int64_t dims[2 * MHA_SIG_MAX_RANK];
} mha_rt_memref;

/// What a checked call gives its launcher.
typedef struct mha_rt_checked_call {
  const char *name; // The function's name, never NULL.
  int num_tensors;
  int num_inputs;
  int device_id; // Of the first tensor (all agree for kDLCUDA calls).
  int64_t batch; // B of the grid.
  int64_t heads; // H of the grid (the signature's).
  int64_t rows;  // Lq of the grid.
  // The grid of a layer's per-sequence phases (its attention): the S + 1
  // item rows and longest sequence of packed rows (cu_seqlens_q), else
  // batch and rows.
  int64_t sequence_batch, sequence_rows;
  // The sequences among them: sequence_batch less the item of the rows past
  // the last with packed queries.
  int64_t sequences;
  // The longest sequence's keys when keys are packed (cu_seqlens_k), else
  // -1 (the key tensor's dim 2).
  int64_t sequence_keys;
  int64_t elem_size[MHA_RT_MAX_TENSORS];
  bool empty[MHA_RT_MAX_TENSORS]; // A tensor with a zero-sized dimension.
  mha_rt_memref memrefs[MHA_RT_MAX_TENSORS];
  // The caller's options with every field this library knows (zeros where
  // the caller passed NULL or an older, shorter struct).
  mha_options options;
  // The call words (MHA_DROPOUT_*, MHA_POSITIONS_*) and their rank-1 i32
  // descriptor, the last descriptor every launcher passes.
  uint32_t dropout_words[MHA_CALL_WORDS];
  mha_rt_memref dropout_memref;
} mha_rt_checked_call;

/// Checks the signature table, every tensor (on `device_type`, which is
/// kDLCPU or kDLCUDA; kDLCUDA tensors must also share one device_id), that
/// no output overlaps another tensor, the options, and that the grid's sizes
/// are bound; then fills `out`, descriptors included. `body_missing` is NULL
/// when the caller has its work function or kernel, else the message tail
/// ("no work function") reported after the signature's header checks. On
/// error sets the last error and returns its status.
MHA_RT_HIDDEN int32_t mha_rt_check_call(
    const int64_t *signature, const char *name, const char *const *arg_names,
    const DLTensor *const *tensors, const mha_options *options, int device_type,
    const char *body_missing, mha_rt_checked_call *out);

/// mha_rt_check_call for the CPU launchers. `has_work` is false where the
/// exported function found no kernel copy this CPU runs (a library built by
/// mha-compile --isa=host on a CPU with a wider ISA, or MHA_ISA asking for a
/// level below its copies): MHA_ERR_NO_DEVICE once the call is checked.
MHA_RT_HIDDEN int32_t mha_rt_check_cpu_call(
    const int64_t *signature, const char *name, const char *const *arg_names,
    const DLTensor *const *tensors, const mha_options *options, bool has_work,
    mha_rt_checked_call *out);

/// MHA_OK, or MHA_ERR_INVALID_ARGUMENT (with the message) when the call sets
/// options->use_positions, which only CPU attention functions (and their
/// backward) honour;
/// `kind` names the function's kind ("layer functions").
MHA_RT_HIDDEN int32_t mha_rt_refuse_positions(const mha_rt_checked_call *c,
                                              const char *kind);

/// MHA_OK, or MHA_ERR_INVALID_ARGUMENT (with the message) when a call of an
/// append function (mha.append_kv) sets options->head_mask or
/// options->use_positions, which it has no use for.
MHA_RT_HIDDEN int32_t
mha_rt_refuse_append_options(const mha_rt_checked_call *c);

/// For functions with serving tensors (MHA_ROLE_KV_LENS and after): checks
/// every length, offset and page number they hold against the tensors they
/// index, reading them on the CPU, then sizes the grid: the S sequences
/// (plus the item of the rows past the last with cu_seqlens_q) by the
/// longest sequence's query tiles (a layer's per-sequence grid:
/// sequence_batch and sequence_rows). MHA_OK without serving tensors.
MHA_RT_HIDDEN int32_t mha_rt_check_serving(const int64_t *signature,
                                           const char *const *arg_names,
                                           mha_rt_checked_call *c);

/// For functions over a quantized cache or with int8 weights: checks that
/// every key, value and weight scale is finite and > 0. MHA_OK without
/// scales.
MHA_RT_HIDDEN int32_t mha_rt_check_scales(const int64_t *signature,
                                          const char *const *arg_names,
                                          const mha_rt_checked_call *c);

/// "'k' (key)" (or "tensor 1 (key)" without names), for launcher messages.
MHA_RT_HIDDEN const char *mha_rt_tensor_label(char buf[96],
                                              const int64_t *signature,
                                              const char *const *arg_names,
                                              int i);

/// "dim 2 (Lk)", or "dim 2" for a dimension without a symbol.
MHA_RT_HIDDEN const char *
mha_rt_dim_label(char buf[32], const int64_t *signature, int i, int d);

/// The signature words of tensor i.
static inline const int64_t *mha_rt_tensor_sig(const int64_t *signature,
                                               int i) {
  return signature + MHA_SIG_HEADER_WORDS + (int64_t)i * MHA_SIG_TENSOR_WORDS;
}

/// The first tensor of `role` among the signature's `num_tensors`, -1 if
/// none.
static inline int mha_rt_find_role(const int64_t *signature, int num_tensors,
                                   int64_t role) {
  for (int i = 0; i < num_tensors; ++i)
    if (mha_rt_tensor_sig(signature, i)[MHA_SIG_T_ROLE] == role)
      return i;
  return -1;
}

#ifdef __cplusplus
} // extern "C"
#endif

#endif // MHA_LIB_RUNTIME_CALLCHECK_H
