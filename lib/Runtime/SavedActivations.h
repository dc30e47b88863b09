/*===- SavedActivations.h - A layer backward's saved activations --*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
 *
 * Private to the runtime. The caller's buffer of mha_options
 * .saved_activations: a header (which layer, B and L wrote it), then each
 * temporary marked MHA_TEMP_SAVED in signature order, 64-byte aligned.
 * <name>_forward_train writes it, <name>_backward reads it (KernelAbi.h).
 *===----------------------------------------------------------------------===*/

#ifndef MHA_LIB_RUNTIME_SAVEDACTIVATIONS_H
#define MHA_LIB_RUNTIME_SAVEDACTIVATIONS_H

#include "CallCheck.h"
#include "Status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a layer call uses the saved activations. */
typedef struct mha_rt_saved_use {
  bool writes; /* <name>_forward_train: the phases write them. */
  bool reads;  /* <name>_backward given them: recomputation skipped. */
  unsigned char *base;
  size_t next; /* The offset of the next saved temporary. */
} mha_rt_saved_use;

/* Checks options->saved_activations of a layer call against the layer's
 * temporaries (the words of its signature's layer section) and the call's
 * B and L; fills `use`. A backward's buffer must carry the header a
 * forward_train call of this layer with this B and L wrote. */
MHA_RT_HIDDEN int32_t mha_rt_plan_saved_use(mha_rt_saved_use *use,
                                            const mha_rt_checked_call *c,
                                            bool forward_train,
                                            const int64_t *temp_words,
                                            int64_t num_temps);

/* The place of the next saved temporary of `bytes` bytes in the buffer. */
MHA_RT_HIDDEN void *mha_rt_next_saved(mha_rt_saved_use *use, size_t bytes);

/* After a forward_train call's phases: records the layer, B and L. */
MHA_RT_HIDDEN void mha_rt_finish_saved(const mha_rt_saved_use *use,
                                       const mha_rt_checked_call *c,
                                       const int64_t *temp_words,
                                       int64_t num_temps);

#endif /* MHA_LIB_RUNTIME_SAVEDACTIVATIONS_H */
