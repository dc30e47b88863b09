//===- LayerReference.h - float64 reference of mha.multi_head ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// docs/language.md's layer, directly in float64: projections (+ biases), RoPE
// (GPT-NeoX pairs, positions 0..L-1), the attention of AttentionReference.h
// and the output projection. No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_REFERENCE_LAYERREFERENCE_H
#define MHA_REFERENCE_LAYERREFERENCE_H

#include "mha/Reference/AttentionBackward.h"
#include "mha/Reference/AttentionReference.h"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::mha::reference {

/// One layer: `attention` holds B, Hq, Hkv, L (= Lq = Lk), D, Dv (= D but
/// with latent sharing) and the variant.
struct LayerProblem {
  AttentionProblem attention;
  int64_t modelDim = 1;
  // Column groups of wq and of wk/wv: heads (independent), 1 (shared), or
  // #mha.sharing<grouped>'s; consecutive heads share a group's columns.
  int64_t queryGroups = 1, kvGroups = 1;
  // #mha.sharing<latent> when latentRank > 0: the latent's rank r, the RoPE
  // key's columns Dr and each head's key part Dn (D = Dn + Dr).
  int64_t latentRank = 0, ropeKeyDim = 0, nopeDim = 0;
  // rms_norm_eps: the latent (and a low-rank Wq's rank product, given as
  // wqDown / wqUp) divided by its RMS before the up-projection.
  std::optional<double> rmsNormEps;
  // Int8 weights (wq, wk, wv, wo) whose projections, on CPUs with
  // AVX512-VNNI (int8Activations), multiply int8 rows of their input:
  // each row quantized as q = round(x / s), s = max|x| / 127, in float32
  // (docs/language.md 5.5).
  std::array<bool, 4> int8Weights{};
  bool int8Activations = false;
  bool hasQkvBias = false, hasOutBias = false;
  std::optional<double> ropeTheta;
};

/// The layer's tensors, compact row-major: x [B, L, d]; wq [d, Gq*D];
/// wk, wv [d, Gkv*D]; wo [Hq*D, d]; bq [Hq*D] (or [Hq, D], the same
/// elements), bk, bv [Hkv*D]; bo [d]. Absent biases are empty. A latent
/// layer's: wq [d, Hq*(Dn+Dr)], wk [d, r+Dr], wv [r, Hq*(Dn+Dv)],
/// wo [Hq*Dv, d].
struct LayerTensors {
  std::vector<double> x, wq, wk, wv, wo, bq, bk, bv, bo;
  // A latent layer's low-rank Wq with rms_norm_eps: its factors (the norm
  // sits between them), wq empty.
  std::vector<double> wqDown, wqUp;
};

/// y [B, L, d]; the attention's results (lse, probs, entropy of the
/// layer's heads) in `attention` when it is not null.
std::vector<double> computeLayer(const LayerProblem &problem,
                                 const LayerTensors &tensors,
                                 AttentionResult *attention = nullptr);

/// The gradients of L = sum dy . y with respect to every tensor of the
/// layer, in LayerTensors' layouts (biases empty when absent); the
/// attention's through computeAttentionBackward (dropout, masks, pruned
/// heads). For the layers `mha.backward` accepts (no int8 weights); a
/// low-rank weight's gradient is its product's, but for a latent layer's
/// normalised low-rank Wq, whose factors get theirs.
struct LayerGradients {
  std::vector<double> dx, dwq, dwk, dwv, dwo, dbq, dbk, dbv, dbo;
  std::vector<double> dwqDown, dwqUp;
};
LayerGradients computeLayerBackward(const LayerProblem &problem,
                                    const LayerTensors &tensors,
                                    const std::vector<double> &dy);

} // namespace mlir::mha::reference

#endif // MHA_REFERENCE_LAYERREFERENCE_H
