//===- InitAllPasses.h - Register the mha passes and pipelines --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_INITALLPASSES_H
#define MHA_INITALLPASSES_H

#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Pipelines/Pipelines.h"

namespace mlir::mha {

/// Registers every mha pass and pipeline with the global registry.
inline void registerAllMhaPasses() {
  registerMhaTransformsPasses();
  registerMhaConversionPasses();
  registerMhaPipelines();
}

} // namespace mlir::mha

#endif // MHA_INITALLPASSES_H
