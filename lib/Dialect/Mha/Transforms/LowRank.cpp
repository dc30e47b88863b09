//===- LowRank.cpp - Weights to low-rank factors ----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-low-rank: a truncated SVD (LAPACK's dgesdd, in float64) of each
// constant weight of a layer, kept as mha.low_rank of two constants when it
// saves flops. The remark on each weight says what the truncation costs,
// measured on the factors as rounded to the weight's element type.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <lapacke.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace mlir::mha {
#define GEN_PASS_DEF_MHALOWRANKPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-low-rank"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// W [m, n] = U diag(s) V^T, the thin SVD (k = min(m, n) values, largest
/// first), row-major U [m, k] and VT [k, n].
struct Svd {
  int64_t m = 0, n = 0, k = 0;
  std::vector<double> u, s, vt;
};

std::optional<Svd> computeSvd(const std::vector<double> &w, int64_t m,
                              int64_t n) {
  Svd svd;
  svd.m = m;
  svd.n = n;
  svd.k = std::min(m, n);
  std::vector<double> a(w); // dgesdd overwrites its input.
  svd.u.resize(m * svd.k);
  svd.s.resize(svd.k);
  svd.vt.resize(svd.k * n);
  lapack_int info =
      LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', lapack_int(m), lapack_int(n),
                     a.data(), lapack_int(n), svd.s.data(), svd.u.data(),
                     lapack_int(svd.k), svd.vt.data(), lapack_int(n));
  if (info != 0)
    return std::nullopt;
  return svd;
}

/// The rank to keep: `rank` (at most k), or the fewest singular values
/// whose squares sum to `energy` of the total.
int64_t chooseRank(const Svd &svd, int64_t rank, double energy) {
  if (rank > 0)
    return std::min(rank, svd.k);
  double total = 0.0;
  for (double v : svd.s)
    total += v * v;
  double kept = 0.0;
  for (int64_t r = 0; r < svd.k; ++r) {
    kept += svd.s[r] * svd.s[r];
    if (kept >= energy * total * (1.0 - 1e-12))
      return r + 1;
  }
  return svd.k;
}

std::vector<double> toDoubles(DenseElementsAttr dense) {
  std::vector<double> values;
  values.reserve(dense.getNumElements());
  for (APFloat v : dense.getValues<APFloat>()) {
    bool lost;
    v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    values.push_back(v.convertToDouble());
  }
  return values;
}

/// `values` rounded to `type`'s element type, as a constant; `rounded`
/// receives what the constant holds.
DenseElementsAttr toConstant(RankedTensorType type,
                             const std::vector<double> &values,
                             std::vector<double> &rounded) {
  auto elt = cast<FloatType>(type.getElementType());
  SmallVector<APFloat> floats;
  rounded.clear();
  for (double v : values) {
    APFloat f(v);
    bool lost;
    f.convert(elt.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
    floats.push_back(f);
    APFloat back = f;
    back.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    rounded.push_back(back.convertToDouble());
  }
  return DenseElementsAttr::get(type, floats);
}

struct MhaLowRankPass : public mha::impl::MhaLowRankPassBase<MhaLowRankPass> {
  using MhaLowRankPassBase::MhaLowRankPassBase;

  void runOnOperation() override {
    if (rank < 0 || (rank == 0 && !(energy > 0.0 && energy <= 1.0))) {
      getOperation()->emitError()
          << "mha-low-rank needs 'rank' >= 1, or 'energy' in (0, 1], got "
          << "rank = " << int64_t(rank) << " and energy = " << double(energy);
      return signalPassFailure();
    }
    for (const std::string &w : weights)
      if (!llvm::is_contained({"wq", "wk", "wv", "wo"}, w)) {
        getOperation()->emitError() << "mha-low-rank: unknown weight '" << w
                                    << "' in 'weights' (wq, wk, wv or wo)";
        return signalPassFailure();
      }
    WalkResult result = getOperation()->walk([&](MultiHeadOp op) {
      std::pair<OpOperand *, StringRef> operands[] = {
          {&op.getWqMutable(), "wq"},
          {&op.getWkMutable(), "wk"},
          {&op.getWvMutable(), "wv"},
          {&op.getWoMutable(), "wo"}};
      // A latent layer's wk and wv are its latent projections already.
      bool latent = op.getSharingScheme() == Sharing::latent;
      for (auto [operand, name] : operands)
        if ((weights.empty() || llvm::is_contained(weights, name.str())) &&
            !(latent && (name == "wk" || name == "wv")) &&
            failed(factor(op, *operand, name)))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  /// Replaces the constant weight in `operand` by its factors, if it has
  /// them and they save flops; a remark either way.
  LogicalResult factor(MultiHeadOp op, OpOperand &operand, StringRef name) {
    auto constant = operand.get().getDefiningOp<arith::ConstantOp>();
    auto dense =
        constant ? dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
    if (!dense)
      return success();
    auto type = cast<RankedTensorType>(dense.getType());
    int64_t m = type.getDimSize(0), n = type.getDimSize(1);
    std::vector<double> w = toDoubles(dense);
    std::optional<Svd> svd = computeSvd(w, m, n);
    if (!svd)
      return op.emitError()
             << "mha-low-rank: the SVD of '" << name << "' did not converge";
    int64_t r = chooseRank(*svd, rank, energy);
    double total = 0.0, kept = 0.0;
    for (int64_t i = 0; i < svd->k; ++i) {
      total += svd->s[i] * svd->s[i];
      kept += i < r ? svd->s[i] * svd->s[i] : 0.0;
    }
    double keptShare = total > 0.0 ? kept / total : 1.0;
    if (r * (m + n) >= m * n) {
      emitRemark(op.getLoc())
          << "mha-low-rank: '" << name << "' [" << m << "x" << n
          << "] kept whole: rank " << r << " factors take " << r * (m + n)
          << " multiply-adds per row, not fewer "
          << "than its " << m * n;
      return success();
    }
    // down = U_r sqrt(S_r), up = sqrt(S_r) V_r^T: both factors of the same
    // scale, so rounding them to bf16 or f16 costs alike.
    std::vector<double> down(m * r), up(r * n);
    for (int64_t l = 0; l < r; ++l) {
      double root = std::sqrt(svd->s[l]);
      for (int64_t i = 0; i < m; ++i)
        down[i * r + l] = svd->u[i * svd->k + l] * root;
      for (int64_t j = 0; j < n; ++j)
        up[l * n + j] = root * svd->vt[l * n + j];
    }
    Type elt = type.getElementType();
    auto downType = RankedTensorType::get({m, r}, elt);
    auto upType = RankedTensorType::get({r, n}, elt);
    std::vector<double> downRounded, upRounded;
    DenseElementsAttr downAttr = toConstant(downType, down, downRounded);
    DenseElementsAttr upAttr = toConstant(upType, up, upRounded);
    // The error the compiled layer sees: W against the rounded factors.
    double err = 0.0, norm = 0.0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double p = 0.0;
        for (int64_t l = 0; l < r; ++l)
          p += downRounded[i * r + l] * upRounded[l * n + j];
        double d = w[i * n + j] - p;
        err += d * d;
        norm += w[i * n + j] * w[i * n + j];
      }
    double relErr = norm > 0.0 ? std::sqrt(err / norm) : 0.0;

    OpBuilder b(op);
    Location loc = operand.get().getLoc();
    Value downValue = arith::ConstantOp::create(b, loc, downType, downAttr);
    Value upValue = arith::ConstantOp::create(b, loc, upType, upAttr);
    Value factors = LowRankOp::create(b, loc, type, downValue, upValue);
    operand.set(factors);
    if (constant->use_empty())
      constant->erase();
    emitRemark(op.getLoc()) << llvm::formatv(
        "mha-low-rank: '{0}' [{1}x{2}] -> rank {3}: keeps {4:P2} of the "
        "energy, relative error {5:e2} (Frobenius, factors rounded to {6}), "
        "{7:f2}x fewer multiply-adds",
        name, m, n, r, keptShare, relErr,
        [&] {
          std::string s;
          llvm::raw_string_ostream os(s);
          os << elt;
          return s;
        }(),
        double(m * n) / double(r * (m + n)));
    return success();
  }
};

} // namespace
