//===- ThreadPoolTest.cpp - The runtime's worker pool -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#include "ThreadPool.h"

#include "mha/Runtime/KernelAbi.h"
#include "mha/runtime.h"

#include "gtest/gtest.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

// Items of unequal length (item 0 the longest, so helpers are still busy
// when the caller runs out), jobs queued back to back and after pauses that
// outlast the spin: workers that spin, that sleep, and callers that wait
// both ways all see every item run once, its writes visible on return.
struct Uneven {
  std::vector<int> written;
  explicit Uneven(int64_t n) : written(n, 0) {}
  static void fn(void *ctx, int64_t item) {
    if (item == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    else if (item % 7 == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    ++static_cast<Uneven *>(ctx)->written[item]; // Plain: the pool orders it.
  }
};

TEST(ThreadPoolTest, SpinningAndSleepingThreadsRunEveryItem) {
  // Never spin; spin a microsecond (shorter than the items, so waits fall
  // back to sleeping); spin longer than the whole test.
  for (int64_t spin : {int64_t(0), int64_t(1000), int64_t(10) * 1000000000}) {
    int64_t old = mha_rt_pool_set_spin_for_testing(spin);
    for (int rep = 0; rep < 12; ++rep) {
      if (rep % 4 == 3)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      Uneven u(40);
      ASSERT_EQ(mha_rt_parallel_for(40, 0, Uneven::fn, &u), 0);
      for (int64_t i = 0; i < 40; ++i)
        ASSERT_EQ(u.written[i], 1) << "item " << i << ", spin " << spin;
    }
    mha_rt_pool_set_spin_for_testing(old);
  }
}

TEST(ThreadPoolTest, NumCpusIsPositive) { EXPECT_GE(mha_rt_num_cpus(), 1); }

//===----------------------------------------------------------------------===//
// Callers with small stacks (issue 23)
//===----------------------------------------------------------------------===//

// Runs `body` on a new thread with a stack of `bytes`.
template <class F> void onStackOf(size_t bytes, F body) {
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
  ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes), 0);
  ASSERT_EQ(pthread_create(&thread, &attr, Call::run, &call), 0);
  pthread_attr_destroy(&attr);
  pthread_join(thread, nullptr);
}

constexpr size_t kSmallStack = size_t(64) << 10;

// Counts the items, the ones run on `caller`, and uses a work item's whole
// scratch allowance of stack in each.
struct OffCaller {
  pthread_t caller;
  std::atomic<int64_t> items{0}, onCaller{0};
  static void fn(void *ctx, int64_t) {
    auto *self = static_cast<OffCaller *>(ctx);
    ++self->items;
    if (pthread_equal(pthread_self(), self->caller))
      ++self->onCaller;
    auto *scratch = static_cast<volatile char *>(
        __builtin_alloca(MHA_WORK_ITEM_SCRATCH_LIMIT));
    for (int64_t i = 0; i < MHA_WORK_ITEM_SCRATCH_LIMIT; i += 4096)
      scratch[i] = 1;
  }
};

TEST(ThreadPoolSmallStackTest, WorkersRunEveryItemWithTheirScratch) {
  for (size_t stack : {kSmallStack, size_t(256) << 10, size_t(1) << 20})
    for (int threads : {1, 0, 2, 3})
      for (int64_t n : {1, 7, 200}) {
        OffCaller c;
        int rc = -1;
        onStackOf(stack, [&] {
          c.caller = pthread_self();
          rc = mha_rt_parallel_for(n, threads, OffCaller::fn, &c);
        });
        ASSERT_EQ(rc, 0);
        EXPECT_EQ(c.items.load(), n) << stack << " " << threads;
        EXPECT_EQ(c.onCaller.load(), 0) << stack << " " << threads;
      }
}

// The check is on the caller's frame, not the thread's stack size: deep in a
// big stack, items go to the workers too.
void callAtDepth(size_t depth, OffCaller *c) {
  auto *used = static_cast<volatile char *>(__builtin_alloca(depth + 1));
  for (size_t i = 0; i < depth; i += 4096)
    used[i] = 1;
  c->caller = pthread_self();
  EXPECT_EQ(mha_rt_parallel_for(20, 1, OffCaller::fn, c), 0);
  used[depth] = 0; // Keeps the alloca alive across the call.
}

TEST(ThreadPoolSmallStackTest, DeepFramesHandItemsOn) {
  constexpr size_t kStack = size_t(8) << 20;
  OffCaller shallow, deep;
  onStackOf(kStack, [&] { callAtDepth(0, &shallow); });
  onStackOf(kStack, [&] {
    callAtDepth(kStack - MHA_WORK_ITEM_STACK_BYTES / 2, &deep);
  });
  EXPECT_EQ(shallow.items.load(), 20);
  EXPECT_EQ(shallow.onCaller.load(), 20);
  EXPECT_EQ(deep.items.load(), 20);
  EXPECT_EQ(deep.onCaller.load(), 0);
}

TEST(ThreadPoolSmallStackTest, NestedCallsComplete) {
  Nested n;
  onStackOf(kSmallStack, [&] {
    EXPECT_EQ(mha_rt_parallel_for(40, 0, Nested::outer, &n), 0);
  });
  EXPECT_EQ(n.innerItems.load(), 40 * 50);
}

// Small- and big-stack callers at once, all sharing the pool: nobody waits
// for ever.
TEST(ThreadPoolSmallStackTest, MixedCallersAllComplete) {
  constexpr int kCallers = 8;
  constexpr int64_t kItems = 500;
  std::atomic<int> failures{0};
  auto work = [&](int c) {
    for (int rep = 0; rep < 10; ++rep) {
      Sum s;
      mha_rt_parallel_for(kItems, (c + rep) % 4, Sum::fn, &s);
      if (s.total.load() != kItems * (kItems - 1) / 2)
        ++failures;
    }
  };
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      if (c % 2)
        work(c);
      else
        onStackOf(kSmallStack, [&] { work(c); });
    });
  for (auto &t : callers)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

// When no worker can be created, a small-stack caller's call fails with
// pthread_create's error and runs nothing. In a child process: only there
// does the pool start without workers.
TEST(ThreadPoolSmallStackDeathTest, NoWorkerFailsCleanly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe"); // A fresh process.
  EXPECT_EXIT(
      {
        mha_rt_pool_cap_workers_for_testing(0);
        OffCaller c;
        int rc = -1;
        onStackOf(kSmallStack, [&] {
          c.caller = pthread_self();
          rc = mha_rt_parallel_for(10, 0, OffCaller::fn, &c);
        });
        // A big-stack caller still runs its items itself.
        Counts big(10);
        int bigRc = mha_rt_parallel_for(10, 0, Counts::fn, &big);
        bool ok = rc == EAGAIN && c.items.load() == 0 && bigRc == 0 &&
                  big.hits[9].load() == 1;
        std::fprintf(stderr, "rc %d, items %lld, big rc %d\n", rc,
                     static_cast<long long>(c.items.load()), bigRc);
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "items 0, big rc 0");
}

//===----------------------------------------------------------------------===//
// A program's executor (mha_set_executor)
//===----------------------------------------------------------------------===//

// Runs body on the caller and `extra` threads of its own (each with a stack
// of `stack` bytes, 0: the default), recording what it was asked for and
// which threads ran items.
struct TestExecutor {
  int extra = 1;
  size_t stack = 0;
  bool runOnCaller = true;
  std::atomic<int> runs{0}, askedThreads{0};
  std::mutex mu;
  std::set<std::thread::id> ownThreads;
  mha_executor api{run, this};

  static void run(void (*body)(void *), void *bodyCtx, int32_t numThreads,
                  void *user) {
    auto *self = static_cast<TestExecutor *>(user);
    ++self->runs;
    self->askedThreads = numThreads;
    int extra = std::min(self->extra, numThreads - 1);
    std::vector<pthread_t> threads(extra > 0 ? extra : 0);
    for (pthread_t &t : threads) {
      struct Start {
        TestExecutor *self;
        void (*body)(void *);
        void *ctx;
        static void *go(void *arg) {
          auto *s = static_cast<Start *>(arg);
          {
            std::lock_guard<std::mutex> lock(s->self->mu);
            s->self->ownThreads.insert(std::this_thread::get_id());
          }
          s->body(s->ctx);
          delete s;
          return nullptr;
        }
      };
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      if (self->stack)
        pthread_attr_setstacksize(&attr, self->stack);
      ASSERT_EQ(
          pthread_create(&t, &attr, Start::go, new Start{self, body, bodyCtx}),
          0);
      pthread_attr_destroy(&attr);
    }
    if (self->runOnCaller)
      body(bodyCtx);
    for (pthread_t t : threads)
      pthread_join(t, nullptr);
  }
};

// Sets an executor for one test and restores the library's threads after.
struct ScopedExecutor {
  const mha_executor *previous;
  explicit ScopedExecutor(const mha_executor *e)
      : previous(mha_set_executor(e)) {}
  ~ScopedExecutor() { mha_set_executor(previous); }
};

TEST(ThreadPoolExecutorTest, SetReturnsThePreviousOne) {
  TestExecutor a, b;
  EXPECT_EQ(mha_set_executor(&a.api), nullptr);
  EXPECT_EQ(mha_set_executor(&b.api), &a.api);
  EXPECT_EQ(mha_set_executor(nullptr), &b.api);
  EXPECT_EQ(mha_set_executor(nullptr), nullptr);
}

TEST(ThreadPoolExecutorTest, RunsEveryItemOnTheExecutorsThreads) {
  for (int threads : {0, 2, 3, 8})
    for (int64_t n : {2, 7, 1000}) {
      TestExecutor e;
      e.extra = 3;
      ScopedExecutor scope(&e.api);
      Tracker t;
      ASSERT_EQ(mha_rt_parallel_for(n, threads, Tracker::fn, &t), 0);
      int cpus = mha_rt_num_cpus();
      int want = (threads <= 0 || threads > cpus) ? cpus : threads;
      if (want > n)
        want = static_cast<int>(n);
      if (want < 2) {
        EXPECT_EQ(e.runs.load(), 0); // One thread: the serial path.
        continue;
      }
      EXPECT_EQ(e.runs.load(), 1);
      EXPECT_EQ(e.askedThreads.load(), want);
      t.threads.erase(std::this_thread::get_id());
      for (std::thread::id id : t.threads)
        EXPECT_TRUE(e.ownThreads.count(id)) << "an item ran off the executor";
    }
}

TEST(ThreadPoolExecutorTest, EveryItemExactlyOnce) {
  TestExecutor e;
  e.extra = 2;
  ScopedExecutor scope(&e.api);
  for (int64_t n : {1, 3, 64, 100000})
    for (int threads : {0, 2, 4}) {
      Counts c(n);
      EXPECT_EQ(mha_rt_parallel_for(n, threads, Counts::fn, &c), 0);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(c.hits[i].load(), 1) << "item " << i << " of " << n;
    }
}

// An executor may run fewer threads than asked, or none: the caller
// finishes the items.
TEST(ThreadPoolExecutorTest, TheCallerFinishesWhatTheExecutorLeaves) {
  TestExecutor e;
  e.extra = 0;
  e.runOnCaller = false;
  ScopedExecutor scope(&e.api);
  Counts c(500);
  EXPECT_EQ(mha_rt_parallel_for(500, 2, Counts::fn, &c), 0);
  EXPECT_EQ(e.runs.load(), mha_rt_num_cpus() >= 2 ? 1 : 0);
  for (int64_t i = 0; i < 500; ++i)
    ASSERT_EQ(c.hits[i].load(), 1);
}

// Executor threads whose stacks cannot hold an item leave the items to the
// caller.
TEST(ThreadPoolExecutorTest, SmallStackExecutorThreadsRunNoItem) {
  if (mha_rt_num_cpus() < 2)
    GTEST_SKIP() << "needs two CPUs";
  TestExecutor e;
  e.extra = 1;
  e.stack = kSmallStack;
  ScopedExecutor scope(&e.api);
  OffCaller c;
  c.caller = pthread_self();
  EXPECT_EQ(mha_rt_parallel_for(20, 2, OffCaller::fn, &c), 0);
  EXPECT_EQ(e.runs.load(), 1);
  EXPECT_EQ(c.items.load(), 20);
  EXPECT_EQ(c.onCaller.load(), 20);
}

// A caller with a small stack keeps to the library's workers, whose stacks
// it knows.
TEST(ThreadPoolExecutorTest, SmallStackCallersUseThePool) {
  TestExecutor e;
  ScopedExecutor scope(&e.api);
  OffCaller c;
  onStackOf(kSmallStack, [&] {
    c.caller = pthread_self();
    EXPECT_EQ(mha_rt_parallel_for(20, 2, OffCaller::fn, &c), 0);
  });
  EXPECT_EQ(e.runs.load(), 0);
  EXPECT_EQ(c.items.load(), 20);
  EXPECT_EQ(c.onCaller.load(), 0);
}

TEST(ThreadPoolExecutorTest, NestedCallsComplete) {
  TestExecutor e;
  e.extra = 2;
  ScopedExecutor scope(&e.api);
  Nested n;
  mha_rt_parallel_for(40, 0, Nested::outer, &n);
  EXPECT_EQ(n.innerItems.load(), 40 * 50);
}

} // namespace
