//===- CHeader.cpp - The C header of a generated library --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "mha/Codegen/EntryPoint.h"
#include "mha/Dialect/Mha/IR/MhaOps.h"
#include "mha/Target/CpuLibrary.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::mha;

/// The names of every dimension a tensor of `role` may have.
static ArrayRef<StringRef> getAllDimNames(TensorRole role,
                                          ServingLayout layout) {
  static const StringRef keyPages[] = {"pages", "Hkv", "page_size", "D"};
  static const StringRef valuePages[] = {"pages", "Hkv", "page_size", "Dv"};
  static const StringRef sequences[] = {"S"};
  static const StringRef offsets[] = {"S+1"};
  static const StringRef table[] = {"S", "max_pages"};
  static const StringRef keyNew[] = {"S", "Hkv", "Lnew", "D"};
  static const StringRef valueNew[] = {"S", "Hkv", "Lnew", "Dv"};
  bool keys = role == TensorRole::key || role == TensorRole::key_cache;
  bool values = role == TensorRole::value || role == TensorRole::value_cache;
  if (layout.paged && keys)
    return keyPages;
  if (layout.paged && values)
    return valuePages;
  if (role == TensorRole::key_new)
    return keyNew;
  if (role == TensorRole::value_new)
    return valueNew;
  static const StringRef query[] = {"B", "Hq", "Lq", "D"};
  static const StringRef key[] = {"B", "Hkv", "Lk", "D"};
  static const StringRef value[] = {"B", "Hkv", "Lk", "Dv"};
  static const StringRef output[] = {"B", "Hq", "Lq", "Dv"};
  static const StringRef rows[] = {"B", "Hq", "Lq"};
  static const StringRef layerRows[] = {"B", "Hq", "L"};
  static const StringRef probs[] = {"B", "Hq", "Lq", "Lk"};
  static const StringRef layerProbs[] = {"B", "Hq", "L", "L"};
  static const StringRef layer[] = {"B", "L", "d"};
  static const StringRef weights[] = {"?", "?"};
  static const StringRef scales[] = {"pages", "Hkv"};
  static const StringRef teacherQuery[] = {"B", "Hq", "Lq", "D_t"};
  static const StringRef teacherKey[] = {"B", "Hkv_t", "Lk", "D_t"};
  static const StringRef studentQuery[] = {"B", "Hq", "Lq", "D_s"};
  static const StringRef studentKey[] = {"B", "Hkv_s", "Lk", "D_s"};
  switch (role) {
  case TensorRole::query:
  case TensorRole::grad_query:
    return query;
  case TensorRole::key:
  case TensorRole::grad_key:
  case TensorRole::key_cache:
    return key;
  case TensorRole::value:
  case TensorRole::grad_value:
  case TensorRole::value_cache:
    return value;
  case TensorRole::output:
  case TensorRole::saved_output:
  case TensorRole::grad_output:
  case TensorRole::partial_output_a:
  case TensorRole::partial_output_b:
    return output;
  case TensorRole::lse:
  case TensorRole::saved_lse:
  case TensorRole::entropy:
  case TensorRole::grad_entropy:
  case TensorRole::partial_lse_a:
  case TensorRole::partial_lse_b:
  case TensorRole::kl:
  case TensorRole::teacher_lse:
  case TensorRole::student_lse:
  case TensorRole::saved_teacher_lse:
  case TensorRole::saved_student_lse:
  case TensorRole::grad_kl:
    return layout.layer ? layerRows : rows;
  case TensorRole::teacher_query:
    return teacherQuery;
  case TensorRole::teacher_key:
    return teacherKey;
  case TensorRole::student_query:
  case TensorRole::grad_student_query:
    return studentQuery;
  case TensorRole::student_key:
  case TensorRole::grad_student_key:
    return studentKey;
  case TensorRole::probs:
    return layout.layer ? layerProbs : probs;
  case TensorRole::kv_lens:
  case TensorRole::q_lens:
    return sequences;
  case TensorRole::block_table:
    return table;
  case TensorRole::cu_seqlens_q:
  case TensorRole::cu_seqlens_k:
    return offsets;
  case TensorRole::layer_input:
  case TensorRole::layer_output:
  case TensorRole::grad_layer_input:
  case TensorRole::grad_layer_output:
    return layer;
  case TensorRole::key_scale:
  case TensorRole::value_scale:
    return scales;
  default:
    return weights;
  }
  llvm_unreachable("unknown tensor role");
}

ArrayRef<StringRef> mlir::mha::getDimNames(TensorRole role,
                                           ServingLayout layout, int64_t rank) {
  ArrayRef<StringRef> names = getAllDimNames(role, layout);
  if (rank >= 0 && rank < static_cast<int64_t>(names.size()))
    return names.take_back(rank);
  return names;
}

static std::string describeType(MemRefType type, TensorRole role,
                                ServingLayout layout) {
  std::string text;
  llvm::raw_string_ostream os(text);
  ArrayRef<StringRef> names = getDimNames(role, layout, type.getRank());
  os << "[";
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (d)
      os << ", ";
    if (type.isDynamicDim(d))
      os << names[d];
    else
      os << type.getDimSize(d);
  }
  os << "] " << type.getElementType();
  return text;
}

/// The comment and the C declaration of exported function `entry`.
static void writeDeclaration(EntryPointAttr entry, llvm::raw_ostream &os) {
  bool layer = !entry.getRoles().empty() &&
               cast<TensorRoleAttr>(entry.getRoles()[0]).getValue() ==
                   TensorRole::layer_input;
  ServingLayout layout = ServingLayout::get(entry.getRoles());
  os << "/* " << entry.getName()
     << (!layer                 ? ": logical [B, H, L, D] tensors; "
         : layout.packedQueries ? ": a layer over packed sequences, x and "
                                  "y [1, T, d]; "
                                : ": a layer, x and y [B, L, d]; ")
     << "any strides with a contiguous last dim.\n";
  for (auto [roleAttr, typeAttr] :
       llvm::zip(entry.getRoles(), entry.getTypes())) {
    TensorRole role = cast<TensorRoleAttr>(roleAttr).getValue();
    auto type = cast<MemRefType>(cast<TypeAttr>(typeAttr).getValue());
    os << " *   " << getParameterName(role) << ": "
       << describeType(type, role, layout) << " (" << stringifyTensorRole(role)
       << ")\n";
  }
  os << " */\nmha_status " << entry.getName() << "(";
  for (auto [i, roleAttr] : llvm::enumerate(entry.getRoles())) {
    TensorRole role = cast<TensorRoleAttr>(roleAttr).getValue();
    bool input = isInputRole(role);
    os << (input ? "const DLTensor *" : "DLTensor *") << getParameterName(role)
       << ", ";
  }
  os << "const mha_options *opts);\n\n";
}

LogicalResult mlir::mha::writeCHeader(ModuleOp module, StringRef guardName,
                                      StringRef sourceName,
                                      llvm::raw_ostream &os) {
  os << "/* Generated by mha-compile from " << sourceName
     << ". Do not edit. */\n"
     << "#ifndef " << guardName << "\n#define " << guardName << "\n\n"
     << "#include \"mha/runtime.h\"\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
    if (func.getSymName().starts_with("_mlir_ciface_"))
      continue;
    auto entry = func->getAttrOfType<EntryPointAttr>("mha.entry_point");
    if (!entry)
      continue;
    writeDeclaration(entry, os);
    std::optional<ForwardTrainEntry> train = getForwardTrainEntry(entry);
    if (!train)
      continue;
    writeDeclaration(train->entry, os);
    os << "/* The bytes of the saved activations of " << train->entry.getName()
       << " and " << entry.getName()
       << "\n * (mha_options.saved_activations) for x [B, L, d]; -1 for "
          "negative sizes. */\n"
       << "int64_t " << train->savedBytesName << "(int64_t B, int64_t L);\n\n";
  }
  os << "#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n#endif /* "
     << guardName << " */\n";
  return success();
}

StringRef mlir::mha::getRuntimeHeaderText() {
  static const char text[] =
#include "RuntimeHeader.inc"
      ;
  return StringRef(text, sizeof(text) - 1);
}
