//===- MhaOps.cpp - Operations of the mha dialect ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The verifiers own every rule of docs/language.md. Each diagnostic names the
// operand or attribute at fault and says what was expected and what was found.
//
//===----------------------------------------------------------------------===//

#include "mha/Dialect/Mha/IR/MhaOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::mha;

/// The types of mha.append_kv's operands: `k_new, v_new, k_cache,
/// v_cache`, or `k_new, k_cache` without values (the number of types says
/// which).
static ParseResult parseAppendTypes(OpAsmParser &parser, Type &keyNew,
                                    Type &valueNew, Type &keyCache,
                                    Type &valueCache) {
  SmallVector<Type, 4> types;
  if (parser.parseTypeList(types))
    return failure();
  if (types.size() == 2) {
    keyNew = types[0];
    keyCache = types[1];
    return success();
  }
  if (types.size() != 4)
    return parser.emitError(parser.getCurrentLocation())
           << "expected the types of k_new, v_new, k_cache and v_cache, or "
              "of k_new and k_cache";
  keyNew = types[0];
  valueNew = types[1];
  keyCache = types[2];
  valueCache = types[3];
  return success();
}

static void printAppendTypes(OpAsmPrinter &printer, Operation *, Type keyNew,
                             Type valueNew, Type keyCache, Type valueCache) {
  printer << keyNew;
  if (valueNew)
    printer << ", " << valueNew;
  printer << ", " << keyCache;
  if (valueCache)
    printer << ", " << valueCache;
}

#define GET_OP_CLASSES
#include "mha/Dialect/Mha/IR/MhaOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared verification helpers
//===----------------------------------------------------------------------===//

namespace {

/// Checks that `value` is a ranked tensor of `rank` with a floating-point
/// element type we compute with (f32, f16, bf16).
/// The largest size, window, sink count or head count a spec may use: sizes
/// beyond it are surely mistakes, and keeping them below 2^31 lets products
/// of two sizes fit in int64 everywhere in the compiler and the runtime.
constexpr int64_t kMaxSize = (int64_t(1) << 31) - 1;

/// A ranked tensor of `rank` with f32, f16 or bf16 elements. `cache`: it
/// holds keys or values, i8 when `*cache` is true (kv_scales are given),
/// and an i8 one without scales is told so.
FailureOr<RankedTensorType> verifyTensor(Operation *op, Value value,
                                         StringRef name, int64_t rank,
                                         StringRef layout,
                                         std::optional<bool> cache = {}) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() != rank)
    return op->emitOpError()
           << "'" << name << "' must be a ranked tensor of "
           << "rank " << rank << " " << layout << ", got " << value.getType();
  Type elt = type.getElementType();
  bool quantized = cache.value_or(false);
  if (quantized && !elt.isSignlessInteger(8))
    return op->emitOpError() << "'" << name << "' element type must be i8 "
                             << "with 'kv_scales', got " << elt;
  if (cache && !quantized && elt.isSignlessInteger(8))
    return op->emitOpError()
           << "'" << name << "' is i8: a quantized cache needs its scales, "
           << "kv_scales(%key_scale, %value_scale : ...)";
  if (!quantized && !elt.isF32() && !elt.isF16() && !elt.isBF16())
    return op->emitOpError()
           << "'" << name << "' element type must be f32, f16 or bf16, got "
           << elt;
  for (auto [d, size] : llvm::enumerate(type.getShape()))
    if (!ShapedType::isDynamic(size) && size > kMaxSize)
      return op->emitOpError() << "'" << name << "' dim " << d << " is " << size
                               << ", more than the largest supported "
                               << "size " << kMaxSize;
  return type;
}

/// Checks that `dim` of `type` is static and positive.
LogicalResult verifyStaticDim(Operation *op, RankedTensorType type,
                              StringRef name, unsigned dim, StringRef what) {
  int64_t size = type.getDimSize(dim);
  if (ShapedType::isDynamic(size))
    return op->emitOpError() << "'" << name << "' " << what << " (dim " << dim
                             << ") must be static, got ?";
  if (size < 1)
    return op->emitOpError() << "'" << name << "' " << what << " (dim " << dim
                             << ") must be >= 1, got " << size;
  return success();
}

/// Checks that two sizes agree where both are static.
LogicalResult verifySameSize(Operation *op, StringRef what, StringRef name,
                             unsigned dim, int64_t size, StringRef refName,
                             int64_t refSize) {
  if (ShapedType::isDynamic(size) || ShapedType::isDynamic(refSize) ||
      size == refSize)
    return success();
  return op->emitOpError() << "'" << name << "' " << what << " (dim " << dim
                           << ") is " << size << " but '" << refName << "' has "
                           << refSize;
}

/// Checks that the element type of `name` equals the reference element type.
LogicalResult verifySameElementType(Operation *op, RankedTensorType type,
                                    StringRef name, Type refType,
                                    StringRef refName) {
  if (type.getElementType() == refType)
    return success();
  return op->emitOpError() << "'" << name << "' element type "
                           << type.getElementType() << " must match '"
                           << refName << "' element type " << refType;
}

/// Checks that a per-head array holds 1 or `numHeads` values.
template <typename T>
LogicalResult verifyPerHeadLength(Operation *op, StringRef name,
                                  std::optional<ArrayRef<T>> values,
                                  int64_t numHeads) {
  if (!values)
    return success();
  int64_t n = values->size();
  if (n == 1 || n == numHeads)
    return success();
  return op->emitOpError() << "'" << name << "' must hold 1 or " << numHeads
                           << " (one per query head) values, got " << n;
}

/// Rejects attributes that are neither inherent to the op nor prefixed with a
/// dialect name: a misspelt variant attribute (`casual`) would otherwise be
/// kept as a discardable attribute and silently change the computation.
LogicalResult verifyNoUnknownAttributes(Operation *op) {
  for (NamedAttribute attr : op->getDiscardableAttrs()) {
    if (attr.getName().strref().contains('.'))
      continue;
    return op->emitOpError()
           << "has unknown attribute '" << attr.getName().strref()
           << "' (expected an attribute of " << op->getName()
           << " or a dialect-prefixed name such as 'mydialect.note')";
  }
  return success();
}

/// The variant attributes shared by mha.attention and mha.multi_head.
template <typename OpTy>
LogicalResult verifyVariantAttributes(OpTy op, int64_t numHeads) {
  Operation *o = op.getOperation();
  if (FloatAttr scale = op.getScaleAttr()) {
    double s = scale.getValueAsDouble();
    if (!std::isfinite(s) || s == 0.0)
      return op.emitOpError()
             << "'scale' must be finite and non-zero, got " << s;
  }
  if (FloatAttr softcap = op.getSoftcapAttr()) {
    double c = softcap.getValueAsDouble();
    if (!std::isfinite(c) || !(c > 0.0))
      return op.emitOpError() << "'softcap' must be finite and > 0, got " << c;
  }
  if (IntegerAttr sinks = op.getSinkTokensAttr()) {
    if (sinks.getInt() < 0 || sinks.getInt() > kMaxSize)
      return op.emitOpError() << "'sink_tokens' must be in [0, " << kMaxSize
                              << "], got " << sinks.getInt();
  }
  if (failed(verifyPerHeadLength(o, "temperature", op.getTemperature(),
                                 numHeads)) ||
      failed(verifyPerHeadLength(o, "alibi_slopes", op.getAlibiSlopes(),
                                 numHeads)) ||
      failed(verifyPerHeadLength(o, "window_left", op.getWindowLeft(),
                                 numHeads)) ||
      failed(verifyPerHeadLength(o, "window_right", op.getWindowRight(),
                                 numHeads)) ||
      failed(verifyPerHeadLength(o, "dropout", op.getDropout(), numHeads)))
    return failure();
  if (auto dropout = op.getDropout()) {
    for (auto [h, p] : llvm::enumerate(*dropout))
      if (!(p >= 0.0f && p < 1.0f))
        return op.emitOpError() << "'dropout' values must be in [0, 1), got "
                                << p << " at index " << h;
  }
  if (auto temps = op.getTemperature()) {
    for (auto [h, t] : llvm::enumerate(*temps))
      if (!std::isfinite(t) || !(t > 0.0f))
        return op.emitOpError() << "'temperature' values must be finite and "
                                << "> 0, got " << t << " at index " << h;
  }
  if (auto slopes = op.getAlibiSlopes()) {
    for (auto [h, s] : llvm::enumerate(*slopes))
      if (!std::isfinite(s))
        return op.emitOpError() << "'alibi_slopes' values must be finite, got "
                                << s << " at index " << h;
  }
  for (auto [name, window] :
       {std::make_pair(StringRef("window_left"), op.getWindowLeft()),
        std::make_pair(StringRef("window_right"), op.getWindowRight())}) {
    if (!window)
      continue;
    for (auto [h, w] : llvm::enumerate(*window)) {
      if (w > kMaxSize)
        return op.emitOpError()
               << "'" << name << "' values must be <= " << kMaxSize << ", got "
               << w << " at index " << h;
      if (w < -1)
        return op.emitOpError()
               << "'" << name << "' values must be >= -1 (-1 = unbounded), got "
               << w << " at index " << h;
    }
  }
  if (auto mask = op.getHeadMask()) {
    if (static_cast<int64_t>(mask->size()) != numHeads)
      return op.emitOpError()
             << "'head_mask' must hold exactly " << numHeads
             << " (one per query head) values, got " << mask->size();
  }
  return success();
}

/// Checks the extra results requested by return_lse / return_probs /
/// return_entropy: their number, order and types.
template <typename OpTy>
LogicalResult verifyExtraResults(OpTy op, int64_t batch, int64_t numHeads,
                                 int64_t queryLen, int64_t keyLen) {
  unsigned expected = op.getNumRequestedExtras();
  unsigned got = op.getExtras().size();
  if (got != expected)
    return op.emitOpError()
           << "expects " << expected
           << " extra result(s) after 'output' (lse, probs, entropy as "
           << "requested by return_lse, return_probs, return_entropy), got "
           << got;
  MLIRContext *ctx = op.getContext();
  Type f32 = Float32Type::get(ctx);
  auto check = [&](Value result, StringRef name,
                   ArrayRef<int64_t> shape) -> LogicalResult {
    if (!result)
      return success();
    auto expectedType = RankedTensorType::get(shape, f32);
    auto type = dyn_cast<RankedTensorType>(result.getType());
    if (type && type.getElementType() == f32 &&
        succeeded(verifyCompatibleShape(type.getShape(), shape)))
      return success();
    return op.emitOpError() << "result '" << name << "' must be "
                            << expectedType << ", got " << result.getType();
  };
  if (failed(check(op.getLse(), "lse", {batch, numHeads, queryLen})) ||
      failed(
          check(op.getProbs(), "probs", {batch, numHeads, queryLen, keyLen})) ||
      failed(check(op.getEntropy(), "entropy", {batch, numHeads, queryLen})))
    return failure();
  return success();
}

/// Checks that `result` is compatible with the expected shape and element
/// type.
LogicalResult verifyResultType(Operation *op, Value result, StringRef name,
                               ArrayRef<int64_t> shape, Type elementType,
                               StringRef layout) {
  auto expectedType = RankedTensorType::get(shape, elementType);
  auto type = dyn_cast<RankedTensorType>(result.getType());
  if (type && type.getElementType() == elementType &&
      succeeded(verifyCompatibleShape(type.getShape(), shape)))
    return success();
  return op->emitOpError() << "result '" << name << "' must be " << expectedType
                           << " " << layout << ", got " << result.getType();
}

} // namespace

//===----------------------------------------------------------------------===//
// MergeStatesOp
//===----------------------------------------------------------------------===//

LogicalResult MergeStatesOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyNoUnknownAttributes(op)))
    return failure();
  FailureOr<RankedTensorType> a =
      verifyTensor(op, getOutputA(), "output_a", 4, "[B, H, L, Dv]");
  if (failed(a))
    return failure();
  FailureOr<RankedTensorType> b =
      verifyTensor(op, getOutputB(), "output_b", 4, "[B, H, L, Dv]");
  if (failed(b) ||
      failed(verifySameElementType(op, *b, "output_b", a->getElementType(),
                                   "output_a")) ||
      failed(verifyStaticDim(op, *a, "output_a", 1, "head count")) ||
      failed(verifyStaticDim(op, *a, "output_a", 3, "value dim")))
    return failure();
  // output_b, both lse and the results agree with output_a where static.
  SmallVector<int64_t> shape(a->getShape());
  for (unsigned d = 0; d < 4; ++d)
    if (failed(verifySameSize(op, "size", "output_b", d, b->getDimSize(d),
                              "output_a", shape[d])))
      return failure();
  for (unsigned d = 0; d < 4; ++d)
    if (ShapedType::isDynamic(shape[d]))
      shape[d] = b->getDimSize(d);
  Type f32 = Float32Type::get(getContext());
  ArrayRef<int64_t> rows = ArrayRef<int64_t>(shape).take_front(3);
  for (auto [value, name] : {std::make_pair(getLseA(), StringRef("lse_a")),
                             std::make_pair(getLseB(), StringRef("lse_b"))}) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || type.getElementType() != f32 ||
        failed(verifyCompatibleShape(type.getShape(), rows)))
      return emitOpError() << "'" << name << "' must be "
                           << RankedTensorType::get(rows, f32)
                           << " [B, H, L] like output_a, got "
                           << value.getType();
  }
  if (failed(verifyResultType(op, getOutput(), "output", shape,
                              a->getElementType(), "[B, H, L, Dv]")) ||
      failed(verifyResultType(op, getLse(), "lse", rows, f32, "[B, H, L]")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionKlOp
//===----------------------------------------------------------------------===//

float AttentionKlOp::getTeacherScaleOrDefault() {
  if (FloatAttr s = getTeacherScaleAttr())
    return s.getValueAsDouble();
  auto q = cast<RankedTensorType>(getTeacherQuery().getType());
  return 1.0f / std::sqrt(static_cast<float>(q.getDimSize(3)));
}

float AttentionKlOp::getStudentScaleOrDefault() {
  if (FloatAttr s = getStudentScaleAttr())
    return s.getValueAsDouble();
  auto q = cast<RankedTensorType>(getStudentQuery().getType());
  return 1.0f / std::sqrt(static_cast<float>(q.getDimSize(3)));
}

LogicalResult AttentionKlOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyNoUnknownAttributes(op)))
    return failure();
  for (auto [attr, name] :
       {std::make_pair(getTeacherScaleAttr(), StringRef("teacher_scale")),
        std::make_pair(getStudentScaleAttr(), StringRef("student_scale"))}) {
    if (attr && (!std::isfinite(attr.getValueAsDouble()) ||
                 attr.getValueAsDouble() == 0.0))
      return emitOpError() << "'" << name << "' must be finite and non-zero, "
                           << "got " << attr.getValueAsDouble();
  }
  // Each model: [B, Hq, Lq, D] queries, [B, Hkv, Lk, D] keys of one type.
  SmallVector<int64_t> rows; // [B, Hq, Lq] as far as static
  int64_t keyLen = ShapedType::kDynamic, keyBatch = ShapedType::kDynamic;
  struct Side {
    Value query, key;
    StringRef queryName, keyName;
  };
  for (Side side : {Side{getTeacherQuery(), getTeacherKey(), "teacher_query",
                         "teacher_key"},
                    Side{getStudentQuery(), getStudentKey(), "student_query",
                         "student_key"}}) {
    FailureOr<RankedTensorType> q =
        verifyTensor(op, side.query, side.queryName, 4, "[B, Hq, Lq, D]");
    if (failed(q))
      return failure();
    FailureOr<RankedTensorType> k =
        verifyTensor(op, side.key, side.keyName, 4, "[B, Hkv, Lk, D]");
    if (failed(k) ||
        failed(verifySameElementType(op, *k, side.keyName, q->getElementType(),
                                     side.queryName)) ||
        failed(verifyStaticDim(op, *q, side.queryName, 1, "head count")) ||
        failed(verifyStaticDim(op, *q, side.queryName, 3, "head dim")) ||
        failed(verifyStaticDim(op, *k, side.keyName, 1, "head count")) ||
        failed(verifySameSize(op, "head dim", side.keyName, 3, k->getDimSize(3),
                              side.queryName, q->getDimSize(3))) ||
        failed(verifySameSize(op, "batch", side.keyName, 0, k->getDimSize(0),
                              side.queryName, q->getDimSize(0))))
      return failure();
    int64_t hq = q->getDimSize(1), hkv = k->getDimSize(1);
    if (hq % hkv != 0)
      return emitOpError() << "'" << side.keyName << "' head count (dim 1) "
                           << hkv << " must divide the query head count " << hq;
    if (rows.empty()) {
      rows.assign(q->getShape().begin(), q->getShape().begin() + 3);
    } else {
      for (unsigned d = 0; d < 3; ++d)
        if (failed(verifySameSize(op, d == 1 ? "head count" : "size",
                                  side.queryName, d, q->getDimSize(d),
                                  "teacher_query", rows[d])))
          return failure();
      for (unsigned d = 0; d < 3; ++d)
        if (ShapedType::isDynamic(rows[d]))
          rows[d] = q->getDimSize(d);
    }
    for (auto [dim, known] :
         {std::make_pair(2u, &keyLen), std::make_pair(0u, &keyBatch)}) {
      if (failed(verifySameSize(op, dim == 2 ? "key length" : "batch",
                                side.keyName, dim, k->getDimSize(dim),
                                "teacher_key", *known)))
        return failure();
      if (ShapedType::isDynamic(*known))
        *known = k->getDimSize(dim);
    }
  }
  Type f32 = Float32Type::get(getContext());
  for (auto [result, name] :
       {std::make_pair(getKl(), StringRef("kl")),
        std::make_pair(getTeacherLse(), StringRef("teacher_lse")),
        std::make_pair(getStudentLse(), StringRef("student_lse"))})
    if (failed(verifyResultType(op, result, name, rows, f32, "[B, Hq, Lq]")))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

void AttentionOp::build(OpBuilder &b, OperationState &state,
                        TypeRange resultTypes, Value query, Value key,
                        Value value, ArrayRef<NamedAttribute> attributes) {
  build(b, state, resultTypes, ValueRange{query, key, value}, attributes);
  state.getOrAddProperties<Properties>().operandSegmentSizes = {1, 1, 1, 0, 0,
                                                                0, 0, 0, 0, 0};
}

void AttentionOp::build(OpBuilder &b, OperationState &state,
                        TypeRange resultTypes, Value query, Value key,
                        Value value, Value keyScale, Value valueScale,
                        Value kvLens, Value blockTable,
                        ArrayRef<NamedAttribute> attributes) {
  build(b, state, resultTypes, query, key, value, keyScale, valueScale, kvLens,
        Value(), blockTable, Value(), Value(), attributes);
}

void AttentionOp::build(OpBuilder &b, OperationState &state,
                        TypeRange resultTypes, Value query, Value key,
                        Value value, Value keyScale, Value valueScale,
                        Value kvLens, Value qLens, Value blockTable,
                        Value cuSeqlensQ, Value cuSeqlensK,
                        ArrayRef<NamedAttribute> attributes) {
  SmallVector<Value> operands{query, key, value};
  SmallVector<int32_t> segments{1, 1, 1};
  for (Value v : {keyScale, valueScale, kvLens, qLens, blockTable, cuSeqlensQ,
                  cuSeqlensK}) {
    if (v)
      operands.push_back(v);
    segments.push_back(v ? 1 : 0);
  }
  build(b, state, resultTypes, operands, attributes);
  llvm::copy(
      segments,
      state.getOrAddProperties<Properties>().operandSegmentSizes.begin());
}

namespace {

/// A serving operand: a ranked i32 tensor of `rank` (`layout` names its
/// dimensions in messages), or null when absent.
FailureOr<RankedTensorType> verifyServingTensor(Operation *op, Value value,
                                                StringRef name, int64_t rank,
                                                StringRef layout) {
  if (!value)
    return RankedTensorType();
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() != rank || !type.getElementType().isInteger(32))
    return op->emitOpError() << "'" << name << "' must be a ranked tensor of "
                             << "i32 " << layout << ", got " << value.getType();
  return type;
}

/// The serving operands (docs/language.md 4.6): each an i32 tensor of its
/// layout, no two giving the same lengths, sized by the S sequences (the
/// query's batch, or cu_seqlens_q's size - 1), and the query and key layouts
/// they imply: packed rows [1, H, total, D], page pools [pages, Hkv,
/// page_size, D].
LogicalResult verifyServingOperands(AttentionOp op, RankedTensorType q,
                                    RankedTensorType k) {
  Operation *o = op.getOperation();
  FailureOr<RankedTensorType> kvLens =
      verifyServingTensor(o, op.getKvLens(), "kv_lens", 1, "[S]");
  FailureOr<RankedTensorType> qLens =
      verifyServingTensor(o, op.getQLens(), "q_lens", 1, "[S]");
  FailureOr<RankedTensorType> table = verifyServingTensor(
      o, op.getBlockTable(), "block_table", 2, "[S, max_pages]");
  FailureOr<RankedTensorType> cuQ =
      verifyServingTensor(o, op.getCuSeqlensQ(), "cu_seqlens_q", 1, "[S + 1]");
  FailureOr<RankedTensorType> cuK =
      verifyServingTensor(o, op.getCuSeqlensK(), "cu_seqlens_k", 1, "[S + 1]");
  if (failed(kvLens) || failed(qLens) || failed(table) || failed(cuQ) ||
      failed(cuK))
    return failure();
  if (*qLens && *cuQ)
    return op.emitOpError() << "'q_lens' and 'cu_seqlens_q' both give the "
                            << "query lengths: use one";
  if (*kvLens && *cuK)
    return op.emitOpError() << "'kv_lens' and 'cu_seqlens_k' both give the "
                            << "key lengths: use one";
  if (*table && !*kvLens)
    return op.emitOpError() << "'block_table' needs 'kv_lens': the number of "
                            << "keys in each sequence's pages";
  if (!op.hasServingOperands())
    return success();
  if (op.getProbs() && (*table || *cuQ || *cuK))
    return op.emitOpError() << "'return_probs' is not supported with paged "
                            << "or packed sequences (block_table, "
                            << "cu_seqlens_q, cu_seqlens_k)";
  // Packed rows are one batch element; their sequences are cu_seqlens'.
  auto verifyPacked = [&](RankedTensorType type, StringRef name,
                          StringRef offsets) -> LogicalResult {
    if (type.getDimSize(0) == 1)
      return success();
    return op.emitOpError()
           << "'" << name << "' batch size (dim 0) must be 1 with '" << offsets
           << "' (its sequences are packed along dim 2), got "
           << (ShapedType::isDynamic(type.getDimSize(0))
                   ? std::string("?")
                   : std::to_string(type.getDimSize(0)));
  };
  if (*cuQ && failed(verifyPacked(q, "query", "cu_seqlens_q")))
    return failure();
  if (*cuK && failed(verifyPacked(k, "key", "cu_seqlens_k")))
    return failure();
  int64_t sequences = q.getDimSize(0);
  StringRef sequencesFrom = "query";
  if (*cuQ) {
    int64_t n = cuQ->getDimSize(0);
    if (n == 0)
      return op.emitOpError() << "'cu_seqlens_q' must hold S + 1 >= 1 "
                              << "offsets, got 0";
    sequences = ShapedType::isDynamic(n) ? n : n - 1;
    sequencesFrom = "cu_seqlens_q";
  }
  auto verifySequences = [&](RankedTensorType type, StringRef name,
                             int64_t offset) -> LogicalResult {
    if (!type)
      return success();
    int64_t size = type.getDimSize(0);
    if (ShapedType::isDynamic(size) || ShapedType::isDynamic(sequences) ||
        size == sequences + offset)
      return success();
    return op.emitOpError()
           << "'" << name << "' dim 0 is " << size << " but must be "
           << sequences + offset << (offset ? " (S + 1" : " (S")
           << ", S = " << sequences << " sequences from '" << sequencesFrom
           << "')";
  };
  if (failed(verifySequences(*kvLens, "kv_lens", 0)) ||
      failed(verifySequences(*qLens, "q_lens", 0)) ||
      failed(verifySequences(*table, "block_table", 0)) ||
      failed(verifySequences(*cuK, "cu_seqlens_k", 1)) ||
      (*cuQ && !*table && !*cuK && failed(verifySequences(k, "key", 0))))
    return failure();
  return success();
}

/// The scales of a quantized cache (docs/language.md 4.8): both or none;
/// each f32 [Hkv] (one per KV head of `keys`), or [pages, Hkv] (one per page
/// and KV head) when `paged`. `keysName` names the keys (or key cache).
LogicalResult verifyKvScales(Operation *op, Value keyScale, Value valueScale,
                             RankedTensorType keys, StringRef keysName,
                             bool paged) {
  if (!keyScale != !valueScale)
    return op->emitOpError() << "'kv_scales' needs the key and the value "
                             << "scale";
  for (auto [scale, name] : {std::make_pair(keyScale, "key_scale"),
                             std::make_pair(valueScale, "value_scale")}) {
    if (!scale)
      continue;
    auto type = dyn_cast<RankedTensorType>(scale.getType());
    StringRef layout = paged ? "[Hkv] or [pages, Hkv]" : "[Hkv]";
    if (!type || !type.getElementType().isF32() ||
        type.getRank() > (paged ? 2 : 1) || type.getRank() < 1)
      return op->emitOpError()
             << "'" << name << "' must be a ranked f32 "
             << "tensor " << layout << ", got " << scale.getType();
    int64_t rank = type.getRank();
    if (failed(verifySameSize(op, "head count", name, rank - 1,
                              type.getDimSize(rank - 1), keysName,
                              keys.getDimSize(1))) ||
        (rank == 2 &&
         failed(verifySameSize(op, "page count", name, 0, type.getDimSize(0),
                               keysName, keys.getDimSize(0)))))
      return failure();
  }
  return success();
}

} // namespace

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyNoUnknownAttributes(op)))
    return failure();
  FailureOr<RankedTensorType> q =
      verifyTensor(op, getQuery(), "query", 4, "[B, Hq, Lq, D]");
  if (failed(q))
    return failure();
  bool quantized = getKeyScale() || getValueScale();
  FailureOr<RankedTensorType> k =
      verifyTensor(op, getKey(), "key", 4, "[B, Hkv, Lk, D]", quantized);
  if (failed(k))
    return failure();
  FailureOr<RankedTensorType> v =
      verifyTensor(op, getValue(), "value", 4, "[B, Hkv, Lk, Dv]", quantized);
  if (failed(v))
    return failure();
  Type elt = q->getElementType();
  if (!quantized &&
      (failed(verifySameElementType(op, *k, "key", elt, "query")) ||
       failed(verifySameElementType(op, *v, "value", elt, "query"))))
    return failure();

  for (auto [type, name] : {std::make_pair(*q, StringRef("query")),
                            std::make_pair(*k, StringRef("key")),
                            std::make_pair(*v, StringRef("value"))}) {
    if (failed(verifyStaticDim(op, type, name, 1, "head count")) ||
        failed(verifyStaticDim(op, type, name, 3, "head dim")))
      return failure();
  }

  int64_t batch = q->getDimSize(0), numHeads = q->getDimSize(1);
  int64_t queryLen = q->getDimSize(2), headDim = q->getDimSize(3);
  int64_t numKvHeads = k->getDimSize(1), keyLen = k->getDimSize(2);
  int64_t valueDim = v->getDimSize(3);
  // Paged or packed keys have no batch dimension of their own: the serving
  // checks relate them to the sequences.
  bool keysPerBatch = !getBlockTable() && !getCuSeqlensK();
  if (failed(verifyServingOperands(*this, *q, *k)) ||
      failed(verifyKvScales(op, getKeyScale(), getValueScale(), *k, "key",
                            bool(getBlockTable()))))
    return failure();
  if ((keysPerBatch && !getCuSeqlensQ() &&
       (failed(verifySameSize(op, "batch size", "key", 0, k->getDimSize(0),
                              "query", batch)) ||
        failed(verifySameSize(op, "batch size", "value", 0, v->getDimSize(0),
                              "query", batch)))) ||
      // Catches key/value disagreeing when the query's batch is dynamic.
      failed(verifySameSize(op, "batch size", "value", 0, v->getDimSize(0),
                            "key", k->getDimSize(0))) ||
      failed(verifySameSize(op, "head dim", "key", 3, k->getDimSize(3), "query",
                            headDim)) ||
      failed(verifySameSize(op, "head count", "value", 1, v->getDimSize(1),
                            "key", numKvHeads)) ||
      failed(verifySameSize(op, "sequence length", "value", 2, v->getDimSize(2),
                            "key", keyLen)))
    return failure();
  if (numHeads % numKvHeads != 0)
    return emitOpError() << "query heads (" << numHeads
                         << ") must be a multiple of key/value heads ("
                         << numKvHeads << ")";

  // Batch and sequence sizes of the results follow the query where static,
  // else whichever operand knows them.
  if (ShapedType::isDynamic(batch) && keysPerBatch && !getCuSeqlensQ())
    batch = !ShapedType::isDynamic(k->getDimSize(0)) ? k->getDimSize(0)
                                                     : v->getDimSize(0);
  if (ShapedType::isDynamic(keyLen))
    keyLen = v->getDimSize(2);
  if (failed(verifyResultType(op, getOutput(), "output",
                              {batch, numHeads, queryLen, valueDim}, elt,
                              "[B, Hq, Lq, Dv]")))
    return failure();
  if (failed(verifyVariantAttributes(*this, numHeads)))
    return failure();
  return verifyExtraResults(*this, batch, numHeads, queryLen, keyLen);
}

//===----------------------------------------------------------------------===//
// AppendKvOp
//===----------------------------------------------------------------------===//

/// One length (and table row) per sequence of an mha.append_kv, and a
/// contiguous cache with one batch element per sequence (pages are
/// shared); `table` is null when the cache is not paged.
static LogicalResult verifyAppendSequences(Operation *op, RankedTensorType lens,
                                           RankedTensorType table,
                                           RankedTensorType keyCache,
                                           int64_t sequences) {
  if (failed(verifySameSize(op, "size", "kv_lens", 0, lens.getDimSize(0),
                            "key_new", sequences)))
    return failure();
  if (table)
    return verifySameSize(op, "size", "block_table", 0, table.getDimSize(0),
                          "key_new", sequences);
  return verifySameSize(op, "batch size", "key_cache", 0,
                        keyCache.getDimSize(0), "key_new", sequences);
}

/// The sequences of an append's new keys: their batch, or (packed,
/// `cu_seqlens_q` i32 [S + 1] over the rows of a batch of one) unknown;
/// `q_lens` i32 [S], one per sequence.
static FailureOr<int64_t> verifyAppendRows(AppendKvOp op,
                                           RankedTensorType kNew) {
  Operation *o = op.getOperation();
  FailureOr<RankedTensorType> qLens =
      verifyServingTensor(o, op.getQLens(), "q_lens", 1, "[S]");
  FailureOr<RankedTensorType> cu =
      verifyServingTensor(o, op.getCuSeqlensQ(), "cu_seqlens_q", 1, "[S + 1]");
  if (failed(qLens) || failed(cu))
    return failure();
  if (*qLens && *cu)
    return op.emitOpError() << "'q_lens' and 'cu_seqlens_q' both give the "
                               "new keys of each sequence: use one";
  if (*cu) {
    if (kNew.getDimSize(0) != 1)
      return op.emitOpError() << "'key_new' batch size (dim 0) must be 1 with "
                                 "'cu_seqlens_q' (packed new keys), got "
                              << Type(kNew);
    return int64_t(ShapedType::kDynamic);
  }
  if (*qLens &&
      failed(verifySameSize(o, "size", "q_lens", 0, (*qLens).getDimSize(0),
                            "key_new", kNew.getDimSize(0))))
    return failure();
  return kNew.getDimSize(0);
}

/// An mha.append_kv without values (a latent layer's cache): an f32, bf16
/// or f16 cache of the new keys' element type, head count and head dim,
/// one batch element per sequence unless paged.
static LogicalResult verifyKeyOnlyAppend(AppendKvOp op, RankedTensorType kNew) {
  Operation *o = op.getOperation();
  if (op.getKeyScale() || op.getValueScale() || op.getRopeTheta())
    return op.emitOpError() << "an append without values takes neither "
                               "'kv_scales' nor 'rope_theta'";
  FailureOr<RankedTensorType> kCache =
      verifyTensor(o, op.getKeyCache(), "key_cache", 4,
                   "[S, Hkv, Lk, D] or [pages, Hkv, page_size, D]");
  FailureOr<RankedTensorType> lens =
      verifyServingTensor(o, op.getKvLens(), "kv_lens", 1, "[S]");
  FailureOr<RankedTensorType> table = verifyServingTensor(
      o, op.getBlockTable(), "block_table", 2, "[S, max_pages]");
  FailureOr<int64_t> sequences = verifyAppendRows(op, kNew);
  if (failed(kCache) || failed(lens) || failed(table) || failed(sequences))
    return failure();
  if (failed(verifySameElementType(o, *kCache, "key_cache",
                                   kNew.getElementType(), "key_new")) ||
      failed(verifyStaticDim(o, kNew, "key_new", 1, "head count")) ||
      failed(verifyStaticDim(o, kNew, "key_new", 3, "head dim")) ||
      failed(verifySameSize(o, "head count", "key_cache", 1,
                            kCache->getDimSize(1), "key_new",
                            kNew.getDimSize(1))) ||
      failed(verifySameSize(o, "head dim", "key_cache", 3,
                            kCache->getDimSize(3), "key_new",
                            kNew.getDimSize(3))) ||
      failed(verifyAppendSequences(o, *lens, *table, *kCache, *sequences)))
    return failure();
  if (op.getKeyCacheOut().getType() != op.getKeyCache().getType())
    return op.emitOpError() << "results must have the types of the caches";
  return success();
}

LogicalResult AppendKvOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyNoUnknownAttributes(op)))
    return failure();
  FailureOr<RankedTensorType> kNew =
      verifyTensor(op, getKeyNew(), "key_new", 4, "[S, Hkv, Lnew, D]");
  if (failed(kNew))
    return failure();
  if (bool(getValueNew()) != bool(getValueCache()) ||
      bool(getValueCache()) != bool(getValueCacheOut()))
    return emitOpError() << "new values, a value cache and the updated value "
                            "cache go together: all three or none";
  if (!getValueNew())
    return verifyKeyOnlyAppend(*this, *kNew);
  FailureOr<RankedTensorType> vNew =
      verifyTensor(op, getValueNew(), "value_new", 4, "[S, Hkv, Lnew, Dv]");
  if (failed(vNew))
    return failure();
  bool quantized = getKeyScale() || getValueScale();
  FailureOr<RankedTensorType> kCache =
      verifyTensor(op, getKeyCache(), "key_cache", 4,
                   "[S, Hkv, Lk, D] or [pages, Hkv, page_size, D]", quantized);
  if (failed(kCache))
    return failure();
  FailureOr<RankedTensorType> vCache = verifyTensor(
      op, getValueCache(), "value_cache", 4,
      "[S, Hkv, Lk, Dv] or [pages, Hkv, page_size, Dv]", quantized);
  if (failed(vCache))
    return failure();
  Type elt = kNew->getElementType();
  if (failed(verifySameElementType(op, *vNew, "value_new", elt, "key_new")) ||
      (!quantized && (failed(verifySameElementType(op, *kCache, "key_cache",
                                                   elt, "key_new")) ||
                      failed(verifySameElementType(op, *vCache, "value_cache",
                                                   elt, "key_new")))) ||
      failed(verifyKvScales(op, getKeyScale(), getValueScale(), *kCache,
                            "key_cache", bool(getBlockTable()))))
    return failure();
  for (auto [type, name] : {std::make_pair(*kNew, StringRef("key_new")),
                            std::make_pair(*vNew, StringRef("value_new")),
                            std::make_pair(*kCache, StringRef("key_cache")),
                            std::make_pair(*vCache, StringRef("value_cache"))})
    if (failed(verifyStaticDim(op, type, name, 1, "head count")) ||
        failed(verifyStaticDim(op, type, name, 3, "head dim")))
      return failure();
  FailureOr<RankedTensorType> lens =
      verifyServingTensor(op, getKvLens(), "kv_lens", 1, "[S]");
  FailureOr<RankedTensorType> table = verifyServingTensor(
      op, getBlockTable(), "block_table", 2, "[S, max_pages]");
  FailureOr<int64_t> sequences = verifyAppendRows(*this, *kNew);
  if (failed(lens) || failed(table) || failed(sequences))
    return failure();
  // Heads and head dims agree; new keys and values have one length; a
  // contiguous cache has one batch element per sequence, pages are shared.
  if (failed(verifySameSize(op, "batch size", "value_new", 0,
                            vNew->getDimSize(0), "key_new",
                            kNew->getDimSize(0))) ||
      failed(verifySameSize(op, "length", "value_new", 2, vNew->getDimSize(2),
                            "key_new", kNew->getDimSize(2))) ||
      failed(verifyAppendSequences(op, *lens, *table, *kCache, *sequences)))
    return failure();
  for (auto [type, name, ref, refName] :
       {std::make_tuple(*vNew, "value_new", *kNew, "key_new"),
        std::make_tuple(*kCache, "key_cache", *kNew, "key_new"),
        std::make_tuple(*vCache, "value_cache", *vNew, "value_new")}) {
    // Keys and values may have different head dims (D, Dv).
    bool sameDim = StringRef(name).ends_with("cache");
    if (failed(verifySameSize(op, "head count", name, 1, type.getDimSize(1),
                              refName, ref.getDimSize(1))) ||
        (sameDim &&
         failed(verifySameSize(op, "head dim", name, 3, type.getDimSize(3),
                               refName, ref.getDimSize(3)))))
      return failure();
  }
  for (unsigned d : {0u, 2u})
    if (failed(verifySameSize(op, d ? "length" : "batch size", "value_cache", d,
                              vCache->getDimSize(d), "key_cache",
                              kCache->getDimSize(d))))
      return failure();
  if (FloatAttr theta = getRopeThetaAttr()) {
    double t = theta.getValueAsDouble();
    if (!std::isfinite(t) || !(t > 0.0))
      return emitOpError() << "'rope_theta' must be finite and > 0, got " << t;
    if (kNew->getDimSize(3) % 2 != 0)
      return emitOpError() << "'rope_theta' rotates pairs (i, i + D/2): the "
                           << "head dim D must be even, got "
                           << kNew->getDimSize(3);
  }
  if (getKeyCacheOut().getType() != getKeyCache().getType() ||
      getValueCacheOut().getType() != getValueCache().getType())
    return emitOpError() << "results must have the types of the caches";
  return success();
}

//===----------------------------------------------------------------------===//
// LowRankOp
//===----------------------------------------------------------------------===//

LogicalResult LowRankOp::verify() {
  auto down = cast<RankedTensorType>(getDown().getType());
  auto up = cast<RankedTensorType>(getUp().getType());
  auto w = cast<RankedTensorType>(getWeight().getType());
  for (auto [type, name] :
       {std::make_pair(down, "down [m, r]"), std::make_pair(up, "up [r, n]"),
        std::make_pair(w, "weight [m, n]")})
    if (type.getRank() != 2 || !type.hasStaticShape())
      return emitOpError() << "'" << name << "' must be a static 2-D tensor, "
                           << "got " << Type(type);
  if (up.getElementType() != down.getElementType() ||
      w.getElementType() != down.getElementType())
    return emitOpError() << "factors and weight must have one element type, "
                         << "got " << Type(down) << ", " << Type(up) << " and "
                         << Type(w);
  if (getDown().getDefiningOp<QuantizedOp>() ||
      getUp().getDefiningOp<QuantizedOp>())
    return emitOpError() << "factors cannot be mha.quantized (quantized "
                            "factors are not supported)";
  int64_t m = down.getDimSize(0), r = down.getDimSize(1);
  if (r < 1 || up.getDimSize(0) != r)
    return emitOpError() << "'up' must have the rank r = " << r
                         << " of 'down' as rows (and r >= 1), got " << Type(up);
  if (w.getDimSize(0) != m || w.getDimSize(1) != up.getDimSize(1))
    return emitOpError() << "the weight must be [rows(down), cols(up)] = [" << m
                         << ", " << up.getDimSize(1) << "], got " << Type(w);
  return success();
}

LogicalResult QuantizedOp::verify() {
  auto values = cast<RankedTensorType>(getValues().getType());
  auto scale = cast<RankedTensorType>(getScale().getType());
  auto w = cast<RankedTensorType>(getWeight().getType());
  int64_t bits = getBits();
  if (bits != 8 && bits != 4)
    return emitOpError() << "'bits' must be 8 or 4, got " << bits;
  if (!isa<Float32Type, Float16Type, BFloat16Type>(w.getElementType()) ||
      w.getRank() != 2 || !w.hasStaticShape())
    return emitOpError() << "the weight must be a static 2-D f32, f16 or bf16 "
                         << "tensor, got " << Type(w);
  int64_t k = w.getDimSize(0), n = w.getDimSize(1);
  // int4: two values per byte along the columns.
  SmallVector<int64_t> packed{k, bits == 4 ? n / 2 : n};
  if ((bits == 4 && n % 2 != 0) || values.getShape() != ArrayRef(packed) ||
      !values.getElementType().isSignlessInteger(8))
    return emitOpError() << "'values' must be i8 [" << packed[0] << ", "
                         << packed[1] << "]"
                         << (bits == 4 ? " (two int4 per byte: an even number "
                                         "of weight columns)"
                                       : "")
                         << " for the weight " << Type(w) << ", got "
                         << Type(values);
  bool perColumn = scale.getRank() == 1 && scale.getDimSize(0) == n;
  bool perGroup = scale.getRank() == 2 && scale.getDimSize(1) == n &&
                  scale.getDimSize(0) >= 1 && k % scale.getDimSize(0) == 0;
  if (!scale.getElementType().isF32() || (!perColumn && !perGroup))
    return emitOpError() << "'scale' must be f32 [N] = [" << n
                         << "] (one per column) or [G, " << n
                         << "] with G dividing K = " << k
                         << " (groups of rows), got " << Type(scale);
  return success();
}

//===----------------------------------------------------------------------===//
// MultiHeadOp
//===----------------------------------------------------------------------===//

/// The head dim D of a layer: cols(wq) / Hq for independent heads,
/// cols(wq) when shared, rows(wo) / Hq for groups (whose count is not known
/// yet).
static FailureOr<int64_t> verifyLayerHeadDim(Operation *op, Sharing sharing,
                                             RankedTensorType wq,
                                             RankedTensorType wo) {
  int64_t numHeads = cast<MultiHeadOp>(op).getNumHeads();
  int64_t qCols = wq.getDimSize(1), oRows = wo.getDimSize(0);
  StringRef rule;
  int64_t d = 0;
  switch (sharing) {
  case Sharing::independent:
    if (qCols % numHeads != 0)
      return op->emitOpError()
             << "'wq' columns (" << qCols
             << ") must be a multiple of 'num_heads' (" << numHeads << ")";
    rule = "D = cols(wq) / num_heads";
    d = qCols / numHeads;
    break;
  case Sharing::shared_head_bias:
    rule = "D = cols(wq)";
    d = qCols;
    break;
  case Sharing::grouped:
  case Sharing::latent:
    if (oRows % numHeads != 0)
      return op->emitOpError()
             << "'wo' rows (" << oRows
             << ") must be a multiple of 'num_heads' (" << numHeads << ")";
    rule = "D = rows(wo) / num_heads";
    d = oRows / numHeads;
    break;
  }
  if (d < 1)
    return op->emitOpError()
           << "'" << (sharing == Sharing::grouped ? "wo" : "wq")
           << "' must give a head dim D >= 1 (" << rule << "), got D = " << d
           << " from " << Type(sharing == Sharing::grouped ? wo : wq);
  return d;
}

/// `#mha.sharing<latent>`: wk [d, r+Dr], wv [r, Hq*(Dn+Dv)],
/// wq [d, Hq*(Dn+Dr)] with Dv = rows(wo) / Hq (verified), one KV head per
/// query head and no Q/K/V biases.
static LogicalResult verifyLatentWeights(MultiHeadOp op, int64_t model,
                                         int64_t valueDim) {
  int64_t hq = op.getNumHeads();
  auto typeOf = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  RankedTensorType wq = typeOf(op.getWq()), wk = typeOf(op.getWk()),
                   wv = typeOf(op.getWv());
  if (op.getKvHeadCount() != hq)
    return op.emitOpError()
           << "#mha.sharing<latent> has one key and value head per query "
              "head: 'num_kv_heads' must be "
           << hq << " ('num_heads') or absent, got " << op.getKvHeadCount();
  if (op.getHasQkvBias())
    return op.emitOpError() << "#mha.sharing<latent> takes no Q, K or V "
                               "biases: remove 'has_qkv_bias'";
  for (auto [value, name, meaning] :
       {std::make_tuple(op.getWk(), "wk", "the latent projection [d, r+Dr]"),
        std::make_tuple(op.getWv(), "wv",
                        "the latent's up-projection [r, Hq*(Dn+Dv)]")})
    if (value.getDefiningOp<LowRankOp>())
      return op.emitOpError() << "'" << name << "' of #mha.sharing<latent> is "
                              << meaning << " and cannot be an mha.low_rank";
  int64_t rank = wv.getDimSize(0);
  int64_t perHead = wv.getDimSize(1) / hq;
  if (wv.getDimSize(1) % hq != 0 || perHead <= valueDim)
    return op.emitOpError()
           << "#mha.sharing<latent> needs 'wv' = [r, Hq*(Dn+Dv)] with Dn >= 1 "
              "and Dv = rows(wo) / num_heads = "
           << valueDim << ", got " << Type(wv);
  int64_t nopeDim = perHead - valueDim;
  if (wk.getDimSize(0) != model || wk.getDimSize(1) < rank)
    return op.emitOpError()
           << "#mha.sharing<latent> needs 'wk' = [d, r+Dr] = [" << model << ", "
           << rank << "+Dr] (r = rows(wv) = " << rank << ", Dr >= 0), got "
           << Type(wk);
  int64_t ropeDim = wk.getDimSize(1) - rank;
  int64_t qCols = hq * (nopeDim + ropeDim);
  if (wq.getDimSize(0) != model || wq.getDimSize(1) != qCols)
    return op.emitOpError()
           << "#mha.sharing<latent> needs 'wq' = [d, Hq*(Dn+Dr)] = [" << model
           << ", " << qCols << "] (Dn = " << nopeDim << ", Dr = " << ropeDim
           << "), got " << Type(wq);
  if (op.getRopeThetaAttr() && (ropeDim < 2 || ropeDim % 2 != 0))
    return op.emitOpError()
           << "'rope_theta' rotates the RoPE key: #mha.sharing<latent> needs "
              "an even Dr = cols(wk) - rows(wv) >= 2, got Dr = "
           << ropeDim;
  return success();
}

/// A decoding step's operands (docs/language.md 5.8): both caches with
/// `kv_lens`, `block_table` only with them, caches of the input's element
/// type [S, Hkv, Lk, D] (pages [pages, Hkv, page_size, D]), the updated
/// caches as results of the same types, and the attention attributes that
/// a step over a cache supports.
static LogicalResult verifyLayerCache(MultiHeadOp op, RankedTensorType x,
                                      int64_t numKvHeads, int64_t headDim) {
  Operation *o = op.getOperation();
  Value kCache = op.getKeyCache();
  if (!kCache) {
    if (op.getKvLens() || op.getBlockTable() || op.getKeyCacheOut() ||
        op.getKeyScale())
      return op.emitOpError() << "'kv_lens', 'block_table', 'kv_scales' and "
                                 "the updated caches belong to a decoding "
                                 "step: they need cache(%k_cache, %v_cache "
                                 ": ...)";
    return success();
  }
  if (!op.getKvLens())
    return op.emitOpError() << "a decoding step needs the cache lengths: "
                               "kv_lens(%kv_lens : tensor<?xi32>)";
  if (op.getReturnProbs() || op.getDropout())
    return op.emitOpError() << "a decoding step with a cache supports "
                               "neither 'return_probs' nor 'dropout'";
  bool paged = bool(op.getBlockTable());
  bool quantized = op.getKeyScale() || op.getValueScale();
  // Packed rows are one batch element; their sequences are cu_seqlens_q's.
  int64_t sequences =
      op.getCuSeqlensQ() ? ShapedType::kDynamic : x.getDimSize(0);
  StringRef layout = paged ? "[pages, Hkv, page_size, D]" : "[S, Hkv, Lk, D]";
  // A latent step's one cache holds the latent and the RoPE key of every
  // token, [S, 1, Lk, r+Dr]: its values are the first r columns.
  bool latent = op.getSharingScheme() == Sharing::latent;
  if (latent) {
    if (op.getValueCache() || op.getValueCacheOut() || quantized)
      return op.emitOpError()
             << "a #mha.sharing<latent> step has one cache of latents and "
                "RoPE keys, not quantized: cache(%c : "
             << (paged ? "[pages, 1, page_size, r+Dr]" : "[S, 1, Lk, r+Dr]")
             << ")";
    if (op.getWv().getDefiningOp<QuantizedOp>())
      return op.emitOpError() << "a #mha.sharing<latent> step absorbs 'wv' "
                                 "into the attention: it must be a float "
                                 "weight, not an mha.quantized";
    numKvHeads = 1;
    headDim = op.getLatentRank() + op.getRopeKeyDim();
    layout = paged ? "[pages, 1, page_size, r+Dr]" : "[S, 1, Lk, r+Dr]";
  } else if (!op.getValueCache()) {
    return op.emitOpError() << "a decoding step needs both caches: "
                               "cache(%k_cache, %v_cache : ...)";
  }
  SmallVector<std::tuple<Value, Value, const char *>, 2> caches{
      {kCache, op.getKeyCacheOut(), "key_cache"}};
  if (!latent)
    caches.push_back(
        {op.getValueCache(), op.getValueCacheOut(), "value_cache"});
  for (auto [value, result, name] : caches) {
    FailureOr<RankedTensorType> cache =
        verifyTensor(o, value, name, 4, layout, quantized);
    if (failed(cache) ||
        (!quantized && failed(verifySameElementType(
                           o, *cache, name, x.getElementType(), "input"))) ||
        (name == StringRef("key_cache") &&
         failed(verifyKvScales(o, op.getKeyScale(), op.getValueScale(), *cache,
                               name, paged))) ||
        failed(verifySameSize(o, "head count", name, 1, cache->getDimSize(1),
                              "num_kv_heads", numKvHeads)) ||
        failed(verifySameSize(o, "head dim", name, 3, cache->getDimSize(3),
                              latent ? "r+Dr" : "wo", headDim)) ||
        failed(verifyStaticDim(o, *cache, name, 1, "head count")) ||
        failed(verifyStaticDim(o, *cache, name, 3, "head dim")) ||
        (!paged &&
         failed(verifySameSize(o, "batch size", name, 0, cache->getDimSize(0),
                               "input", sequences))))
      return failure();
    if (!result || result.getType() != value.getType())
      return op.emitOpError()
             << "the updated '" << name << "' must be a result of its type "
             << value.getType();
  }
  FailureOr<RankedTensorType> lens =
      verifyServingTensor(o, op.getKvLens(), "kv_lens", 1, "[S]");
  FailureOr<RankedTensorType> table = verifyServingTensor(
      o, op.getBlockTable(), "block_table", 2, "[S, max_pages]");
  if (failed(lens) || failed(table) ||
      failed(verifySameSize(o, "size", "kv_lens", 0, lens->getDimSize(0),
                            "input", sequences)) ||
      (*table &&
       failed(verifySameSize(o, "size", "block_table", 0,
                             (*table).getDimSize(0), "input", sequences))))
    return failure();
  return success();
}

/// Sequences of different lengths (docs/language.md 5.9): `cu_seqlens_q`
/// i32 [S + 1] over the rows of a batch of one, or `q_lens` i32 [S] over
/// padded rows, not both (with or without a cache), and none of what the
/// attention refuses with them.
static LogicalResult verifyLayerLengths(MultiHeadOp op, RankedTensorType x) {
  Operation *o = op.getOperation();
  Value cu = op.getCuSeqlensQ(), qLens = op.getQLens();
  FailureOr<RankedTensorType> cuType =
      verifyServingTensor(o, cu, "cu_seqlens_q", 1, "[S + 1]");
  FailureOr<RankedTensorType> qLensType =
      verifyServingTensor(o, qLens, "q_lens", 1, "[S]");
  if (failed(cuType) || failed(qLensType))
    return failure();
  if (cu && qLens)
    return op.emitOpError() << "'q_lens' and 'cu_seqlens_q' both give the "
                               "rows of each sequence: use one";
  if (qLens)
    return verifySameSize(o, "size", "q_lens", 0, (*qLensType).getDimSize(0),
                          "input", x.getDimSize(0));
  if (!cu)
    return success();
  if (x.getDimSize(0) != 1)
    return op.emitOpError() << "'input' batch size (dim 0) must be 1 with "
                               "'cu_seqlens_q' (the sequences are packed "
                               "rows), got "
                            << Type(x);
  if (op.getReturnProbs())
    return op.emitOpError() << "'return_probs' is not supported with packed "
                               "sequences (cu_seqlens_q)";
  return success();
}

LogicalResult MultiHeadOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyNoUnknownAttributes(op)))
    return failure();
  FailureOr<RankedTensorType> x =
      verifyTensor(op, getInput(), "input", 3, "[B, L, d]");
  if (failed(x))
    return failure();
  Type elt = x->getElementType();
  if (failed(verifyStaticDim(op, *x, "input", 2, "model width")))
    return failure();
  int64_t batch = x->getDimSize(0), seqLen = x->getDimSize(1);
  int64_t model = x->getDimSize(2);

  int64_t numHeads = getNumHeadsAttr().getInt();
  if (numHeads < 1)
    return emitOpError() << "'num_heads' must be >= 1, got " << numHeads;
  if (numHeads > kMaxSize)
    return emitOpError() << "'num_heads' must be <= " << kMaxSize << ", got "
                         << numHeads;
  int64_t numKvHeads = getKvHeadCount();
  if (numKvHeads < 1)
    return emitOpError() << "'num_kv_heads' must be >= 1, got " << numKvHeads;
  if (numKvHeads > kMaxSize)
    return emitOpError() << "'num_kv_heads' must be <= " << kMaxSize << ", got "
                         << numKvHeads;
  if (numHeads % numKvHeads != 0)
    return emitOpError() << "'num_heads' (" << numHeads
                         << ") must be a multiple of 'num_kv_heads' ("
                         << numKvHeads << ")";

  // Weights: rank 2, static, same element type as the input.
  SmallVector<RankedTensorType> weights;
  for (auto [value, name] : {std::make_pair(getWq(), StringRef("wq")),
                             std::make_pair(getWk(), StringRef("wk")),
                             std::make_pair(getWv(), StringRef("wv")),
                             std::make_pair(getWo(), StringRef("wo"))}) {
    FailureOr<RankedTensorType> w =
        verifyTensor(op, value, name, 2, "[rows, cols]");
    if (failed(w) || failed(verifySameElementType(op, *w, name, elt, "input")))
      return failure();
    if (!w->hasStaticShape())
      return emitOpError() << "'" << name << "' must have a static shape, got "
                           << Type(*w);
    weights.push_back(*w);
  }
  RankedTensorType wq = weights[0], wk = weights[1], wv = weights[2],
                   wo = weights[3];

  Sharing sharing = getSharingScheme();
  bool perHeadBias =
      sharing == Sharing::shared_head_bias || sharing == Sharing::grouped;
  int64_t qCols = wq.getDimSize(1);
  FailureOr<int64_t> headDim = verifyLayerHeadDim(op, sharing, wq, wo);
  if (failed(headDim))
    return failure();
  int64_t d = *headDim;
  auto expectWeight = [&](RankedTensorType w, StringRef name, int64_t rows,
                          int64_t cols, StringRef meaning) -> LogicalResult {
    if (w.getDimSize(0) == rows && w.getDimSize(1) == cols)
      return success();
    return emitOpError() << "'" << name << "' must be " << meaning << " = ["
                         << rows << ", " << cols << "], got " << Type(w);
  };
  if (sharing == Sharing::latent) {
    if (failed(verifyLatentWeights(*this, model, d)))
      return failure();
  } else if (sharing == Sharing::grouped) {
    // The group counts come from the columns; each must divide its heads.
    for (auto [w, name, heads, headsName] :
         {std::make_tuple(wq, "wq", numHeads, "num_heads"),
          std::make_tuple(wk, "wk", numKvHeads, "num_kv_heads"),
          std::make_tuple(wv, "wv", numKvHeads, "num_kv_heads")}) {
      int64_t cols = w.getDimSize(1);
      if (w.getDimSize(0) != model || cols % d != 0 || heads % (cols / d) != 0)
        return emitOpError()
               << "#mha.sharing<grouped> needs '" << name << "' = [d, G*D] = ["
               << model << ", G*" << d << "] with G dividing '" << headsName
               << "' (" << heads << "), got " << Type(w);
    }
    if (wk.getDimSize(1) != wv.getDimSize(1))
      return emitOpError() << "#mha.sharing<grouped> needs 'wk' and 'wv' "
                              "of the same groups, got "
                           << Type(wk) << " and " << Type(wv);
  } else {
    bool shared = sharing == Sharing::shared_head_bias;
    int64_t kvCols = shared ? d : numKvHeads * d;
    if (failed(expectWeight(wq, "wq", model, qCols,
                            shared ? "[d, D]" : "[d, Hq*D]")) ||
        failed(expectWeight(wk, "wk", model, kvCols,
                            shared ? "[d, D]" : "[d, Hkv*D]")) ||
        failed(expectWeight(wv, "wv", model, kvCols,
                            shared ? "[d, D]" : "[d, Hkv*D]")))
      return failure();
  }
  if (failed(expectWeight(wo, "wo", numHeads * d, model, "[Hq*D, d]")))
    return failure();

  // Biases: present iff announced, in the order bq, bk, bv, bo.
  if (perHeadBias && !getHasQkvBias())
    return emitOpError() << "#mha.sharing<" << stringifySharing(sharing)
                         << "> requires per-head "
                         << "biases: set 'has_qkv_bias' and pass bq, bk, bv";
  unsigned expectedBiases =
      (getHasQkvBias() ? 3u : 0u) + (getHasOutBias() ? 1u : 0u);
  if (getBiases().size() != expectedBiases)
    return emitOpError() << "expects " << expectedBiases
                         << " bias operand(s) after 'wo' (bq, bk, bv when "
                         << "'has_qkv_bias', bo when 'has_out_bias'), got "
                         << getBiases().size();
  auto expectBias = [&](Value bias, StringRef name, ArrayRef<int64_t> shape,
                        StringRef meaning) -> LogicalResult {
    if (!bias)
      return success();
    auto type = dyn_cast<RankedTensorType>(bias.getType());
    auto expectedType = RankedTensorType::get(shape, elt);
    if (type && type == expectedType)
      return success();
    return emitOpError() << "'" << name << "' must be " << meaning << " = "
                         << expectedType << ", got " << bias.getType();
  };
  auto headBias = [&](int64_t heads) {
    return perHeadBias ? SmallVector<int64_t>{heads, d}
                       : SmallVector<int64_t>{heads * d};
  };
  if (failed(expectBias(getBq(), "bq", headBias(numHeads),
                        perHeadBias ? "[Hq, D]" : "[Hq*D]")) ||
      failed(expectBias(getBk(), "bk", headBias(numKvHeads),
                        perHeadBias ? "[Hkv, D]" : "[Hkv*D]")) ||
      failed(expectBias(getBv(), "bv", headBias(numKvHeads),
                        perHeadBias ? "[Hkv, D]" : "[Hkv*D]")) ||
      failed(expectBias(getBo(), "bo", {model}, "[d]")))
    return failure();

  if (FloatAttr eps = getRmsNormEpsAttr()) {
    if (sharing != Sharing::latent)
      return emitOpError() << "'rms_norm_eps' normalises a latent: it needs "
                              "#mha.sharing<latent>";
    double e = eps.getValueAsDouble();
    if (!std::isfinite(e) || !(e > 0.0))
      return emitOpError() << "'rms_norm_eps' must be finite and > 0, got "
                           << e;
  }
  if (FloatAttr theta = getRopeThetaAttr()) {
    double t = theta.getValueAsDouble();
    if (!std::isfinite(t) || !(t > 0.0))
      return emitOpError() << "'rope_theta' must be finite and > 0, got " << t;
    if (d % 2 != 0 && sharing != Sharing::latent)
      return emitOpError() << "'rope_theta' needs an even head dim, got D = "
                           << d;
  }

  if (failed(verifyResultType(op, getOutput(), "output", {batch, seqLen, model},
                              elt, "[B, L, d]")))
    return failure();
  if (failed(verifyVariantAttributes(*this, numHeads)) ||
      failed(verifyLayerCache(*this, *x, numKvHeads, d)) ||
      failed(verifyLayerLengths(*this, *x)))
    return failure();
  return verifyExtraResults(*this, batch, numHeads, seqLen, seqLen);
}

/// The query and scratch operands hold f32 for FMA micro-kernels and bf16
/// pairs for `bf16_pairs` ones, with the scratch shapes of the description.
LogicalResult OnlineSoftmaxStepOp::verify() {
  if (!getDropout().empty() && getDropout().size() != 7)
    return emitOpError() << "'dropout' takes 7 words (seed_lo, seed_hi, "
                         << "stream, offset, first_row, threshold, "
                         << "key_start), got " << getDropout().size();
  MicroKernelAttr mk = getMicroKernel();
  MemRefType query = getQuery().getType(), key = getKey().getType();
  MemRefType value = getValue().getType();
  if (std::optional<int64_t> maxRows = getMaxRows();
      maxRows && !query.isDynamicDim(0) && query.getDimSize(0) > *maxRows)
    return emitOpError() << "'max_rows' must be at least the query rows ("
                         << query.getDimSize(0) << "), got " << *maxRows;
  bool quantized = key.getElementType().isSignlessInteger(8) ||
                   value.getElementType().isSignlessInteger(8);
  if (quantized != bool(getKeyScale()) || !getKeyScale() != !getValueScale() ||
      (quantized && (!key.getElementType().isSignlessInteger(8) ||
                     !value.getElementType().isSignlessInteger(8))))
    return emitOpError() << "i8 key and value tiles go with "
                         << "'dequantize(key_scale, value_scale)', and only "
                         << "they, got " << key << " and " << value;
  if (quantized && mk.getDot() != DotProduct::fma)
    return emitOpError() << "i8 key and value tiles need fma micro-kernels";
  MemRefType keyScratch = getKeyScratch().getType();
  MemRefType valueScratch = getValueScratch().getType();
  int64_t cols = getScoreScratch().getType().getDimSize(1);
  if (mk.getDot() == DotProduct::fma) {
    for (auto [type, name] : {std::pair{query, "query"},
                              {keyScratch, "key_scratch"},
                              {valueScratch, "value_scratch"}})
      if (!type.getElementType().isF32())
        return emitOpError()
               << "'" << name << "' must be f32 with fma micro-kernels, got "
               << type;
    return success();
  }
  for (auto [type, name] : {std::pair{query, "query"},
                            {key, "key"},
                            {value, "value"},
                            {keyScratch, "key_scratch"},
                            {valueScratch, "value_scratch"}})
    if (!type.getElementType().isBF16())
      return emitOpError() << "'" << name
                           << "' must be bf16 with bf16_pairs micro-kernels, "
                              "got "
                           << type;
  int64_t headDim = query.getDimSize(1);
  if (mk.getVectorWidth() != 16 || ShapedType::isDynamic(headDim) ||
      headDim % 2 != 0)
    return emitOpError() << "bf16_pairs micro-kernels need 16 lanes and an "
                            "even static head dim, got "
                         << mk.getVectorWidth() << " lanes and D = " << headDim;
  if (keyScratch.getDimSize(0) != headDim / 2 ||
      keyScratch.getDimSize(1) != 2 * cols ||
      valueScratch.getDimSize(0) != cols / 2 || cols % 2 != 0)
    return emitOpError() << "bf16_pairs scratch must be key [D/2, 2C] = ["
                         << headDim / 2 << ", " << 2 * cols
                         << "] and value [C/2, 2 Dvp] with C = " << cols
                         << ", got " << keyScratch << " and " << valueScratch;
  return success();
}
