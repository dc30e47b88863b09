//===- MhaToVector.h - Tiled mha ops to loops over vectors ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_CONVERSION_MHATOVECTOR_MHATOVECTOR_H
#define MHA_CONVERSION_MHATOVECTOR_MHATOVECTOR_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir {
class RewritePatternSet;
namespace mha {

/// Patterns lowering mha.online_softmax_step, mha.online_softmax_finalize,
/// mha.attention_probs, mha.pack_panel and mha.gemm_tile to scf loops over
/// vector ops.
void populateMhaToVectorPatterns(RewritePatternSet &patterns);

/// The register-blocked lowering of mha.online_softmax_step alone.
void populateOnlineSoftmaxStepLoweringPatterns(RewritePatternSet &patterns);

/// The register-blocked lowering of a layer's GEMM work, mha.pack_panel and
/// mha.gemm_tile.
void populateLayerGemmLoweringPatterns(RewritePatternSet &patterns);

/// The lowering of an absorbed latent step's per-head products,
/// mha.head_gemm.
void populateHeadGemmLoweringPatterns(RewritePatternSet &patterns);

/// The lowering of a layer backward's weight gradients,
/// mha.weight_grad_tile.
void populateWeightGradLoweringPatterns(RewritePatternSet &patterns);

} // namespace mha
} // namespace mlir

#endif // MHA_CONVERSION_MHATOVECTOR_MHATOVECTOR_H
