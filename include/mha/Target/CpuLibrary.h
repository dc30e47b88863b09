//===- CpuLibrary.h - Emit CPU objects and C headers ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The library-emission API behind mha-compile: LLVM-dialect module (after
// the CPU pipeline) -> object code for a CPU, and the C header declaring the
// exported functions.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_TARGET_CPULIBRARY_H
#define MHA_TARGET_CPULIBRARY_H

#include "mha/Codegen/EntryPoint.h"
#include "mha/Dialect/Mha/IR/MhaAttrs.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace llvm {
class raw_pwrite_stream;
} // namespace llvm

namespace mlir::mha {

/// The CPU to generate code for; empty strings mean the host's.
struct CpuTargetOptions {
  std::string cpu;
  std::string features;
  unsigned optLevel = 3;
  /// When set, the optimised LLVM IR and the assembly are also written here
  /// (for people studying the generated code).
  std::string llvmIRPath;
  std::string assemblyPath;
};

/// Translates `module` (LLVM dialect) to LLVM IR, optimises it and writes a
/// position-independent ELF object to `os`.
LogicalResult emitCpuObject(ModuleOp module, const CpuTargetOptions &options,
                            llvm::raw_pwrite_stream &os);

/// Writes the C header declaring every exported function of `module` (the
/// kernels marked `#mha.entry_point`). `guardName` names the include guard.
LogicalResult writeCHeader(ModuleOp module, StringRef guardName,
                           StringRef sourceName, llvm::raw_ostream &os);

/// The size names of a tensor of `role` ("B", "Hq", "Lq", ...) in a
/// function of serving `layout`, as the header's comments and
/// mha-compile's manifest name dynamic sizes; "?" for weights and biases,
/// whose sizes are static. `rank` picks the trailing names of a tensor that
/// may have fewer dimensions (kv_scales: [Hkv] or [pages, Hkv]).
ArrayRef<StringRef> getDimNames(TensorRole role, ServingLayout layout = {},
                                int64_t rank = -1);

/// The text of include/mha/runtime.h, written beside generated headers.
StringRef getRuntimeHeaderText();

} // namespace mlir::mha

#endif // MHA_TARGET_CPULIBRARY_H
