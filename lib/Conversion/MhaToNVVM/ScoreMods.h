//===- ScoreMods.h - Per-head parameters and score modifiers ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToNVVM: what the flash kernel does to the
// scores of a key tile between S = Q.K^T and the softmax (scale with the
// head's temperature, softcap, ALiBi, in base 2; the masks), and the head
// parameters it reads for that. The tables and the visibility rule are
// the shared ones (mha/Codegen/HeadParams.h, mha/Semantics/KeyVisibility.h);
// the runtime head-mask byte is the GPU kernel's own parameter.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATONVVM_SCOREMODS_H
#define MHA_LIB_CONVERSION_MHATONVVM_SCOREMODS_H

#include "PtxBuilder.h"

#include "mha/Codegen/HeadParams.h"

namespace mlir::mha {

/// The parameters of one query head in a kernel.
struct GpuHeadParams {
  Value head;
  HeadParams params;
  /// i1: the head is computed (static head_mask and the runtime mask).
  Value alive;
};

/// Reads head `head`'s parameters from the tables named after `prefix` in
/// `symbolTable` (the gpu.module), and its byte of the runtime head mask
/// `headMask` (a memref<?xi8>, empty when every head is alive).
GpuHeadParams emitGpuHeadParams(CodegenBuilder &cb, Operation *symbolTable,
                                StringRef prefix,
                                const AttentionVariant &variant, Value head,
                                Value headMask);

/// Batch element `batch`'s length from `lengths` (kv_lens or q_lens, i32
/// [B]) clamped to [0, size]: whatever the lengths hold, nothing past the
/// tensors is read (checking them on the host would wait for the stream).
/// `size` itself without lengths.
Value loadClampedLength(CodegenBuilder &cb, Value lengths, Value batch,
                        Value size);

/// Applies the score modifiers to the S accumulators of a warp's row tiles.
/// A thread holds rows g and g + 8 (g = `groupId`) and columns 2t, 2t + 1
/// (t = `threadInGroup`) of each 8-column tile (Frag).
class ScoreModifier {
public:
  ScoreModifier(CodegenBuilder &cb, PtxBuilder &ptx,
                const AttentionVariant &variant, Value groupId,
                Value threadInGroup, Value diagOffset)
      : cb(cb), ptx(ptx), variant(variant), groupId(groupId),
        threadInGroup(threadInGroup), diagOffset(diagOffset) {}

  /// The scores of `s` (16 rows from `rowBase` of head `hp`, keys from `j0`
  /// on, 8 per Frag) after scale, softcap and ALiBi, in base 2, four per
  /// Frag in its order; with `masked`, -inf for keys at or past `jEnd` and
  /// keys the masks hide from the row. With softcap and `capSlopes`, also
  /// the derivative of the cap, 1 - tanh^2, per score (the backward's).
  SmallVector<Value> apply(ArrayRef<Frag> s, const GpuHeadParams &hp,
                           Value rowBase, Value j0, Value jEnd, bool masked,
                           SmallVector<Value> *capSlopes = nullptr);

private:
  CodegenBuilder &cb;
  PtxBuilder &ptx;
  const AttentionVariant &variant;
  Value groupId, threadInGroup, diagOffset;
};

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_MHATONVVM_SCOREMODS_H
