/*===- mha/runtime.h - C interface of mha-generated libraries -----*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
 *
 * Every header written by mha-compile includes this file. Tensors are
 * DLPack DLTensors (the exchange format of PyTorch, JAX, NumPy and CuPy);
 * every generated function returns an mha_status and, on error, writes no
 * output byte and leaves a message for mha_last_error(). Functions may be
 * called from any thread, concurrently, including threads with small stacks
 * (64 KiB and up): work that needs more stack than the calling thread has
 * runs on the library's worker threads while the caller waits (and fails
 * with MHA_ERR_OUT_OF_MEMORY if none can be created).
 *===----------------------------------------------------------------------===*/

#ifndef MHA_RUNTIME_H
#define MHA_RUNTIME_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status of a call. Values are stable. */
typedef enum mha_status {
  MHA_OK = 0,
  MHA_ERR_NULL_POINTER = 1,     /* a tensor, its shape or its data is NULL */
  MHA_ERR_RANK = 2,             /* wrong number of dimensions */
  MHA_ERR_DTYPE = 3,            /* wrong element type */
  MHA_ERR_SHAPE = 4,            /* a dimension has the wrong size */
  MHA_ERR_DEVICE = 5,           /* tensor on the wrong device */
  MHA_ERR_LAYOUT = 6,           /* unsupported strides, offset or aliasing */
  MHA_ERR_INVALID_ARGUMENT = 7, /* a bad mha_options field */
  MHA_ERR_NO_DEVICE = 8,        /* no usable GPU or driver; CPU below the ISA */
  MHA_ERR_CUDA = 9,             /* the CUDA driver reported an error */
  MHA_ERR_OUT_OF_MEMORY = 10,   /* a runtime allocation failed */
  MHA_ERR_INTERNAL = 11         /* a bug: please report it */
} mha_status;

/* Options of a call; a NULL pointer means all defaults.
 *
 * Initialise with MHA_OPTIONS_INIT (or zero-initialise) and set fields by
 * name. `struct_size` tells a library which fields the caller's header has:
 * MHA_OPTIONS_INIT sets it to sizeof(mha_options) of this header, and 0
 * (a zero-initialised struct) means the fields up to key_start, the
 * layout that introduced struct_size. A library reads only the fields the
 * caller's size covers (later ones are 0), so a program compiled against
 * this header keeps working with newer libraries; a newer caller's fields
 * that this library does not know must be 0, else the call fails with
 * MHA_ERR_INVALID_ARGUMENT. */
typedef struct mha_options {
  /* sizeof(mha_options) of the caller's header, or 0 (see above). */
  uint32_t struct_size;
  /* Worker threads for this call: 0 = all cores. */
  int32_t num_threads;
  /* CUDA stream (CUstream) for GPU functions; NULL = default stream. */
  void *cuda_stream;
  /* Optional runtime head mask of Hq bytes: 0 ablates the head (its output,
   * probabilities and entropy become 0), anything else keeps it. Combined
   * with the spec's static head_mask. NULL keeps every head. */
  const uint8_t *head_mask;
  /* Backward functions (NAME_backward): nonzero asks for gradients that
   * are bit-identical from run to run and for every thread count. The CPU
   * backward always gives them; the field is for back ends whose fast path
   * would accumulate with atomics. */
  int32_t deterministic;
  /* Functions with a `dropout` attribute: the Philox key and the counter's
   * last word (only its low 32 bits are used) of the keep mask,
   * docs/language.md 6.7. The backward must get the forward's values. */
  uint64_t dropout_seed;
  uint64_t dropout_offset;
  /* CPU attention functions (mha.attention) and their backward: nonzero
   * places query
   * row i at position query_start + i and key j at key_start + j of one
   * longer sequence (a chunk of it, as context parallelism computes),
   * instead of the default bottom-right alignment (query i at
   * i + Lk - Lq, key j at j). The masks, windows, sinks, ALiBi and
   * dropout's counters use these positions, which lie in [0, 2^38].
   * Other functions fail with MHA_ERR_INVALID_ARGUMENT
   * when it is set. */
  int32_t use_positions;
  int64_t query_start;
  int64_t key_start;
  /* Layer functions (mha.multi_head) whose weights are arguments pack them
   * into panels on every call. Nonzero promises that the weight tensors
   * (weights, biases and weight scales: the same addresses, shapes and
   * strides) hold what they held at the last call of this function with
   * these weight tensors: the call then reuses the panels that call packed
   * instead of packing again. A call with other weight tensors packs and
   * keeps its panels for the next (one set per weight tensors, up to 128
   * sets; the least recently used goes first). The panels are kept until
   * mha_release_cached_memory(); mha_set_cached_memory_limit() does not
   * bound them. A call without it drops the panels of its weight tensors:
   * after writing the weights in place, call once without it.
   * Other functions ignore it. */
  int32_t reuse_packed_weights;
  /* GPU functions with serving indices (kv_lens, q_lens, block_table,
   * cu_seqlens_q, cu_seqlens_k): nonzero copies them to the host on the
   * call's stream, waits for the stream, and checks them as a CPU call does
   * before any kernel is launched, so a bad index is MHA_ERR_INVALID_ARGUMENT
   * naming the tensor and element, with nothing written. Zero (the default)
   * leaves them on the device: the call does not wait, a CUDA graph can
   * capture it, and the kernels clamp a bad index into the tensors.
   * MHA_CHECK_INDICES=1 in the environment sets it for every GPU call. A
   * capturing stream refuses it. CPU functions always check; they ignore
   * it. */
  int32_t check_indices;
  /* Layer functions marked mha.backward (docs/language.md 7.1, "Saved
   * activations"): a buffer of saved_activations_bytes bytes, at least
   * NAME_saved_bytes(B, L), 64-byte aligned. NAME_forward_train writes y
   * and the activations the backward needs there (the projections, the
   * attention's f32 output and its lse); NAME_backward given the same
   * buffer, unchanged, reads them instead of recomputing the forward. The
   * buffer records the call's B and L and the layer: a backward whose
   * shapes or layer differ fails with MHA_ERR_INVALID_ARGUMENT. It must
   * hold what NAME_forward_train wrote with the same inputs and weights
   * (not checked). NULL: NAME_backward recomputes the forward (the
   * default); NAME_forward_train fails. Other functions fail with
   * MHA_ERR_INVALID_ARGUMENT when it is set. */
  void *saved_activations;
  uint64_t saved_activations_bytes;
} mha_options;

#ifdef __cplusplus
/* C++: every other field value-initialised (no -Wmissing-field-initializers
 * warning where a brace list would leave them out). */
inline mha_options mha_options_init() {
  mha_options o = {};
  o.struct_size = (uint32_t)sizeof(mha_options);
  return o;
}
#define MHA_OPTIONS_INIT mha_options_init()
#else
#define MHA_OPTIONS_INIT {(uint32_t)sizeof(mha_options)}
#endif

/* A short, static name of a status ("MHA_ERR_SHAPE: ..."). */
const char *mha_status_string(mha_status status);

/* The message of the last failed call on this thread: which function,
 * argument and dimension was wrong and what was expected. "" after success. */
const char *mha_last_error(void);

/* The memory a library keeps between calls. Layer functions (mha.multi_head)
 * keep their temporaries (projections, packed weights) in a cache, so the
 * next call of a similar size does not fault in fresh pages. The cache holds
 * at most a limit of bytes: 1 GiB at first, or 0 when MHA_TEMP_CACHE=0 is in
 * the environment when the cache is first used (a layer call or one of
 * these functions). Temporaries of calls
 * still running are not in the cache: they go back to it (or are freed when
 * they do not fit) when their call ends. Libraries linked into one program
 * share one cache, as they share mha_last_error(); a library loaded with
 * dlopen(RTLD_LOCAL) has its own. All three functions are thread-safe and
 * may run while calls are running. */

/* Frees every cached temporary, and the panels kept for
 * reuse_packed_weights (except those a running call uses); returns the
 * bytes freed. */
size_t mha_release_cached_memory(void);

/* Sets the limit (0: cache nothing, every call frees its temporaries) and
 * frees cached temporaries, largest first, until the cache fits in it;
 * returns the previous limit. */
size_t mha_set_cached_memory_limit(size_t bytes);

/* The bytes the cache holds now (never more than the limit), plus the
 * panels kept for reuse_packed_weights. */
size_t mha_cached_memory_bytes(void);

/* Who runs the parallel work of CPU calls. By default each library has its
 * own worker threads, which block while they wait. A program that already
 * keeps threads for its own kernels (an OpenMP runtime's, as PyTorch's
 * CPU operators use) can lend them instead, so that two sets of threads do
 * not take turns on the same cores. */
typedef struct mha_executor {
  /* Calls body(body_ctx) on at most num_threads threads at once, the
   * calling thread among them, and returns after every call of body has
   * returned (what the calls wrote is then visible to the caller). Fewer
   * threads, or none, are allowed: the calling thread then finishes the
   * work alone. Must not fail and must not throw. */
  void (*run)(void (*body)(void *body_ctx), void *body_ctx, int32_t num_threads,
              void *user);
  void *user;
} mha_executor;

/* Sets the executor of the CPU calls that start after it (NULL: the
 * library's own threads again) and returns the previous one (NULL at
 * first). The struct is kept by address: it must stay valid while it is
 * set and while calls that started under it run. A call whose thread has
 * too little stack for a work item, or that runs on one thread, does not
 * use it. Thread-safe; shared like the cache above. */
const mha_executor *mha_set_executor(const mha_executor *executor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MHA_RUNTIME_H */
