//===- mha-fuzz-runtime.cpp - Fuzz the argument checks of a library -------===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// libFuzzer target: calls the functions of fuzz/specs/runtime.mlir (compiled
// at build time by mha-compile into an object holding the kernels and the
// ASan/UBSan-instrumented runtime) with fuzzed DLTensor metadata: ranks,
// shapes (negative, huge, mismatched), strides (NULL, compact, transposed,
// padded, 0, negative, huge), dtypes, devices, NULL pointers, byte offsets,
// num_threads, the runtime head mask, struct_size and the dropout seed and
// offset; backward functions (f32 with dropout and dentropy; bf16 with
// whole-head items and the dq temporary); serving functions (a paged cache
// with key and query lengths, packed sequences, an int8 paged cache with a
// scale per page, an append into a paged cache) whose lengths, offsets,
// page numbers and scales are fuzzed too, mostly valid, sometimes out of
// range; a layer's decoding step over a paged cache; a merge of partial
// results; inputs that hold NaN or
// infinity; the layer's temporary cache (its limit set and released between
// calls); and the calling thread, sometimes one with a 64 KiB stack.
//
// Every tensor whose metadata reaches at most kMaxBytes gets a buffer of
// exactly that many bytes that ends on a PROT_NONE guard page, so a kernel
// (generated code, not instrumented) that reads or writes past a tensor
// faults; the runtime itself is under ASan. A tensor whose reach overflows
// int64 must make the call fail; a call with a tensor that is valid but too
// big to allocate is skipped. The oracle, for every call:
//  - the status is MHA_OK or an error; on error mha_last_error() is a
//    non-empty message and no output byte changed; on MHA_OK the message is
//    empty;
//  - inputs are never written; bytes of an output buffer that the output
//    tensor does not address are never written;
//  - on MHA_OK every output element is written, and none is NaN unless an
//    input holds NaN or infinity (or, for the backward, whose o and lse are
//    fuzzed rather than the forward's, whatever the inputs);
//  - the cache never holds more than its limit;
//  - a well-formed call (right shapes, dtypes, supported layout) succeeds;
//  - a call with an index it would use out of range (a length past the
//    cache, a page past the pool, offsets not from 0 or decreasing) or a
//    scale that is not finite and > 0 fails (docs/language.md 4.6, 4.8);
//  - an append leaves its caches as they were but for its new keys and
//    values, each at its slot (4.7).
//
//===----------------------------------------------------------------------===//

#include "runtime_specs.h"

#include <fuzzer/FuzzedDataProvider.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int64_t kMaxBytes = 256 << 10;
constexpr uint8_t kPoison = 0xA5;

[[noreturn]] void die(const char *what, int fn, int status,
                      const std::string &lastError = mha_last_error()) {
  fprintf(stderr,
          "mha-fuzz-runtime: %s (function %d, status %d: %s, "
          "last error '%s')\n",
          what, fn, status, mha_status_string((mha_status)status),
          lastError.c_str());
  abort();
}

// Dimension of a signature: a static size, or one of the call's sizes: the
// batch, query rows, keys (a page's keys in a paged pool), pages, block
// table columns, and the batch plus one (packed sequences' offsets).
enum Dim : int64_t { B = -1, LQ = -2, LK = -3, P = -4, COLS = -5, B1 = -6 };
constexpr int kNumSizes = 6;
// What a tensor holds: values of the function's element type, f32 values,
// a serving tensor's contents (docs/language.md 4.6, 4.8), or a cache an
// append function writes in place (4.7: values in, the new keys out).
enum class Kind {
  Values,
  F32,
  KvLens,
  QLens,
  Table,
  CuSeqlensQ,
  CuSeqlensK,
  Scales,
  Int8,
  Cache
};
struct TensorSig {
  int rank;
  int64_t dims[4];
  bool isInput;
  Kind kind = Kind::Values;
  bool isLse = false; // A pruned head's lse is unspecified.
};
enum class Elt { F32, F16, BF16, I32, I8 };
bool isIndex(Kind k) {
  return k == Kind::KvLens || k == Kind::QLens || k == Kind::Table ||
         k == Kind::CuSeqlensQ || k == Kind::CuSeqlensK;
}
constexpr int kMaxTensors = 11;
constexpr Kind F32 = Kind::F32;
struct FunctionSig {
  int numTensors;
  Elt elt; // q, k, v and o; extra results are always f32.
  int heads;
  TensorSig tensors[kMaxTensors];
  bool isLayer = false; // Every tensor has the element type; no lse.
  // The backward: its o and lse are fuzzed, so any result may be NaN.
  bool resultsMayBeNaN = false;
  // An append function: its new keys and values are tensors newKeys and
  // newKeys + 1 (a layer's decoding step appends its own projections).
  int newKeys = -1;
  // A layer's saved activations (docs/language.md 7.1): written by its
  // forward_train, read by its backward.
  enum Saved { NoSaved, WritesSaved, ReadsSaved } saved = NoSaved;
};

const FunctionSig kFunctions[] = {
    // fz_static
    {5,
     Elt::F32,
     4,
     {{4, {2, 4, 8, 16}, true},
      {4, {2, 2, 8, 16}, true},
      {4, {2, 2, 8, 8}, true},
      {4, {2, 4, 8, 8}, false},
      {3, {2, 4, 8}, false, F32, true}}},
    // fz_dynamic
    {7,
     Elt::F32,
     4,
     {{4, {B, 4, LQ, 8}, true},
      {4, {B, 4, LK, 8}, true},
      {4, {B, 4, LK, 8}, true},
      {4, {B, 4, LQ, 8}, false},
      {3, {B, 4, LQ}, false, F32, true},
      {4, {B, 4, LQ, LK}, false, F32},
      {3, {B, 4, LQ}, false, F32}}},
    // fz_half
    {4,
     Elt::F16,
     3,
     {{4, {B, 3, LQ, 8}, true},
      {4, {B, 1, LK, 8}, true},
      {4, {B, 1, LK, 8}, true},
      {4, {B, 3, LQ, 8}, false}}},
    // fz_bf16
    {5,
     Elt::BF16,
     2,
     {{4, {1, 2, 5, 4}, true},
      {4, {1, 2, LK, 4}, true},
      {4, {1, 2, LK, 4}, true},
      {4, {1, 2, 5, 4}, false},
      {4, {1, 2, 5, LK}, false, F32}}},
    // fz_layer: x, wq, wk, wv, wo, bo, y.
    {7,
     Elt::F32,
     2,
     {{3, {B, LQ, 8}, true},
      {2, {8, 8}, true},
      {2, {8, 4}, true},
      {2, {8, 4}, true},
      {2, {8, 8}, true},
      {1, {8}, true},
      {3, {B, LQ, 8}, false}},
     true},
    // fz_train: q, k, v -> o, lse, entropy (dropout).
    {6,
     Elt::F32,
     2,
     {{4, {B, 2, LQ, 8}, true},
      {4, {B, 1, LK, 8}, true},
      {4, {B, 1, LK, 8}, true},
      {4, {B, 2, LQ, 8}, false},
      {3, {B, 2, LQ}, false, F32, true},
      {3, {B, 2, LQ}, false, F32}}},
    // fz_train_backward: q, k, v, o, lse, dout, dentropy -> dq, dk, dv.
    {10,
     Elt::F32,
     2,
     {{4, {B, 2, LQ, 8}, true},
      {4, {B, 1, LK, 8}, true},
      {4, {B, 1, LK, 8}, true},
      {4, {B, 2, LQ, 8}, true},
      {3, {B, 2, LQ}, true, F32},
      {4, {B, 2, LQ, 8}, true},
      {3, {B, 2, LQ}, true, F32},
      {4, {B, 2, LQ, 8}, false},
      {4, {B, 1, LK, 8}, false},
      {4, {B, 1, LK, 8}, false}},
     false,
     true},
    // fz_train16_backward: q, k, v, o, lse, dout -> dq, dk, dv (bf16, whole
    // KV heads, dq summed in the runtime's f32 temporary).
    {9,
     Elt::BF16,
     4,
     {{4, {B, 4, LQ, 16}, true},
      {4, {B, 4, LK, 16}, true},
      {4, {B, 4, LK, 16}, true},
      {4, {B, 4, LQ, 16}, true},
      {3, {B, 4, LQ}, true, F32},
      {4, {B, 4, LQ, 16}, true},
      {4, {B, 4, LQ, 16}, false},
      {4, {B, 4, LK, 16}, false},
      {4, {B, 4, LK, 16}, false}},
     false,
     true},
    // fz_paged: q, k and v pools of P pages of LK keys, kv_lens, q_lens,
    // block_table -> o, lse.
    {8,
     Elt::F32,
     4,
     {{4, {B, 4, LQ, 8}, true},
      {4, {P, 1, LK, 8}, true},
      {4, {P, 1, LK, 8}, true},
      {1, {B}, true, Kind::KvLens},
      {1, {B}, true, Kind::QLens},
      {2, {B, COLS}, true, Kind::Table},
      {4, {B, 4, LQ, 8}, false},
      {3, {B, 4, LQ}, false, F32, true}}},
    // fz_packed: packed q [1, 2, LQ, 8], k and v [1, 1, LK, ...], their
    // offsets -> o, lse.
    {7,
     Elt::F32,
     2,
     {{4, {1, 2, LQ, 8}, true},
      {4, {1, 1, LK, 8}, true},
      {4, {1, 1, LK, 4}, true},
      {1, {B1}, true, Kind::CuSeqlensQ},
      {1, {B1}, true, Kind::CuSeqlensK},
      {4, {1, 2, LQ, 4}, false},
      {3, {1, 2, LQ}, false, F32, true}}},
    // fz_int8: q, int8 k and v pools, their scales per page and KV head,
    // kv_lens, block_table -> o.
    {8,
     Elt::F32,
     4,
     {{4, {B, 4, LQ, 8}, true},
      {4, {P, 2, LK, 8}, true, Kind::Int8},
      {4, {P, 2, LK, 8}, true, Kind::Int8},
      {2, {P, 2}, true, Kind::Scales},
      {2, {P, 2}, true, Kind::Scales},
      {1, {B}, true, Kind::KvLens},
      {2, {B, COLS}, true, Kind::Table},
      {4, {B, 4, LQ, 8}, false}}},
    // fz_append: k_new, v_new [B, 2, LQ, 8], kv_lens, q_lens, block_table,
    // then the k and v pools [P, 2, LK, 8], written in place.
    {7,
     Elt::F32,
     2,
     {{4, {B, 2, LQ, 8}, true},
      {4, {B, 2, LQ, 8}, true},
      {1, {B}, true, Kind::KvLens},
      {1, {B}, true, Kind::QLens},
      {2, {B, COLS}, true, Kind::Table},
      {4, {P, 2, LK, 8}, true, Kind::Cache},
      {4, {P, 2, LK, 8}, true, Kind::Cache}},
     false,
     false,
     0},
    // fz_step: a layer's decoding step, x [B, LQ, 8], its weights,
    // kv_lens, block_table, the k and v pools [P, 1, LK, 4] written in
    // place -> y.
    {10,
     Elt::F32,
     2,
     {{3, {B, LQ, 8}, true},
      {2, {8, 8}, true},
      {2, {8, 4}, true},
      {2, {8, 4}, true},
      {2, {8, 8}, true},
      {1, {B}, true, Kind::KvLens},
      {2, {B, COLS}, true, Kind::Table},
      {4, {P, 1, LK, 4}, true, Kind::Cache},
      {4, {P, 1, LK, 4}, true, Kind::Cache},
      {3, {B, LQ, 8}, false}},
     true},
    // fz_merge: o_a, lse_a, o_b, lse_b -> o, lse (bf16 outputs).
    {6,
     Elt::BF16,
     2,
     {{4, {B, 2, LQ, 4}, true},
      {3, {B, 2, LQ}, true, F32},
      {4, {B, 2, LQ, 4}, true},
      {3, {B, 2, LQ}, true, F32},
      {4, {B, 2, LQ, 4}, false},
      {3, {B, 2, LQ}, false, F32, true}}},
    // fz_tlayer_forward_train: x, wq, wk, wv, wo -> y and the saved
    // activations.
    {6,
     Elt::F32,
     2,
     {{3, {B, LQ, 8}, true},
      {2, {8, 8}, true},
      {2, {8, 4}, true},
      {2, {8, 4}, true},
      {2, {8, 8}, true},
      {3, {B, LQ, 8}, false}},
     true,
     false,
     -1,
     FunctionSig::WritesSaved},
    // fz_tlayer_backward: x, wq, wk, wv, wo, dy -> dx, dwq, dwk, dwv, dwo.
    {11,
     Elt::F32,
     2,
     {{3, {B, LQ, 8}, true},
      {2, {8, 8}, true},
      {2, {8, 4}, true},
      {2, {8, 4}, true},
      {2, {8, 8}, true},
      {3, {B, LQ, 8}, true},
      {3, {B, LQ, 8}, false},
      {2, {8, 8}, false},
      {2, {8, 4}, false},
      {2, {8, 4}, false},
      {2, {8, 8}, false}},
     true,
     false,
     -1,
     FunctionSig::ReadsSaved},
};
constexpr int kNumFunctions = sizeof(kFunctions) / sizeof(kFunctions[0]);

mha_status callFunction(int fn, DLTensor *const *t, const mha_options *opts) {
  switch (fn) {
  case 0:
    return fz_static(t[0], t[1], t[2], t[3], t[4], opts);
  case 1:
    return fz_dynamic(t[0], t[1], t[2], t[3], t[4], t[5], t[6], opts);
  case 2:
    return fz_half(t[0], t[1], t[2], t[3], opts);
  case 3:
    return fz_bf16(t[0], t[1], t[2], t[3], t[4], opts);
  case 4:
    return fz_layer(t[0], t[1], t[2], t[3], t[4], t[5], t[6], opts);
  case 5:
    return fz_train(t[0], t[1], t[2], t[3], t[4], t[5], opts);
  case 6:
    return fz_train_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                             t[8], t[9], opts);
  case 7:
    return fz_train16_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                               t[8], opts);
  case 8:
    return fz_paged(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], opts);
  case 9:
    return fz_packed(t[0], t[1], t[2], t[3], t[4], t[5], t[6], opts);
  case 10:
    return fz_int8(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], opts);
  case 11:
    return fz_append(t[0], t[1], t[2], t[3], t[4], t[5], t[6], opts);
  case 12:
    return fz_step(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9],
                   opts);
  case 13:
    return fz_merge(t[0], t[1], t[2], t[3], t[4], t[5], opts);
  case 14:
    return fz_tlayer_forward_train(t[0], t[1], t[2], t[3], t[4], t[5], opts);
  default:
    return fz_tlayer_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                              t[8], t[9], t[10], opts);
  }
}

// A call made on another thread, with the stack size the fuzzer chose.
struct ThreadCall {
  int fn;
  DLTensor *const *tensors;
  const mha_options *opts;
  mha_status status;
  // The error message as the calling thread saw it (it is thread-local).
  char lastError[1024];
};

void *runThreadCall(void *arg) {
  auto *call = static_cast<ThreadCall *>(arg);
  call->status = callFunction(call->fn, call->tensors, call->opts);
  snprintf(call->lastError, sizeof(call->lastError), "%s", mha_last_error());
  return nullptr;
}

// Calls function `fn` on this thread (stackBytes == 0) or on a new thread
// with a stack of `stackBytes`; `lastError` receives the message.
mha_status callOnThread(int fn, DLTensor *const *t, const mha_options *opts,
                        size_t stackBytes, std::string &lastError) {
  ThreadCall call = {fn, t, opts, MHA_ERR_INTERNAL, {0}};
  if (stackBytes == 0) {
    runThreadCall(&call);
  } else {
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stackBytes);
    if (pthread_create(&thread, &attr, runThreadCall, &call) != 0) {
      perror("pthread_create");
      abort();
    }
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
  }
  lastError = call.lastError;
  return call.status;
}

// A buffer of `size` bytes that ends where a PROT_NONE page begins.
struct GuardedBuffer {
  uint8_t *map = nullptr;
  size_t mapSize = 0;
  uint8_t *data = nullptr;
  size_t size = 0;

  void allocate(size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (bytes + page - 1) / page * page;
    mapSize = body + 2 * page;
    void *m =
        mmap(nullptr, mapSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      perror("mmap");
      abort();
    }
    map = static_cast<uint8_t *>(m);
    if (body && mprotect(map + page, body, PROT_READ | PROT_WRITE) != 0) {
      perror("mprotect");
      abort();
    }
    size = bytes;
    data = map + page + body - bytes;
  }
  ~GuardedBuffer() {
    if (map)
      munmap(map, mapSize);
  }
};

// The bytes [0, end) a tensor may touch (data + byte_offset + every element),
// as an exact 128-bit number; `ok` is false when a stride or size is negative
// (the runtime rejects those before computing a reach).
struct Reach {
  bool ok = true;
  bool empty = false;
  __int128 end = 0;
};

Reach computeReach(const DLTensor &t, int64_t elem) {
  Reach r;
  __int128 last = (__int128)t.byte_offset / elem;
  __int128 compact = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    int64_t size = t.shape[d];
    if (size < 0)
      r.ok = false;
    if (size == 0)
      r.empty = true;
    // Everything saturates at 2^62 (strides) and 2^100 (terms): only "more
    // than int64" matters, and 128-bit arithmetic must not overflow.
    const __int128 cap = (__int128)1 << 100;
    __int128 stride = t.strides ? (__int128)t.strides[d] : compact;
    if (stride < 0)
      r.ok = false;
    if (stride > ((__int128)1 << 62))
      stride = (__int128)1 << 62;
    if (!t.strides) {
      compact *= size > 1 ? size : 1; // < 2^62 * 2^63.
      if (compact > ((__int128)1 << 62))
        compact = (__int128)1 << 62;
    }
    if (size > 0 && stride > 0) {
      __int128 term = (__int128)(size - 1) * stride; // < 2^125.
      last += term > cap ? cap : term;
    }
  }
  r.end = (last + 1) * elem;
  return r;
}

int64_t eltBytes(Elt e) {
  switch (e) {
  case Elt::F32:
  case Elt::I32:
    return 4;
  case Elt::I8:
    return 1;
  default:
    return 2;
  }
}

uint8_t dlCode(Elt e) {
  if (e == Elt::BF16)
    return kDLBfloat;
  return e == Elt::I32 || e == Elt::I8 ? kDLInt : kDLFloat;
}

Elt tensorElt(const FunctionSig &sig, const TensorSig &ts) {
  if (isIndex(ts.kind))
    return Elt::I32;
  if (ts.kind == Kind::Int8)
    return Elt::I8;
  return ts.kind == Kind::Values ? sig.elt : Elt::F32;
}

// Input values (1e2 makes scores of ~1e4-1e5); returns whether it wrote
// a NaN or an infinity (rarely asked for: one element of the buffer).
bool fillInput(uint8_t *p, size_t bytes, int64_t elem, Elt e,
               FuzzedDataProvider &fdp) {
  static const float f32s[] = {0.f, 1.f, -1.f, 0.5f, 2.f, -3.f, 100.f, -100.f};
  static const uint16_t f16s[] = {0x0000, 0x3C00, 0xBC00, 0x3800,
                                  0x4000, 0xC200, 0x5640, 0xD640};
  static const uint16_t bf16s[] = {0x0000, 0x3F80, 0xBF80, 0x3F00,
                                   0x4000, 0xC040, 0x42C8, 0xC2C8};
  static const int8_t i8s[] = {0, 1, -1, 5, 20, -20, 127, -128};
  uint8_t seed = fdp.ConsumeIntegral<uint8_t>();
  for (size_t i = 0; i + elem <= bytes; i += elem) {
    unsigned k = (unsigned)((i / elem) * 2654435761u + seed) >> 7 & 7;
    if (e == Elt::F32)
      memcpy(p + i, &f32s[k], 4);
    else if (e == Elt::I8)
      memcpy(p + i, &i8s[k], 1);
    else
      memcpy(p + i, e == Elt::F16 ? &f16s[k] : &bf16s[k], 2);
  }
  if (e == Elt::I8 || bytes < (size_t)elem ||
      fdp.ConsumeIntegralInRange<int>(0, 15) != 0)
    return false;
  // NaN, +inf or -inf at one element (the buffer is addressed densely
  // enough that it is usually one the call reads).
  static const uint32_t f32Special[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u};
  static const uint16_t f16Special[] = {0x7E00, 0x7C00, 0xFC00};
  static const uint16_t bf16Special[] = {0x7FC0, 0x7F80, 0xFF80};
  int which = fdp.ConsumeIntegralInRange<int>(0, 2);
  size_t at = fdp.ConsumeIntegralInRange<size_t>(0, bytes / elem - 1) * elem;
  if (e == Elt::F32)
    memcpy(p + at, &f32Special[which], 4);
  else
    memcpy(p + at, e == Elt::F16 ? &f16Special[which] : &bf16Special[which], 2);
  return true;
}

// Changes the layer cache before a call: nothing (mostly), a new limit
// (none, small, the default 1 GiB) or a release.
void fuzzCache(FuzzedDataProvider &fdp) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
  case 0:
    mha_set_cached_memory_limit(0);
    break;
  case 1:
    mha_set_cached_memory_limit(fdp.ConsumeIntegralInRange<size_t>(0, 8192));
    break;
  case 2:
    mha_set_cached_memory_limit(size_t(1) << 30);
    break;
  case 3:
    mha_release_cached_memory();
    if (mha_cached_memory_bytes() != 0)
      die("the cache holds bytes after a release", -1, 0, "");
    break;
  default:
    break;
  }
}

float loadFloat(const uint8_t *p, int bits, int code) {
  if (bits == 32) {
    float f;
    memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  memcpy(&h, p, 2);
  if (code == kDLBfloat) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  // f16: NaN iff exponent all ones and mantissa non-zero.
  if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
    return NAN;
  return 0.f; // Only NaN-ness is inspected.
}

// Calls `fn(byte offset, index)` for every element a tensor addresses.
template <typename F> void forEachElement(const DLTensor &t, F fn) {
  int64_t idx[4] = {0, 0, 0, 0}, strides[4];
  int64_t compact = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    strides[d] = t.strides ? t.strides[d] : compact;
    compact *= t.shape[d] > 1 ? t.shape[d] : 1;
  }
  for (int d = 0; d < t.ndim; ++d)
    if (t.shape[d] == 0)
      return;
  int64_t elem = t.dtype.bits / 8;
  while (true) {
    int64_t off = (int64_t)t.byte_offset / elem;
    for (int d = 0; d < t.ndim; ++d)
      off += idx[d] * strides[d];
    fn(off * elem, idx);
    int d = t.ndim - 1;
    while (d >= 0 && ++idx[d] == t.shape[d])
      idx[d--] = 0;
    if (d < 0)
      return;
  }
}

// The call's sizes, indexed by -Dim - 1.
struct Sizes {
  int64_t v[kNumSizes];
  int64_t operator[](Dim d) const { return v[-d - 1]; }
  int64_t &operator[](Dim d) { return v[-d - 1]; }
};

// A value for a serving tensor's element whose range is [lo, hi]: mostly
// in it, sometimes just outside or anywhere.
int32_t fuzzIndex(FuzzedDataProvider &fdp, int64_t lo, int64_t hi) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 31)) {
  case 0:
    return fdp.ConsumeIntegral<int32_t>();
  case 1:
    return (int32_t)(lo - fdp.ConsumeIntegralInRange<int64_t>(1, 2));
  case 2:
    return (int32_t)(hi + fdp.ConsumeIntegralInRange<int64_t>(1, 2));
  default:
    return (int32_t)(hi < lo ? lo
                             : fdp.ConsumeIntegralInRange<int64_t>(lo, hi));
  }
}

// The range of a serving tensor's values at the call's sizes; `paged`:
// the function has a block table (kv_lens then counts its pages' keys).
void indexRange(Kind kind, const Sizes &n, bool paged, int64_t &lo,
                int64_t &hi) {
  lo = 0;
  switch (kind) {
  case Kind::KvLens:
    hi = paged ? n[COLS] * n[LK] : n[LK];
    return;
  case Kind::QLens:
  case Kind::CuSeqlensQ:
    hi = n[LQ];
    return;
  case Kind::CuSeqlensK:
    hi = n[LK];
    return;
  default: // A page number.
    hi = n[P] - 1;
    return;
  }
}

// Byte offset of element idx of a tensor, through its strides.
int64_t byteOffset(const DLTensor &t, const int64_t *idx) {
  int64_t elem = t.dtype.bits / 8, off = (int64_t)t.byte_offset / elem;
  int64_t compact = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    off += idx[d] * (t.strides ? t.strides[d] : compact);
    compact *= t.shape[d] > 1 ? t.shape[d] : 1;
  }
  return off * elem;
}

// Element [i] (or [i, j]) of an i32 or f32 tensor, through its strides.
template <typename T> T readElement(const DLTensor &t, int64_t i, int64_t j) {
  const int64_t idx[2] = {i, j};
  T value;
  memcpy(&value, static_cast<const uint8_t *>(t.data) + byteOffset(t, idx), 4);
  return value;
}

// The first of a function's two caches written in place, or -1.
int firstCache(const FunctionSig &sig) {
  for (int i = 0; i < sig.numTensors; ++i)
    if (sig.tensors[i].kind == Kind::Cache)
      return i;
  return -1;
}

// The new keys sequence s appends: its q_lens, or all the new rows.
int64_t appendedKeys(const DLTensor *t, int qLens, const Sizes &n, int64_t s) {
  return qLens >= 0 ? readElement<int32_t>(t[qLens], s, 0) : n[LQ];
}

// Fills a serving tensor (lengths, offsets, page numbers) or a quantized
// cache's scales through its strides; offsets rise from 0 unless fuzzed. A
// tensor of corrupted shape that addresses many elements through small
// strides (0) has its buffer filled in memory order instead.
void fillServing(const DLTensor &t, size_t bytes, Kind kind, const Sizes &n,
                 bool paged, FuzzedDataProvider &fdp) {
  int64_t lo, hi, previous = 0;
  indexRange(kind, n, paged, lo, hi);
  bool offsets = kind == Kind::CuSeqlensQ || kind == Kind::CuSeqlensK;
  int64_t elements = 1;
  for (int d = 0; d < t.ndim; ++d)
    elements = t.shape[d] > (int64_t(1) << 20) / elements
                   ? int64_t(1) << 20
                   : elements * (t.shape[d] > 0 ? t.shape[d] : 0);
  auto fill = [&](int64_t off, const int64_t *idx) {
    uint8_t *p = static_cast<uint8_t *>(t.data) + off;
    if (kind == Kind::Scales) {
      static const float bad[] = {0.f, -1.f, NAN, INFINITY};
      float scale = fdp.ConsumeIntegralInRange<int>(0, 63) == 0
                        ? bad[fdp.ConsumeIntegralInRange<int>(0, 3)]
                        : 0.01f * fdp.ConsumeIntegralInRange<int>(1, 8);
      memcpy(p, &scale, 4);
      return;
    }
    int32_t value = offsets && idx[0] == 0 ? 0 : fuzzIndex(fdp, lo, hi);
    if (offsets && idx[0] > 0 && fdp.ConsumeIntegralInRange<int>(0, 31) != 0)
      value = (int32_t)fdp.ConsumeIntegralInRange<int64_t>(
          previous, previous > hi ? previous : hi);
    previous = value;
    memcpy(p, &value, 4);
  };
  if (elements <= kMaxBytes / 4) {
    forEachElement(t, fill);
    return;
  }
  const int64_t notFirst[4] = {1, 0, 0, 0}; // No offset is taken as the first.
  for (size_t off = 0; off + 4 <= bytes; off += 4)
    fill((int64_t)off, notFirst);
}

// Whether every index the call will use is in range and every scale finite
// and > 0, restating docs/language.md 4.6 and 4.8 (lib/Runtime/Serving.c):
// lengths within the cache and the rows, offsets from 0, never decreasing
// and within the packed rows, and the pages that hold a sequence's keys in
// the pool. The tensors have the signature's shapes at sizes `n`.
bool servingIndicesValid(const FunctionSig &sig, const DLTensor *t,
                         const Sizes &n) {
  int kvLens = -1, qLens = -1, table = -1;
  for (int i = 0; i < sig.numTensors; ++i) {
    kvLens = sig.tensors[i].kind == Kind::KvLens ? i : kvLens;
    qLens = sig.tensors[i].kind == Kind::QLens ? i : qLens;
    table = sig.tensors[i].kind == Kind::Table ? i : table;
  }
  bool paged = table >= 0;
  for (int i = 0; i < sig.numTensors; ++i) {
    Kind kind = sig.tensors[i].kind;
    if (kind == Kind::Scales) {
      bool ok = true;
      forEachElement(t[i], [&](int64_t off, const int64_t *) {
        float s;
        memcpy(&s, static_cast<const uint8_t *>(t[i].data) + off, 4);
        ok &= s > 0.f && s != INFINITY;
      });
      if (!ok)
        return false;
    }
    if (!isIndex(kind) || kind == Kind::Table)
      continue;
    int64_t lo, hi;
    indexRange(kind, n, paged, lo, hi);
    bool offsets = kind == Kind::CuSeqlensQ || kind == Kind::CuSeqlensK;
    int64_t previous = 0;
    for (int64_t s = 0; s < t[i].shape[0]; ++s) {
      int64_t value = readElement<int32_t>(t[i], s, 0);
      if (value < lo || value > hi || (offsets && s == 0 && value != 0) ||
          (offsets && value < previous))
        return false;
      previous = value;
    }
  }
  // A function that appends: its sequences also hold their new keys (4.7);
  // the same number for all (no q_lens) must fit, sequences or not.
  bool appends = firstCache(sig) >= 0;
  int64_t capacity = paged ? n[COLS] * n[LK] : n[LK];
  if (appends && qLens < 0 && n[LQ] > capacity)
    return false;
  for (int64_t s = 0; s < n[B]; ++s) {
    int64_t keys = kvLens >= 0 ? readElement<int32_t>(t[kvLens], s, 0) : 0;
    if (appends)
      keys += appendedKeys(t, qLens, n, s);
    if (appends && keys > capacity)
      return false;
    if (!paged)
      continue;
    int64_t used = n[LK] ? (keys + n[LK] - 1) / n[LK] : 0;
    for (int64_t p = 0; p < used; ++p) {
      int32_t page = readElement<int32_t>(t[table], s, p);
      if (page < 0 || page >= n[P])
        return false;
    }
  }
  return true;
}

// What a call that appends must leave in its caches: the bytes before
// the call with each new key and value at its slot (4.7); `anything` marks
// the bytes that may hold any value: slots that two new keys write (shared
// pages) or, for a layer's step, whose values it projects itself.
void expectAppended(const FunctionSig &sig, const DLTensor *t, const Sizes &n,
                    const std::vector<std::vector<uint8_t>> &before,
                    std::vector<uint8_t> expected[2],
                    std::vector<uint8_t> anything[2]) {
  int cache = firstCache(sig), kvLens = -1, qLens = -1, table = -1;
  for (int i = 0; i < sig.numTensors; ++i) {
    kvLens = sig.tensors[i].kind == Kind::KvLens ? i : kvLens;
    qLens = sig.tensors[i].kind == Kind::QLens ? i : qLens;
    table = sig.tensors[i].kind == Kind::Table ? i : table;
  }
  std::vector<uint8_t> written[2];
  for (int c = 0; c < 2; ++c) {
    expected[c] = before[cache + c];
    anything[c].assign(expected[c].size(), 0);
    written[c].assign(expected[c].size(), 0);
  }
  int64_t heads = t[cache].shape[1], dims = t[cache].shape[3];
  for (int64_t s = 0; s < n[B]; ++s) {
    int64_t kv = readElement<int32_t>(t[kvLens], s, 0);
    for (int64_t k = 0; k < appendedKeys(t, qLens, n, s); ++k) {
      int64_t p = kv + k;
      int64_t page = readElement<int32_t>(t[table], s, p / n[LK]);
      for (int c = 0; c < 2; ++c)
        for (int64_t g = 0; g < heads; ++g)
          for (int64_t d = 0; d < dims; ++d) {
            int64_t from[4] = {s, g, k, d}, to[4] = {page, g, p % n[LK], d};
            int64_t at = byteOffset(t[cache + c], to);
            if (sig.newKeys < 0) {
              memset(&anything[c][at], 1, 4);
              continue;
            }
            const DLTensor &source = t[sig.newKeys + c];
            const uint8_t *value = static_cast<const uint8_t *>(source.data) +
                                   byteOffset(source, from);
            if (written[c][at] && memcmp(&expected[c][at], value, 4) != 0)
              memset(&anything[c][at], 1, 4);
            memcpy(&expected[c][at], value, 4);
            memset(&written[c][at], 1, 4);
          }
    }
  }
}

// A buffer for a layer's saved activations of `need` bytes (rounded up to
// 64, so that it starts 64-byte aligned, as the library requires), or
// none, too few bytes or a misaligned start. Returns whether the library
// must refuse it (too few bytes only where `sizesKnown`: the shapes are
// the signature's, so `need` is the call's).
bool fuzzSavedBuffer(FuzzedDataProvider &fdp, int64_t need, bool sizesKnown,
                     GuardedBuffer &saved, mha_options &opts) {
  size_t rounded = (size_t)(need + 63) / 64 * 64;
  switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
  case 0:
    return true; // None: forward_train has nowhere to write.
  case 1:
    saved.allocate(rounded);
    opts.saved_activations = saved.data;
    opts.saved_activations_bytes =
        need - fdp.ConsumeIntegralInRange<int64_t>(1, need < 64 ? need : 64);
    return sizesKnown;
  case 2:
    saved.allocate(rounded + 64);
    opts.saved_activations =
        saved.data + fdp.ConsumeIntegralInRange<int>(1, 63);
    opts.saved_activations_bytes = rounded;
    return true;
  default:
    saved.allocate(rounded);
    opts.saved_activations = saved.data;
    opts.saved_activations_bytes = rounded;
    return false;
  }
}

// The saved activations a layer backward reads: none (it recomputes),
// bytes that hold no activations of this layer, or what
// fz_tlayer_forward_train wrote for the same x and weights (tensors 0-4).
// Returns whether the library must refuse the backward.
bool prepareSavedForBackward(FuzzedDataProvider &fdp, int64_t need,
                             bool sizesKnown, DLTensor *const *t,
                             GuardedBuffer &saved, mha_options &opts) {
  int mode = fdp.ConsumeIntegralInRange<int>(0, 3);
  if (mode == 0)
    return false;
  saved.allocate((size_t)(need + 63) / 64 * 64);
  opts.saved_activations = saved.data;
  opts.saved_activations_bytes = saved.size;
  if (mode == 1) {
    for (size_t b = 0; b < saved.size; ++b)
      saved.data[b] = (uint8_t)(b * 131 + 7);
    return true;
  }
  if (!sizesKnown || !t[0] || !t[0]->shape)
    return true; // Zeros: no header.
  int64_t rows = t[0]->shape[0] * t[0]->shape[1];
  std::vector<float> y((size_t)(rows > 0 ? rows : 1) * 8);
  int64_t shape[3] = {t[0]->shape[0], t[0]->shape[1], 8};
  DLTensor yt = {};
  yt.data = y.data();
  yt.device = {kDLCPU, 0};
  yt.ndim = 3;
  yt.dtype = {kDLFloat, 32, 1};
  yt.shape = shape;
  mha_status status =
      fz_tlayer_forward_train(t[0], t[1], t[2], t[3], t[4], &yt, &opts);
  return status != MHA_OK; // Its tensors are the backward's: the same error.
}

// MHA_FUZZ_PRINT=1: each call's sizes, tensors (shape/stride per
// dimension, byte offset) and options, to triage a finding.
void printCall(int fn, const FunctionSig &sig, const Sizes &n,
               DLTensor *const *t, const mha_options &opts) {
  fprintf(
      stderr,
      "call %d: B=%lld LQ=%lld LK=%lld P=%lld COLS=%lld threads=%d "
      "struct_size=%u saved=%llu bytes\n",
      fn, (long long)n[B], (long long)n[LQ], (long long)n[LK], (long long)n[P],
      (long long)n[COLS], opts.num_threads, opts.struct_size,
      (unsigned long long)(opts.saved_activations ? opts.saved_activations_bytes
                                                  : 0));
  for (int i = 0; i < sig.numTensors; ++i) {
    fprintf(stderr, "  tensor %d:", i);
    for (int d = 0; t[i] && t[i]->shape && d < t[i]->ndim && d < 4; ++d)
      fprintf(stderr, " %lld/%lld", (long long)t[i]->shape[d],
              (long long)(t[i]->strides ? t[i]->strides[d] : -1));
    fprintf(stderr, t[i] ? " +%llu\n" : " NULL\n",
            (unsigned long long)(t[i] ? t[i]->byte_offset : 0));
  }
  for (int h = 0; opts.head_mask && h < sig.heads; ++h)
    fprintf(stderr, "%s%d", h ? " " : "  head mask: ", opts.head_mask[h]);
  fprintf(stderr, opts.head_mask ? "\n" : "");
}

// MHA_FUZZ_STATS=1: how many calls of each function succeeded or failed,
// printed at exit (to see that the fuzzer reaches the kernels).
void countCall(int fn, mha_status status) {
  static bool enabled = getenv("MHA_FUZZ_STATS") != nullptr;
  static long counts[kNumFunctions][2];
  if (!enabled)
    return;
  static bool registered = [] {
    atexit([] {
      for (int f = 0; f < kNumFunctions; ++f)
        fprintf(stderr, "function %d: %ld ok, %ld errors\n", f, counts[f][0],
                counts[f][1]);
    });
    return true;
  }();
  (void)registered;
  ++counts[fn][status == MHA_OK ? 0 : 1];
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
  FuzzedDataProvider fdp(data, size);
  int fn = fdp.ConsumeIntegralInRange<int>(0, kNumFunctions - 1);
  const FunctionSig &sig = kFunctions[fn];
  // The call's sizes: mostly small and consistent; one call in 8 has
  // caches long enough for split-KV (2048 keys).
  bool large = fdp.ConsumeIntegralInRange<int>(0, 7) == 0;
  Sizes sizes;
  sizes[B] = fdp.ConsumeIntegralInRange<int64_t>(0, 3);
  sizes[LQ] = fdp.ConsumeIntegralInRange<int64_t>(0, 24);
  sizes[LK] = fdp.ConsumeIntegralInRange<int64_t>(0, large ? 2200 : 24);
  sizes[P] = fdp.ConsumeIntegralInRange<int64_t>(0, large ? 128 : 24);
  sizes[COLS] = fdp.ConsumeIntegralInRange<int64_t>(0, large ? 64 : 8);
  sizes[B1] = sizes[B] + 1;
  bool wellFormed = true;   // Nothing the runtime should reject.
  bool mustFail = false;    // Something it must reject.
  bool skip = false;        // Valid but too big for our buffers.
  bool nonFinite = false;   // An input holds NaN or infinity.
  bool shapesIntact = true; // Every tensor has the signature's shape.

  DLTensor tensors[kMaxTensors];
  DLTensor *ptrs[kMaxTensors];
  int64_t shapes[kMaxTensors][8], strides[kMaxTensors][8];
  GuardedBuffer buffers[kMaxTensors];
  std::vector<std::vector<uint8_t>> before(sig.numTensors);
  std::vector<std::vector<uint8_t>> addressed(sig.numTensors);

  for (int i = 0; i < sig.numTensors; ++i) {
    const TensorSig &ts = sig.tensors[i];
    DLTensor &t = tensors[i];
    memset(&t, 0, sizeof(t));
    ptrs[i] = &t;
    Elt elt = tensorElt(sig, ts);
    int64_t elem = eltBytes(elt);
    t.device = {kDLCPU, 0};
    t.ndim = ts.rank;
    t.dtype.code = dlCode(elt);
    t.dtype.bits = (uint8_t)(elem * 8);
    t.dtype.lanes = 1;
    for (int d = 0; d < ts.rank; ++d)
      shapes[i][d] = ts.dims[d] >= 0 ? ts.dims[d] : sizes[(Dim)ts.dims[d]];
    for (int d = ts.rank; d < 8; ++d)
      shapes[i][d] = fdp.ConsumeIntegralInRange<int64_t>(0, 3);
    t.shape = shapes[i];

    // Layout: 0 NULL strides, 1 compact, 2 [B, L, H, D] storage (dims 1 and
    // 2 swapped), 3 padded, 4 random strides.
    int layout = fdp.ConsumeIntegralInRange<int>(0, 4);
    if (layout >= 1) {
      int64_t pad = layout == 3 ? fdp.ConsumeIntegralInRange<int64_t>(1, 5) : 0;
      int64_t s = 1;
      int order[4] = {3, 2, 1, 0};
      if (layout == 2 && ts.rank == 4)
        order[1] = 1, order[2] = 2;
      for (int k = 0; k < ts.rank; ++k) {
        int d = ts.rank == 4 ? order[k] : ts.rank - 1 - k;
        strides[i][d] = s;
        int64_t n = shapes[i][d] > 1 ? shapes[i][d] : 1;
        s *= n + pad;
      }
      if (layout == 4) {
        int d = fdp.ConsumeIntegralInRange<int>(0, ts.rank - 1);
        switch (fdp.ConsumeIntegralInRange<int>(0, 3)) {
        case 0:
          strides[i][d] = 0;
          break;
        case 1:
          strides[i][d] = -fdp.ConsumeIntegralInRange<int64_t>(1, 1000);
          break;
        case 2:
          strides[i][d] = fdp.ConsumeIntegral<int64_t>();
          break;
        default:
          strides[i][d] += fdp.ConsumeIntegralInRange<int64_t>(-2, 2);
          break;
        }
        wellFormed = false; // May well be valid; no expectation.
      }
      for (int d = ts.rank; d < 8; ++d)
        strides[i][d] = 1;
      t.strides = strides[i];
    }
    if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) {
      t.byte_offset = fdp.ConsumeIntegralInRange<uint64_t>(0, 64);
      if (t.byte_offset % elem)
        wellFormed = false;
    }

    // Corruptions of the metadata, each rare.
    if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
      wellFormed = false;
      int corruption = fdp.ConsumeIntegralInRange<int>(0, 11);
      shapesIntact &= corruption != 0 && (corruption < 5 || corruption > 8);
      switch (corruption) {
      case 0:
        t.ndim = fdp.ConsumeIntegralInRange<int>(-1, 8);
        break;
      case 1:
        t.dtype.code = fdp.ConsumeIntegral<uint8_t>();
        break;
      case 2:
        t.dtype.bits = fdp.ConsumeIntegral<uint8_t>();
        break;
      case 3:
        t.dtype.lanes = fdp.ConsumeIntegral<uint16_t>();
        break;
      case 4: {
        int32_t type = fdp.ConsumeIntegralInRange<int32_t>(-1, 20);
        memcpy(&t.device.device_type, &type, sizeof(type));
      }
        t.device.device_id = fdp.ConsumeIntegral<int32_t>();
        break;
      case 5:
        t.shape = nullptr;
        break;
      case 6:
      case 7:
        shapes[i][fdp.ConsumeIntegralInRange<int>(0, 3)] =
            fdp.ConsumeIntegral<int64_t>();
        break;
      case 8:
        shapes[i][fdp.ConsumeIntegralInRange<int>(0, 3)] +=
            fdp.ConsumeIntegralInRange<int64_t>(-2, 2);
        break;
      case 9:
        t.byte_offset = fdp.ConsumeIntegral<uint64_t>();
        break;
      case 10:
        ptrs[i] = nullptr;
        break;
      default:
        t.byte_offset =
            UINT64_MAX - fdp.ConsumeIntegralInRange<uint64_t>(0, 16);
        break;
      }
    }
    bool nullData = fdp.ConsumeIntegralInRange<int>(0, 31) == 0;
    if (nullData)
      wellFormed = false;

    // Does the runtime get as far as this tensor's reach, and what is it?
    // (The device type is read as an int: a fuzzed value need not be a
    // DLDeviceType enumerator, which UBSan would flag in C++.)
    int32_t deviceType;
    memcpy(&deviceType, &t.device.device_type, sizeof(deviceType));
    bool checkedShape = ptrs[i] && deviceType == kDLCPU && t.ndim == ts.rank &&
                        t.dtype.code == dlCode(elt) &&
                        t.dtype.bits == elem * 8 && t.dtype.lanes == 1 &&
                        t.shape;
    if (!checkedShape) {
      mustFail = true;
      continue;
    }
    Reach r = computeReach(t, elem);
    if (!r.ok || t.byte_offset % elem) {
      mustFail = true;
      continue;
    }
    if (r.empty) {
      // Nothing is addressed; the runtime never reads the data pointer.
      if (!nullData)
        t.data = reinterpret_cast<void *>(uintptr_t(16)); // Never touched.
      continue;
    }
    if (r.end > (__int128)INT64_MAX) {
      mustFail = true;
      continue;
    }
    if (r.end > kMaxBytes) {
      skip = true;
      continue;
    }
    if (nullData) {
      mustFail = true;
      continue;
    }
    buffers[i].allocate((size_t)r.end);
    t.data = buffers[i].data;
    if (!ts.isInput)
      memset(buffers[i].data, kPoison, buffers[i].size);
    else if (ts.kind == Kind::Values || ts.kind == Kind::F32 ||
             ts.kind == Kind::Int8 || ts.kind == Kind::Cache)
      nonFinite |= fillInput(buffers[i].data, buffers[i].size, elem, elt, fdp);
  }
  // Serving tensors' contents follow from the sizes of the others.
  bool paged = false;
  for (int i = 0; i < sig.numTensors; ++i)
    paged |= sig.tensors[i].kind == Kind::Table;
  for (int i = 0; i < sig.numTensors; ++i) {
    Kind kind = sig.tensors[i].kind;
    if (buffers[i].data && (isIndex(kind) || kind == Kind::Scales))
      fillServing(tensors[i], buffers[i].size, kind, sizes, paged, fdp);
    if (buffers[i].data)
      before[i].assign(buffers[i].data, buffers[i].data + buffers[i].size);
  }
  if (!mustFail && !skip && shapesIntact &&
      !servingIndicesValid(sig, tensors, sizes))
    mustFail = true;
  mha_options opts;
  memset(&opts, 0, sizeof(opts));
  opts.num_threads = fdp.ConsumeIntegralInRange<int>(-2, 8);
  std::vector<uint8_t> mask;
  if (fdp.ConsumeBool()) {
    mask = fdp.ConsumeBytes<uint8_t>(sig.heads);
    mask.resize(sig.heads, 1);
    opts.head_mask = mask.data();
  }
  opts.dropout_seed = fdp.ConsumeIntegral<uint64_t>();
  opts.dropout_offset = fdp.ConsumeIntegral<uint64_t>();
  // struct_size: 0 (this layout), ours, too small to hold itself, or an
  // older header's that ends before head_mask (which is then not read).
  switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
  case 0:
    opts.struct_size = sizeof(mha_options);
    break;
  case 1:
    opts.struct_size = fdp.ConsumeIntegralInRange<uint32_t>(1, 3);
    break;
  case 2:
    opts.struct_size = offsetof(mha_options, head_mask);
    break;
  default:
    break;
  }
  bool nullOpts = fdp.ConsumeIntegralInRange<int>(0, 15) == 0;
  if (nullOpts) {
    memset(&opts, 0, sizeof(opts)); // What NULL means.
  } else if (opts.num_threads < 0 ||
             (opts.struct_size > 0 && opts.struct_size < 4)) {
    mustFail = true;
    wellFormed = false;
  }
  // An append function refuses a head mask (it has no heads to ablate),
  // unless struct_size says the options end before it.
  if (sig.newKeys >= 0 && !nullOpts && opts.head_mask &&
      (opts.struct_size == 0 ||
       opts.struct_size > offsetof(mha_options, head_mask)))
    mustFail = true;
  // Saved activations (7.1), where the options hold them: a layer's
  // forward_train needs a buffer, its backward may take one, and every
  // other function refuses one.
  // (struct_size 0 stands for the first header's fields, which end before
  // them: a caller of saved activations passes its own struct_size.)
  GuardedBuffer saved;
  if (sig.saved != FunctionSig::NoSaved && opts.struct_size == 0)
    opts.struct_size = sizeof(mha_options);
  bool savedFieldRead =
      !nullOpts &&
      opts.struct_size >=
          offsetof(mha_options, saved_activations_bytes) + sizeof(uint64_t);
  int64_t savedNeed = fz_tlayer_saved_bytes(sizes[B], sizes[LQ]);
  bool sizesKnown = shapesIntact && !skip;
  if (sig.saved == FunctionSig::WritesSaved)
    mustFail |= !savedFieldRead ||
                fuzzSavedBuffer(fdp, savedNeed, sizesKnown, saved, opts);
  else if (sig.saved == FunctionSig::ReadsSaved && savedFieldRead)
    mustFail |= prepareSavedForBackward(fdp, savedNeed, sizesKnown && !mustFail,
                                        ptrs, saved, opts);
  else if (savedFieldRead && fdp.ConsumeIntegralInRange<int>(0, 31) == 0) {
    saved.allocate(256);
    opts.saved_activations = saved.data;
    opts.saved_activations_bytes = saved.size;
    mustFail = true;
  }
  std::vector<uint8_t> savedBefore(saved.data, saved.data + saved.size);
  if (skip && !mustFail)
    return 0;
  fuzzCache(fdp);
  // The calling thread: this one, or one with a 64 KiB or 256 KiB stack.
  static const size_t kStacks[] = {0, 0, 0, 64 << 10, 256 << 10};
  size_t stack = kStacks[fdp.ConsumeIntegralInRange<int>(0, 4)];

  static bool print = getenv("MHA_FUZZ_PRINT") != nullptr;
  if (print)
    printCall(fn, sig, sizes, ptrs, opts);
  std::string lastError;
  mha_status status =
      callOnThread(fn, ptrs, nullOpts ? nullptr : &opts, stack, lastError);
  countCall(fn, status);
  // The saved activations change only in a forward_train that succeeds.
  if ((status != MHA_OK || sig.saved != FunctionSig::WritesSaved) &&
      saved.data && memcmp(saved.data, savedBefore.data(), saved.size) != 0)
    die("a call changed saved activations it does not write", fn, status,
        lastError);
  // Read the limit by setting it (raising it frees nothing), then put it
  // back.
  size_t limit = mha_set_cached_memory_limit(size_t(1) << 30);
  if (mha_cached_memory_bytes() > limit)
    die("the cache holds more than its limit", fn, status, lastError);
  mha_set_cached_memory_limit(limit);
  if (status != MHA_OK) {
    if (wellFormed && !mustFail)
      die("a well-formed call failed", fn, status, lastError);
    if (lastError.empty())
      die("an error without a message", fn, status, lastError);
    for (int i = 0; i < sig.numTensors; ++i)
      if (buffers[i].data &&
          memcmp(buffers[i].data, before[i].data(), buffers[i].size) != 0)
        die("a failed call wrote a tensor", fn, status, lastError);
    return 0;
  }
  if (mustFail)
    die("a call that must fail succeeded", fn, status);
  if (!lastError.empty())
    die("a successful call left an error message", fn, status, lastError);
  std::vector<uint8_t> expected[2], anything[2];
  int cache = firstCache(sig);
  bool checkCaches = cache >= 0 && shapesIntact;
  if (checkCaches)
    expectAppended(sig, tensors, sizes, before, expected, anything);
  for (int i = 0; i < sig.numTensors; ++i) {
    if (!buffers[i].data)
      continue;
    const DLTensor &t = tensors[i];
    if (sig.tensors[i].kind == Kind::Cache) {
      for (size_t b = 0; checkCaches && b < buffers[i].size; ++b)
        if (!anything[i - cache][b] &&
            buffers[i].data[b] != expected[i - cache][b])
          die("an append changed a cache byte other than its new keys' or "
              "wrote a wrong value",
              fn, status);
      continue;
    }
    if (sig.tensors[i].isInput) {
      if (memcmp(buffers[i].data, before[i].data(), buffers[i].size) != 0)
        die("a call wrote an input", fn, status);
      continue;
    }
    // Every addressed element written (f32: 2-byte poison is a plausible
    // value) and not NaN; nothing else written. A pruned head's lse is
    // unspecified.
    bool isLse = sig.tensors[i].isLse;
    int64_t elem = t.dtype.bits / 8;
    std::vector<uint8_t> &mark = addressed[i];
    mark.assign(buffers[i].size, 0);
    forEachElement(t, [&](int64_t off, const int64_t *idx) {
      memset(&mark[off], 1, elem);
      int64_t h = idx[1];
      bool pruned = !sig.isLayer && ((opts.head_mask && !opts.head_mask[h]) ||
                                     (fn == 1 && h == 2));
      if (isLse && pruned)
        return;
      const uint8_t *p = buffers[i].data + off;
      bool poisoned = elem == 4;
      for (int64_t b = 0; b < elem; ++b)
        poisoned &= p[b] == kPoison;
      if (poisoned)
        die(("output " + std::to_string(i) + "'s element at byte " +
             std::to_string(off) + " was not written")
                .c_str(),
            fn, status);
      if (!nonFinite && !sig.resultsMayBeNaN &&
          std::isnan(loadFloat(p, t.dtype.bits, t.dtype.code)))
        die("an output element is NaN", fn, status);
    });
    for (size_t b = 0; b < buffers[i].size; ++b)
      if (!mark[b] && buffers[i].data[b] != kPoison)
        die("a call wrote a byte its output does not address", fn, status);
  }
  return 0;
}
