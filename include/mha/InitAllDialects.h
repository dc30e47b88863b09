//===- InitAllDialects.h - Register the mha dialects --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_INITALLDIALECTS_H
#define MHA_INITALLDIALECTS_H

#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::mha {

/// Adds every dialect this project defines to `registry`.
inline void registerAllMhaDialects(DialectRegistry &registry) {
  registry.insert<MhaDialect>();
}

} // namespace mlir::mha

#endif // MHA_INITALLDIALECTS_H
