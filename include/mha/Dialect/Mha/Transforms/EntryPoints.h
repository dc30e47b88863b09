//===- EntryPoints.h - What an exported function looks like -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Shared by mha-emit-entry-points (which emits the code) and mha-compile
// (which writes the C header), so both agree on names and the signature.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TRANSFORMS_ENTRYPOINTS_H
#define MHA_DIALECT_MHA_TRANSFORMS_ENTRYPOINTS_H

#include "mha/Dialect/Mha/IR/MhaAttrs.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::mha {

/// The C parameter name of a tensor of the given role ("q", "lse", ...).
llvm::StringRef getParameterName(TensorRole role);

/// Whether a tensor of this role is read (an argument), not written.
bool isInputRole(TensorRole role);

/// The signature table the runtime checks calls against (KernelAbi.h).
llvm::SmallVector<int64_t> buildSignatureTable(EntryPointAttr entry);

/// Builds the host-side LLVM-dialect glue of one exported function, shared
/// by the CPU (mha-emit-entry-points) and GPU (mha-emit-gpu-entry-points)
/// paths: constant data and the exported C function that hands the call to
/// the runtime.
class HostGlue {
public:
  HostGlue(ModuleOp module, EntryPointAttr entry, Location loc);

  /// A private constant byte array `<name>__<suffix>`; returns its symbol.
  std::string emitBytes(llvm::StringRef suffix, llvm::StringRef data);
  /// The same for a NUL-terminated C string.
  std::string emitString(llvm::StringRef suffix, llvm::StringRef text);
  Value addressOf(OpBuilder &ob, llvm::StringRef symbol) {
    return LLVM::AddressOfOp::create(ob, loc, ptrType, symbol);
  }
  Value constI64(OpBuilder &ob, int64_t v) {
    return LLVM::ConstantOp::create(ob, loc, i64, ob.getI64IntegerAttr(v));
  }
  Value constI32(OpBuilder &ob, int32_t v) {
    return LLVM::ConstantOp::create(ob, loc, i32, ob.getI32IntegerAttr(v));
  }
  /// A stack array of `values` (pointers); returns its address.
  Value stackArray(OpBuilder &ob, llvm::ArrayRef<Value> values);
  /// Emits the signature table, the argument names and the exported
  /// `mha_status name(const DLTensor *..., const mha_options *)`, which
  /// returns `launcher(signature, name, arg_names, tensors, options, last)`
  /// with `last` built by `lastArgument`.
  LogicalResult emitExported(llvm::StringRef launcher,
                             function_ref<Value(OpBuilder &)> lastArgument);

  ModuleOp module;
  EntryPointAttr entry;
  OpBuilder b;
  Location loc;
  Type ptrType, i64, i32, i8;
  LLVM::LLVMFuncOp exportedFunction;
  /// Appended to the signature table (a layer's temporaries and phases).
  SmallVector<int64_t> extraSignatureWords;
};

} // namespace mlir::mha

#endif // MHA_DIALECT_MHA_TRANSFORMS_ENTRYPOINTS_H
