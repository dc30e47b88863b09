//===- VectorEmitter.h - Helpers of the mha-to-vector lowering --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/MhaToVector: the score and mask operands shared
// by the attention lowerings, the final statistics of a row, and whole-row
// loads and stores. Arithmetic and loops come from mha/Codegen/Builder.h.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_MHATOVECTOR_VECTOREMITTER_H
#define MHA_LIB_CONVERSION_MHATOVECTOR_VECTOREMITTER_H

#include "mha/Codegen/Builder.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Semantics/KeyVisibility.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <optional>

namespace mlir::mha::detail {

/// Loads row `r` of a [rows, n] tile as vector<n x f32>, widening f16/bf16.
Value loadRow(CodegenBuilder &cb, Value tile, Value r);
/// Stores an f32 row into a [rows, n] tile, narrowing to its element type.
void storeRow(CodegenBuilder &cb, Value row, Value tile, Value r);

/// The operands and attributes that define scores and masks; shared by the
/// step and probs ops.
struct ScoreSpec {
  Value scale, slope, queryPos, keyPos, windowLeft, windowRight, sinks;
  std::optional<float> softcap;
  bool causal, hasAlibi;

  template <typename OpTy> static ScoreSpec get(OpTy op) {
    ScoreSpec s;
    s.scale = op.getScoreScale();
    s.slope = op.getAlibiSlope();
    s.queryPos = op.getQueryPos();
    s.keyPos = op.getKeyPos();
    s.windowLeft = op.getWindowLeft();
    s.windowRight = op.getWindowRight();
    s.sinks = op.getSinkTokens();
    if (FloatAttr cap = op.getSoftcapAttr())
      s.softcap = cap.getValue().convertToFloat();
    s.causal = op.getCausal();
    s.hasAlibi = op.getHasAlibi();
    return s;
  }

  /// The masks of the head, for getKeyBounds (mha/Semantics/KeyVisibility.h).
  MaskParams<Value> masks() const {
    return {causal, windowLeft, windowRight, sinks};
  }
};

/// The final statistics of row `r` of a tile.
struct RowStats {
  Value max, sum;
  Value any;     // some key was visible (sum != 0, or NaN)
  Value valid;   // any && the head is alive
  Value safeSum; // sum, or 1 for empty rows so they form no NaN or inf
  static RowStats load(CodegenBuilder &cb, Value rowMax, Value rowSum,
                       Value alive, Value r);
};

} // namespace mlir::mha::detail

#endif // MHA_LIB_CONVERSION_MHATOVECTOR_VECTOREMITTER_H
