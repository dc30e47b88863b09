//===- Prune.h - Pruning plans from head importance -------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha-analyze --prune: which heads to prune (the least important alive
// ones), and the spec rewrites that prune them through the static
// head_mask and that time a function with and without them.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_TOOLS_MHA_ANALYZE_PRUNE_H
#define MHA_TOOLS_MHA_ANALYZE_PRUNE_H

#include "Report.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::mha::analysis {

/// The number of heads --prune asks for out of `alive`: an integer N >= 1,
/// or a fraction in (0, 1) of the alive heads (rounded, at least 1); an
/// error when it would leave no head alive.
std::optional<std::string> getPruneCount(llvm::StringRef text, int64_t alive,
                                         int64_t &count);

/// The `count` alive heads of `a` that rank lowest by ablation importance
/// (or by gradient importance), least important first; ties go to the
/// lower head.
std::vector<int64_t> chooseHeadsToPrune(const FunctionAnalysis &a,
                                        int64_t count, bool byGradient);

/// "[2, 5]".
std::string formatHeads(llvm::ArrayRef<int64_t> heads);

/// Sets the heads `pruned` false in the static head_mask of `func`'s
/// mha.attention or mha.multi_head.
void addPrunedHeads(func::FuncOp func, llvm::ArrayRef<int64_t> pruned);

/// Rewrites `func` (one mha.attention or mha.multi_head) to compute and
/// return its output (o, or a layer's y) alone: the function mha-analyze
/// times.
void keepOutputOnly(func::FuncOp func);

} // namespace mlir::mha::analysis

#endif // MHA_TOOLS_MHA_ANALYZE_PRUNE_H
