//===- AttentionKlReference.h - float64 attention KL ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A direct float64 implementation of mha.attention_kl (docs/language.md
// 4.9) and of its student gradient, used to check generated libraries
// (mha-run). Tensors are contiguous [B, H, L, D] (and [B, H, L] rows). No
// MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_REFERENCE_ATTENTIONKLREFERENCE_H
#define MHA_REFERENCE_ATTENTIONKLREFERENCE_H

#include <cstdint>
#include <vector>

namespace mlir::mha::reference {

/// The sizes and attributes of one attention-transfer loss.
struct KlProblem {
  int64_t batch = 1, heads = 1, teacherKvHeads = 1, studentKvHeads = 1,
          queryLen = 1, keyLen = 1, teacherDim = 1, studentDim = 1;
  double teacherScale = 1.0, studentScale = 1.0;
  bool causal = false;
};

/// kl, lse_t and lse_s, each [B, H, Lq]: a row without a visible key has
/// kl 0 and both lse -inf.
struct KlResults {
  std::vector<double> kl, teacherLse, studentLse;
};
KlResults attentionKl(const KlProblem &p, const std::vector<double> &qt,
                      const std::vector<double> &kt,
                      const std::vector<double> &qs,
                      const std::vector<double> &ks);

/// The gradients of sum dkl * kl with respect to q_s [B, H, Lq, D_s] and
/// k_s [B, Hkv_s, Lk, D_s]: dS = dkl_i scale_s (P_s - P_t) per visible
/// pair, summed over the query heads that share a KV head.
struct KlGradients {
  std::vector<double> dq, dk;
};
KlGradients attentionKlGradients(const KlProblem &p,
                                 const std::vector<double> &qt,
                                 const std::vector<double> &kt,
                                 const std::vector<double> &qs,
                                 const std::vector<double> &ks,
                                 const std::vector<double> &dkl);

} // namespace mlir::mha::reference

#endif // MHA_REFERENCE_ATTENTIONKLREFERENCE_H
