//===- MhaToNVVM.cpp - Exported mha.attention functions to GPU kernels ----===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// convert-mha-to-nvvm: checks that a function fits the GPU kernel (f16/bf16
// tensors, head dims that are multiples of 16 up to 256, no probabilities or
// entropy), creates its kernels (the portable ones, and with sm90a the
// wgmma one in a module of its own) and lets FlashKernel fill their bodies,
// and leaves a declaration saying how to launch them.
//
//===----------------------------------------------------------------------===//

#include "FlashKernel.h"

#include "mha/Conversion/Passes.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Dialect/Mha/Transforms/KernelBuilder.h"
#include "mha/Runtime/GpuAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::mha {
#define GEN_PASS_DEF_CONVERTMHATONVVMPASS
#include "mha/Conversion/Passes.h.inc"
} // namespace mlir::mha

using namespace mlir;
using namespace mlir::mha;

namespace {

/// Largest head dim the kernel keeps in registers (O accumulators and Q
/// fragments grow with it).
constexpr int64_t kMaxGpuHeadDim = 256;

struct ConvertMhaToNVVMPass
    : public mha::impl::ConvertMhaToNVVMPassBase<ConvertMhaToNVVMPass> {
  using ConvertMhaToNVVMPassBase::ConvertMhaToNVVMPassBase;

  void runOnOperation() override {
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
    FailureOr<SmallVector<func::FuncOp>> funcs =
        collectExportedFunctions(module);
    if (failed(funcs))
      return signalPassFailure();
    if (!funcs->empty())
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      UnitAttr::get(module.getContext()));
    for (func::FuncOp func : *funcs)
      if (failed(convertFunction(func)))
        return signalPassFailure();
  }

  LogicalResult convertFunction(func::FuncOp func);
};

LogicalResult ConvertMhaToNVVMPass::convertFunction(func::FuncOp func) {
  FailureOr<AttentionOp> matched = matchExportableFunction(func);
  if (failed(matched))
    return failure();
  AttentionOp attention = *matched;
  MLIRContext *ctx = func.getContext();
  Location loc = attention.getLoc();
  ModuleOp module = getOperation();

  AttentionShape shape = AttentionShape::get(attention);
  int64_t numHeads = shape.numHeads, numKvHeads = shape.numKvHeads;
  int64_t headDim = shape.headDim, valueDim = shape.valueDim;
  Type elt = shape.query.getElementType();
  if (shape.key.getElementType() != elt || shape.value.getElementType() != elt)
    return attention.emitError()
           << "the GPU kernels need q, k and v of one element type";
  for (auto [name, dim] : {std::pair<StringRef, int64_t>{"D", headDim},
                           {"Dv", valueDim}})
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
  if (numHeads > 65535)
    return attention.emitError()
           << numHeads << " query heads exceed the GPU grid's 65535";
  AttentionVariant variant =
      AttentionVariant::get(attention, numHeads, numKvHeads, headDim);

  FlashKernelConfig config;
  config.headDim = headDim;
  config.valueDim = valueDim;
  // Tensor cores multiply f16/bf16; f32 specs are rounded to bf16 (f32
  // range, 8-bit mantissa) when staged into shared memory, and accumulate
  // in f32 like the others.
  config.elementType = elt.isF32() ? BFloat16Type::get(ctx) : elt;
  config.warps = warps;
  // Two row tiles per warp halve the shared-memory reads per MMA; their
  // accumulators only fit in registers up to head dim 128.
  int64_t maxDim = std::max(headDim, valueDim);
  config.rowTilesPerWarp = rowTiles ? rowTiles : maxDim <= 128 ? 2 : 1;
  // Key tiles: S holds rowTiles x cols / 2 registers per thread, and the
  // masked path (causal, windows, sinks) and ALiBi/softcap keep more values
  // live. The choice keeps every variant free of spills (ptxas -v over all
  // of scripts/gpu/cases.py in test/Target/NVPTX/variants.test).
  bool heavyScores = variant.hasAlibi || variant.softcap.has_value();
  bool masks = variant.causal || variant.hasWindows() || variant.sinkTokens;
  int64_t cols;
  if (config.rowTilesPerWarp == 1)
    cols = maxDim <= 128 ? 64 : heavyScores ? 16 : 32;
  else if (maxDim <= 64)
    cols = !heavyScores && !masks ? 64 : 32;
  else
    cols = variant.hasWindows() ? 16 : 32;
  config.cols = keysPerTile ? keysPerTile : cols;

  // GQA packing: the query heads of a KV group share one block's K/V tiles,
  // which matters when few query rows fill the block (decoding). Only
  // groups whose heads see the same windows are packed, so a local head
  // keeps costing what its window costs.
  bool uniformWindows = true;
  int64_t group = variant.groupSize();
  for (int64_t h = 0; h < numHeads; ++h) {
    int64_t first = h - h % group;
    uniformWindows &= variant.windowLeft(h) == variant.windowLeft(first) &&
                      variant.windowRight(h) == variant.windowRight(first);
  }
  auto headsPerBlock = [&](const FlashKernelConfig &c) {
    int64_t rowTiles = c.warps * c.rowTilesPerWarp, heads = 1;
    while (packGqa && uniformWindows && group % (2 * heads) == 0 &&
           rowTiles % (2 * heads) == 0)
      heads *= 2;
    return heads;
  };
  config.headsPerBlock = headsPerBlock(config);
  int64_t sharedBytes = getFlashKernelSharedBytes(config);
  // Every GPU from sm_80 on gives a block at least 163 KiB.
  constexpr int64_t kMaxSharedBytes = 163 * 1024;
  if (sharedBytes > kMaxSharedBytes)
    return attention.emitError()
           << "the GPU kernel would need " << sharedBytes
           << " bytes of shared memory (more than " << kMaxSharedBytes
           << "): use fewer warps or smaller key tiles";

  // The kernel signature: one memref per C parameter, then the head mask.
  SmallVector<Parameter> params = getExportedParameters(func, attention);
  SmallVector<Type> argTypes;
  SmallVector<Attribute> roles, types;
  for (const Parameter &p : params) {
    MemRefType t = getParameterMemRefType(cast<RankedTensorType>(p.tensorType));
    argTypes.push_back(t);
    roles.push_back(TensorRoleAttr::get(ctx, p.role));
    types.push_back(TypeAttr::get(t));
  }
  argTypes.push_back(MemRefType::get({ShapedType::kDynamic},
                                     IntegerType::get(ctx, 8)));

  // The portable kernels of a spec share one gpu.module (one PTX/cubin per
  // chip that the runtime loads once), the sm_90a kernels another.
  std::string name = func.getSymName().str();
  std::string kernelName = name + "__kernel";
  OpBuilder b(func);
  auto getModule = [&](StringRef moduleName) -> gpu::GPUModuleOp {
    if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(moduleName))
      return existing;
    if (module.lookupSymbol(moduleName)) {
      func.emitError() << "symbol '" << moduleName
                       << "' is taken: the GPU kernels' module needs it";
      return {};
    }
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    return gpu::GPUModuleOp::create(b, loc, moduleName);
  };
  auto buildKernel = [&](gpu::GPUModuleOp gpuModule, StringRef kernelSymbol,
                         const FlashKernelConfig &kernelConfig,
                         StringRef prefix) -> LogicalResult {
    if (gpuModule.lookupSymbol(kernelSymbol))
      return func.emitError() << "symbol '" << kernelSymbol
                              << "' already exists";
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(gpuModule.getBody());
    // TMA kernels take the tensor maps' address last.
    SmallVector<Type> kernelArgTypes(argTypes);
    if (kernelConfig.tmaLoads)
      kernelArgTypes.push_back(b.getI64Type());
    auto kernel = gpu::GPUFuncOp::create(
        b, loc, kernelSymbol, FunctionType::get(ctx, kernelArgTypes, {}));
    kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    kernel.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
        {static_cast<int32_t>(kernelConfig.threads()), 1, 1}));
    Block &body = kernel.getBody().front();
    auto argFor = [&](Value tensor) {
      return getParameterArgument(func, body, tensor);
    };
    unsigned maskArg = argTypes.size() - 1;
    FlashKernelArgs args{argFor(attention.getQuery()),
                         argFor(attention.getKey()),
                         argFor(attention.getValue()),
                         argFor(attention.getOutput()),
                         argFor(attention.getLse()),
                         body.getArgument(maskArg),
                         kernelConfig.tmaLoads ? body.getArgument(maskArg + 1)
                                               : Value()};
    emitFlashKernel(b, loc, gpuModule, kernel, kernelConfig, variant, args,
                    prefix);
    return success();
  };
  gpu::GPUModuleOp gpuModule = getModule(kGpuModuleName);
  if (!gpuModule)
    return failure();
  // Two kernels: one for rows on 16-byte boundaries (cp.async copies), and
  // the same for any other rows (any strides are valid input), which the
  // runtime launches when the first cannot run. Synchronous row loads keep
  // a tile's elements in registers until they are stored: 16-key tiles
  // keep the fallback free of spills (it uses less shared memory than the
  // launch provides, which is fine).
  std::string fallbackName = name + "__kernel_unaligned";
  int32_t threads = static_cast<int32_t>(config.threads());
  FlashKernelConfig unaligned = config;
  unaligned.alignedRows = false;
  unaligned.cols = std::min<int64_t>(config.cols, 16);
  if (failed(buildKernel(gpuModule, kernelName, config, name)) ||
      failed(buildKernel(gpuModule, fallbackName, unaligned, name)))
    return failure();

  // The sm_90a kernel: warpgroups of 4 warps x 16 rows.
  std::optional<FlashKernelConfig> archConfig;
  std::string archKernelName = name + "__kernel_sm90a";
  if (sm90a && headDim % 64 == 0 && valueDim % 64 == 0) {
    FlashKernelConfig hopper = config;
    hopper.warpgroupMma = true;
    hopper.rowTilesPerWarp = 1;
    // Measured on an H200 (docs/gpu-runs/h200-s3-tune*): two warpgroups
    // up to head dim 128, with 256-key tiles at head dim 64 (+11% over 128
    // keys; masked specs spill with them and keep 128) and 128-key tiles at
    // 128; one warpgroup above.
    hopper.warps = 4 * (sm90aWarpgroups ? sm90aWarpgroups
                        : maxDim <= 128 ? 2
                                        : 1);
    hopper.pad = 0;
    hopper.headsPerBlock = headsPerBlock(hopper);
    // K and V by TMA with a producer warp, where the tensors hold the MMA
    // element type (f32 specs are rounded on the way, by the consumers).
    hopper.tmaLoads = !elt.isF32() && hopper.warps == 8;
    // S (cols / 2 f32) and O (Dv / 2 f32) per thread; the masked path and
    // ALiBi/softcap keep more values live (no spills over the check's
    // variants, test/Target/NVPTX/variants.test).
    if (sm90aKeysPerTile)
      hopper.cols = sm90aKeysPerTile;
    else if (maxDim <= 64)
      hopper.cols = heavyScores || masks ? 128 : 256;
    else if (maxDim <= 128)
      hopper.cols = heavyScores ? 64 : 128;
    else
      hopper.cols = heavyScores || masks ? 32 : 64;
    // Every sm_90 GPU gives a block 227 KiB.
    if (getFlashKernelSharedBytes(hopper) <= 227 * 1024)
      archConfig = hopper;
  }
  if (archConfig) {
    gpu::GPUModuleOp archModule = getModule(kGpuSm90aModuleName);
    if (!archModule ||
        failed(buildKernel(archModule, archKernelName, *archConfig,
                           name + "_sm90a")))
      return failure();
  }

  // The declaration the host side is built from.
  b.setInsertionPoint(func);
  auto decl = func::FuncOp::create(b, func.getLoc(), name,
                                   FunctionType::get(ctx, {}, {}));
  decl.setPrivate();
  decl->setAttr("mha.entry_point",
                EntryPointAttr::get(ctx, name,
                                    config.rowsPerBlock() / config.headsPerBlock,
                                    numHeads,
                                    ArrayAttr::get(ctx, roles),
                                    ArrayAttr::get(ctx, types)));
  auto i32 = [&](int64_t v) { return b.getI32IntegerAttr((int32_t)v); };
  decl->setAttr(kGpuLaunchAttrName,
                b.getDictionaryAttr({
                    b.getNamedAttr("module", b.getStringAttr(kGpuModuleName)),
                    b.getNamedAttr("kernel", b.getStringAttr(kernelName)),
                    b.getNamedAttr("fallback_kernel",
                                   b.getStringAttr(fallbackName)),
                    b.getNamedAttr("block_threads", i32(threads)),
                    b.getNamedAttr("shared_bytes", i32(sharedBytes)),
                    b.getNamedAttr("rows_per_block",
                                   i32(config.rowsPerBlock() /
                                       config.headsPerBlock)),
                    b.getNamedAttr("requirements",
                                   i32(MHA_GPU_REQ_ALIGNED_ROWS)),
                    b.getNamedAttr("heads_per_block",
                                   i32(config.headsPerBlock)),
                }));
  if (archConfig) {
    NamedAttrList attrs(decl->getAttrOfType<DictionaryAttr>(kGpuLaunchAttrName));
    attrs.set("arch_module", b.getStringAttr(kGpuSm90aModuleName));
    attrs.set("arch_kernel", b.getStringAttr(archKernelName));
    attrs.set("arch_block_threads", i32(archConfig->threads()));
    attrs.set("arch_shared_bytes",
              i32(getFlashKernelSharedBytes(*archConfig)));
    attrs.set("arch_rows_per_block", i32(archConfig->rowsPerBlock() /
                                         archConfig->headsPerBlock));
    attrs.set("arch_heads_per_block", i32(archConfig->headsPerBlock));
    attrs.set("arch_requirements",
              i32(MHA_GPU_REQ_ALIGNED_ROWS |
                  (archConfig->tmaLoads ? MHA_GPU_REQ_TENSOR_MAPS : 0)));
    attrs.set("arch_tma_box_rows", i32(archConfig->tmaLoads
                                           ? archConfig->cols
                                           : 0));
    decl->setAttr(kGpuLaunchAttrName, attrs.getDictionary(ctx));
  }
  func.erase();
  return success();
}

} // namespace
