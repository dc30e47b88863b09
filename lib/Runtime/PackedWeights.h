//===- PackedWeights.h - Panels kept across layer calls -----------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The packed weights of a layer function (its fixed temporaries), kept after
// a call that set mha_options.reuse_packed_weights so that the next such
// call with the same weight tensors skips its packing phases. One entry per
// function, keyed by the function (its signature table and the ISA copy it
// runs) and by the weight tensors' addresses, shapes and strides. An entry
// in use by a running call (a lease) is never freed or replaced.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_PACKEDWEIGHTS_H
#define MHA_LIB_RUNTIME_PACKEDWEIGHTS_H

#include "CallCheck.h"

#include "mha/Runtime/KernelAbi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// At most this many fixed temporaries per layer (f32/bf16 panels, i8
/// panels).
#define MHA_RT_MAX_PACKED 4

/// What identifies a call's packed weights.
typedef struct mha_rt_packed_key {
  const int64_t *signature;
  uintptr_t work; // The ISA copy's work function: panels differ by copy.
  int num_words;
  int64_t words[MHA_RT_MAX_TENSORS * (2 + 2 * MHA_SIG_MAX_RANK)];
} mha_rt_packed_key;

/// The key of call `c` of the function with `signature` and work function
/// `work`: every weight, bias and weight scale it reads.
void mha_rt_packed_key_of(mha_rt_packed_key *key, const int64_t *signature,
                          uintptr_t work, const mha_rt_checked_call *c);

/// If panels of `key` are kept, leases them: `buffers[i]` gets the i-th
/// fixed temporary (of at least `bytes[i]` bytes) and true is returned; the
/// caller ends the lease with mha_rt_packed_release.
bool mha_rt_packed_acquire(const mha_rt_packed_key *key, int n,
                           const size_t *bytes, void **buffers);
void mha_rt_packed_release(const mha_rt_packed_key *key);

/// Drops the panels kept for `key`'s weights, which a call without
/// reuse_packed_weights may have written in place: freed now, or when the
/// last call leasing them ends (no new call gets them).
void mha_rt_packed_forget(const mha_rt_packed_key *key);

/// Keeps `buffers` (allocated with malloc-compatible allocators, `bytes`
/// each) as the panels of `key`, replacing those kept for the same weights
/// unless a call leases them, else taking a free slot or that of the least
/// recently used set no call leases. Returns whether it took them (the
/// caller frees them otherwise).
bool mha_rt_packed_store(const mha_rt_packed_key *key, int n,
                         void *const *buffers, const size_t *bytes);

/// Frees every entry not leased; returns the bytes freed.
size_t mha_rt_packed_release_all(void);
/// The bytes of the kept panels.
size_t mha_rt_packed_bytes(void);

#endif // MHA_LIB_RUNTIME_PACKEDWEIGHTS_H
