//===- DeviceDispatch.cpp - One library, CPU and GPU ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Target/DeviceDispatch.h"

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/MapVector.h"

using namespace mlir;
using namespace mlir::mha;

/// The exported functions of an LLVM-dialect module, by public name, in
/// the module's order. `#mha.entry_point` marks the CPU pipeline's kernels
/// and the GPU pipeline's exported functions; either names the function
/// the C header declares, NAME (+ `suffix` once renamed).
static llvm::MapVector<StringRef, LLVM::LLVMFuncOp>
getEntryPoints(ModuleOp module, StringRef suffix = "") {
  llvm::MapVector<StringRef, LLVM::LLVMFuncOp> entries;
  for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
    auto entry = func->getAttrOfType<EntryPointAttr>("mha.entry_point");
    if (!entry || func.getSymName().starts_with("_mlir_ciface_"))
      continue;
    if (auto exported = module.lookupSymbol<LLVM::LLVMFuncOp>(
            (entry.getName() + suffix).str()))
      entries.insert({entry.getName(), exported});
  }
  return entries;
}

LogicalResult mlir::mha::renameEntryPoints(ModuleOp module, StringRef suffix) {
  SymbolTable symbols(module);
  // The names first: renaming changes what the lookups find.
  auto entries = getEntryPoints(module);
  for (auto &[name, func] : entries) {
    StringAttr renamed =
        StringAttr::get(module.getContext(), func.getSymName() + suffix);
    if (failed(symbols.rename(func, renamed)))
      return func.emitError("cannot rename the exported function to ")
             << renamed;
    func.setVisibility_(LLVM::Visibility::Hidden);
  }
  return success();
}

FailureOr<OwningOpRef<ModuleOp>>
mlir::mha::buildDeviceDispatchers(ModuleOp cpuModule, ModuleOp gpuModule) {
  MLIRContext *context = cpuModule.getContext();
  Location loc = cpuModule.getLoc();
  auto cpuEntries = getEntryPoints(cpuModule, kCpuHalfSuffix);
  auto gpuEntries = getEntryPoints(gpuModule, kGpuHalfSuffix);
  for (auto &[name, func] : gpuEntries)
    if (!cpuEntries.count(name))
      return func.emitError("--target=auto: the GPU code exports '")
             << name << "', the CPU code does not";

  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder b(context);
  b.setInsertionPointToEnd(module->getBody());
  auto ptr = LLVM::LLVMPointerType::get(context);
  auto i32 = b.getI32Type();
  auto onCuda = LLVM::LLVMFuncOp::create(
      b, loc, "mha_rt_on_cuda", LLVM::LLVMFunctionType::get(i32, {ptr}));
  // Declarations of the two halves, then the dispatchers, in the CPU
  // module's order (the header's).
  for (auto &[name, func] : cpuEntries) {
    auto gpuFunc = gpuEntries.lookup(name);
    if (!gpuFunc)
      return func.emitError("--target=auto: the CPU code exports '")
             << name << "', the GPU code does not";
    LLVM::LLVMFunctionType type = func.getFunctionType();
    if (gpuFunc.getFunctionType() != type)
      return func.emitError("--target=auto: '")
             << name << "' has other parameters on the GPU";
    auto declare = [&](StringRef symbol) {
      return LLVM::LLVMFuncOp::create(b, loc, symbol, type);
    };
    LLVM::LLVMFuncOp cpuHalf = declare(func.getSymName());
    LLVM::LLVMFuncOp gpuHalf = declare(gpuFunc.getSymName());
    auto dispatcher = LLVM::LLVMFuncOp::create(b, loc, name, type);
    Block *entryBlock = dispatcher.addEntryBlock(b);
    Block *gpuBlock = b.createBlock(&dispatcher.getBody());
    Block *cpuBlock = b.createBlock(&dispatcher.getBody());
    auto callAndReturn = [&](Block *block, LLVM::LLVMFuncOp callee) {
      b.setInsertionPointToEnd(block);
      auto call =
          LLVM::CallOp::create(b, loc, callee, entryBlock->getArguments());
      LLVM::ReturnOp::create(b, loc, call.getResults());
    };
    b.setInsertionPointToEnd(entryBlock);
    Value cuda =
        LLVM::CallOp::create(b, loc, onCuda, entryBlock->getArgument(0))
            .getResult();
    Value zero = LLVM::ConstantOp::create(b, loc, i32, 0);
    Value isCuda =
        LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne, cuda, zero);
    LLVM::CondBrOp::create(b, loc, isCuda, gpuBlock, cpuBlock);
    callAndReturn(gpuBlock, gpuHalf);
    callAndReturn(cpuBlock, cpuHalf);
    b.setInsertionPointToEnd(module->getBody());
  }
  return module;
}
