//===- InitAllDialects.h - Register the mha dialects ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_INITALLDIALECTS_H
#define MHA_INITALLDIALECTS_H

#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::mha {

/// Adds every dialect this project defines to `registry`.
inline void registerAllMhaDialects(DialectRegistry &registry) {
  registry.insert<MhaDialect>();
}

/// Adds the dialects a spec is written in: func, arith (constant weights
/// of layers) and mha.
inline void registerSpecDialects(DialectRegistry &registry) {
  registry.insert<func::FuncDialect, arith::ArithDialect>();
  registerAllMhaDialects(registry);
}

} // namespace mlir::mha

#endif // MHA_INITALLDIALECTS_H
