//===- mha-analyze-check.cpp - Test helper of mha-analyze
//------------------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Checks what mha-analyze writes, independently of it:
//
//   mha-analyze-check inputs SPEC --function F --batch B --seq-len L
//                     --seed N -o DIR
//       writes DIR/q.npy, k.npy, v.npy: random normal inputs of F (f32 for
//       f32 and bf16 specs, f16 for f16 specs).
//   mha-analyze-check npy FILE --dtype f32|f16|f64 --shape 1,4,24,16
//                     [--fill X]
//       writes one random normal .npy file (for the error tests), or one
//       with every element X.
//   mha-analyze-check metrics SPEC --function F --inputs DIR --metrics JSON
//                     [--grad FILE]
//       recomputes every head's metrics with the float64 reference
//       (lib/Reference: probabilities, entropies, outputs with each head
//       pruned) straight from the definitions, and compares them with
//       mha-analyze's metrics.json. Prints one line per head; exits 1 on a
//       mismatch. With --grad (dL/do, or dL/dy for a layer), also the
//       gradient importance of Michel et al.: per batch element b the gate
//       derivative sum dout[b,h] * o[b,h] (a layer: sum (dy[b] Wo_h^T) *
//       o_h[b], with o_h head h's attention output inside the layer), its
//       absolute value averaged over b, and that divided by its L2 norm
//       over the heads; one more line per head.
//   mha-analyze-check png FILE WIDTH HEIGHT
//       decodes FILE with Cairo and checks its size.
//
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HostTensor.h"
#include "mha/Analysis/Npy.h"
#include "mha/Analysis/SpecProblem.h"
#include "mha/InitAllDialects.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cairo.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

using namespace mlir;
using namespace mlir::mha;
using namespace mlir::mha::analysis;
using namespace mlir::mha::reference;

namespace {

int usage(const std::string &message) {
  llvm::errs() << "mha-analyze-check: " << message << "\n";
  return 2;
}

/// --name value pairs after the positional arguments.
std::map<std::string, std::string> parseFlags(int argc, char **argv,
                                              int first) {
  std::map<std::string, std::string> flags;
  for (int i = first; i + 1 < argc; i += 2)
    flags[std::string(argv[i]).substr(std::string(argv[i])[1] == '-' ? 2 : 1)] =
        argv[i + 1];
  return flags;
}

std::vector<double> randomNormal(int64_t n, std::mt19937 &rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> values(n);
  for (double &x : values)
    x = normal(rng);
  return values;
}

bool writeArray(const std::string &path, const std::string &dtype,
                const std::vector<int64_t> &shape,
                const std::vector<double> &values) {
  std::string error;
  bool ok;
  if (dtype == "f16") {
    HostTensor t(ElementKind::f16, shape);
    t.store(values);
    ok = writeNpy(path, "<f2", shape, t.bytes.data(), t.bytes.size(), error);
  } else if (dtype == "f64") {
    ok = writeNpy(path, "<f8", shape, values.data(), values.size() * 8, error);
  } else {
    std::vector<float> f(values.begin(), values.end());
    ok = writeNpy(path, "<f4", shape, f.data(), f.size() * 4, error);
  }
  if (!ok)
    llvm::errs() << "mha-analyze-check: " << error << "\n";
  return ok;
}

struct Spec {
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  func::FuncOp func;
  AttentionOp op;
  MultiHeadOp layer; // Instead of `op` for a layer.
};

bool loadSpec(const std::string &path, const std::string &name, Spec &spec) {
  DialectRegistry registry;
  registerSpecDialects(registry);
  spec.context.appendDialectRegistry(registry);
  spec.module = parseSourceFile<ModuleOp>(path, &spec.context);
  if (!spec.module)
    return false;
  spec.func = spec.module->lookupSymbol<func::FuncOp>(name);
  if (!spec.func) {
    llvm::errs() << "mha-analyze-check: no function '" << name << "'\n";
    return false;
  }
  spec.func.walk([&](AttentionOp a) { spec.op = a; });
  spec.func.walk([&](MultiHeadOp m) { spec.layer = m; });
  return spec.op || spec.layer;
}

/// x, wq, ..., bo of a layer: normal, weights scaled by 1/sqrt(rows).
int writeLayerInputs(Spec &spec, std::map<std::string, std::string> &flags) {
  std::mt19937 rng(std::stoul(flags["seed"]));
  bool f16 = cast<RankedTensorType>(spec.layer.getInput().getType())
                 .getElementType()
                 .isF16();
  for (BlockArgument arg : spec.func.getArguments()) {
    std::vector<int64_t> shape = getConcreteLayerShape(
        arg, std::stoll(flags["batch"]), std::stoll(flags["seq-len"]));
    int64_t n = 1;
    for (int64_t s : shape)
      n *= s;
    std::string name = getArgumentName(spec.layer, arg);
    std::vector<double> values = randomNormal(n, rng);
    if (name.front() == 'w')
      for (double &v : values)
        v /= std::sqrt(double(shape[0]));
    if (!writeArray(flags["o"] + "/" + name + ".npy", f16 ? "f16" : "f32",
                    shape, values))
      return 1;
  }
  return 0;
}

int writeInputs(Spec &spec, std::map<std::string, std::string> &flags) {
  if (spec.layer)
    return writeLayerInputs(spec, flags);
  AttentionShapes shapes = getConcreteShapes(
      spec.op, std::stoll(flags["batch"]), std::stoll(flags["seq-len"]));
  std::mt19937 rng(std::stoul(flags["seed"]));
  bool f16 = cast<RankedTensorType>(spec.op.getQuery().getType())
                 .getElementType()
                 .isF16();
  for (BlockArgument arg : spec.func.getArguments()) {
    std::string name = getArgumentName(spec.op, arg);
    const std::vector<int64_t> &shape = name == "q"   ? shapes.query
                                        : name == "k" ? shapes.key
                                                      : shapes.value;
    int64_t n = 1;
    for (int64_t s : shape)
      n *= s;
    if (!writeArray(flags["o"] + "/" + name + ".npy", f16 ? "f16" : "f32",
                    shape, randomNormal(n, rng)))
      return 1;
  }
  return 0;
}

/// Reads DIR/<name>.npy as float64 values (as the library sees them).
std::vector<double> readInput(const std::string &dir, const std::string &name,
                              ElementKind kind, std::vector<int64_t> &shape) {
  NpyArray array;
  std::string error;
  if (!readNpy(dir + "/" + name + ".npy", array, error)) {
    llvm::errs() << "mha-analyze-check: " << error << "\n";
    std::exit(2);
  }
  shape = array.shape;
  HostTensor t(array.descr == "<f2" ? ElementKind::f16 : ElementKind::f32,
               shape);
  t.bytes = array.data;
  std::vector<double> values = t.load();
  if (kind == ElementKind::bf16) {
    HostTensor rounded(kind, shape);
    values = rounded.store(values);
  }
  return values;
}

/// A gradient file (<f2, <f4 or <f8) as float64 values.
std::vector<double> readGradient(const std::string &path) {
  NpyArray array;
  std::string error;
  if (!readNpy(path, array, error)) {
    llvm::errs() << "mha-analyze-check: " << error << "\n";
    std::exit(2);
  }
  std::vector<double> values(array.numElements());
  if (array.descr == "<f8") {
    std::memcpy(values.data(), array.data.data(), values.size() * 8);
    return values;
  }
  HostTensor t(array.descr == "<f2" ? ElementKind::f16 : ElementKind::f32,
               array.shape);
  t.bytes = array.data;
  return t.load();
}

/// The gate derivatives dL/dxi_h of batch element b straight from the
/// definition: o (per head) and, for a layer, Wo [Hq*D, d] from `wo`.
double gateDerivative(const AttentionProblem &pr, const AttentionResult &ref,
                      const std::vector<double> &grad,
                      const std::vector<double> *wo, int64_t modelDim,
                      int64_t b, int64_t h) {
  const int64_t H = pr.queryHeads, L = pr.queryLen, Dv = pr.valueDim;
  double g = 0.0;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t i = 0; i < Dv; ++i) {
      double o = ref.output[((b * H + h) * L + l) * Dv + i];
      if (!wo) {
        g += grad[((b * H + h) * L + l) * Dv + i] * o;
        continue;
      }
      for (int64_t c = 0; c < modelDim; ++c)
        g += grad[(b * L + l) * modelDim + c] * o *
             (*wo)[(h * Dv + i) * modelDim + c];
    }
  return g;
}

/// Checks grad_importance and grad_importance_normalized of every head.
bool checkGradImportance(const AttentionProblem &pr, const AttentionResult &ref,
                         const std::vector<double> *wo, int64_t modelDim,
                         const std::string &gradPath, ElementKind kind,
                         const llvm::json::Array &heads) {
  std::vector<double> grad = readGradient(gradPath);
  const int64_t H = pr.queryHeads, B = pr.batch;
  std::vector<double> expected(H, 0.0);
  double norm = 0.0;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t b = 0; b < B; ++b)
      expected[h] +=
          std::abs(gateDerivative(pr, ref, grad, wo, modelDim, b, h)) / B;
    norm += expected[h] * expected[h];
  }
  norm = std::sqrt(norm);
  double tol = kind == ElementKind::f32 ? 1e-4 : 1e-2;
  bool allOk = true;
  for (int64_t h = 0; h < H; ++h) {
    const llvm::json::Object *m = heads[h].getAsObject();
    double got = m->getNumber("grad_importance").value_or(NAN);
    double gotNorm = m->getNumber("grad_importance_normalized").value_or(NAN);
    double want = expected[h], wantNorm = norm > 0 ? want / norm : 0.0;
    bool ok = std::abs(got - want) <= tol * norm &&
              std::abs(gotNorm - wantNorm) <= tol &&
              (pr.headAlive[h] || (got == 0.0 && gotNorm == 0.0));
    llvm::outs() << llvm::formatv("head {0} gradient: grad_importance {1:f4} "
                                  "normalized {2:f4}: {3}\n",
                                  h, want, wantNorm, ok ? "ok" : "FAIL");
    if (!ok)
      llvm::outs() << llvm::formatv("  got {0} and {1}\n", got, gotNorm);
    allOk &= ok;
  }
  return allOk;
}

/// metrics.json's pruning plan (mha-analyze --prune, ranked by importance):
/// alive heads, the lowest-ranked ones (up to near ties), and the output
/// change of the reference with them ablated.
bool checkPrunePlan(
    const llvm::json::Object &prune, const AttentionProblem &pr,
    const std::vector<double> &importance,
    llvm::function_ref<double(llvm::ArrayRef<int64_t>)> changeWithout,
    double tol) {
  std::vector<int64_t> heads;
  if (const llvm::json::Array *list = prune.getArray("heads"))
    for (const llvm::json::Value &v : *list)
      heads.push_back(v.getAsInteger().value_or(-1));
  std::vector<std::string> problems;
  double worstKept = INFINITY, bestPruned = -INFINITY;
  for (int64_t h = 0; h < pr.queryHeads; ++h) {
    if (!pr.headAlive[h])
      continue;
    if (llvm::is_contained(heads, h))
      bestPruned = std::max(bestPruned, importance[h]);
    else
      worstKept = std::min(worstKept, importance[h]);
  }
  for (int64_t h : heads)
    if (h < 0 || h >= pr.queryHeads || !pr.headAlive[h])
      problems.push_back(llvm::formatv("head {0} is not alive", h).str());
  // (A plan ranked by gradient importance is checked for its change only.)
  if (heads.empty() || (prune.getString("ranked_by") == "importance" &&
                        bestPruned > worstKept + tol))
    problems.push_back("not the least important alive heads");
  double change = changeWithout(heads);
  double got = prune.getNumber("output_change").value_or(NAN);
  if (!(std::abs(got - change) <= tol))
    problems.push_back(
        llvm::formatv("output_change {0} != {1}", got, change).str());
  if (!(prune.getNumber("original_ms").value_or(0) > 0) ||
      !(prune.getNumber("pruned_ms").value_or(0) > 0))
    problems.push_back("times missing");
  std::string list;
  for (int64_t h : heads)
    list += (list.empty() ? "" : ", ") + std::to_string(h);
  llvm::outs() << llvm::formatv(
      "prune heads [{0}]: output change {1:f4}: {2}\n", list, change,
      problems.empty() ? "ok" : "FAIL");
  for (const std::string &p : problems)
    llvm::outs() << "  " << p << "\n";
  return problems.empty();
}

int checkMetrics(Spec &spec, std::map<std::string, std::string> &flags) {
  Value first = spec.layer ? spec.layer.getInput() : spec.op.getQuery();
  ElementKind kind =
      *getElementKind(cast<RankedTensorType>(first.getType()).getElementType());
  std::map<std::string, std::vector<double>> data;
  AttentionShapes shapes;
  // A layer: importance is measured on its output y.
  LayerProblem lp;
  LayerTensors lt;
  if (spec.layer) {
    std::vector<int64_t> xShape;
    llvm::DenseMap<Value, std::vector<double>> argValues;
    for (BlockArgument arg : spec.func.getArguments()) {
      std::string name = getArgumentName(spec.layer, arg);
      std::vector<int64_t> shape;
      argValues[arg] = readInput(flags["inputs"], name, kind, shape);
      if (name == "x")
        xShape = shape;
    }
    getLayerTensors(spec.layer, argValues, lt);
    lp = getLayerProblem(spec.layer, xShape[0], xShape[1]);
  }
  for (BlockArgument arg :
       spec.layer ? ArrayRef<BlockArgument>() : spec.func.getArguments()) {
    std::string name = getArgumentName(spec.op, arg);
    std::vector<int64_t> shape;
    data[name] = readInput(flags["inputs"], name, kind, shape);
    (name == "q"   ? shapes.query
     : name == "k" ? shapes.key
                   : shapes.value) = shape;
  }
  // Self-attention specs pass one argument as several roles.
  if (!spec.layer && spec.op.getKey() == spec.op.getQuery()) {
    data["k"] = data["q"];
    shapes.key = shapes.query;
  }
  if (!spec.layer && spec.op.getValue() == spec.op.getQuery()) {
    data["v"] = data["q"];
    shapes.value = shapes.query;
  }
  if (!spec.layer && spec.op.getValue() == spec.op.getKey()) {
    data["v"] = data["k"];
    shapes.value = shapes.key;
  }
  AttentionProblem pr;
  AttentionResult ref;
  std::vector<double> output; // o, or a layer's y
  if (spec.layer) {
    pr = lp.attention;
    output = computeLayer(lp, lt, &ref);
  } else {
    pr = getReferenceProblem(spec.op, shapes);
    ref = computeAttention(pr, data["q"], data["k"], data["v"]);
    output = ref.output;
  }
  const int64_t B = pr.batch, H = pr.queryHeads, Lq = pr.queryLen,
                Lk = pr.keyLen;

  auto buffer = llvm::MemoryBuffer::getFile(flags["metrics"]);
  if (!buffer)
    return usage("cannot read '" + flags["metrics"] + "'");
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return usage("'" + flags["metrics"] +
                 "' is not JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Array *heads = json->getAsObject()->getArray("heads");
  if (!heads || static_cast<int64_t>(heads->size()) != H)
    return usage("metrics.json must have " + std::to_string(H) + " heads");

  // Tolerances: f32 results, or f16/bf16 inputs and outputs (docs/language.md).
  bool half = kind != ElementKind::f32;
  double entropyTol = half ? 2e-2 : 1e-4, importanceTol = half ? 1e-2 : 1e-4,
         corrTol = half ? 2e-2 : 1e-4;

  // Pearson correlations of the heads' probabilities, all (b, i, j).
  auto value = [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    return ref.probs[((b * H + h) * Lq + i) * Lk + j];
  };
  std::vector<double> mean(H, 0.0), sd(H, 0.0);
  double n = static_cast<double>(B * Lq * Lk);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t j = 0; j < Lk; ++j)
          mean[h] += value(b, h, i, j) / n;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t j = 0; j < Lk; ++j)
          sd[h] += std::pow(value(b, h, i, j) - mean[h], 2);
    sd[h] = std::sqrt(sd[h]);
  }
  auto pearson = [&](int64_t h, int64_t g) {
    double c = 0.0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t j = 0; j < Lk; ++j)
          c += (value(b, h, i, j) - mean[h]) * (value(b, g, i, j) - mean[g]);
    return c / (sd[h] * sd[g]);
  };

  // The reference output with the heads in `dead` ablated, and its
  // relative change.
  auto changeWithout = [&](llvm::ArrayRef<int64_t> dead) {
    std::vector<double> without;
    if (spec.layer) {
      LayerProblem ablated = lp;
      for (int64_t h : dead)
        ablated.attention.headAlive[h] = false;
      without = computeLayer(ablated, lt);
    } else {
      AttentionProblem ablated = pr;
      for (int64_t h : dead)
        ablated.headAlive[h] = false;
      without =
          computeAttention(ablated, data["q"], data["k"], data["v"]).output;
    }
    double diff = 0.0, norm = 0.0;
    for (size_t e = 0; e < without.size(); ++e) {
      diff += std::pow(output[e] - without[e], 2);
      norm += std::pow(output[e], 2);
    }
    return norm > 0 ? std::sqrt(diff / norm) : 0.0;
  };

  bool allOk = true;
  std::vector<double> refImportance(H);
  for (int64_t h = 0; h < H; ++h) {
    const llvm::json::Object *m = (*heads)[h].getAsObject();
    std::vector<std::string> problems;
    auto number = [&](llvm::StringRef key) {
      std::optional<double> v = m->getNumber(key);
      if (!v)
        problems.push_back(key.str() + " missing");
      return v.value_or(NAN);
    };
    if (m->getInteger("head") != h)
      problems.push_back("head number");

    // Entropy: mean over rows where some key is visible (and the head lives).
    double entropySum = 0.0;
    int64_t visibleRows = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Lq; ++i) {
        bool any = false;
        for (int64_t j = 0; j < Lk && !any; ++j)
          any = pr.isVisible(h, i, j);
        if (!any || !pr.headAlive[h])
          continue;
        entropySum += ref.entropy[(b * H + h) * Lq + i];
        ++visibleRows;
      }
    double entropy = visibleRows ? entropySum / visibleRows : 0.0;
    double gotEntropy = number("entropy");
    if (!(std::abs(gotEntropy - entropy) <=
          entropyTol * std::max(1.0, entropy)))
      problems.push_back(
          llvm::formatv("entropy {0} != {1}", gotEntropy, entropy).str());

    // Importance: the relative change of o (a layer: y) when head h is
    // pruned.
    double importance = changeWithout({h});
    refImportance[h] = importance;
    double gotImportance = number("importance");
    if (!(std::abs(gotImportance - importance) <= importanceTol))
      problems.push_back(
          llvm::formatv("importance {0} != {1}", gotImportance, importance)
              .str());
    if (!pr.headAlive[h] && (gotEntropy != 0.0 || gotImportance != 0.0))
      problems.push_back("a pruned head must have entropy and importance 0");

    // The most similar head by Pearson correlation.
    double best = -INFINITY, second = -INFINITY;
    int64_t bestHead = -1;
    for (int64_t g = 0; g < H && sd[h] > 0; ++g) {
      if (g == h || !(sd[g] > 0))
        continue;
      double c = pearson(h, g);
      if (c > best) {
        second = best;
        best = c;
        bestHead = g;
      } else if (c > second) {
        second = c;
      }
    }
    const llvm::json::Value *corr = m->get("max_correlation");
    const llvm::json::Value *similar = m->get("most_similar_head");
    if (bestHead < 0) {
      if (!corr || !similar || corr->kind() != llvm::json::Value::Null ||
          similar->kind() != llvm::json::Value::Null)
        problems.push_back("max_correlation and most_similar_head must be "
                           "null for a constant pattern");
    } else {
      double got = number("max_correlation");
      if (!(std::abs(got - best) <= corrTol))
        problems.push_back(
            llvm::formatv("max_correlation {0} != {1}", got, best).str());
      // A near tie may resolve either way.
      if (m->getInteger("most_similar_head") != bestHead &&
          best - second > 2 * corrTol)
        problems.push_back(
            llvm::formatv("most_similar_head != {0}", bestHead).str());
    }

    llvm::outs() << llvm::formatv(
        "head {0}: entropy {1:f4} importance {2:f4} max_correlation {3} "
        "most_similar {4}: {5}\n",
        h, entropy, importance,
        bestHead < 0 ? std::string("null")
                     : llvm::formatv("{0:f4}", best).str(),
        bestHead < 0 ? std::string("null") : std::to_string(bestHead),
        problems.empty() ? "ok" : "FAIL");
    for (const std::string &p : problems)
      llvm::outs() << "  " << p << "\n";
    allOk &= problems.empty();
  }
  if (const llvm::json::Object *prune = json->getAsObject()->getObject("prune"))
    allOk &=
        checkPrunePlan(*prune, pr, refImportance, changeWithout, importanceTol);
  if (flags.count("grad"))
    allOk &= checkGradImportance(pr, ref, spec.layer ? &lt.wo : nullptr,
                                 lp.modelDim, flags["grad"], kind, *heads);
  return allOk ? 0 : 1;
}

int checkPng(const std::string &path, int width, int height) {
  cairo_surface_t *surface = cairo_image_surface_create_from_png(path.c_str());
  cairo_status_t status = cairo_surface_status(surface);
  int rc = 0;
  if (status != CAIRO_STATUS_SUCCESS) {
    llvm::outs() << path
                 << ": cannot decode: " << cairo_status_to_string(status)
                 << "\n";
    rc = 1;
  } else {
    int w = cairo_image_surface_get_width(surface),
        h = cairo_image_surface_get_height(surface);
    rc = w == width && h == height ? 0 : 1;
    llvm::outs() << llvm::formatv("{0}: {1}x{2} {3}\n", path, w, h,
                                  rc ? "FAIL" : "ok");
  }
  cairo_surface_destroy(surface);
  return rc;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return usage("usage: mha-analyze-check inputs|npy|metrics|png ...");
  std::string mode = argv[1];
  if (mode == "png") {
    if (argc != 5)
      return usage("usage: mha-analyze-check png FILE WIDTH HEIGHT");
    return checkPng(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  std::map<std::string, std::string> flags = parseFlags(argc, argv, 3);
  if (mode == "npy") {
    std::vector<int64_t> shape;
    llvm::SmallVector<llvm::StringRef> dims;
    llvm::StringRef(flags["shape"]).split(dims, ',');
    int64_t n = 1;
    for (llvm::StringRef d : dims) {
      shape.push_back(std::stoll(d.str()));
      n *= shape.back();
    }
    std::mt19937 rng(7);
    std::vector<double> values = randomNormal(n, rng);
    if (flags.count("fill"))
      values.assign(n, std::stod(flags["fill"]));
    return writeArray(argv[2], flags["dtype"], shape, values) ? 0 : 1;
  }
  Spec spec;
  if (!loadSpec(argv[2], flags["function"], spec))
    return 2;
  if (mode == "inputs")
    return writeInputs(spec, flags);
  if (mode == "metrics")
    return checkMetrics(spec, flags);
  return usage("unknown mode '" + mode + "'");
}
