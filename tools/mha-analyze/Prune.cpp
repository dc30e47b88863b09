//===- Prune.cpp - Pruning plans from head importance -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "Prune.h"

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/IR/Builders.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::analysis;

std::optional<std::string>
mlir::mha::analysis::getPruneCount(llvm::StringRef text, int64_t alive,
                                   int64_t &count) {
  double fraction = 0.0;
  if (!text.getAsInteger(10, count)) {
    if (count < 1)
      return llvm::formatv("--prune={0}: give N >= 1 heads or a fraction in "
                           "(0, 1)",
                           text)
          .str();
  } else if (!text.getAsDouble(fraction) && fraction > 0.0 && fraction < 1.0) {
    count = std::max<int64_t>(1, std::llround(fraction * double(alive)));
  } else {
    return llvm::formatv("--prune={0}: give N >= 1 heads or a fraction in "
                         "(0, 1)",
                         text)
        .str();
  }
  if (count >= alive)
    return llvm::formatv("--prune={0} asks for {1} of the {2} alive heads: "
                         "at least one must stay",
                         text, count, alive)
        .str();
  return std::nullopt;
}

std::vector<int64_t>
mlir::mha::analysis::chooseHeadsToPrune(const FunctionAnalysis &a,
                                        int64_t count, bool byGradient) {
  std::vector<int64_t> alive;
  for (int64_t h = 0; h < int64_t(a.heads.size()); ++h)
    if (!a.pruned[h])
      alive.push_back(h);
  auto measure = [&](int64_t h) {
    return byGradient ? a.gradImportance[h] : a.heads[h].importance;
  };
  std::stable_sort(alive.begin(), alive.end(), [&](int64_t x, int64_t y) {
    return measure(x) < measure(y);
  });
  alive.resize(std::min<size_t>(alive.size(), size_t(count)));
  return alive;
}

std::string mlir::mha::analysis::formatHeads(llvm::ArrayRef<int64_t> heads) {
  std::string s = "[";
  for (auto [i, h] : llvm::enumerate(heads))
    s += (i ? ", " : "") + std::to_string(h);
  return s + "]";
}

/// The op mha-analyze analyses in `func`.
static Operation *getAnalysedOp(func::FuncOp func) {
  Operation *found = nullptr;
  func.walk([&](Operation *op) {
    if (isa<AttentionOp, MultiHeadOp>(op))
      found = op;
  });
  return found;
}

void mlir::mha::analysis::addPrunedHeads(func::FuncOp func,
                                         llvm::ArrayRef<int64_t> pruned) {
  Operation *op = getAnalysedOp(func);
  int64_t heads =
      isa<MultiHeadOp>(op)
          ? cast<MultiHeadOp>(op).getNumHeads()
          : cast<RankedTensorType>(cast<AttentionOp>(op).getQuery().getType())
                .getDimSize(1);
  SmallVector<bool> mask(heads, true);
  if (auto old = op->getAttrOfType<DenseBoolArrayAttr>("head_mask"))
    for (int64_t h = 0; h < heads; ++h)
      mask[h] = old.asArrayRef()[old.size() == 1 ? 0 : h];
  for (int64_t h : pruned)
    mask[h] = false;
  op->setAttr("head_mask", DenseBoolArrayAttr::get(func.getContext(), mask));
}

void mlir::mha::analysis::keepOutputOnly(func::FuncOp func) {
  Operation *op = getAnalysedOp(func);
  OpBuilder b(op);
  NamedAttrList attrs(op->getAttrDictionary());
  for (StringRef name : {"return_lse", "return_probs", "return_entropy"})
    attrs.erase(name);
  OperationState state(op->getLoc(), op->getName(), op->getOperands(),
                       TypeRange{op->getResult(0).getType()}, attrs.getAttrs());
  Operation *output = b.create(state);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  b.setInsertionPoint(ret);
  func::ReturnOp::create(b, ret.getLoc(), output->getResult(0));
  ret.erase();
  op->dropAllUses();
  op->erase();
  func.setType(b.getFunctionType(func.getArgumentTypes(),
                                 output->getResult(0).getType()));
}
