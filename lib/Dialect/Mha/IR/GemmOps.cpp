//===- GemmOps.cpp - Verifiers of the layer GEMM ops ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace mlir::mha;

/// The padded width P of a panel of `type`: its width, or half of it for
/// bf16 pairs; fails unless P is static and a multiple of `multiple`.
static FailureOr<int64_t> verifyPanelWidth(Operation *op, MemRefType type,
                                           int64_t multiple) {
  int64_t width = type.getDimSize(1);
  // Values per column: bf16 pairs, int8 quads.
  int64_t group = type.getElementType().isBF16()               ? 2
                  : type.getElementType().isSignlessInteger(8) ? 4
                                                               : 1;
  int64_t padded = width / group;
  if (ShapedType::isDynamic(width) || width % group != 0 ||
      padded % multiple != 0) {
    op->emitOpError() << "'panel' must have a static width that is a multiple "
                         "of "
                      << group * multiple << ", got " << type;
    return failure();
  }
  return padded;
}

LogicalResult PackPanelOp::verify() {
  bool quantized = getWeight().getType().getElementType().isSignlessInteger(8);
  bool quads = getPanel().getType().getElementType().isSignlessInteger(8);
  if (quantized != bool(getScale()))
    return emitOpError() << "an i8 weight needs its 'scale', and only an i8 "
                            "weight takes one";
  if (getInt4() && !quantized)
    return emitOpError() << "'int4' weights are packed in an i8 tensor";
  if (quads && (!quantized || !getKBlock() || *getKBlock() % 4 != 0))
    return emitOpError() << "an i8 panel holds an i8 weight in K-blocks of "
                            "a 'k_block' multiple of 4";
  if (!quads && getKBlock())
    return emitOpError() << "only an i8 panel has a 'k_block'";
  if (getTranspose() && quantized)
    return emitOpError() << "a 'transpose' weight is not quantized";
  return verifyPanelWidth(*this, getPanel().getType(), getVectorWidth());
}

LogicalResult WeightGradTileOp::verify() {
  if (!getA() && getReplicas() != 1)
    return emitOpError() << "a bias gradient (no 'a') has 'replicas' = 1";
  if (getReplicas() > 1 && getReplicaStride() <= 0)
    return emitOpError() << "'replica_stride' must be > 0 with 'replicas' = "
                         << getReplicas();
  if (getVectorWidth() % 4 != 0)
    return emitOpError() << "'vector_width' must be a multiple of 4, got "
                         << getVectorWidth();
  if (getBf16Pairs() && (!getA() || getVectorWidth() != 16))
    return emitOpError() << "'bf16_pairs' needs 'a' and 'vector_width' = 16, "
                            "got "
                         << (getA() ? "" : "no 'a' and ")
                         << "'vector_width' = " << getVectorWidth();
  return success();
}

LogicalResult QuantizeRowsOp::verify() {
  int64_t k = getInput().getType().getDimSize(2);
  int64_t padded = getOutput().getType().getDimSize(2);
  if (ShapedType::isDynamic(k) || ShapedType::isDynamic(padded) || padded < k ||
      padded % 4 != 0)
    return emitOpError() << "'output' must have static columns K' >= K = " << k
                         << ", a multiple of 4, got " << getOutput().getType();
  if (getScale().getType().getDimSize(2) != 1)
    return emitOpError() << "'scale' must be [B, L, 1], got "
                         << getScale().getType();
  return success();
}

LogicalResult GemmTileOp::verify() {
  int64_t vw = getVectorWidth(), blockVectors = getBlockVectors();
  FailureOr<int64_t> padded =
      verifyPanelWidth(*this, getPanel().getType(), vw * blockVectors);
  if (failed(padded))
    return failure();
  MemRefType acc = getAccScratch().getType();
  if (acc.getDimSize(1) != *padded || ShapedType::isDynamic(acc.getDimSize(0)))
    return emitOpError() << "'acc_scratch' must be [R, " << *padded
                         << "] with a static R, got " << acc;
  bool i8Input = getInput().getType().getElementType().isSignlessInteger(8);
  if (hasQuads() != i8Input || hasQuads() != bool(getInputScale()))
    return emitOpError() << "an i8 panel (vpdpbusd micro-kernels) takes an "
                            "i8 input and 'dequantize' scales, and only it";
  if (hasQuads() && (vw != 16 || getKBlock() % 4 != 0))
    return emitOpError() << "an i8 panel needs 16 lanes and a 'k_block' "
                            "multiple of 4, got "
                         << vw << " lanes and " << getKBlock();
  if (hasPairs() && (vw != 16 || getKBlock() % 2 != 0))
    return emitOpError() << "a bf16 panel (vdpbf16ps micro-kernels) needs "
                            "16 lanes and an even 'k_block', got "
                         << vw << " lanes and " << getKBlock();
  ArrayRef<int64_t> segments = getSegments();
  if (segments.empty() || segments.size() % 2 != 0)
    return emitOpError() << "'segments' must be (start, length) pairs, got "
                         << segments.size() << " values";
  int64_t panelRows = 0;
  for (size_t i = 0; i < segments.size(); i += 2) {
    if (segments[i] < 0 || segments[i + 1] < 1)
      return emitOpError() << "segment " << i / 2
                           << " must have a start >= 0 and a length >= 1, "
                              "got ("
                           << segments[i] << ", " << segments[i + 1] << ")";
    if (hasQuads() && segments[i] % 4 != 0)
      return emitOpError() << "an i8 panel's segments start at multiples of "
                              "4, got "
                           << segments[i];
    panelRows += getSegmentPanelRows(segments[i + 1],
                                     hasPairs()   ? 2
                                     : hasQuads() ? 4
                                                  : 1,
                                     getKBlock());
  }
  int64_t rows = getPanel().getType().getDimSize(0);
  if (!ShapedType::isDynamic(rows) && rows != panelRows)
    return emitOpError() << "'panel' must have the " << panelRows
                         << " rows of the segments, got " << rows;
  ArrayRef<int64_t> replicas = getReplicas();
  if (replicas.empty())
    return emitOpError() << "'replicas' must list at least one replica";
  for (size_t i = 0; i < replicas.size(); ++i)
    if (replicas[i] < 0 || (i > 0 && replicas[i] <= replicas[i - 1]))
      return emitOpError() << "'replicas' must be increasing and >= 0";
  if (Value table = getRopeTable()) {
    int64_t dim = cast<MemRefType>(table.getType()).getDimSize(2);
    if (ShapedType::isDynamic(dim) || dim % 2 != 0)
      return emitOpError() << "'rope_table' must have a static even head "
                              "dim, got "
                           << table.getType();
    int64_t offset = getRopeOffset();
    if (offset < 0 || offset + dim > getPaddedColumns())
      return emitOpError() << "the rotated columns [" << offset << ", "
                           << offset + dim << ") must lie in the "
                           << getPaddedColumns() << " of the panel";
  }
  return success();
}

LogicalResult HeadGemmOp::verify() {
  return HeadLinearDims::verify(
      *this, getInput().getType(), getWeight().getType(), getOutput().getType(),
      getNumHeads(), getWeightOffset(), getTransposeWeight());
}
