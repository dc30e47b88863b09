//===- MhaToNVVM.cpp - Exported mha.attention functions to GPU kernels ----===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// convert-mha-to-nvvm: checks that a function fits the GPU kernel (f16/bf16
// tensors, head dims that are multiples of 16 up to 256, no probabilities or
// entropy), chooses the shape of its kernels, creates them (the portable
// ones, and with sm90a the wgmma one in a module of its own) and lets
// FlashKernel fill their bodies, and leaves a declaration saying how to
// launch them (#mha.gpu_launch).
//
//===----------------------------------------------------------------------===//

#include "AppendKernel.h"
#include "BackwardKernel.h"
#include "FlashKernel.h"
#include "KernelChoice.h"
#include "MergeKernel.h"
#include "PtxBuilder.h"

#include "mha/Codegen/Constants.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Runtime/GpuAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "convert-mha-to-nvvm"

namespace mlir::mha {
#define GEN_PASS_DEF_CONVERTMHATONVVMPASS
#include "mha/Conversion/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Dynamic shared memory every GPU from sm_80 on gives a block.
constexpr int64_t kMaxSharedBytes = 163 * 1024;
/// The backward keeps dK and dV of 16 keys per warp in registers.
constexpr int64_t kMaxGpuBackwardHeadDim = 128;

/// The split-KV kernels' partial results: outputs [parts, B, Hq, Lq, Dv]
/// and lse [parts, B, Hq, Lq], f32.
SmallVector<Type, 2> getPartialResultTypes(MLIRContext *ctx) {
  Type f32 = Float32Type::get(ctx);
  return {MemRefType::get(SmallVector<int64_t>(5, ShapedType::kDynamic), f32),
          MemRefType::get(SmallVector<int64_t>(4, ShapedType::kDynamic), f32)};
}

/// What the GPU kernels cannot compute, as an error on the op.
LogicalResult checkSupported(const KernelSpec &spec) {
  AttentionOp attention = spec.attention;
  const AttentionShape &shape = spec.shape;
  if (shape.key.getElementType() != spec.elementType ||
      shape.value.getElementType() != spec.elementType)
    return attention.emitError()
           << "the GPU kernels need q, k and v of one element type";
  for (auto [name, dim] : {std::pair<StringRef, int64_t>{"D", shape.headDim},
                           {"Dv", shape.valueDim}})
    if (dim % 16 != 0 || dim > kMaxGpuHeadDim)
      return attention.emitError()
             << "head dim " << name << " = " << dim
             << " is not supported by the GPU kernels: it must be a multiple "
             << "of 16 and at most " << kMaxGpuHeadDim;
  if (attention.getReturnProbs() || attention.getReturnEntropy())
    return attention.emitError()
           << "return_probs and return_entropy are computed by the CPU back "
           << "end only (they are analysis outputs): compile this function "
           << "with --target=cpu";
  if (shape.numHeads > 65535)
    return attention.emitError()
           << shape.numHeads << " query heads exceed the GPU grid's 65535";
  return success();
}

/// The launch description of a kernel built with `cfg`.
GpuKernelAttr describeKernel(MLIRContext *ctx, StringRef module, StringRef name,
                             const FlashKernelConfig &cfg) {
  GpuRequirements requirements = GpuRequirements::aligned_rows;
  if (cfg.tmaLoads)
    requirements = requirements | GpuRequirements::tensor_maps;
  return GpuKernelAttr::get(
      ctx, module, name, cfg.threads(), getFlashKernelSharedBytes(cfg),
      cfg.rowsPerBlock() / cfg.headsPerBlock, cfg.headsPerBlock, requirements,
      cfg.tmaLoads ? cfg.cols : 0, /*over_keys=*/false);
}

/// The launch description of a kernel with a warp per row, `rows` per
/// block, one head per block and no shared memory (the merge and append
/// kernels).
GpuKernelAttr describeWarpPerRowKernel(MLIRContext *ctx, StringRef name,
                                       int64_t rows) {
  return GpuKernelAttr::get(ctx, kGpuModuleName, name, rows * mha::kWarpSize,
                            /*shared_bytes=*/0, rows, /*heads_per_block=*/1,
                            GpuRequirements::none, /*tma_box_rows=*/0,
                            /*over_keys=*/false);
}

/// The declaration the host side builds the exported function `name` from,
/// before `func`: its C signature (#mha.entry_point) and its kernels.
void declareLaunch(func::FuncOp func, StringRef name, int64_t rowsPerItem,
                   int64_t numHeads, const KernelSignature &signature,
                   GpuLaunchAttr launch) {
  MLIRContext *ctx = func.getContext();
  OpBuilder b(func);
  auto decl = func::FuncOp::create(b, func.getLoc(), name,
                                   FunctionType::get(ctx, {}, {}));
  decl.setPrivate();
  decl->setAttr("mha.entry_point",
                EntryPointAttr::get(ctx, name, rowsPerItem, numHeads,
                                    signature.roles, signature.types));
  decl->setAttr(kGpuLaunchAttrName, launch);
}

/// The launch description of a backward kernel of `kind` built with `cfg`.
GpuKernelAttr describeBackwardKernel(MLIRContext *ctx, StringRef name,
                                     BackwardKernelKind kind,
                                     const FlashKernelConfig &cfg) {
  return GpuKernelAttr::get(
      ctx, kGpuModuleName, name, cfg.threads(),
      getBackwardKernelSharedBytes(kind, cfg),
      kind == BackwardKernelKind::keys ? cfg.cols : cfg.rowsPerBlock(),
      /*heads_per_block=*/1,
      cfg.alignedRows ? GpuRequirements::aligned_rows : GpuRequirements{},
      /*tma_box_rows=*/0, /*over_keys=*/kind == BackwardKernelKind::keys);
}

struct ConvertMhaToNVVMPass
    : public mha::impl::ConvertMhaToNVVMPassBase<ConvertMhaToNVVMPass> {
  using ConvertMhaToNVVMPassBase::ConvertMhaToNVVMPassBase;

  void runOnOperation() override;
  LogicalResult convertFunction(func::FuncOp func);

  /// The pass options that shape the kernels (KernelChoice.h).
  KernelTuning tuning() const {
    return {warps, rowTiles,         keysPerTile,    packGqa,
            sm90a, sm90aKeysPerTile, sm90aWarpgroups};
  }

  /// The gpu.module `name`, created at the end of the module if needed.
  gpu::GPUModuleOp getOrCreateModule(func::FuncOp func, StringRef name,
                                     Location loc);
  /// Creates kernel `kernelName` in `gpuModule` (parameters: `argTypes`,
  /// then the tensor maps' address with TMA, or the partial results with
  /// splitKeys) and fills its body.
  LogicalResult buildKernel(func::FuncOp func, const KernelSpec &spec,
                            ArrayRef<Type> argTypes, gpu::GPUModuleOp gpuModule,
                            StringRef kernelName,
                            const FlashKernelConfig &config, StringRef prefix);
  /// Creates the split-KV merge kernel `kernelName` (parameters: `argTypes`
  /// and the partial results).
  LogicalResult buildMergeKernel(func::FuncOp func, const KernelSpec &spec,
                                 ArrayRef<Type> argTypes, StringRef kernelName);
  /// An exported function of one kernel with a warp per row (merge,
  /// append): its C signature from `params`, the kernel `<name>__<suffix>`
  /// of `rowsPerBlock` warps that `fill` fills, the launch declaration on
  /// the grid (rows, `heads`, B); the function is erased.
  LogicalResult convertWarpPerRowFunction(
      func::FuncOp func, ArrayRef<Parameter> params, StringRef suffix,
      int64_t rowsPerBlock, int64_t heads, Location loc,
      function_ref<void(OpBuilder &, gpu::GPUFuncOp, Block &)> fill);
  /// The merge kernel and the launch declaration of an exported
  /// mha.merge_states function.
  LogicalResult convertMergeFunction(func::FuncOp func, MergeStatesOp merge);
  /// The append kernel and the launch declaration of an exported
  /// mha.append_kv function.
  LogicalResult convertAppendFunction(func::FuncOp func, AppendKvOp append);
  /// Creates the empty kernel `kernelName` of `blockThreads` threads with
  /// parameters `argTypes` in `gpuModule`, or fails (the name is taken).
  FailureOr<gpu::GPUFuncOp> createKernel(func::FuncOp func,
                                         gpu::GPUModuleOp gpuModule,
                                         ArrayRef<Type> argTypes,
                                         StringRef kernelName,
                                         int64_t blockThreads, Location loc);
  /// The kernels and the launch declaration of `<name>_backward`.
  LogicalResult convertBackward(func::FuncOp func, const KernelSpec &spec,
                                gpu::GPUModuleOp gpuModule);
};

void ConvertMhaToNVVMPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (warps < 1 || warps > 16 || keysPerTile < 0 || keysPerTile % 16 != 0 ||
      rowTiles < 0 || rowTiles > 2 || sm90aKeysPerTile < 0 ||
      sm90aKeysPerTile % 16 != 0 || sm90aKeysPerTile > 256 ||
      sm90aWarpgroups < 0 || sm90aWarpgroups > 4) {
    module.emitError() << "convert-mha-to-nvvm: warps must be in [1, 16], "
                       << "row-tiles in [0, 2], cols a multiple of 16, "
                       << "sm90a-cols a multiple of 16 up to 256 and "
                       << "sm90a-warpgroups in [0, 4] (0 = automatic)";
    return signalPassFailure();
  }
  FailureOr<SmallVector<func::FuncOp>> funcs = collectExportedFunctions(module);
  if (failed(funcs))
    return signalPassFailure();
  for (func::FuncOp func : *funcs) {
    WalkResult dropout = func.walk([](Operation *op) {
      auto attention = dyn_cast<AttentionOp>(op);
      auto layer = dyn_cast<MultiHeadOp>(op);
      bool drops = (attention && attention.getDropout()) ||
                   (layer && layer.getDropout());
      if (attention && attention.getKeyScale()) {
        op->emitError() << "quantized caches (kv_scales) are not yet "
                        << "supported on the GPU: compile this function "
                        << "with --target=cpu";
        return WalkResult::interrupt();
      }
      if (!drops)
        return WalkResult::advance();
      op->emitError() << "'dropout' is not yet supported on the GPU: "
                      << "compile this function with --target=cpu";
      return WalkResult::interrupt();
    });
    if (dropout.wasInterrupted())
      return signalPassFailure();
  }
  if (funcs->empty()) {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE << ": no function computes an mha "
                            << "op; nothing to convert\n");
    return;
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  for (func::FuncOp func : *funcs)
    if (failed(convertFunction(func)))
      return signalPassFailure();
}

gpu::GPUModuleOp ConvertMhaToNVVMPass::getOrCreateModule(func::FuncOp func,
                                                         StringRef name,
                                                         Location loc) {
  ModuleOp module = getOperation();
  if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(name))
    return existing;
  if (module.lookupSymbol(name)) {
    func.emitError() << "symbol '" << name
                     << "' is taken: the GPU kernels' module needs it";
    return {};
  }
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  return gpu::GPUModuleOp::create(b, loc, name);
}

LogicalResult ConvertMhaToNVVMPass::buildKernel(
    func::FuncOp func, const KernelSpec &spec, ArrayRef<Type> argTypes,
    gpu::GPUModuleOp gpuModule, StringRef kernelName,
    const FlashKernelConfig &config, StringRef prefix) {
  MLIRContext *ctx = func.getContext();
  AttentionOp attention = spec.attention;
  Location loc = attention.getLoc();
  OpBuilder b(ctx);
  // TMA kernels take the tensor maps' address last, split kernels their
  // partial results.
  SmallVector<Type> kernelArgTypes(argTypes);
  if (config.tmaLoads)
    kernelArgTypes.push_back(b.getI64Type());
  if (config.splitKeys)
    llvm::append_range(kernelArgTypes, getPartialResultTypes(ctx));
  FailureOr<gpu::GPUFuncOp> kernel = createKernel(
      func, gpuModule, kernelArgTypes, kernelName, config.threads(), loc);
  if (failed(kernel))
    return failure();
  Block &body = kernel->getBody().front();
  auto argFor = [&](Value tensor) {
    return getParameterArgument(func, body, tensor);
  };
  unsigned maskArg = argTypes.size() - 1;
  FlashKernelArgs args{argFor(attention.getQuery()),
                       argFor(attention.getKey()),
                       argFor(attention.getValue()),
                       argFor(attention.getOutput()),
                       argFor(attention.getLse()),
                       argFor(attention.getKvLens()),
                       argFor(attention.getQLens()),
                       argFor(attention.getBlockTable()),
                       argFor(attention.getCuSeqlensQ()),
                       argFor(attention.getCuSeqlensK()),
                       body.getArgument(maskArg),
                       config.tmaLoads ? body.getArgument(maskArg + 1)
                                       : Value(),
                       Value(),
                       Value()};
  if (config.splitKeys) {
    args.partialO = body.getArgument(maskArg + 1);
    args.partialLse = body.getArgument(maskArg + 2);
  }
  LLVM_DEBUG(
      llvm::dbgs() << DEBUG_TYPE << ": @" << kernelName << ": " << config.warps
                   << " warps x " << config.rowTilesPerWarp << " row tiles, "
                   << config.cols << "-key tiles, " << config.headsPerBlock
                   << " heads per block"
                   << (config.warpgroupMma ? ", wgmma" : "")
                   << (config.tmaLoads ? ", TMA" : "")
                   << (config.splitKeys ? ", split keys" : "")
                   << (config.alignedRows ? "" : ", unaligned rows") << "\n");
  emitFlashKernel(b, loc, gpuModule, *kernel, config, spec.variant, args,
                  prefix);
  return success();
}

LogicalResult ConvertMhaToNVVMPass::convertFunction(func::FuncOp func) {
  for (Operation &op : func.getBody().front()) {
    if (auto merge = dyn_cast<MergeStatesOp>(op))
      return convertMergeFunction(func, merge);
    if (auto append = dyn_cast<AppendKvOp>(op))
      return convertAppendFunction(func, append);
  }
  FailureOr<AttentionOp> matched = matchExportableFunction(func);
  if (failed(matched))
    return failure();
  MLIRContext *ctx = func.getContext();
  KernelSpec spec{*matched, AttentionShape::get(*matched), AttentionVariant(),
                  Type()};
  spec.elementType = spec.shape.query.getElementType();
  if (failed(checkSupported(spec)))
    return failure();
  spec.variant =
      AttentionVariant::get(spec.attention, spec.shape.numHeads,
                            spec.shape.numKvHeads, spec.shape.headDim);

  FlashKernelConfig config = choosePortableConfig(spec, tuning());
  int64_t sharedBytes = getFlashKernelSharedBytes(config);
  if (sharedBytes > kMaxSharedBytes)
    return spec.attention.emitError()
           << "the GPU kernel would need " << sharedBytes
           << " bytes of shared memory (more than " << kMaxSharedBytes
           << "): use fewer warps or smaller key tiles";

  // The kernel signature: one memref per C parameter, then the head mask.
  KernelSignature signature =
      buildKernelSignature(ctx, getExportedParameters(func, spec.attention));
  SmallVector<Type> argTypes = signature.argTypes;
  argTypes.push_back(
      MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8)));

  // The portable kernels of a spec share one gpu.module (one PTX/cubin per
  // chip that the runtime loads once), the sm_90a kernels another.
  std::string name = func.getSymName().str();
  gpu::GPUModuleOp gpuModule =
      getOrCreateModule(func, kGpuModuleName, spec.attention.getLoc());
  if (!gpuModule)
    return failure();
  // Two kernels: one for rows on 16-byte boundaries (cp.async copies), and
  // the same for any other rows (any strides are valid input), which the
  // runtime launches when the first cannot run. Synchronous row loads keep
  // a tile's elements in registers until they are stored: 16-key tiles
  // keep the fallback free of spills (it uses less shared memory than the
  // launch provides, which is fine).
  std::string kernelName = name + "__kernel";
  std::string fallbackName = name + "__kernel_unaligned";
  FlashKernelConfig unaligned = config;
  unaligned.alignedRows = false;
  unaligned.cols = std::min<int64_t>(config.cols, 16);
  if (failed(buildKernel(func, spec, argTypes, gpuModule, kernelName, config,
                         name)) ||
      failed(buildKernel(func, spec, argTypes, gpuModule, fallbackName,
                         unaligned, name)))
    return failure();

  GpuKernelAttr sm90aKernel;
  if (std::optional<FlashKernelConfig> hopper =
          chooseSm90aConfig(spec, tuning(), config)) {
    std::string hopperName = name + "__kernel_sm90a";
    gpu::GPUModuleOp hopperModule =
        getOrCreateModule(func, kGpuSm90aModuleName, spec.attention.getLoc());
    if (!hopperModule ||
        failed(buildKernel(func, spec, argTypes, hopperModule, hopperName,
                           *hopper, name + "_sm90a")))
      return failure();
    sm90aKernel = describeKernel(ctx, kGpuSm90aModuleName, hopperName, *hopper);
  }

  // Split-KV: the split kernel (aligned rows only: unaligned calls run
  // unsplit) and its merge.
  GpuKernelAttr splitKernel, mergeKernel;
  if (std::optional<FlashKernelConfig> split =
          chooseSplitConfig(spec, tuning())) {
    std::string splitName = name + "__split_kernel";
    std::string mergeName = name + "__merge_kernel";
    if (failed(buildKernel(func, spec, argTypes, gpuModule, splitName, *split,
                           name)) ||
        failed(buildMergeKernel(func, spec, argTypes, mergeName)))
      return failure();
    splitKernel = describeKernel(ctx, kGpuModuleName, splitName, *split);
    mergeKernel = describeWarpPerRowKernel(ctx, mergeName, kMergeRowsPerBlock);
  }

  if (func->hasAttr(MhaDialect::kBackwardAttrName) &&
      failed(convertBackward(func, spec, gpuModule)))
    return failure();

  declareLaunch(func, name, config.rowsPerBlock() / config.headsPerBlock,
                spec.shape.numHeads, signature,
                GpuLaunchAttr::get(
                    ctx,
                    describeKernel(ctx, kGpuModuleName, kernelName, config),
                    fallbackName, sm90aKernel, GpuKernelAttr(), "", splitKernel,
                    mergeKernel));
  func.erase();
  return success();
}

LogicalResult ConvertMhaToNVVMPass::buildMergeKernel(func::FuncOp func,
                                                     const KernelSpec &spec,
                                                     ArrayRef<Type> argTypes,
                                                     StringRef kernelName) {
  MLIRContext *ctx = func.getContext();
  AttentionOp attention = spec.attention;
  Location loc = attention.getLoc();
  SmallVector<Type> kernelArgTypes(argTypes);
  llvm::append_range(kernelArgTypes, getPartialResultTypes(ctx));
  FailureOr<gpu::GPUFuncOp> kernel = createKernel(
      func, getOrCreateModule(func, kGpuModuleName, loc), kernelArgTypes,
      kernelName, kMergeRowsPerBlock * mha::kWarpSize, loc);
  if (failed(kernel))
    return failure();
  Block &body = kernel->getBody().front();
  unsigned partials = argTypes.size();
  MergeKernelArgs args{getParameterArgument(func, body, attention.getOutput()),
                       getParameterArgument(func, body, attention.getLse()),
                       body.getArgument(partials),
                       body.getArgument(partials + 1),
                       {}};
  OpBuilder b(ctx);
  emitMergeKernel(b, loc, *kernel, spec.shape.valueDim, args);
  return success();
}

LogicalResult ConvertMhaToNVVMPass::convertWarpPerRowFunction(
    func::FuncOp func, ArrayRef<Parameter> params, StringRef suffix,
    int64_t rowsPerBlock, int64_t heads, Location loc,
    function_ref<void(OpBuilder &, gpu::GPUFuncOp, Block &)> fill) {
  if (heads > 65535)
    return emitError(loc) << heads << " heads exceed the GPU grid's 65535";
  MLIRContext *ctx = func.getContext();
  KernelSignature signature = buildKernelSignature(ctx, params);
  SmallVector<Type> argTypes = signature.argTypes;
  argTypes.push_back(
      MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8)));
  std::string name = func.getSymName().str();
  std::string kernelName = name + "__" + suffix.str();
  FailureOr<gpu::GPUFuncOp> kernel =
      createKernel(func, getOrCreateModule(func, kGpuModuleName, loc), argTypes,
                   kernelName, rowsPerBlock * mha::kWarpSize, loc);
  if (failed(kernel))
    return failure();
  OpBuilder b(ctx);
  fill(b, *kernel, kernel->getBody().front());
  declareLaunch(func, name, rowsPerBlock, heads, signature,
                GpuLaunchAttr::get(
                    ctx,
                    describeWarpPerRowKernel(ctx, kernelName, rowsPerBlock), "",
                    GpuKernelAttr(), GpuKernelAttr(), "", GpuKernelAttr(),
                    GpuKernelAttr()));
  func.erase();
  return success();
}

LogicalResult ConvertMhaToNVVMPass::convertMergeFunction(func::FuncOp func,
                                                         MergeStatesOp merge) {
  FailureOr<SmallVector<Parameter>> params = matchMergeFunction(func, merge);
  if (failed(params))
    return failure();
  auto outputType = cast<RankedTensorType>(merge.getOutputA().getType());
  return convertWarpPerRowFunction(
      func, *params, "merge_kernel", kMergeRowsPerBlock,
      outputType.getDimSize(1), merge.getLoc(),
      [&](OpBuilder &b, gpu::GPUFuncOp kernel, Block &body) {
        auto arg = [&](Value v) { return getParameterArgument(func, body, v); };
        MergeKernelArgs args{arg(merge.getOutput()),
                             arg(merge.getLse()),
                             Value(),
                             Value(),
                             {{arg(merge.getOutputA()), arg(merge.getLseA())},
                              {arg(merge.getOutputB()), arg(merge.getLseB())}}};
        emitMergeKernel(b, merge.getLoc(), kernel, outputType.getDimSize(3),
                        args);
      });
}

FailureOr<gpu::GPUFuncOp> ConvertMhaToNVVMPass::createKernel(
    func::FuncOp func, gpu::GPUModuleOp gpuModule, ArrayRef<Type> argTypes,
    StringRef kernelName, int64_t blockThreads, Location loc) {
  if (!gpuModule)
    return failure();
  if (gpuModule.lookupSymbol(kernelName))
    return func.emitError() << "symbol '" << kernelName << "' already exists";
  MLIRContext *ctx = func.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(gpuModule.getBody());
  auto kernel = gpu::GPUFuncOp::create(b, loc, kernelName,
                                       FunctionType::get(ctx, argTypes, {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  kernel.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(blockThreads), 1, 1}));
  return kernel;
}

LogicalResult ConvertMhaToNVVMPass::convertAppendFunction(func::FuncOp func,
                                                          AppendKvOp append) {
  if (append.getKeyScale())
    return append.emitError()
           << "quantized caches (kv_scales) are not yet supported on the "
           << "GPU: compile this function with --target=cpu";
  FailureOr<SmallVector<Parameter>> params = matchAppendFunction(func, append);
  if (failed(params))
    return failure();
  std::optional<double> theta;
  if (append.getRopeTheta())
    theta = append.getRopeTheta()->convertToDouble();
  int64_t kvHeads =
      cast<RankedTensorType>(append.getKeyNew().getType()).getDimSize(1);
  return convertWarpPerRowFunction(
      func, *params, "append_kernel", kAppendRowsPerBlock, kvHeads,
      append.getLoc(), [&](OpBuilder &b, gpu::GPUFuncOp kernel, Block &body) {
        auto arg = [&](Value v) { return getParameterArgument(func, body, v); };
        AppendKernelArgs args{
            arg(append.getKeyNew()),     arg(append.getValueNew()),
            arg(append.getKvLens()),     arg(append.getQLens()),
            arg(append.getBlockTable()), arg(append.getCuSeqlensQ()),
            arg(append.getKeyCache()),   arg(append.getValueCache())};
        emitAppendKernel(b, append.getLoc(),
                         cast<gpu::GPUModuleOp>(kernel->getParentOp()), kernel,
                         func.getSymName(), theta, args);
      });
}

/// What the backward kernels cannot compute, as an error on the op.
LogicalResult checkBackwardSupported(const KernelSpec &spec) {
  AttentionOp attention = spec.attention;
  if (spec.elementType.isF32())
    return attention.emitError()
           << "the GPU backward computes f16 and bf16 functions (its tensor "
           << "cores would round f32 inputs past the f32 tolerance): "
           << "compile this f32 function with --target=cpu";
  if (attention.getCuSeqlensQ() || attention.getCuSeqlensK())
    return attention.emitError()
           << "the GPU backward does not yet take packed sequences "
           << "(cu_seqlens_q, cu_seqlens_k; kv_lens and q_lens it does): "
           << "compile this function with --target=cpu";
  if (spec.maxDim() > kMaxGpuBackwardHeadDim)
    return attention.emitError()
           << "the GPU backward supports head dims up to "
           << kMaxGpuBackwardHeadDim << " (D = " << spec.shape.headDim
           << ", Dv = " << spec.shape.valueDim
           << "): compile this function with --target=cpu";
  return success();
}

LogicalResult
ConvertMhaToNVVMPass::convertBackward(func::FuncOp func, const KernelSpec &spec,
                                      gpu::GPUModuleOp gpuModule) {
  if (failed(checkBackwardSupported(spec)))
    return failure();
  MLIRContext *ctx = func.getContext();
  AttentionOp attention = spec.attention;
  // The C order of `<name>_backward` (docs/language.md, 7.1).
  Type q = attention.getQuery().getType(), k = attention.getKey().getType(),
       v = attention.getValue().getType(), o = attention.getOutput().getType();
  SmallVector<Parameter> params = {
      {q, TensorRole::query}, {k, TensorRole::key}, {v, TensorRole::value}};
  for (auto [lengths, role] :
       {std::pair(attention.getKvLens(), TensorRole::kv_lens),
        std::pair(attention.getQLens(), TensorRole::q_lens)})
    if (lengths)
      params.push_back({lengths.getType(), role});
  params.append({{o, TensorRole::saved_output},
                 {attention.getLse().getType(), TensorRole::saved_lse},
                 {o, TensorRole::grad_output},
                 {q, TensorRole::grad_query},
                 {k, TensorRole::grad_key},
                 {v, TensorRole::grad_value}});
  KernelSignature signature = buildKernelSignature(ctx, params);
  SmallVector<Type> argTypes = signature.argTypes;
  argTypes.push_back(
      MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8)));

  // The query-row kernel: four warps of 16 rows, dQ, S and dP in
  // registers (32-key tiles above head dim 64).
  FlashKernelConfig rowsConfig;
  rowsConfig.headDim = spec.shape.headDim;
  rowsConfig.valueDim = spec.shape.valueDim;
  rowsConfig.elementType = spec.elementType;
  rowsConfig.warps = 4;
  rowsConfig.cols = spec.maxDim() <= 64 ? 64 : 32;
  // The key kernel: 64-key blocks, four warps of 16 keys, or eight that
  // split the columns of dk and dv above head dim 64.
  FlashKernelConfig keysConfig = rowsConfig;
  keysConfig.cols = 64;
  keysConfig.warps = spec.maxDim() <= 64 ? 4 : 8;

  std::string name = (func.getSymName() + "_backward").str();
  std::string rowsName = name + "__kernel", keysName = name + "__keys_kernel";
  auto build = [&](StringRef kernelName, BackwardKernelKind kind,
                   const FlashKernelConfig &config) -> LogicalResult {
    if (getBackwardKernelSharedBytes(kind, config) > kMaxSharedBytes)
      return attention.emitError()
             << "the GPU backward kernel would need "
             << getBackwardKernelSharedBytes(kind, config)
             << " bytes of shared memory (more than " << kMaxSharedBytes << ")";
    Location loc = attention.getLoc();
    FailureOr<gpu::GPUFuncOp> kernel = createKernel(
        func, gpuModule, argTypes, kernelName, config.threads(), loc);
    if (failed(kernel))
      return failure();
    OpBuilder b(ctx);
    Block &body = kernel->getBody().front();
    auto arg = [&](TensorRole role) -> Value {
      int64_t i = findParameter(params, role);
      return i < 0 ? Value() : body.getArgument(i);
    };
    BackwardKernelArgs args{
        arg(TensorRole::query),      arg(TensorRole::key),
        arg(TensorRole::value),      arg(TensorRole::kv_lens),
        arg(TensorRole::q_lens),     arg(TensorRole::saved_output),
        arg(TensorRole::saved_lse),  arg(TensorRole::grad_output),
        arg(TensorRole::grad_query), arg(TensorRole::grad_key),
        arg(TensorRole::grad_value), body.getArguments().back()};
    LLVM_DEBUG(llvm::dbgs()
               << DEBUG_TYPE << ": @" << kernelName << ": " << config.warps
               << " warps, " << config.cols << "-key tiles"
               << (config.alignedRows ? "" : ", unaligned rows") << "\n");
    emitBackwardKernel(b, loc, gpuModule, *kernel, kind, config, spec.variant,
                       args, func.getSymName());
    return success();
  };
  // Each kernel also in a copy for rows that are not 16-byte aligned; the
  // dq copy loads K/V tiles through registers, so they have 32 keys.
  FlashKernelConfig rowsUnaligned = rowsConfig, keysUnaligned = keysConfig;
  rowsUnaligned.alignedRows = keysUnaligned.alignedRows = false;
  rowsUnaligned.cols = std::min<int64_t>(rowsConfig.cols, 32);
  if (failed(build(rowsName, BackwardKernelKind::queryRows, rowsConfig)) ||
      failed(build(rowsName + "_unaligned", BackwardKernelKind::queryRows,
                   rowsUnaligned)) ||
      failed(build(keysName, BackwardKernelKind::keys, keysConfig)) ||
      failed(build(keysName + "_unaligned", BackwardKernelKind::keys,
                   keysUnaligned)))
    return failure();

  declareLaunch(
      func, name, rowsConfig.rowsPerBlock(), spec.shape.numHeads, signature,
      GpuLaunchAttr::get(
          ctx,
          describeBackwardKernel(ctx, rowsName, BackwardKernelKind::queryRows,
                                 rowsConfig),
          rowsName + "_unaligned", GpuKernelAttr(),
          describeBackwardKernel(ctx, keysName, BackwardKernelKind::keys,
                                 keysConfig),
          keysName + "_unaligned", GpuKernelAttr(), GpuKernelAttr()));
  return success();
}

} // namespace
