//===- ThreadPoolTest.cpp - The runtime's worker pool -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "ThreadPool.h"

#include "gtest/gtest.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

struct Counts {
  std::unique_ptr<std::atomic<int>[]> hits;
  int64_t n;
  explicit Counts(int64_t n) : hits(new std::atomic<int>[n > 0 ? n : 1]), n(n) {
    for (int64_t i = 0; i < (n > 0 ? n : 1); ++i)
      hits[i] = 0;
  }
  static void fn(void *ctx, int64_t item) {
    auto *self = static_cast<Counts *>(ctx);
    ASSERT_GE(item, 0);
    ASSERT_LT(item, self->n);
    self->hits[item].fetch_add(1);
  }
};

TEST(ThreadPoolTest, EveryItemExactlyOnce) {
  for (int64_t n : {0, 1, 2, 3, 7, 64, 1000, 100000})
    for (int threads : {0, 1, 2, 3, 4, 8, 64}) {
      Counts c(n);
      EXPECT_EQ(mha_rt_parallel_for(n, threads, Counts::fn, &c), 0);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(c.hits[i].load(), 1)
            << "item " << i << " of " << n << ", " << threads << " threads";
    }
}

TEST(ThreadPoolTest, NegativeCountRunsNothing) {
  Counts c(1);
  EXPECT_EQ(mha_rt_parallel_for(-5, 4, Counts::fn, &c), 0);
  EXPECT_EQ(c.hits[0].load(), 0);
}

struct Serial {
  std::thread::id caller;
  std::vector<int64_t> order;
  bool allOnCaller = true;
  static void fn(void *ctx, int64_t item) {
    auto *self = static_cast<Serial *>(ctx);
    self->allOnCaller &= std::this_thread::get_id() == self->caller;
    self->order.push_back(item); // Unsynchronised: TSan checks it is serial.
  }
};

TEST(ThreadPoolTest, OneThreadRunsInOrderOnTheCaller) {
  Serial s;
  s.caller = std::this_thread::get_id();
  mha_rt_parallel_for(1000, 1, Serial::fn, &s);
  ASSERT_EQ(s.order.size(), 1000u);
  for (int64_t i = 0; i < 1000; ++i)
    EXPECT_EQ(s.order[i], i);
  EXPECT_TRUE(s.allOnCaller);
}

struct Tracker {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> running{0}, maxRunning{0};
  static void fn(void *ctx, int64_t) {
    auto *self = static_cast<Tracker *>(ctx);
    {
      std::lock_guard<std::mutex> lock(self->mu);
      self->threads.insert(std::this_thread::get_id());
    }
    int now = ++self->running;
    int seen = self->maxRunning.load();
    while (now > seen && !self->maxRunning.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    --self->running;
  }
};

TEST(ThreadPoolTest, UsesAtMostNumThreads) {
  for (int threads : {1, 2, 3}) {
    Tracker t;
    mha_rt_parallel_for(200, threads, Tracker::fn, &t);
    EXPECT_LE(static_cast<int>(t.threads.size()), threads);
    EXPECT_LE(t.maxRunning.load(), threads);
  }
}

// Items 0 and 1 each wait for the other to start: only two threads working
// at once can finish them quickly.
struct Rendezvous {
  std::atomic<int> arrived{0};
  std::atomic<bool> metInTime{true};
  static void fn(void *ctx, int64_t item) {
    auto *self = static_cast<Rendezvous *>(ctx);
    if (item > 1)
      return;
    ++self->arrived;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (self->arrived.load() < 2) {
      if (std::chrono::steady_clock::now() > deadline) {
        self->metInTime = false;
        return;
      }
      std::this_thread::yield();
    }
  }
};

TEST(ThreadPoolTest, RunsItemsConcurrently) {
  if (mha_rt_num_cpus() < 2)
    GTEST_SKIP() << "needs two CPUs";
  Rendezvous r;
  mha_rt_parallel_for(2, 2, Rendezvous::fn, &r);
  EXPECT_TRUE(r.metInTime.load());
}

// A job started from inside a worker's item completes even though that
// worker is busy: its caller works on it.
struct Nested {
  std::atomic<int64_t> innerItems{0};
  static void inner(void *ctx, int64_t) {
    ++static_cast<Nested *>(ctx)->innerItems;
  }
  static void outer(void *ctx, int64_t) {
    mha_rt_parallel_for(50, 0, inner, ctx);
  }
};

TEST(ThreadPoolTest, NestedCallsComplete) {
  Nested n;
  mha_rt_parallel_for(40, 0, Nested::outer, &n);
  EXPECT_EQ(n.innerItems.load(), 40 * 50);
}

struct Sum {
  std::atomic<int64_t> total{0};
  static void fn(void *ctx, int64_t item) {
    static_cast<Sum *>(ctx)->total += item;
  }
};

TEST(ThreadPoolTest, ConcurrentCallersEachGetTheirItems) {
  constexpr int kCallers = 8;
  constexpr int64_t kItems = 5000;
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 20; ++rep) {
        Sum s;
        mha_rt_parallel_for(kItems, (c + rep) % 4, Sum::fn, &s);
        if (s.total.load() != kItems * (kItems - 1) / 2)
          ++failures;
      }
    });
  for (auto &t : callers)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ThreadPoolTest, NumCpusIsPositive) { EXPECT_GE(mha_rt_num_cpus(), 1); }

} // namespace
