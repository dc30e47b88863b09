//===- AttentionBackward.h - float64 gradients of attention -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The float64 reference of `<name>_backward` (docs/language.md, 6.7): the
// exact gradients of every attribute of mha.attention, analytically, against
// which the generated backward kernels are checked. No MLIR.
//
// The forward with dropout is computeAttention itself (AttentionReference.h):
// it applies AttentionProblem::dropout to o, so forward and backward checks
// share one definition of the mask.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_REFERENCE_ATTENTIONBACKWARD_H
#define MHA_REFERENCE_ATTENTIONBACKWARD_H

#include "mha/Reference/AttentionReference.h"

#include <vector>

namespace mlir::mha::reference {

/// The forward results and the gradients of the loss
///   L = sum_{b,h,i} dout[b,h,i,:] . o[b,h,i,:]
///     + sum_{b,h,i} dentropy[b,h,i] * entropy[b,h,i]
/// with respect to q, k and v, compact like the inputs ([B,Hq,Lq,D],
/// [B,Hkv,Lk,D], [B,Hkv,Lk,Dv]). Empty rows, pruned heads and keys no query
/// sees get exact zeros.
struct AttentionGradients {
  AttentionResult forward; // computeAttention's results, o with dropout
  std::vector<double> dQuery, dKey, dValue;
};

/// Computes the forward and the gradients; `dEntropy` is empty (no entropy
/// term) or has [B,Hq,Lq] values.
AttentionGradients computeAttentionBackward(
    const AttentionProblem &problem, const std::vector<double> &query,
    const std::vector<double> &key, const std::vector<double> &value,
    const std::vector<double> &dOutput,
    const std::vector<double> &dEntropy = {});

/// The keep mask of the problem's dropout, [B,Hq,Lq,Lk] (all 1 without
/// dropout), e.g. to compare with a kernel's mask in a debugging check.
std::vector<char> computeDropoutMask(const AttentionProblem &problem);

} // namespace mlir::mha::reference

#endif // MHA_REFERENCE_ATTENTIONBACKWARD_H
