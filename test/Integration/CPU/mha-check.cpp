//===- mha-check.cpp - End-to-end checker of generated CPU libraries -----===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Loads a library made by `mha-compile --target=cpu` with dlopen, calls one of
// its functions on seeded random normal inputs and checks every result
// against a float64 reference written straight from docs/language.md's order of
// operations. It also checks the memory contract of a call: inputs are not
// modified, every output element is written, no byte outside the outputs is
// touched (guard regions and layout gaps stay poisoned), results do not
// depend on the number of threads, and, in error mode, that a bad argument
// gives the right status and message and writes no output byte.
//
// Plain C++17 on libc, libstdc++ and libdl: it needs no MLIR. The C interface
// is taken from mha/runtime.h (DLPack tensors).
//
//   mha-check LIB.so --fn NAME --dtype f32|f16|bf16 --B 2 --Hq 4 --Hkv 2
//             --Lq 37 --Lk 53 --D 16 --Dv 8 [attributes] [--lse] [--probs]
//             [--entropy] [--layout bhld|bhld-strided|blhd|padded]
//             [--byte-offset N] [--threads N] [--seed N] [--scores-scale X]
//   mha-check LIB.so ... --corrupt KIND [--corrupt-arg NAME]
//             [--alias-with NAME] [--expect-status NAME]
//
// Attribute flags mirror the spec's attributes and must match it: --scale,
// --temperature, --softcap, --alibi, --causal, --window-left,
// --window-right, --sinks, --head-mask, --dropout (per-head lists take 1 or
// Hq values); --dropout-seed and --dropout-offset set mha_options'
// dropout_seed and dropout_offset (default 0); --positions QS,KS sets
// use_positions, query_start and key_start;
// --lse/--probs/--entropy say which extra results the C function has (in
// the order o, lse, probs, entropy). Run-time choices:
//   --runtime-head-mask 1,0,..  mha_options.head_mask (bytes, Hq of them)
//   --layout L        bhld (strides NULL), bhld-strided, blhd ([B, L, H, D]
//                     storage as a transposed view), padded (gaps)
//   --byte-offset N   DLTensor.byte_offset, rounded up per element size
//   --threads N       compared bit for bit with a 1-thread call (0 = all)
//   --scores-scale X  multiplies q, for huge scores
//   --concurrent N    N threads call at once; checks thread-local errors
//   --distinct-inputs with --concurrent: each thread also has its own inputs
//                     (seed + 1 + i) and calls --repeat times (default 5);
//                     every result bit-identical to that thread's inputs'
//                     1-thread call made serially beforehand
//   --thread-sweep N  results for every num_threads 1..N bit-identical to
//                     the 1-thread call
//   --tol X           overrides the relative tolerance (1e-5 f32, 1e-2 half)
//   --inject A:b,h,l,d=X  sets element [b,h,l,d] of input A (q, k or v) to
//                     X (nan, inf, -inf or a number) after the random fill;
//                     repeatable. Where the float64 reference is NaN or
//                     infinite, the result must be the same (NaN that shows)
// Tolerances (docs/language.md, "Precision"): ||o - ref|| / ||ref|| below 1e-5
// (f32) or 1e-2 (f16/bf16), and each row within 10x that; lse and probs alike;
// entropy within 1e-4 (1e-2) of max(1, |ref|). Pruned heads and rows with
// no visible key must give exactly 0 (lse -inf; a pruned head's lse is not
// checked). Any NaN or unwritten (still poisoned) element fails, unless the
// reference has NaN (or the same infinity) there.
//
// Error mode (--corrupt KIND): null-tensor, null-data, null-shape, rank,
// dtype, shape-batch, shape-heads, shape-dim, shape-lk-mismatch, device,
// stride-last, negative-stride, misaligned-offset, alias (--alias-with
// NAME, default q), self-overlap, negative-threads; --corrupt-arg picks the
// tensor (q, k, v, o, lse, probs, entropy).
//
// Backward mode (--backward, with --lse): calls NAME, then NAME_backward
// on its o and lse with a seeded random dout, and checks dq, dk and dv
// against the float64 reference of docs/language.md 6.7
// (lib/Reference/AttentionBackward.cpp): ||grad - ref|| / ||ref|| below
// 1e-4 (f32) or 2e-2 (f16/bf16) per gradient, exact zeros for pruned heads,
// rows with no visible key and keys no row sees, and the same memory
// contract (inputs, o and lse unchanged, every gradient element written,
// nothing outside them, bit-identical results for --threads and
// --thread-sweep). With --corrupt KIND --corrupt-arg NAME (q, k, v, o, lse,
// dout, dq, dk, dv; kinds null-tensor, rank, dtype, shape-batch,
// shape-heads, shape-dim, shape-lk-mismatch, stride-last, self-overlap,
// negative-threads) the backward call must fail naming NAME_backward, the
// argument and the dimension, and write nothing.
//
// Prints one line, PASS or FAIL (with details on the following lines), and
// exits with 0 (pass), 1 (fail) or 2 (bad command line).
//
//===----------------------------------------------------------------------===//

#include "mha/Reference/AttentionBackward.h"
#include "mha/Reference/AttentionReference.h"
#include "mha/runtime.h"

#include <dlfcn.h>
#include <dlpack/dlpack.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

enum class DType { F32, F16, BF16 };

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  }
  return "?";
}

int dtypeBytes(DType t) { return t == DType::F32 ? 4 : 2; }

DLDataType dlType(DType t) {
  DLDataType d;
  d.code = t == DType::BF16 ? kDLBfloat : kDLFloat;
  d.bits = t == DType::F32 ? 32 : 16;
  d.lanes = 1;
  return d;
}

// Rounding to the storage types comes from the shared reference library.
using mlir::mha::reference::bfloatToFloat;
using mlir::mha::reference::floatToBFloat;
using mlir::mha::reference::floatToHalf;
using mlir::mha::reference::halfToFloat;

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

struct Options {
  std::string lib, fn;
  DType dtype = DType::F32;
  int64_t B = 1, Hq = -1, Hkv = -1, Lq = -1, Lk = -1, D = -1, Dv = -1;
  bool hasScale = false;
  double scale = 0;
  std::vector<double> temperature, alibi, dropout;
  uint64_t dropoutSeed = 0, dropoutOffset = 0;
  std::vector<int64_t> positions; // query_start, key_start
  bool hasSoftcap = false;
  double softcap = 0;
  bool causal = false;
  std::vector<int64_t> windowLeft, windowRight, headMask, runtimeHeadMask;
  int64_t sinks = 0;
  bool lse = false, probs = false, entropy = false;
  std::string layout = "bhld";
  uint64_t byteOffset = 0;
  int threads = 0;
  uint64_t seed = 1;
  double scoresScale = 1.0;
  double tol = -1; // < 0: the contract's tolerance for the element type.
  int concurrent = 0;
  bool distinctInputs = false;
  int repeat = 5;
  int threadSweep = 0;
  bool verbose = false;
  struct Injection {
    std::string arg;
    int64_t index[4];
    double value;
  };
  std::vector<Injection> injections;
  // Error mode.
  std::string corrupt, corruptArg, aliasWith, expectStatus;
  // --backward: then checks FN_backward after FN.
  bool backward = false;
};

[[noreturn]] void usage(const std::string &msg) {
  std::fprintf(stderr, "mha-check: %s\n", msg.c_str());
  std::fprintf(
      stderr,
      "usage: mha-check LIB.so --fn NAME --dtype f32|f16|bf16 --B N --Hq N "
      "[--Hkv N] --Lq N [--Lk N] --D N [--Dv N] [--scale S] [--temperature "
      "a,b,..] [--softcap C] [--alibi a,b,..] [--causal] [--window-left "
      "a,..] [--window-right a,..] [--sinks N] [--head-mask 1,0,..] "
      "[--runtime-head-mask 1,0,..] [--lse] [--probs] [--entropy] [--layout "
      "bhld|bhld-strided|blhd|padded] [--byte-offset N] [--threads N] "
      "[--seed N] [--scores-scale X] [--tol X] [--inject A:b,h,l,d=X] "
      "[--concurrent N "
      "[--distinct-inputs] [--repeat N]] [--thread-sweep N] [--verbose] "
      "[--corrupt KIND [--corrupt-arg NAME] [--alias-with NAME] "
      "[--expect-status NAME]] [--backward]\n");
  std::exit(2);
}

std::vector<double> parseDoubles(const std::string &flag,
                                 const std::string &s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char *end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end)
      usage("bad number '" + item + "' in " + flag);
    out.push_back(v);
  }
  if (out.empty())
    usage("empty list for " + flag);
  return out;
}

std::vector<int64_t> parseInts(const std::string &flag, const std::string &s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end)
      usage("bad integer '" + item + "' in " + flag);
    out.push_back(v);
  }
  if (out.empty())
    usage("empty list for " + flag);
  return out;
}

Options::Injection parseInjection(const std::string &s) {
  size_t colon = s.find(':'), eq = s.find('=');
  if (colon == std::string::npos || eq == std::string::npos || eq < colon)
    usage("--inject wants A:b,h,l,d=X, not '" + s + "'");
  Options::Injection in;
  in.arg = s.substr(0, colon);
  if (in.arg != "q" && in.arg != "k" && in.arg != "v")
    usage("--inject: the input must be q, k or v, not '" + in.arg + "'");
  std::vector<int64_t> idx =
      parseInts("--inject", s.substr(colon + 1, eq - colon - 1));
  if (idx.size() != 4)
    usage("--inject wants four indices b,h,l,d");
  std::copy(idx.begin(), idx.end(), in.index);
  std::string value = s.substr(eq + 1);
  if (value == "nan")
    in.value = std::numeric_limits<double>::quiet_NaN();
  else if (value == "inf")
    in.value = std::numeric_limits<double>::infinity();
  else if (value == "-inf")
    in.value = -std::numeric_limits<double>::infinity();
  else
    in.value = parseDoubles("--inject", value)[0];
  return in;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  auto value = [&](int &i) -> std::string {
    if (i + 1 >= argc)
      usage(std::string("missing value for ") + argv[i]);
    return argv[++i];
  };
  auto integer = [&](int &i) -> int64_t {
    std::string flag = argv[i];
    std::vector<int64_t> v = parseInts(flag, value(i));
    if (v.size() != 1)
      usage("one integer expected for " + flag);
    return v[0];
  };
  auto number = [&](int &i) -> double {
    std::string flag = argv[i];
    std::vector<double> v = parseDoubles(flag, value(i));
    if (v.size() != 1)
      usage("one number expected for " + flag);
    return v[0];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos)
      usage("use '--flag value', not '--flag=value': " + a);
    if (a == "--fn")
      o.fn = value(i);
    else if (a == "--dtype") {
      std::string d = value(i);
      if (d == "f32")
        o.dtype = DType::F32;
      else if (d == "f16")
        o.dtype = DType::F16;
      else if (d == "bf16")
        o.dtype = DType::BF16;
      else
        usage("bad --dtype " + d);
    } else if (a == "--B")
      o.B = integer(i);
    else if (a == "--Hq")
      o.Hq = integer(i);
    else if (a == "--Hkv")
      o.Hkv = integer(i);
    else if (a == "--Lq")
      o.Lq = integer(i);
    else if (a == "--Lk")
      o.Lk = integer(i);
    else if (a == "--D")
      o.D = integer(i);
    else if (a == "--Dv")
      o.Dv = integer(i);
    else if (a == "--scale") {
      o.hasScale = true;
      o.scale = number(i);
    } else if (a == "--temperature")
      o.temperature = parseDoubles(a, value(i));
    else if (a == "--dropout")
      o.dropout = parseDoubles(a, value(i));
    else if (a == "--dropout-seed")
      o.dropoutSeed = std::stoull(value(i), nullptr, 0);
    else if (a == "--dropout-offset")
      o.dropoutOffset = std::stoull(value(i), nullptr, 0);
    else if (a == "--positions") {
      o.positions = parseInts(a, value(i));
      if (o.positions.size() != 2)
        usage("--positions takes QUERY_START,KEY_START");
    } else if (a == "--softcap") {
      o.hasSoftcap = true;
      o.softcap = number(i);
    } else if (a == "--alibi")
      o.alibi = parseDoubles(a, value(i));
    else if (a == "--causal")
      o.causal = true;
    else if (a == "--window-left")
      o.windowLeft = parseInts(a, value(i));
    else if (a == "--window-right")
      o.windowRight = parseInts(a, value(i));
    else if (a == "--sinks")
      o.sinks = integer(i);
    else if (a == "--head-mask")
      o.headMask = parseInts(a, value(i));
    else if (a == "--runtime-head-mask")
      o.runtimeHeadMask = parseInts(a, value(i));
    else if (a == "--lse")
      o.lse = true;
    else if (a == "--probs")
      o.probs = true;
    else if (a == "--entropy")
      o.entropy = true;
    else if (a == "--layout")
      o.layout = value(i);
    else if (a == "--byte-offset")
      o.byteOffset = (uint64_t)integer(i);
    else if (a == "--threads")
      o.threads = (int)integer(i);
    else if (a == "--seed")
      o.seed = (uint64_t)integer(i);
    else if (a == "--scores-scale")
      o.scoresScale = number(i);
    else if (a == "--tol")
      o.tol = number(i);
    else if (a == "--inject")
      o.injections.push_back(parseInjection(value(i)));
    else if (a == "--concurrent")
      o.concurrent = (int)integer(i);
    else if (a == "--distinct-inputs")
      o.distinctInputs = true;
    else if (a == "--repeat")
      o.repeat = (int)integer(i);
    else if (a == "--thread-sweep")
      o.threadSweep = (int)integer(i);
    else if (a == "--verbose")
      o.verbose = true;
    else if (a == "--backward")
      o.backward = true;
    else if (a == "--corrupt")
      o.corrupt = value(i);
    else if (a == "--corrupt-arg")
      o.corruptArg = value(i);
    else if (a == "--alias-with")
      o.aliasWith = value(i);
    else if (a == "--expect-status")
      o.expectStatus = value(i);
    else if (!a.empty() && a[0] == '-')
      usage("unknown flag " + a);
    else if (o.lib.empty())
      o.lib = a;
    else
      usage("more than one library: " + a);
  }
  return o;
}

//===----------------------------------------------------------------------===//
// Tensors with guard regions
//===----------------------------------------------------------------------===//

constexpr size_t kGuard = 4096;

// Poison patterns: NaNs, so that an unwritten output or a read outside an
// input shows up in the results.
uint32_t outputPoison(int bytes, DType t) {
  if (bytes == 4)
    return 0x7fd5a5a5u;
  return t == DType::BF16 ? 0x7fd5u : 0x7e5au;
}
uint32_t inputPoison(int bytes, DType t) {
  if (bytes == 4)
    return 0xfff5a5a5u;
  return t == DType::BF16 ? 0xffd5u : 0xfe5au;
}

struct FreeDeleter {
  void operator()(uint8_t *p) const { std::free(p); }
};

struct Tensor {
  std::string name; // The C parameter: q, k, v, o, lse, probs, entropy.
  DType dtype = DType::F32;
  int elem = 4;
  int rank = 4;
  int64_t sizes[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0}; // In elements.
  bool nullStrides = true;
  uint64_t byteOffset = 0;
  int64_t span = 0; // Elements from the first to one past the last; 0 if empty.
  size_t extraTail = 0;
  std::unique_ptr<uint8_t, FreeDeleter> alloc;
  size_t allocBytes = 0;
  uint32_t poison = 0;
  DLTensor dl{};
  int64_t shapeArr[4] = {0, 0, 0, 0};
  int64_t strideArr[4] = {0, 0, 0, 0};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d)
      n *= sizes[d];
    return n;
  }
  uint8_t *data() const { return alloc.get() + kGuard; }
  uint8_t *base() const { return data() + byteOffset; }
  int64_t offset(const int64_t *idx) const {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d)
      off += idx[d] * strides[d];
    return off;
  }
  int64_t offset4(int64_t a, int64_t b, int64_t c, int64_t d) const {
    int64_t idx[4] = {a, b, c, d};
    return offset(idx);
  }
  double load(int64_t off) const {
    const uint8_t *p = base() + off * elem;
    if (elem == 4) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, p, 2);
    return dtype == DType::BF16 ? bfloatToFloat(h) : halfToFloat(h);
  }
  uint32_t loadBits(int64_t off) const {
    const uint8_t *p = base() + off * elem;
    if (elem == 4) {
      uint32_t u;
      std::memcpy(&u, p, 4);
      return u;
    }
    uint16_t h;
    std::memcpy(&h, p, 2);
    return h;
  }
  // Stores `v` rounded to the element type; returns the stored value.
  double store(int64_t off, double v) {
    uint8_t *p = base() + off * elem;
    float f = (float)v;
    if (elem == 4) {
      std::memcpy(p, &f, 4);
      return f;
    }
    uint16_t h = dtype == DType::BF16 ? floatToBFloat(f) : floatToHalf(f);
    std::memcpy(p, &h, 2);
    return dtype == DType::BF16 ? bfloatToFloat(h) : halfToFloat(h);
  }
  void fillPoison() {
    uint8_t *p = alloc.get();
    size_t n = allocBytes / (size_t)elem;
    for (size_t i = 0; i < n; ++i)
      std::memcpy(p + i * elem, &poison, (size_t)elem);
    for (size_t i = n * elem; i < allocBytes; ++i)
      p[i] = 0xa5;
  }
  std::vector<uint8_t> snapshot() const {
    return std::vector<uint8_t>(alloc.get(), alloc.get() + allocBytes);
  }
  // Marks every element's bytes (relative to alloc) as covered.
  std::vector<uint8_t> coverage() const {
    std::vector<uint8_t> cov(allocBytes, 0);
    if (numel() == 0)
      return cov;
    size_t start = kGuard + byteOffset;
    int64_t idx[4] = {0, 0, 0, 0};
    int64_t n = numel();
    for (int64_t e = 0; e < n; ++e) {
      int64_t rem = e;
      for (int d = rank - 1; d >= 0; --d) {
        idx[d] = rem % sizes[d];
        rem /= sizes[d];
      }
      size_t at = start + (size_t)(offset(idx) * elem);
      std::memset(&cov[at], 1, (size_t)elem);
    }
    return cov;
  }
};

// Lays out a tensor of logical `sizes` (rank 3 or 4, [B, H, L, X]) and
// allocates it with guards.
void layOut(Tensor &t, const std::string &layout) {
  int r = t.rank;
  int order[4]; // Storage order, outermost first.
  for (int d = 0; d < r; ++d)
    order[d] = d;
  // pad[k]: extra elements added to the stride of storage dim k (so
  // there are gaps between the slices of the dims inside it).
  int64_t pad[4] = {0, 0, 0, 0};
  t.nullStrides = layout == "bhld";
  if (layout == "blhd" && r == 4) {
    order[1] = 2;
    order[2] = 1;
  } else if (layout == "blhd" && r == 3) {
    // [B, L, H] storage would make the last dim strided: keep it compact.
    t.nullStrides = true;
  } else if (layout == "padded") {
    static const int64_t pads[3] = {7, 5, 3};
    for (int k = 0; k < r - 1; ++k)
      pad[k] = pads[3 - (r - 1) + k];
  }
  t.strides[order[r - 1]] = 1;
  for (int k = r - 2; k >= 0; --k) {
    int inner = order[k + 1];
    t.strides[order[k]] =
        t.strides[inner] * std::max<int64_t>(t.sizes[inner], 1) + pad[k];
  }
  t.span = 0;
  if (t.numel() > 0) {
    t.span = 1;
    for (int d = 0; d < r; ++d)
      t.span += (t.sizes[d] - 1) * t.strides[d];
  }
  t.allocBytes = kGuard + (size_t)t.byteOffset + (size_t)t.span * t.elem +
                 t.extraTail + kGuard;
  t.allocBytes = (t.allocBytes + 63) / 64 * 64;
  void *p = nullptr;
  if (posix_memalign(&p, 4096, t.allocBytes) != 0) {
    std::fprintf(stderr, "mha-check: out of memory\n");
    std::exit(2);
  }
  t.alloc.reset((uint8_t *)p);
  for (int d = 0; d < r; ++d) {
    t.shapeArr[d] = t.sizes[d];
    t.strideArr[d] = t.strides[d];
  }
  t.dl.data = t.data();
  t.dl.device.device_type = kDLCPU;
  t.dl.device.device_id = 0;
  t.dl.ndim = r;
  t.dl.dtype = dlType(t.dtype);
  t.dl.shape = t.shapeArr;
  t.dl.strides = t.nullStrides ? nullptr : t.strideArr;
  t.dl.byte_offset = t.byteOffset;
}

//===----------------------------------------------------------------------===//
// The problem and its reference
//===----------------------------------------------------------------------===//

/// Whether a call with NULL options is the call the options describe (no
/// runtime mask, dropout seed and offset 0).
bool nullOptionsMeanTheSame(const Options &opt) {
  return opt.runtimeHeadMask.empty() && opt.dropoutSeed == 0 &&
         opt.dropoutOffset == 0 && opt.positions.empty();
}

enum RowState : uint8_t { kNormal = 0, kNoKey = 1, kPruned = 2 };

struct Problem {
  Options opt;
  int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
  float scale;
  std::vector<float> temperature, alibi, dropout;
  std::vector<int64_t> wl, wr;
  std::vector<uint8_t> alive, staticAlive, runtimeMask;
  // Inputs as handed to the library (rounded), logical [B, H, L, X].
  std::vector<double> q, k, v;
  // Reference results.
  std::vector<double> o, lse, probs, ent;
  // The reference's problem, for the backward.
  mlir::mha::reference::AttentionProblem pr;
  std::vector<uint8_t> rowState, visible;
};

template <typename T>
std::vector<T> perHead(const char *what, const std::vector<T> &in, int64_t Hq,
                       T dflt) {
  if (in.empty())
    return std::vector<T>((size_t)Hq, dflt);
  if (in.size() == 1)
    return std::vector<T>((size_t)Hq, in[0]);
  if ((int64_t)in.size() != Hq)
    usage(std::string(what) + " needs 1 or Hq values");
  return in;
}

struct Rng {
  std::mt19937_64 gen;
  bool has = false;
  double spare = 0;
  explicit Rng(uint64_t seed) : gen(seed) {}
  double uniform() {
    // (0, 1]
    return ((double)(gen() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  }
  double normal() {
    if (has) {
      has = false;
      return spare;
    }
    double u = uniform(), w = uniform();
    double r = std::sqrt(-2.0 * std::log(u));
    spare = r * std::sin(2 * M_PI * w);
    has = true;
    return r * std::cos(2 * M_PI * w);
  }
};

/// The float64 reference of docs/language.md (lib/Reference), plus what the
/// checks need to know about each row and key.
void computeReference(Problem &p) {
  namespace ref = mlir::mha::reference;
  const Options &opt = p.opt;
  ref::AttentionProblem pr;
  pr.batch = p.B;
  pr.queryHeads = p.Hq;
  pr.kvHeads = p.Hkv;
  pr.queryLen = p.Lq;
  pr.keyLen = p.Lk;
  pr.headDim = p.D;
  pr.valueDim = p.Dv;
  pr.scale = p.scale;
  pr.temperature.assign(p.temperature.begin(), p.temperature.end());
  if (opt.hasSoftcap)
    pr.softcap = (double)(float)opt.softcap;
  pr.hasAlibi = true; // Zero slopes when --alibi is absent.
  pr.alibiSlopes.assign(p.alibi.begin(), p.alibi.end());
  pr.causal = opt.causal;
  pr.windowLeft = p.wl;
  pr.windowRight = p.wr;
  pr.sinkTokens = opt.sinks;
  for (uint8_t a : p.alive)
    pr.headAlive.push_back(a != 0);
  pr.dropout = p.dropout;
  pr.dropoutSeed = opt.dropoutSeed;
  pr.dropoutOffset = opt.dropoutOffset;
  if (!opt.positions.empty()) {
    pr.usePositions = true;
    pr.queryStart = opt.positions[0];
    pr.keyStart = opt.positions[1];
  }
  ref::AttentionResult r = ref::computeAttention(pr, p.q, p.k, p.v);
  p.pr = pr;
  p.o = std::move(r.output);
  p.lse = std::move(r.lse);
  p.probs = std::move(r.probs);
  p.ent = std::move(r.entropy);

  size_t rows = (size_t)(p.B * p.Hq * p.Lq);
  p.visible.assign(rows * (size_t)p.Lk, 0);
  p.rowState.assign(rows, kNormal);
  for (size_t row = 0; row < rows; ++row) {
    int64_t i = (int64_t)row % p.Lq, h = ((int64_t)row / p.Lq) % p.Hq;
    bool any = false;
    for (int64_t j = 0; j < p.Lk; ++j) {
      bool visible = pr.isVisible(h, i, j);
      p.visible[row * p.Lk + j] = visible;
      any |= visible;
    }
    if (!p.alive[h]) {
      p.rowState[row] = kPruned;
      p.lse[row] = std::numeric_limits<double>::quiet_NaN();
    } else if (!any) {
      p.rowState[row] = kNoKey;
    }
  }
}

//===----------------------------------------------------------------------===//
// Calling the library
//===----------------------------------------------------------------------===//

using Fn4 = int32_t (*)(const DLTensor *, const DLTensor *, const DLTensor *,
                        DLTensor *, const mha_options *);
using Fn5 = int32_t (*)(const DLTensor *, const DLTensor *, const DLTensor *,
                        DLTensor *, DLTensor *, const mha_options *);
using Fn6 = int32_t (*)(const DLTensor *, const DLTensor *, const DLTensor *,
                        DLTensor *, DLTensor *, DLTensor *,
                        const mha_options *);
using Fn7 = int32_t (*)(const DLTensor *, const DLTensor *, const DLTensor *,
                        DLTensor *, DLTensor *, DLTensor *, DLTensor *,
                        const mha_options *);

struct Library {
  void *handle = nullptr;
  void *fn = nullptr;
  const char *(*lastError)(void) = nullptr;
  const char *(*statusString)(mha_status) = nullptr;
};

int32_t callFn(const Library &lib, const std::vector<const DLTensor *> &ts,
               const mha_options *opts) {
  auto m = [&](size_t i) { return const_cast<DLTensor *>(ts[i]); };
  switch (ts.size()) {
  case 4:
    return ((Fn4)lib.fn)(ts[0], ts[1], ts[2], m(3), opts);
  case 5:
    return ((Fn5)lib.fn)(ts[0], ts[1], ts[2], m(3), m(4), opts);
  case 6:
    return ((Fn6)lib.fn)(ts[0], ts[1], ts[2], m(3), m(4), m(5), opts);
  case 7:
    return ((Fn7)lib.fn)(ts[0], ts[1], ts[2], m(3), m(4), m(5), m(6), opts);
  }
  std::fprintf(stderr, "mha-check: unsupported tensor count\n");
  std::exit(2);
}

const char *kStatusNames[] = {"MHA_OK",
                              "MHA_ERR_NULL_POINTER",
                              "MHA_ERR_RANK",
                              "MHA_ERR_DTYPE",
                              "MHA_ERR_SHAPE",
                              "MHA_ERR_DEVICE",
                              "MHA_ERR_LAYOUT",
                              "MHA_ERR_INVALID_ARGUMENT",
                              "MHA_ERR_NO_DEVICE",
                              "MHA_ERR_CUDA",
                              "MHA_ERR_OUT_OF_MEMORY",
                              "MHA_ERR_INTERNAL"};

std::string statusName(int32_t s) {
  if (s >= 0 && s < (int32_t)(sizeof(kStatusNames) / sizeof(*kStatusNames)))
    return kStatusNames[s];
  return "status " + std::to_string(s);
}

int32_t parseStatus(const std::string &name) {
  for (size_t i = 0; i < sizeof(kStatusNames) / sizeof(*kStatusNames); ++i) {
    std::string full = kStatusNames[i];
    if (name == full || "MHA_ERR_" + name == full || "MHA_" + name == full)
      return (int32_t)i;
  }
  usage("unknown status " + name);
}

//===----------------------------------------------------------------------===//
// The checker
//===----------------------------------------------------------------------===//

struct Checker {
  Problem &p;
  Library &lib;
  std::vector<std::string> failures;
  double maxRelErr = 0;
  std::string notes;

  Checker(Problem &p, Library &lib) : p(p), lib(lib) {}

  void fail(const std::string &msg) {
    if (failures.size() < 40)
      failures.push_back(msg);
  }
  template <typename... A> std::string fmt(const char *f, A... a) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), f, a...);
    return buf;
  }

  double oTol() const {
    if (p.opt.tol >= 0)
      return p.opt.tol;
    return p.opt.dtype == DType::F32 ? 1e-5 : 1e-2;
  }
  // lse, probs and entropy are f32 results computed with f32 accumulation.
  double f32ResultTol() const {
    if (p.opt.tol >= 0)
      return p.opt.tol;
    return p.opt.dtype == DType::F32 ? 1e-5 : 1e-2;
  }
  double entropyTol() const {
    if (p.opt.tol >= 0)
      return std::max(p.opt.tol, 1e-4);
    return p.opt.dtype == DType::F32 ? 1e-4 : 1e-2;
  }

  std::string idx4(int64_t a, int64_t b, int64_t c, int64_t d) {
    return fmt("[%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "]", a, b, c, d);
  }
  std::string idx3(int64_t a, int64_t b, int64_t c) {
    return fmt("[%" PRId64 ",%" PRId64 ",%" PRId64 "]", a, b, c);
  }
  const char *stateName(uint8_t s) {
    return s == kPruned  ? " (pruned head)"
           : s == kNoKey ? " (row with no visible key)"
                         : "";
  }

  // Bytes outside the elements must still hold the poison.
  void checkUntouched(const Tensor &t, const std::vector<uint8_t> &before) {
    std::vector<uint8_t> cov = t.coverage();
    const uint8_t *now = t.alloc.get();
    size_t start = kGuard + t.byteOffset;
    size_t end = start + (size_t)t.span * t.elem;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < t.allocBytes; ++i)
      if (!cov[i] && now[i] != before[i]) {
        if (!bad)
          first = i;
        ++bad;
      }
    if (bad) {
      const char *where =
          first < start  ? "before the tensor (guard/byte_offset region)"
          : first >= end ? "after the tensor (guard region)"
                         : "in a gap between elements (strided layout)";
      fail(fmt("output '%s': %zu byte(s) outside its elements were written; "
               "first at byte %lld relative to the tensor's start, %s",
               t.name.c_str(), bad, (long long)first - (long long)start,
               where));
    }
  }

  /// What to do with a result element after checkValue.
  enum class Verdict { Compare, Matched, Bad };

  // Every element is written (not the poison) and a real number, unless the
  // reference has NaN or an infinity there: then it must have the same
  // (--inject; NaN and infinities propagate as in IEEE arithmetic). A
  // matched non-finite element is left out of the error norms.
  Verdict checkValue(const Tensor &t, int64_t off, const std::string &where,
                     double val, double ref, int &reported) {
    bool poisoned = t.loadBits(off) == t.poison;
    if (!poisoned && !std::isfinite(ref)) {
      if (std::isnan(ref) ? std::isnan(val) : val == ref)
        return Verdict::Matched;
      if (reported++ < 4)
        fail(fmt("output '%s'%s is %g but the reference is %g", t.name.c_str(),
                 where.c_str(), val, ref));
      return Verdict::Bad;
    }
    if (!poisoned &&
        (std::isfinite(val) || (std::isinf(val) && val < 0 && t.name == "lse")))
      return Verdict::Compare;
    if (reported++ < 4) {
      if (poisoned)
        fail(fmt("output '%s'%s was not written (still holds the poison)",
                 t.name.c_str(), where.c_str()));
      else
        fail(fmt("output '%s'%s is %g (reference %g)", t.name.c_str(),
                 where.c_str(), val, ref));
    }
    return Verdict::Bad;
  }

  void checkO(const Tensor &t) {
    double err2 = 0, ref2 = 0;
    int reported = 0, zeroReported = 0;
    bool bad = false;
    int64_t rows = p.B * p.Hq * p.Lq;
    std::vector<double> rowErr((size_t)rows, 0), rowRef((size_t)rows, 0);
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < p.Hq; ++h)
        for (int64_t i = 0; i < p.Lq; ++i) {
          size_t row = (size_t)((b * p.Hq + h) * p.Lq + i);
          for (int64_t d = 0; d < p.Dv; ++d) {
            int64_t off = t.offset4(b, h, i, d);
            double val = t.load(off);
            double ref = p.o[row * p.Dv + d];
            Verdict verdict =
                checkValue(t, off, idx4(b, h, i, d), val, ref, reported);
            bad |= verdict == Verdict::Bad;
            if (verdict != Verdict::Compare)
              continue;
            if (p.rowState[row] != kNormal && val != 0) {
              if (zeroReported++ < 4)
                fail(fmt("o%s is %g but must be 0%s", idx4(b, h, i, d).c_str(),
                         val, stateName(p.rowState[row])));
              bad = true;
            }
            double e = (val - ref) * (val - ref);
            err2 += e;
            ref2 += ref * ref;
            rowErr[row] += e;
            rowRef[row] += ref * ref;
          }
        }
    if (bad || rows == 0 || p.Dv == 0)
      return;
    double tol = oTol();
    if (ref2 == 0) {
      double maxAbs = std::sqrt(err2);
      if (maxAbs >= 1e-6)
        fail(fmt("o: the reference is all zeros but ||o|| = %g", maxAbs));
      return;
    }
    double rel = std::sqrt(err2 / ref2);
    maxRelErr = std::max(maxRelErr, rel);
    if (!(rel < tol))
      fail(fmt("o: relative error %.3g exceeds %.3g", rel, tol));
    // Per row, against the larger of the row's norm and the typical row
    // norm, with 10x the tolerance: a few wrong rows cannot hide in a big
    // tensor.
    double typical = std::sqrt(ref2 / (double)rows);
    int rowReported = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double den = std::max(std::sqrt(rowRef[r]), typical);
      double e = std::sqrt(rowErr[r]) / den;
      if (!(e < 10 * tol) && rowReported++ < 4) {
        int64_t i = r % p.Lq, h = (r / p.Lq) % p.Hq, b = r / (p.Lq * p.Hq);
        fail(fmt("o row %s: relative error %.3g exceeds %.3g",
                 idx3(b, h, i).c_str(), e, 10 * tol));
      }
    }
  }

  void checkLse(const Tensor &t) {
    double err2 = 0, ref2 = 0;
    int reported = 0, exact = 0;
    double tol = f32ResultTol();
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < p.Hq; ++h)
        for (int64_t i = 0; i < p.Lq; ++i) {
          size_t row = (size_t)((b * p.Hq + h) * p.Lq + i);
          if (p.rowState[row] == kPruned)
            continue; // Unspecified.
          int64_t off = t.offset4(b, h, i, 0);
          double val = t.load(off);
          if (checkValue(t, off, idx3(b, h, i), val, p.lse[row], reported) !=
              Verdict::Compare)
            continue;
          if (p.rowState[row] == kNoKey) {
            if (!(std::isinf(val) && val < 0) && exact++ < 4)
              fail(fmt("lse%s is %g but must be -inf (no visible key)",
                       idx3(b, h, i).c_str(), val));
            continue;
          }
          if (std::isinf(val)) {
            if (exact++ < 4)
              fail(fmt("lse%s is -inf but the row has visible keys "
                       "(reference %g)",
                       idx3(b, h, i).c_str(), p.lse[row]));
            continue;
          }
          double ref = p.lse[row];
          double e = std::fabs(val - ref);
          if (!(e <= 10 * tol * std::max(1.0, std::fabs(ref))) && exact++ < 4)
            fail(fmt("lse%s is %.9g, reference %.9g", idx3(b, h, i).c_str(),
                     val, ref));
          err2 += e * e;
          ref2 += ref * ref;
        }
    if (ref2 > 0) {
      double rel = std::sqrt(err2 / ref2);
      maxRelErr = std::max(maxRelErr, rel);
      if (!(rel < tol))
        fail(fmt("lse: relative error %.3g exceeds %.3g", rel, tol));
    } else if (std::sqrt(err2) >= 1e-6) {
      fail(fmt("lse: the reference is all zeros but the error is %g",
               std::sqrt(err2)));
    }
  }

  void checkProbs(const Tensor &t) {
    double err2 = 0, ref2 = 0;
    int reported = 0, zeros = 0;
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < p.Hq; ++h)
        for (int64_t i = 0; i < p.Lq; ++i) {
          size_t row = (size_t)((b * p.Hq + h) * p.Lq + i);
          for (int64_t j = 0; j < p.Lk; ++j) {
            int64_t off = t.offset4(b, h, i, j);
            double val = t.load(off);
            if (checkValue(t, off, idx4(b, h, i, j), val,
                           p.probs[row * p.Lk + j],
                           reported) != Verdict::Compare)
              continue;
            bool mustBeZero =
                p.rowState[row] != kNormal || !p.visible[row * p.Lk + j];
            if (mustBeZero && val != 0) {
              if (zeros++ < 4)
                fail(fmt("probs%s is %g but must be 0 (%s)",
                         idx4(b, h, i, j).c_str(), val,
                         p.rowState[row] == kPruned  ? "pruned head"
                         : p.rowState[row] == kNoKey ? "no visible key"
                                                     : "invisible key"));
              continue;
            }
            if (val < 0 || val > 1.000001) {
              if (zeros++ < 4)
                fail(fmt("probs%s is %g, not a probability",
                         idx4(b, h, i, j).c_str(), val));
            }
            double ref = p.probs[row * p.Lk + j];
            err2 += (val - ref) * (val - ref);
            ref2 += ref * ref;
          }
        }
    double tol = f32ResultTol();
    if (ref2 > 0) {
      double rel = std::sqrt(err2 / ref2);
      maxRelErr = std::max(maxRelErr, rel);
      if (!(rel < tol))
        fail(fmt("probs: relative error %.3g exceeds %.3g", rel, tol));
    } else if (std::sqrt(err2) >= 1e-6) {
      fail(fmt("probs: the reference is all zeros but the error is %g",
               std::sqrt(err2)));
    }
  }

  void checkEntropy(const Tensor &t) {
    int reported = 0, bad = 0;
    double tol = entropyTol();
    double maxErr = 0;
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < p.Hq; ++h)
        for (int64_t i = 0; i < p.Lq; ++i) {
          size_t row = (size_t)((b * p.Hq + h) * p.Lq + i);
          int64_t off = t.offset4(b, h, i, 0);
          double val = t.load(off);
          if (checkValue(t, off, idx3(b, h, i), val, p.ent[row], reported) !=
              Verdict::Compare)
            continue;
          if (p.rowState[row] != kNormal) {
            if (val != 0 && bad++ < 4)
              fail(fmt("entropy%s is %g but must be 0%s", idx3(b, h, i).c_str(),
                       val, stateName(p.rowState[row])));
            continue;
          }
          double ref = p.ent[row];
          double e = std::fabs(val - ref) / std::max(1.0, std::fabs(ref));
          maxErr = std::max(maxErr, e);
          if (!(e < tol) && bad++ < 4)
            fail(fmt("entropy%s is %.9g, reference %.9g (error %.3g > %.3g)",
                     idx3(b, h, i).c_str(), val, ref, e, tol));
        }
    notes += fmt(" max_entropy_err=%.3g", maxErr);
  }
};

//===----------------------------------------------------------------------===//
// Main
//===----------------------------------------------------------------------===//

struct Setup {
  std::vector<std::unique_ptr<Tensor>> inputs, outputs;
};

std::unique_ptr<Tensor> makeTensor(const std::string &name, DType dt, int elem,
                                   std::vector<int64_t> sizes,
                                   const Options &opt, size_t extraTail) {
  auto t = std::make_unique<Tensor>();
  t->name = name;
  t->dtype = dt;
  t->elem = elem;
  t->rank = (int)sizes.size();
  for (int d = 0; d < t->rank; ++d)
    t->sizes[d] = sizes[d];
  // --byte-offset N applies to every tensor, rounded up to a multiple of its
  // element size (so 6 gives f16 inputs 6 and f32 results 8).
  t->byteOffset =
      (opt.byteOffset + (uint64_t)elem - 1) / (uint64_t)elem * (uint64_t)elem;
  t->extraTail = extraTail;
  layOut(*t, opt.layout);
  return t;
}

std::vector<std::unique_ptr<Tensor>>
makeOutputs(const Problem &p, const std::vector<size_t> &extraTails) {
  const Options &opt = p.opt;
  std::vector<std::unique_ptr<Tensor>> outs;
  size_t n = 0;
  auto extra = [&]() { return n < extraTails.size() ? extraTails[n++] : 0; };
  outs.push_back(makeTensor("o", opt.dtype, dtypeBytes(opt.dtype),
                            {p.B, p.Hq, p.Lq, p.Dv}, opt, extra()));
  if (opt.lse)
    outs.push_back(
        makeTensor("lse", DType::F32, 4, {p.B, p.Hq, p.Lq}, opt, extra()));
  if (opt.probs)
    outs.push_back(makeTensor("probs", DType::F32, 4, {p.B, p.Hq, p.Lq, p.Lk},
                              opt, extra()));
  if (opt.entropy)
    outs.push_back(
        makeTensor("entropy", DType::F32, 4, {p.B, p.Hq, p.Lq}, opt, extra()));
  for (auto &t : outs) {
    t->poison = outputPoison(t->elem, t->dtype);
    t->fillPoison();
  }
  return outs;
}

std::string shapeString(const Problem &p) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "B%" PRId64 ",Hq%" PRId64 ",Hkv%" PRId64 ",Lq%" PRId64
                ",Lk%" PRId64 ",D%" PRId64 ",Dv%" PRId64,
                p.B, p.Hq, p.Hkv, p.Lq, p.Lk, p.D, p.Dv);
  return buf;
}

int finish(Checker &c, const std::string &head, const std::string &tail) {
  if (c.failures.empty()) {
    std::printf("PASS %s%s\n", head.c_str(), tail.c_str());
    return 0;
  }
  std::printf("FAIL %s%s\n", head.c_str(), tail.c_str());
  for (const std::string &f : c.failures)
    std::printf("  %s\n", f.c_str());
  return 1;
}

size_t tensorIndex(const Setup &s, const std::string &name) {
  size_t i = 0;
  for (auto &t : s.inputs) {
    if (t->name == name)
      return i;
    ++i;
  }
  for (auto &t : s.outputs) {
    if (t->name == name)
      return i;
    ++i;
  }
  usage("no tensor named '" + name + "' in this call");
}

//===----------------------------------------------------------------------===//
// Backward mode
//===----------------------------------------------------------------------===//

using Fn10 = int32_t (*)(const DLTensor *, const DLTensor *, const DLTensor *,
                         const DLTensor *, const DLTensor *, const DLTensor *,
                         DLTensor *, DLTensor *, DLTensor *,
                         const mha_options *);
// The same with dentropy after dout.
using Fn11 = int32_t (*)(const DLTensor *, const DLTensor *, const DLTensor *,
                         const DLTensor *, const DLTensor *, const DLTensor *,
                         const DLTensor *, DLTensor *, DLTensor *, DLTensor *,
                         const mha_options *);

/// Checks NAME_backward after a successful forward call on `fwd` (q, k, v,
/// then o, lse, ...).
int runBackward(Problem &p, Library &lib, Setup &fwd, const std::string &head,
                const mha_options &mopts) {
  namespace ref = mlir::mha::reference;
  const Options &opt = p.opt;
  Checker c(p, lib);
  std::string fnName = opt.fn + "_backward";
  void *fn = dlsym(lib.handle, fnName.c_str());
  if (!fn) {
    c.fail("the library exports no function '" + fnName + "'");
    return finish(c, head, " backward");
  }
  if (!opt.lse || fwd.outputs.size() < 2 || fwd.outputs[1]->name != "lse")
    usage("--backward needs --lse (the forward must return lse)");
  auto lastError = [&]() -> std::string {
    if (!lib.lastError)
      return "";
    const char *m = lib.lastError();
    return m ? m : "(null)";
  };
  // The forward, once, on one thread: its o and lse feed the backward.
  {
    std::vector<const DLTensor *> v;
    for (auto &t : fwd.inputs)
      v.push_back(&t->dl);
    for (auto &t : fwd.outputs)
      v.push_back(&t->dl);
    mha_options o1 = mopts;
    o1.num_threads = 1;
    int32_t st = callFn(lib, v, &o1);
    if (st != MHA_OK) {
      c.fail(c.fmt("forward status %s: \"%s\"", statusName(st).c_str(),
                   lastError().c_str()));
      return finish(c, head, " backward");
    }
  }
  int el = dtypeBytes(opt.dtype);
  // dout (and dentropy, with --entropy): seeded random normal values
  // rounded to the element type.
  auto randomGradient = [&](const std::string &name, DType dt, int elem,
                            std::vector<int64_t> sizes, uint64_t stream,
                            std::vector<double> &values) {
    auto t = makeTensor(name, dt, elem, std::move(sizes), opt, 0);
    t->poison = inputPoison(t->elem, t->dtype);
    t->fillPoison();
    values.assign((size_t)t->numel(), 0.0);
    Rng rng(opt.seed * 7919 + stream);
    int64_t idx[4] = {0, 0, 0, 0};
    for (int64_t e = 0; e < t->numel(); ++e) {
      int64_t rem = e;
      for (int d = t->rank - 1; d >= 0; --d) {
        idx[d] = rem % t->sizes[d];
        rem /= t->sizes[d];
      }
      values[(size_t)e] = t->store(t->offset(idx), rng.normal());
    }
    return t;
  };
  std::vector<double> doutRef, dentropyRef;
  auto dout = randomGradient("dout", opt.dtype, el, {p.B, p.Hq, p.Lq, p.Dv}, 17,
                             doutRef);
  std::unique_ptr<Tensor> dentropy;
  if (opt.entropy)
    dentropy = randomGradient("dentropy", DType::F32, 4, {p.B, p.Hq, p.Lq}, 29,
                              dentropyRef);
  auto makeGrads = [&]() {
    std::vector<std::unique_ptr<Tensor>> g;
    g.push_back(
        makeTensor("dq", opt.dtype, el, {p.B, p.Hq, p.Lq, p.D}, opt, 0));
    g.push_back(
        makeTensor("dk", opt.dtype, el, {p.B, p.Hkv, p.Lk, p.D}, opt, 0));
    g.push_back(
        makeTensor("dv", opt.dtype, el, {p.B, p.Hkv, p.Lk, p.Dv}, opt, 0));
    for (auto &t : g) {
      t->poison = outputPoison(t->elem, t->dtype);
      t->fillPoison();
    }
    return g;
  };
  std::vector<std::unique_ptr<Tensor>> grads = makeGrads();
  std::vector<Tensor *> inputs = {fwd.inputs[0].get(),  fwd.inputs[1].get(),
                                  fwd.inputs[2].get(),  fwd.outputs[0].get(),
                                  fwd.outputs[1].get(), dout.get()};
  if (dentropy)
    inputs.push_back(dentropy.get());
  std::vector<std::vector<uint8_t>> inputImages;
  for (Tensor *t : inputs)
    inputImages.push_back(t->snapshot());
  auto ptrsOf = [&](std::vector<std::unique_ptr<Tensor>> &g) {
    std::vector<DLTensor *> v;
    for (Tensor *t : inputs)
      v.push_back(&t->dl);
    for (auto &t : g)
      v.push_back(&t->dl);
    return v;
  };
  auto call = [&](const std::vector<DLTensor *> &v, const mha_options *o) {
    if (v.size() == 10)
      return ((Fn11)fn)(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                        v[9], o);
    return ((Fn10)fn)(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], o);
  };

  //===------------------------------------------------------------------===//
  // Error mode: the backward call with one bad argument.
  //===------------------------------------------------------------------===//
  if (!opt.corrupt.empty()) {
    const std::string kind = opt.corrupt;
    std::string arg = opt.corruptArg.empty() ? "dq" : opt.corruptArg;
    std::vector<DLTensor *> ptrs = ptrsOf(grads);
    std::vector<DLTensor> dls;
    for (DLTensor *t : ptrs)
      dls.push_back(*t);
    std::vector<std::string> names;
    for (Tensor *t : inputs)
      names.push_back(t->name);
    for (auto &t : grads)
      names.push_back(t->name);
    size_t ai = 0;
    bool found = false;
    for (size_t i = 0; i < names.size(); ++i)
      if (kind != "negative-threads" && arg == names[i]) {
        ai = i;
        found = true;
      }
    if (!found && kind != "negative-threads")
      usage("--corrupt-arg must name a backward tensor, not '" + arg + "'");
    const Tensor &ten =
        ai < inputs.size() ? *inputs[ai] : *grads[ai - inputs.size()];
    DLTensor &d = dls[ai];
    int64_t shape[4], strides[4];
    std::memcpy(shape, ten.sizes, sizeof(shape));
    std::memcpy(strides, ten.strides, sizeof(strides));
    auto bump = [](int64_t &x) { x = x > 1 ? x - 1 : x + 1; };
    bool wantDim = false, nullTensor = false;
    mha_options eopts = mopts;
    eopts.num_threads = opt.threads;
    std::string expect;
    if (kind == "null-tensor") {
      nullTensor = true;
      expect = "MHA_ERR_NULL_POINTER";
    } else if (kind == "rank") {
      d.ndim -= 1;
      expect = "MHA_ERR_RANK";
    } else if (kind == "dtype") {
      d.dtype = d.dtype.bits == 32          ? dlType(DType::F16)
                : d.dtype.code == kDLBfloat ? dlType(DType::F16)
                                            : dlType(DType::BF16);
      expect = "MHA_ERR_DTYPE";
    } else if (kind == "shape-batch" || kind == "shape-heads" ||
               kind == "shape-dim" || kind == "shape-lk-mismatch") {
      int dim = kind == "shape-batch"   ? 0
                : kind == "shape-heads" ? 1
                : kind == "shape-dim"   ? ten.rank - 1
                                        : 2;
      bump(shape[dim]);
      d.shape = shape;
      wantDim = true;
      expect = "MHA_ERR_SHAPE";
    } else if (kind == "stride-last") {
      strides[ten.rank - 1] = 2;
      d.strides = strides;
      wantDim = true;
      expect = "MHA_ERR_LAYOUT";
    } else if (kind == "self-overlap") {
      strides[1] = 0;
      d.strides = strides;
      wantDim = true;
      expect = "MHA_ERR_LAYOUT";
    } else if (kind == "negative-threads") {
      eopts.num_threads = -1;
      arg = "num_threads";
      expect = "MHA_ERR_INVALID_ARGUMENT";
    } else {
      usage("--corrupt " + kind + " is not supported with --backward");
    }
    int32_t expected =
        parseStatus(opt.expectStatus.empty() ? expect : opt.expectStatus);
    for (size_t i = 0; i < ptrs.size(); ++i)
      ptrs[i] = &dls[i];
    if (nullTensor)
      ptrs[ai] = nullptr;
    std::vector<std::vector<uint8_t>> outImages;
    for (auto &t : grads)
      outImages.push_back(t->snapshot());
    int32_t st = call(ptrs, &eopts);
    std::string msg = lastError();
    if (st != expected)
      c.fail(c.fmt("status %s, expected %s; mha_last_error: \"%s\"",
                   statusName(st).c_str(), statusName(expected).c_str(),
                   msg.c_str()));
    if (msg.find(fnName) == std::string::npos)
      c.fail("mha_last_error() does not name the function '" + fnName +
             "': \"" + msg + "\"");
    if (msg.find(arg == "num_threads" ? arg : "'" + arg + "'") ==
        std::string::npos)
      c.fail("mha_last_error() does not name '" + arg + "': \"" + msg + "\"");
    if (wantDim && msg.find("dim") == std::string::npos)
      c.fail("mha_last_error() does not name the dimension: \"" + msg + "\"");
    for (size_t i = 0; i < grads.size(); ++i)
      if (grads[i]->snapshot() != outImages[i])
        c.fail("a failed call wrote output '" + grads[i]->name + "'");
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i]->snapshot() != inputImages[i])
        c.fail("a failed call modified input '" + inputs[i]->name + "'");
    mha_options gopts = mopts;
    gopts.num_threads = opt.threads;
    st = call(ptrsOf(grads), &gopts);
    if (st != MHA_OK)
      c.fail(c.fmt("the valid call after the failed one returned %s: \"%s\"",
                   statusName(st).c_str(), lastError().c_str()));
    else if (!lastError().empty())
      c.fail("mha_last_error() is not empty after a successful call");
    return finish(c, head,
                  " backward corrupt=" + kind + " arg=" + arg + " status=" +
                      statusName(expected) + " msg=\"" + msg + "\"");
  }

  //===------------------------------------------------------------------===//
  // Normal mode.
  //===------------------------------------------------------------------===//
  ref::AttentionGradients r =
      ref::computeAttentionBackward(p.pr, p.q, p.k, p.v, doutRef, dentropyRef);
  // Keys some live row sees: elsewhere dk and dv must be exactly 0.
  int64_t group = p.Hq / p.Hkv;
  std::vector<uint8_t> keySeen((size_t)(p.B * p.Hkv * p.Lk), 0);
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.Hq; ++h)
      for (int64_t i = 0; i < p.Lq; ++i) {
        size_t row = (size_t)((b * p.Hq + h) * p.Lq + i);
        if (p.rowState[row] != kNormal)
          continue;
        for (int64_t j = 0; j < p.Lk; ++j)
          if (p.visible[row * p.Lk + j])
            keySeen[(size_t)((b * p.Hkv + h / group) * p.Lk + j)] = 1;
      }
  double tol = opt.tol >= 0 ? opt.tol : (opt.dtype == DType::F32 ? 1e-4 : 2e-2);
  std::string errors;
  // One gradient: every element written and finite, exact zeros where no
  // pair contributes, the relative error of the whole tensor.
  auto checkGrad = [&](const Tensor &t, const std::vector<double> &want,
                       int64_t rowLen, auto mustBeZero) {
    double err2 = 0, ref2 = 0;
    int reported = 0, zeros = 0;
    int64_t H = t.sizes[1], L = t.sizes[2];
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t l = 0; l < L; ++l) {
          size_t row = (size_t)((b * H + h) * L + l);
          bool zero = mustBeZero(b, h, l);
          for (int64_t d = 0; d < rowLen; ++d) {
            int64_t off = t.offset4(b, h, l, d);
            double val = t.load(off), w = want[row * rowLen + d];
            Checker::Verdict verdict =
                c.checkValue(t, off, c.idx4(b, h, l, d), val, w, reported);
            if (verdict != Checker::Verdict::Compare)
              continue;
            if (zero && val != 0 && zeros++ < 4)
              c.fail(c.fmt("%s%s is %g but must be exactly 0 (no visible "
                           "pair of a live head)",
                           t.name.c_str(), c.idx4(b, h, l, d).c_str(), val));
            err2 += (val - w) * (val - w);
            ref2 += w * w;
          }
        }
    double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
    if (!(rel < tol))
      c.fail(c.fmt("%s: relative error %.3g exceeds %.3g", t.name.c_str(), rel,
                   tol));
    c.maxRelErr = std::max(c.maxRelErr, rel);
    errors += c.fmt(" err_%s=%.3g", t.name.c_str(), rel);
  };
  auto checkAll = [&](std::vector<std::unique_ptr<Tensor>> &g) {
    checkGrad(*g[0], r.dQuery, p.D, [&](int64_t b, int64_t h, int64_t i) {
      return p.rowState[(size_t)((b * p.Hq + h) * p.Lq + i)] != kNormal;
    });
    auto unseen = [&](int64_t b, int64_t h, int64_t j) {
      return !keySeen[(size_t)((b * p.Hkv + h) * p.Lk + j)];
    };
    checkGrad(*g[1], r.dKey, p.D, unseen);
    checkGrad(*g[2], r.dValue, p.Dv, unseen);
  };

  std::vector<std::vector<uint8_t>> poisoned;
  for (auto &t : grads)
    poisoned.push_back(t->snapshot());
  mha_options o1 = mopts;
  o1.num_threads = 1;
  int32_t st = call(ptrsOf(grads), &o1);
  if (st != MHA_OK) {
    c.fail(c.fmt("status %s: \"%s\"", statusName(st).c_str(),
                 lastError().c_str()));
    return finish(c, head, " backward");
  }
  if (!lastError().empty())
    c.fail("mha_last_error() is not empty after a successful call: \"" +
           lastError() + "\"");
  for (size_t i = 0; i < grads.size(); ++i)
    c.checkUntouched(*grads[i], poisoned[i]);
  checkAll(grads);
  std::vector<std::vector<uint8_t>> result1;
  for (auto &t : grads)
    result1.push_back(t->snapshot());
  // Bit-identical for other thread counts and NULL options.
  auto again = [&](const mha_options *o, const std::string &what) {
    for (auto &t : grads)
      t->fillPoison();
    int32_t s2 = call(ptrsOf(grads), o);
    if (s2 != MHA_OK) {
      c.fail(c.fmt("status %s with %s: \"%s\"", statusName(s2).c_str(),
                   what.c_str(), lastError().c_str()));
      return;
    }
    for (size_t i = 0; i < grads.size(); ++i)
      if (grads[i]->snapshot() != result1[i])
        c.fail(c.fmt("output '%s' with %s differs from the 1-thread result",
                     grads[i]->name.c_str(), what.c_str()));
  };
  mha_options on = mopts;
  on.num_threads = opt.threads;
  auto t0 = std::chrono::steady_clock::now();
  again(&on, c.fmt("num_threads=%d", opt.threads));
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
  if (nullOptionsMeanTheSame(opt))
    again(nullptr, "NULL options");
  for (int t = 1; t <= opt.threadSweep; ++t) {
    mha_options ot = mopts;
    ot.num_threads = t;
    again(&ot, c.fmt("num_threads=%d", t));
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]->snapshot() != inputImages[i])
      c.fail("the backward call modified input '" + inputs[i]->name +
             "' (or its guard region)");
  return finish(c, head,
                c.fmt(" backward threads=%d time_ms=%.3f", opt.threads, ms) +
                    errors);
}

} // namespace

int main(int argc, char **argv) {
  Options opt = parseOptions(argc, argv);
  if (opt.lib.empty() || opt.fn.empty())
    usage("a library and --fn are required");
  if (opt.Hq < 0 || opt.Lq < 0 || opt.D < 0 || opt.B < 0)
    usage("--B, --Hq, --Lq and --D are required");
  Problem p;
  p.opt = opt;
  p.B = opt.B;
  p.Hq = opt.Hq;
  p.Hkv = opt.Hkv < 0 ? opt.Hq : opt.Hkv;
  p.Lq = opt.Lq;
  p.Lk = opt.Lk < 0 ? opt.Lq : opt.Lk;
  p.D = opt.D;
  p.Dv = opt.Dv < 0 ? opt.D : opt.Dv;
  if (p.Hkv <= 0 || p.Hq % p.Hkv != 0)
    usage("Hq must be a positive multiple of Hkv");
  if (opt.layout != "bhld" && opt.layout != "bhld-strided" &&
      opt.layout != "blhd" && opt.layout != "padded")
    usage("bad --layout " + opt.layout);
  if (opt.threads < 0)
    usage("--threads must be >= 0 (use --corrupt negative-threads)");
  p.scale =
      opt.hasScale ? (float)opt.scale : (float)(1.0f / std::sqrt((float)p.D));
  {
    std::vector<float> t, a;
    for (double x : opt.temperature)
      t.push_back((float)x);
    for (double x : opt.alibi)
      a.push_back((float)x);
    p.temperature = perHead<float>("--temperature", t, p.Hq, 1.0f);
    std::vector<float> d;
    for (double x : opt.dropout)
      d.push_back((float)x);
    if (!d.empty())
      p.dropout = perHead<float>("--dropout", d, p.Hq, 0.0f);
    p.alibi = perHead<float>("--alibi", a, p.Hq, 0.0f);
  }
  p.wl = perHead<int64_t>("--window-left", opt.windowLeft, p.Hq, -1);
  p.wr = perHead<int64_t>("--window-right", opt.windowRight, p.Hq, -1);
  if (!opt.headMask.empty() && (int64_t)opt.headMask.size() != p.Hq)
    usage("--head-mask needs Hq values");
  if (!opt.runtimeHeadMask.empty() &&
      (int64_t)opt.runtimeHeadMask.size() != p.Hq)
    usage("--runtime-head-mask needs Hq values");
  p.alive.assign((size_t)p.Hq, 1);
  p.runtimeMask.assign((size_t)p.Hq, 1);
  for (int64_t h = 0; h < p.Hq; ++h) {
    bool s = opt.headMask.empty() || opt.headMask[h] != 0;
    bool r = opt.runtimeHeadMask.empty() || opt.runtimeHeadMask[h] != 0;
    p.runtimeMask[h] =
        opt.runtimeHeadMask.empty() ? 1 : (uint8_t)opt.runtimeHeadMask[h];
    p.alive[h] = s && r;
  }

  // Load the library.
  Library lib;
  // A bare file name means this folder, not the library search path.
  std::string path =
      opt.lib.find('/') == std::string::npos ? "./" + opt.lib : opt.lib;
  lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle) {
    std::printf("FAIL fn=%s: dlopen: %s\n", opt.fn.c_str(), dlerror());
    return 1;
  }
  lib.fn = dlsym(lib.handle, opt.fn.c_str());
  if (!lib.fn) {
    std::printf("FAIL fn=%s: the library exports no function '%s'\n",
                opt.fn.c_str(), opt.fn.c_str());
    return 1;
  }
  lib.lastError = (const char *(*)(void))dlsym(lib.handle, "mha_last_error");
  lib.statusString =
      (const char *(*)(mha_status))dlsym(lib.handle, "mha_status_string");

  // Inputs: random normal values rounded to the element type; the
  // reference uses exactly the rounded values. Guards, gaps and the
  // byte_offset region hold a NaN, so reading outside a tensor shows.
  Setup s;
  bool corrupting = !opt.corrupt.empty();
  std::string aliasArg, aliasTarget;
  if (opt.corrupt == "alias") {
    aliasArg = opt.corruptArg.empty() ? "o" : opt.corruptArg;
    aliasTarget = opt.aliasWith.empty() ? "q" : opt.aliasWith;
  }
  int el = dtypeBytes(opt.dtype);
  // The bytes a tensor spans in this layout (for the alias target's tail).
  auto bytesOf = [&](const std::string &name) -> size_t {
    std::vector<int64_t> sizes =
        name == "q"       ? std::vector<int64_t>{p.B, p.Hq, p.Lq, p.D}
        : name == "k"     ? std::vector<int64_t>{p.B, p.Hkv, p.Lk, p.D}
        : name == "v"     ? std::vector<int64_t>{p.B, p.Hkv, p.Lk, p.Dv}
        : name == "o"     ? std::vector<int64_t>{p.B, p.Hq, p.Lq, p.Dv}
        : name == "probs" ? std::vector<int64_t>{p.B, p.Hq, p.Lq, p.Lk}
                          : std::vector<int64_t>{p.B, p.Hq, p.Lq};
    int e = (name == "q" || name == "k" || name == "v" || name == "o") ? el : 4;
    auto t =
        makeTensor(name, e == 4 ? DType::F32 : opt.dtype, e, sizes, opt, 0);
    return (size_t)t->span * (size_t)e;
  };
  auto tailFor = [&](const std::string &name) -> size_t {
    return name == aliasTarget ? bytesOf(aliasArg) : 0;
  };
  s.inputs.push_back(makeTensor("q", opt.dtype, el, {p.B, p.Hq, p.Lq, p.D}, opt,
                                tailFor("q")));
  s.inputs.push_back(makeTensor("k", opt.dtype, el, {p.B, p.Hkv, p.Lk, p.D},
                                opt, tailFor("k")));
  s.inputs.push_back(makeTensor("v", opt.dtype, el, {p.B, p.Hkv, p.Lk, p.Dv},
                                opt, tailFor("v")));
  // Fills inputs with seeded random normal values; `ref` receives the
  // rounded values (q, k, v) when given.
  // --inject: sets single elements of the reference's inputs.
  auto injectInto = [&](Tensor &t, std::vector<double> &dst) {
    for (const Options::Injection &in : opt.injections) {
      if (in.arg != t.name)
        continue;
      int64_t flat = 0;
      for (int d = 0; d < 4; ++d) {
        if (in.index[d] < 0 || in.index[d] >= t.sizes[d])
          usage("--inject: index out of range for " + in.arg);
        flat = flat * t.sizes[d] + in.index[d];
      }
      dst[(size_t)flat] = t.store(t.offset(in.index), in.value);
    }
  };
  auto fillInputs = [&](std::vector<std::unique_ptr<Tensor>> &inputs,
                        uint64_t seed, bool ref) {
    Rng rng(seed);
    std::vector<double> scratch;
    for (auto &t : inputs) {
      t->poison = inputPoison(t->elem, t->dtype);
      t->fillPoison();
      std::vector<double> &dst = !ref             ? scratch
                                 : t->name == "q" ? p.q
                                 : t->name == "k" ? p.k
                                                  : p.v;
      int64_t n = t->numel();
      dst.resize((size_t)n);
      int64_t idx[4];
      for (int64_t e = 0; e < n; ++e) {
        int64_t rem = e;
        for (int d = 3; d >= 0; --d) {
          idx[d] = rem % t->sizes[d];
          rem /= t->sizes[d];
        }
        double x = rng.normal();
        if (t->name == "q")
          x *= opt.scoresScale;
        dst[(size_t)e] = t->store(t->offset(idx), x);
      }
      if (ref)
        injectInto(*t, dst);
    }
  };
  fillInputs(s.inputs, opt.seed, true);
  std::vector<std::vector<uint8_t>> inputImages;
  for (auto &t : s.inputs)
    inputImages.push_back(t->snapshot());
  {
    std::vector<size_t> tails;
    for (const char *n : {"o", "lse", "probs", "entropy"})
      tails.push_back(tailFor(n));
    // makeOutputs takes the tails of the outputs that exist, in order.
    std::vector<size_t> present;
    present.push_back(tails[0]);
    if (opt.lse)
      present.push_back(tails[1]);
    if (opt.probs)
      present.push_back(tails[2]);
    if (opt.entropy)
      present.push_back(tails[3]);
    s.outputs = makeOutputs(p, present);
  }

  computeReference(p);
  Checker c(p, lib);
  std::string head = "fn=" + opt.fn + " dtype=" + dtypeName(opt.dtype) +
                     " shape=" + shapeString(p);
  if (opt.layout != "bhld")
    head += " layout=" + opt.layout;

  auto tensorPtrs = [&](const Setup &st) {
    std::vector<const DLTensor *> v;
    for (auto &t : st.inputs)
      v.push_back(&t->dl);
    for (auto &t : st.outputs)
      v.push_back(&t->dl);
    return v;
  };
  auto lastError = [&]() -> std::string {
    if (!lib.lastError)
      return "";
    const char *m = lib.lastError();
    return m ? m : "(null)";
  };

  mha_options mopts;
  std::memset(&mopts, 0, sizeof(mopts));
  mopts.head_mask =
      opt.runtimeHeadMask.empty() ? nullptr : p.runtimeMask.data();
  mopts.dropout_seed = opt.dropoutSeed;
  mopts.dropout_offset = opt.dropoutOffset;
  if (!opt.positions.empty()) {
    mopts.use_positions = 1;
    mopts.query_start = opt.positions[0];
    mopts.key_start = opt.positions[1];
  }

  if (opt.backward)
    return runBackward(p, lib, s, head, mopts);

  //===--------------------------------------------------------------------===//
  // Error mode: one bad argument, the exact status, a message naming it, and
  // not one byte written anywhere.
  //===--------------------------------------------------------------------===//
  if (corrupting) {
    const std::string kind = opt.corrupt;
    if (!lib.lastError || !lib.statusString)
      c.fail("the library does not export mha_last_error and "
             "mha_status_string");
    struct KindInfo {
      const char *kind, *arg, *status;
    };
    static const KindInfo kinds[] = {
        {"null-tensor", "k", "MHA_ERR_NULL_POINTER"},
        {"null-data", "v", "MHA_ERR_NULL_POINTER"},
        {"null-shape", "q", "MHA_ERR_NULL_POINTER"},
        {"rank", "k", "MHA_ERR_RANK"},
        {"dtype", "v", "MHA_ERR_DTYPE"},
        {"shape-batch", "k", "MHA_ERR_SHAPE"},
        {"shape-heads", "k", "MHA_ERR_SHAPE"},
        {"shape-dim", "v", "MHA_ERR_SHAPE"},
        {"shape-lk-mismatch", "v", "MHA_ERR_SHAPE"},
        {"device", "o", "MHA_ERR_DEVICE"},
        {"stride-last", "o", "MHA_ERR_LAYOUT"},
        {"negative-stride", "q", "MHA_ERR_LAYOUT"},
        {"misaligned-offset", "k", "MHA_ERR_LAYOUT"},
        {"alias", "o", "MHA_ERR_LAYOUT"},
        {"self-overlap", "o", "MHA_ERR_LAYOUT"},
        {"negative-threads", "", "MHA_ERR_INVALID_ARGUMENT"},
    };
    const KindInfo *info = nullptr;
    for (const KindInfo &k : kinds)
      if (kind == k.kind)
        info = &k;
    if (!info)
      usage("unknown --corrupt kind " + kind);
    std::string arg = opt.corruptArg.empty() ? info->arg : opt.corruptArg;
    int32_t expected =
        parseStatus(opt.expectStatus.empty() ? info->status : opt.expectStatus);

    std::vector<const DLTensor *> ptrs = tensorPtrs(s);
    std::vector<DLTensor> dls;
    for (const DLTensor *t : ptrs)
      dls.push_back(*t);
    int64_t shape[4], strides[4];
    size_t ai = arg.empty() ? 0 : tensorIndex(s, arg);
    DLTensor &d = dls[ai];
    const Tensor &ten =
        ai < s.inputs.size() ? *s.inputs[ai] : *s.outputs[ai - s.inputs.size()];
    std::memcpy(shape, ten.sizes, sizeof(shape));
    std::memcpy(strides, ten.strides, sizeof(strides));
    auto bump = [](int64_t &x) { x = x > 1 ? x - 1 : x + 1; };
    std::vector<std::string> mustName;
    if (!arg.empty())
      mustName.push_back(arg);
    bool wantDim = false;
    mha_options eopts = mopts;
    eopts.num_threads = opt.threads;
    if (kind == "null-tensor") {
      ptrs[ai] = nullptr;
    } else if (kind == "null-data") {
      if (ten.numel() == 0)
        usage("null-data needs a non-empty tensor");
      d.data = nullptr;
    } else if (kind == "null-shape") {
      d.shape = nullptr;
    } else if (kind == "rank") {
      d.ndim -= 1;
    } else if (kind == "dtype") {
      if (d.dtype.bits == 32)
        d.dtype = dlType(DType::F16);
      else if (d.dtype.code == kDLBfloat)
        d.dtype = dlType(DType::F16);
      else
        d.dtype = dlType(DType::BF16);
    } else if (kind == "shape-batch" || kind == "shape-heads" ||
               kind == "shape-dim" || kind == "shape-lk-mismatch") {
      int dim = kind == "shape-batch"   ? 0
                : kind == "shape-heads" ? 1
                : kind == "shape-dim"   ? ten.rank - 1
                                        : 2;
      bump(shape[dim]);
      d.shape = shape;
      wantDim = true;
    } else if (kind == "device") {
      d.device.device_type = kDLCUDA;
    } else if (kind == "stride-last") {
      if (ten.sizes[ten.rank - 1] <= 1)
        usage("stride-last needs a last dimension larger than 1");
      strides[ten.rank - 1] = 2;
      d.strides = strides;
      wantDim = true;
    } else if (kind == "negative-stride") {
      int dim = ten.rank - 2;
      strides[dim] = -std::max<int64_t>(strides[dim], 1);
      d.strides = strides;
      wantDim = true;
    } else if (kind == "misaligned-offset") {
      d.byte_offset += (uint64_t)std::max(1, ten.elem / 2);
    } else if (kind == "alias") {
      size_t ti = tensorIndex(s, aliasTarget);
      d.data = dls[ti].data;
      d.byte_offset = dls[ti].byte_offset;
      mustName.push_back(aliasTarget);
    } else if (kind == "self-overlap") {
      if (ten.sizes[1] <= 1)
        usage("self-overlap needs more than one head");
      strides[1] = 0;
      d.strides = strides;
      wantDim = true;
    } else if (kind == "negative-threads") {
      eopts.num_threads = -1;
      mustName.push_back("num_threads");
    }
    // Relink the copies (null-tensor keeps its NULL).
    for (size_t i = 0; i < ptrs.size(); ++i)
      if (ptrs[i])
        ptrs[i] = &dls[i];

    std::vector<std::vector<uint8_t>> outImages;
    for (auto &t : s.outputs)
      outImages.push_back(t->snapshot());
    int32_t st = callFn(lib, ptrs, &eopts);
    std::string msg = lastError();
    if (st != expected)
      c.fail(c.fmt("status %s, expected %s; mha_last_error: \"%s\"",
                   statusName(st).c_str(), statusName(expected).c_str(),
                   msg.c_str()));
    if (lib.lastError) {
      if (msg.empty())
        c.fail("mha_last_error() is empty after a failed call");
      if (msg.find(opt.fn) == std::string::npos)
        c.fail("mha_last_error() does not name the function '" + opt.fn +
               "': \"" + msg + "\"");
      for (const std::string &n : mustName) {
        bool named = msg.find("'" + n + "'") != std::string::npos ||
                     msg.find("\"" + n + "\"") != std::string::npos ||
                     (n == "num_threads" && msg.find(n) != std::string::npos);
        if (!named)
          c.fail("mha_last_error() does not name '" + n + "': \"" + msg + "\"");
      }
      if (wantDim && msg.find("dim") == std::string::npos)
        c.fail("mha_last_error() does not name the dimension: \"" + msg + "\"");
    }
    if (lib.statusString) {
      const char *ss = lib.statusString((mha_status)st);
      if (!ss || !*ss)
        c.fail("mha_status_string() is empty");
      else if (std::string(ss).find(statusName(st)) == std::string::npos)
        c.fail(c.fmt("mha_status_string(%d) = \"%s\" does not name %s", st, ss,
                     statusName(st).c_str()));
      const char *bogus = lib.statusString((mha_status)12345);
      if (!bogus || !*bogus)
        c.fail("mha_status_string() of an unknown status is empty");
    }
    for (size_t i = 0; i < s.outputs.size(); ++i)
      if (s.outputs[i]->snapshot() != outImages[i])
        c.fail("a failed call wrote output '" + s.outputs[i]->name + "'");
    for (size_t i = 0; i < s.inputs.size(); ++i)
      if (s.inputs[i]->snapshot() != inputImages[i])
        c.fail("a failed call modified input '" + s.inputs[i]->name + "'");
    if (!c.failures.empty())
      return finish(c, head, " corrupt=" + kind + " arg=" + arg);

    // Then a good call must work and clear the message.
    mha_options gopts = mopts;
    gopts.num_threads = opt.threads;
    st = callFn(lib, tensorPtrs(s), &gopts);
    if (st != MHA_OK)
      c.fail(c.fmt("the valid call after the failed one returned %s: \"%s\"",
                   statusName(st).c_str(), lastError().c_str()));
    else if (lib.lastError && !lastError().empty())
      c.fail("mha_last_error() is not empty after a successful call: \"" +
             lastError() + "\"");
    else {
      c.checkO(*s.outputs[0]);
      for (size_t i = 0; i < s.outputs.size(); ++i)
        c.checkUntouched(*s.outputs[i], outImages[i]);
    }
    return finish(c, head,
                  " corrupt=" + kind + (arg.empty() ? "" : " arg=" + arg) +
                      " status=" + statusName(expected) + " msg=\"" + msg +
                      "\"");
  }

  //===--------------------------------------------------------------------===//
  // Normal mode.
  //===--------------------------------------------------------------------===//
  std::vector<std::vector<uint8_t>> poisoned;
  for (auto &t : s.outputs)
    poisoned.push_back(t->snapshot());

  // 1. One thread: the results checked against the reference.
  mha_options o1 = mopts;
  o1.num_threads = 1;
  int32_t st = callFn(lib, tensorPtrs(s), &o1);
  if (st != MHA_OK) {
    c.fail(c.fmt("status %s: \"%s\"", statusName(st).c_str(),
                 lastError().c_str()));
    return finish(c, head, "");
  }
  if (lib.lastError && !lastError().empty())
    c.fail("mha_last_error() is not empty after a successful call: \"" +
           lastError() + "\"");
  for (size_t i = 0; i < s.inputs.size(); ++i)
    if (s.inputs[i]->snapshot() != inputImages[i])
      c.fail("the call modified input '" + s.inputs[i]->name +
             "' (or its guard region)");
  for (size_t i = 0; i < s.outputs.size(); ++i)
    c.checkUntouched(*s.outputs[i], poisoned[i]);
  for (auto &t : s.outputs) {
    if (t->name == "o")
      c.checkO(*t);
    else if (t->name == "lse")
      c.checkLse(*t);
    else if (t->name == "probs")
      c.checkProbs(*t);
    else
      c.checkEntropy(*t);
  }
  std::vector<std::vector<uint8_t>> result1;
  for (auto &t : s.outputs)
    result1.push_back(t->snapshot());

  auto compareTo = [&](const Setup &st2, const std::string &what) {
    for (size_t i = 0; i < st2.outputs.size(); ++i) {
      std::vector<uint8_t> now = st2.outputs[i]->snapshot();
      if (now == result1[i])
        continue;
      size_t n = 0, first = 0;
      for (size_t b = 0; b < now.size(); ++b)
        if (now[b] != result1[i][b]) {
          if (!n)
            first = b;
          ++n;
        }
      c.fail(c.fmt("output '%s' with %s differs from the 1-thread result in "
                   "%zu byte(s), first at byte %lld of the tensor",
                   st2.outputs[i]->name.c_str(), what.c_str(), n,
                   (long long)first -
                       (long long)(kGuard + st2.outputs[i]->byteOffset)));
    }
  };

  // 2. The requested threads (0 = all cores): bit-identical, timed.
  for (size_t i = 0; i < s.outputs.size(); ++i)
    s.outputs[i]->fillPoison();
  mha_options on = mopts;
  on.num_threads = opt.threads;
  auto t0 = std::chrono::steady_clock::now();
  st = callFn(lib, tensorPtrs(s), &on);
  auto t1 = std::chrono::steady_clock::now();
  double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  if (st != MHA_OK)
    c.fail(c.fmt("status %s with num_threads=%d: \"%s\"",
                 statusName(st).c_str(), opt.threads, lastError().c_str()));
  else
    compareTo(s, c.fmt("num_threads=%d", opt.threads));

  // 3. NULL options (defaults) when they mean the same call.
  if (nullOptionsMeanTheSame(opt)) {
    for (size_t i = 0; i < s.outputs.size(); ++i)
      s.outputs[i]->fillPoison();
    st = callFn(lib, tensorPtrs(s), nullptr);
    if (st != MHA_OK)
      c.fail(c.fmt("status %s with NULL options: \"%s\"",
                   statusName(st).c_str(), lastError().c_str()));
    else
      compareTo(s, "NULL options");
  }

  // 4. Concurrent calls from several threads, each with its own outputs
  // (inputs are shared: they are only read), while one more thread keeps
  // making failing calls: mha_last_error() is per thread, so the good calls
  // must still see "" and the failing one its own message.
  if (opt.concurrent > 0) {
    int n = opt.concurrent;
    std::vector<Setup> setups((size_t)n);
    std::vector<int32_t> statuses((size_t)n, -1);
    std::vector<std::string> errors((size_t)n);
    std::string badThreadError;
    std::atomic<bool> badDone(false);
    for (int i = 0; i < n; ++i)
      setups[i].outputs = makeOutputs(p, {});
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        std::vector<const DLTensor *> v;
        for (auto &t : s.inputs)
          v.push_back(&t->dl);
        for (auto &t : setups[i].outputs)
          v.push_back(&t->dl);
        // At least 5 calls, and more while the failing thread runs.
        for (int rep = 0; rep < 5 || (!badDone.load() && rep < 100000); ++rep) {
          statuses[i] = callFn(lib, v, &on);
          std::string e = lib.lastError ? lib.lastError() : "";
          if (statuses[i] != MHA_OK || !e.empty()) {
            errors[i] = e;
            break;
          }
        }
      });
    Setup bad;
    bad.outputs = makeOutputs(p, {});
    std::vector<std::uint8_t> badImage = bad.outputs[0]->snapshot();
    threads.emplace_back([&] {
      std::vector<const DLTensor *> v;
      for (auto &t : s.inputs)
        v.push_back(&t->dl);
      for (auto &t : bad.outputs)
        v.push_back(&t->dl);
      mha_options neg = on;
      neg.num_threads = -1;
      for (int rep = 0; rep < 200; ++rep) {
        int32_t st = callFn(lib, v, &neg);
        std::string e = lib.lastError ? lib.lastError() : "x";
        if (st != MHA_ERR_INVALID_ARGUMENT || e.empty() ||
            e.find("num_threads") == std::string::npos) {
          badThreadError = statusName(st) + ": \"" + e + "\"";
          break;
        }
      }
      badDone = true;
    });
    for (auto &t : threads)
      t.join();
    for (int i = 0; i < n; ++i) {
      if (statuses[i] != MHA_OK)
        c.fail(c.fmt("concurrent call %d: status %s", i,
                     statusName(statuses[i]).c_str()));
      else if (!errors[i].empty())
        c.fail(c.fmt("concurrent call %d succeeded but its thread's "
                     "mha_last_error() is \"%s\"",
                     i, errors[i].c_str()));
      else
        compareTo(setups[i], c.fmt("concurrent call %d", i));
    }
    if (!badThreadError.empty())
      c.fail("a failing call made concurrently returned " + badThreadError);
    if (bad.outputs[0]->snapshot() != badImage)
      c.fail("a failing call made concurrently wrote its output");

    // The same, deterministically: another thread's success must not clear
    // this thread's message, nor its failure set this thread's.
    if (lib.lastError) {
      std::vector<const DLTensor *> good = tensorPtrs(s), fails;
      for (auto &t : s.inputs)
        fails.push_back(&t->dl);
      for (auto &t : bad.outputs)
        fails.push_back(&t->dl);
      mha_options neg = on;
      neg.num_threads = -1;
      callFn(lib, fails, &neg);
      std::string mine = lastError();
      std::thread([&] { callFn(lib, good, &on); }).join();
      if (lastError() != mine)
        c.fail("a successful call on another thread changed this thread's "
               "mha_last_error() from \"" +
               mine + "\" to \"" + lastError() + "\"");
      callFn(lib, good, &on);
      std::thread([&] { callFn(lib, fails, &neg); }).join();
      if (!lastError().empty())
        c.fail("a failed call on another thread set this thread's "
               "mha_last_error() to \"" +
               lastError() + "\"");
    }
  }
  // 5. Every num_threads 1..N: bit-identical to the 1-thread result.
  for (int t = 1; t <= opt.threadSweep; ++t) {
    for (auto &out : s.outputs)
      out->fillPoison();
    mha_options ot = mopts;
    ot.num_threads = t;
    st = callFn(lib, tensorPtrs(s), &ot);
    if (st != MHA_OK)
      c.fail(c.fmt("status %s with num_threads=%d: \"%s\"",
                   statusName(st).c_str(), t, lastError().c_str()));
    else
      compareTo(s, c.fmt("num_threads=%d", t));
  }

  // 6. Concurrent calls on different inputs: N threads, each with its own
  // inputs and outputs, released at once and calling repeatedly; every
  // result must be bit-identical to the 1-thread call on the same inputs
  // made serially beforehand.
  if (opt.concurrent > 0 && opt.distinctInputs) {
    int n = opt.concurrent;
    std::vector<Setup> setups((size_t)n);
    std::vector<std::vector<std::vector<uint8_t>>> expected((size_t)n);
    for (int i = 0; i < n; ++i) {
      Setup &si = setups[(size_t)i];
      si.inputs.push_back(
          makeTensor("q", opt.dtype, el, {p.B, p.Hq, p.Lq, p.D}, opt, 0));
      si.inputs.push_back(
          makeTensor("k", opt.dtype, el, {p.B, p.Hkv, p.Lk, p.D}, opt, 0));
      si.inputs.push_back(
          makeTensor("v", opt.dtype, el, {p.B, p.Hkv, p.Lk, p.Dv}, opt, 0));
      fillInputs(si.inputs, opt.seed + 1 + (uint64_t)i, false);
      si.outputs = makeOutputs(p, {});
      st = callFn(lib, tensorPtrs(si), &o1);
      if (st != MHA_OK)
        c.fail(c.fmt("serial call on inputs %d: status %s", i,
                     statusName(st).c_str()));
      for (auto &out : si.outputs)
        expected[(size_t)i].push_back(out->snapshot());
    }
    // Different inputs must give different results (else the test is void).
    if (n > 1 && p.B * p.Hq * p.Lq * p.Dv > 0 && p.Lk > 0 &&
        expected[0][0] == expected[1][0])
      c.fail("distinct inputs gave identical outputs");
    std::vector<std::string> mismatch((size_t)n);
    std::atomic<int> ready(0);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        Setup &si = setups[(size_t)i];
        std::vector<const DLTensor *> v = tensorPtrs(si);
        ready.fetch_add(1);
        while (ready.load() < n)
          std::this_thread::yield();
        for (int rep = 0; rep < opt.repeat; ++rep) {
          for (auto &out : si.outputs)
            out->fillPoison();
          int32_t sti = callFn(lib, v, &on);
          if (sti != MHA_OK) {
            mismatch[(size_t)i] =
                c.fmt("call %d: status %s", rep, statusName(sti).c_str());
            return;
          }
          for (size_t k = 0; k < si.outputs.size(); ++k)
            if (si.outputs[k]->snapshot() != expected[(size_t)i][k]) {
              mismatch[(size_t)i] =
                  c.fmt("call %d: output '%s' differs from the serial "
                        "1-thread result",
                        rep, si.outputs[k]->name.c_str());
              return;
            }
        }
      });
    for (auto &t : threads)
      t.join();
    for (int i = 0; i < n; ++i)
      if (!mismatch[(size_t)i].empty())
        c.fail(c.fmt("concurrent thread %d on its own inputs: %s", i,
                     mismatch[(size_t)i].c_str()));
    c.notes += c.fmt(" distinct_inputs=%dx%d", n, opt.repeat);
  }

  for (size_t i = 0; i < s.inputs.size(); ++i)
    if (s.inputs[i]->snapshot() != inputImages[i])
      c.fail("a call modified input '" + s.inputs[i]->name + "'");

  return finish(c, head,
                c.fmt(" max_rel_err=%.3g threads=%d time_ms=%.3f", c.maxRelErr,
                      opt.threads, ms) +
                    c.notes);
}
