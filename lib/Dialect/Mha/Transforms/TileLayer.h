//===- TileLayer.h - Pieces of mha-tile for layers --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to mha-tile: what the layer driver (TileLayer.cpp) is built
// from. LayerMatching.cpp finds the parts of an expanded layer and the role
// of each argument; LayerGemmPlan.cpp splits each projection's weight into
// the column blocks of work items and plans how they are packed. The vector
// code of the GEMMs is convert-mha-to-vector's (mha.pack_panel and
// mha.gemm_tile, lib/Conversion/MhaToVector/LayerGemm.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_DIALECT_MHA_TRANSFORMS_TILELAYER_H
#define MHA_LIB_DIALECT_MHA_TRANSFORMS_TILELAYER_H

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <optional>
#include <string>
#include <utility>

namespace mlir::mha::layer {

/// Rows of a projection work item.
inline constexpr int64_t kProjectionRows = 192;
/// Rows of a phase whose grid has one tile whatever L.
inline constexpr int64_t kWholeSequence = int64_t(1) << 40;
/// Weight columns of an output-projection work item (a multiple of every
/// ISA's nv * vw). The grid is in the signature, which every ISA's kernel
/// shares: it must not depend on the ISA.
inline constexpr int64_t kColumnBlock = 128;

//===----------------------------------------------------------------------===//
// Matching (LayerMatching.cpp)
//===----------------------------------------------------------------------===//

/// The value of `v` if an arith.constant with dense elements defines it.
DenseElementsAttr getDenseConstant(Value v);

/// One part of a projection's weight (all of it, or one operand of the
/// tensor.concat mha-fuse made) with its bias part and its first column.
/// A quantized weight (mha.quantized) is its i8 values (int8, or int4 two
/// per byte) and its scales, one row of them per `groupSize` rows.
struct WeightPart {
  Value weight, bias, scale;
  int64_t column = 0;
  int64_t columns = 0; // Of the (dequantized) weight.
  bool int4 = false;
  int64_t groupSize = 0;

  /// The part of `weight` (unwrapping an mha.quantized).
  static WeightPart get(Value weight, Value bias, int64_t column);
};

/// The parts of `linear`'s weight, in column order.
SmallVector<WeightPart> getWeightParts(LinearOp linear);

/// The function's parts, found by matchLayer.
struct LayerParts {
  Value input; // The layer input x.
  // x . down of the low-rank projections (mha.low_rank), [B, L, r].
  SmallVector<LinearOp> downProjections;
  // Q, K, V (or parts): of x or of a down projection.
  SmallVector<LinearOp> projections;
  AttentionOp attention;
  LinearOp outputDown; // O . down of a low-rank Wo, or null.
  LinearOp output;     // y, of O or of outputDown.
  // #mha.sharing<latent>: the keys gathered from the per-head up-projection
  // (a projection) and the latent (a down projection), or null.
  LatentKeysOp latentKeys;
  // A decoding step: K and V appended to the caches the attention reads
  // (with kv_lens + L keys), or null.
  AppendKvOp append;
  // A latent (MLA) decoding step, absorbed: the queries' and the output's
  // per-head products with slices of Wv, and the RMS norm of the latent
  // (if any) before it is appended to the one cache. Null otherwise.
  HeadLinearOp absorbQuery, absorbOutput;
  RmsNormOp latentNorm;

  /// The new keys and values: the attention's operands, or those of the
  /// append that feeds it.
  Value getNewKeys() const {
    return append ? AppendKvOp(append).getKeyNew()
                  : AttentionOp(attention).getKey();
  }
  /// The latent projection of an absorbed latent step.
  LinearOp getLatent() const {
    Value keys = AppendKvOp(append).getKeyNew();
    Value latent = keys.getDefiningOp<SplitHeadsOp>().getInput();
    if (RmsNormOp norm = latentNorm)
      latent = norm.getInput();
    return latent.getDefiningOp<LinearOp>();
  }
  /// The cu_seqlens_q of a layer over packed sequences, or null.
  Value getPackedOffsets() const {
    return AttentionOp(attention).getCuSeqlensQ();
  }
  Value getNewValues() const {
    return append ? AppendKvOp(append).getValueNew()
                  : AttentionOp(attention).getValue();
  }
};

/// The parts of an expanded layer function; an error (and failure) naming
/// the first thing mha-tile cannot compile.
FailureOr<LayerParts> matchLayer(func::FuncOp func);

/// The role of each function argument.
FailureOr<SmallVector<TensorRole>> getArgumentRoles(func::FuncOp func,
                                                    const LayerParts &parts);

//===----------------------------------------------------------------------===//
// GEMM planning (LayerGemmPlan.cpp)
//===----------------------------------------------------------------------===//

/// The micro-kernels of a layer's GEMMs: `rows` x `vectors` accumulators of
/// `vw` f32 lanes, FMAs or (bf16Pairs) vdpbf16ps.
struct GemmKernel {
  int64_t vw, rows, vectors;
  bool bf16Pairs;
  // vpdpbusd on int8 weights and dynamically quantized inputs (the copy
  // for AVX512-BF16 CPUs, which all have AVX512-VNNI).
  bool int8Dot = false;

  static GemmKernel get(int64_t vectorWidth, bool bf16Pairs, bool int8Dot);
  /// The element type of the packed weights.
  Type getPackedType(MLIRContext *ctx) const;
};

/// One weight (part) of an mha.linear of the layer and how its work is
/// split.
struct LinearPlan {
  LinearOp op;
  // The function's (bias and scale may be null; a scale: weightValue is
  // int8, or int4 two per byte, mha.quantized, with a row of scales per
  // groupSize rows).
  Value weightValue, biasValue, scaleValue;
  bool int4 = false;
  int64_t groupSize = 0;
  int64_t yOffset = 0;        // First column of the part in y.
  Value x, w, bias, scale, y; // Kernel memrefs (bias, scale may be null).
  int64_t k = 0, n = 0, replicas = 1, headDim = 0;
  // A replicated projection has one plan per group of heads: W's columns
  // from `groupColumn` (n = headDim of them) for the heads of y and rows
  // of the bias from `groupHead`; `bias` is a view of that group.
  int64_t groupColumn = 0, groupHead = 0;
  int64_t colBlock = 0;        // Weight columns per work item.
  SmallVector<int64_t> blocks; // The column blocks the grid visits.
  SmallVector<int64_t> liveReplicas;
  SmallVector<std::pair<int64_t, int64_t>> segments; // Reduction ranges.
  bool rope = false;
  int64_t ropeOffset = 0; // The first rotated column of each head.
  // A quantized weight multiplied in integers (vpdpbusd): its panels are
  // quads of int8 rows with each K-block's column offsets and scales, its
  // input the unsigned bytes of a quantized copy of x or O whose row
  // scales are `inputScale`.
  bool int8 = false;
  Value inputScale;
  // bf16 pair panels (vdpbf16ps) on a bf16 input, in the copy whose kernel
  // has them (GemmKernel::bf16Pairs).
  bool pairs = false;
  // A bf16 layer's backward GEMM on an f32 temporary (O, dQKV): f32 panels
  // in every copy, in a packed temporary of their own.
  bool f32Input = false;
  // Whether the int8 path applies to this plan on a VNNI CPU (the copies'
  // shared signature has its temporaries and phases): `int8` in the copy
  // that has VNNI.
  bool quantizedInput = false;
  FloatAttr inputRmsEps; // Rows of x divided by their RMS, if set.
  std::string name;
  // The weights packed once per call (planPacking): one panel
  // [packedRows, panelWidth] per visited block, at packOffset + i *
  // panelSize of the packed temporary for blocks[i]; segment s starts at
  // panel row segmentRows[s].
  int64_t colPad = 0, kc = 0, packedRows = 0, panelWidth = 0, panelSize = 0;
  int64_t packOffset = 0;
  SmallVector<int64_t> segmentRows;
  // Constant weights are packed at compile time into a global of their
  // own (offset 0); `panels` is that global or the packed temporary.
  DenseElementsAttr constantWeight, constantScale;
  Value panels;
  // A GEMM of a layer's backward multiplies by transposed weights: segment
  // s packs W^T rows from its weight parameter `transposedWeights[s]`
  // (memref `transposedMemRefs[s]`) starting at its column
  // `transposedColumns[s]`. Empty for the forward's GEMMs.
  SmallVector<Value> transposedWeights, transposedMemRefs;
  SmallVector<int64_t> transposedColumns;
};

/// The plans of one projection part: one, or one per group of heads whose
/// live heads are computed (a replicated projection). The caller sets
/// their kernel memrefs.
SmallVector<LinearPlan, 1> planLinear(LinearOp op, const WeightPart &part,
                                      StringRef name);

/// Sizes the panels of `plan` and places them at `offset` of the packed
/// weights (of its own int8 buffer for an int8 plan); returns the offset
/// past them.
int64_t planPacking(LinearPlan &plan, const GemmKernel &kernel, int64_t offset);

/// The panels of a constant weight, packed now as mha.pack_panel would at
/// run time: [1, 1, panelSize * blocks] of the plan's panel type.
DenseElementsAttr packConstantWeight(const LinearPlan &plan);

} // namespace mlir::mha::layer

#endif // MHA_LIB_DIALECT_MHA_TRANSFORMS_TILELAYER_H
