//===- mha-fuzz-spec-gen.cpp - Fuzz generated specs through the pipeline --===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// libFuzzer target, the structured variant of mha-fuzz-spec: the input bytes
// drive a generator of specs that are mostly well-formed (so the pipeline,
// not only the parser, is exercised) with random element types, head counts,
// head dims, static and dynamic sizes (0, 1, odd, up to and past 2^31),
// every attribute with edge values (NaN, inf, 0, negative, huge windows and
// sinks, per-head arrays of the wrong length), dropout, extra results, the
// serving operands (key and query lengths, block tables, packed sequences,
// int8 caches with their scales) in valid and invalid combinations,
// `mha.backward`, several functions, layers (mha.multi_head with every
// sharing scheme, biases, RoPE, packed or padded sequences, decoding steps
// over a cache, a backward), and occasional structural mistakes (private
// functions, two ops, a result returned twice, an unknown attribute). Each
// spec is compiled with random tile sizes (--rows/--cols). The oracle is
// SpecFuzzer's. Run the binary with MHA_FUZZ_PRINT=1 to print the specs.
//
//===----------------------------------------------------------------------===//

#include "SpecFuzzer.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cinttypes>
#include <sstream>
#include <vector>

namespace {

template <typename T, size_t N>
T pick(FuzzedDataProvider &fdp, const T (&values)[N]) {
  return values[fdp.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

const char *const kFloats[] = {
    "1.0",        "0.5",        "0.125",      "2.0",       "0.0",
    "-1.0",       "1.0e-30",    "1.0e30",     "3.0e38",    "1.0e-45",
    "0x7FC00000", "0x7F800000", "0xFF800000", "0x00000001"};
// Values that parse inside array<f32: ...> (no hex there).
const char *const kArrayFloats[] = {"1.0",     "0.5",     "0.0",    "-0.5",
                                    "2.0",     "1.0e-30", "1.0e30", "3.0e38",
                                    "1.0e-45", "-3.0e38"};
const int64_t kWindows[] = {
    -1, -1, 0, 1, 2, 7, 100, -2, 2147483647, 2147483648, INT64_MAX, INT64_MIN};
const int64_t kSinks[] = {0, 1, 3, 64, -1, 2147483647, 2147483648, INT64_MAX};
const int64_t kHeads[] = {1, 2, 3, 4, 8, 12, 16, 32, 5, 7};
const int64_t kDims[] = {1, 2, 3, 4, 7, 8, 16, 17, 32, 64, 128, 1024, 1025};
const int64_t kSeq[] = {-1, -1,   -1,         0,          1,
                        2,  5,    16,         17,         64,
                        65, 1000, 2147483647, 2147483648, (int64_t)1 << 40};
const int64_t kBatch[] = {-1, -1, 0, 1, 2, 3, 2147483647, 2147483648};
const int64_t kTiles[] = {1, 2, 3, 4, 5, 8, 16, 16, 16, 17, 32, 64, 64, 128};

std::string dim(int64_t d) { return d < 0 ? "?" : std::to_string(d); }

std::string tensor(const std::vector<int64_t> &shape, const std::string &elt) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += dim(d) + "x";
  return s + elt + ">";
}

// Length of a per-head array: mostly 1 or Hq, sometimes wrong.
size_t perHeadLength(FuzzedDataProvider &fdp, int64_t heads) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 9)) {
  case 0:
    return 0;
  case 1:
    return (size_t)heads + 1;
  case 2:
  case 3:
  case 4:
    return 1;
  default:
    return (size_t)heads;
  }
}

const int64_t kPageSizes[] = {1, 2, 16, 5, 0, 256};

// The serving operands of one attention function: its extra parameters
// and the operand text after %v.
struct Serving {
  std::string params, operands;
  bool packedQueries = false, packedKeys = false, paged = false, int8 = false;
};

Serving generateServing(FuzzedDataProvider &fdp, int64_t hkv) {
  Serving s;
  if (fdp.ConsumeIntegralInRange<int>(0, 2) != 0)
    return s;
  const std::string lens = "tensor<?xi32>", table = "tensor<?x?xi32>";
  bool kvLens = false, qLens = false, cuK = false;
  switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
  case 0:
    kvLens = true;
    break;
  case 1:
    kvLens = qLens = true;
    break;
  case 2:
  case 3:
    kvLens = s.paged = true;
    break;
  case 4:
    s.packedQueries = cuK = s.packedKeys = true;
    break;
  case 5:
    s.packedQueries = true;
    kvLens = true;
    break;
  case 6: // Two sources of the key lengths: refused.
    kvLens = cuK = s.packedKeys = true;
    break;
  default: // A table without lengths: refused.
    s.paged = true;
    break;
  }
  s.int8 = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  if (s.int8) {
    std::string scales = s.paged && fdp.ConsumeBool() ? tensor({-1, hkv}, "f32")
                                                      : tensor({hkv}, "f32");
    s.params += ", %ks: " + scales + ", %vs: " + scales;
    s.operands += " kv_scales(%ks, %vs : " + scales + ", " + scales + ")";
  }
  auto add = [&](bool on, const char *keyword, const std::string &type) {
    if (!on)
      return;
    s.params += std::string(", %") + keyword + ": " + type;
    s.operands +=
        std::string(" ") + keyword + "(%" + keyword + " : " + type + ")";
  };
  add(kvLens, "kv_lens", lens);
  add(qLens, "q_lens", lens);
  add(s.paged, "block_table", table);
  add(s.packedQueries, "cu_seqlens_q", lens);
  add(cuK, "cu_seqlens_k", lens);
  return s;
}

// A layer function (docs/language.md 5): mha.multi_head with a sharing
// scheme, biases, RoPE and attributes; over packed or padded sequences, or
// a decoding step over a cache; sometimes with mha.backward, sometimes
// with a weight of the wrong shape.
std::string generateLayer(FuzzedDataProvider &fdp, int index) {
  static const char *const elts[] = {"f32", "f32", "bf16", "f16"};
  static const int64_t models[] = {8, 16, 24, 32, 48, 12};
  static const int64_t heads[] = {1, 2, 3, 4, 8};
  static const int64_t dims[] = {4, 8, 16, 6, 32};
  std::string elt = pick(fdp, elts);
  int64_t dm = pick(fdp, models), hq = pick(fdp, heads), d = pick(fdp, dims);
  int64_t hkv = fdp.ConsumeBool()   ? hq
                : fdp.ConsumeBool() ? 1
                                    : pick(fdp, heads);
  if (fdp.ConsumeIntegralInRange<int>(0, 3) && hq % hkv)
    hkv = 1; // Mostly a divisor of the query heads.
  int sharing = fdp.ConsumeIntegralInRange<int>(0, 5);
  int64_t gq = hq, gkv = hkv;
  std::string share;
  if (sharing == 0) {
    gq = gkv = 1;
    share = ", sharing = #mha.sharing<shared_head_bias>";
  } else if (sharing == 1) {
    gq = hq % 2 == 0 ? hq / 2 : hq;
    gkv = 1;
    share = ", sharing = #mha.sharing<grouped>";
  }
  bool flat = share.empty();
  // Shared projections need a bias per head: mostly given.
  bool qkvBias = fdp.ConsumeBool() ||
                 (!flat && fdp.ConsumeIntegralInRange<int>(0, 7) != 0);
  bool outBias = fdp.ConsumeBool();
  int lengths = fdp.ConsumeIntegralInRange<int>(0, 7); // 0 q_lens, 1 packed
  bool step = lengths == 2 || lengths == 3;            // a decoding step
  bool paged = lengths == 3;
  // A layer's backward is the slowest spec to compile (20-90 s through the
  // pipeline under ASan with dropout): one layer in 6.
  bool backward = !step && fdp.ConsumeIntegralInRange<int>(0, 5) == 0;
  int64_t wrong = fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? 1 : 0;
  auto ty = [&](std::vector<int64_t> shape) { return tensor(shape, elt); };
  std::string x = ty({lengths == 1 ? 1 : -1, step ? 1 : -1, dm});
  std::vector<std::pair<std::string, std::string>> args = {
      {"x", x},
      {"wq", ty({dm, gq * d + wrong})},
      {"wk", ty({dm, gkv * d})},
      {"wv", ty({dm, gkv * d})},
      {"wo", ty({hq * d, dm})}};
  if (qkvBias) {
    args.push_back({"bq", flat ? ty({hq * d}) : ty({hq, d})});
    args.push_back({"bk", flat ? ty({hkv * d}) : ty({hkv, d})});
    args.push_back({"bv", flat ? ty({hkv * d}) : ty({hkv, d})});
  }
  if (outBias)
    args.push_back({"bo", ty({dm})});
  std::ostringstream attrs;
  attrs << "num_heads = " << hq << ", num_kv_heads = " << hkv << share
        << (qkvBias ? ", has_qkv_bias" : "")
        << (outBias ? ", has_out_bias" : "");
  if (fdp.ConsumeBool())
    attrs << ", causal";
  if (fdp.ConsumeBool())
    attrs << ", rope_theta = " << (fdp.ConsumeBool() ? "10000.0" : "0.5")
          << " : f32";
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    attrs << ", softcap = 5.0 : f32";
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    attrs << ", window_left = array<i64: " << pick(fdp, kWindows) << ">";
  if (!step && fdp.ConsumeIntegralInRange<int>(0, 4) == 0)
    attrs << ", dropout = array<f32: 0.25>";
  std::string operands, types, params, results = x, returned = "%y";
  for (size_t i = 0; i < args.size(); ++i) {
    operands += (i ? ", %" : "%") + args[i].first;
    params += (i ? ", %" : "%") + args[i].first + ": " + args[i].second;
    if (i)
      types += (i > 1 ? ", " : "") + args[i].second;
  }
  std::string lens = "tensor<?xi32>";
  if (lengths == 0 || lengths == 1) {
    const char *kw = lengths ? "cu_seqlens_q" : "q_lens";
    params += ", %lens: " + lens;
    operands += std::string(" ") + kw + "(%lens : " + lens + ")";
  }
  std::string cacheTypes;
  if (step) {
    std::string cache = ty({-1, hkv, -1, d});
    params += ", %kv_lens: " + lens +
              (paged ? ", %table: tensor<?x?xi32>" : "") + ", %kc: " + cache +
              ", %vc: " + cache;
    operands += " cache(%kc, %vc : " + cache + ", " + cache +
                ") kv_lens(%kv_lens : " + lens + ")" +
                (paged ? " block_table(%table : tensor<?x?xi32>)" : "");
    cacheTypes = " cache(" + cache + ", " + cache + ")";
    results += ", " + cache + ", " + cache;
    returned += ", %kc2, %vc2";
  }
  std::ostringstream f;
  f << "func.func @f" << index << "(" << params << ") -> (" << results << ")"
    << (backward ? " attributes {mha.backward}" : "") << " {\n"
    << "  " << returned << " = mha.multi_head " << operands << " {"
    << attrs.str() << "} : " << x << ", " << types << " -> " << x << cacheTypes
    << "\n"
    << "  return " << returned << " : " << results << "\n}\n";
  return f.str();
}

std::string generateFunction(FuzzedDataProvider &fdp, int index) {
  static const char *const elts[] = {"f32", "f32", "f16", "bf16", "f64", "i8"};
  std::string elt = pick(fdp, elts);
  if (elt == "f64" || elt == "i8")
    elt = fdp.ConsumeBool() ? elt : "f32"; // Rarely a wrong element type.
  std::string kvElt = fdp.ConsumeIntegralInRange<int>(0, 15) ? elt : "f16";
  int64_t hq = pick(fdp, kHeads), hkv = hq;
  switch (fdp.ConsumeIntegralInRange<int>(0, 5)) {
  case 0:
    hkv = 1;
    break;
  case 1:
    hkv = hq % 2 == 0 ? hq / 2 : hq;
    break;
  case 2:
    hkv = pick(fdp, kHeads); // Often not a divisor.
    break;
  default:
    break;
  }
  int64_t d = pick(fdp, kDims);
  int64_t dv = fdp.ConsumeIntegralInRange<int>(0, 3) ? d : pick(fdp, kDims);
  int64_t b = pick(fdp, kBatch), lq = pick(fdp, kSeq);
  int64_t lk = fdp.ConsumeBool() ? lq : pick(fdp, kSeq);
  int64_t kb = fdp.ConsumeIntegralInRange<int>(0, 15) ? b : pick(fdp, kBatch);

  std::ostringstream attrs;
  bool first = true;
  auto attr = [&](const std::string &a) {
    attrs << (first ? "" : ", ") << a;
    first = false;
  };
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    attr(std::string("scale = ") + pick(fdp, kFloats) + " : f32");
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    attr(std::string("softcap = ") + pick(fdp, kFloats) + " : f32");
  if (fdp.ConsumeBool())
    attr("causal");
  auto floatArray = [&](const char *name) {
    size_t n = perHeadLength(fdp, hq);
    std::string s = std::string(name) + " = array<f32";
    for (size_t i = 0; i < n; ++i)
      s += std::string(i ? ", " : ": ") + (fdp.ConsumeIntegralInRange<int>(0, 3)
                                               ? "0.5"
                                               : pick(fdp, kArrayFloats));
    attr(s + ">");
  };
  auto intArray = [&](const char *name) {
    size_t n = perHeadLength(fdp, hq);
    std::string s = std::string(name) + " = array<i64";
    for (size_t i = 0; i < n; ++i)
      s += std::string(i ? ", " : ": ") + std::to_string(pick(fdp, kWindows));
    attr(s + ">");
  };
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    floatArray("temperature");
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    floatArray("alibi_slopes");
  if (fdp.ConsumeIntegralInRange<int>(0, 2) == 0)
    intArray("window_left");
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    intArray("window_right");
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)
    attr("sink_tokens = " + std::to_string(pick(fdp, kSinks)));
  if (fdp.ConsumeIntegralInRange<int>(0, 4) == 0) {
    size_t n = fdp.ConsumeIntegralInRange<int>(0, 7) ? (size_t)hq
                                                     : perHeadLength(fdp, hq);
    std::string s = "head_mask = array<i1";
    for (size_t i = 0; i < n; ++i)
      s +=
          std::string(i ? ", " : ": ") + (fdp.ConsumeBool() ? "true" : "false");
    attr(s + ">");
  }
  // A backward (7.1) needs the forward's lse: mostly returned then.
  bool backward = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  bool lse = backward ? fdp.ConsumeIntegralInRange<int>(0, 7) != 0
                      : fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  bool probs = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  bool entropy = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  if (lse)
    attr("return_lse");
  if (probs)
    attr("return_probs");
  if (entropy)
    attr("return_entropy");
  if (fdp.ConsumeIntegralInRange<int>(0, 31) == 0)
    attr("casual");
  if (fdp.ConsumeIntegralInRange<int>(0, 5) == 0)
    floatArray("dropout");

  // Serving operands (docs/language.md 4.6, 4.8), mostly in combinations
  // the verifier takes.
  Serving serving = generateServing(fdp, hkv);
  if (serving.packedQueries)
    b = 1;
  if (serving.packedKeys || serving.paged)
    kb = serving.paged ? -1 : 1;
  if (serving.paged)
    lk = fdp.ConsumeBool() ? -1 : pick(fdp, kPageSizes);
  if (serving.int8)
    kvElt = "i8";
  std::string q = tensor({b, hq, lq, d}, elt);
  std::string k = tensor({kb, hkv, lk, d}, kvElt);
  std::string v = tensor({kb, hkv, lk, dv}, kvElt);
  std::vector<std::string> results{tensor({b, hq, lq, dv}, elt)};
  if (lse)
    results.push_back(tensor({b, hq, lq}, "f32"));
  if (probs)
    results.push_back(tensor({b, hq, lq, lk}, "f32"));
  if (entropy)
    results.push_back(tensor({b, hq, lq}, "f32"));
  if (fdp.ConsumeIntegralInRange<int>(0, 31) == 0 && results.size() > 1)
    results.pop_back();

  std::string resultTypes, resultNames, returned, returnedTypes;
  for (size_t i = 0; i < results.size(); ++i) {
    resultTypes += (i ? ", " : "") + results[i];
    resultNames += (i ? ", %r" : "%r") + std::to_string(i);
  }
  // What is returned: all results, mostly; sometimes a subset, reordered
  // or duplicated.
  std::vector<size_t> order;
  for (size_t i = 0; i < results.size(); ++i)
    order.push_back(i);
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
  case 0:
    if (order.size() > 1)
      std::swap(order[0], order[1]);
    break;
  case 1:
    order.push_back(0);
    break;
  case 2:
    if (order.size() > 1)
      order.erase(order.begin());
    break;
  default:
    break;
  }
  for (size_t i = 0; i < order.size(); ++i) {
    returned += (i ? ", %r" : "%r") + std::to_string(order[i]);
    returnedTypes += (i ? ", " : "") + results[order[i]];
  }

  std::ostringstream f;
  bool isPrivate = fdp.ConsumeIntegralInRange<int>(0, 31) == 0;
  f << "func.func " << (isPrivate ? "private " : "") << "@f" << index
    << "(%q: " << q << ", %k: " << k << ", %v: " << v << serving.params
    << ") -> (" << returnedTypes << ")"
    << (backward ? " attributes {mha.backward}" : "") << " {\n";
  std::string opAttrs = first ? "" : " {" + attrs.str() + "}";
  int shape = fdp.ConsumeIntegralInRange<int>(0, 31);
  if (shape == 0) {
    // A layer op on attention's operands: the verifier refuses it.
    f << "  %x = mha.multi_head %q, %q, %q, %q, %q {num_heads = " << hq
      << "} : " << q << ", " << q << ", " << q << ", " << q << ", " << q
      << " -> " << q << "\n";
  } else if (shape == 1) {
    // Two attention ops.
    f << "  %z = mha.attention %q, %k, %v" << opAttrs << " : " << q << ", " << k
      << ", " << v << " -> " << resultTypes << "\n";
  } else if (shape == 2) {
    // An operand that is not a function argument.
    f << "  %c = arith.constant 0 : index\n";
  }
  f << "  " << resultNames << " = mha.attention %q, %k, %v" << serving.operands
    << opAttrs << " : " << q << ", " << (shape == 3 ? q : k) << ", " << v
    << " -> " << resultTypes << "\n";
  f << "  return " << returned << " : " << returnedTypes << "\n}\n";
  return f.str();
}

} // namespace

// ASan defaults (ASAN_OPTIONS adds to them): our instrumented code inlines
// LLVM's BumpPtrAllocator, which poisons memory that the uninstrumented
// libMLIR.so then uses, so manual poisoning is off; leaks inside libMLIR.so
// are not ours.
extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0:detect_leaks=0";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mha_fuzz::SpecFuzzer *fuzzer = new mha_fuzz::SpecFuzzer();
  static bool print = getenv("MHA_FUZZ_PRINT") != nullptr;
  FuzzedDataProvider fdp(data, size);
  int64_t rows = pick(fdp, kTiles), cols = pick(fdp, kTiles);
  int numFunctions = fdp.ConsumeIntegralInRange<int>(0, 7) ? 1 : 2;
  std::string text;
  for (int i = 0; i < numFunctions; ++i)
    text += fdp.ConsumeIntegralInRange<int>(0, 3) == 0
                ? generateLayer(fdp, i)
                : generateFunction(fdp, i);
  if (print)
    fprintf(stderr, "// rows %lld cols %lld\n%s\n", (long long)rows,
            (long long)cols, text.c_str());
  fuzzer->run(text, rows, cols);
  return 0;
}
