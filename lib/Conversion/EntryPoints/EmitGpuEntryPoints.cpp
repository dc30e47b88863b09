//===- EmitGpuEntryPoints.cpp - Export GPU kernels as C functions ---------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The host side of a GPU library: the device objects of each kernel become
// constant data the runtime hands to the CUDA driver, described by an
// mha_gpu_kernel (include/mha/Runtime/GpuAbi.h) built from the declaration's
// #mha.gpu_launch, and the exported function passes it to
// mha_rt_cuda_launch with the same signature table as the CPU path.
//
//===----------------------------------------------------------------------===//

#include "HostGlue.h"

#include "mha/Conversion/MhaToNVVM/MhaToNVVM.h"
#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Runtime/GpuAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "mha-emit-gpu-entry-points"

namespace mlir::mha {
#define GEN_PASS_DEF_MHAEMITGPUENTRYPOINTSPASS
#include "mha/Conversion/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

/// One embedded device object.
struct Image {
  int32_t sm = 0;
  bool archSpecific = false;
  int32_t format = MHA_GPU_IMAGE_PTX;
  std::string symbol;
  int64_t size = 0;
};

/// Parses "sm_80", "sm_90a" into (80, false), (90, true).
FailureOr<std::pair<int32_t, bool>> parseChip(StringRef chip) {
  if (!chip.consume_front("sm_"))
    return failure();
  bool archSpecific = chip.consume_back("a");
  int32_t sm;
  if (chip.getAsInteger(10, sm) || sm <= 0)
    return failure();
  return std::make_pair(sm, archSpecific);
}

/// An LLVM struct (or array) value of `type` holding `fields`.
Value buildAggregate(OpBuilder &b, Location loc, Type type,
                     ArrayRef<Value> fields) {
  Value aggregate = LLVM::UndefOp::create(b, loc, type);
  for (auto [i, v] : llvm::enumerate(fields))
    aggregate = LLVM::InsertValueOp::create(b, loc, aggregate, v,
                                            ArrayRef<int64_t>{(int64_t)i});
  return aggregate;
}

/// A constant global of `type` whose value `init` builds in its initializer
/// region (constants holding addresses of other globals need one).
void buildConstant(OpBuilder &b, Location loc, ModuleOp module, Type type,
                   StringRef symbol, function_ref<Value(OpBuilder &)> init) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto global =
      LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true,
                             LLVM::Linkage::Internal, symbol, Attribute());
  Block *block = b.createBlock(&global.getInitializerRegion());
  OpBuilder ib = OpBuilder::atBlockBegin(block);
  LLVM::ReturnOp::create(ib, loc, init(ib));
}

/// The embedded images of a module: the symbol of its mha_gpu_image array
/// and their number.
using ImageList = std::pair<std::string, int32_t>;

/// One mha_gpu_kernel descriptor to emit: `kernel`'s launch shape under the
/// name `function`, with `requirements` and a TMA box of `tmaBoxRows`, the
/// images of its module, and the symbols of the descriptors of its
/// fallback and portable kernels, of the kernel launched after it and of
/// its split-KV kernel (empty: none).
struct Descriptor {
  StringRef suffix, function;
  GpuKernelAttr kernel;
  GpuRequirements requirements;
  int32_t tmaBoxRows;
  const ImageList &images;
  StringRef fallback, portable, then = "", splitKeys = "";
};

struct MhaEmitGpuEntryPointsPass
    : public mha::impl::MhaEmitGpuEntryPointsPassBase<
          MhaEmitGpuEntryPointsPass> {
  void runOnOperation() override;
  LogicalResult emit(func::FuncOp decl);
  /// Embeds the objects of `binary` once.
  FailureOr<ImageList> emitImages(gpu::BinaryOp binary);
  /// The images of `kernel`'s module; an error on `decl` without its
  /// gpu.binary.
  FailureOr<ImageList> emitImagesOf(func::FuncOp decl, GpuKernelAttr kernel);
  /// Emits `<name>__<suffix>`, a constant mha_gpu_kernel built in an
  /// initializer region (it holds addresses of other globals); returns its
  /// symbol.
  std::string emitDescriptor(HostGlue &glue, const Descriptor &d);

  llvm::MapVector<Operation *, ImageList> embedded;
};

LogicalResult MhaEmitGpuEntryPointsPass::emit(func::FuncOp decl) {
  auto entry = decl->getAttrOfType<EntryPointAttr>("mha.entry_point");
  if (!entry)
    return decl.emitError() << "a GPU launch declaration needs "
                            << "'mha.entry_point' (its C signature)";
  auto launch = decl->getAttrOfType<GpuLaunchAttr>(kGpuLaunchAttrName);
  if (!launch)
    return decl.emitError()
           << "'" << kGpuLaunchAttrName << "' must be a #mha.gpu_launch";
  GpuKernelAttr portable = launch.getKernel();
  GpuKernelAttr sm90a = launch.getSm90aKernel();
  FailureOr<ImageList> images = emitImagesOf(decl, portable);
  if (failed(images))
    return failure();
  FailureOr<ImageList> sm90aImages = failure();
  if (sm90a && failed(sm90aImages = emitImagesOf(decl, sm90a)))
    return failure();

  // The fallback kernel for rows that are not 16-byte aligned launches like
  // the portable kernel, without requirements or a fallback of its own;
  // the portable kernel points to it, the sm_90a kernel to both.
  HostGlue glue(getOperation(), entry, decl.getLoc());
  // The kernel launched after the portable one (and after its fallback),
  // with a fallback of its own; it shares their module.
  std::string thenDesc;
  if (GpuKernelAttr then = launch.getThenKernel()) {
    std::string thenFallbackDesc;
    if (!launch.getThenFallbackKernel().empty())
      thenFallbackDesc = emitDescriptor(
          glue, {"gpu_then_kernel_fallback", launch.getThenFallbackKernel(),
                 then, GpuRequirements::none, 0, *images, "", ""});
    thenDesc = emitDescriptor(glue, {"gpu_then_kernel", then.getName(), then,
                                     then.getRequirements(), 0, *images,
                                     thenFallbackDesc, ""});
  }
  // The split-KV kernel (aligned rows only) and its merge, launched after
  // it; the portable and sm_90a kernels point to it.
  std::string splitDesc;
  if (GpuKernelAttr split = launch.getSplitKernel()) {
    GpuKernelAttr merge = launch.getMergeKernel();
    std::string mergeDesc =
        emitDescriptor(glue, {"gpu_merge_kernel", merge.getName(), merge,
                              merge.getRequirements(), 0, *images, "", ""});
    splitDesc = emitDescriptor(glue, {"gpu_split_kernel", split.getName(),
                                      split, split.getRequirements(), 0,
                                      *images, "", "", mergeDesc});
  }
  std::string fallbackDesc;
  if (!launch.getFallbackKernel().empty())
    fallbackDesc = emitDescriptor(
        glue, {"gpu_kernel_fallback", launch.getFallbackKernel(), portable,
               GpuRequirements::none, 0, *images, "", "", thenDesc});
  std::string kernelDesc = emitDescriptor(
      glue, {"gpu_kernel", portable.getName(), portable,
             portable.getRequirements(), portable.getTmaBoxRows(), *images,
             fallbackDesc, "", thenDesc, splitDesc});
  if (sm90a)
    kernelDesc = emitDescriptor(
        glue, {"gpu_kernel_sm90a", sm90a.getName(), sm90a,
               sm90a.getRequirements(), sm90a.getTmaBoxRows(), *sm90aImages,
               fallbackDesc, kernelDesc, "", splitDesc});

  // The declaration is replaced by the exported function of the same name.
  LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE << ": @" << entry.getName()
                          << " launches " << kernelDesc << "\n");
  decl.erase();
  if (failed(glue.emitExported("mha_rt_cuda_launch", [&](OpBuilder &eb) {
        return glue.addressOf(eb, kernelDesc);
      })))
    return failure();
  // mha-compile's header writer reads the C signature from here.
  glue.exportedFunction->setAttr("mha.entry_point", entry);
  return success();
}

FailureOr<ImageList>
MhaEmitGpuEntryPointsPass::emitImagesOf(func::FuncOp decl,
                                        GpuKernelAttr kernel) {
  auto binary = getOperation().lookupSymbol<gpu::BinaryOp>(kernel.getModule());
  if (!binary)
    return decl.emitError()
           << "no gpu.binary '" << kernel.getModule() << "' for kernel '"
           << kernel.getName()
           << "': serialise the kernels (gpu-module-to-binary) first";
  return emitImages(binary);
}

std::string MhaEmitGpuEntryPointsPass::emitDescriptor(HostGlue &glue,
                                                      const Descriptor &d) {
  Location loc = glue.loc;
  Type i32 = glue.i32, ptr = glue.ptrType;
  auto kernelType = LLVM::LLVMStructType::getLiteral(
      glue.b.getContext(),
      {ptr, i32, i32, i32, i32, i32, i32, ptr, ptr, ptr, i32, i32, ptr, ptr});
  std::string nameSymbol =
      glue.emitString((d.suffix + "_name").str(), d.function);
  std::string desc = (glue.entry.getName() + "__" + d.suffix).str();
  buildConstant(glue.b, loc, glue.module, kernelType, desc, [&](OpBuilder &ib) {
    auto pointerTo = [&](StringRef symbol) -> Value {
      return symbol.empty() ? LLVM::ZeroOp::create(ib, loc, ptr).getResult()
                            : glue.addressOf(ib, symbol);
    };
    SmallVector<Value> fields{
        glue.addressOf(ib, nameSymbol),
        glue.constI32(ib, d.kernel.getBlockThreads()),
        glue.constI32(ib, d.kernel.getSharedBytes()),
        glue.constI32(ib, d.kernel.getRowsPerBlock()),
        glue.constI32(ib, static_cast<int32_t>(d.requirements)),
        glue.constI32(ib, d.images.second),
        glue.constI32(ib, d.kernel.getHeadsPerBlock()),
        glue.addressOf(ib, d.images.first),
        pointerTo(d.fallback),
        pointerTo(d.portable),
        glue.constI32(ib, d.tmaBoxRows),
        glue.constI32(ib, d.kernel.getOverKeys() ? 1 : 0),
        pointerTo(d.then),
        pointerTo(d.splitKeys)};
    return buildAggregate(ib, loc, kernelType, fields);
  });
  return desc;
}

FailureOr<ImageList>
MhaEmitGpuEntryPointsPass::emitImages(gpu::BinaryOp binary) {
  auto it = embedded.find(binary);
  if (it != embedded.end())
    return it->second;
  ModuleOp module = getOperation();
  Location loc = binary.getLoc();
  OpBuilder b(module.getContext());
  MLIRContext *ctx = module.getContext();
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  std::string prefix = binary.getSymName().str();
  auto bytesGlobal = [&](StringRef symbol, StringRef data) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    LLVM::GlobalOp::create(b, loc,
                           LLVM::LLVMArrayType::get(b.getI8Type(), data.size()),
                           /*isConstant=*/true, LLVM::Linkage::Internal, symbol,
                           b.getStringAttr(data));
  };
  SmallVector<Image> images;
  for (Attribute a : binary.getObjectsAttr()) {
    auto object = cast<gpu::ObjectAttr>(a);
    auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget());
    if (!target)
      return binary.emitError() << "only NVVM targets are supported";
    FailureOr<std::pair<int32_t, bool>> chip = parseChip(target.getChip());
    if (failed(chip))
      return binary.emitError()
             << "cannot parse chip '" << target.getChip() << "'";
    Image image;
    std::tie(image.sm, image.archSpecific) = *chip;
    std::string bytes = object.getObject().getValue().str();
    switch (object.getFormat()) {
    case gpu::CompilationTarget::Assembly:
      image.format = MHA_GPU_IMAGE_PTX;
      bytes.push_back('\0');
      break;
    case gpu::CompilationTarget::Binary:
      image.format = MHA_GPU_IMAGE_CUBIN;
      break;
    default:
      return binary.emitError()
             << "objects must be PTX (format=isa) or cubins (format=bin)";
    }
    image.size = bytes.size();
    image.symbol = prefix + "__image" + std::to_string(images.size());
    bytesGlobal(image.symbol, bytes);
    images.push_back(image);
  }
  if (images.empty())
    return binary.emitError() << "has no device objects";
  auto imageType =
      LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i32, i32, ptr, i64});
  auto imagesType = LLVM::LLVMArrayType::get(imageType, images.size());
  auto constI32 = [&](OpBuilder &ib, int64_t v) -> Value {
    return LLVM::ConstantOp::create(ib, loc, i32, ib.getI32IntegerAttr(v));
  };
  std::string imagesSymbol = prefix + "__images";
  buildConstant(b, loc, module, imagesType, imagesSymbol, [&](OpBuilder &ib) {
    SmallVector<Value> entries;
    for (const Image &image : images) {
      SmallVector<Value> fields{
          constI32(ib, image.sm),
          constI32(ib, image.archSpecific),
          constI32(ib, image.format),
          constI32(ib, 0),
          LLVM::AddressOfOp::create(ib, loc, ptr, image.symbol),
          LLVM::ConstantOp::create(ib, loc, i64,
                                   ib.getI64IntegerAttr(image.size))};
      entries.push_back(buildAggregate(ib, loc, imageType, fields));
    }
    return buildAggregate(ib, loc, imagesType, entries);
  });
  auto result = std::make_pair(imagesSymbol, (int32_t)images.size());
  embedded[binary] = result;
  return result;
}

void MhaEmitGpuEntryPointsPass::runOnOperation() {
  ModuleOp module = getOperation();
  SmallVector<func::FuncOp> decls;
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr(kGpuLaunchAttrName))
      decls.push_back(func);
  for (func::FuncOp decl : decls)
    if (failed(emit(decl)))
      return signalPassFailure();
  for (auto &[binary, image] : embedded)
    binary->erase();
}

} // namespace
