//===- QuantizeWeights.cpp - Constant layer weights to int8 -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-quantize-weights: each constant float weight of a layer becomes
// mha.quantized of int8 (or int4) values and an f32 scale per output
// column or per column and group of rows (symmetric, max|group| / 127 or
// / 7), what mha.quantize.weight computes in Python. The remark on each
// weight says what the rounding costs.
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
    if ((bits != 8 && bits != 4) || groupSize < 0) {
      getOperation()->emitError()
          << "mha-quantize-weights: 'bits' must be 8 or 4 and 'group-size' "
             ">= 0, got "
          << int64_t(bits) << " and " << int64_t(groupSize);
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
  /// its values and scales, with a remark.
  void quantize(MultiHeadOp op, OpOperand &operand, StringRef name) {
    auto constant = operand.get().getDefiningOp<arith::ConstantOp>();
    auto dense =
        constant ? dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
    if (!dense || !isa<FloatType>(dense.getElementType()))
      return;
    auto type = cast<RankedTensorType>(dense.getType());
    int64_t m = type.getDimSize(0), n = type.getDimSize(1);
    int64_t rows = groupSize > 0 ? groupSize : m;
    if (m % rows != 0 || (bits == 4 && n % 2 != 0)) {
      emitWarning(op.getLoc()) << llvm::formatv(
          "mha-quantize-weights: '{0}' [{1}x{2}] stays as it is: {3}", name, m,
          n,
          m % rows != 0 ? llvm::formatv("groups of {0} rows do not divide "
                                        "its {1} rows",
                                        rows, m)
                              .str()
                        : std::string("int4 needs an even number of columns"));
      return;
    }
    std::vector<double> w;
    w.reserve(m * n);
    for (APFloat v : dense.getValues<APFloat>()) {
      bool lost;
      v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      w.push_back(v.convertToDouble());
    }
    // One scale per column and group: max |W[group, j]| / levels, 1 for
    // zeros.
    double levels = bits == 8 ? 127.0 : 7.0;
    int64_t groups = m / rows;
    SmallVector<float> scales(groups * n, 0.0f);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float &s = scales[i / rows * n + j];
        s = std::max(s, float(std::fabs(w[i * n + j])));
      }
    for (float &s : scales)
      s = s > 0.0f ? float(s / levels) : 1.0f;
    // int4: column 2c in the low nibble of byte c.
    int64_t width = bits == 8 ? n : n / 2;
    SmallVector<int8_t> values(m * width, 0);
    double err = 0.0, norm = 0.0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double x = w[i * n + j], s = scales[i / rows * n + j];
        double q = std::clamp(std::nearbyint(x / s), -levels, levels);
        if (bits == 8)
          values[i * n + j] = int8_t(q);
        else
          values[i * width + j / 2] |=
              int8_t((int(q) & 0xF) << (j % 2 ? 4 : 0));
        double d = x - q * s;
        err += d * d;
        norm += x * x;
      }
    double relErr = norm > 0.0 ? std::sqrt(err / norm) : 0.0;

    OpBuilder b(op);
    Location loc = operand.get().getLoc();
    auto valuesType = RankedTensorType::get({m, width}, b.getI8Type());
    auto scaleType = groupSize > 0
                         ? RankedTensorType::get({groups, n}, b.getF32Type())
                         : RankedTensorType::get({n}, b.getF32Type());
    Value valuesConst = arith::ConstantOp::create(
        b, loc, valuesType,
        DenseElementsAttr::get(valuesType, ArrayRef<int8_t>(values)));
    Value scaleConst = arith::ConstantOp::create(
        b, loc, scaleType,
        DenseElementsAttr::get(scaleType, ArrayRef<float>(scales)));
    operand.set(QuantizedOp::create(b, loc, type, valuesConst, scaleConst, bits)
                    .getResult());
    if (constant->use_empty())
      constant->erase();
    int64_t before = m * n * int64_t(type.getElementTypeBitWidth() / 8);
    int64_t after = m * width + 4 * int64_t(scales.size());
    std::string scaleText =
        groupSize > 0 ? llvm::formatv("{0}x{1} group scales ({2} rows each)",
                                      groups, n, rows)
                            .str()
                      : llvm::formatv("{0} column scales", n).str();
    emitRemark(op.getLoc()) << llvm::formatv(
        "mha-quantize-weights: '{0}' [{1}x{2}] -> int{3} with {4}: relative "
        "error {5:e2} (Frobenius), {6} -> {7} bytes",
        name, m, n, bits, scaleText, relErr, before, after);
  }
};

} // namespace
