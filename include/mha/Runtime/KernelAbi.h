/*===- KernelAbi.h - Contract between generated code and runtime --*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
 *
 * Each exported function `f` of a generated library is a thin wrapper that
 * calls mha_rt_launch with:
 *  - a signature table (int64_t words, emitted by the compiler as constant
 *    data) describing every tensor argument and result;
 *  - the tensors in signature order (arguments, then results);
 *  - the compiled work function `f_work`, which computes one work item.
 * The runtime checks every tensor against the table before any memory is
 * touched, builds MLIR strided-memref descriptors from the DLTensors, and
 * runs the work items (b, h, t) of the grid B x H x ceil(Lq / rows_per_item)
 * on its thread pool. It knows nothing about attention math.
 *===----------------------------------------------------------------------===*/

#ifndef MHA_RUNTIME_KERNELABI_H
#define MHA_RUNTIME_KERNELABI_H

#include "mha/runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MHA_ABI_VERSION 1

/* Signature table layout (all int64_t). */
enum {
  MHA_SIG_VERSION = 0,        /* MHA_ABI_VERSION */
  MHA_SIG_NUM_TENSORS = 1,    /* arguments + results */
  MHA_SIG_NUM_INPUTS = 2,     /* the first NUM_INPUTS tensors are read-only */
  MHA_SIG_GRID_HEADS = 3,     /* H of the grid (query heads) */
  MHA_SIG_ROWS_PER_ITEM = 4,  /* query rows per work item */
  MHA_SIG_GRID_BATCH_SYM = 5, /* symbol giving B of the grid */
  MHA_SIG_GRID_ROWS_SYM = 6,  /* symbol giving Lq of the grid */
  MHA_SIG_SPLIT_KV = 7,       /* 1: the kernel splits keys (see below) */
  MHA_SIG_HEADER_WORDS = 8
};

/* Per tensor, MHA_SIG_TENSOR_WORDS words follow the header. */
enum {
  MHA_SIG_T_ROLE = 0,       /* mha_tensor_role */
  MHA_SIG_T_DTYPE_CODE = 1, /* DLDataTypeCode: kDLFloat or kDLBfloat */
  MHA_SIG_T_DTYPE_BITS = 2, /* 32 or 16 */
  MHA_SIG_T_RANK = 3,
  /* Then MHA_SIG_MAX_RANK (symbol, static size) pairs; size -1 = dynamic,
   * symbol 0 = none. Dims with the same non-zero symbol must agree across
   * all tensors of a call. */
  MHA_SIG_T_DIMS = 4,
  MHA_SIG_MAX_RANK = 4,
  MHA_SIG_TENSOR_WORDS = 4 + 2 * 4
};

/* Symbols naming the dynamic (or shared) sizes. */
enum {
  MHA_SYM_NONE = 0,
  MHA_SYM_BATCH = 1,             /* B */
  MHA_SYM_QUERY_LEN = 2,         /* Lq */
  MHA_SYM_KEY_LEN = 3,           /* Lk */
  MHA_SYM_QUERY_HEADS = 4,       /* Hq */
  MHA_SYM_KV_HEADS = 5,          /* Hkv */
  MHA_SYM_HEAD_DIM = 6,          /* D */
  MHA_SYM_VALUE_DIM = 7,         /* Dv */
  MHA_SYM_PAGES = 8,             /* pages of a paged K/V pool */
  MHA_SYM_PAGE_SIZE = 9,         /* keys per page */
  MHA_SYM_NEW_LEN = 10,          /* Lnew: keys an append function writes */
  MHA_SYM_TEACHER_KV_HEADS = 11, /* Hkv_t of mha.attention_kl */
  MHA_SYM_STUDENT_KV_HEADS = 12, /* Hkv_s */
  MHA_SYM_TEACHER_DIM = 13,      /* D_t */
  MHA_SYM_STUDENT_DIM = 14       /* D_s */
};

/* What a tensor is; names it in error messages ("'k' (key)"). */
typedef enum mha_tensor_role {
  MHA_ROLE_QUERY = 0,
  MHA_ROLE_KEY = 1,
  MHA_ROLE_VALUE = 2,
  MHA_ROLE_OUTPUT = 3,
  MHA_ROLE_LSE = 4,
  MHA_ROLE_PROBS = 5,
  MHA_ROLE_ENTROPY = 6,
  /* The tensors of a layer (mha.multi_head). */
  MHA_ROLE_LAYER_INPUT = 7,
  MHA_ROLE_QUERY_WEIGHT = 8,
  MHA_ROLE_KEY_WEIGHT = 9,
  MHA_ROLE_VALUE_WEIGHT = 10,
  MHA_ROLE_OUT_WEIGHT = 11,
  MHA_ROLE_QUERY_BIAS = 12,
  MHA_ROLE_KEY_BIAS = 13,
  MHA_ROLE_VALUE_BIAS = 14,
  MHA_ROLE_OUT_BIAS = 15,
  MHA_ROLE_LAYER_OUTPUT = 16,
  /* The tensors of a backward function (<name>_backward). */
  MHA_ROLE_SAVED_OUTPUT = 17, /* the forward's o, read */
  MHA_ROLE_SAVED_LSE = 18,    /* the forward's lse, read */
  MHA_ROLE_GRAD_OUTPUT = 19,  /* dout */
  MHA_ROLE_GRAD_QUERY = 20,   /* dq */
  MHA_ROLE_GRAD_KEY = 21,     /* dk */
  MHA_ROLE_GRAD_VALUE = 22,   /* dv */
  MHA_ROLE_GRAD_ENTROPY = 23, /* dentropy, read */
  /* The partial results of a merge function (mha.merge_states). */
  MHA_ROLE_PARTIAL_OUTPUT_A = 24, /* o_a */
  MHA_ROLE_PARTIAL_LSE_A = 25,    /* lse_a */
  MHA_ROLE_PARTIAL_OUTPUT_B = 26, /* o_b */
  MHA_ROLE_PARTIAL_LSE_B = 27,    /* lse_b */
  /* The serving tensors of an attention function (i32, read; see
   * mha_rt_check_serving). With cu_seqlens_q the grid's batch is the S
   * sequences plus one item row for the packed rows past the last. */
  MHA_ROLE_KV_LENS = 28,      /* [S] keys per sequence */
  MHA_ROLE_Q_LENS = 29,       /* [S] query rows per sequence */
  MHA_ROLE_BLOCK_TABLE = 30,  /* [S, max_pages] pages of each sequence */
  MHA_ROLE_CU_SEQLENS_Q = 31, /* [S + 1] offsets of packed query rows */
  MHA_ROLE_CU_SEQLENS_K = 32, /* [S + 1] offsets of packed keys */
  /* An append function (mha.append_kv): new keys and values, read, and the
   * caches they are written into at kv_lens (only those slots). */
  MHA_ROLE_KEY_NEW = 33,
  MHA_ROLE_VALUE_NEW = 34,
  MHA_ROLE_KEY_CACHE = 35,
  MHA_ROLE_VALUE_CACHE = 36,
  /* The factors of a layer's low-rank weights: W = down . up. */
  MHA_ROLE_QUERY_WEIGHT_DOWN = 37,
  MHA_ROLE_QUERY_WEIGHT_UP = 38,
  MHA_ROLE_KEY_WEIGHT_DOWN = 39,
  MHA_ROLE_KEY_WEIGHT_UP = 40,
  MHA_ROLE_VALUE_WEIGHT_DOWN = 41,
  MHA_ROLE_VALUE_WEIGHT_UP = 42,
  MHA_ROLE_OUT_WEIGHT_DOWN = 43,
  MHA_ROLE_OUT_WEIGHT_UP = 44,
  /* The f32 scales of a quantized (i8) key and value cache: [Hkv], or
   * [pages, Hkv] for a paged one; finite and > 0 (mha_rt_check_scales). */
  MHA_ROLE_KEY_SCALE = 45,
  MHA_ROLE_VALUE_SCALE = 46,
  /* The attention-transfer loss (mha.attention_kl): each model's queries
   * and keys, the per-row divergence and log-sum-exps, and the gradient
   * function's inputs (the saved lse, dkl) and results. */
  MHA_ROLE_TEACHER_QUERY = 47,      /* q_t */
  MHA_ROLE_TEACHER_KEY = 48,        /* k_t */
  MHA_ROLE_STUDENT_QUERY = 49,      /* q_s */
  MHA_ROLE_STUDENT_KEY = 50,        /* k_s */
  MHA_ROLE_KL = 51,                 /* kl */
  MHA_ROLE_TEACHER_LSE = 52,        /* lse_t */
  MHA_ROLE_STUDENT_LSE = 53,        /* lse_s */
  MHA_ROLE_SAVED_TEACHER_LSE = 54,  /* lse_t */
  MHA_ROLE_SAVED_STUDENT_LSE = 55,  /* lse_s */
  MHA_ROLE_GRAD_KL = 56,            /* dkl */
  MHA_ROLE_GRAD_STUDENT_QUERY = 57, /* dq_s */
  MHA_ROLE_GRAD_STUDENT_KEY = 58,   /* dk_s */
  /* The f32 [N] column scales of a layer's int8 weights (mha.quantized):
   * finite and > 0 (mha_rt_check_weight_scales). */
  MHA_ROLE_QUERY_WEIGHT_SCALE = 59, /* wq_scale */
  MHA_ROLE_KEY_WEIGHT_SCALE = 60,   /* wk_scale */
  MHA_ROLE_VALUE_WEIGHT_SCALE = 61, /* wv_scale */
  MHA_ROLE_OUT_WEIGHT_SCALE = 62,   /* wo_scale */
  /* A layer's backward: the gradient of y (read) and those it writes. */
  MHA_ROLE_GRAD_LAYER_OUTPUT = 63, /* dy */
  MHA_ROLE_GRAD_LAYER_INPUT = 64,  /* dx */
  MHA_ROLE_GRAD_QUERY_WEIGHT = 65, /* dwq */
  MHA_ROLE_GRAD_KEY_WEIGHT = 66,   /* dwk */
  MHA_ROLE_GRAD_VALUE_WEIGHT = 67, /* dwv */
  MHA_ROLE_GRAD_OUT_WEIGHT = 68,   /* dwo */
  MHA_ROLE_GRAD_QUERY_BIAS = 69,   /* dbq */
  MHA_ROLE_GRAD_KEY_BIAS = 70,     /* dbk */
  MHA_ROLE_GRAD_VALUE_BIAS = 71,   /* dbv */
  MHA_ROLE_GRAD_OUT_BIAS = 72,     /* dbo */
  /* The gradients of low-rank factors. */
  MHA_ROLE_GRAD_QUERY_WEIGHT_DOWN = 73, /* dwq_down */
  MHA_ROLE_GRAD_QUERY_WEIGHT_UP = 74,   /* dwq_up */
  MHA_ROLE_GRAD_KEY_WEIGHT_DOWN = 75,   /* dwk_down */
  MHA_ROLE_GRAD_KEY_WEIGHT_UP = 76,     /* dwk_up */
  MHA_ROLE_GRAD_VALUE_WEIGHT_DOWN = 77, /* dwv_down */
  MHA_ROLE_GRAD_VALUE_WEIGHT_UP = 78,   /* dwv_up */
  MHA_ROLE_GRAD_OUT_WEIGHT_DOWN = 79,   /* dwo_down */
  MHA_ROLE_GRAD_OUT_WEIGHT_UP = 80      /* dwo_up */
} mha_tensor_role;

/* An MLIR strided memref descriptor of rank 4 (rank-3 tensors use the first
 * three sizes/strides); layout-compatible with StridedMemRefType<T, N>. */
typedef struct mha_memref4 {
  void *allocated;
  void *aligned;
  int64_t offset; /* in elements */
  int64_t sizes[4];
  int64_t strides[4];
} mha_memref4;
typedef struct mha_memref3 {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} mha_memref3;

/* Computes work item (b, h, t): query rows [t*rows, (t+1)*rows) of head h of
 * batch b. `descriptors[i]` points to tensor i's memref descriptor (rank 3 or
 * 4 as the signature says). `head_alive` holds one byte per grid head: the
 * spec's static head_mask and the runtime mask combined. */
typedef void (*mha_work_fn)(void **descriptors, int64_t b, int64_t h, int64_t t,
                            const uint8_t *head_alive);

/* Layers (mha.multi_head) run in phases over temporaries the runtime
 * allocates per call. Their signature table continues after the tensors
 * with MHA_SIG_LAYER_WORDS words, then MHA_SIG_TEMP_WORDS per temporary and
 * MHA_SIG_PHASE_WORDS per phase. Temporary i is [B, L, cols], [1, L, cols]
 * or [1, 1, cols] by its shape word (MHA_TEMP_*) of 1, 2 or 4 bytes per
 * element by its bytes word, contiguous; its
 * descriptor follows the tensors'. Phase p runs the grid B x heads x
 * ceil(L / rows) and completes before p + 1 starts; the runtime head mask
 * applies to the phase of kind MHA_PHASE_MASKED (the attention), every
 * head of the other phases is alive. Over packed sequences (cu_seqlens_q)
 * the MHA_PHASE_MASKED phase runs the grid of an attention function with
 * packed queries instead: (S + 1) x heads x the longest sequence's tiles. A
 * phase of kind MHA_PHASE_PACKING writes only the fixed temporaries (the packed
 * weights), from the weights alone: a call that reuses the fixed temporaries of
 * an earlier call with the same weights (mha_options.reuse_packed_weights)
 * skips it. */
enum {
  MHA_SIG_LAYER_NUM_TEMPS = 0,
  MHA_SIG_LAYER_NUM_PHASES = 1,
  /* 0, but in the table of a layer's <name>_forward_train: the tensors of
   * the work function's (its <name>_backward's), whose first ones are
   * those of <name>_forward_train with y in dy's place (see below). */
  MHA_SIG_LAYER_KERNEL_TENSORS = 2,
  MHA_SIG_LAYER_WORDS = 3
};
/* The most temporaries and phases a layer kernel has (mha-tile refuses
 * more; the runtime sizes its tables by them). The largest today: the
 * backward of a latent layer with low-rank Wq and Wo and RMS norms, 14
 * temporaries and 18 phases. */
#define MHA_LAYER_MAX_TEMPS 24
#define MHA_LAYER_MAX_PHASES 32
enum {
  MHA_SIG_TEMP_SHAPE = 0,
  MHA_SIG_TEMP_COLS = 1,
  MHA_SIG_TEMP_BYTES = 2,
  MHA_SIG_TEMP_WORDS = 3
};
enum {
  MHA_TEMP_PER_TOKEN = 0, /* [1, L, cols]: shared by the batch */
  MHA_TEMP_PER_BATCH = 1, /* [B, L, cols] */
  MHA_TEMP_FIXED = 2,     /* [1, 1, cols]: e.g. packed weights */
  MHA_TEMP_SHAPE_MASK = 15,
  /* Saved activations (mha_options.saved_activations): a flag on the shape
   * word of the temporaries a layer backward's recomputation writes and
   * its gradients read. With saved activations they lie in the caller's
   * buffer, in order, each at a 64-byte aligned offset after a
   * MHA_SAVED_HEADER_BYTES header. */
  MHA_TEMP_SAVED = 16
};
#define MHA_SAVED_HEADER_BYTES 64
enum {
  MHA_SIG_PHASE_HEADS = 0,
  MHA_SIG_PHASE_ROWS = 1,
  MHA_SIG_PHASE_KIND = 2,
  MHA_SIG_PHASE_WORDS = 3
};
/* A phase of kind MHA_PHASE_FLAT (a layer's GEMMs) treats the rows
 * of every batch element as one sequence of B x L rows when the layer's
 * input and output allow it (L = 1, or a batch stride of L row strides):
 * the runtime then runs it over 1 x heads x ceil(B L / rows) and sets call
 * word MHA_LAYER_FLAT_ROWS, and its items read and write [1, B L, cols]
 * views, so each weight panel is read once for all B sequences. */
enum {
  MHA_PHASE_PLAIN = 0,
  MHA_PHASE_MASKED = 1,
  MHA_PHASE_PACKING = 2,
  MHA_PHASE_FLAT = 3,
  /* A packed decoding step's append: the grid of the sequences, as
   * MHA_PHASE_MASKED's (S + 1 item rows, the longest's tiles). */
  MHA_PHASE_SEQUENCES = 4,
  MHA_PHASE_KIND_MASK = 15,
  /* Flags on a layer backward's phase kinds. A recomputation phase
   * recomputes the forward's activations: <name>_forward_train runs it,
   * and <name>_backward skips it when given saved activations. A
   * forward-output phase computes y (into dy's descriptor): only
   * <name>_forward_train runs it. <name>_forward_train runs the
   * recomputation and forward-output phases (packing ones included), no
   * other. A backward that reads saved activations keeps no panels for
   * reuse_packed_weights (it packed none of the recomputation's). */
  MHA_PHASE_RECOMPUTATION = 16,
  MHA_PHASE_FORWARD_OUTPUT = 32
};

/* Computes work item (b, h, t) of phase `phase` of a layer. */
typedef void (*mha_layer_work_fn)(void **descriptors, int64_t phase, int64_t b,
                                  int64_t h, int64_t t,
                                  const uint8_t *head_alive);

/* Backward functions (<name>_backward of a function marked mha.backward)
 * run two independent grids as one: the key items (b, g, t), b < B, g <
 * kv_heads, t < ceil(Lk / keys_per_item), which write dk and dv of one key
 * tile, and the query items (b, h, t) of the header's grid (B x Hq x
 * ceil(Lq / rows_per_item)), which write dq of one query tile. The work
 * function (mha_layer_work_fn) gets phase 0 for key items and 1 for query
 * items. With `row_stats` set, a phase 2 over the query grid runs first
 * and writes one f32 per query row into a [B, Hq, Lq] temporary (contiguous)
 * that phases 0 and 1 read. With `dq_columns` > 0 the runtime also
 * allocates a [B, Hq, Lq, dq_columns] f32 temporary (contiguous, not
 * initialised) in which the key items of 16-bit specs sum dq before they
 * narrow it into dq. Its descriptors are the tensors', a rank-1
 * descriptor of the Hq head-alive bytes (the runtime mask; the kernel
 * applies the static one), the rank-3 row temporary (sizes 0 without
 * row_stats), the rank-4 dq temporary (sizes 0 without dq_columns) and the
 * dropout words. Lk is dim 2 of tensor `key_tensor`. The signature table
 * continues after the tensors with MHA_SIG_BACKWARD_WORDS words. */
enum {
  MHA_SIG_BACKWARD_KV_HEADS = 0,
  MHA_SIG_BACKWARD_KEYS_PER_ITEM = 1,
  MHA_SIG_BACKWARD_KEY_TENSOR = 2,
  MHA_SIG_BACKWARD_ROW_STATS = 3,
  MHA_SIG_BACKWARD_DQ_COLUMNS = 4,
  MHA_SIG_BACKWARD_WORDS = 5
};

/* Every launcher passes one more descriptor after the ones above: a rank-1
 * i32 memref of MHA_CALL_WORDS words, the options kernels read (0 without
 * options): dropout's seed and offset, and the explicit positions. Kernels
 * that need none of them never look. */
enum {
  MHA_DROPOUT_SEED_LO = 0,    /* dropout_seed mod 2^32 */
  MHA_DROPOUT_SEED_HI = 1,    /* dropout_seed div 2^32 */
  MHA_DROPOUT_OFFSET_LO = 2,  /* dropout_offset mod 2^32 */
  MHA_POSITIONS_USED = 3,     /* use_positions != 0 */
  MHA_POSITIONS_QUERY_LO = 4, /* query_start, two's complement words */
  MHA_POSITIONS_QUERY_HI = 5,
  MHA_POSITIONS_KEY_LO = 6, /* key_start */
  MHA_POSITIONS_KEY_HI = 7,
  MHA_HEAD_MASK_GIVEN = 8,  /* options->head_mask != NULL */
  MHA_CALL_THREADS = 9,     /* the threads the call may use (>= 1) */
  MHA_SPLIT_KV_COUNT = 10,  /* S, the key splits of the call (>= 1) */
  MHA_LAYER_FLAT_ROWS = 11, /* the MHA_PHASE_FLAT phases run on flat rows */
  MHA_SPLIT_KV_BATCH = 12,  /* B of a split call's grid (its sequence items) */
  MHA_SPLIT_KV_ROWS = 13,   /* Lq of a split call's grid (its longest rows) */
  MHA_CALL_WORDS = 14
};

/* Split-KV decoding (flash-decoding on the CPU). A kernel marked
 * MHA_SIG_SPLIT_KV can divide each sequence's keys into S contiguous
 * parts computed by separate work items; the table then continues after
 * the tensors with MHA_SIG_SPLIT_WORDS words. mha_rt_launch chooses S from
 * the shapes and the machine's CPUs (never from num_threads, so the bytes
 * of a result do not depend on it): S > 1 when fewer items than CPUs would
 * carry work and each part keeps at least MHA_SPLIT_MIN_KEYS keys. It runs
 * the grid B x Hq x (tiles * S), item t being part t mod S of query tile
 * t div S, with MHA_SPLIT_KV_COUNT = S and the grid's B and Lq in
 * MHA_SPLIT_KV_BATCH and MHA_SPLIT_KV_ROWS (with packed queries, B counts
 * the sequences and the item of the rows past the last, Lq is the longest
 * sequence's rows), and passes three descriptors after the call words: the
 * partial outputs [S B Hq Lq, Dv] and partial lse [S B Hq Lq] (f32, row
 * ((s B + b) Hq + h) Lq + i for row i of sequence b), and the arrival
 * counts [B Hq tiles] (i32, zeroed). The last item of a tile to arrive
 * (an atomic count) merges the S parts in order s = 0 .. S - 1 into the
 * results.
 *
 * A layer's decoding step splits the same way: its kernel marked
 * MHA_SIG_SPLIT_KV has the split words after its layer section (the
 * temporaries' and phases' words), the three descriptors after its call
 * words, and mha_rt_launch_layer splits its MHA_PHASE_MASKED phase (the
 * attention; the descriptors are empty in the other phases). */
enum {
  MHA_SIG_SPLIT_KV_HEADS = 0,     /* KV heads, the items that carry work */
  MHA_SIG_SPLIT_VALUE_DIM = 1,    /* Dv */
  MHA_SIG_SPLIT_KEY_TENSOR = 2,   /* index of k */
  MHA_SIG_SPLIT_TABLE_TENSOR = 3, /* index of block_table, or -1 */
  MHA_SIG_SPLIT_WORDS = 4
};
#define MHA_SPLIT_MIN_KEYS 1024
#define MHA_SPLIT_MAX_PARTS 16

/* The largest query_start and key_start (positions are >= 0): the key
 * offsets derived from them stay far from int64 and from the unbounded
 * window sentinel (2^40). */
#define MHA_MAX_POSITION ((int64_t)1 << 38)

/* The stack a work item may need, below the frame of the runtime function
 * that runs it (issue 23). A kernel keeps its tiles in stack allocas of at
 * most MHA_WORK_ITEM_SCRATCH_LIMIT bytes: the compiler refuses a tiling that
 * needs more (checkScratchBudget in mha-tile). The margin covers what else
 * lands below: the kernel's spills and calls, the work trampoline, the
 * runtime's frames between its check and the item (under 1 KiB), and a
 * signal handler with its saved register state (up to ~11 KiB with AVX-512
 * and AMX). A thread with less free stack than MHA_WORK_ITEM_STACK_BYTES
 * does not run items itself: the runtime's workers, whose stacks it sizes,
 * run them while it waits. */
#define MHA_WORK_ITEM_SCRATCH_LIMIT ((int64_t)1 << 20)
#define MHA_WORK_ITEM_STACK_MARGIN ((int64_t)128 << 10)
#define MHA_WORK_ITEM_STACK_BYTES                                              \
  (MHA_WORK_ITEM_SCRATCH_LIMIT + MHA_WORK_ITEM_STACK_MARGIN)

/* Vector ISA levels; a library holds one work function per level it was
 * compiled for and its exported functions pick with mha_rt_cpu_isa(). */
enum {
  MHA_ISA_GENERIC = 0,
  MHA_ISA_AVX2 = 1,
  MHA_ISA_AVX512 = 2,
  MHA_ISA_AVX512BF16 = 3 /* AVX-512 + AVX512_BF16 (vdpbf16ps) + AVX512_VNNI */
};

#if defined(__GNUC__)
#define MHA_RT_HIDDEN_ABI __attribute__((visibility("hidden")))
#else
#define MHA_RT_HIDDEN_ABI
#endif

/* The best level this CPU and OS support, lowered by
 * MHA_ISA=avx512|avx2|generic in the environment. */
MHA_RT_HIDDEN_ABI int32_t mha_rt_cpu_isa(void);

/* The level for a function whose AVX512-BF16 copy gains from vdpbf16ps
 * alone (bf16, no int8 weights): mha_rt_cpu_isa(), but AVX512 where
 * vdpbf16ps runs slower than the FMAs (Intel) unless MHA_ISA=avx512bf16. */
MHA_RT_HIDDEN_ABI int32_t mha_rt_cpu_isa_bf16_dot(void);

/* The level for a bf16 layer's call on the rows of `x` ([.., L, d]):
 * mha_rt_cpu_isa() for at most MHA_DECODING_ROWS rows per sequence (a
 * decoding step reads its weights once: memory-bound, where the
 * AVX512-BF16 copy's bf16 panels, half the bytes, win everywhere), else
 * mha_rt_cpu_isa_bf16_dot(). Reads x's shape only where it looks sound;
 * the call's checks come after. */
#define MHA_DECODING_ROWS 16
MHA_RT_HIDDEN_ABI int32_t mha_rt_cpu_isa_bf16_layer(const DLTensor *x);

/* Checks the call, then runs every work item. `name` is the exported
 * function's name and `arg_names` the C parameter names, for messages. */
int32_t mha_rt_launch(const int64_t *signature, const char *name,
                      const char *const *arg_names,
                      const DLTensor *const *tensors,
                      const mha_options *options, mha_work_fn work);

/* mha_rt_launch for layers: checks the call, allocates the temporaries,
 * runs the phases and frees the temporaries. */
int32_t mha_rt_launch_layer(const int64_t *signature, const char *name,
                            const char *const *arg_names,
                            const DLTensor *const *tensors,
                            const mha_options *options, mha_layer_work_fn work);

/* The bytes of the saved activations (mha_options.saved_activations) of
 * the layer backward of `signature` for B = batch and L = len; -1 when
 * they are negative or the bytes overflow. <name>_saved_bytes returns it. */
int64_t mha_rt_layer_saved_bytes(const int64_t *signature, int64_t batch,
                                 int64_t len);

/* mha_rt_launch for backward functions: checks the call, then runs the key
 * and query items. */
int32_t mha_rt_launch_backward(const int64_t *signature, const char *name,
                               const char *const *arg_names,
                               const DLTensor *const *tensors,
                               const mha_options *options,
                               mha_layer_work_fn work);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MHA_RUNTIME_KERNELABI_H */
