//===- mha-run.cpp - Run a compiled spec against the reference --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
//   mha-run SPEC.mlir LIB.so [--batch B] [--seq-len L] [--seed N] ...
//
// Reads the spec, and for each exported mha.attention, mha.multi_head,
// mha.merge_states or mha.attention_kl function (and the gradient of a
// loss or a layer marked mha.backward) calls the
// compiled library on seeded random normal inputs of the spec's shapes
// (dynamic B and L from the flags), compares every result with the float64
// reference of docs/language.md, and prints one table row per function. Exits 1
// when a result is outside docs/language.md's tolerance.
//
//===----------------------------------------------------------------------===//

#include "mha/Analysis/HostTensor.h"
#include "mha/Analysis/SpecProblem.h"
#include "mha/InitAllDialects.h"
#include "mha/Reference/AttentionKlReference.h"
#include "mha/Reference/AttentionReference.h"
#include "mha/Runtime/KernelAbi.h"
#include "mha/runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <dlfcn.h>
#include <memory>
#include <random>

using namespace mlir;
using namespace mlir::mha::analysis;
using namespace mlir::mha::reference;
namespace cl = llvm::cl;

static cl::OptionCategory category("mha-run options");
static cl::opt<std::string> specFile(cl::Positional, cl::desc("<spec.mlir>"),
                                     cl::Required, cl::cat(category));
static cl::opt<std::string> libraryFile(cl::Positional, cl::desc("<lib.so>"),
                                        cl::Required, cl::cat(category));
static cl::opt<int64_t> batch("batch", cl::desc("B where dynamic"), cl::init(2),
                              cl::cat(category));
static cl::opt<int64_t> seqLen("seq-len", cl::desc("Lq and Lk where dynamic"),
                               cl::init(128), cl::cat(category));
static cl::opt<unsigned> seed("seed", cl::desc("Random seed"), cl::init(1),
                              cl::cat(category));
static cl::opt<int> threads("num-threads", cl::desc("mha_options.num_threads"),
                            cl::init(0), cl::cat(category));
static cl::opt<int> repeats("repeats", cl::desc("Timed calls (median)"),
                            cl::init(5), cl::cat(category));
static cl::opt<bool> timeOnly("time-only",
                              cl::desc("Skip the reference: time and print "
                                       "GFLOP/s (4*B*Hq*Lq*Lk*D, causal "
                                       "halved)"),
                              cl::init(false), cl::cat(category));
static cl::opt<bool> savedActivations(
    "saved-activations",
    cl::desc("Layers marked mha.backward: check NAME_backward reading the "
             "activations NAME_forward_train saved (docs/language.md 7.1) "
             "instead of recomputing them"),
    cl::init(false), cl::cat(category));
static cl::list<std::string> functions("function",
                                       cl::desc("Only run these functions"),
                                       cl::cat(category));

/// Calls `fn` on `buffers` `--repeats` times (at least once), stopping at
/// the first error; returns its status and the sorted wall times in ms.
/// `saved` is mha_options.saved_activations (of `savedBytes` bytes).
static mha_status timeCalls(void *fn, std::vector<HostTensor> &buffers,
                            std::vector<double> &times, void *saved = nullptr,
                            uint64_t savedBytes = 0) {
  std::vector<DLTensor *> args;
  for (HostTensor &b : buffers)
    args.push_back(b.getDLTensor());
  mha_options opts = MHA_OPTIONS_INIT;
  opts.num_threads = threads;
  opts.saved_activations = saved;
  opts.saved_activations_bytes = savedBytes;
  return timeExported(fn, args, &opts, /*warmups=*/0,
                      std::max(1, repeats.getValue()), times);
}

/// A layer function's problem, its random arguments (the library's
/// buffers and the float64 tensors) and what a row prints of them.
struct LayerCase {
  Type elt;
  ElementKind kind;
  LayerProblem problem;
  LayerTensors tensors;
  std::vector<HostTensor> buffers;
  std::string eltName, shape;

  LayerCase(func::FuncOp func, mha::MultiHeadOp op, std::mt19937 &rng)
      : elt(cast<RankedTensorType>(op.getInput().getType()).getElementType()),
        kind(*getElementKind(elt)),
        problem(getLayerProblem(op, batch, seqLen)) {
    llvm::DenseMap<Value, std::vector<double>> argValues;
    buffers = drawLayerArguments(func, op, batch, seqLen, rng, argValues);
    getLayerTensors(op, argValues, tensors);
    llvm::raw_string_ostream(eltName) << elt;
    const AttentionProblem &pr = problem.attention;
    shape = llvm::formatv("B={0} H={1}/{2} L={3} D={4} d={5}", pr.batch,
                          pr.queryHeads, pr.kvHeads, pr.queryLen, pr.headDim,
                          problem.modelDim);
  }
};

/// Runs an exported mha.multi_head function against the float64 layer
/// reference; prints one row and returns whether it passed.
static bool runLayer(func::FuncOp func, mha::MultiHeadOp op, void *fn,
                     const char *(*lastError)(), std::mt19937 &rng) {
  LayerCase lc(func, op, rng);
  Type elt = lc.elt;
  ElementKind kind = lc.kind;
  LayerProblem &lp = lc.problem;
  std::vector<HostTensor> &buffers = lc.buffers;
  // The library's copy for this CPU (and MHA_ISA) multiplies int8 weights
  // in int8 where it has AVX512-VNNI: the reference quantizes those rows.
  lp.int8Activations = mha_rt_cpu_isa() >= MHA_ISA_AVX512BF16;
  // Results in return order: y, and the attention's extras.
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value r : ret.getOperands())
    buffers.emplace_back(r == op.getOutput() ? kind : ElementKind::f32,
                         getConcreteLayerShape(r, batch, seqLen));
  std::vector<double> times;
  mha_status status = timeCalls(fn, buffers, times);
  const AttentionProblem &pr = lp.attention;
  const std::string &shape = lc.shape, &eltName = lc.eltName;
  if (status != MHA_OK) {
    llvm::outs() << llvm::formatv("{0,-28} {1,-30} {2,-5} {3,-34} FAIL: {4}\n",
                                  func.getSymName(), describeLayer(op), eltName,
                                  shape, lastError ? lastError() : "error");
    return false;
  }
  double ms = times[times.size() / 2];
  if (timeOnly) {
    // Projections: Q 2*B*L*d*Hq*D, then K and V 2*B*L*d*2*Hkv*D (a latent
    // layer's: 2*B*L*(d*(r+Dr) + r*Hq*(Dn+Dv))); output 2*B*L*Hq*Dv*d;
    // attention 2*B*Hq*L*L*(D+Dv) (halved when causal).
    double bl = double(pr.batch) * pr.queryLen, d = double(lp.modelDim);
    double hq = pr.queryHeads, headDim = pr.headDim, dv = pr.valueDim;
    double kv = lp.latentRank > 0
                    ? double(lp.latentRank + lp.ropeKeyDim) * d +
                          double(lp.latentRank) * hq * (lp.nopeDim + dv)
                    : 2.0 * d * pr.kvHeads * headDim;
    double flops = 2.0 * bl * (d * hq * headDim + kv) + 2.0 * bl * hq * dv * d +
                   2.0 * pr.batch * hq * double(pr.queryLen) * pr.keyLen *
                       (headDim + dv) * (pr.causal ? 0.5 : 1.0);
    llvm::outs() << llvm::formatv(
        "{0,-28} {1,-30} {2,-5} {3,-34} {4,9:f3} ms {5,8:f1} GFLOP/s\n",
        func.getSymName(), describeLayer(op), eltName, shape, ms,
        flops / ms * 1e-6);
    return true;
  }
  AttentionResult attention;
  std::vector<double> want = computeLayer(lp, lc.tensors, &attention);
  // docs/language.md: layers may round their projections to the element type;
  // the extras come from f32 projections either way.
  // Int8 rows: the reference quantizes its float64 O, which a rounding
  // tie away from the kernel's float32 O can move by one step.
  bool int8Rows =
      lp.int8Activations && llvm::is_contained(lp.int8Weights, true);
  double tolerance = !elt.isF32() ? 2e-2 : int8Rows ? 1e-3 : 1e-5;
  bool ok = true;
  double worst = 0.0;
  std::string worstName = "y";
  for (auto [i, r] : llvm::enumerate(ret.getOperands())) {
    std::vector<double> got = buffers[func.getNumArguments() + i].load();
    const std::vector<double> &ref = r == op.getOutput()  ? want
                                     : r == op.getLse()   ? attention.lse
                                     : r == op.getProbs() ? attention.probs
                                                          : attention.entropy;
    StringRef name = r == op.getOutput()  ? "y"
                     : r == op.getLse()   ? "lse"
                     : r == op.getProbs() ? "probs"
                                          : "entropy";
    std::vector<double> g, w;
    for (size_t j = 0; j < got.size(); ++j) {
      // lse: pruned heads are unspecified, -inf must match exactly.
      if (name == "lse") {
        int64_t h = (j / lp.attention.queryLen) % lp.attention.queryHeads;
        if (!lp.attention.headAlive[h])
          continue;
        if (std::isinf(ref[j]) || std::isinf(got[j])) {
          ok &= got[j] == ref[j];
          continue;
        }
      }
      g.push_back(got[j]);
      w.push_back(ref[j]);
    }
    double err = relativeError(g, w);
    if (!(err <= worst)) {
      worst = err;
      worstName = name.str();
    }
    ok &= err < tolerance;
  }
  llvm::outs() << llvm::formatv(
      "{0,-28} {1,-30} {2,-5} {3,-34} {4,-8} {5:e2} {6,9:f3} ms  {7}\n",
      func.getSymName(), describeLayer(op), eltName, shape, worstName, worst,
      ms, ok ? "ok" : "FAIL");
  return ok;
}

/// The functions of a layer backward's saved activations (docs/language.md
/// 7.1), for --saved-activations.
struct SavedActivationFunctions {
  void *forwardTrain = nullptr;
  int64_t (*savedBytes)(int64_t, int64_t) = nullptr;
};

/// An aligned buffer of a layer's saved activations, written by
/// `<name>_forward_train` on the layer's arguments (the first of
/// `buffers`); empty (and the error printed) when that call fails.
static std::unique_ptr<uint8_t, decltype(&std::free)>
saveActivations(const SavedActivationFunctions &saving,
                std::vector<HostTensor> &buffers, size_t numArguments,
                const HostTensor &yLike, uint64_t &bytes,
                const char *(*lastError)(), StringRef name) {
  std::unique_ptr<uint8_t, decltype(&std::free)> none(nullptr, &std::free);
  const std::vector<int64_t> &x = buffers.front().shape;
  int64_t need = saving.savedBytes(x[0], x[1]);
  if (need <= 0) {
    llvm::outs() << name << " FAIL: <name>_saved_bytes returned " << need
                 << "\n";
    return none;
  }
  bytes = static_cast<uint64_t>(need);
  std::unique_ptr<uint8_t, decltype(&std::free)> saved(
      static_cast<uint8_t *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)),
      &std::free);
  std::vector<HostTensor> train(buffers.begin(),
                                buffers.begin() + numArguments);
  train.emplace_back(yLike.kind, yLike.shape);
  std::vector<double> times;
  if (timeCalls(saving.forwardTrain, train, times, saved.get(), bytes) !=
      MHA_OK) {
    llvm::outs() << name << "_forward_train FAIL: "
                 << (lastError ? lastError() : "error") << "\n";
    return none;
  }
  return saved;
}

/// Runs `<name>_backward` of a layer marked mha.backward on random
/// arguments and dy against the float64 layer gradients (with `saving`,
/// reading the activations `<name>_forward_train` saved); prints one row
/// and returns whether every gradient is within docs/language.md's
/// tolerance (each relative to its largest element; dbk, zero in exact
/// arithmetic, against a hundredth of the largest gradient in f32, a
/// tenth in 16-bit layers, whose rounded O leaves D_i - sum_j P dP at
/// their rounding level).
static bool runLayerBackward(func::FuncOp func, mha::MultiHeadOp op, void *fn,
                             const SavedActivationFunctions *saving,
                             const char *(*lastError)(), std::mt19937 &rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  LayerCase lc(func, op, rng);
  Type elt = lc.elt;
  std::vector<HostTensor> &buffers = lc.buffers;
  HostTensor dyTensor(lc.kind,
                      getConcreteLayerShape(op.getOutput(), batch, seqLen));
  std::vector<double> dy(dyTensor.numElements());
  for (double &v : dy)
    v = normal(rng);
  dy = dyTensor.store(dy);
  buffers.push_back(std::move(dyTensor));
  // One gradient per argument, of its kind and shape (copied first:
  // emplace_back may move the buffers).
  for (BlockArgument arg : func.getArguments()) {
    HostTensor like = buffers[arg.getArgNumber()];
    buffers.emplace_back(like.kind, like.shape);
  }
  std::string name = (func.getSymName() + "_backward").str();
  std::unique_ptr<uint8_t, decltype(&std::free)> saved(nullptr, &std::free);
  uint64_t savedBytes = 0;
  if (saving) {
    saved = saveActivations(*saving, buffers, func.getNumArguments(),
                            buffers[func.getNumArguments()], savedBytes,
                            lastError, func.getSymName());
    if (!saved)
      return false;
    name += " (saved)";
  }
  std::vector<double> times;
  mha_status status = timeCalls(fn, buffers, times, saved.get(), savedBytes);
  const std::string &shape = lc.shape, &eltName = lc.eltName;
  if (status != MHA_OK) {
    llvm::outs() << llvm::formatv("{0,-28} {1,-30} {2,-5} {3,-34} FAIL: {4}\n",
                                  name, describeLayer(op), eltName, shape,
                                  lastError ? lastError() : "error");
    return false;
  }
  double ms = times[times.size() / 2];
  if (timeOnly) {
    llvm::outs() << llvm::formatv(
        "{0,-28} {1,-30} {2,-5} {3,-34} {4,9:f3} ms\n", name, describeLayer(op),
        eltName, shape, ms);
    return true;
  }
  LayerGradients want = computeLayerBackward(lc.problem, lc.tensors, dy);
  // Each argument's gradient by its role in the layer.
  auto reference = [&](Value arg) -> std::pair<StringRef, std::vector<double>> {
    if (arg == op.getInput())
      return {"dx", want.dx};
    if (arg == op.getWq())
      return {"dwq", want.dwq};
    if (arg == op.getWk())
      return {"dwk", want.dwk};
    if (arg == op.getWv())
      return {"dwv", want.dwv};
    if (arg == op.getWo())
      return {"dwo", want.dwo};
    if (arg == op.getBq())
      return {"dbq", want.dbq};
    if (arg == op.getBk())
      return {"dbk", want.dbk};
    if (arg == op.getBv())
      return {"dbv", want.dbv};
    return {"dbo", want.dbo};
  };
  // A factor of a low-rank weight W = A B [m, n] (rank r): dA = dW B^T,
  // dB = A^T dW, from the reference's dW.
  auto gradientOf =
      [&](BlockArgument arg) -> std::pair<std::string, std::vector<double>> {
    auto lowRank = llvm::find_if(
        arg.getUsers(), [](Operation *u) { return isa<mha::LowRankOp>(u); });
    if (lowRank == arg.getUsers().end()) {
      auto [gradName, grad] = reference(arg);
      return {gradName.str(), std::move(grad)};
    }
    auto factors = cast<mha::LowRankOp>(*lowRank);
    bool down = arg == factors.getDown();
    // A normalised product (a latent layer's Wq): its factors' own.
    if (factors.getResult() == op.getWq() && !want.dwqDown.empty())
      return {down ? "dwq_down" : "dwq_up", down ? want.dwqDown : want.dwqUp};
    auto [wName, dw] = reference(factors.getResult());
    auto factor = [&](Value v) {
      return buffers[cast<BlockArgument>(v).getArgNumber()].load();
    };
    std::vector<double> a = factor(factors.getDown()),
                        b = factor(factors.getUp());
    auto type = cast<RankedTensorType>(factors.getDown().getType());
    int64_t m = type.getDimSize(0), r = type.getDimSize(1);
    int64_t n = static_cast<int64_t>(dw.size()) / m;
    std::vector<double> grad(down ? m * r : r * n, 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t k = 0; k < r; ++k)
        for (int64_t j = 0; j < n; ++j) {
          if (down)
            grad[i * r + k] += dw[i * n + j] * b[k * n + j];
          else
            grad[k * n + j] += a[i * r + k] * dw[i * n + j];
        }
    return {(wName + (down ? "_down" : "_up")).str(), std::move(grad)};
  };
  SmallVector<std::pair<std::string, std::vector<double>>> grads;
  double largest = 0.0;
  for (BlockArgument arg : func.getArguments()) {
    grads.push_back(gradientOf(arg));
    for (double v : grads.back().second)
      largest = std::max(largest, std::abs(v));
  }
  double tolerance = elt.isF32() ? 1e-4 : 2e-2;
  double worst = 0.0;
  std::string worstName = "dx";
  bool ok = true;
  size_t first = func.getNumArguments() + 1;
  for (BlockArgument arg : func.getArguments()) {
    auto &[gradName, ref] = grads[arg.getArgNumber()];
    std::vector<double> got = buffers[first + arg.getArgNumber()].load();
    double scale = (elt.isF32() ? 1e-2 : 1e-1) * largest, diff = 0.0;
    for (size_t j = 0; j < got.size(); ++j) {
      scale = std::max(scale, std::abs(ref[j]));
      diff = std::max(diff, std::abs(got[j] - ref[j]));
    }
    double err = scale > 0.0 ? diff / scale : diff;
    if (!(err <= worst)) {
      worst = err;
      worstName = gradName;
    }
    ok &= err < tolerance;
  }
  llvm::outs() << llvm::formatv(
      "{0,-28} {1,-30} {2,-5} {3,-34} {4,-8} {5:e2} {6,9:f3} ms  {7}\n", name,
      describeLayer(op), eltName, shape, worstName, worst, ms,
      ok ? "ok" : "FAIL");
  return ok;
}

/// Calls the attention function `fn` of `func` on random inputs and
/// compares every result with the float64 reference (or, with --time-only,
/// prints its speed); prints one row. Returns whether it passed.
static bool runAttention(func::FuncOp func, mha::AttentionOp op, void *fn,
                         const char *(*lastError)(), std::mt19937 &rng,
                         std::normal_distribution<double> &normal) {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  Type elt = qType.getElementType();
  ElementKind kind = *getElementKind(elt);

  // Concrete sizes: the spec's where static, else the flags.
  AttentionShapes shapes = getConcreteShapes(op, batch, seqLen);
  AttentionProblem pr = getReferenceProblem(op, shapes);

  // Buffers in C parameter order: arguments, then results. A quantized
  // cache (kv_scales) holds i8 values over most of their range and scales
  // per KV head in [0.01, 0.05); the reference reads their products.
  std::vector<HostTensor> buffers;
  std::vector<double> qData, kData, vData, kScales, vScales;
  bool quantized = bool(op.getKeyScale());
  std::uniform_real_distribution<double> scaleDist(0.01, 0.05);
  for (BlockArgument arg : func.getArguments()) {
    bool isScale = arg == op.getKeyScale() || arg == op.getValueScale();
    bool isCache = arg == op.getKey() || arg == op.getValue();
    HostTensor buf(isScale                ? ElementKind::f32
                   : isCache && quantized ? ElementKind::i8
                                          : kind,
                   isScale                ? std::vector<int64_t>{pr.kvHeads}
                   : arg == op.getQuery() ? shapes.query
                   : arg == op.getKey()   ? shapes.key
                                          : shapes.value);
    std::vector<double> values(buf.numElements());
    for (double &x : values)
      x = isScale ? scaleDist(rng)
                  : normal(rng) * (buf.kind == ElementKind::i8 ? 40.0 : 1.0);
    std::vector<double> stored = buf.store(values);
    if (arg == op.getQuery())
      qData = stored;
    if (arg == op.getKey())
      kData = stored;
    if (arg == op.getValue())
      vData = stored;
    if (arg == op.getKeyScale())
      kScales = stored;
    if (arg == op.getValueScale())
      vScales = stored;
    buffers.push_back(std::move(buf));
  }
  if (quantized) {
    // [B, Hkv, Lk, D]: element i is in KV head (i / (Lk D)) mod Hkv.
    auto dequantize = [&](std::vector<double> &data,
                          const std::vector<double> &scales, int64_t dim) {
      int64_t perHead = pr.keyLen * dim;
      for (size_t i = 0; i < data.size(); ++i)
        data[i] *= scales[(int64_t(i) / perHead) % pr.kvHeads];
    };
    dequantize(kData, kScales, pr.headDim);
    dequantize(vData, vScales, pr.valueDim);
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  std::vector<Value> results(ret.getOperands().begin(),
                             ret.getOperands().end());
  std::vector<int64_t> rowShape = {pr.batch, pr.queryHeads, pr.queryLen};
  for (Value r : results) {
    if (r == op.getOutput())
      buffers.emplace_back(kind,
                           std::vector<int64_t>{pr.batch, pr.queryHeads,
                                                pr.queryLen, pr.valueDim});
    else if (r == op.getProbs())
      buffers.emplace_back(ElementKind::f32,
                           std::vector<int64_t>{pr.batch, pr.queryHeads,
                                                pr.queryLen, pr.keyLen});
    else
      buffers.emplace_back(ElementKind::f32, rowShape);
  }
  std::vector<double> times;
  mha_status status = timeCalls(fn, buffers, times);
  std::string shape = llvm::formatv(
      "B={0} H={1}/{2} L={3}/{4} D={5}/{6}", pr.batch, pr.queryHeads,
      pr.kvHeads, pr.queryLen, pr.keyLen, pr.headDim, pr.valueDim);
  std::string eltName;
  llvm::raw_string_ostream(eltName) << elt;
  if (status != MHA_OK) {
    llvm::outs() << llvm::formatv(
        "{0,-28} {1,-30} {2,-5} {3,-34} FAIL: {4}\n", func.getSymName(),
        describeVariant(op), eltName, shape, lastError ? lastError() : "error");
    return false;
  }

  if (timeOnly) {
    double flops = 4.0 * pr.batch * pr.queryHeads * pr.queryLen * pr.keyLen *
                   pr.headDim * (pr.causal ? 0.5 : 1.0);
    double ms = times[times.size() / 2];
    llvm::outs() << llvm::formatv(
        "{0,-28} {1,-30} {2,-5} {3,-34} {4,9:f3} ms {5,8:f1} GFLOP/s\n",
        func.getSymName(), describeVariant(op), eltName, shape, ms,
        flops / ms * 1e-6);
    return true;
  }
  AttentionResult ref = computeAttention(pr, qData, kData, vData);
  double tolerance = elt.isF32() ? 1e-5 : 1e-2;
  double worst = 0.0;
  std::string worstName = "o";
  bool ok = true;
  auto check = [&](const std::vector<double> &got,
                   const std::vector<double> &want, StringRef name, bool rows) {
    std::vector<double> g, w;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(got[i])) {
        ok = false;
        worst = NAN;
        worstName = name.str() + " (NaN)";
        return;
      }
      // lse: -inf must match; pruned heads are unspecified.
      if (rows && name == "lse") {
        int64_t h = (i / pr.queryLen) % pr.queryHeads;
        if (!pr.headAlive[h])
          continue;
        if (std::isinf(want[i]) || std::isinf(got[i])) {
          if (got[i] != want[i]) {
            ok = false;
            worstName = "lse (-inf)";
            worst = INFINITY;
          }
          continue;
        }
      }
      g.push_back(got[i]);
      w.push_back(want[i]);
    }
    double err = relativeError(g, w);
    if (err > worst || std::isnan(err)) {
      worst = err;
      worstName = name.str();
    }
    if (!(err < tolerance))
      ok = false;
  };
  for (size_t i = 0; i < results.size(); ++i) {
    const HostTensor &buf = buffers[func.getNumArguments() + i];
    Value r = results[i];
    if (r == op.getOutput())
      check(buf.load(), ref.output, "o", false);
    else if (r == op.getLse())
      check(buf.load(), ref.lse, "lse", true);
    else if (r == op.getProbs())
      check(buf.load(), ref.probs, "probs", false);
    else
      check(buf.load(), ref.entropy, "entropy", false);
  }
  llvm::outs() << llvm::formatv(
      "{0,-28} {1,-30} {2,-5} {3,-34} {4,-8} {5:e2} {6,9:f3} ms  {7}\n",
      func.getSymName(), describeVariant(op), eltName, shape, worstName, worst,
      times[times.size() / 2], ok ? "ok" : "FAIL");
  return ok;
}

/// The worst error of `got` against `want`: relative (L2) over the finite
/// entries, and every -inf of `want` must be matched exactly.
static double compareRows(const std::vector<double> &got,
                          const std::vector<double> &want, bool &ok) {
  std::vector<double> g, w;
  for (size_t e = 0; e < got.size(); ++e) {
    if (std::isnan(got[e]) || (std::isinf(want[e]) && got[e] != want[e])) {
      ok = false;
      continue;
    }
    if (!std::isinf(want[e])) {
      g.push_back(got[e]);
      w.push_back(want[e]);
    }
  }
  return relativeError(g, w);
}

/// Runs an exported mha.merge_states function on random partial results
/// (lse with -inf rows on either side and on both) against the float64
/// merge; prints one row and returns whether it passed.
static bool runMerge(func::FuncOp func, mha::MergeStatesOp op, void *fn,
                     const char *(*lastError)(), std::mt19937 &rng,
                     std::normal_distribution<double> &normal) {
  auto type = cast<RankedTensorType>(op.getOutputA().getType());
  Type elt = type.getElementType();
  ElementKind kind = *getElementKind(elt);
  auto size = [&](int64_t d, int64_t dflt) {
    return type.isDynamicDim(d) ? dflt : type.getDimSize(d);
  };
  std::vector<int64_t> outShape = {size(0, batch), type.getDimSize(1),
                                   size(2, seqLen), type.getDimSize(3)};
  std::vector<int64_t> rowShape(outShape.begin(), outShape.end() - 1);
  int64_t rows = outShape[0] * outShape[1] * outShape[2], dv = outShape[3];
  double negInf = -std::numeric_limits<double>::infinity();
  // Arguments in C order; which side and kind each is.
  std::vector<HostTensor> buffers;
  std::vector<double> data[4];
  for (BlockArgument arg : func.getArguments()) {
    unsigned operand =
        llvm::find(op->getOperands(), Value(arg)) - op->getOperands().begin();
    bool isLse = operand == 1 || operand == 3;
    HostTensor buf(isLse ? ElementKind::f32 : kind,
                   isLse ? rowShape : outShape);
    std::vector<double> values(buf.numElements());
    for (size_t i = 0; i < values.size(); ++i) {
      values[i] = isLse ? 3.0 * normal(rng) : normal(rng);
      // Rows with no key on one side, and on both (i % 35 == 0).
      if (isLse && i % (operand == 1 ? 5 : 7) == 0)
        values[i] = negInf;
    }
    data[operand] = buf.store(values);
    buffers.push_back(std::move(buf));
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value r : ret.getOperands())
    buffers.emplace_back(r == op.getOutput() ? kind : ElementKind::f32,
                         r == op.getOutput() ? outShape : rowShape);
  std::vector<double> times;
  mha_status status = timeCalls(fn, buffers, times);
  std::string shape = llvm::formatv("B={0} H={1} L={2} Dv={3}", outShape[0],
                                    outShape[1], outShape[2], dv);
  std::string eltName;
  llvm::raw_string_ostream(eltName) << elt;
  if (status != MHA_OK) {
    llvm::outs() << llvm::formatv("{0,-28} {1,-30} {2,-5} {3,-34} FAIL: {4}\n",
                                  func.getSymName(), "merge_states", eltName,
                                  shape, lastError ? lastError() : "error");
    return false;
  }
  MergedStates ref = mergeStates(data[0], data[1], data[2], data[3], rows, dv);
  double tolerance = elt.isF32() ? 1e-5 : 1e-2;
  double worst = 0.0;
  bool ok = true;
  for (auto [i, r] : llvm::enumerate(ret.getOperands())) {
    std::vector<double> got = buffers[func.getNumArguments() + i].load();
    double err =
        compareRows(got, r == op.getOutput() ? ref.output : ref.lse, ok);
    worst = std::max(worst, err);
    ok &= err < tolerance;
  }
  llvm::outs() << llvm::formatv(
      "{0,-28} {1,-30} {2,-5} {3,-34} {4,-8} {5:e2} {6,9:f3} ms  {7}\n",
      func.getSymName(), "merge_states", eltName, shape, "o/lse", worst,
      times[times.size() / 2], ok ? "ok" : "FAIL");
  return ok;
}

/// Runs an exported mha.attention_kl function on random heads against the
/// float64 loss, and its `<name>_backward` (when the library has one)
/// against the float64 student gradient; prints a row for each and
/// returns whether both passed.
static bool runKl(func::FuncOp func, mha::AttentionKlOp op, void *fn,
                  void *backwardFn, const char *(*lastError)(),
                  std::mt19937 &rng, std::normal_distribution<double> &normal) {
  auto concrete = [&](Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    std::vector<int64_t> shape;
    for (int64_t d = 0; d < type.getRank(); ++d)
      shape.push_back(!type.isDynamicDim(d) ? type.getDimSize(d)
                      : d == 0              ? int64_t(batch)
                                            : int64_t(seqLen));
    return shape;
  };
  auto kindOf = [](Value v) {
    return *getElementKind(cast<ShapedType>(v.getType()).getElementType());
  };
  // The arguments are q_t, k_t, q_s, k_s in this order (mha-tile checks).
  std::vector<HostTensor> buffers;
  std::vector<double> inputs[4];
  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    HostTensor buf(kindOf(arg), concrete(arg));
    std::vector<double> values(buf.numElements());
    for (double &x : values)
      x = normal(rng);
    inputs[i] = buf.store(values);
    buffers.push_back(std::move(buf));
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value r : ret.getOperands())
    buffers.emplace_back(ElementKind::f32, concrete(r));
  std::vector<int64_t> qt = buffers[0].shape, kt = buffers[1].shape,
                       qs = buffers[2].shape, ks = buffers[3].shape;
  KlProblem p;
  p.batch = qt[0];
  p.heads = qt[1];
  p.queryLen = qt[2];
  p.teacherDim = qt[3];
  p.teacherKvHeads = kt[1];
  p.keyLen = kt[2];
  p.studentKvHeads = ks[1];
  p.studentDim = qs[3];
  p.teacherScale = op.getTeacherScaleOrDefault();
  p.studentScale = op.getStudentScaleOrDefault();
  p.causal = op.getCausal();
  std::string shape =
      llvm::formatv("B={0} H={1} L={2}/{3} D={4}/{5}", p.batch, p.heads,
                    p.queryLen, p.keyLen, p.teacherDim, p.studentDim);
  std::string eltName;
  llvm::raw_string_ostream(eltName)
      << cast<ShapedType>(op.getStudentQuery().getType()).getElementType();
  auto printRow = [&](StringRef name, StringRef what, double worst, double ms,
                      bool ok) {
    llvm::outs() << llvm::formatv(
        "{0,-28} {1,-30} {2,-5} {3,-34} {4,-8} {5:e2} {6,9:f3} ms  {7}\n", name,
        "attention_kl", eltName, shape, what, worst, ms, ok ? "ok" : "FAIL");
  };
  std::vector<double> times;
  if (timeCalls(fn, buffers, times) != MHA_OK) {
    llvm::outs() << llvm::formatv("{0,-28} {1,-30} FAIL: {2}\n",
                                  func.getSymName(), "attention_kl",
                                  lastError ? lastError() : "error");
    return false;
  }
  KlResults ref = attentionKl(p, inputs[0], inputs[1], inputs[2], inputs[3]);
  // kl is a difference of terms of the size of lse: its error is
  // absolute, relative to them.
  bool ok = true;
  double worst = 0.0;
  std::vector<double> got[3];
  for (auto [i, r] : llvm::enumerate(ret.getOperands())) {
    got[i] = buffers[4 + i].load();
    const std::vector<double> &want = r == op.getKl() ? ref.kl
                                      : r == op.getTeacherLse()
                                          ? ref.teacherLse
                                          : ref.studentLse;
    if (r != op.getKl()) {
      worst = std::max(worst, compareRows(got[i], want, ok));
      continue;
    }
    double scale = 1.0, err = 0.0;
    for (double lse : ref.teacherLse)
      if (std::isfinite(lse))
        scale = std::max(scale, std::fabs(lse));
    for (size_t e = 0; e < want.size(); ++e)
      err = std::max(err, std::isnan(got[i][e])
                              ? std::numeric_limits<double>::infinity()
                              : std::fabs(got[i][e] - want[e]) / scale);
    worst = std::max(worst, err);
  }
  double tolerance =
      cast<ShapedType>(op.getStudentQuery().getType()).getElementType().isF32()
          ? 2e-5
          : 2e-3;
  ok &= worst < tolerance;
  printRow(func.getSymName(), "kl/lse", worst, times[times.size() / 2], ok);
  if (!backwardFn)
    return ok;

  // The gradient, from the lse the loss returned (mha.backward returns all
  // three results, in any order).
  std::vector<HostTensor> back;
  for (int i = 0; i < 4; ++i) {
    HostTensor buf(buffers[i].kind, buffers[i].shape);
    buf.store(inputs[i]);
    back.push_back(std::move(buf));
  }
  for (Value want : {op.getTeacherLse(), op.getStudentLse()}) {
    unsigned i =
        llvm::find(ret.getOperands(), want) - ret.getOperands().begin();
    HostTensor buf(ElementKind::f32, buffers[4 + i].shape);
    buf.store(got[i]);
    back.push_back(std::move(buf));
  }
  HostTensor dklBuf(ElementKind::f32, buffers[4].shape);
  std::vector<double> dkl(dklBuf.numElements());
  for (double &x : dkl)
    x = normal(rng);
  dkl = dklBuf.store(dkl);
  back.push_back(std::move(dklBuf));
  back.emplace_back(buffers[2].kind, buffers[2].shape);
  back.emplace_back(buffers[3].kind, buffers[3].shape);
  std::string backName = (func.getSymName() + "_backward").str();
  if (timeCalls(backwardFn, back, times) != MHA_OK) {
    llvm::outs() << llvm::formatv("{0,-28} {1,-30} FAIL: {2}\n", backName,
                                  "attention_kl",
                                  lastError ? lastError() : "error");
    return false;
  }
  KlGradients grads =
      attentionKlGradients(p, inputs[0], inputs[1], inputs[2], inputs[3], dkl);
  bool gradOk = true;
  double gradWorst = std::max(compareRows(back[7].load(), grads.dq, gradOk),
                              compareRows(back[8].load(), grads.dk, gradOk));
  gradOk &= gradWorst < (tolerance == 2e-5 ? 1e-4 : 2e-2);
  printRow(backName, "dq_s/dk_s", gradWorst, times[times.size() / 2], gradOk);
  return ok && gradOk;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "mha-run: check a compiled spec\n");

  DialectRegistry registry;
  mlir::mha::registerSpecDialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  std::string error;
  auto input = openInputFile(specFile, &error);
  if (!input) {
    llvm::errs() << "mha-run: error: " << error << "\n";
    return 1;
  }
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  void *library = dlopen(libraryFile.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    llvm::errs() << "mha-run: error: cannot load '" << libraryFile
                 << "': " << dlerror() << "\n";
    return 1;
  }
  auto lastError =
      reinterpret_cast<const char *(*)()>(dlsym(library, "mha_last_error"));

  bool allPassed = true;
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto func : module->getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isDeclaration())
      continue;
    if (!functions.empty() &&
        !llvm::is_contained(functions, func.getSymName().str()))
      continue;
    mha::AttentionOp op;
    func.walk([&](mha::AttentionOp a) { op = a; });
    mha::MultiHeadOp layer;
    func.walk([&](mha::MultiHeadOp m) { layer = m; });
    mha::MergeStatesOp merge;
    func.walk([&](mha::MergeStatesOp m) { merge = m; });
    mha::AttentionKlOp kl;
    func.walk([&](mha::AttentionKlOp k) { kl = k; });
    if (!op && !layer && !merge && !kl) {
      llvm::outs() << llvm::formatv("{0,-28} {1}\n", func.getSymName(),
                                    "skipped: no mha.attention or "
                                    "mha.multi_head");
      continue;
    }
    if ((op && op.hasServingOperands()) ||
        (layer && (layer.getKeyCache() || layer.getCuSeqlensQ()))) {
      // Their lengths and tables need inputs mha-run does not generate;
      // python/tests/test_serving.py, test_decode_layer.py and
      // test_packed_layer.py check them against float64 references.
      llvm::outs() << llvm::formatv(
          "{0,-28} {1}\n", func.getSymName(),
          "skipped: kv_lens, q_lens, block_table, cu_seqlens and caches "
          "are not supported by mha-run yet");
      continue;
    }
    void *fn = dlsym(library, func.getSymName().str().c_str());
    if (!fn) {
      llvm::errs() << "mha-run: error: '" << libraryFile << "' has no '"
                   << func.getSymName() << "'\n";
      allPassed = false;
      continue;
    }
    if (layer) {
      allPassed &= runLayer(func, layer, fn, lastError, rng);
      void *backwardFn =
          dlsym(library, (func.getSymName() + "_backward").str().c_str());
      if (!backwardFn)
        continue;
      SavedActivationFunctions saving;
      if (savedActivations) {
        std::string base = func.getSymName().str();
        saving.forwardTrain = dlsym(library, (base + "_forward_train").c_str());
        saving.savedBytes = reinterpret_cast<int64_t (*)(int64_t, int64_t)>(
            dlsym(library, (base + "_saved_bytes").c_str()));
        if (!saving.forwardTrain || !saving.savedBytes) {
          llvm::errs() << "mha-run: error: '" << libraryFile << "' has no '"
                       << base << "_forward_train' or '" << base
                       << "_saved_bytes'\n";
          allPassed = false;
          continue;
        }
      }
      allPassed &= runLayerBackward(func, layer, backwardFn,
                                    savedActivations ? &saving : nullptr,
                                    lastError, rng);
      continue;
    }
    if (merge) {
      allPassed &= runMerge(func, merge, fn, lastError, rng, normal);
      continue;
    }
    if (kl) {
      void *backwardFn =
          dlsym(library, (func.getSymName() + "_backward").str().c_str());
      allPassed &= runKl(func, kl, fn, backwardFn, lastError, rng, normal);
      continue;
    }
    allPassed &= runAttention(func, op, fn, lastError, rng, normal);
  }
  dlclose(library);
  return allPassed ? 0 : 1;
}
