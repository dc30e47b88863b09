//===- HostGlue.h - The exported C function of a kernel ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Private to lib/Conversion/EntryPoints: the LLVM-dialect host code that
// mha-emit-entry-points (CPU) and mha-emit-gpu-entry-points (GPU) share.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_CONVERSION_ENTRYPOINTS_HOSTGLUE_H
#define MHA_LIB_CONVERSION_ENTRYPOINTS_HOSTGLUE_H

#include "mha/Dialect/Mha/IR/MhaAttrs.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::mha {

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
  /// Sets MHA_SIG_SPLIT_KV: the kernel splits keys (split-KV decoding).
  bool splitKv = false;
};

} // namespace mlir::mha

#endif // MHA_LIB_CONVERSION_ENTRYPOINTS_HOSTGLUE_H
