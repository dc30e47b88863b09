//===- EmitEntryPoints.cpp - Export kernels as C functions --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Runs on the LLVM dialect, after func-to-llvm made the C wrapper
// `_mlir_ciface_<kernel>` of each work-item kernel. Emits the signature
// table, the work trampoline and the exported C function of each kernel
// (see include/mha/Runtime/KernelAbi.h for the contract with the runtime).
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/EntryPoints.h"
#include "mha/Dialect/Mha/Transforms/Passes.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAEMITENTRYPOINTSPASS
#include "mha/Dialect/Mha/Transforms/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

StringRef mlir::mha::getParameterName(TensorRole role) {
  switch (role) {
  case TensorRole::query:
    return "q";
  case TensorRole::key:
    return "k";
  case TensorRole::value:
    return "v";
  case TensorRole::output:
    return "o";
  case TensorRole::lse:
    return "lse";
  case TensorRole::probs:
    return "probs";
  case TensorRole::entropy:
    return "entropy";
  case TensorRole::layer_input:
    return "x";
  case TensorRole::query_weight:
    return "wq";
  case TensorRole::key_weight:
    return "wk";
  case TensorRole::value_weight:
    return "wv";
  case TensorRole::out_weight:
    return "wo";
  case TensorRole::query_bias:
    return "bq";
  case TensorRole::key_bias:
    return "bk";
  case TensorRole::value_bias:
    return "bv";
  case TensorRole::out_bias:
    return "bo";
  case TensorRole::layer_output:
    return "y";
  }
  llvm_unreachable("unknown tensor role");
}

bool mlir::mha::isInputRole(TensorRole role) {
  switch (role) {
  case TensorRole::output:
  case TensorRole::lse:
  case TensorRole::probs:
  case TensorRole::entropy:
  case TensorRole::layer_output:
    return false;
  default:
    return true;
  }
}

/// The size symbols of a tensor's dimensions, by role (KernelAbi.h).
static SmallVector<int64_t> getDimSymbols(TensorRole role) {
  switch (role) {
  case TensorRole::query:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_HEAD_DIM};
  case TensorRole::key:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_KEY_LEN,
            MHA_SYM_HEAD_DIM};
  case TensorRole::value:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_KEY_LEN,
            MHA_SYM_VALUE_DIM};
  case TensorRole::output:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_VALUE_DIM};
  case TensorRole::lse:
  case TensorRole::entropy:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN};
  case TensorRole::probs:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_KEY_LEN};
  case TensorRole::layer_input:
  case TensorRole::layer_output:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_LEN, MHA_SYM_NONE};
  default: // Weights and biases: static sizes only.
    return {MHA_SYM_NONE, MHA_SYM_NONE};
  }
  llvm_unreachable("unknown tensor role");
}

SmallVector<int64_t> mlir::mha::buildSignatureTable(EntryPointAttr entry) {
  SmallVector<int64_t> words(MHA_SIG_HEADER_WORDS, 0);
  words[MHA_SIG_VERSION] = MHA_ABI_VERSION;
  words[MHA_SIG_NUM_TENSORS] = entry.getRoles().size();
  int64_t numInputs = 0;
  for (Attribute a : entry.getRoles()) {
    if (isInputRole(cast<TensorRoleAttr>(a).getValue()))
      ++numInputs;
  }
  words[MHA_SIG_NUM_INPUTS] = numInputs;
  bool layer = llvm::any_of(entry.getRoles(), [](Attribute a) {
    return cast<TensorRoleAttr>(a).getValue() == TensorRole::layer_input;
  });
  words[MHA_SIG_GRID_HEADS] = entry.getGridHeads();
  words[MHA_SIG_ROWS_PER_ITEM] = entry.getRowsPerItem();
  words[MHA_SIG_GRID_BATCH_SYM] = MHA_SYM_BATCH;
  words[MHA_SIG_GRID_ROWS_SYM] = MHA_SYM_QUERY_LEN;
  for (auto [roleAttr, typeAttr] :
       llvm::zip(entry.getRoles(), entry.getTypes())) {
    TensorRole role = cast<TensorRoleAttr>(roleAttr).getValue();
    auto type = cast<MemRefType>(cast<TypeAttr>(typeAttr).getValue());
    SmallVector<int64_t> tensor(MHA_SIG_TENSOR_WORDS, 0);
    tensor[MHA_SIG_T_ROLE] = static_cast<int64_t>(role);
    Type elt = type.getElementType();
    tensor[MHA_SIG_T_DTYPE_CODE] = elt.isBF16() ? kDLBfloat : kDLFloat;
    tensor[MHA_SIG_T_DTYPE_BITS] = elt.getIntOrFloatBitWidth();
    tensor[MHA_SIG_T_RANK] = type.getRank();
    SmallVector<int64_t> symbols = getDimSymbols(role);
    // A layer's keys are its queries: probs [B, Hq, L, L].
    if (layer && role == TensorRole::probs)
      symbols[3] = MHA_SYM_QUERY_LEN;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      tensor[MHA_SIG_T_DIMS + 2 * d] = symbols[d];
      int64_t size = type.getDimSize(d);
      tensor[MHA_SIG_T_DIMS + 2 * d + 1] =
          ShapedType::isDynamic(size) ? -1 : size;
    }
    words.append(tensor);
  }
  return words;
}

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
  Value array = LLVM::AllocaOp::create(ob, loc, ptrType, arrayType,
                                       constI64(ob, 1));
  for (auto [i, v] : llvm::enumerate(values)) {
    Value slot = LLVM::GEPOp::create(
        ob, loc, ptrType, arrayType, array,
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
    argNameSymbols.push_back(emitString(
        ("arg" + Twine(i)).str(),
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

namespace {

/// Emits the LLVM-dialect glue of one CPU kernel.
class EntryPointEmitter {
public:
  struct Options {
    std::string workSuffix;
    bool exportFunctions = true;
    bool dispatch = false;
  };

  EntryPointEmitter(ModuleOp module, LLVM::LLVMFuncOp kernel,
                    EntryPointAttr entry, Options options)
      : glue(module, entry, kernel.getLoc()), module(module), kernel(kernel),
        entry(entry), options(std::move(options)), b(glue.b),
        loc(kernel.getLoc()), ptrType(glue.ptrType), i64(glue.i64),
        i32(glue.i32), i8(glue.i8) {}

  LogicalResult emit();

private:
  Value addressOf(OpBuilder &ob, StringRef symbol) {
    return glue.addressOf(ob, symbol);
  }
  /// The work function of `suffix` ("" for the undecorated one).
  std::string workName(StringRef suffix) const {
    std::string n = (entry.getName() + "__work").str();
    if (!suffix.empty())
      n += ("_" + suffix).str();
    return n;
  }
  /// The work function the exported function passes to the runtime: this
  /// module's, or the one of the CPU's ISA.
  Value selectWork(OpBuilder &ob, LLVM::LLVMFunctionType workType);

  HostGlue glue;
  ModuleOp module;
  LLVM::LLVMFuncOp kernel;
  EntryPointAttr entry;
  Options options;
  OpBuilder &b;
  Location loc;
  Type ptrType, i64, i32, i8;
};

LogicalResult EntryPointEmitter::emit() {
  StringRef name = entry.getName();
  if (options.exportFunctions && module.lookupSymbol(name))
    return kernel.emitError() << "cannot export '" << name
                              << "': the symbol is already defined";
  std::string cifaceName = ("_mlir_ciface_" + kernel.getSymName()).str();
  auto ciface = module.lookupSymbol<LLVM::LLVMFuncOp>(cifaceName);
  if (!ciface)
    return kernel.emitError() << "missing C wrapper '" << cifaceName
                              << "' (the kernel needs llvm.emit_c_interface)";
  // Kernels are internal: only the exported function is visible.
  kernel.setLinkage(LLVM::Linkage::Internal);
  ciface.setLinkage(LLVM::Linkage::Internal);

  b.setInsertionPointToEnd(module.getBody());
  size_t numTensors = entry.getRoles().size();

  // void name__work(void **descs, i64 b, i64 h, i64 t, const uint8_t *alive);
  // layers take the phase before b.
  auto plan = kernel->getAttrOfType<LayerPlanAttr>("mha.layer_plan");
  SmallVector<Type> workArgs{ptrType, i64, i64, i64, ptrType};
  if (plan)
    workArgs.insert(workArgs.begin() + 1, i64);
  auto workType = LLVM::LLVMFunctionType::get(
      LLVM::LLVMVoidType::get(b.getContext()), workArgs);
  size_t numDescriptors = numTensors + (plan ? plan.getTempCols().size() : 0);
  unsigned gridArg = plan ? 2 : 1;
  // Work functions other objects of the library call are hidden, not
  // internal.
  bool shared = !options.exportFunctions || options.dispatch;
  auto work = LLVM::LLVMFuncOp::create(
      b, loc, workName(options.workSuffix), workType,
      shared ? LLVM::Linkage::External : LLVM::Linkage::Internal);
  if (shared)
    work.setVisibility_(LLVM::Visibility::Hidden);
  {
    Block *body = work.addEntryBlock(b);
    OpBuilder wb = OpBuilder::atBlockBegin(body);
    SmallVector<Value> args;
    for (size_t i = 0; i < numDescriptors; ++i) {
      Value slot = LLVM::GEPOp::create(
          wb, loc, ptrType, ptrType, body->getArgument(0),
          ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
      args.push_back(LLVM::LoadOp::create(wb, loc, ptrType, slot));
    }
    Value head = body->getArgument(gridArg + 1);
    Value aliveSlot = LLVM::GEPOp::create(wb, loc, ptrType, i8,
                                          body->getArgument(gridArg + 3),
                                          ArrayRef<LLVM::GEPArg>{head});
    Value aliveByte = LLVM::LoadOp::create(wb, loc, i8, aliveSlot);
    Value alive = LLVM::ICmpOp::create(
        wb, loc, LLVM::ICmpPredicate::ne, aliveByte,
        LLVM::ConstantOp::create(wb, loc, i8, wb.getI8IntegerAttr(0)));
    if (plan)
      args.push_back(body->getArgument(1));
    args.append({body->getArgument(gridArg), head,
                 body->getArgument(gridArg + 2), alive});
    if (ciface.getNumArguments() != args.size())
      return kernel.emitError() << "C wrapper '" << cifaceName << "' takes "
                                << ciface.getNumArguments()
                                << " arguments, expected " << args.size();
    LLVM::CallOp::create(wb, loc, ciface, args);
    LLVM::ReturnOp::create(wb, loc, ValueRange{});
  }
  if (plan) {
    glue.extraSignatureWords = {(int64_t)plan.getTempCols().size(),
                                (int64_t)plan.getPhaseHeads().size()};
    for (auto [shape, cols] :
         llvm::zip(plan.getTempShapes(), plan.getTempCols()))
      glue.extraSignatureWords.append({shape, cols});
    for (auto [heads, rows, masked] :
         llvm::zip(plan.getPhaseHeads(), plan.getPhaseRows(),
                   plan.getPhaseMasked()))
      glue.extraSignatureWords.append({heads, rows, masked});
  }
  if (options.exportFunctions)
    return glue.emitExported(plan ? "mha_rt_launch_layer" : "mha_rt_launch",
                             [&](OpBuilder &eb) {
      return selectWork(eb, workType);
    });
  return success();
}

Value EntryPointEmitter::selectWork(OpBuilder &ob,
                                    LLVM::LLVMFunctionType workType) {
  if (!options.dispatch)
    return addressOf(ob, workName(options.workSuffix));
  // Levels of MHA_ISA_* in KernelAbi.h, lowest first; the AVX512-BF16 copy
  // exists for functions with bf16 queries or layer inputs only
  // (mha-compile's rule).
  bool bf16 = llvm::any_of(
      llvm::zip(entry.getRoles(), entry.getTypes()), [](auto roleAndType) {
        auto [role, type] = roleAndType;
        TensorRole r = cast<TensorRoleAttr>(role).getValue();
        return (r == TensorRole::query || r == TensorRole::layer_input) &&
               cast<MemRefType>(cast<TypeAttr>(type).getValue())
                   .getElementType()
                   .isBF16();
      });
  SmallVector<StringRef> suffixes = {"generic", "avx2", "avx512"};
  if (bf16)
    suffixes.push_back("avx512bf16");
  auto isaType = LLVM::LLVMFunctionType::get(i32, {});
  if (!module.lookupSymbol("mha_rt_cpu_isa")) {
    OpBuilder::InsertionGuard guard(b);
    LLVM::LLVMFuncOp::create(b, loc, "mha_rt_cpu_isa", isaType);
  }
  Value isa = LLVM::CallOp::create(
                  ob, loc, isaType,
                  SymbolRefAttr::get(ob.getContext(), "mha_rt_cpu_isa"),
                  ValueRange{})
                  .getResult();
  Value chosen;
  for (auto [level, suffix] : llvm::enumerate(suffixes)) {
    std::string fn = workName(suffix);
    if (!module.lookupSymbol(fn)) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToEnd(module.getBody());
      auto decl = LLVM::LLVMFuncOp::create(b, loc, fn, workType);
      decl.setVisibility_(LLVM::Visibility::Hidden);
    }
    Value address = addressOf(ob, fn);
    if (!chosen) {
      chosen = address;
      continue;
    }
    Value atLeast = LLVM::ICmpOp::create(
        ob, loc, LLVM::ICmpPredicate::sge, isa,
        LLVM::ConstantOp::create(ob, loc, i32,
                                 ob.getI32IntegerAttr(int32_t(level))));
    chosen = LLVM::SelectOp::create(ob, loc, atLeast, address, chosen);
  }
  return chosen;
}

struct MhaEmitEntryPointsPass
    : public mha::impl::MhaEmitEntryPointsPassBase<MhaEmitEntryPointsPass> {
  using MhaEmitEntryPointsPassBase::MhaEmitEntryPointsPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::pair<LLVM::LLVMFuncOp, EntryPointAttr>> kernels;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
      if (func.getSymName().starts_with("_mlir_ciface_"))
        continue;
      if (auto entry = func->getAttrOfType<EntryPointAttr>("mha.entry_point"))
        kernels.push_back({func, entry});
    }
    for (auto [kernel, entry] : kernels)
      if (failed(EntryPointEmitter(module, kernel, entry,
                                   {workSuffix, exportFunctions, dispatch})
                     .emit()))
        return signalPassFailure();
  }
};

} // namespace
