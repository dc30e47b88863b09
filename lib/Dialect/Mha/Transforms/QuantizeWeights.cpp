//===- QuantizeWeights.cpp - Constant layer weights to int8 -------*- C++
//-*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-quantize-weights: each constant float weight of a layer becomes
// mha.quantized of int8 values and one f32 scale per output column
// (symmetric, max|column| / 127), what mha.quantize.weight computes in
// Python. The remark on each weight says what the rounding costs.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>

namespace mlir::mha {
#define GEN_PASS_DEF_MHAQUANTIZEWEIGHTSPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-quantize-weights"

using namespace mlir;
using namespace mlir::mha;

namespace {

struct MhaQuantizeWeightsPass
    : public mha::impl::MhaQuantizeWeightsPassBase<MhaQuantizeWeightsPass> {
  using MhaQuantizeWeightsPassBase::MhaQuantizeWeightsPassBase;

  void runOnOperation() override {
    for (const std::string &w : weights)
      if (!llvm::is_contained({"wq", "wk", "wv", "wo"}, w)) {
        getOperation()->emitError() << "mha-quantize-weights: unknown weight '"
                                    << w << "' in 'weights' (wq, wk, wv or wo)";
        return signalPassFailure();
      }
    getOperation()->walk([&](MultiHeadOp op) {
      std::pair<OpOperand *, StringRef> operands[] = {
          {&op.getWqMutable(), "wq"},
          {&op.getWkMutable(), "wk"},
          {&op.getWvMutable(), "wv"},
          {&op.getWoMutable(), "wo"}};
      for (auto [operand, name] : operands)
        if (weights.empty() || llvm::is_contained(weights, name.str()))
          quantize(op, *operand, name);
    });
  }

  /// Replaces the constant float weight in `operand` by mha.quantized of
  /// its int8 values and column scales, with a remark.
  void quantize(MultiHeadOp op, OpOperand &operand, StringRef name) {
    auto constant = operand.get().getDefiningOp<arith::ConstantOp>();
    auto dense =
        constant ? dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
    if (!dense || !isa<FloatType>(dense.getElementType()))
      return;
    auto type = cast<RankedTensorType>(dense.getType());
    int64_t m = type.getDimSize(0), n = type.getDimSize(1);
    std::vector<double> w;
    w.reserve(m * n);
    for (APFloat v : dense.getValues<APFloat>()) {
      bool lost;
      v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      w.push_back(v.convertToDouble());
    }
    // One scale per column: max |W[:, j]| / 127, 1 for a zero column.
    SmallVector<float> scales(n, 0.0f);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        scales[j] = std::max(scales[j], float(std::fabs(w[i * n + j])));
    for (float &s : scales)
      s = s > 0.0f ? s / 127.0f : 1.0f;
    SmallVector<int8_t> values(m * n);
    double err = 0.0, norm = 0.0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double x = w[i * n + j];
        double q = std::clamp(std::nearbyint(x / scales[j]), -127.0, 127.0);
        values[i * n + j] = int8_t(q);
        double d = x - q * double(scales[j]);
        err += d * d;
        norm += x * x;
      }
    double relErr = norm > 0.0 ? std::sqrt(err / norm) : 0.0;

    OpBuilder b(op);
    Location loc = operand.get().getLoc();
    auto valuesType = RankedTensorType::get({m, n}, b.getI8Type());
    auto scaleType = RankedTensorType::get({n}, b.getF32Type());
    Value valuesConst = arith::ConstantOp::create(
        b, loc, valuesType,
        DenseElementsAttr::get(valuesType, ArrayRef<int8_t>(values)));
    Value scaleConst = arith::ConstantOp::create(
        b, loc, scaleType,
        DenseElementsAttr::get(scaleType, ArrayRef<float>(scales)));
    operand.set(
        QuantizedOp::create(b, loc, type, valuesConst, scaleConst).getResult());
    if (constant->use_empty())
      constant->erase();
    int64_t before = m * n * int64_t(type.getElementTypeBitWidth() / 8);
    int64_t after = m * n + 4 * n;
    emitRemark(op.getLoc()) << llvm::formatv(
        "mha-quantize-weights: '{0}' [{1}x{2}] -> int8 with {2} column "
        "scales: relative error {3:e2} (Frobenius), {4} -> {5} bytes",
        name, m, n, relErr, before, after);
  }
};

} // namespace
