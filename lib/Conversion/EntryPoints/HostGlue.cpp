//===- HostGlue.cpp - The exported C function of a kernel -----------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "HostGlue.h"

#include "mha/Codegen/EntryPoint.h"
#include "mha/Runtime/KernelAbi.h"

using namespace mlir;
using namespace mlir::mha;

//===----------------------------------------------------------------------===//
// HostGlue
//===----------------------------------------------------------------------===//

HostGlue::HostGlue(ModuleOp module, EntryPointAttr entry, Location loc)
    : module(module), entry(entry), b(module.getContext()), loc(loc),
      ptrType(LLVM::LLVMPointerType::get(module.getContext())),
      i64(b.getI64Type()), i32(b.getI32Type()), i8(b.getI8Type()) {
  b.setInsertionPointToEnd(module.getBody());
}

std::string HostGlue::emitBytes(StringRef suffix, StringRef data) {
  std::string symbol = (entry.getName() + "__" + suffix).str();
  auto type = LLVM::LLVMArrayType::get(i8, data.size());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true,
                         LLVM::Linkage::Internal, symbol,
                         b.getStringAttr(data));
  return symbol;
}

std::string HostGlue::emitString(StringRef suffix, StringRef text) {
  std::string data = text.str();
  data.push_back('\0');
  return emitBytes(suffix, data);
}

Value HostGlue::stackArray(OpBuilder &ob, ArrayRef<Value> values) {
  auto arrayType = LLVM::LLVMArrayType::get(ptrType, values.size());
  Value array =
      LLVM::AllocaOp::create(ob, loc, ptrType, arrayType, constI64(ob, 1));
  for (auto [i, v] : llvm::enumerate(values)) {
    Value slot =
        LLVM::GEPOp::create(ob, loc, ptrType, arrayType, array,
                            ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
    LLVM::StoreOp::create(ob, loc, v, slot);
  }
  return array;
}

LogicalResult
HostGlue::emitExported(StringRef launcher,
                       function_ref<Value(OpBuilder &)> lastArgument) {
  StringRef name = entry.getName();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  size_t numTensors = entry.getRoles().size();
  // The signature table.
  SmallVector<int64_t> words = buildSignatureTable(entry);
  words[MHA_SIG_SPLIT_KV] = splitKv;
  words.append(extraSignatureWords);
  auto tableType = LLVM::LLVMArrayType::get(i64, words.size());
  std::string signature = (name + "__signature").str();
  LLVM::GlobalOp::create(
      b, loc, tableType, /*isConstant=*/true, LLVM::Linkage::Internal,
      signature,
      DenseElementsAttr::get(
          RankedTensorType::get({(int64_t)words.size()}, i64),
          ArrayRef<int64_t>(words)));
  std::string nameSymbol = emitString("name", name);
  SmallVector<std::string> argNameSymbols;
  for (auto [i, role] : llvm::enumerate(entry.getRoles()))
    argNameSymbols.push_back(
        emitString(("arg" + Twine(i)).str(),
                   getParameterName(cast<TensorRoleAttr>(role).getValue())));

  // The runtime entry point: status launcher(signature, name, arg_names,
  // tensors, options, last).
  auto launchType = LLVM::LLVMFunctionType::get(
      i32, {ptrType, ptrType, ptrType, ptrType, ptrType, ptrType});
  if (!module.lookupSymbol(launcher))
    LLVM::LLVMFuncOp::create(b, loc, launcher, launchType);

  // mha_status name(const DLTensor *..., const mha_options *)
  SmallVector<Type> exportedArgs(numTensors + 1, ptrType);
  auto exported = LLVM::LLVMFuncOp::create(
      b, loc, name, LLVM::LLVMFunctionType::get(i32, exportedArgs));
  Block *body = exported.addEntryBlock(b);
  OpBuilder eb = OpBuilder::atBlockBegin(body);
  SmallVector<Value> tensors(body->getArguments().drop_back());
  SmallVector<Value> argNames;
  for (const std::string &s : argNameSymbols)
    argNames.push_back(addressOf(eb, s));
  Value tensorArray = stackArray(eb, tensors);
  Value namesArray = stackArray(eb, argNames);
  Value last = lastArgument(eb);
  Value status =
      LLVM::CallOp::create(
          eb, loc, launchType, SymbolRefAttr::get(eb.getContext(), launcher),
          ValueRange{addressOf(eb, signature), addressOf(eb, nameSymbol),
                     namesArray, tensorArray, body->getArguments().back(),
                     last})
          .getResult();
  LLVM::ReturnOp::create(eb, loc, status);
  exportedFunction = exported;
  return success();
}
