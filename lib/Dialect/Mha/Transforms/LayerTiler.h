//===- LayerTiler.h - mha-tile's layer kernels ------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to mha-tile: LayerTiler builds the phased kernel of a layer
// function (TileLayer.cpp) and of its backward (TileLayerBackward.cpp),
// which recomputes the forward's phases before the gradients'.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_DIALECT_MHA_TRANSFORMS_LAYERTILER_H
#define MHA_LIB_DIALECT_MHA_TRANSFORMS_LAYERTILER_H

#include "TileAttention.h"
#include "TileLayer.h"

#include "mha/Codegen/Builder.h"
#include "mha/Codegen/EntryPoint.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <string>

namespace mlir::mha::layer {

/// Builds the kernel of one layer function.
class LayerTiler {
public:
  LayerTiler(ModuleOp module, func::FuncOp func, const LayerParts &parts,
             const TileChoice &tiles, const GemmKernel &kernel)
      : module(module), func(func), parts(parts), tiles(tiles), kernel(kernel),
        ctx(func.getContext()), loc(func.getLoc()), b(func), cb(b, loc),
        name(func.getSymName().str()),
        shape(AttentionShape::get(parts.attention)) {}

  LogicalResult run(ArrayRef<TensorRole> argRoles);
  /// The kernel of `<name>_backward` (TileLayerBackward.cpp): the forward's
  /// projections and attention recomputed (with the attention's lse), then
  /// the gradients. The function stays (its forward is tiled next).
  LogicalResult runBackward(ArrayRef<TensorRole> argRoles);

private:
  /// The C parameters: the arguments, then the results.
  void addParameters(ArrayRef<TensorRole> argRoles);
  /// The plans of the GEMMs and the size of the weights packed at run time.
  void planGemms();
  /// Sets `plan`'s panel kind (`f32Input`: it reads an f32 temporary) and
  /// places its panels in the packed temporary of that kind.
  void placePanels(LinearPlan &plan, bool f32Input);
  /// The packed temporary `plan`'s panels live in.
  Value getPackedTemp(const LinearPlan &plan) const;
  /// The plans of `linears`' GEMMs (with their kernel memrefs).
  SmallVector<LinearPlan, 4> getPlans(ArrayRef<LinearOp> linears) const;
  /// The temporaries: Q, K, V (one per projection), the attention output,
  /// the RoPE table and the packed weights.
  LogicalResult addTemporaries();
  /// The arguments after the temporaries: the call words, a splitting
  /// step's partial results, the grid position.
  void addTrailingArguments();
  /// A temporary of `elt`s, whose signature declares `bytes` per element
  /// (0: elt's size).
  unsigned addTemp(int64_t cols, int64_t tempShape, Type elt,
                   int64_t bytes = 0);
  /// Creates the kernel and sets the plans' memrefs.
  void createKernel();
  /// Whether the attention items read the call words: for dropout, for
  /// sequences of different lengths, and for grouped items (the thread
  /// count, the head mask). Every layer kernel takes them
  /// (the GEMM phases read MHA_LAYER_FLAT_ROWS).
  bool attentionReadsCallWords() const {
    AttentionOp attention = parts.attention;
    return attention.getDropout() || attention.hasServingOperands() ||
           tiles.groupRows || splitsKeys();
  }
  /// Whether a decoding step's attention may split its keys across items
  /// (split-KV, KernelAbi.h): as an attention function's would, when it
  /// returns no entropy (its merge combines outputs and lse only).
  bool splitsKeys() const {
    AttentionOp attention = parts.attention;
    return parts.append && !attention.getReturnEntropy();
  }

  /// Emits `body` under `if (phase == p)` and records the phase's grid:
  /// `body` returns its number of heads (items per row tile); `kind` is an
  /// MHA_PHASE_* of KernelAbi.h.
  void addPhase(int64_t rows, int64_t kind, function_ref<int64_t()> body);
  /// Items of `grid`'s blocks side by side in one grid: `body(plan, local)`
  /// for blocks[local] of `plan`. Returns the number of items.
  int64_t forEachBlock(ArrayRef<LinearPlan> grid,
                       function_ref<void(const LinearPlan &, Value)> body);
  /// The MHA_PHASE_* flags of the phase that packs `plan`'s panels: in a
  /// backward, the recomputation's or y's; the gradients' have none.
  int64_t getPackingFlags(const LinearPlan &plan) const;
  /// The packing phase of the weights that are arguments whose plans have
  /// these flags (all of a forward's).
  void emitPackingPhase(int64_t flags);
  void emitRopeTable();
  int64_t emitProjections(ArrayRef<LinearPlan> grid);
  /// The phase of `linears`' GEMMs, an MHA_PHASE_FLAT phase: with
  /// MHA_LAYER_FLAT_ROWS set, its items take rows of every batch element
  /// ([1, B L, cols] views), so a weight panel is read once for all
  /// sequences, however short.
  void addGemmPhase(ArrayRef<LinearOp> linears);
  /// The same phase of the GEMMs of `grid`.
  void addPlansPhase(ArrayRef<LinearPlan> grid);
  /// `m` [B, L, cols] as [1, B L, cols] (its rows evenly spaced: L = 1, or
  /// a batch stride of L row strides).
  Value getFlatRows(Value m);
  /// The int8 rows and row scales of `source` (x or O) for the int8 plans
  /// that read it, one item per row tile.
  void addQuantizePhase(Value source);
  /// `body(rows)` under a test of MHA_LAYER_FLAT_ROWS: for flat rows
  /// (batch 0 of B L rows, `rows(m)` = getFlatRows(m)) and per batch
  /// element (`rows(m)` = m). Returns the items `body` makes.
  int64_t
  emitFlatOrPerBatch(function_ref<int64_t(function_ref<Value(Value)>)> body);
  /// The rows of a row tile of one head of mha.latent_keys.
  void emitLatentKeys();
  /// The rows of a row tile of the latent, divided by their RMS in place.
  void emitLatentNorm();
  /// The first `columns` columns of the rows of a row tile of the [B, L,
  /// cols] temporary `temp` divided by their RMS (sqrt(mean(c^2) + eps))
  /// in place; with `scales`, 1/RMS to scales[batch, l, scaleColumn].
  void emitRmsNormRows(Value temp, int64_t columns, float eps,
                       Value scales = Value(), int64_t scaleColumn = 0);
  /// The phase of an absorbed latent step's mha.head_linear: an
  /// MHA_PHASE_FLAT phase of one item per head and row tile.
  void addAbsorbPhase(HeadLinearOp absorb);
  /// The memref of a weight: the argument, or a constant's global.
  Value getWeightMemRef(Value weight, StringRef symbol);
  /// A decoding step's new keys and values of one KV head, into the caches.
  void emitAppend();
  /// The rows a decoding step appends to item `batch`'s sequence: L, its
  /// q_lens, or its packed rows.
  Value getAppendedRows();
  void emitAttention();
  /// The phases up to the attention's (packing, RoPE table, projections,
  /// a latent or decoding step's, the attention).
  void addPhasesThroughAttention();
  /// Ends the kernel: its return and attributes; fails (named) past the
  /// runtime's bounds on temporaries and phases.
  LogicalResult finishKernel();

  /// A read-only global holding `value` (biases, packed constant weights),
  /// as a memref (one global per symbol).
  Value getConstantMemRef(DenseElementsAttr value, StringRef symbol);
  /// Narrows the bias memref of a group plan to its group.
  void viewGroup(LinearPlan &plan);
  /// The panel of blocks[local] in plan.panels.
  Value getPanel(const LinearPlan &plan, Value local);
  /// The first row and the row count of the item's tile of
  /// kProjectionRows rows.
  std::pair<Value, Value> getRowTile() {
    Value row0 = cb.mul(tile, cb.index(kProjectionRows));
    return {row0, cb.minSI(cb.index(kProjectionRows), cb.sub(len, row0))};
  }
  /// The element type of `plan`'s panels.
  Type getPanelType(const LinearPlan &plan) const {
    if (plan.int8)
      return IntegerType::get(ctx, 8);
    return plan.pairs ? Type(BFloat16Type::get(ctx)) : Float32Type::get(ctx);
  }
  /// Packs the weight columns of blocks[local] into their panel.
  void emitPackItem(const LinearPlan &plan, Value local);
  void emitProjectionItem(const LinearPlan &plan, Value local, Value block);
  /// The [B, H, L, D] view of the temporary an attention operand reads.
  Value getAttentionView(Value operand);
  /// `heads` heads of `d` columns, `headStride` apart from column
  /// `offset`, of the [B, L, cols] temporary `flat` as [B, heads, L, d].
  Value getHeadsView(Value flat, int64_t offset, int64_t heads, int64_t d,
                     int64_t headStride);

  //===--------------------------------------------------------------------===//
  // The backward (TileLayerBackward.cpp)
  //===--------------------------------------------------------------------===//

  /// The C parameters of `<name>_backward`: the arguments, dy, then the
  /// gradient of each argument but the sequences' lengths or offsets.
  LogicalResult addGradientParameters(ArrayRef<TensorRole> argRoles);
  /// The GEMMs by transposed weights, dO = dy Wo^T and dx = dQKV W^T,
  /// packed after the forward's.
  void planBackwardGemms();
  /// lse, the head-alive bytes, dO and dQKV.
  void addBackwardTemporaries();
  /// The backward plans' memrefs (after createKernel).
  void setBackwardMemRefs();
  /// The gradient parameter of forward argument `v`.
  Value getGradient(Value v);
  /// The [B, heads, L, d] view of the gradient of attention operand
  /// `operand` (q, k or v) in dQKV.
  Value getGradientView(Value operand);
  /// The down projection (x A) a low-rank projection reads, or null.
  static LinearOp getDownProjection(LinearOp linear) {
    return linear.getInput().getDefiningOp<LinearOp>();
  }
  /// The first column of projection `linear`'s gradient in dQKV (of a
  /// down projection: the gradient of its product).
  int64_t getGradientColumn(Operation *linear) const {
    return gradientColumns.lookup(linear);
  }
  /// The attention's key items (dK, dV) and query items (dQ).
  void addAttentionBackwardPhases();
  /// dQ and dK rotated back by the RoPE angles (R^T), in place.
  void addRopeBackwardPhase();
  /// dx = dQKV W^T, then every weight and bias gradient.
  void addInputGradientPhases();
  /// Whether this copy's dx and weight-gradient GEMMs run on bf16 pairs of
  /// dQKV rounded to bf16 (a bf16 layer on AVX512-BF16).
  bool roundedGradients() const { return dQkvBf16Temp && kernel.bf16Pairs; }
  /// The dQKV the dx and weight-gradient GEMMs read.
  Value getGradientGemmInput();
  /// dQKV rounded into dQkvBf16Temp (no work in the copies without pairs).
  void addRoundGradientsPhase();
  /// Whether y's GEMM in a backward's kernel (for <name>_forward_train)
  /// reads O rounded to bf16: in bf16 layers whose Wo is not low-rank.
  bool outputReadsRoundedO() const {
    return getElementTypeOrSelf(parts.input).isBF16() &&
           LinearOp(parts.output).getInput().getDefiningOp<MergeHeadsOp>();
  }
  /// The items of a phase that rounds `columns` f32 columns of `from` into
  /// the bf16 `to`, row by row.
  void emitRoundRows(Value from, Value to, int64_t columns);
  /// The up projections whose input, a down projection's product, is
  /// RMS-normalised (rms_norm_eps: a latent layer's latent and low-rank
  /// Wq).
  SmallVector<LinearOp, 2> getNormalizedUps() const;
  /// After the forward's phases: the product each normalised up projection
  /// reads divided by its RMS in place (what its weight's gradient reads),
  /// 1/RMS of each row kept for the norm's backward.
  void addInputNormPhase();
  /// A backward's recomputation of the forward and of the input norms
  /// (flagged MHA_PHASE_RECOMPUTATION, their temporaries MHA_TEMP_SAVED),
  /// then y's packing and GEMM (MHA_PHASE_FORWARD_OUTPUT), which only
  /// <name>_forward_train runs.
  void addRecomputationPhases();
  /// dQKV's gradient of each normalised product carried back through the
  /// norm: dc = (dn - n mean(dn n)) / RMS, in place.
  void addRmsNormBackwardPhase();
  /// A latent layer's key gradients split back: each head's key part to
  /// its columns of the latent's up-projection, the RoPE key's summed
  /// over the heads to the latent's last columns.
  void addLatentKeysBackwardPhase();
  /// The lse temporary [B, L, Hq] as [B, Hq, L].
  Value getLseView();
  /// In a backward's attention phase: the item writes lse, and item (0, h,
  /// 0) head h's runtime-alive byte.
  void recordForBackward(AttentionWorkItem &item);
  /// The gradient of a weight [K, N] (a bias: `a` null and K = 1, dw a
  /// [1, N] view): dw[i, columnOffset + c] for i < rows, c < columns sums
  /// a[.., i] g[.., gOffset + q replicaStride + columnOffset + c].
  struct WeightGrad {
    Value a, g, dw;
    int64_t rows, columns, columnOffset, gOffset, replicas, replicaStride;
  };
  /// One MHA_PHASE_PLAIN phase of items of blocks of every gradient of
  /// `grads` (items of batch 0 work).
  void addWeightGradPhase(ArrayRef<WeightGrad> grads);

  ModuleOp module;
  func::FuncOp func;
  LayerParts parts;
  TileChoice tiles;
  GemmKernel kernel;
  MLIRContext *ctx;
  Location loc;
  OpBuilder b;
  CodegenBuilder cb;
  std::string name;
  AttentionShape shape;

  // The signature.
  SmallVector<Parameter> params;
  SmallVector<Type> argTypes;
  KernelSignature signature;
  // The temporaries (#mha.layer_plan) and their arguments.
  SmallVector<int64_t> tempCols, tempShapes, tempBytes;
  // The temporary each linear (but the output projection) writes, and the
  // attention output's.
  DenseMap<Operation *, unsigned> linearTemps;
  unsigned outTemp = 0;
  std::optional<float> ropeTheta;
  int64_t ropeDim = 0; // The rotated columns of a head (rope table width).
  std::optional<unsigned> ropeTemp, packedTemp, packedInt8Temp, packedF32Temp;
  // The int8 copy of x or O and its row scales, by the value int8 plans
  // read (parts.input or the merge_heads of the attention).
  DenseMap<Value, std::pair<unsigned, unsigned>> quantizedInputs;
  // The GEMMs in phase order: down projections of low-rank weights, Q, K,
  // V parts, the down projection of a low-rank Wo, the output projection.
  SmallVector<LinearPlan, 4> plans;
  SmallVector<LinearPlan *> packedAtRunTime;
  int64_t packedSize = 0, packedInt8Size = 0, packedF32Size = 0;
  // The phases (#mha.layer_plan).
  SmallVector<int64_t> phaseHeads, phaseRows, phaseKinds;
  // MHA_PHASE_* flags addPhase gives the phases it adds: a backward's
  // recomputation of the forward, and its y.
  int64_t phaseFlags = 0;
  // The kernel.
  func::FuncOp kernelFunc;
  Block *entry = nullptr;
  Value phase, batch, head, tile, alive, len, ropeTable;
  Value layerInput; // x [B, L, d].
  Value callWords;
  // A splitting step's partial results (null otherwise).
  Value splitOutputs, splitLse, splitArrivals;

  // The backward: its temporaries, the first column of each projection's
  // gradient in dQKV, and the GEMMs by transposed weights.
  bool backward = false;
  unsigned lseTemp = 0, aliveTemp = 0, dOutTemp = 0, dQkvTemp = 0;
  // A bf16 layer's dQKV rounded to bf16, what dx = dQKV W^T and the weight
  // gradients read in the copy with bf16 pairs (roundedGradients()).
  std::optional<unsigned> dQkvBf16Temp;
  // A bf16 layer's attention output rounded to bf16, which y's GEMM in
  // <name>_forward_train reads as the forward's reads its O.
  std::optional<unsigned> outBf16Temp;
  // 1/RMS of each row of each normalised product (getNormalizedUps).
  unsigned rmsScaleTemp = 0;
  int64_t dQkvColumns = 0;
  DenseMap<Operation *, int64_t> gradientColumns;
  // The kernel argument of each function argument's gradient (-1: none).
  SmallVector<int64_t> gradientArguments;
  LinearPlan outputGrad, inputGrad;
  // Low-rank factors W = A B: dT = dY B^T for each low-rank projection
  // (dT in dQKV's columns after the projections'), and for a low-rank Wo
  // dT_o = dy B_o^T before dO = dT_o A_o^T (outputGrad).
  SmallVector<LinearPlan, 2> factorGrads;
  std::optional<LinearPlan> outputFactorGrad;
  BackwardItemChoice backwardItems = {};
};

} // namespace mlir::mha::layer

#endif // MHA_LIB_DIALECT_MHA_TRANSFORMS_LAYERTILER_H
