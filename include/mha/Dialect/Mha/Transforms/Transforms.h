//===- Transforms.h - Pattern sets of the mha transforms --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_TRANSFORMS_H
#define MHA_DIALECT_MHA_TRANSFORMS_TRANSFORMS_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::mha {

/// mha.multi_head -> mha.linear + mha.split_heads + mha.attention +
/// mha.merge_heads + mha.linear (mha-expand-layer).
void populateExpandLayerPatterns(RewritePatternSet &patterns);

/// A static head_mask on an expanded layer's attention -> live blocks on its
/// projections (mha-prune-heads).
void populatePruneHeadsPatterns(RewritePatternSet &patterns);

/// mha-fuse: the Q, K and V projections of an attention become one
/// projection over their concatenated weights.
void populateFuseProjectionsPatterns(RewritePatternSet &patterns);

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_TRANSFORMS_TRANSFORMS_H
