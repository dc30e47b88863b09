//===- EntryPoint.cpp - Exported functions and their C parameters ---------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/EntryPoint.h"
#include "mha/Runtime/KernelAbi.h"

#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace mlir::mha;

namespace mlir::mha {

FailureOr<SmallVector<func::FuncOp>> collectExportedFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> funcs;
  for (auto func : module.getOps<func::FuncOp>()) {
    bool hasMha = false;
    func.walk([&](Operation *op) {
      if (isa<AttentionOp, AttentionKlOp, MultiHeadOp, MergeStatesOp,
              AppendKvOp>(op))
        hasMha = true;
    });
    // Kernels made already (mha-tile-backward's) are not specs.
    if (!hasMha && (func.isPrivate() || func.isDeclaration() ||
                    func->hasAttr("mha.entry_point")))
      continue;
    if (!hasMha)
      return func.emitError()
             << "function '" << func.getSymName()
             << "' computes no mha.attention, mha.multi_head, "
                "mha.merge_states or mha.append_kv: only such functions are "
                "exported (make a helper private)";
    if (func.isPrivate() || func.isDeclaration())
      return func.emitError()
             << "only public function definitions are exported; '"
             << func.getSymName() << "' is private";
    funcs.push_back(func);
  }
  return funcs;
}

FailureOr<AttentionOp> matchExportableFunction(func::FuncOp func) {
  AttentionOp attention;
  for (Operation &op : func.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      continue;
    if (auto a = dyn_cast<AttentionOp>(op)) {
      if (attention)
        return func.emitError()
               << "function '" << func.getSymName()
               << "' computes more than one mha.attention; export each as "
               << "its own function";
      attention = a;
      continue;
    }
    if (isa<MultiHeadOp>(op))
      return op.emitError()
             << "mha.multi_head is compiled for the CPU only, after "
             << "mha-expand-layer (mha-cpu-pipeline runs it); the GPU back "
             << "end compiles mha.attention functions";
    if (isa<AttentionKlOp>(op))
      return op.emitError() << "mha.attention_kl is compiled for the CPU "
                            << "only so far (--target=cpu)";
    if (isa<MergeStatesOp>(op))
      return op.emitError() << "mha.merge_states must be alone in its "
                            << "function (export it and the mha.attention "
                            << "as two functions)";
    if (isa<AppendKvOp>(op))
      return op.emitError() << "mha.append_kv must be alone in its "
                            << "function (export it and the mha.attention "
                            << "as two functions)";
    return op.emitError() << "'" << op.getName()
                          << "' is not supported in an exported function: "
                          << "its body must be one mha.attention of the "
                          << "function arguments";
  }
  if (!attention)
    return func.emitError() << "function '" << func.getSymName()
                            << "' has no mha.attention to compile";
  for (Value operand : attention->getOperands())
    if (!isa<BlockArgument>(operand))
      return attention.emitError()
             << "the operands of an exported mha.attention must be function "
             << "arguments";
  for (BlockArgument arg : func.getArguments())
    if (!llvm::is_contained(attention->getOperands(), Value(arg)))
      return func.emitError()
             << "argument #" << arg.getArgNumber() << " of '"
             << func.getSymName() << "' is not used by its mha.attention";
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  SmallPtrSet<Value, 4> seen;
  for (Value v : ret.getOperands()) {
    if (v.getDefiningOp() != attention.getOperation())
      return func.emitError() << "'" << func.getSymName()
                              << "' must return results of its mha.attention";
    if (!seen.insert(v).second)
      return func.emitError()
             << "'" << func.getSymName() << "' returns the same result twice";
  }
  return attention;
}

FailureOr<SmallVector<Parameter>> matchMergeFunction(func::FuncOp func,
                                                     MergeStatesOp merge) {
  Block &body = func.getBody().front();
  for (Operation &op : body)
    if (&op != merge.getOperation() && !isa<func::ReturnOp>(op))
      return op.emitError() << "'" << op.getName() << "' is not supported "
                            << "in a merge function: its body must be one "
                            << "mha.merge_states of the function arguments";
  SmallVector<Parameter> params;
  TensorRole inputRoles[] = {
      TensorRole::partial_output_a, TensorRole::partial_lse_a,
      TensorRole::partial_output_b, TensorRole::partial_lse_b};
  for (BlockArgument arg : func.getArguments()) {
    auto it = llvm::find(merge->getOperands(), Value(arg));
    if (it == merge->getOperands().end())
      return func.emitError()
             << "argument #" << arg.getArgNumber() << " of '"
             << func.getSymName() << "' is not used by its mha.merge_states";
    params.push_back(
        {arg.getType(), inputRoles[it - merge->getOperands().begin()]});
  }
  if (func.getNumArguments() != 4)
    return merge.emitError() << "the operands of an exported "
                             << "mha.merge_states must be four distinct "
                             << "function arguments";
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  SmallPtrSet<Value, 2> seen;
  for (Value v : ret.getOperands()) {
    if (v.getDefiningOp() != merge.getOperation() || !seen.insert(v).second)
      return func.emitError()
             << "'" << func.getSymName() << "' must return results of its "
             << "mha.merge_states, each at most once";
    params.push_back({v.getType(), v == merge.getOutput() ? TensorRole::output
                                                          : TensorRole::lse});
  }
  return params;
}

FailureOr<SmallVector<Parameter>> matchAppendFunction(func::FuncOp func,
                                                      AppendKvOp append) {
  Block &body = func.getBody().front();
  for (Operation &op : body)
    if (&op != append.getOperation() && !isa<func::ReturnOp>(op))
      return op.emitError() << "'" << op.getName() << "' is not supported "
                            << "in an append function: its body must be one "
                            << "mha.append_kv of the function arguments";
  if (!append.getValueNew())
    return append.emitError() << "an exported mha.append_kv appends keys and "
                                 "values: an append without values belongs "
                                 "to a latent layer's decoding step";
  // Inputs first, then the caches the function writes: the C order.
  SmallVector<std::pair<Value, TensorRole>> expected = {
      {append.getKeyNew(), TensorRole::key_new},
      {append.getValueNew(), TensorRole::value_new},
      {append.getKvLens(), TensorRole::kv_lens}};
  // The serving tensors in SPEC.md's order: padded (q_lens) or packed
  // (cu_seqlens_q) new keys take each sequence's own count.
  if (append.getQLens())
    expected.push_back({append.getQLens(), TensorRole::q_lens});
  if (append.getBlockTable())
    expected.push_back({append.getBlockTable(), TensorRole::block_table});
  if (append.getCuSeqlensQ())
    expected.push_back({append.getCuSeqlensQ(), TensorRole::cu_seqlens_q});
  if (append.getKeyScale()) {
    expected.push_back({append.getKeyScale(), TensorRole::key_scale});
    expected.push_back({append.getValueScale(), TensorRole::value_scale});
  }
  expected.push_back({append.getKeyCache(), TensorRole::key_cache});
  expected.push_back({append.getValueCache(), TensorRole::value_cache});
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  bool argsMatch = func.getNumArguments() == expected.size() &&
                   llvm::all_of(llvm::enumerate(expected), [&](auto e) {
                     return func.getArgument(e.index()) == e.value().first;
                   });
  if (!argsMatch)
    return append.emitError()
           << "an exported mha.append_kv takes the function arguments in "
           << "the order of its C parameters: k_new, v_new, kv_lens, "
           << "[q_lens,] [block_table,] [cu_seqlens_q,] [k_scale, v_scale,] "
           << "k_cache, v_cache";
  if (ret.getNumOperands() != 2 ||
      ret.getOperand(0) != append.getKeyCacheOut() ||
      ret.getOperand(1) != append.getValueCacheOut())
    return func.emitError() << "'" << func.getSymName() << "' must return "
                            << "the two caches its mha.append_kv writes";
  SmallVector<Parameter> params;
  for (auto [value, role] : expected)
    params.push_back({value.getType(), role});
  return params;
}

SmallVector<Parameter> getExportedParameters(func::FuncOp func,
                                             AttentionOp attention) {
  SmallVector<Parameter> params;
  std::pair<Value, TensorRole> inputs[] = {
      {attention.getQuery(), TensorRole::query},
      {attention.getKey(), TensorRole::key},
      {attention.getValue(), TensorRole::value},
      {attention.getKeyScale(), TensorRole::key_scale},
      {attention.getValueScale(), TensorRole::value_scale},
      {attention.getKvLens(), TensorRole::kv_lens},
      {attention.getQLens(), TensorRole::q_lens},
      {attention.getBlockTable(), TensorRole::block_table},
      {attention.getCuSeqlensQ(), TensorRole::cu_seqlens_q},
      {attention.getCuSeqlensK(), TensorRole::cu_seqlens_k}};
  for (BlockArgument arg : func.getArguments()) {
    // matchExportableFunction checked that every argument is an operand.
    auto it = llvm::find_if(inputs, [&](auto &in) { return in.first == arg; });
    params.push_back({arg.getType(), it->second});
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value v : ret.getOperands()) {
    TensorRole role = v == attention.getOutput()  ? TensorRole::output
                      : v == attention.getLse()   ? TensorRole::lse
                      : v == attention.getProbs() ? TensorRole::probs
                                                  : TensorRole::entropy;
    params.push_back({v.getType(), role});
  }
  return params;
}

AttentionShape AttentionShape::get(AttentionOp attention) {
  AttentionShape s;
  s.query = cast<RankedTensorType>(attention.getQuery().getType());
  s.key = cast<RankedTensorType>(attention.getKey().getType());
  s.value = cast<RankedTensorType>(attention.getValue().getType());
  s.numHeads = s.query.getDimSize(1);
  s.numKvHeads = s.key.getDimSize(1);
  s.headDim = s.query.getDimSize(3);
  s.valueDim = s.value.getDimSize(3);
  return s;
}

int64_t findParameter(ArrayRef<Parameter> params, TensorRole role) {
  const Parameter *it =
      llvm::find_if(params, [&](const Parameter &p) { return p.role == role; });
  return it == params.end() ? -1 : it - params.begin();
}

Value getParameterArgument(func::FuncOp func, Block &kernelBody, Value tensor) {
  if (!tensor)
    return Value();
  for (auto [i, arg] : llvm::enumerate(func.getArguments()))
    if (arg == tensor)
      return kernelBody.getArgument(i);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (v == tensor)
      return kernelBody.getArgument(func.getNumArguments() + i);
  return Value();
}

MemRefType getParameterMemRefType(RankedTensorType type) {
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout =
      StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

KernelSignature buildKernelSignature(MLIRContext *ctx,
                                     ArrayRef<Parameter> params) {
  KernelSignature signature;
  SmallVector<Attribute> roles, types;
  for (const Parameter &p : params) {
    MemRefType t = getParameterMemRefType(cast<RankedTensorType>(p.tensorType));
    signature.argTypes.push_back(t);
    roles.push_back(TensorRoleAttr::get(ctx, p.role));
    types.push_back(TypeAttr::get(t));
  }
  signature.roles = ArrayAttr::get(ctx, roles);
  signature.types = ArrayAttr::get(ctx, types);
  return signature;
}

func::FuncOp createKernelFunction(OpBuilder &b, Location loc, StringRef name,
                                  ArrayRef<Type> argTypes, int64_t rowsPerItem,
                                  int64_t gridHeads,
                                  const KernelSignature &signature) {
  MLIRContext *ctx = b.getContext();
  auto kernel = func::FuncOp::create(b, loc, (name + "__kernel").str(),
                                     FunctionType::get(ctx, argTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  kernel->setAttr("mha.entry_point",
                  EntryPointAttr::get(ctx, name, rowsPerItem, gridHeads,
                                      signature.roles, signature.types));
  return kernel;
}

func::FuncOp createWorkItemKernel(OpBuilder &b, func::FuncOp func,
                                  ArrayRef<Parameter> params,
                                  int64_t rowsPerItem, int64_t gridHeads) {
  MLIRContext *ctx = func.getContext();
  KernelSignature signature = buildKernelSignature(ctx, params);
  SmallVector<Type> argTypes = signature.argTypes;
  IndexType indexType = IndexType::get(ctx);
  argTypes.append({indexType, indexType, indexType, IntegerType::get(ctx, 1)});
  b.setInsertionPoint(func);
  func::FuncOp kernel =
      createKernelFunction(b, func.getLoc(), func.getSymName(), argTypes,
                           rowsPerItem, gridHeads, signature);
  b.setInsertionPointToStart(kernel.addEntryBlock());
  return kernel;
}

func::FuncOp createBackwardKernel(OpBuilder &b, Location loc, StringRef name,
                                  ArrayRef<Parameter> params,
                                  int64_t rowsPerItem, int64_t gridHeads,
                                  ArrayRef<int64_t> grid) {
  MLIRContext *ctx = b.getContext();
  KernelSignature signature = buildKernelSignature(ctx, params);
  SmallVector<Type> argTypes = signature.argTypes;
  IndexType indexType = IndexType::get(ctx);
  int64_t dyn = ShapedType::kDynamic;
  Type f32 = Float32Type::get(ctx);
  argTypes.append({MemRefType::get({dyn}, IntegerType::get(ctx, 8)),
                   MemRefType::get({dyn, dyn, dyn}, f32),
                   MemRefType::get({dyn, dyn, dyn, dyn}, f32),
                   MemRefType::get({dyn}, IntegerType::get(ctx, 32)), indexType,
                   indexType, indexType, indexType, IntegerType::get(ctx, 1)});
  assert(argTypes.size() ==
             signature.argTypes.size() + kNumBackwardKernelArgs &&
         "BackwardKernelArg out of step with the kernel's arguments");
  func::FuncOp kernel = createKernelFunction(b, loc, name, argTypes,
                                             rowsPerItem, gridHeads, signature);
  // The launcher always passes the call words (read only with dropout).
  kernel->setAttr(kCallWordsAttrName, UnitAttr::get(ctx));
  kernel->setAttr(kBackwardGridAttrName, b.getDenseI64ArrayAttr(grid));
  b.setInsertionPointToStart(kernel.addEntryBlock());
  return kernel;
}

} // namespace mlir::mha

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
  case TensorRole::saved_output:
    return "o";
  case TensorRole::saved_lse:
    return "lse";
  case TensorRole::grad_output:
    return "dout";
  case TensorRole::grad_query:
    return "dq";
  case TensorRole::grad_key:
    return "dk";
  case TensorRole::grad_value:
    return "dv";
  case TensorRole::grad_entropy:
    return "dentropy";
  case TensorRole::partial_output_a:
    return "o_a";
  case TensorRole::partial_lse_a:
    return "lse_a";
  case TensorRole::partial_output_b:
    return "o_b";
  case TensorRole::partial_lse_b:
    return "lse_b";
  case TensorRole::kv_lens:
    return "kv_lens";
  case TensorRole::q_lens:
    return "q_lens";
  case TensorRole::block_table:
    return "block_table";
  case TensorRole::cu_seqlens_q:
    return "cu_seqlens_q";
  case TensorRole::cu_seqlens_k:
    return "cu_seqlens_k";
  case TensorRole::key_new:
    return "k_new";
  case TensorRole::value_new:
    return "v_new";
  case TensorRole::key_cache:
    return "k_cache";
  case TensorRole::value_cache:
    return "v_cache";
  case TensorRole::query_weight_down:
    return "wq_down";
  case TensorRole::query_weight_up:
    return "wq_up";
  case TensorRole::key_weight_down:
    return "wk_down";
  case TensorRole::key_weight_up:
    return "wk_up";
  case TensorRole::value_weight_down:
    return "wv_down";
  case TensorRole::value_weight_up:
    return "wv_up";
  case TensorRole::out_weight_down:
    return "wo_down";
  case TensorRole::out_weight_up:
    return "wo_up";
  case TensorRole::key_scale:
    return "k_scale";
  case TensorRole::value_scale:
    return "v_scale";
  case TensorRole::teacher_query:
    return "q_t";
  case TensorRole::teacher_key:
    return "k_t";
  case TensorRole::student_query:
    return "q_s";
  case TensorRole::student_key:
    return "k_s";
  case TensorRole::kl:
    return "kl";
  case TensorRole::teacher_lse:
    return "lse_t";
  case TensorRole::student_lse:
    return "lse_s";
  case TensorRole::saved_teacher_lse:
    return "lse_t";
  case TensorRole::saved_student_lse:
    return "lse_s";
  case TensorRole::grad_kl:
    return "dkl";
  case TensorRole::grad_student_query:
    return "dq_s";
  case TensorRole::grad_student_key:
    return "dk_s";
  case TensorRole::query_weight_scale:
    return "wq_scale";
  case TensorRole::key_weight_scale:
    return "wk_scale";
  case TensorRole::value_weight_scale:
    return "wv_scale";
  case TensorRole::out_weight_scale:
    return "wo_scale";
  case TensorRole::grad_layer_output:
    return "dy";
  case TensorRole::grad_layer_input:
    return "dx";
  case TensorRole::grad_query_weight:
    return "dwq";
  case TensorRole::grad_key_weight:
    return "dwk";
  case TensorRole::grad_value_weight:
    return "dwv";
  case TensorRole::grad_out_weight:
    return "dwo";
  case TensorRole::grad_query_bias:
    return "dbq";
  case TensorRole::grad_key_bias:
    return "dbk";
  case TensorRole::grad_value_bias:
    return "dbv";
  case TensorRole::grad_out_bias:
    return "dbo";
  case TensorRole::grad_query_weight_down:
    return "dwq_down";
  case TensorRole::grad_query_weight_up:
    return "dwq_up";
  case TensorRole::grad_key_weight_down:
    return "dwk_down";
  case TensorRole::grad_key_weight_up:
    return "dwk_up";
  case TensorRole::grad_value_weight_down:
    return "dwv_down";
  case TensorRole::grad_value_weight_up:
    return "dwv_up";
  case TensorRole::grad_out_weight_down:
    return "dwo_down";
  case TensorRole::grad_out_weight_up:
    return "dwo_up";
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
  case TensorRole::grad_query:
  case TensorRole::grad_key:
  case TensorRole::grad_value:
  case TensorRole::key_cache:
  case TensorRole::value_cache:
  case TensorRole::kl:
  case TensorRole::teacher_lse:
  case TensorRole::student_lse:
  case TensorRole::grad_student_query:
  case TensorRole::grad_student_key:
  case TensorRole::grad_layer_input:
  case TensorRole::grad_query_weight:
  case TensorRole::grad_key_weight:
  case TensorRole::grad_value_weight:
  case TensorRole::grad_out_weight:
  case TensorRole::grad_query_bias:
  case TensorRole::grad_key_bias:
  case TensorRole::grad_value_bias:
  case TensorRole::grad_out_bias:
  case TensorRole::grad_query_weight_down:
  case TensorRole::grad_query_weight_up:
  case TensorRole::grad_key_weight_down:
  case TensorRole::grad_key_weight_up:
  case TensorRole::grad_value_weight_down:
  case TensorRole::grad_value_weight_up:
  case TensorRole::grad_out_weight_down:
  case TensorRole::grad_out_weight_up:
    return false;
  default:
    return true;
  }
}

ServingLayout ServingLayout::get(ArrayAttr roles) {
  ServingLayout layout;
  for (Attribute a : roles) {
    TensorRole role = cast<TensorRoleAttr>(a).getValue();
    layout.paged |= role == TensorRole::block_table;
    layout.packedQueries |= role == TensorRole::cu_seqlens_q;
    layout.packedKeys |= role == TensorRole::cu_seqlens_k;
    layout.layer |= role == TensorRole::layer_input;
  }
  return layout;
}

/// The size symbols of a tensor's dimensions, by role (KernelAbi.h), before
/// the serving layout's changes.
static SmallVector<int64_t> getDefaultDimSymbols(TensorRole role) {
  switch (role) {
  case TensorRole::kv_lens:
  case TensorRole::q_lens:
    return {MHA_SYM_BATCH};
  case TensorRole::block_table:
    return {MHA_SYM_BATCH, MHA_SYM_NONE};
  case TensorRole::cu_seqlens_q:
  case TensorRole::cu_seqlens_k:
    return {MHA_SYM_NONE}; // S + 1: mha_rt_check_serving checks it.
  case TensorRole::key_new:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_NEW_LEN, MHA_SYM_HEAD_DIM};
  case TensorRole::value_new:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_NEW_LEN,
            MHA_SYM_VALUE_DIM};
  case TensorRole::key_cache:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_KEY_LEN, MHA_SYM_HEAD_DIM};
  case TensorRole::key_scale:
  case TensorRole::value_scale: // [Hkv] or [pages, Hkv]
    return {MHA_SYM_PAGES, MHA_SYM_KV_HEADS};
  case TensorRole::value_cache:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_KEY_LEN,
            MHA_SYM_VALUE_DIM};
  case TensorRole::query:
  case TensorRole::grad_query:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_HEAD_DIM};
  case TensorRole::key:
  case TensorRole::grad_key:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_KEY_LEN, MHA_SYM_HEAD_DIM};
  case TensorRole::value:
  case TensorRole::grad_value:
    return {MHA_SYM_BATCH, MHA_SYM_KV_HEADS, MHA_SYM_KEY_LEN,
            MHA_SYM_VALUE_DIM};
  case TensorRole::output:
  case TensorRole::saved_output:
  case TensorRole::grad_output:
  case TensorRole::partial_output_a:
  case TensorRole::partial_output_b:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_VALUE_DIM};
  case TensorRole::lse:
  case TensorRole::saved_lse:
  case TensorRole::entropy:
  case TensorRole::grad_entropy:
  case TensorRole::partial_lse_a:
  case TensorRole::partial_lse_b:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN};
  case TensorRole::probs:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_KEY_LEN};
  case TensorRole::layer_input:
  case TensorRole::layer_output:
  case TensorRole::grad_layer_input:
  case TensorRole::grad_layer_output:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_LEN, MHA_SYM_NONE};
  case TensorRole::teacher_query:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_TEACHER_DIM};
  case TensorRole::teacher_key:
    return {MHA_SYM_BATCH, MHA_SYM_TEACHER_KV_HEADS, MHA_SYM_KEY_LEN,
            MHA_SYM_TEACHER_DIM};
  case TensorRole::student_query:
  case TensorRole::grad_student_query:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN,
            MHA_SYM_STUDENT_DIM};
  case TensorRole::student_key:
  case TensorRole::grad_student_key:
    return {MHA_SYM_BATCH, MHA_SYM_STUDENT_KV_HEADS, MHA_SYM_KEY_LEN,
            MHA_SYM_STUDENT_DIM};
  case TensorRole::kl:
  case TensorRole::teacher_lse:
  case TensorRole::student_lse:
  case TensorRole::saved_teacher_lse:
  case TensorRole::saved_student_lse:
  case TensorRole::grad_kl:
    return {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS, MHA_SYM_QUERY_LEN};
  default: // Weights and biases: static sizes only.
    return {MHA_SYM_NONE, MHA_SYM_NONE};
  }
  llvm_unreachable("unknown tensor role");
}

/// The size symbols of a tensor's dimensions in a function of `layout`:
/// packed rows have a batch of 1 (their sequences are S, the batch of the
/// lengths and tables), page pools their own page count and size.
static SmallVector<int64_t> getDimSymbols(TensorRole role,
                                          ServingLayout layout) {
  SmallVector<int64_t> symbols = getDefaultDimSymbols(role);
  // A backward's gradients and saved results are laid out as the tensors
  // they belong to.
  bool keys = llvm::is_contained(
      {TensorRole::key, TensorRole::value, TensorRole::key_cache,
       TensorRole::value_cache, TensorRole::grad_key, TensorRole::grad_value},
      role);
  bool rows = llvm::is_contained(
      {TensorRole::query, TensorRole::output, TensorRole::lse,
       TensorRole::entropy, TensorRole::layer_input, TensorRole::layer_output,
       TensorRole::grad_query, TensorRole::saved_output, TensorRole::saved_lse,
       TensorRole::grad_output, TensorRole::grad_entropy, TensorRole::key_new,
       TensorRole::value_new},
      role);
  if ((keys && (layout.paged || layout.packedKeys)) ||
      (rows && layout.packedQueries))
    symbols[0] = MHA_SYM_NONE;
  if (keys && layout.paged) {
    symbols[0] = MHA_SYM_PAGES;
    symbols[2] = MHA_SYM_PAGE_SIZE;
  }
  return symbols;
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
  ServingLayout layout = ServingLayout::get(entry.getRoles());
  // Packed queries have no batch symbol: mha_rt_check_serving sizes the
  // grid by the sequences, as it does for every function with serving
  // tensors (a layer's: its input's rows, and the sequences' for its
  // attention).
  // An append function's items are tiles of its new keys.
  bool append = llvm::any_of(entry.getRoles(), [](Attribute a) {
    return cast<TensorRoleAttr>(a).getValue() == TensorRole::key_new;
  });
  int64_t rowsSymbol = append ? MHA_SYM_NEW_LEN : MHA_SYM_QUERY_LEN;
  words[MHA_SIG_GRID_BATCH_SYM] =
      layout.packedQueries ? rowsSymbol : MHA_SYM_BATCH;
  words[MHA_SIG_GRID_ROWS_SYM] = rowsSymbol;
  for (auto [roleAttr, typeAttr] :
       llvm::zip(entry.getRoles(), entry.getTypes())) {
    TensorRole role = cast<TensorRoleAttr>(roleAttr).getValue();
    auto type = cast<MemRefType>(cast<TypeAttr>(typeAttr).getValue());
    SmallVector<int64_t> tensor(MHA_SIG_TENSOR_WORDS, 0);
    tensor[MHA_SIG_T_ROLE] = static_cast<int64_t>(role);
    Type elt = type.getElementType();
    tensor[MHA_SIG_T_DTYPE_CODE] = elt.isBF16()      ? kDLBfloat
                                   : elt.isInteger() ? kDLInt
                                                     : kDLFloat;
    tensor[MHA_SIG_T_DTYPE_BITS] = elt.getIntOrFloatBitWidth();
    tensor[MHA_SIG_T_RANK] = type.getRank();
    SmallVector<int64_t> symbols = getDimSymbols(role, layout);
    // Tensors of fewer dimensions than their role's most have the trailing
    // ones (kv_scales [Hkv]).
    int64_t extra = static_cast<int64_t>(symbols.size()) - type.getRank();
    if (extra > 0)
      symbols.erase(symbols.begin(), symbols.begin() + extra);
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

std::optional<ForwardTrainEntry>
mlir::mha::getForwardTrainEntry(EntryPointAttr backward) {
  ArrayRef<Attribute> roles = backward.getRoles().getValue();
  auto roleAt = [&](size_t i) {
    return cast<TensorRoleAttr>(roles[i]).getValue();
  };
  StringRef base = backward.getName();
  if (roles.empty() || roleAt(0) != TensorRole::layer_input ||
      !base.consume_back("_backward"))
    return std::nullopt;
  // The forward's parameters, then y in dy's place (of dy's type).
  size_t dy = 0;
  while (dy < roles.size() && roleAt(dy) != TensorRole::grad_layer_output)
    ++dy;
  if (dy == roles.size())
    return std::nullopt;
  MLIRContext *ctx = backward.getContext();
  SmallVector<Attribute> trainRoles(roles.take_front(dy));
  trainRoles.push_back(TensorRoleAttr::get(ctx, TensorRole::layer_output));
  SmallVector<Attribute> trainTypes(
      backward.getTypes().getValue().take_front(dy + 1));
  return ForwardTrainEntry{
      EntryPointAttr::get(ctx, (base + "_forward_train").str(),
                          backward.getRowsPerItem(), backward.getGridHeads(),
                          ArrayAttr::get(ctx, trainRoles),
                          ArrayAttr::get(ctx, trainTypes)),
      (base + "_saved_bytes").str()};
}
