//===- MhaDialect.cpp - The mha dialect -------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/Dialect/Mha/IR/MhaAttrs.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Runtime/GpuAbi.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::mha;

#include "mha/Dialect/Mha/IR/MhaDialect.cpp.inc"
#include "mha/Dialect/Mha/IR/MhaEnums.cpp.inc"

// Descriptors carry #mha.gpu_kernel requirements as they are: the bits of
// include/mha/Runtime/GpuAbi.h.
static_assert(static_cast<int32_t>(GpuRequirements::aligned_rows) ==
                      MHA_GPU_REQ_ALIGNED_ROWS &&
                  static_cast<int32_t>(GpuRequirements::tensor_maps) ==
                      MHA_GPU_REQ_TENSOR_MAPS,
              "#mha.gpu_kernel requirements are the MHA_GPU_REQ_* bits");

#define GET_ATTRDEF_CLASSES
#include "mha/Dialect/Mha/IR/MhaAttrs.cpp.inc"

void MhaDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "mha/Dialect/Mha/IR/MhaAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "mha/Dialect/Mha/IR/MhaOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// #mha.gpu_kernel and #mha.gpu_launch
//===----------------------------------------------------------------------===//

LogicalResult
GpuKernelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      StringRef module, StringRef name, int32_t blockThreads,
                      int32_t sharedBytes, int32_t rowsPerBlock,
                      int32_t headsPerBlock, GpuRequirements requirements,
                      int32_t tmaBoxRows, bool overKeys) {
  if (module.empty() || name.empty())
    return emitError() << "a GPU kernel needs a module and a name";
  if (blockThreads < 1 || blockThreads > 1024)
    return emitError() << "block_threads must be in [1, 1024], got "
                       << blockThreads;
  if (sharedBytes < 0)
    return emitError() << "shared_bytes must not be negative";
  if (rowsPerBlock < 1 || headsPerBlock < 1)
    return emitError() << "rows_per_block and heads_per_block must be "
                       << "positive";
  bool tensorMaps =
      bitEnumContainsAll(requirements, GpuRequirements::tensor_maps);
  if (tensorMaps &&
      !bitEnumContainsAll(requirements, GpuRequirements::aligned_rows))
    return emitError() << "tensor_maps requires aligned_rows";
  if (tensorMaps != (tmaBoxRows > 0) || tmaBoxRows < 0 || tmaBoxRows > 256)
    return emitError() << "tma_box_rows (keys per TMA box, at most 256) is "
                       << "set with tensor_maps and only then, got "
                       << tmaBoxRows;
  if (overKeys && headsPerBlock != 1)
    return emitError() << "a kernel over keys has heads_per_block = 1 (a "
                       << "block per KV head), got " << headsPerBlock;
  return success();
}

LogicalResult
GpuLaunchAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      GpuKernelAttr kernel, StringRef fallbackKernel,
                      GpuKernelAttr sm90aKernel, GpuKernelAttr thenKernel,
                      StringRef thenFallbackKernel, GpuKernelAttr splitKernel,
                      GpuKernelAttr mergeKernel) {
  if (!kernel)
    return emitError() << "a GPU launch needs its portable kernel";
  if (bitEnumContainsAll(kernel.getRequirements(),
                         GpuRequirements::tensor_maps))
    return emitError() << "the portable kernel cannot require tensor_maps: "
                       << "it runs where they cannot be encoded";
  if (fallbackKernel == kernel.getName())
    return emitError() << "fallback_kernel names the kernel itself";
  if (sm90aKernel && sm90aKernel.getModule() == kernel.getModule())
    return emitError() << "the sm90a kernel needs a module of its own "
                       << "(compiled for sm_90a only)";
  if (!thenKernel && !thenFallbackKernel.empty())
    return emitError() << "then_fallback_kernel needs a then_kernel";
  if (thenKernel &&
      (sm90aKernel || thenKernel.getModule() != kernel.getModule()))
    return emitError() << "then_kernel runs after a portable kernel of its "
                       << "module, without an sm90a kernel";
  if (thenKernel && thenFallbackKernel == thenKernel.getName())
    return emitError() << "then_fallback_kernel names then_kernel itself";
  if (!splitKernel != !mergeKernel)
    return emitError() << "split_kernel and merge_kernel come together";
  if (!splitKernel)
    return success();
  if (thenKernel)
    return emitError() << "split_kernel is for a forward kernel, without "
                       << "then_kernel";
  if (splitKernel.getModule() != kernel.getModule() ||
      mergeKernel.getModule() != kernel.getModule())
    return emitError() << "split_kernel and merge_kernel must be in the "
                       << "portable kernel's module";
  if (splitKernel.getOverKeys() || mergeKernel.getOverKeys() ||
      bitEnumContainsAll(splitKernel.getRequirements(),
                         GpuRequirements::tensor_maps) ||
      mergeKernel.getRequirements() != GpuRequirements::none ||
      mergeKernel.getHeadsPerBlock() != 1)
    return emitError() << "split_kernel walks query rows without tensor "
                       << "maps; merge_kernel walks the rows of one head "
                       << "per block, without requirements";
  return success();
}

//===----------------------------------------------------------------------===//
// mha.backward on a func.func
//===----------------------------------------------------------------------===//

/// The layer forms `<name>_backward` differentiates: one mha.multi_head
/// on the function's arguments, without a cache, whose y is the only
/// result, with weights that are plain tensors (docs/language.md 7.3).
static LogicalResult verifyLayerBackward(Operation *op, StringRef name,
                                         Operation *terminator) {
  SmallVector<MultiHeadOp> layers;
  op->walk([&](MultiHeadOp l) { layers.push_back(l); });
  // An expanded layer was verified before mha-expand-layer.
  if (layers.empty())
    return success();
  if (layers.size() != 1)
    return op->emitError() << "'mha.backward' differentiates one "
                           << "mha.multi_head, but '" << name << "' has "
                           << layers.size();
  MultiHeadOp layer = layers.front();
  if (layer.getKeyCache())
    return op->emitError() << "'mha.backward' of a decoding step (an "
                           << "mha.multi_head with a cache) is not "
                           << "supported: caches are for inference";
  if (!layer.getExtras().empty() || !terminator ||
      terminator->getNumOperands() != 1 ||
      terminator->getOperand(0) != layer.getOutput())
    return op->emitError() << "'mha.backward' needs '" << name
                           << "' to return only the y of its mha.multi_head "
                           << "(the backward takes dy; lse, probs and "
                           << "entropy of a layer get no gradient)";
  // The differentiated tensors: the operands, or a low-rank weight's two
  // factors (each gets its gradient).
  SmallVector<Value> tensors;
  for (Value operand : layer->getOperands()) {
    auto lowRank = operand.getDefiningOp<LowRankOp>();
    if (!lowRank) {
      tensors.push_back(operand);
      continue;
    }
    tensors.append({lowRank.getDown(), lowRank.getUp()});
  }
  for (Value operand : tensors) {
    Operation *def = operand.getDefiningOp();
    if (def && isa<QuantizedOp>(def))
      return op->emitError() << "'mha.backward' of a layer with quantized "
                             << "weights (mha.quantized) is not supported: "
                             << "quantized weights are for inference";
    if (!isa<BlockArgument>(operand))
      return op->emitError() << "'mha.backward' needs every operand of the "
                             << "mha.multi_head to be an argument of '" << name
                             << "': the backward returns the "
                             << "gradient of each weight and bias";
  }
  // One gradient per argument: tied weights would need their roles' sums.
  SmallPtrSet<Value, 8> seen;
  for (Value operand : tensors)
    if (!seen.insert(operand).second)
      return op->emitError()
             << "'mha.backward' needs the operands of the "
             << "mha.multi_head to be distinct arguments "
             << "(argument " << cast<BlockArgument>(operand).getArgNumber()
             << " is used twice): its backward returns one "
             << "gradient per argument";
  return success();
}

LogicalResult MhaDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  if (attr.getName() != kBackwardAttrName)
    return success();
  if (!isa<UnitAttr>(attr.getValue()))
    return op->emitError() << "'mha.backward' must be a unit attribute";
  auto func = dyn_cast<FunctionOpInterface>(op);
  if (!func || op->getName().getStringRef() != "func.func")
    return op->emitError() << "'mha.backward' applies to a func.func";
  StringRef name = SymbolTable::getSymbolName(op).getValue();
  if (func.isExternal() ||
      SymbolTable::getSymbolVisibility(op) != SymbolTable::Visibility::Public)
    return op->emitError() << "'mha.backward' needs a public function "
                           << "definition: its gradients are exported as '"
                           << name << "_backward'";
  SmallVector<AttentionOp> attentions;
  SmallVector<AttentionKlOp> losses;
  bool layer = false;
  op->walk([&](Operation *inner) {
    if (auto a = dyn_cast<AttentionOp>(inner))
      attentions.push_back(a);
    if (auto kl = dyn_cast<AttentionKlOp>(inner))
      losses.push_back(kl);
    // A layer, or its parts after mha-expand-layer.
    layer |= isa<MultiHeadOp, LinearOp>(inner);
  });
  Block &body = func.getFunctionBody().front();
  Operation *terminator = body.empty() ? nullptr : &body.back();
  auto returned = [&](Value v) {
    return terminator && llvm::is_contained(terminator->getOperands(), v);
  };
  // The student's gradient of an attention-transfer loss recomputes both
  // distributions from their lse.
  if (losses.size() == 1 && attentions.empty()) {
    AttentionKlOp kl = losses.front();
    if (!returned(kl.getKl()) || !returned(kl.getTeacherLse()) ||
        !returned(kl.getStudentLse()))
      return op->emitError() << "'mha.backward' needs '" << name
                             << "' to return the kl, teacher_lse and "
                             << "student_lse of its mha.attention_kl: the "
                             << "gradient recomputes both distributions "
                             << "from their lse";
    return success();
  }
  if (!losses.empty())
    return op->emitError() << "'mha.backward' differentiates one "
                           << "mha.attention or one mha.attention_kl, but '"
                           << name << "' has " << attentions.size() << " and "
                           << losses.size();
  if (layer)
    return verifyLayerBackward(op, name, terminator);
  if (attentions.size() != 1)
    return op->emitError() << "'mha.backward' differentiates the function's "
                           << "only mha.attention, but '" << name << "' has "
                           << attentions.size();
  AttentionOp attention = attentions.front();
  // Training batches are padded (kv_lens, q_lens) or packed (cu_seqlens);
  // pages are a serving engine's.
  if (attention.getBlockTable())
    return op->emitError() << "'mha.backward' of an mha.attention over "
                           << "paged keys (block_table) is not supported: "
                           << "paged caches are for inference";
  // The grid's rows are the queries' sequences: packed keys past the last
  // offset belong to the item row packed queries add.
  if (attention.getCuSeqlensK() && !attention.getCuSeqlensQ())
    return op->emitError() << "'mha.backward' of an mha.attention with "
                           << "packed keys (cu_seqlens_k) needs packed "
                           << "queries (cu_seqlens_q) too";
  if (attention.getKeyScale())
    return op->emitError() << "'mha.backward' of an mha.attention over a "
                           << "quantized cache (kv_scales) is not "
                           << "supported: quantized caches are for "
                           << "inference";
  if (!attention.getReturnLse())
    return op->emitError()
           << "'mha.backward' needs the forward to return lse (add "
           << "return_lse to the mha.attention and return it): the backward "
           << "recomputes the probabilities from o and lse";
  // o and lse must be results of the function: the caller passes them back.
  auto returns = [&](unsigned result) {
    return terminator && result < attention->getNumResults() &&
           llvm::is_contained(terminator->getOperands(),
                              attention->getResult(result));
  };
  if (!returns(0) || !returns(1))
    return op->emitError() << "'mha.backward' needs '" << name
                           << "' to return the output and lse of its "
                           << "mha.attention";
  // Its gradient dentropy is a parameter of the backward.
  if (attention.getReturnEntropy() && !returns(attention->getNumResults() - 1))
    return op->emitError() << "'mha.backward' needs '" << name
                           << "' to return the entropy its mha.attention "
                           << "computes: the backward takes its gradient";
  return success();
}
