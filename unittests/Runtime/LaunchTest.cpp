//===- LaunchTest.cpp - Checking calls and running work grids ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Signatures are built by hand; a fake work function records the items it
// gets and writes values derived from its inputs through the descriptors, so
// the tests see both the grid and the memref descriptors the runtime built.
//
//===----------------------------------------------------------------------===//

#include "ThreadPool.h"

#include "mha/Runtime/KernelAbi.h"

#include "gtest/gtest.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

//===----------------------------------------------------------------------===//
// Signatures
//===----------------------------------------------------------------------===//

struct Dim {
  int64_t sym;
  int64_t size; // -1 = dynamic.
};
struct TensorSig {
  int64_t role;
  std::vector<Dim> dims;
  int64_t code = kDLFloat;
  int64_t bits = 32;
};

std::vector<int64_t> buildSignature(const std::vector<TensorSig> &tensors,
                                    int64_t numInputs, int64_t heads,
                                    int64_t rows) {
  std::vector<int64_t> sig(MHA_SIG_HEADER_WORDS, 0);
  sig[MHA_SIG_VERSION] = MHA_ABI_VERSION;
  sig[MHA_SIG_NUM_TENSORS] = static_cast<int64_t>(tensors.size());
  sig[MHA_SIG_NUM_INPUTS] = numInputs;
  sig[MHA_SIG_GRID_HEADS] = heads;
  sig[MHA_SIG_ROWS_PER_ITEM] = rows;
  sig[MHA_SIG_GRID_BATCH_SYM] = MHA_SYM_BATCH;
  sig[MHA_SIG_GRID_ROWS_SYM] = MHA_SYM_QUERY_LEN;
  for (const TensorSig &t : tensors) {
    std::vector<int64_t> words(MHA_SIG_TENSOR_WORDS, 0);
    words[MHA_SIG_T_ROLE] = t.role;
    words[MHA_SIG_T_DTYPE_CODE] = t.code;
    words[MHA_SIG_T_DTYPE_BITS] = t.bits;
    words[MHA_SIG_T_RANK] = static_cast<int64_t>(t.dims.size());
    for (size_t d = 0; d < t.dims.size(); ++d) {
      words[MHA_SIG_T_DIMS + 2 * d] = t.dims[d].sym;
      words[MHA_SIG_T_DIMS + 2 * d + 1] = t.dims[d].size;
    }
    sig.insert(sig.end(), words.begin(), words.end());
  }
  return sig;
}

constexpr int64_t kHeads = 4, kHeadDim = 8, kRows = 2;

// attn(q, k, v) -> (o, lse): q/o [B, Hq=4, Lq, D=8], k/v [B, Hq, Lk, D],
// lse [B, Hq, Lq]; two query rows per work item.
std::vector<int64_t> attnSignature(int64_t heads = kHeads) {
  Dim b{MHA_SYM_BATCH, -1}, h{MHA_SYM_QUERY_HEADS, heads},
      lq{MHA_SYM_QUERY_LEN, -1}, lk{MHA_SYM_KEY_LEN, -1},
      d{MHA_SYM_HEAD_DIM, kHeadDim};
  return buildSignature({{MHA_ROLE_QUERY, {b, h, lq, d}},
                         {MHA_ROLE_KEY, {b, h, lk, d}},
                         {MHA_ROLE_VALUE, {b, h, lk, d}},
                         {MHA_ROLE_OUTPUT, {b, h, lq, d}},
                         {MHA_ROLE_LSE, {b, h, lq}}},
                        3, heads, kRows);
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

// A float32 CPU tensor over its own storage, compact or strided.
struct Tensor {
  std::vector<int64_t> shape, strides; // strides empty: DLTensor strides NULL.
  std::vector<float> storage;
  DLTensor dl{};

  Tensor(std::vector<int64_t> shapeIn, std::vector<int64_t> stridesIn = {},
         uint64_t offsetElems = 0)
      : shape(std::move(shapeIn)), strides(std::move(stridesIn)) {
    size_t extent = offsetElems + 1;
    std::vector<int64_t> s = effectiveStrides();
    bool empty = false;
    for (size_t d = 0; d < shape.size(); ++d) {
      empty |= shape[d] == 0;
      if (shape[d] > 0)
        extent += static_cast<size_t>((shape[d] - 1) * s[d]);
    }
    storage.assign(empty ? 1 : extent, 0.0f);
    std::memset(storage.data(), 0xAB, storage.size() * sizeof(float));
    dl.data = storage.data();
    dl.device = {kDLCPU, 0};
    dl.ndim = static_cast<int>(shape.size());
    dl.dtype = {kDLFloat, 32, 1};
    dl.shape = shape.data();
    dl.strides = strides.empty() ? nullptr : strides.data();
    dl.byte_offset = offsetElems * sizeof(float);
  }
  Tensor(const Tensor &) = delete;
  Tensor &operator=(const Tensor &) = delete;

  std::vector<int64_t> effectiveStrides() const {
    if (!strides.empty())
      return strides;
    std::vector<int64_t> s(shape.size(), 1);
    for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d)
      s[d] = s[d + 1] * std::max<int64_t>(shape[d + 1], 1);
    return s;
  }
  float &at(std::initializer_list<int64_t> index) {
    std::vector<int64_t> s = effectiveStrides();
    int64_t i = static_cast<int64_t>(dl.byte_offset / sizeof(float));
    size_t d = 0;
    for (int64_t x : index)
      i += x * s[d++];
    return storage[static_cast<size_t>(i)];
  }
};

float inputValue(int64_t b, int64_t h, int64_t r, int64_t d) {
  return static_cast<float>(b * 1000 + h * 100 + r * 10 + d) + 0.5f;
}

//===----------------------------------------------------------------------===//
// The fake work function
//===----------------------------------------------------------------------===//

using Item = std::tuple<int64_t, int64_t, int64_t>;

std::mutex gMutex;
std::vector<Item> gItems;
std::vector<uint8_t> gAliveSeen;
std::atomic<int64_t> gCalls{0};
bool gRecord = true;

float &element(const mha_memref4 *m, int64_t b, int64_t h, int64_t r,
               int64_t d) {
  return static_cast<float *>(
      m->aligned)[m->offset + b * m->strides[0] + h * m->strides[1] +
                  r * m->strides[2] + d * m->strides[3]];
}

// o[b, h, r, :] = q[b, h, r, :] + k[b, h, 0, 0] when the head is alive (and
// Lk > 0), 0 when not; lse[b, h, r] = -(b * 100 + h * 10 + r).
void fakeWork(void **descriptors, int64_t b, int64_t h, int64_t t,
              const uint8_t *alive) {
  ++gCalls;
  if (gRecord) {
    std::lock_guard<std::mutex> lock(gMutex);
    gItems.emplace_back(b, h, t);
    if (gAliveSeen.empty())
      gAliveSeen.assign(alive, alive + kHeads);
  }
  auto *q = static_cast<mha_memref4 *>(descriptors[0]);
  auto *k = static_cast<mha_memref4 *>(descriptors[1]);
  auto *o = static_cast<mha_memref4 *>(descriptors[3]);
  auto *lse = static_cast<mha_memref3 *>(descriptors[4]);
  float bias = k->sizes[2] > 0 ? element(k, b, h, 0, 0) : 0.0f;
  int64_t end = std::min((t + 1) * kRows, q->sizes[2]);
  for (int64_t r = t * kRows; r < end; ++r) {
    for (int64_t d = 0; d < q->sizes[3]; ++d)
      element(o, b, h, r, d) = alive[h] ? element(q, b, h, r, d) + bias : 0;
    static_cast<float *>(
        lse->aligned)[lse->offset + b * lse->strides[0] + h * lse->strides[1] +
                      r * lse->strides[2]] =
        -static_cast<float>(b * 100 + h * 10 + r);
  }
}

//===----------------------------------------------------------------------===//
// A call of attn
//===----------------------------------------------------------------------===//

struct AttnCall {
  int64_t B, Lq, Lk;
  std::unique_ptr<Tensor> q, k, v, o, lse;
  std::vector<int64_t> sig = attnSignature();
  const char *names[5] = {"q", "k", "v", "o", "lse"};
  const DLTensor *tensors[5] = {};

  AttnCall(int64_t B = 2, int64_t Lq = 5, int64_t Lk = 3)
      : B(B), Lq(Lq), Lk(Lk) {
    q = std::make_unique<Tensor>(std::vector<int64_t>{B, kHeads, Lq, kHeadDim});
    k = std::make_unique<Tensor>(std::vector<int64_t>{B, kHeads, Lk, kHeadDim});
    v = std::make_unique<Tensor>(std::vector<int64_t>{B, kHeads, Lk, kHeadDim});
    o = std::make_unique<Tensor>(std::vector<int64_t>{B, kHeads, Lq, kHeadDim});
    lse = std::make_unique<Tensor>(std::vector<int64_t>{B, kHeads, Lq});
  }

  // [B, L, H, D] storage seen as a [B, H, L, D] view, as PyTorch passes it.
  static std::unique_ptr<Tensor> transposed(int64_t B, int64_t L,
                                            uint64_t offset = 0) {
    return std::make_unique<Tensor>(
        std::vector<int64_t>{B, kHeads, L, kHeadDim},
        std::vector<int64_t>{L * kHeads * kHeadDim, kHeadDim, kHeads * kHeadDim,
                             1},
        offset);
  }

  void fillInputs() {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < kHeads; ++h) {
        for (int64_t r = 0; r < Lq; ++r)
          for (int64_t d = 0; d < kHeadDim; ++d)
            q->at({b, h, r, d}) = inputValue(b, h, r, d);
        for (int64_t r = 0; r < Lk; ++r)
          for (int64_t d = 0; d < kHeadDim; ++d)
            k->at({b, h, r, d}) = v->at({b, h, r, d}) = -inputValue(b, h, r, d);
      }
  }

  int32_t launch(const mha_options *options = nullptr,
                 mha_work_fn work = fakeWork) {
    const Tensor *all[5] = {q.get(), k.get(), v.get(), o.get(), lse.get()};
    for (int i = 0; i < 5; ++i)
      tensors[i] = all[i] ? &all[i]->dl : nullptr;
    return mha_rt_launch(sig.data(), "attn", names, tensors, options, work);
  }

  // Every output element as fakeWork writes it.
  void expectOutputs(const uint8_t *mask = nullptr) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t r = 0; r < Lq; ++r) {
          bool alive = !mask || mask[h];
          for (int64_t d = 0; d < kHeadDim; ++d) {
            float want = alive ? inputValue(b, h, r, d) +
                                     (Lk > 0 ? -inputValue(b, h, 0, 0) : 0)
                               : 0.0f;
            ASSERT_EQ(o->at({b, h, r, d}), want)
                << "o[" << b << "," << h << "," << r << "," << d << "]";
          }
          ASSERT_EQ(lse->at({b, h, r}),
                    -static_cast<float>(b * 100 + h * 10 + r));
        }
  }

  // Every item of the grid B x H x ceil(Lq / rows) exactly once.
  std::vector<Item> expectedItems() const {
    std::vector<Item> items;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t t = 0; t < (Lq + kRows - 1) / kRows; ++t)
          items.emplace_back(b, h, t);
    return items;
  }
};

std::vector<Item> sortedItems() {
  std::lock_guard<std::mutex> lock(gMutex);
  std::vector<Item> items = gItems;
  std::sort(items.begin(), items.end());
  return items;
}

class LaunchTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::lock_guard<std::mutex> lock(gMutex);
    gItems.clear();
    gAliveSeen.clear();
    gCalls = 0;
    gRecord = true;
  }
};

//===----------------------------------------------------------------------===//
// Successful calls
//===----------------------------------------------------------------------===//

TEST_F(LaunchTest, CompactTensors) {
  AttnCall call;
  call.fillInputs();
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_STREQ(mha_last_error(), "");
  EXPECT_EQ(sortedItems(), call.expectedItems());
  call.expectOutputs();
  EXPECT_EQ(gAliveSeen, std::vector<uint8_t>(kHeads, 1));
}

TEST_F(LaunchTest, TransposedStridedViews) {
  AttnCall call;
  call.q = AttnCall::transposed(call.B, call.Lq);
  call.k = AttnCall::transposed(call.B, call.Lk);
  call.v = AttnCall::transposed(call.B, call.Lk);
  call.o = AttnCall::transposed(call.B, call.Lq);
  call.fillInputs();
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  call.expectOutputs();
}

TEST_F(LaunchTest, ByteOffsetIsHonoured) {
  AttnCall call;
  call.q = std::make_unique<Tensor>(
      std::vector<int64_t>{call.B, kHeads, call.Lq, kHeadDim},
      std::vector<int64_t>{}, 3);
  call.o = AttnCall::transposed(call.B, call.Lq, 5);
  call.lse = std::make_unique<Tensor>(
      std::vector<int64_t>{call.B, kHeads, call.Lq}, std::vector<int64_t>{}, 7);
  call.fillInputs();
  std::vector<float> before = call.o->storage;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  call.expectOutputs();
  // The elements before the offset are untouched.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(std::memcmp(&call.o->storage[i], &before[i], sizeof(float)), 0);
}

TEST_F(LaunchTest, LastDimensionOfSizeOneMayHaveAnyStride) {
  AttnCall call(2, 1, 3); // lse is [B, H, 1].
  call.lse = std::make_unique<Tensor>(std::vector<int64_t>{call.B, kHeads, 1},
                                      std::vector<int64_t>{kHeads * 2, 2, 7});
  call.fillInputs();
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  call.expectOutputs();
}

TEST_F(LaunchTest, InputsMayAliasEachOther) {
  AttnCall call(2, 3, 3);
  call.k->dl.data = call.q->dl.data; // Self-attention on one buffer.
  call.v->dl.data = call.q->dl.data;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
}

TEST_F(LaunchTest, EmptyGridCallsNothing) {
  for (auto [b, lq] : {std::pair<int64_t, int64_t>{0, 5}, {2, 0}, {0, 0}}) {
    SetUp();
    AttnCall call(b, lq, 3);
    call.o->dl.data = nullptr; // Empty tensors may have no data.
    call.lse->dl.data = nullptr;
    call.q->dl.data = nullptr;
    ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
    EXPECT_EQ(gCalls.load(), 0);
    EXPECT_STREQ(mha_last_error(), "");
  }
}

TEST_F(LaunchTest, EmptyKeysStillRunTheGrid) {
  AttnCall call(2, 5, 0);
  call.k->dl.data = call.v->dl.data = nullptr;
  call.fillInputs();
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_EQ(sortedItems(), call.expectedItems());
  call.expectOutputs();
}

TEST_F(LaunchTest, RuntimeHeadMaskIsPassedThrough) {
  AttnCall call;
  call.fillInputs();
  const uint8_t mask[kHeads] = {1, 0, 7, 0};
  mha_options options = {};
  options.head_mask = mask;
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  EXPECT_EQ(gAliveSeen, (std::vector<uint8_t>{1, 0, 1, 0}));
  call.expectOutputs(mask);
  // The grid still covers the ablated heads.
  EXPECT_EQ(sortedItems(), call.expectedItems());
}

// More heads than fit the runtime's stack buffer.
std::vector<std::vector<uint8_t>> gManyHeadsAlive;
std::atomic<int64_t> gManyHeadsCalls{0};
void manyHeadsWork(void **, int64_t, int64_t h, int64_t, const uint8_t *alive) {
  ++gManyHeadsCalls;
  if (h == 0) {
    std::lock_guard<std::mutex> lock(gMutex);
    gManyHeadsAlive.emplace_back(alive, alive + 1000);
  }
}

TEST_F(LaunchTest, ManyHeads) {
  constexpr int64_t H = 1000;
  gManyHeadsCalls = 0; // Counted from here, even with --gtest_repeat.
  std::vector<int64_t> sig = buildSignature({{MHA_ROLE_QUERY,
                                              {{MHA_SYM_BATCH, -1},
                                               {MHA_SYM_QUERY_HEADS, H},
                                               {MHA_SYM_QUERY_LEN, -1},
                                               {MHA_SYM_HEAD_DIM, 2}}},
                                             {MHA_ROLE_OUTPUT,
                                              {{MHA_SYM_BATCH, -1},
                                               {MHA_SYM_QUERY_HEADS, H},
                                               {MHA_SYM_QUERY_LEN, -1},
                                               {MHA_SYM_HEAD_DIM, 2}}}},
                                            1, H, 4);
  Tensor q({1, H, 3, 2}), o({1, H, 3, 2});
  const DLTensor *tensors[2] = {&q.dl, &o.dl};
  const char *names[2] = {"q", "o"};
  std::vector<uint8_t> mask(H);
  for (int64_t h = 0; h < H; ++h)
    mask[h] = h % 3 == 0;
  mha_options options = {};
  options.head_mask = mask.data();
  gManyHeadsAlive.clear();
  ASSERT_EQ(mha_rt_launch(sig.data(), "wide", names, tensors, &options,
                          manyHeadsWork),
            MHA_OK)
      << mha_last_error();
  EXPECT_EQ(gManyHeadsCalls.load(), H);
  ASSERT_EQ(gManyHeadsAlive.size(), 1u);
  EXPECT_EQ(gManyHeadsAlive[0], mask);
}

TEST_F(LaunchTest, EveryThreadCountRunsEachItemOnce) {
  AttnCall call(3, 9, 4);
  call.fillInputs();
  for (int threads = 0; threads <= 8; ++threads) {
    SetUp();
    std::memset(call.o->storage.data(), 0xAB,
                call.o->storage.size() * sizeof(float));
    mha_options options = {};
    options.num_threads = threads;
    ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
    EXPECT_EQ(sortedItems(), call.expectedItems()) << threads << " threads";
    call.expectOutputs();
  }
}

TEST_F(LaunchTest, ConcurrentHostThreads) {
  gRecord = false;
  constexpr int kThreads = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&failures, i] {
      for (int rep = 0; rep < 10; ++rep) {
        AttnCall call(1 + i % 3, 3 + i + rep, 2 + rep);
        call.fillInputs();
        mha_options options = {};
        options.num_threads = (i + rep) % 4;
        if (call.launch(&options) != MHA_OK ||
            std::string(mha_last_error()) != "") {
          ++failures;
          continue;
        }
        call.expectOutputs();
        if (::testing::Test::HasFailure())
          ++failures;
      }
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(LaunchTest, SuccessClearsThePreviousError) {
  AttnCall call;
  mha_options bad = {};
  bad.num_threads = -1;
  ASSERT_NE(call.launch(&bad), MHA_OK);
  ASSERT_STRNE(mha_last_error(), "");
  ASSERT_EQ(call.launch(), MHA_OK);
  EXPECT_STREQ(mha_last_error(), "");
}

//===----------------------------------------------------------------------===//
// mha_options versions (struct_size) and the dropout words
//===----------------------------------------------------------------------===//

TEST_F(LaunchTest, OptionsOfANewerHeaderWithUnknownFieldsUnset) {
  AttnCall call;
  call.fillInputs();
  // A newer caller's struct: 16 more bytes, all zero.
  alignas(mha_options) unsigned char newer[sizeof(mha_options) + 16] = {};
  mha_options options = MHA_OPTIONS_INIT;
  options.num_threads = 2;
  std::memcpy(newer, &options, sizeof(options));
  reinterpret_cast<mha_options *>(newer)->struct_size = sizeof(newer);
  ASSERT_EQ(call.launch(reinterpret_cast<mha_options *>(newer)), MHA_OK)
      << mha_last_error();
  call.expectOutputs();
}

TEST_F(LaunchTest, OptionsOfANewerHeaderWithAnUnknownFieldSet) {
  AttnCall call;
  call.fillInputs();
  alignas(mha_options) unsigned char newer[sizeof(mha_options) + 16] = {};
  mha_options options = MHA_OPTIONS_INIT;
  std::memcpy(newer, &options, sizeof(options));
  reinterpret_cast<mha_options *>(newer)->struct_size = sizeof(newer);
  newer[sizeof(mha_options) + 5] = 1;
  EXPECT_EQ(call.launch(reinterpret_cast<mha_options *>(newer)),
            MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(), "options->struct_size is"), nullptr)
      << mha_last_error();
  EXPECT_NE(std::strstr(mha_last_error(), "cannot honour"), nullptr);
}

TEST_F(LaunchTest, OptionsStructSizeSmallerThanItself) {
  AttnCall call;
  mha_options options = {};
  options.struct_size = 2;
  EXPECT_EQ(call.launch(&options), MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(), "MHA_OPTIONS_INIT"), nullptr)
      << mha_last_error();
}

TEST_F(LaunchTest, FieldsPastAnOlderCallersSizeAreNotRead) {
  AttnCall call;
  call.fillInputs();
  // An older header ending before head_mask: whatever lies there (here a
  // bad pointer) is not the caller's and must not be read.
  mha_options options = {};
  options.struct_size = offsetof(mha_options, head_mask);
  options.head_mask = reinterpret_cast<const uint8_t *>(uintptr_t(8));
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  call.expectOutputs();
}

// Split-KV decoding: a kernel marked MHA_SIG_SPLIT_KV whose call has fewer
// working items than CPUs gets S parts per query tile (never more than
// the keys allow), the count and the grid's B and Lq in its call words, and
// zeroed partial buffers of the documented shapes after them.
struct SplitSeen {
  std::atomic<int64_t> items{0}, maxTile{-1};
  uint32_t parts = 0, gridBatch = 0, gridRows = 0;
  int64_t outputRows = -1, outputCols = -1, lseRows = -1, arrivals = -1;
  bool arrivalsZero = true;
} splitSeen;
void splitWork(void **descriptors, int64_t b, int64_t h, int64_t t,
               const uint8_t *alive) {
  ++splitSeen.items;
  int64_t seen = splitSeen.maxTile.load();
  while (t > seen && !splitSeen.maxTile.compare_exchange_weak(seen, t)) {
  }
  if (b != 0 || h != 0 || t != 0)
    return;
  const auto *words = static_cast<const mha_memref3 *>(descriptors[5]);
  const auto *callWords = static_cast<const uint32_t *>(words->aligned);
  splitSeen.parts = callWords[MHA_SPLIT_KV_COUNT];
  splitSeen.gridBatch = callWords[MHA_SPLIT_KV_BATCH];
  splitSeen.gridRows = callWords[MHA_SPLIT_KV_ROWS];
  const auto *outputs = static_cast<const mha_memref3 *>(descriptors[6]);
  const auto *lse = static_cast<const mha_memref3 *>(descriptors[7]);
  const auto *arrivals = static_cast<const mha_memref3 *>(descriptors[8]);
  splitSeen.outputRows = outputs->sizes[0];
  splitSeen.outputCols = outputs->sizes[1];
  splitSeen.lseRows = lse->sizes[0];
  splitSeen.arrivals = arrivals->sizes[0];
  for (int64_t i = 0; i < arrivals->sizes[0]; ++i)
    splitSeen.arrivalsZero &=
        static_cast<const int32_t *>(arrivals->aligned)[i] == 0;
}

TEST_F(LaunchTest, SplitKvPartsFollowTheCpusAndTheKeys) {
  for (int64_t keys :
       {int64_t(MHA_SPLIT_MIN_KEYS) * 8, int64_t(MHA_SPLIT_MIN_KEYS) - 1}) {
    AttnCall call(/*B=*/1, /*Lq=*/1, keys);
    call.fillInputs();
    call.sig[MHA_SIG_SPLIT_KV] = 1;
    // One KV head carries the work; Dv, k is tensor 1, no block table.
    call.sig.insert(call.sig.end(), {1, kHeadDim, 1, -1});
    splitSeen.items = 0;
    splitSeen.maxTile = -1;
    ASSERT_EQ(call.launch(nullptr, splitWork), MHA_OK) << mha_last_error();
    int64_t parts = std::min<int64_t>(
        {mha_rt_num_cpus(), keys / MHA_SPLIT_MIN_KEYS, MHA_SPLIT_MAX_PARTS});
    parts = std::max<int64_t>(parts, 1);
    EXPECT_EQ(splitSeen.parts, parts);
    EXPECT_EQ(splitSeen.items.load(), kHeads * parts);
    EXPECT_EQ(splitSeen.maxTile.load(), parts - 1);
    if (parts > 1) {
      EXPECT_EQ(splitSeen.outputRows, parts * kHeads);
      EXPECT_EQ(splitSeen.outputCols, kHeadDim);
      EXPECT_EQ(splitSeen.lseRows, parts * kHeads);
      EXPECT_EQ(splitSeen.arrivals, kHeads);
      EXPECT_TRUE(splitSeen.arrivalsZero);
      EXPECT_EQ(splitSeen.gridBatch, 1u);
      EXPECT_EQ(splitSeen.gridRows, 1u);
    } else {
      EXPECT_EQ(splitSeen.lseRows, 0);
      EXPECT_EQ(splitSeen.gridBatch, 0u);
    }
    // num_threads never changes the split: the bytes of a result do not
    // depend on it.
    mha_options options = MHA_OPTIONS_INIT;
    options.num_threads = 1;
    ASSERT_EQ(call.launch(&options, splitWork), MHA_OK);
    EXPECT_EQ(splitSeen.parts, parts);
  }
}

// The dropout words, as the last descriptor the work function gets.
uint32_t seenDropoutWords[MHA_CALL_WORDS];
void dropoutWordsWork(void **descriptors, int64_t b, int64_t h, int64_t t,
                      const uint8_t *alive) {
  if (b == 0 && h == 0 && t == 0) {
    const auto *words = static_cast<const mha_memref3 *>(descriptors[5]);
    ASSERT_EQ(words->sizes[0], MHA_CALL_WORDS);
    std::memcpy(seenDropoutWords, words->aligned, sizeof(seenDropoutWords));
  }
  fakeWork(descriptors, b, h, t, alive);
}

TEST_F(LaunchTest, DropoutSeedAndOffsetReachTheKernel) {
  AttnCall call;
  call.fillInputs();
  mha_options options = MHA_OPTIONS_INIT;
  options.dropout_seed = 0x1122334455667788ull;
  options.dropout_offset = 0xAABBCCDD99ull;
  ASSERT_EQ(call.launch(&options, dropoutWordsWork), MHA_OK);
  EXPECT_EQ(seenDropoutWords[MHA_DROPOUT_SEED_LO], 0x55667788u);
  EXPECT_EQ(seenDropoutWords[MHA_DROPOUT_SEED_HI], 0x11223344u);
  EXPECT_EQ(seenDropoutWords[MHA_DROPOUT_OFFSET_LO], 0xBBCCDD99u);
  EXPECT_EQ(seenDropoutWords[MHA_POSITIONS_USED], 0u);
  // Positions: low and high words.
  options.use_positions = 1;
  options.query_start = 0x2FFFFFFFBll;
  options.key_start = (int64_t(1) << 36) + 7;
  ASSERT_EQ(call.launch(&options, dropoutWordsWork), MHA_OK);
  EXPECT_EQ(seenDropoutWords[MHA_POSITIONS_USED], 1u);
  EXPECT_EQ(seenDropoutWords[MHA_POSITIONS_QUERY_LO], 0xFFFFFFFBu);
  EXPECT_EQ(seenDropoutWords[MHA_POSITIONS_QUERY_HI], 2u);
  EXPECT_EQ(seenDropoutWords[MHA_POSITIONS_KEY_LO], 7u);
  EXPECT_EQ(seenDropoutWords[MHA_POSITIONS_KEY_HI], 16u);
  EXPECT_EQ(seenDropoutWords[MHA_HEAD_MASK_GIVEN], 0u);
  // A runtime head mask is announced (kernels then keep heads apart).
  uint8_t mask[64];
  std::memset(mask, 1, sizeof(mask));
  options.head_mask = mask;
  ASSERT_EQ(call.launch(&options, dropoutWordsWork), MHA_OK);
  EXPECT_EQ(seenDropoutWords[MHA_HEAD_MASK_GIVEN], 1u);
  options.head_mask = nullptr;
  // The threads the call may use: num_threads, or every CPU for 0.
  options.num_threads = 3;
  ASSERT_EQ(call.launch(&options, dropoutWordsWork), MHA_OK);
  EXPECT_EQ(seenDropoutWords[MHA_CALL_THREADS], 3u);
  options.num_threads = 0;
  ASSERT_EQ(call.launch(&options, dropoutWordsWork), MHA_OK);
  EXPECT_GE(seenDropoutWords[MHA_CALL_THREADS], 1u);
  // Out of range: an error naming the field, nothing run.
  options.key_start = (int64_t(1) << 38) + 1;
  EXPECT_EQ(call.launch(&options, dropoutWordsWork), MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(), "options->key_start is"), nullptr)
      << mha_last_error();
  options.key_start = 0;
  options.query_start = -1;
  EXPECT_EQ(call.launch(&options, dropoutWordsWork), MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(),
                        "options->query_start is -1 but must be a position"),
            nullptr)
      << mha_last_error();
  // NULL options: seed and offset 0.
  ASSERT_EQ(call.launch(nullptr, dropoutWordsWork), MHA_OK);
  EXPECT_EQ(seenDropoutWords[MHA_DROPOUT_SEED_LO], 0u);
  EXPECT_EQ(seenDropoutWords[MHA_DROPOUT_SEED_HI], 0u);
  EXPECT_EQ(seenDropoutWords[MHA_DROPOUT_OFFSET_LO], 0u);
}

//===----------------------------------------------------------------------===//
// Callers with small stacks (issue 23): the items run on the pool's workers
//===----------------------------------------------------------------------===//

// Runs `body` on a new thread with a 64 KiB stack.
template <class F> void onSmallStack(F body) {
  struct Call {
    F *body;
    static void *run(void *arg) {
      (*static_cast<Call *>(arg)->body)();
      return nullptr;
    }
  } call{&body};
  pthread_attr_t attr;
  pthread_t thread;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, size_t(64) << 10), 0);
  ASSERT_EQ(pthread_create(&thread, &attr, Call::run, &call), 0);
  pthread_attr_destroy(&attr);
  pthread_join(thread, nullptr);
}

TEST_F(LaunchTest, SmallStackCallerGetsEveryItem) {
  for (int threads : {1, 0}) {
    SetUp();
    AttnCall call(2, 7, 3);
    call.fillInputs();
    mha_options options = {};
    options.num_threads = threads;
    int32_t status = -1;
    std::string error = "not called";
    onSmallStack([&] {
      status = call.launch(&options);
      error = mha_last_error();
    });
    ASSERT_EQ(status, MHA_OK) << error;
    EXPECT_EQ(error, "");
    EXPECT_EQ(sortedItems(), call.expectedItems()) << threads << " threads";
    call.expectOutputs();
  }
}

bool allBytesAre(const std::vector<float> &storage, unsigned char byte) {
  const auto *p = reinterpret_cast<const unsigned char *>(storage.data());
  return std::all_of(p, p + storage.size() * sizeof(float),
                     [byte](unsigned char b) { return b == byte; });
}

// Without a worker to run the items (in a child process, whose pool starts
// empty, with worker creation failing), the call fails and writes nothing.
TEST(LaunchSmallStackDeathTest, NoWorkerFailsWithoutWriting) {
  GTEST_FLAG_SET(death_test_style, "threadsafe"); // A fresh process.
  EXPECT_EXIT(
      {
        mha_rt_pool_cap_workers_for_testing(0);
        gCalls = 0;
        AttnCall call;
        call.fillInputs();
        int32_t status = -1;
        std::string error;
        onSmallStack([&] {
          status = call.launch();
          error = mha_last_error();
        });
        bool untouched = allBytesAre(call.o->storage, 0xAB) &&
                         allBytesAre(call.lse->storage, 0xAB);
        std::fprintf(stderr, "status %d, untouched %d, items %lld: %s\n",
                     status, untouched, static_cast<long long>(gCalls.load()),
                     error.c_str());
        std::_Exit(status == MHA_ERR_OUT_OF_MEMORY && untouched &&
                           gCalls.load() == 0
                       ? 0
                       : 1);
      },
      ::testing::ExitedWithCode(0),
      "status 10, untouched 1, items 0: attn: the calling thread has less "
      "than 1152 KiB of stack free for a work item, and no worker thread "
      "could be created to run the items instead");
}

//===----------------------------------------------------------------------===//
// Errors: each check once. On error the work function never runs and no
// output byte changes.
//===----------------------------------------------------------------------===//

class LaunchErrorTest : public LaunchTest {
protected:
  AttnCall call;
  std::vector<float> oBefore, lseBefore;

  void SetUp() override {
    LaunchTest::SetUp();
    call.fillInputs();
  }

  // Launches, expects `status` and a message containing every one of
  // `parts`, and checks that nothing ran and the outputs kept their guard
  // pattern.
  void expectError(int32_t status, std::vector<std::string> parts,
                   const mha_options *options = nullptr) {
    oBefore = call.o->storage;
    lseBefore = call.lse->storage;
    int32_t got = call.launch(options);
    std::string msg = mha_last_error();
    EXPECT_EQ(got, status) << mha_status_string(static_cast<mha_status>(got))
                           << ": " << msg;
    for (const std::string &part : parts)
      EXPECT_NE(msg.find(part), std::string::npos)
          << "message '" << msg << "' lacks '" << part << "'";
    EXPECT_EQ(gCalls.load(), 0);
    EXPECT_EQ(std::memcmp(call.o->storage.data(), oBefore.data(),
                          oBefore.size() * sizeof(float)),
              0);
    EXPECT_EQ(std::memcmp(call.lse->storage.data(), lseBefore.data(),
                          lseBefore.size() * sizeof(float)),
              0);
  }
};

TEST_F(LaunchErrorTest, SignatureVersion) {
  call.sig[MHA_SIG_VERSION] = MHA_ABI_VERSION + 1;
  expectError(MHA_ERR_INTERNAL, {"attn: ", "ABI version 2", "version 1"});
}

TEST_F(LaunchErrorTest, TooManyTensors) {
  call.sig[MHA_SIG_NUM_TENSORS] = 33; // One more than MHA_RT_MAX_TENSORS.
  expectError(MHA_ERR_INTERNAL, {"attn: ", "33 tensors"});
}

TEST_F(LaunchErrorTest, BadSignatureRank) {
  call.sig[MHA_SIG_HEADER_WORDS + MHA_SIG_T_RANK] = 5;
  expectError(MHA_ERR_INTERNAL, {"attn: ", "tensor 0"});
}

TEST_F(LaunchErrorTest, NoSignature) {
  int32_t got = mha_rt_launch(nullptr, "attn", call.names, call.tensors,
                              nullptr, fakeWork);
  EXPECT_EQ(got, MHA_ERR_INTERNAL);
  EXPECT_EQ(gCalls.load(), 0);
}

TEST_F(LaunchErrorTest, NullTensorArray) {
  int32_t got = mha_rt_launch(call.sig.data(), "attn", call.names, nullptr,
                              nullptr, fakeWork);
  EXPECT_EQ(got, MHA_ERR_NULL_POINTER);
  EXPECT_STREQ(mha_last_error(), "attn: the tensor array is NULL");
  EXPECT_EQ(gCalls.load(), 0);
}

TEST_F(LaunchErrorTest, NullTensor) {
  call.k.reset();
  expectError(MHA_ERR_NULL_POINTER, {"attn: 'k' (key) is NULL"});
}

TEST_F(LaunchErrorTest, NullShape) {
  call.v->dl.shape = nullptr;
  expectError(MHA_ERR_NULL_POINTER, {"attn: 'v' (value) has a NULL shape"});
}

TEST_F(LaunchErrorTest, NullData) {
  call.v->dl.data = nullptr;
  expectError(MHA_ERR_NULL_POINTER,
              {"attn: 'v' (value) has NULL data", "[2, 4, 3, 8]"});
}

TEST_F(LaunchErrorTest, NullOutputData) {
  call.lse->dl.data = nullptr;
  expectError(MHA_ERR_NULL_POINTER, {"attn: 'lse' (lse) has NULL data"});
}

TEST_F(LaunchErrorTest, Device) {
  call.q->dl.device = {kDLCUDA, 1};
  expectError(MHA_ERR_DEVICE, {"attn: 'q' (query)", "kDLCUDA", "kDLCPU"});
}

TEST_F(LaunchErrorTest, Rank) {
  call.q->dl.ndim = 3;
  expectError(MHA_ERR_RANK, {"attn: 'q' (query) has 3 dimensions but the spec "
                             "expects 4: [B, 4, Lq, 8]"});
}

TEST_F(LaunchErrorTest, DtypeBits) {
  call.q->dl.dtype = {kDLFloat, 16, 1};
  expectError(
      MHA_ERR_DTYPE,
      {"attn: 'q' (query) dtype is float16 but the spec expects float32"});
}

TEST_F(LaunchErrorTest, DtypeCode) {
  // The example of the interface: a float16 tensor where bfloat16 is wanted.
  for (int i = 0; i < 5; ++i) {
    int64_t *t = &call.sig[MHA_SIG_HEADER_WORDS + i * MHA_SIG_TENSOR_WORDS];
    t[MHA_SIG_T_DTYPE_CODE] = kDLBfloat;
    t[MHA_SIG_T_DTYPE_BITS] = 16;
  }
  call.q->dl.dtype = {kDLFloat, 16, 1};
  expectError(
      MHA_ERR_DTYPE,
      {"attn: 'q' (query) dtype is float16 but the spec expects bfloat16"});
}

TEST_F(LaunchErrorTest, DtypeLanes) {
  call.o->dl.dtype = {kDLFloat, 32, 2};
  expectError(MHA_ERR_DTYPE, {"attn: 'o' (output) dtype is float32x2"});
}

TEST_F(LaunchErrorTest, NegativeSize) {
  call.q->shape[0] = -1;
  expectError(MHA_ERR_SHAPE, {"attn: 'q' (query) dim 0 (B) is -1"});
}

TEST_F(LaunchErrorTest, StaticSize) {
  call.k->shape[3] = 7;
  expectError(MHA_ERR_SHAPE,
              {"attn: 'k' (key) dim 3 (D) is 7 but the spec expects 8"});
}

TEST_F(LaunchErrorTest, SymbolDisagreement) {
  call.v->shape[2] = 2;
  expectError(MHA_ERR_SHAPE,
              {"attn: 'k' (key) dim 2 (Lk) is 3 but 'v' (value) has 2"});
}

TEST_F(LaunchErrorTest, SymbolDisagreementOnRank3Output) {
  call.lse->shape[2] = 4;
  expectError(MHA_ERR_SHAPE,
              {"attn: 'q' (query) dim 2 (Lq) is 5 but 'lse' (lse) has 4"});
}

TEST_F(LaunchErrorTest, BatchDisagreement) {
  call.o->shape[0] = 1;
  expectError(MHA_ERR_SHAPE,
              {"attn: 'q' (query) dim 0 (B) is 2 but 'o' (output) has 1"});
}

TEST_F(LaunchErrorTest, LastDimensionNotContiguous) {
  call.q = std::make_unique<Tensor>(
      std::vector<int64_t>{2, kHeads, 5, kHeadDim},
      std::vector<int64_t>{kHeads * 5 * kHeadDim * 2, 5 * kHeadDim * 2,
                           kHeadDim * 2, 2});
  expectError(MHA_ERR_LAYOUT,
              {"attn: 'q' (query) dim 3 (D) has stride 2", "contiguous"});
}

TEST_F(LaunchErrorTest, NegativeStride) {
  call.k = std::make_unique<Tensor>(
      std::vector<int64_t>{2, kHeads, 3, kHeadDim},
      std::vector<int64_t>{kHeads * 3 * kHeadDim, 3 * kHeadDim, kHeadDim, 1});
  call.k->strides[1] = -call.k->strides[1];
  expectError(MHA_ERR_LAYOUT, {"attn: 'k' (key) dim 1 (Hq) has stride -24"});
}

TEST_F(LaunchErrorTest, MisalignedByteOffset) {
  call.v->dl.byte_offset = 6;
  expectError(MHA_ERR_LAYOUT,
              {"attn: 'v' (value) byte_offset 6 is not a multiple", "4 bytes"});
}

TEST_F(LaunchErrorTest, ExtentOverflow) {
  call.k =
      std::make_unique<Tensor>(std::vector<int64_t>{1, kHeads, 3, kHeadDim},
                               std::vector<int64_t>{1, 24, 8, 1});
  call.k->shape[0] = 2;
  call.k->strides[0] = INT64_MAX / 2;
  expectError(MHA_ERR_LAYOUT, {"attn: 'k' (key)", "int64"});
}

TEST_F(LaunchErrorTest, ExtentOverflowFromByteOffset) {
  call.q->dl.byte_offset = UINT64_MAX - 3;
  expectError(MHA_ERR_LAYOUT, {"attn: 'q' (query)", "int64"});
}

// Sizes that each fit (even under the verifier's cap of 2^31 - 1) but whose
// product B * H * L * D (elements, then bytes) overflows int64: the extent
// check must catch it, with NULL (compact) strides as with explicit ones.
TEST_F(LaunchErrorTest, CompactSizeProductOverflowsInt64) {
  for (auto &t : {call.q.get(), call.o.get()}) {
    t->dl.strides = nullptr;
    t->shape[0] = int64_t(1) << 20;
    t->shape[2] = int64_t(1) << 40;
  }
  expectError(MHA_ERR_LAYOUT, {"attn: 'q' (query)", "int64"});
}

TEST_F(LaunchErrorTest, SizesAtTheVerifierCapOverflowInt64) {
  constexpr int64_t kCap = (int64_t(1) << 31) - 1;
  call.q->dl.strides = nullptr;
  call.q->shape[0] = kCap;
  call.q->shape[2] = kCap;
  expectError(MHA_ERR_LAYOUT, {"attn: 'q' (query)", "int64"});
}

TEST_F(LaunchErrorTest, ElementCountFitsButBytesOverflow) {
  // 2^61 elements of 4 bytes: the element offset fits, the byte count not.
  call.q->dl.strides = nullptr;
  call.q->shape[0] = int64_t(1) << 56;
  expectError(MHA_ERR_LAYOUT, {"attn: 'q' (query)", "int64"});
}

TEST_F(LaunchErrorTest, HugeSizeInOneDimension) {
  call.q->shape[2] = INT64_MAX;
  expectError(MHA_ERR_LAYOUT, {"attn: 'q' (query)", "int64"});
}

TEST_F(LaunchErrorTest, OutputOverlapsInput) {
  // o's range starts inside q's.
  call.o->dl.data = call.q->storage.data() + 10;
  expectError(MHA_ERR_LAYOUT,
              {"attn: output 'o' (output) overlaps 'q' (query)"});
  // The input q was not written either.
  for (int64_t i = 0; i < 2 * kHeads * 5 * kHeadDim; ++i)
    ASSERT_EQ(call.q->storage[i], inputValue(i / (kHeads * 5 * kHeadDim),
                                             i / (5 * kHeadDim) % kHeads,
                                             i / kHeadDim % 5, i % kHeadDim));
}

TEST_F(LaunchErrorTest, OutputsOverlapEachOther) {
  call.lse->dl.data = call.o->storage.data() + call.o->storage.size() - 1;
  expectError(MHA_ERR_LAYOUT,
              {"attn: output 'o' (output) overlaps 'lse' (lse)"});
}

TEST_F(LaunchErrorTest, OutputOverlapsItself) {
  call.lse = std::make_unique<Tensor>(std::vector<int64_t>{2, kHeads, 5},
                                      std::vector<int64_t>{5, 0, 1});
  expectError(MHA_ERR_LAYOUT,
              {"attn: 'lse' (lse) dim 1 (Hq) has stride 0", "overlap"});
}

TEST_F(LaunchErrorTest, NegativeNumThreads) {
  mha_options options = {};
  options.num_threads = -2;
  expectError(MHA_ERR_INVALID_ARGUMENT, {"attn: options->num_threads is -2"},
              &options);
}

TEST_F(LaunchErrorTest, FirstBadTensorIsReported) {
  call.o->dl.dtype = {kDLFloat, 64, 1};
  call.k->dl.ndim = 2;
  expectError(MHA_ERR_RANK, {"'k' (key)"});
}

TEST_F(LaunchErrorTest, UnnamedArguments) {
  call.names[1] = nullptr;
  call.k->shape[3] = 9;
  expectError(MHA_ERR_SHAPE, {"attn: tensor 1 (key) dim 3 (D) is 9"});
}

} // namespace

namespace {

//===----------------------------------------------------------------------===//
// Layers: temporaries and phases
//===----------------------------------------------------------------------===//

// layer(x) -> y, both [B, L, 8], with three temporaries of each shape
// (per batch [B, L, 3], per token [1, L, 2], fixed [1, 1, 5]) of
// `bytes[i]` bytes per element and two phases: 2 heads x tiles of 4 rows,
// then 1 head x one tile whatever L.
std::vector<int64_t> layerSignature(int64_t badShape = -1,
                                    int64_t fixedCols = 5,
                                    std::array<int64_t, 3> bytes = {4, 4, 4}) {
  Dim b{MHA_SYM_BATCH, -1}, l{MHA_SYM_QUERY_LEN, -1}, d{MHA_SYM_NONE, 8};
  std::vector<int64_t> sig = buildSignature(
      {{MHA_ROLE_LAYER_INPUT, {b, l, d}}, {MHA_ROLE_LAYER_OUTPUT, {b, l, d}}},
      1, 2, 4);
  int64_t shapes[3] = {MHA_TEMP_PER_BATCH, MHA_TEMP_PER_TOKEN,
                       badShape >= 0 ? badShape : MHA_TEMP_FIXED};
  sig.insert(sig.end(), {3, 2, 0});
  sig.insert(sig.end(), {shapes[0], 3, bytes[0], shapes[1], 2, bytes[1],
                         shapes[2], fixedCols, bytes[2]});
  sig.insert(sig.end(), {2, 4, 0, 1, int64_t(1) << 40, 0});
  return sig;
}

struct LayerItem {
  int64_t phase, b, h, t;
  bool operator<(const LayerItem &o) const {
    return std::tie(phase, b, h, t) < std::tie(o.phase, o.b, o.h, o.t);
  }
  bool operator==(const LayerItem &o) const {
    return std::tie(phase, b, h, t) == std::tie(o.phase, o.b, o.h, o.t);
  }
};
std::mutex layerMutex;
std::set<LayerItem> layerItems;
std::vector<mha_memref3> layerTemps;
// What the first item found in the fixed temporary's first element before
// it wrote kLayerMark there.
constexpr float kLayerMark = 1234.5f;
float layerMarkFound = 0.0f;

void fakeLayerWork(void **descriptors, int64_t phase, int64_t b, int64_t h,
                   int64_t t, const uint8_t *) {
  std::lock_guard<std::mutex> lock(layerMutex);
  layerItems.insert({phase, b, h, t});
  if (phase == 0 && b == 0 && h == 0 && t == 0) {
    auto *fixed = static_cast<mha_memref3 *>(descriptors[4]);
    float *first = static_cast<float *>(fixed->aligned);
    layerMarkFound = *first;
    *first = kLayerMark;
  }
  layerTemps.clear();
  for (int i = 2; i < 5; ++i)
    layerTemps.push_back(*static_cast<mha_memref3 *>(descriptors[i]));
}

int32_t launchLayer(const std::vector<int64_t> &sig, int64_t B, int64_t L,
                    const mha_options *options = nullptr) {
  Tensor x({B, L, 8}), y({B, L, 8});
  const char *names[2] = {"x", "y"};
  const DLTensor *tensors[2] = {&x.dl, &y.dl};
  layerItems.clear();
  return mha_rt_launch_layer(sig.data(), "layer", names, tensors, options,
                             fakeLayerWork);
}

TEST(LaunchLayerTest, ExplicitPositionsAreRefused) {
  mha_options options = MHA_OPTIONS_INIT;
  options.use_positions = 1;
  EXPECT_EQ(launchLayer(layerSignature(), 2, 5, &options),
            MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(),
                        "layer: options->use_positions is set, but layer "
                        "functions do not support explicit positions yet"),
            nullptr)
      << mha_last_error();
  EXPECT_TRUE(layerItems.empty());
}

TEST(LaunchLayerTest, TemporariesHaveTheirShapes) {
  ASSERT_EQ(launchLayer(layerSignature(), 2, 5), MHA_OK) << mha_last_error();
  ASSERT_EQ(layerTemps.size(), 3u);
  std::array<std::array<int64_t, 6>, 3> want = {
      {{2, 5, 3, 15, 3, 1}, {1, 5, 2, 10, 2, 1}, {1, 1, 5, 5, 5, 1}}};
  for (int i = 0; i < 3; ++i) {
    const mha_memref3 &m = layerTemps[i];
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.aligned) % 64, 0u) << i;
    std::array<int64_t, 6> got = {m.sizes[0],   m.sizes[1],   m.sizes[2],
                                  m.strides[0], m.strides[1], m.strides[2]};
    EXPECT_EQ(got, want[i]) << "temporary " << i;
  }
}

TEST(LaunchLayerTest, PhasesRunTheirGrids) {
  ASSERT_EQ(launchLayer(layerSignature(), 2, 5), MHA_OK) << mha_last_error();
  std::set<LayerItem> want;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t t = 0; t < 2; ++t) // ceil(5 / 4)
        want.insert({0, b, h, t});
    want.insert({1, b, 0, 0}); // One tile whatever L.
  }
  EXPECT_EQ(layerItems.size(), want.size());
  EXPECT_TRUE(layerItems == want);
}

// A layer over packed sequences: x and y [1, T, 8], cu_seqlens_q [S + 1];
// a row-wise phase (2 heads, tiles of 4 rows) and the attention
// (MHA_PHASE_MASKED: 1 head, tiles of 4 rows); no temporaries.
std::vector<int64_t> packedLayerSignature() {
  Dim one{MHA_SYM_NONE, 1}, t{MHA_SYM_QUERY_LEN, -1}, d{MHA_SYM_NONE, 8};
  std::vector<int64_t> sig =
      buildSignature({{MHA_ROLE_LAYER_INPUT, {one, t, d}},
                      {MHA_ROLE_CU_SEQLENS_Q, {{MHA_SYM_NONE, -1}}, kDLInt, 32},
                      {MHA_ROLE_LAYER_OUTPUT, {one, t, d}}},
                     2, 2, 4);
  sig[MHA_SIG_GRID_BATCH_SYM] = MHA_SYM_QUERY_LEN;
  sig.insert(sig.end(), {0, 2, 0});
  sig.insert(sig.end(), {2, 4, MHA_PHASE_PLAIN, 1, 4, MHA_PHASE_MASKED});
  return sig;
}

void recordLayerItem(void **, int64_t phase, int64_t b, int64_t h, int64_t t,
                     const uint8_t *) {
  std::lock_guard<std::mutex> lock(layerMutex);
  layerItems.insert({phase, b, h, t});
}

int32_t launchPackedLayer(std::vector<int32_t> offsets, int64_t rows) {
  Tensor x({1, rows, 8}), y({1, rows, 8});
  Tensor cu({static_cast<int64_t>(offsets.size())});
  cu.dl.dtype = {kDLInt, 32, 1};
  std::memcpy(cu.storage.data(), offsets.data(),
              offsets.size() * sizeof(int32_t));
  const char *names[3] = {"x", "cu_seqlens_q", "y"};
  const DLTensor *tensors[3] = {&x.dl, &cu.dl, &y.dl};
  layerItems.clear();
  return mha_rt_launch_layer(packedLayerSignature().data(), "packed", names,
                             tensors, nullptr, recordLayerItem);
}

TEST(LaunchLayerTest, PackedSequencesGiveTheAttentionTheirGrid) {
  // Sequences of 5, 0 and 9 rows, then 2 rows of none: T = 16.
  ASSERT_EQ(launchPackedLayer({0, 5, 5, 14}, 16), MHA_OK) << mha_last_error();
  std::set<LayerItem> want;
  for (int64_t h = 0; h < 2; ++h) // The rows: 1 x ceil(16 / 4) tiles.
    for (int64_t t = 0; t < 4; ++t)
      want.insert({0, 0, h, t});
  for (int64_t b = 0; b < 4; ++b) // S + 1 item rows x ceil(9 / 4) tiles.
    for (int64_t t = 0; t < 3; ++t)
      want.insert({1, b, 0, t});
  EXPECT_TRUE(layerItems == want) << layerItems.size() << " items";
}

TEST(LaunchLayerTest, BadPackedOffsetsRunNothing) {
  EXPECT_EQ(launchPackedLayer({0, 5, 3, 14}, 16), MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(),
                        "packed: 'cu_seqlens_q'[2] is 3, less than [1] = 5; "
                        "offsets must not decrease"),
            nullptr)
      << mha_last_error();
  EXPECT_EQ(launchPackedLayer({0, 5, 17}, 16), MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(mha_last_error(), "'cu_seqlens_q'[2] is 17 but 'x'"),
            nullptr)
      << mha_last_error();
  EXPECT_TRUE(layerItems.empty());
}

TEST(LaunchLayerTest, UnknownTemporaryShapeIsAnInternalError) {
  EXPECT_EQ(launchLayer(layerSignature(/*badShape=*/3), 1, 4),
            MHA_ERR_INTERNAL);
  EXPECT_NE(std::string(mha_last_error()).find("unknown shape 3"),
            std::string::npos)
      << mha_last_error();
  EXPECT_TRUE(layerItems.empty());
}

TEST(LaunchLayerTest, UnknownElementSizeIsAnInternalError) {
  EXPECT_EQ(launchLayer(layerSignature(-1, 5, {4, 3, 4}), 1, 4),
            MHA_ERR_INTERNAL);
  EXPECT_NE(std::string(mha_last_error()).find("element size 3"),
            std::string::npos)
      << mha_last_error();
  EXPECT_TRUE(layerItems.empty());
}

// Temporaries take their elements' bytes: [2, 5, 3] of 1 byte and [1, 5,
// 2] of 2 bytes round up to one 64-byte line each, [1, 1, 5] of 4 bytes
// too; of 4 bytes the first is 120 -> 128 bytes.
TEST(LaunchLayerTest, TemporariesTakeTheirElementBytes) {
  size_t saved = mha_set_cached_memory_limit(size_t(1) << 30);
  mha_release_cached_memory();
  ASSERT_EQ(launchLayer(layerSignature(-1, 5, {1, 2, 4}), 2, 5), MHA_OK)
      << mha_last_error();
  EXPECT_EQ(mha_cached_memory_bytes(), 3 * 64u);
  mha_release_cached_memory();
  ASSERT_EQ(launchLayer(layerSignature(-1, 5, {4, 4, 4}), 2, 5), MHA_OK)
      << mha_last_error();
  EXPECT_EQ(mha_cached_memory_bytes(), 128u + 2 * 64u);
  mha_release_cached_memory();
  mha_set_cached_memory_limit(saved);
}

} // namespace

namespace {

// A fixed temporary of 64 MB: above glibc's largest mmap threshold, so a
// freed one goes back to the OS and a new one starts as fresh pages; a
// cached one keeps what the previous call wrote.
constexpr int64_t kBigCols = int64_t(16) << 20;

TEST(LaunchLayerTest, TemporariesAreReusedByTheNextCall) {
  std::vector<int64_t> sig = layerSignature(-1, kBigCols);
  ASSERT_EQ(launchLayer(sig, 1, 3), MHA_OK) << mha_last_error();
  ASSERT_EQ(launchLayer(sig, 1, 3), MHA_OK) << mha_last_error();
  EXPECT_EQ(layerMarkFound, kLayerMark);
}

TEST(LaunchLayerTest, TemporaryCacheCanBeTurnedOff) {
  size_t previous = mha_set_cached_memory_limit(0);
  std::vector<int64_t> sig = layerSignature(-1, kBigCols + 1024);
  ASSERT_EQ(launchLayer(sig, 1, 3), MHA_OK) << mha_last_error();
  ASSERT_EQ(launchLayer(sig, 1, 3), MHA_OK) << mha_last_error();
  mha_set_cached_memory_limit(previous);
  // Fresh pages: zeros, or the allocator's fill under a sanitizer.
  EXPECT_NE(layerMarkFound, kLayerMark);
}

TEST(LaunchLayerTest, SmallStackCallerRunsEveryPhase) {
  std::vector<int64_t> sig = layerSignature();
  ASSERT_EQ(launchLayer(sig, 2, 9), MHA_OK) << mha_last_error();
  std::set<LayerItem> want = layerItems;
  int32_t status = -1;
  onSmallStack([&] { status = launchLayer(sig, 2, 9); });
  ASSERT_EQ(status, MHA_OK);
  EXPECT_TRUE(layerItems == want);
}

//===----------------------------------------------------------------------===//
// The temporary cache's C interface
//===----------------------------------------------------------------------===//

// Writes the first and last element of every temporary, so that a sanitizer
// sees a temporary freed (or handed to another call) while in use.
void touchTempsWork(void **descriptors, int64_t, int64_t, int64_t, int64_t,
                    const uint8_t *) {
  for (int i = 2; i < 5; ++i) {
    auto *m = static_cast<mha_memref3 *>(descriptors[i]);
    float *data = static_cast<float *>(m->aligned);
    data[0] += 1.0f;
    data[m->sizes[0] * m->strides[0] - 1] += 1.0f;
  }
}

int32_t launchTouching(const std::vector<int64_t> &sig, int64_t B, int64_t L) {
  Tensor x({B, L, 8}), y({B, L, 8});
  const char *names[2] = {"x", "y"};
  const DLTensor *tensors[2] = {&x.dl, &y.dl};
  mha_options options = {};
  options.num_threads = 1; // The items share the temporaries.
  return mha_rt_launch_layer(sig.data(), "layer", names, tensors, &options,
                             touchTempsWork);
}

constexpr size_t kMiB = size_t(1) << 20;

// Every test starts with an empty cache and a 1 GiB limit, and puts the
// limit back.
class TempCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    saved = mha_set_cached_memory_limit(size_t(1) << 30);
    mha_release_cached_memory();
  }
  void TearDown() override {
    mha_release_cached_memory();
    mha_set_cached_memory_limit(saved);
  }
  size_t saved = 0;
};

TEST_F(TempCacheTest, ReleaseFreesEverything) {
  ASSERT_EQ(launchTouching(layerSignature(-1, int64_t(1) << 18), 2, 5), MHA_OK)
      << mha_last_error();
  size_t cached = mha_cached_memory_bytes();
  EXPECT_GE(cached, kMiB); // The fixed temporary at least.
  EXPECT_EQ(mha_release_cached_memory(), cached);
  EXPECT_EQ(mha_cached_memory_bytes(), 0u);
  EXPECT_EQ(mha_release_cached_memory(), 0u);
  ASSERT_EQ(launchTouching(layerSignature(-1, int64_t(1) << 18), 2, 5), MHA_OK)
      << mha_last_error();
  EXPECT_EQ(mha_cached_memory_bytes(), cached);
}

TEST_F(TempCacheTest, SetLimitReturnsThePreviousOne) {
  EXPECT_EQ(mha_set_cached_memory_limit(5 * kMiB), size_t(1) << 30);
  EXPECT_EQ(mha_set_cached_memory_limit(7), 5 * kMiB);
  EXPECT_EQ(mha_set_cached_memory_limit(0), 7u);
}

TEST_F(TempCacheTest, LimitIsHonouredAcrossCallsOfDifferentSizes) {
  const size_t limit = 3 * kMiB;
  mha_set_cached_memory_limit(limit);
  size_t most = 0;
  for (int64_t cols : {int64_t(1) << 18, int64_t(1) << 19, int64_t(1) << 20,
                       int64_t(3) << 17, int64_t(1) << 16, int64_t(700000)})
    for (int64_t len : {5, 3000}) {
      ASSERT_EQ(launchTouching(layerSignature(-1, cols), 2, len), MHA_OK)
          << mha_last_error();
      size_t cached = mha_cached_memory_bytes();
      EXPECT_LE(cached, limit) << cols << " cols, L " << len;
      most = std::max(most, cached);
    }
  EXPECT_GT(most, 2 * kMiB); // Something was cached.
  // A lower limit evicts at once.
  EXPECT_EQ(mha_set_cached_memory_limit(kMiB), limit);
  EXPECT_LE(mha_cached_memory_bytes(), kMiB);
  EXPECT_EQ(mha_set_cached_memory_limit(0), kMiB);
  EXPECT_EQ(mha_cached_memory_bytes(), 0u);
  ASSERT_EQ(launchTouching(layerSignature(), 2, 5), MHA_OK);
  EXPECT_EQ(mha_cached_memory_bytes(), 0u);
}

// Calls of several sizes on four threads while a fifth empties the cache and
// moves its limit: every call succeeds (a sanitizer watches the temporaries)
// and the cache ends within its limit.
TEST_F(TempCacheTest, ConcurrentCallsAndRelease) {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, emptied{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      // At least 200 calls each, and on until the cache was emptied a few
      // times under them.
      for (int rep = 0; rep < 200 || emptied.load() < 20; ++rep) {
        int64_t cols = int64_t(1) << (14 + (c + rep) % 6);
        if (launchTouching(layerSignature(-1, cols), 1 + c % 2, 3 + rep) !=
            MHA_OK)
          ++failures;
      }
    });
  std::thread releaser([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (i % 2) {
        mha_release_cached_memory();
        ++emptied;
      } else
        mha_set_cached_memory_limit(i % 4 ? 2 * kMiB : 64 * kMiB);
      std::this_thread::yield();
    }
  });
  for (auto &t : callers)
    t.join();
  stop = true;
  releaser.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(emptied.load(), 0);
  size_t limit = mha_set_cached_memory_limit(2 * kMiB);
  EXPECT_LE(mha_cached_memory_bytes(), 2 * kMiB);
  EXPECT_TRUE(limit == 2 * kMiB || limit == 64 * kMiB);
}

} // namespace

namespace {

//===----------------------------------------------------------------------===//
// Backward functions: key items and query items in one loop
//===----------------------------------------------------------------------===//

// f_backward(q, k, v, o, lse, dout) -> (dq, dk, dv): Hq = 4 query heads, 2 KV
// heads, rows of 2 per query item, keys of 3 per key item.
std::vector<int64_t> backwardSignature(bool rowStats = false,
                                       int64_t dqColumns = 0) {
  Dim b{MHA_SYM_BATCH, -1}, h{MHA_SYM_QUERY_HEADS, 4}, g{MHA_SYM_KV_HEADS, 2},
      lq{MHA_SYM_QUERY_LEN, -1}, lk{MHA_SYM_KEY_LEN, -1},
      d{MHA_SYM_HEAD_DIM, kHeadDim}, dv{MHA_SYM_VALUE_DIM, kHeadDim};
  std::vector<int64_t> sig =
      buildSignature({{MHA_ROLE_QUERY, {b, h, lq, d}},
                      {MHA_ROLE_KEY, {b, g, lk, d}},
                      {MHA_ROLE_VALUE, {b, g, lk, dv}},
                      {MHA_ROLE_SAVED_OUTPUT, {b, h, lq, dv}},
                      {MHA_ROLE_SAVED_LSE, {b, h, lq}},
                      {MHA_ROLE_GRAD_OUTPUT, {b, h, lq, dv}},
                      {MHA_ROLE_GRAD_QUERY, {b, h, lq, d}},
                      {MHA_ROLE_GRAD_KEY, {b, g, lk, d}},
                      {MHA_ROLE_GRAD_VALUE, {b, g, lk, dv}}},
                     6, 4, 2);
  // kv heads, keys per item, k's index, row statistics, dq columns.
  sig.insert(sig.end(), {2, 3, 1, int64_t(rowStats), dqColumns});
  return sig;
}

std::mutex backwardMutex;
std::multiset<LayerItem> backwardItems;
std::vector<uint8_t> backwardMask;
// With row statistics: the phases in the order the items ran, and the size
// of the temporary.
std::vector<int64_t> backwardPhases;
std::vector<int64_t> rowStatsSizes;
// The dq temporary's sizes and strides as the items saw them.
std::vector<int64_t> dqSumsShape;

void fakeBackwardWork(void **descriptors, int64_t phase, int64_t b, int64_t h,
                      int64_t t, const uint8_t *) {
  std::lock_guard<std::mutex> lock(backwardMutex);
  backwardItems.insert({phase, b, h, t});
  backwardPhases.push_back(phase);
  auto *stats = static_cast<mha_memref3 *>(descriptors[10]);
  rowStatsSizes.assign(stats->sizes, stats->sizes + 3);
  // Row items write their row statistics; the others read them.
  float *rows = static_cast<float *>(stats->aligned);
  if (phase == 2)
    for (int64_t r = 0; r < 2 && t * 2 + r < stats->sizes[2]; ++r)
      rows[(b * stats->sizes[1] + h) * stats->sizes[2] + t * 2 + r] = 1.0f;
  // Key items sum dq rows there: every float of their rows must exist.
  auto *dqSums = static_cast<mha_memref4 *>(descriptors[11]);
  dqSumsShape.assign(dqSums->sizes, dqSums->sizes + 4);
  dqSumsShape.insert(dqSumsShape.end(), dqSums->strides, dqSums->strides + 4);
  if (phase == 0)
    for (int64_t i = 0; i < dqSums->sizes[2]; ++i)
      for (int64_t c = 0; c < dqSums->sizes[3]; ++c)
        static_cast<float *>(
            dqSums->aligned)[b * dqSums->strides[0] + h * dqSums->strides[1] +
                             i * dqSums->strides[2] + c] = 1.0f;
  // The head mask follows the tensors as a rank-1 i8 memref [Hq].
  auto *mask = static_cast<mha_memref3 *>(descriptors[9]);
  backwardMask.assign(static_cast<uint8_t *>(mask->aligned),
                      static_cast<uint8_t *>(mask->aligned) + mask->sizes[0]);
}

int32_t launchBackward(int64_t B, int64_t Lq, int64_t Lk,
                       const mha_options *opts, int64_t badDq = 0,
                       bool rowStats = false, int64_t dqColumns = 0) {
  Tensor q({B, 4, Lq, kHeadDim}), k({B, 2, Lk, kHeadDim}),
      v({B, 2, Lk, kHeadDim}), o({B, 4, Lq, kHeadDim}), lse({B, 4, Lq}),
      dout({B, 4, Lq, kHeadDim}), dq({B, 4, Lq, kHeadDim + badDq}),
      dk({B, 2, Lk, kHeadDim}), dv({B, 2, Lk, kHeadDim});
  const char *names[9] = {"q", "k", "v", "o", "lse", "dout", "dq", "dk", "dv"};
  const DLTensor *tensors[9] = {&q.dl,    &k.dl,  &v.dl,  &o.dl, &lse.dl,
                                &dout.dl, &dq.dl, &dk.dl, &dv.dl};
  backwardItems.clear();
  backwardMask.clear();
  backwardPhases.clear();
  rowStatsSizes.clear();
  dqSumsShape.clear();
  std::vector<int64_t> sig = backwardSignature(rowStats, dqColumns);
  return mha_rt_launch_backward(sig.data(), "f_backward", names, tensors, opts,
                                fakeBackwardWork);
}

TEST(LaunchBackwardTest, EveryKeyAndQueryItemOnce) {
  mha_options opts{};
  opts.num_threads = 3;
  const uint8_t mask[4] = {1, 0, 7, 1};
  opts.head_mask = mask;
  ASSERT_EQ(launchBackward(2, 5, 7, &opts), MHA_OK) << mha_last_error();
  std::multiset<LayerItem> want;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t g = 0; g < 2; ++g)
      for (int64_t t = 0; t < 3; ++t) // ceil(7 / 3) key tiles
        want.insert({0, b, g, t});
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t t = 0; t < 3; ++t) // ceil(5 / 2) query tiles
        want.insert({1, b, h, t});
  }
  EXPECT_TRUE(backwardItems == want);
  EXPECT_EQ(backwardMask, (std::vector<uint8_t>{1, 0, 1, 1}));
}

TEST(LaunchBackwardTest, EmptyQueriesStillRunTheKeyItems) {
  // Lq = 0: dk and dv exist and must be written (zeros).
  ASSERT_EQ(launchBackward(1, 0, 4, nullptr), MHA_OK) << mha_last_error();
  std::multiset<LayerItem> want = {
      {0, 0, 0, 0}, {0, 0, 0, 1}, {0, 0, 1, 0}, {0, 0, 1, 1}};
  EXPECT_TRUE(backwardItems == want);
  // Lk = 0: only the query items (dq zeros).
  ASSERT_EQ(launchBackward(1, 2, 0, nullptr), MHA_OK) << mha_last_error();
  EXPECT_EQ(backwardItems.size(), 4u);
}

TEST(LaunchBackwardTest, RowItemsRunFirstOnTheirTemporary) {
  mha_options opts{};
  opts.num_threads = 3;
  ASSERT_EQ(launchBackward(2, 5, 7, &opts, 0, /*rowStats=*/true), MHA_OK)
      << mha_last_error();
  // 2 x 4 x 3 row items, then the 12 key and 24 query items.
  ASSERT_EQ(backwardPhases.size(), 24u + 12u + 24u);
  for (size_t i = 0; i < backwardPhases.size(); ++i)
    EXPECT_EQ(backwardPhases[i] == 2, i < 24u) << "item " << i;
  EXPECT_EQ(rowStatsSizes, (std::vector<int64_t>{2, 4, 5}));
  // Without row statistics: no phase 2, an empty temporary.
  ASSERT_EQ(launchBackward(2, 5, 7, &opts), MHA_OK);
  EXPECT_EQ(backwardPhases.size(), 36u);
  EXPECT_EQ(rowStatsSizes, (std::vector<int64_t>{0, 0, 0}));
}

TEST(LaunchBackwardTest, DqSumsAreShapedAfterTheQueryRows) {
  mha_options opts{};
  opts.num_threads = 2;
  ASSERT_EQ(launchBackward(2, 5, 7, &opts, 0, false, /*dqColumns=*/16), MHA_OK)
      << mha_last_error();
  // [B, Hq, Lq, 16], contiguous.
  EXPECT_EQ(dqSumsShape,
            (std::vector<int64_t>{2, 4, 5, 16, 4 * 5 * 16, 5 * 16, 16, 1}));
  // Without them: an empty descriptor.
  ASSERT_EQ(launchBackward(2, 5, 7, &opts), MHA_OK);
  EXPECT_EQ(dqSumsShape, (std::vector<int64_t>(8, 0)));
}

// The backward's temporaries come from the temporary cache and go back to
// it (docs/language.md 7.7): a second call of the same size takes no new
// memory; with the cache's limit at 0 nothing stays.
TEST(LaunchBackwardTest, TemporariesStayInTheCache) {
  size_t saved = mha_set_cached_memory_limit(size_t(1) << 30);
  mha_release_cached_memory();
  mha_options opts{};
  ASSERT_EQ(launchBackward(2, 5, 7, &opts, 0, false, /*dqColumns=*/16), MHA_OK)
      << mha_last_error();
  size_t kept = mha_cached_memory_bytes();
  // [2, 4, 5, 16] f32 rounded up to 64 bytes.
  EXPECT_GE(kept, size_t(2 * 4 * 5 * 16 * 4));
  ASSERT_EQ(launchBackward(2, 5, 7, &opts, 0, false, /*dqColumns=*/16), MHA_OK);
  EXPECT_EQ(mha_cached_memory_bytes(), kept);
  mha_set_cached_memory_limit(0);
  EXPECT_EQ(mha_cached_memory_bytes(), 0u);
  ASSERT_EQ(launchBackward(2, 5, 7, &opts, 0, false, /*dqColumns=*/16), MHA_OK);
  EXPECT_EQ(mha_cached_memory_bytes(), 0u);
  mha_set_cached_memory_limit(saved);
}

TEST(LaunchBackwardTest, MalformedDqColumnsAreRefused) {
  EXPECT_EQ(launchBackward(1, 2, 3, nullptr, 0, false, /*dqColumns=*/-1),
            MHA_ERR_INTERNAL);
  EXPECT_NE(std::string(mha_last_error()).find("backward section is malformed"),
            std::string::npos)
      << mha_last_error();
}

TEST(LaunchBackwardTest, BadGradientIsNamed) {
  EXPECT_EQ(launchBackward(1, 2, 3, nullptr, 1), MHA_ERR_SHAPE);
  EXPECT_NE(std::string(mha_last_error())
                .find("f_backward: 'dq' (query gradient) dim 3 (D) is 9"),
            std::string::npos)
      << mha_last_error();
  EXPECT_TRUE(backwardItems.empty());
}

} // namespace
