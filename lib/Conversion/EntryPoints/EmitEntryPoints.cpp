//===- EmitEntryPoints.cpp - Export kernels as C functions ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Runs on the LLVM dialect, after func-to-llvm made the C wrapper
// `_mlir_ciface_<kernel>` of each work-item kernel. Emits the signature
// table, the work trampoline and the exported C function of each kernel
// (see include/mha/Runtime/KernelAbi.h for the contract with the runtime).
//
//===----------------------------------------------------------------------===//

#include "HostGlue.h"

#include "mha/Codegen/EntryPoint.h"
#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAEMITENTRYPOINTSPASS
#include "mha/Conversion/Passes.h.inc"
} // namespace mlir::mha

#define DEBUG_TYPE "mha-emit-entry-points"

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Emits the LLVM-dialect glue of one CPU kernel.
class EntryPointEmitter {
public:
  struct Options {
    std::string workSuffix;
    bool exportFunctions = true;
    bool dispatch = false;
    SmallVector<std::string> copies; // the library's; empty: all
  };

  EntryPointEmitter(ModuleOp module, LLVM::LLVMFuncOp kernel,
                    EntryPointAttr entry, Options options)
      : glue(module, entry, kernel.getLoc()), module(module), kernel(kernel),
        entry(entry), options(std::move(options)), b(glue.b),
        loc(kernel.getLoc()), ptrType(glue.ptrType), i64(glue.i64),
        i32(glue.i32), i8(glue.i8) {}

  LogicalResult emit();

private:
  /// A layer backward's <name>_forward_train and <name>_saved_bytes.
  LogicalResult emitForwardTrain(const ForwardTrainEntry &train,
                                 LLVM::LLVMFunctionType workType);
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
  /// A library of one copy: `copy`'s work function where the CPU has its
  /// instructions, else null.
  Value selectOnlyCopy(OpBuilder &ob, LLVM::LLVMFunctionType workType,
                       StringRef copy);
  /// The name of `suffix`'s work function, declared if another module
  /// defines it.
  std::string declareWork(StringRef suffix, LLVM::LLVMFunctionType workType);
  /// A call of the runtime's ISA query `query` (declared once).
  Value callIsaQuery(OpBuilder &ob, StringRef query, ValueRange args);

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
    return kernel.emitError()
           << "cannot export '" << name << "': the symbol is already defined";
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
  // Backward kernels (TileBackward.cpp) take the phase too, and the head
  // mask as one more descriptor.
  auto backward =
      kernel->getAttrOfType<DenseI64ArrayAttr>(kBackwardGridAttrName);
  bool phased = plan || backward;
  SmallVector<Type> workArgs{ptrType, i64, i64, i64, ptrType};
  if (phased)
    workArgs.insert(workArgs.begin() + 1, i64);
  auto workType = LLVM::LLVMFunctionType::get(
      LLVM::LLVMVoidType::get(b.getContext()), workArgs);
  // Backward kernels also take the head mask, the row statistics and the
  // dq sums.
  size_t numDescriptors =
      numTensors + (plan ? plan.getTempCols().size() : 0) + (backward ? 3 : 0);
  // The call words come last: the runtime always passes them.
  if (kernel->hasAttr(kCallWordsAttrName))
    ++numDescriptors;
  // Then a split-KV kernel's partial outputs, partial lse and arrivals.
  auto splitKv = kernel->getAttrOfType<DenseI64ArrayAttr>(kSplitKvAttrName);
  if (splitKv)
    numDescriptors += 3;
  unsigned gridArg = phased ? 2 : 1;
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
      Value slot =
          LLVM::GEPOp::create(wb, loc, ptrType, ptrType, body->getArgument(0),
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
    if (phased)
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
                                (int64_t)plan.getPhaseHeads().size(), 0};
    for (auto [shape, cols, bytes] : llvm::zip(
             plan.getTempShapes(), plan.getTempCols(), plan.getTempBytes()))
      glue.extraSignatureWords.append({shape, cols, bytes});
    for (auto [heads, rows, masked] : llvm::zip(
             plan.getPhaseHeads(), plan.getPhaseRows(), plan.getPhaseKinds()))
      glue.extraSignatureWords.append({heads, rows, masked});
  }
  if (backward)
    glue.extraSignatureWords.assign(backward.asArrayRef().begin(),
                                    backward.asArrayRef().end());
  // (A layer's split words follow its layer section.)
  if (splitKv) {
    glue.splitKv = true;
    if (!plan)
      glue.extraSignatureWords.clear();
    llvm::append_range(glue.extraSignatureWords, splitKv.asArrayRef());
  }
  if (!options.exportFunctions)
    return success();
  if (failed(glue.emitExported(
          plan       ? "mha_rt_launch_layer"
          : backward ? "mha_rt_launch_backward"
                     : "mha_rt_launch",
          [&](OpBuilder &eb) { return selectWork(eb, workType); })))
    return failure();
  if (std::optional<ForwardTrainEntry> train = getForwardTrainEntry(entry))
    return emitForwardTrain(*train, workType);
  return success();
}

LogicalResult
EntryPointEmitter::emitForwardTrain(const ForwardTrainEntry &train,
                                    LLVM::LLVMFunctionType workType) {
  // The same kernel, its table with the forward's tensors and the number
  // of the kernel's (KernelAbi.h).
  HostGlue trainGlue(module, train.entry, loc);
  trainGlue.extraSignatureWords = glue.extraSignatureWords;
  trainGlue.extraSignatureWords[MHA_SIG_LAYER_KERNEL_TENSORS] =
      entry.getRoles().size();
  if (failed(trainGlue.emitExported("mha_rt_launch_layer", [&](OpBuilder &eb) {
        return selectWork(eb, workType);
      })))
    return failure();
  // int64_t <name>_saved_bytes(int64_t B, int64_t L): the runtime's sum
  // over the backward's table.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  StringRef query = "mha_rt_layer_saved_bytes";
  auto queryType = LLVM::LLVMFunctionType::get(i64, {ptrType, i64, i64});
  if (!module.lookupSymbol(query))
    LLVM::LLVMFuncOp::create(b, loc, query, queryType);
  auto bytesFn =
      LLVM::LLVMFuncOp::create(b, loc, train.savedBytesName,
                               LLVM::LLVMFunctionType::get(i64, {i64, i64}));
  Block *body = bytesFn.addEntryBlock(b);
  OpBuilder bb = OpBuilder::atBlockBegin(body);
  Value table = addressOf(bb, (entry.getName() + "__signature").str());
  Value bytes =
      LLVM::CallOp::create(
          bb, loc, queryType, SymbolRefAttr::get(bb.getContext(), query),
          ValueRange{table, body->getArgument(0), body->getArgument(1)})
          .getResult();
  LLVM::ReturnOp::create(bb, loc, bytes);
  return success();
}

/// Query rows (static) up to which a bf16 attention counts as a decoding
/// step for the choice of its kernel copy.
static constexpr int64_t kDecodingQueryRows = 16;

Value EntryPointEmitter::selectOnlyCopy(OpBuilder &ob,
                                        LLVM::LLVMFunctionType workType,
                                        StringRef copy) {
  // Every function of the library is in its one copy: the CPU either has
  // the copy's instructions (MHA_ISA aside) or gets no work function.
  Value address = addressOf(ob, declareWork(copy, workType));
  int64_t level = getIsaCopyLevel(copy);
  if (level == 0)
    return address;
  Value isa = callIsaQuery(ob, "mha_rt_cpu_isa", {});
  Value atLeast = LLVM::ICmpOp::create(
      ob, loc, LLVM::ICmpPredicate::sge, isa,
      LLVM::ConstantOp::create(ob, loc, i32, ob.getI32IntegerAttr(level)));
  return LLVM::SelectOp::create(ob, loc, atLeast, address,
                                LLVM::ZeroOp::create(ob, loc, ptrType));
}

std::string EntryPointEmitter::declareWork(StringRef suffix,
                                           LLVM::LLVMFunctionType workType) {
  std::string fn = workName(suffix);
  if (!module.lookupSymbol(fn)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    auto decl = LLVM::LLVMFuncOp::create(b, loc, fn, workType);
    decl.setVisibility_(LLVM::Visibility::Hidden);
  }
  return fn;
}

Value EntryPointEmitter::callIsaQuery(OpBuilder &ob, StringRef query,
                                      ValueRange args) {
  auto isaType =
      LLVM::LLVMFunctionType::get(i32, llvm::to_vector(args.getTypes()));
  if (!module.lookupSymbol(query)) {
    OpBuilder::InsertionGuard guard(b);
    LLVM::LLVMFuncOp::create(b, loc, query, isaType);
  }
  return LLVM::CallOp::create(ob, loc, isaType,
                              SymbolRefAttr::get(ob.getContext(), query), args)
      .getResult();
}

Value EntryPointEmitter::selectWork(OpBuilder &ob,
                                    LLVM::LLVMFunctionType workType) {
  if (!options.dispatch)
    return addressOf(ob, workName(options.workSuffix));
  if (options.copies.size() == 1)
    return selectOnlyCopy(ob, workType, options.copies.front());
  // Levels of MHA_ISA_* in KernelAbi.h, lowest first; the AVX512-BF16 copy
  // exists for functions with bf16 queries or layer inputs, or int8
  // weights, only (mha-compile's rule).
  auto anyInput = [&](function_ref<bool(TensorRole, MemRefType)> pred) {
    return llvm::any_of(
        llvm::zip(entry.getRoles(), entry.getTypes()), [&](auto roleAndType) {
          auto [role, type] = roleAndType;
          return pred(cast<TensorRoleAttr>(role).getValue(),
                      cast<MemRefType>(cast<TypeAttr>(type).getValue()));
        });
  };
  bool bf16 = anyInput([](TensorRole r, MemRefType t) {
    return (r == TensorRole::query || r == TensorRole::layer_input) &&
           t.getElementType().isBF16();
  });
  // A decoding step's few static query rows [B, H, Lq, D] make it
  // memory-bound, where the AVX512-BF16 copy is the faster one everywhere.
  bool decoding = anyInput([](TensorRole r, MemRefType t) {
    return r == TensorRole::query && t.getRank() == 4 && !t.isDynamicDim(2) &&
           t.getDimSize(2) <= kDecodingQueryRows;
  });
  bool int8Weights = kernel->hasAttr(kInt8WeightsAttrName);
  // A layer's rows per sequence are known at run time only: the runtime
  // reads them from x (mha_rt_cpu_isa_bf16_layer).
  auto roles = entry.getRoles();
  auto layerInput = llvm::find_if(roles, [](Attribute role) {
    return cast<TensorRoleAttr>(role).getValue() == TensorRole::layer_input;
  });
  bool layer = kernel->getAttrOfType<LayerPlanAttr>("mha.layer_plan") &&
               layerInput != roles.end();
  // The copies by level; the AVX512-BF16 one for these functions only.
  ArrayRef<StringLiteral> suffixes(kIsaCopies);
  if (!bf16 && !int8Weights)
    suffixes = suffixes.drop_back();
  // Without int8 weights the AVX512-BF16 copy gains from vdpbf16ps alone,
  // which the runtime declines where it is slow (KernelAbi.h), but for
  // decoding steps.
  bool dotLevel = bf16 && !int8Weights && !decoding;
  bool byRows = dotLevel && layer;
  StringRef query = byRows     ? "mha_rt_cpu_isa_bf16_layer"
                    : dotLevel ? "mha_rt_cpu_isa_bf16_dot"
                               : "mha_rt_cpu_isa";
  SmallVector<Value> queryArgs;
  if (byRows)
    queryArgs.push_back(ob.getInsertionBlock()->getArgument(
        std::distance(roles.begin(), layerInput)));
  Value isa = callIsaQuery(ob, query, queryArgs);
  // A copy the library lacks is skipped; a CPU below every copy gets no work
  // function (the runtime's MHA_ERR_NO_DEVICE). Every CPU runs generic.
  auto present = [&](StringRef suffix) {
    return options.copies.empty() || llvm::is_contained(options.copies, suffix);
  };
  Value chosen;
  if (!present(suffixes.front()))
    chosen = LLVM::ZeroOp::create(ob, loc, ptrType);
  for (auto [level, suffix] : llvm::enumerate(suffixes)) {
    if (!present(suffix))
      continue;
    Value address = addressOf(ob, declareWork(suffix, workType));
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
    for (const std::string &copy : copies) {
      if (!llvm::is_contained(kIsaCopies, copy)) {
        module.emitError() << "copies has '" << copy
                           << "'; expected generic, avx2, avx512 or avx512bf16";
        return signalPassFailure();
      }
    }
    SmallVector<std::pair<LLVM::LLVMFuncOp, EntryPointAttr>> kernels;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
      if (func.getSymName().starts_with("_mlir_ciface_"))
        continue;
      if (auto entry = func->getAttrOfType<EntryPointAttr>("mha.entry_point"))
        kernels.push_back({func, entry});
    }
    for (auto [kernel, entry] : kernels)
      if (failed(EntryPointEmitter(module, kernel, entry,
                                   {workSuffix, exportFunctions, dispatch,
                                    llvm::to_vector(copies)})
                     .emit()))
        return signalPassFailure();
  }
};

} // namespace
