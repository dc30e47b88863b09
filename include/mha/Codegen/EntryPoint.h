//===- EntryPoint.h - Exported functions, C parameters ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// What every back end agrees on about an exported function: which functions
// are exported, their C parameters (arguments, then results in return
// order), the memref each parameter becomes in a kernel, the parameter
// names of the C header and the signature table the runtime checks calls
// against (mha/Runtime/KernelAbi.h).
//
//===----------------------------------------------------------------------===//

#ifndef MHA_CODEGEN_ENTRYPOINT_H
#define MHA_CODEGEN_ENTRYPOINT_H

#include "mha/Dialect/Mha/IR/MhaAttrs.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::mha {

/// On the kernel of a backward function (`<name>_backward`): its grid of
/// key items, `array<i64: Hkv, keys per item, index of k, row stats, dq
/// columns>` (the MHA_SIG_BACKWARD_* words of mha/Runtime/KernelAbi.h).
inline constexpr llvm::StringLiteral kBackwardGridAttrName =
    "mha.backward_grid";

/// On the kernel of an attention function that can split its keys
/// (split-KV decoding): `array<i64: Hkv, Dv, index of k, index of
/// block_table or -1>`, the MHA_SIG_SPLIT_* words of
/// mha/Runtime/KernelAbi.h. It takes the runtime's partial outputs, partial
/// lse and arrival counts after the call words.
inline constexpr llvm::StringLiteral kSplitKvAttrName = "mha.split_kv";

/// On a kernel that reads the call words (memref<?xi32>: dropout's seed and
/// offset, explicit positions, whether a head mask is given; MHA_DROPOUT_*,
/// MHA_POSITIONS_*, MHA_HEAD_MASK_GIVEN of mha/Runtime/KernelAbi.h): it
/// takes them after its other memrefs, and its work function passes the
/// runtime's last descriptor for them.
inline constexpr llvm::StringLiteral kCallWordsAttrName = "mha.call_words";

/// On a layer kernel with int8 weights (mha.quantized): its entry point
/// dispatches to the AVX512-BF16 copy, whose GEMMs use AVX512-VNNI.
inline constexpr llvm::StringLiteral kInt8WeightsAttrName = "mha.int8_weights";

/// The suffixes of a CPU library's kernel copies, indexed by their level
/// (MHA_ISA_* in KernelAbi.h): the work functions `<name>__work_<suffix>`.
inline constexpr llvm::StringLiteral kIsaCopies[] = {"generic", "avx2",
                                                     "avx512", "avx512bf16"};

/// The level of the copy named `suffix` (its index in kIsaCopies; the
/// list's size for a name not in it).
inline int getIsaCopyLevel(llvm::StringRef suffix) {
  return llvm::find(kIsaCopies, suffix) - std::begin(kIsaCopies);
}

/// A C parameter of an exported function: which tensor it is and what role
/// it plays.
struct Parameter {
  Type tensorType;
  TensorRole role;
};

/// The index of the first of `params` with `role`, or -1.
int64_t findParameter(ArrayRef<Parameter> params, TensorRole role);

/// The functions of `module` that compute mha ops, in order; an error (and
/// failure) for a private one, which cannot be exported.
FailureOr<SmallVector<func::FuncOp>> collectExportedFunctions(ModuleOp module);

/// Checks that `func` is a function mha-compile can export: it computes one
/// mha.attention of its arguments and returns its results.
FailureOr<AttentionOp> matchExportableFunction(func::FuncOp func);

/// Checks that `func` is a merge function (one mha.merge_states of its four
/// arguments, returning its results) and returns its C parameters: the
/// partial results in argument order, then the returned results.
FailureOr<SmallVector<Parameter>> matchMergeFunction(func::FuncOp func,
                                                     MergeStatesOp merge);

/// Checks that `func` is an append function (one mha.append_kv of its
/// arguments k_new, v_new, kv_lens, [block_table,] k_cache, v_cache, in
/// that order, returning the caches) and returns its C parameters: the
/// arguments, the caches written in place.
FailureOr<SmallVector<Parameter>> matchAppendFunction(func::FuncOp func,
                                                      AppendKvOp append);

/// The C parameters of an exportable function: its arguments, then its
/// results in return order.
SmallVector<Parameter> getExportedParameters(func::FuncOp func,
                                             AttentionOp attention);

/// The shapes of an mha.attention: q [B, Hq, Lq, D], k [B, Hkv, Lk, D],
/// v [B, Hkv, Lk, Dv].
struct AttentionShape {
  RankedTensorType query, key, value;
  int64_t numHeads, numKvHeads, headDim, valueDim;

  static AttentionShape get(AttentionOp attention);
};

/// In a kernel whose arguments start with the C parameters of `func` (its
/// arguments, then its returned values), the block argument standing for
/// `tensor` (an argument or result of `func`); null for a null tensor.
Value getParameterArgument(func::FuncOp func, Block &kernelBody, Value tensor);

/// The strided memref a tensor parameter becomes: any strides, last dim
/// contiguous, any offset.
MemRefType getParameterMemRefType(RankedTensorType type);

/// The leading kernel arguments standing for the C parameters (one memref
/// each) and the roles and memref types an EntryPointAttr records.
struct KernelSignature {
  SmallVector<Type> argTypes;
  ArrayAttr roles, types;
};
KernelSignature buildKernelSignature(MLIRContext *ctx,
                                     ArrayRef<Parameter> params);

/// The kernel of an exported function `name`, created at `b`'s insertion
/// point: `<name>__kernel` taking `argTypes`, with a C interface and the
/// #mha.entry_point (rows per item, grid heads, roles, types) the
/// entry-point passes export it by.
func::FuncOp createKernelFunction(OpBuilder &b, Location loc, StringRef name,
                                  ArrayRef<Type> argTypes, int64_t rowsPerItem,
                                  int64_t gridHeads,
                                  const KernelSignature &signature);

/// The kernel of `func` whose work items take its parameters (one memref
/// each) and b, h, t, alive: created before `func` with its entry block,
/// `b` set at the start of it.
func::FuncOp createWorkItemKernel(OpBuilder &b, func::FuncOp func,
                                  ArrayRef<Parameter> params,
                                  int64_t rowsPerItem, int64_t gridHeads);

/// The arguments of a backward kernel after its parameters' memrefs, in
/// order (mha_rt_launch_backward's descriptors, then the grid position).
enum class BackwardKernelArg : unsigned {
  aliveMask, // i8 [Hq]: the runtime head mask
  rowStats,  // f32 [B, Hq, Lq]: the row items' statistics
  dqSums,    // f32 [B, Hq, Lq, dq columns]: dq summed by 16-bit key items
  callWords, // i32 [MHA_CALL_WORDS]
  phase,
  batch,
  head,
  tile,
  alive,
};
inline constexpr unsigned kNumBackwardKernelArgs = 9;

/// The kernel of a gradient function `name` run by mha_rt_launch_backward
/// (KernelAbi.h), created at `b`'s insertion point with its entry block
/// (`b` set at its start): its parameters' memrefs, then the
/// BackwardKernelArg arguments; `grid` is its kBackwardGridAttrName.
func::FuncOp createBackwardKernel(OpBuilder &b, Location loc, StringRef name,
                                  ArrayRef<Parameter> params,
                                  int64_t rowsPerItem, int64_t gridHeads,
                                  ArrayRef<int64_t> grid);

/// The C parameter name of a tensor of the given role ("q", "lse", ...).
StringRef getParameterName(TensorRole role);

/// Whether a tensor of this role is read (an argument), not written.
bool isInputRole(TensorRole role);

/// How a function's serving tensors (docs/language.md 4.6) change the
/// layout of its other tensors.
struct ServingLayout {
  bool paged = false;         // k, v: page pools [pages, Hkv, page_size, D]
  bool packedQueries = false; // q, o, lse, entropy: [1, Hq, total_q, ...]
  bool packedKeys = false;    // k, v: [1, Hkv, total_k, D]
  bool layer = false;         // x, y [B, L, d]: query rows are named L
  /// The layout of a function whose parameters have these TensorRoleAttrs.
  static ServingLayout get(ArrayAttr roles);
};

/// The signature table the runtime checks calls against (KernelAbi.h).
SmallVector<int64_t> buildSignatureTable(EntryPointAttr entry);

/// The exported functions a layer backward's kernel adds beside
/// `<name>_backward` (docs/language.md 7.3, "Saved activations"):
/// `<name>_forward_train`, the forward's parameters (x, the weights, y),
/// which runs the kernel's recomputation and writes y and the saved
/// activations, and `int64_t <name>_saved_bytes(B, L)`.
struct ForwardTrainEntry {
  EntryPointAttr entry; // <name>_forward_train
  std::string savedBytesName;
};
/// Those of `backward`, the entry of a kernel; none for other kernels.
std::optional<ForwardTrainEntry> getForwardTrainEntry(EntryPointAttr backward);

} // namespace mlir::mha

#endif // MHA_CODEGEN_ENTRYPOINT_H
