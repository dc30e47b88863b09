//===- mha-analyze.cpp - Head analysis of attention specs -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
//   mha-analyze SPEC.mlir [--function NAME] [--batch B] [--seq-len L]
//               [--inputs DIR] [--seed N] -o OUT
//
// README.md, "Head analysis". For each selected public function (one
// mha.attention each): rewrites it to return (o, probs, entropy) — the
// attention gets return_probs and return_entropy —, compiles the rewritten
// spec with the mha-compile beside this tool (--isa=native), loads the
// library, and calls it on the inputs: DIR/q.npy, k.npy, v.npy (named after
// the C parameters), or seeded random normal inputs with dynamic B and L
// from --batch and --seq-len. Then it calls it once more per head with that
// head ablated through mha_options.head_mask, and writes into OUT (or
// OUT/<function>/ when several functions are analysed, with OUT/report.html
// linking them): heatmaps.png, head_<h>.png, metrics.json and report.html.
// An mha.multi_head function (a layer) gets return_probs and return_entropy
// on the layer, reads x.npy, wq.npy, ..., bo.npy, and its importance is the
// change of the layer output y. Each head also gets the gradient importance
// of GradImportance.h from DIR/dout.npy (a layer: dy.npy) or a proxy loss.
//
//===----------------------------------------------------------------------===//

#include "GradImportance.h"
#include "Heatmaps.h"
#include "Prune.h"
#include "Report.h"

#include "mha/Analysis/HeadMetrics.h"
#include "mha/Analysis/HostTensor.h"
#include "mha/Analysis/Npy.h"
#include "mha/Analysis/SpecProblem.h"
#include "mha/Dialect/Mha/IR/AttentionVariant.h"
#include "mha/Dialect/Mha/IR/MhaDialect.h"
#include "mha/InitAllDialects.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <dlfcn.h>
#include <random>

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::analysis;
namespace cl = llvm::cl;

static cl::OptionCategory category("mha-analyze options");
static cl::opt<std::string> specFile(cl::Positional, cl::desc("<spec.mlir>"),
                                     cl::Required, cl::cat(category));
static cl::opt<std::string> outputDir("o", cl::desc("Output folder"),
                                      cl::value_desc("dir"), cl::Required,
                                      cl::cat(category));
static cl::list<std::string>
    functions("function",
              cl::desc("Analyse only this function (repeatable; default: "
                       "every public function)"),
              cl::cat(category));
static cl::opt<int64_t> batch("batch",
                              cl::desc("B where dynamic (random inputs)"),
                              cl::init(1), cl::cat(category));
static cl::opt<int64_t>
    seqLen("seq-len", cl::desc("Lq and Lk where dynamic (random inputs)"),
           cl::init(128), cl::cat(category));
static cl::opt<std::string>
    inputsDir("inputs",
              cl::desc("Folder of .npy inputs named after the C parameters "
                       "(q.npy, k.npy, v.npy); f32 specs take <f4 arrays, "
                       "f16 specs <f2, bf16 specs <f4 (rounded)"),
              cl::value_desc("dir"), cl::cat(category));
static cl::opt<unsigned> seed("seed", cl::desc("Seed of the random inputs"),
                              cl::init(1), cl::cat(category));
static cl::opt<int> threads("num-threads",
                            cl::desc("mha_options.num_threads (0: all cores)"),
                            cl::init(0), cl::cat(category));
static cl::opt<std::string>
    compiler("mha-compile",
             cl::desc("The mha-compile to use (default: beside this tool)"),
             cl::cat(category));

static cl::opt<std::string> pruneHeads(
    "prune",
    cl::desc("Also plan pruning: N (or a fraction in (0, 1)) of each "
             "function's alive heads, the least important; writes "
             "pruned.mlir and reports the output change and the speed-up"),
    cl::value_desc("N"), cl::cat(category));
static cl::opt<std::string>
    pruneBy("prune-by",
            cl::desc("The measure --prune ranks heads by: importance "
                     "(default) or grad-importance"),
            cl::init("importance"), cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "mha-analyze: error: " << message << "\n";
  return 1;
}

namespace {

/// A public function of the spec: analysable (`attention` set) or skipped.
struct SpecFunction {
  std::string name;
  func::FuncOp func;
  AttentionOp attention;
  MultiHeadOp layer; // Set instead of `attention` for a layer.
  std::string skipReason;
};

/// Classifies the public functions of `module`.
std::vector<SpecFunction> getSpecFunctions(ModuleOp module) {
  std::vector<SpecFunction> result;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isDeclaration())
      continue;
    SpecFunction f{func.getSymName().str(), func, nullptr, nullptr, ""};
    SmallVector<AttentionOp> attentions;
    SmallVector<MultiHeadOp> layers;
    func.walk([&](Operation *op) {
      if (auto a = dyn_cast<AttentionOp>(op))
        attentions.push_back(a);
      if (auto m = dyn_cast<MultiHeadOp>(op))
        layers.push_back(m);
    });
    if (!layers.empty() && (layers.size() > 1 || !attentions.empty()))
      f.skipReason = "computes more than one mha op (mha-analyze needs "
                     "exactly one mha.attention or mha.multi_head)";
    else if (!layers.empty() && layers.front().getKeyCache())
      f.skipReason = "is a decoding step over a KV cache, which mha-analyze "
                     "does not support (analyse the prefill layer)";
    else if (!layers.empty() && layers.front().getCuSeqlensQ())
      f.skipReason = "runs over packed sequences (cu_seqlens_q), which "
                     "mha-analyze does not support (analyse the layer on "
                     "one sequence)";
    else if (!layers.empty())
      f.layer = layers.front();
    else if (attentions.size() == 1 && attentions.front().hasServingOperands())
      f.skipReason = "has serving operands (kv_lens, q_lens, block_table, "
                     "cu_seqlens), which mha-analyze does not support";
    else if (attentions.size() == 1 && attentions.front().getKeyScale())
      f.skipReason = "reads a quantized cache (kv_scales), which "
                     "mha-analyze does not support";
    else if (attentions.size() != 1)
      f.skipReason = "has " + std::to_string(attentions.size()) +
                     " mha.attention ops (mha-analyze needs exactly one)";
    else
      f.attention = attentions.front();
    result.push_back(f);
  }
  return result;
}

/// Rewrites `func` to return (o, probs, entropy) of its attention, which
/// gets return_probs and return_entropy (and keeps return_lse if it has it).
void addAnalysisResults(func::FuncOp func, AttentionOp op) {
  // The analysis calls the forward only (its gradient importance is its
  // own): a backward would refuse the changed results.
  func->removeAttr(MhaDialect::kBackwardAttrName);
  OpBuilder b(op);
  auto q = cast<RankedTensorType>(op.getQuery().getType());
  auto k = cast<RankedTensorType>(op.getKey().getType());
  Type f32 = b.getF32Type();
  auto probsType = RankedTensorType::get(
      {q.getDimSize(0), q.getDimSize(1), q.getDimSize(2), k.getDimSize(2)},
      f32);
  auto entropyType = RankedTensorType::get(
      {q.getDimSize(0), q.getDimSize(1), q.getDimSize(2)}, f32);
  SmallVector<Type> types{op.getOutput().getType()};
  if (op.getReturnLse())
    types.push_back(op.getLse().getType());
  types.append({probsType, entropyType});
  NamedAttrList attrs(op->getAttrDictionary());
  attrs.set(op.getReturnProbsAttrName(), b.getUnitAttr());
  attrs.set(op.getReturnEntropyAttrName(), b.getUnitAttr());
  auto analysed = AttentionOp::create(b, op.getLoc(), types, op->getOperands(),
                                      attrs.getAttrs());
  op.getOutput().replaceAllUsesWith(analysed.getOutput());
  if (op.getLse())
    op.getLse().replaceAllUsesWith(analysed.getLse());
  if (op.getProbs())
    op.getProbs().replaceAllUsesWith(analysed.getProbs());
  if (op.getEntropy())
    op.getEntropy().replaceAllUsesWith(analysed.getEntropy());
  op.erase();

  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  b.setInsertionPoint(ret);
  SmallVector<Value> results{analysed.getOutput(), analysed.getProbs(),
                             analysed.getEntropy()};
  func::ReturnOp::create(b, ret.getLoc(), results);
  ret.erase();
  func.setType(b.getFunctionType(func.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
}

/// The same for a layer: (y, probs, entropy) of its heads.
void addLayerAnalysisResults(func::FuncOp func, MultiHeadOp op) {
  // The analysis calls the forward only: a backward would refuse the
  // extra results.
  func->removeAttr(MhaDialect::kBackwardAttrName);
  OpBuilder b(op);
  auto x = cast<RankedTensorType>(op.getInput().getType());
  int64_t hq = op.getNumHeads();
  Type f32 = b.getF32Type();
  auto probsType = RankedTensorType::get(
      {x.getDimSize(0), hq, x.getDimSize(1), x.getDimSize(1)}, f32);
  auto entropyType =
      RankedTensorType::get({x.getDimSize(0), hq, x.getDimSize(1)}, f32);
  SmallVector<Type> types{op.getOutput().getType()};
  if (op.getReturnLse())
    types.push_back(op.getLse().getType());
  types.append({probsType, entropyType});
  NamedAttrList attrs(op->getAttrDictionary());
  attrs.set(op.getReturnProbsAttrName(), b.getUnitAttr());
  attrs.set(op.getReturnEntropyAttrName(), b.getUnitAttr());
  // The output, then every extra result; no updated caches.
  attrs.set("resultSegmentSizes",
            b.getDenseI32ArrayAttr({1, int32_t(types.size()) - 1, 0, 0}));
  auto analysed = MultiHeadOp::create(b, op.getLoc(), types, op->getOperands(),
                                      attrs.getAttrs());
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  b.setInsertionPoint(ret);
  SmallVector<Value> results{analysed.getOutput(), analysed.getProbs(),
                             analysed.getEntropy()};
  func::ReturnOp::create(b, ret.getLoc(), results);
  ret.erase();
  op->dropAllUses();
  op.erase();
  func.setType(b.getFunctionType(func.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
}

/// The inputs of one call, in C parameter order.
struct Inputs {
  std::vector<HostTensor> tensors;
  AttentionShapes shapes;
  std::string description;
};

/// Checks a .npy array against the spec's type of argument `name`.
std::optional<std::string> checkNpy(const NpyArray &array,
                                    const std::string &path,
                                    RankedTensorType type, ElementKind kind) {
  std::string expectedDescr = kind == ElementKind::f16  ? "<f2"
                              : kind == ElementKind::i8 ? "|i1"
                                                        : "<f4";
  std::string typeText;
  llvm::raw_string_ostream(typeText) << type;
  if (array.descr != expectedDescr)
    return llvm::formatv("'{0}': dtype '{1}' does not match the spec's {2} "
                         "(expected '{3}'{4})",
                         path, array.descr, typeText, expectedDescr,
                         kind == ElementKind::bf16
                             ? ": bf16 inputs are read as f32 and rounded"
                             : "")
        .str();
  bool ok = array.shape.size() == static_cast<size_t>(type.getRank());
  for (int64_t d = 0; ok && d < type.getRank(); ++d)
    ok = type.isDynamicDim(d) ? array.shape[d] > 0
                              : array.shape[d] == type.getDimSize(d);
  if (!ok)
    return llvm::formatv("'{0}': shape {1} does not match the spec's {2} "
                         "(static sizes must be equal, dynamic ones > 0)",
                         path, formatNpyShape(array.shape), typeText)
        .str();
  return std::nullopt;
}

/// Reads DIR/<name>.npy for each argument, or makes seeded random ones.
/// Reads `<--inputs>/<name>.npy`, the input for argument `arg` of `func`,
/// into `array` (its path in `path`).
std::optional<std::string> readInput(func::FuncOp func, BlockArgument arg,
                                     StringRef name, SmallString<256> &path,
                                     NpyArray &array) {
  path = inputsDir;
  llvm::sys::path::append(path, name + ".npy");
  if (!llvm::sys::fs::exists(path))
    return llvm::formatv("missing input '{0}' for argument {1} ({2}) of "
                         "'{3}'",
                         path, arg.getArgNumber(), name, func.getSymName())
        .str();
  std::string error;
  if (!readNpy(std::string(path), array, error))
    return error;
  return std::nullopt;
}

/// Reads `<--inputs>/<name>.npy` into `t` as argument `arg` of `func`
/// (elements of `kind`; bf16 arrays come as f32 and are rounded), checking
/// its dtype and shape against the spec.
std::optional<std::string> readArgument(func::FuncOp func, BlockArgument arg,
                                        StringRef name, ElementKind kind,
                                        HostTensor &t) {
  SmallString<256> path;
  NpyArray array;
  if (auto message = readInput(func, arg, name, path, array))
    return message;
  auto type = cast<RankedTensorType>(arg.getType());
  if (auto message = checkNpy(array, std::string(path), type, kind))
    return message;
  t = HostTensor(kind, array.shape);
  if (kind != ElementKind::bf16) {
    t.bytes = array.data;
    return std::nullopt;
  }
  std::vector<double> values(t.numElements());
  const float *f = reinterpret_cast<const float *>(array.data.data());
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = f[i];
  t.store(values);
  return std::nullopt;
}

std::optional<std::string> makeInputs(func::FuncOp func, AttentionOp op,
                                      ElementKind kind, Inputs &inputs) {
  if (inputsDir.empty()) {
    inputs.shapes = getConcreteShapes(op, batch, seqLen);
    inputs.description =
        llvm::formatv("random normal, seed {0}", seed.getValue()).str();
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (BlockArgument arg : func.getArguments()) {
      std::vector<int64_t> shape = arg == op.getQuery() ? inputs.shapes.query
                                   : arg == op.getKey() ? inputs.shapes.key
                                                        : inputs.shapes.value;
      HostTensor t(kind, shape);
      std::vector<double> values(t.numElements());
      for (double &x : values)
        x = normal(rng);
      t.store(values);
      inputs.tensors.push_back(std::move(t));
    }
    return std::nullopt;
  }
  inputs.description = "files in " + inputsDir;
  for (BlockArgument arg : func.getArguments()) {
    HostTensor t;
    if (auto message =
            readArgument(func, arg, getArgumentName(op, arg), kind, t))
      return message;
    if (arg == op.getQuery())
      inputs.shapes.query = t.shape;
    if (arg == op.getKey())
      inputs.shapes.key = t.shape;
    if (arg == op.getValue())
      inputs.shapes.value = t.shape;
    inputs.tensors.push_back(std::move(t));
  }
  return std::nullopt;
}

/// Reads DIR/<name>.npy for each argument of a layer (x, wq, ..., bo,
/// wq_scale, ...), or draws seeded random ones (drawLayerArguments); sets
/// the layer's B and L.
std::optional<std::string> makeLayerInputs(func::FuncOp func, MultiHeadOp op,
                                           Inputs &inputs, int64_t &layerBatch,
                                           int64_t &layerLen) {
  std::mt19937 rng(seed);
  inputs.description =
      inputsDir.empty()
          ? llvm::formatv("random normal, seed {0}", seed.getValue()).str()
          : "files in " + inputsDir;
  if (inputsDir.empty()) {
    llvm::DenseMap<Value, std::vector<double>> values;
    inputs.tensors = drawLayerArguments(func, op, batch, seqLen, rng, values);
  } else {
    for (BlockArgument arg : func.getArguments()) {
      // Quantized values and their scales keep their own element types.
      ElementKind kind = *getElementKind(
          cast<RankedTensorType>(arg.getType()).getElementType());
      HostTensor t;
      if (auto message =
              readArgument(func, arg, getArgumentName(op, arg), kind, t))
        return message;
      inputs.tensors.push_back(std::move(t));
    }
  }
  const HostTensor &x =
      inputs.tensors[cast<BlockArgument>(op.getInput()).getArgNumber()];
  layerBatch = x.shape[0];
  layerLen = x.shape[1];
  return std::nullopt;
}

/// The exported functions of the compiled library.
struct Library {
  void *handle = nullptr;
  const char *(*lastError)() = nullptr;
  std::string lastErrorMessage() const {
    return lastError ? lastError() : "no details";
  }
};

std::string proxyFileName(bool layer) {
  return layer ? "proxy_dy.npy" : "proxy_dout.npy";
}

/// dL/dOut for the gradient importance: <--inputs>/dout.npy (a layer:
/// dy.npy) when it exists, else the proxy, also written to `dir`.
std::optional<std::string> getOutputGradient(const std::string &name,
                                             bool layer,
                                             const std::vector<int64_t> &shape,
                                             StringRef dir,
                                             OutputGradient &gradient) {
  SmallString<256> path(inputsDir);
  llvm::sys::path::append(path, layer ? "dy.npy" : "dout.npy");
  if (!inputsDir.empty() && llvm::sys::fs::exists(path)) {
    std::string what =
        layer ? "the output y [B, L, d] of layer '" + name + "'"
              : "the attention output o [B, Hq, Lq, Dv] of '" + name + "'";
    return readOutputGradient(std::string(path), shape, what, gradient);
  }
  gradient = makeProxyGradient(shape, seed, layer ? "y" : "o");
  SmallString<256> proxyPath(dir);
  llvm::sys::path::append(proxyPath, proxyFileName(layer));
  std::string error;
  if (!writeProxyGradient(std::string(proxyPath), shape, gradient, error))
    return error;
  return std::nullopt;
}

/// The ablation and gradient importance of every head; `ablate` returns
/// the output with the given head mask in its second argument.
std::optional<std::string> computeImportance(
    const std::vector<double> &output, const OutputGradient &gradient,
    int64_t batch,
    llvm::function_ref<std::optional<std::string>(const uint8_t *,
                                                  std::vector<double> &)>
        ablate,
    FunctionAnalysis &a) {
  size_t heads = a.heads.size();
  a.gradImportance.assign(heads, 0.0);
  for (size_t h = 0; h < heads; ++h) {
    std::vector<uint8_t> mask(heads, 1);
    mask[h] = 0;
    std::vector<double> without;
    if (auto error = ablate(mask.data(), without))
      return error;
    a.heads[h].importance = relativeChange(output, without);
    a.gradImportance[h] =
        computeGateImportance(gradient.values, output, without, batch);
  }
  a.gradImportanceNormalized = normalizeImportance(a.gradImportance);
  return std::nullopt;
}

/// Writes `spec` to DIR/STEM.mlir, compiles it with `compiler` (this
/// machine's ISA) into DIR/libSTEM.so and loads that into `handle`.
std::optional<std::string> compileAndLoad(ModuleOp spec, StringRef dir,
                                          const std::string &stem,
                                          const std::string &compiler,
                                          void *&handle) {
  SmallString<256> specPath(dir), libPath(dir);
  llvm::sys::path::append(specPath, stem + ".mlir");
  llvm::sys::path::append(libPath, "lib" + stem + ".so");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(specPath, ec);
    if (ec)
      return "cannot write '" + std::string(specPath) + "': " + ec.message();
    spec.print(os);
  }
  StringRef args[] = {compiler, specPath, "--isa=native", "-o", libPath};
  std::string execError;
  int rc = llvm::sys::ExecuteAndWait(compiler, args, std::nullopt, {}, 0, 0,
                                     &execError);
  if (rc != 0)
    return llvm::formatv("mha-compile failed (exit {0}) {1}", rc, execError)
        .str();
  handle = dlopen(libPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return std::string("cannot load the compiled library: ") + dlerror();
  return std::nullopt;
}

/// Where --prune compiles the functions it times.
struct PruneContext {
  std::string compiler;
  std::string tmpDir;
};

/// Compiles `f` returning its output alone, as it is and with `plan.heads`
/// pruned in its static head_mask, and times both on `inputs`.
std::optional<std::string> timePruning(const SpecFunction &f, Inputs &inputs,
                                       const HostTensor &output,
                                       const PruneContext &ctx,
                                       FunctionAnalysis::PrunePlan &plan) {
  func::FuncOp spec = f.func;
  OwningOpRef<ModuleOp> timing = ModuleOp::create(spec.getLoc());
  func::FuncOp original = spec.clone();
  keepOutputOnly(original);
  func::FuncOp pruned = spec.clone();
  pruned.setSymName(f.name + "__pruned");
  addPrunedHeads(pruned, plan.heads);
  keepOutputOnly(pruned);
  timing->push_back(original);
  timing->push_back(pruned);
  void *handle = nullptr;
  if (auto error = compileAndLoad(*timing, ctx.tmpDir, f.name + "_timing",
                                  ctx.compiler, handle))
    return "'" + f.name + "' with its pruned heads: " + *error;
  llvm::scope_exit close([&] { dlclose(handle); });
  HostTensor out(output.kind, output.shape);
  std::vector<DLTensor *> callArgs;
  for (HostTensor &t : inputs.tensors)
    callArgs.push_back(t.getDLTensor());
  callArgs.push_back(out.getDLTensor());
  plan.calls = 5;
  mha_options opts{};
  opts.num_threads = threads;
  for (auto [name, ms] : {std::pair(f.name, &plan.originalMs),
                          std::pair(f.name + "__pruned", &plan.prunedMs)}) {
    void *fn = dlsym(handle, name.c_str());
    std::vector<double> times;
    if (!fn || timeExported(fn, callArgs, &opts, /*warmups=*/1, plan.calls,
                            times) != MHA_OK)
      return "timing '" + name + "' failed";
    *ms = times[times.size() / 2];
  }
  return std::nullopt;
}

/// --prune: the least important alive heads, the output's change with
/// them ablated (`ablate` as in computeImportance) and the times.
std::optional<std::string> planPruning(
    const SpecFunction &f, Inputs &inputs, const HostTensor &output,
    llvm::function_ref<std::optional<std::string>(const uint8_t *,
                                                  std::vector<double> &)>
        ablate,
    const PruneContext &ctx, FunctionAnalysis &a) {
  int64_t alive = llvm::count(a.pruned, false), count = 0;
  if (auto error = getPruneCount(pruneHeads, alive, count))
    return "'" + f.name + "': " + *error;
  bool byGradient = pruneBy == "grad-importance";
  FunctionAnalysis::PrunePlan plan;
  plan.rankedBy = byGradient ? "grad_importance" : "importance";
  plan.heads = chooseHeadsToPrune(a, count, byGradient);
  std::vector<uint8_t> mask(a.heads.size());
  for (size_t h = 0; h < mask.size(); ++h)
    mask[h] = !a.pruned[h] && !llvm::is_contained(plan.heads, int64_t(h));
  std::vector<double> without;
  if (auto error = ablate(mask.data(), without))
    return error;
  plan.outputChange = relativeChange(output.load(), without);
  if (auto error = timePruning(f, inputs, output, ctx, plan))
    return error;
  a.prune = plan;
  return std::nullopt;
}

/// Analyses one function; writes its files into `dir`.
std::optional<std::string> analyse(const SpecFunction &f, const Library &lib,
                                   StringRef dir, const PruneContext &prune,
                                   FunctionAnalysis &a) {
  AttentionOp op = f.attention;
  MultiHeadOp layer = f.layer;
  const std::string &name = f.name;
  Value firstInput = layer ? layer.getInput() : op.getQuery();
  std::optional<ElementKind> kind = getElementKind(
      cast<RankedTensorType>(firstInput.getType()).getElementType());
  if (!kind)
    return "'" + name + "': unsupported element type";
  Inputs inputs;
  reference::AttentionProblem pr;
  // The output whose change measures importance: o, or a layer's y.
  std::vector<int64_t> outputShape;
  if (layer) {
    int64_t layerBatch = 0, layerLen = 0;
    if (auto error =
            makeLayerInputs(f.func, layer, inputs, layerBatch, layerLen))
      return error;
    reference::LayerProblem lp = getLayerProblem(layer, layerBatch, layerLen);
    pr = lp.attention;
    outputShape = {pr.batch, pr.queryLen, lp.modelDim};
  } else {
    if (auto error = makeInputs(f.func, op, *kind, inputs))
      return error;
    pr = getReferenceProblem(op, inputs.shapes);
    outputShape = {pr.batch, pr.queryHeads, pr.queryLen, pr.valueDim};
  }
  a.name = name;
  a.variant = layer ? "layer " + describeLayer(layer) : describeVariant(op);
  a.elementType = getElementKindName(*kind);
  a.inputs = inputs.description;
  a.batch = pr.batch;
  a.queryHeads = pr.queryHeads;
  a.kvHeads = pr.kvHeads;
  a.queryLen = pr.queryLen;
  a.keyLen = pr.keyLen;
  a.headDim = pr.headDim;
  a.valueDim = pr.valueDim;
  auto variant =
      layer
          ? AttentionVariant::get(layer, pr.queryHeads, pr.kvHeads, pr.headDim)
          : AttentionVariant::get(op, pr.queryHeads, pr.kvHeads, pr.headDim);
  for (int64_t h = 0; h < pr.queryHeads; ++h) {
    a.kvHead.push_back(variant.kvHead(h));
    a.windowLeft.push_back(variant.windowLeft(h));
    a.windowRight.push_back(variant.windowRight(h));
    a.pruned.push_back(!variant.isHeadAlive(h));
  }

  void *fn = dlsym(lib.handle, name.c_str());
  if (!fn)
    return "the compiled library has no '" + name + "'";
  PatternSizes sizes{pr.batch, pr.queryHeads, pr.queryLen, pr.keyLen};
  HostTensor o(*kind, outputShape);
  HostTensor probs(ElementKind::f32,
                   {pr.batch, pr.queryHeads, pr.queryLen, pr.keyLen});
  HostTensor entropy(ElementKind::f32, {pr.batch, pr.queryHeads, pr.queryLen});
  auto call = [&](HostTensor &out, HostTensor &p, HostTensor &e,
                  const uint8_t *headMask) -> std::optional<std::string> {
    std::vector<DLTensor *> args;
    for (HostTensor &t : inputs.tensors)
      args.push_back(t.getDLTensor());
    args.push_back(out.getDLTensor());
    args.push_back(p.getDLTensor());
    args.push_back(e.getDLTensor());
    mha_options opts{};
    opts.num_threads = threads;
    opts.head_mask = headMask;
    mha_status status = callExported(fn, args, &opts);
    if (status != MHA_OK)
      return "'" + name + "' failed on its inputs: " + lib.lastErrorMessage();
    return std::nullopt;
  };
  if (auto error = call(o, probs, entropy, nullptr))
    return error;
  a.heads = computePatternMetrics(sizes, probs.f32Data(), entropy.f32Data());

  // Importance: the output with each head ablated by the runtime mask. The
  // gradient importance reuses those runs: the output is linear in a gate on
  // head h, so dOut/dxi_h = Out - Out_without_h exactly (GradImportance.h).
  // That is the compiled kernel's own per-head contribution (element type,
  // RoPE, sharing and pruning as compiled) at no extra call; the float64
  // layer reference stays the tests' independent check.
  OutputGradient gradient;
  if (auto error = getOutputGradient(name, layer, outputShape, dir, gradient))
    return error;
  a.gradientSource = gradient.source;
  a.gradientOf = layer ? "y" : "o";
  if (gradient.proxy)
    a.gradientFile = proxyFileName(layer);
  HostTensor ablated(o.kind, o.shape), scratchProbs(probs.kind, probs.shape),
      scratchEntropy(entropy.kind, entropy.shape);
  auto ablate = [&](const uint8_t *mask, std::vector<double> &without) {
    auto error = call(ablated, scratchProbs, scratchEntropy, mask);
    without = ablated.load();
    return error;
  };
  if (auto error = computeImportance(o.load(), gradient, pr.batch, ablate, a))
    return error;
  if (!pruneHeads.empty())
    if (auto error = planPruning(f, inputs, o, ablate, prune, a))
      return error;

  // Pictures of batch element 0.
  std::vector<Heatmap> grid;
  a.scaleLow = getScaleLow(pr.keyLen);
  std::string error;
  for (int64_t h = 0; h < pr.queryHeads; ++h) {
    const float *head = probs.f32Data() + h * pr.queryLen * pr.keyLen;
    Heatmap map = downsample(head, pr.queryLen, pr.keyLen, 512, 256);
    a.headFactor = map.factor;
    std::string title = llvm::formatv("{0}: head {1}", name, h);
    if (a.kvHeads != a.queryHeads)
      title += llvm::formatv(" (kv {0})", a.kvHead[h]);
    if (a.windowLeft[h] >= 0)
      title += llvm::formatv(", window {0}", a.windowLeft[h]);
    if (a.pruned[h])
      title += ", pruned";
    SmallString<256> path(dir);
    llvm::sys::path::append(path, "head_" + std::to_string(h) + ".png");
    if (!writeHeadPng(std::string(path), map, title, a.scaleLow, error))
      return error;
    grid.push_back(downsample(head, pr.queryLen, pr.keyLen, 256, 160));
    a.gridFactor = grid.back().factor;
  }
  SmallString<256> path(dir);
  llvm::sys::path::append(path, "heatmaps.png");
  std::string title = name + ", batch 0";
  if (!writeGridPng(std::string(path), grid, title, a.scaleLow, error))
    return error;

  SmallString<256> json(dir), html(dir);
  llvm::sys::path::append(json, "metrics.json");
  llvm::sys::path::append(html, "report.html");
  if (llvm::Error e = writeMetricsJson(std::string(json), a))
    return llvm::toString(std::move(e));
  if (llvm::Error e = writeFunctionReport(std::string(html), a))
    return llvm::toString(std::move(e));
  return std::nullopt;
}

std::string findCompiler(const char *argv0) {
  if (!compiler.empty())
    return compiler;
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&findCompiler));
  SmallString<256> path(llvm::sys::path::parent_path(exe));
  llvm::sys::path::append(path, "mha-compile");
  return std::string(path);
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "mha-analyze: head analysis of attention "
                              "specs (heatmaps, entropy, importance, "
                              "similarity)\n");
  if (batch < 1 || seqLen < 1)
    return fail("--batch and --seq-len must be >= 1");
  if (!inputsDir.empty() && !llvm::sys::fs::is_directory(inputsDir))
    return fail("--inputs '" + inputsDir + "' is not a folder");

  DialectRegistry registry;
  mlir::mha::registerSpecDialects(registry);
  MLIRContext context(registry);
  std::string error;
  auto input = openInputFile(specFile, &error);
  if (!input)
    return fail(error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  // What to analyse: the named functions (each must be analysable), or
  // every analysable one.
  std::vector<SpecFunction> selected;
  std::vector<std::pair<std::string, std::string>> skipped;
  std::vector<SpecFunction> all = getSpecFunctions(*module);
  for (const std::string &name : functions)
    if (llvm::none_of(all,
                      [&](const SpecFunction &f) { return f.name == name; }))
      return fail("'" + specFile + "' has no public function '" + name + "'");
  for (const SpecFunction &f : all) {
    const std::string &name = f.name;
    if (!functions.empty() && !llvm::is_contained(functions, name))
      continue;
    if (!f.attention && !f.layer) {
      if (!functions.empty())
        return fail("cannot analyse '" + name + "': " + f.skipReason);
      llvm::outs() << "mha-analyze: skipping '" << name << "': " << f.skipReason
                   << "\n";
      skipped.push_back({name, f.skipReason});
      continue;
    }
    selected.push_back(f);
  }
  if (selected.empty())
    return fail("'" + specFile + "' has no function mha-analyze can analyse");

  // The spec to compile: the selected functions, returning what we need.
  OwningOpRef<ModuleOp> analysisModule = module->clone();
  SmallVector<func::FuncOp> erase;
  for (auto func : analysisModule->getOps<func::FuncOp>()) {
    if (!llvm::any_of(selected, [&](const SpecFunction &f) {
          return f.name == func.getSymName();
        })) {
      erase.push_back(func);
      continue;
    }
    MultiHeadOp layer;
    func.walk([&](MultiHeadOp m) { layer = m; });
    if (layer) {
      addLayerAnalysisResults(func, layer);
      continue;
    }
    AttentionOp op;
    func.walk([&](AttentionOp a) { op = a; });
    addAnalysisResults(func, op);
  }
  for (func::FuncOp func : erase)
    func.erase();
  if (failed(verify(*analysisModule)))
    return fail("the spec rewritten for analysis does not verify");

  SmallString<128> tmp;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory("mha-analyze", tmp))
    return fail("cannot create a temporary folder: " + ec.message());
  llvm::scope_exit removeTmp([&] { llvm::sys::fs::remove_directories(tmp); });
  std::string mhaCompile = findCompiler(argv[0]);
  if (!llvm::sys::fs::can_execute(mhaCompile))
    return fail("cannot find mha-compile at '" + mhaCompile +
                "' (pass --mha-compile)");
  Library lib;
  if (auto error = compileAndLoad(*analysisModule, tmp, "analysis", mhaCompile,
                                  lib.handle))
    return fail("the spec rewritten for analysis: " + *error);
  llvm::scope_exit closeLib([&] { dlclose(lib.handle); });
  lib.lastError =
      reinterpret_cast<const char *(*)()>(dlsym(lib.handle, "mha_last_error"));

  PruneContext prune{mhaCompile, std::string(tmp)};
  if (!pruneHeads.empty() && pruneBy != "importance" &&
      pruneBy != "grad-importance")
    return fail("--prune-by must be importance or grad-importance, got '" +
                pruneBy + "'");
  bool several = selected.size() > 1;
  std::vector<FunctionAnalysis> analyses;
  for (const SpecFunction &f : selected) {
    SmallString<256> dir(outputDir);
    if (several)
      llvm::sys::path::append(dir, f.name);
    if (std::error_code ec = llvm::sys::fs::create_directories(dir))
      return fail("cannot create '" + dir + "': " + ec.message());
    FunctionAnalysis a;
    if (auto message = analyse(f, lib, dir, prune, a))
      return fail(*message);
    llvm::outs() << llvm::formatv("{0,-28} {1,-30} {2,-5} B={3} H={4}/{5} "
                                  "L={6}/{7}: {8}\n",
                                  a.name, a.variant, a.elementType, a.batch,
                                  a.queryHeads, a.kvHeads, a.queryLen, a.keyLen,
                                  dir);
    if (a.prune)
      llvm::outs() << llvm::formatv(
          "  prune heads {0} (lowest {1}): output change {2:e2}, "
          "{3:f3} ms -> {4:f3} ms ({5:f2}x)\n",
          formatHeads(a.prune->heads), a.prune->rankedBy, a.prune->outputChange,
          a.prune->originalMs, a.prune->prunedMs,
          a.prune->originalMs / a.prune->prunedMs);
    analyses.push_back(std::move(a));
  }
  if (!pruneHeads.empty()) {
    // The user's spec with every analysed function's plan applied.
    OwningOpRef<ModuleOp> pruned = module->clone();
    for (const FunctionAnalysis &a : analyses)
      addPrunedHeads(pruned->lookupSymbol<func::FuncOp>(a.name),
                     a.prune->heads);
    SmallString<256> path(outputDir);
    llvm::sys::path::append(path, "pruned.mlir");
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    if (ec)
      return fail("cannot write '" + path + "': " + ec.message());
    pruned->print(os);
    llvm::outs() << "pruned spec: " << path << "\n";
  }
  if (several) {
    SmallString<256> index(outputDir);
    llvm::sys::path::append(index, "report.html");
    if (llvm::Error e = writeIndexReport(std::string(index), analyses, skipped))
      return fail(llvm::toString(std::move(e)));
  }
  return 0;
}
