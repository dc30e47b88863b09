//===- HeadParams.h - Per-head parameter tables -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The values a kernel needs for query head h (score scale with its
// temperature, ALiBi slope, window, sinks, static head mask), read from
// constant tables indexed by h, or constants when every head agrees. CPU
// work items and GPU kernels read them the same way.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_HEADPARAMS_H
#define MHA_CODEGEN_HEADPARAMS_H

#include "mha/Codegen/Builder.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Semantics/KeyVisibility.h"

namespace mlir::mha {

/// Per-head constants: a constant when every head has the same value, else
/// a load from a private constant memref.global `<prefix>__<name>`, created
/// once in `symbolTable` (a builtin.module or a gpu.module).
class ConstantTables {
public:
  ConstantTables(CodegenBuilder &cb, Operation *symbolTable, StringRef prefix)
      : cb(cb), symbolTable(symbolTable), prefix(prefix) {}

  Value f32(StringRef name, ArrayRef<float> values, Value h);
  Value index(StringRef name, ArrayRef<int64_t> values, Value h);
  Value boolean(StringRef name, ArrayRef<bool> values, Value h);

private:
  Value load(StringRef name, DenseElementsAttr values, Value h);

  CodegenBuilder &cb;
  Operation *symbolTable;
  std::string prefix;
};

/// The parameters of query head `head`.
struct HeadParams {
  Value scoreScale; // scale / temperature[h]
  Value alibiSlope;
  Value windowLeft, windowRight, sinks; // index; -1: unbounded side
  Value staticAlive;                    // i1: head_mask[h]
  // With a dropout attribute: the i32 floor(p[h] * 2^32) and the f32
  // 1 / (1 - p[h]) kept probabilities are scaled by; null without.
  Value dropoutThreshold, dropoutKeepScale;

  /// The masks of this head, for getKeyBounds (KeyVisibility.h).
  MaskParams<Value> masks(const AttentionVariant &variant) const {
    return {variant.causal, windowLeft, windowRight, sinks};
  }
};

/// The RoPE frequencies rope_theta^(-2t/D), t < D/2 (D = `ropeDim`), as the
/// constant f64 table `<prefix>__rope_freqs` in `symbolTable` (created on
/// first use): every kernel that rotates by RoPE reads them, angles in f64
/// and the rotation in f32 (docs/language.md 5.6).
Value getRopeFrequencies(CodegenBuilder &cb, Operation *symbolTable,
                         StringRef prefix, double theta, int64_t ropeDim);

/// Emits the reads of head `head`'s parameters from tables named after
/// `prefix` in `symbolTable`.
HeadParams emitHeadParams(CodegenBuilder &cb, Operation *symbolTable,
                          StringRef prefix, const AttentionVariant &variant,
                          Value head);

/// ALiBi of the row whose diagonal key is `diag` (i + Lk - Lq, an index),
/// as every kernel computes it: the distance of key j is |origin - j| with
/// origin = alibiOrigin(diag) = max(diag, 0), the key of [0, Lk) nearest the
/// diagonal (diag <= Lk - 1 for every query row i < Lq). That is the
/// contract's |diag - j| less the row's smallest distance, exact in integer
/// arithmetic: the scores of rows far before the keys (Lq >> Lk) keep their
/// real range instead of a large common bias that f32 cannot hold. lse adds
/// the left-out bias back: alibiRowBias(slope, diag) = slope * min(diag, 0),
/// in f32 (probabilities and entropy do not depend on it). A causal row
/// with diag < 0 sees no key, so causal heads keep origin = diag (the causal
/// bound and ALiBi share one value) and have no bias to add back.
Value alibiOrigin(CodegenBuilder &cb, Value diag, bool causal);
Value alibiRowBias(CodegenBuilder &cb, Value slope, Value diag);
/// Whether some row's lse needs alibiRowBias.
inline bool alibiShiftsRows(const AttentionVariant &variant) {
  return variant.hasAlibi && !variant.causal;
}

} // namespace mlir::mha

#endif // MHA_CODEGEN_HEADPARAMS_H
