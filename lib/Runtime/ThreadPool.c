//===- ThreadPool.c - The runtime's persistent worker pool --------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A library-wide pool of detached pthreads, created lazily (never more than
// one per online CPU, minus the caller, unless small-stack callers ask for
// one more, below) and kept until the process exits, so no call pays for
// thread creation and none leaks threads. A program may lend its own threads
// instead (mha_set_executor): then the pool stays idle.
//
// A call publishes a job (which lives on the caller's stack) in a FIFO queue,
// wakes as many workers as it may use, and then works on its own job. Items
// are claimed from the job's atomic counter, so whoever is free takes the
// next one. Before returning, the caller takes its job off the queue and
// waits for the workers that joined it to leave; after that nobody touches
// the job. Because the caller always works too, a job completes even when
// every worker is busy with other callers' jobs (or the pool has no workers
// at all), which makes the pool reentrant and deadlock-free.
//
// Waking a sleeping thread takes tens to hundreds of microseconds on a
// virtual machine, as long as a whole decoding step: an idle worker spins
// for a while (MHA_SPIN_US, 100 us by default) watching for a new job
// before it sleeps, and a caller whose helpers are still busy spins for
// them the same way, as OpenMP runtimes do between parallel regions.
//
// Except for a caller whose stack cannot hold a work item (issue 23: a
// thread created with a small stack, 64 KiB say; an item's tiles take up to
// MHA_WORK_ITEM_STACK_BYTES): it hands every item to the workers, whose
// stacks the pool sizes itself, and waits. That stays deadlock-free because
// workers never hand work on (their stacks always fit) and never wait for
// anything but the helpers of their own jobs, so each worker becomes free
// again and takes the queue's oldest job. Such callers may grow the pool to
// one worker per CPU (one even on a 1-CPU machine).
//
//===----------------------------------------------------------------------===//

#ifndef _GNU_SOURCE
#define _GNU_SOURCE // dladdr, RTLD_NODELETE/NOLOAD, sched_getaffinity,
                    // pthread_getattr_np, syscall
#endif

#include "ThreadPool.h"
#include "Status.h"

#include "mha/Runtime/KernelAbi.h"
#include "mha/runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Workers' stacks: an item and nested calls of the pool from inside items,
// whatever the process default (which follows RLIMIT_STACK) says.
#define WORKER_STACK_BYTES ((size_t)4 * MHA_WORK_ITEM_STACK_BYTES)
// Linux's stack_guard_gap: a growing stack stops this far above the mapping
// below it.
#define STACK_GUARD_GAP ((uintptr_t)1 << 20)
// How long idle threads spin before they sleep, unless MHA_SPIN_US says.
#define DEFAULT_SPIN_US 100

typedef struct mha_rt_job {
  void (*fn)(void *ctx, int64_t item);
  void *ctx;
  int64_t num_items;
  _Atomic int64_t next_item; // The next unclaimed item.
  // The rest is guarded by pool.mutex.
  int helpers_wanted; // Workers this job may still use, in total.
  int helpers_joined; // Workers that have joined so far.
  // Workers that joined and have not left yet (changed under pool.mutex,
  // read without it by a spinning caller).
  _Atomic int helpers_active;
  bool queued;
  struct mha_rt_job *next_job;
} mha_rt_job;

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t work_cv; // A job was queued.
  pthread_cond_t done_cv; // A worker left a job.
  // Jobs that still accept workers, oldest first.
  mha_rt_job *head;
  mha_rt_job *tail;
  int num_workers;
  int num_sleeping; // Workers waiting on work_cv.
  bool create_failed;
  int create_error; // What pthread_create last returned when it failed.
  int max_workers;  // Tests only (-1: no cap).
} pool = {.mutex = PTHREAD_MUTEX_INITIALIZER,
          .work_cv = PTHREAD_COND_INITIALIZER,
          .done_cv = PTHREAD_COND_INITIALIZER,
          .max_workers = -1};

// Bumped whenever a job is queued: what spinning workers watch.
static _Atomic uint64_t jobs_queued;
static _Atomic int64_t spin_ns = (int64_t)DEFAULT_SPIN_US * 1000;

static _Atomic int cached_num_cpus;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

int mha_rt_num_cpus(void) {
  // sysconf reads /sys on every call: ask once.
  int n = atomic_load_explicit(&cached_num_cpus, memory_order_relaxed);
  if (n > 0)
    return n;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  n = online > 0 ? (online > 4096 ? 4096 : (int)online) : 1;
  // Under taskset or a cpuset, more threads than usable CPUs only
  // oversubscribe.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int usable = CPU_COUNT(&set);
    if (usable > 0 && usable < n)
      n = usable;
  }
  atomic_store_explicit(&cached_num_cpus, n, memory_order_relaxed);
  return n;
}

//===----------------------------------------------------------------------===//
// The calling thread's stack
//===----------------------------------------------------------------------===//

// A thread may run work items itself while its frame is in (floor, floor +
// span]: then MHA_WORK_ITEM_STACK_BYTES or more lie below. Measured on the
// thread's first call ({0, 0} until then), so the check of every later call
// is one thread-local load and a compare. A frame outside the window (a
// coroutine's stack, say) does not fit either.
typedef struct stack_window {
  uintptr_t floor, span;
} stack_window;

static const stack_window unknown_stack = {1, 0};          // Nothing fits.
static const stack_window worker_stack = {1, UINTPTR_MAX}; // Everything fits.
static _Thread_local stack_window item_window;

// glibc reports the main thread's stack as RLIMIT_STACK below its top, cut
// at the mapping below when that one is nearer; Linux then stops the stack
// STACK_GUARD_GAP short of that mapping. What to take off the reported stack.
static uintptr_t main_stack_gap(size_t reported) {
  if ((long)getpid() != syscall(SYS_gettid))
    return 0;
  struct rlimit rl;
  long page = sysconf(_SC_PAGESIZE);
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      page > 0 && reported >= (rl.rlim_cur & ~(rlim_t)(page - 1)))
    return 0; // Not cut: the whole limit is there to grow into.
  return STACK_GUARD_GAP;
}

static stack_window measure_stack(void) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0)
    return unknown_stack;
  void *addr = NULL;
  size_t size = 0;
  int rc = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0 || !addr)
    return unknown_stack;
  uintptr_t low = (uintptr_t)addr, high = low + size;
  uintptr_t floor = low + main_stack_gap(size) + MHA_WORK_ITEM_STACK_BYTES;
  if (high < low || floor < low || floor >= high)
    return unknown_stack;
  return (stack_window){floor, high - floor};
}

// Whether work items may run on this thread below `frame`.
static bool items_fit_below(uintptr_t frame) {
  stack_window w = item_window;
  if (frame - w.floor <= w.span)
    return true;
  if (w.floor != 0)
    return false;
  item_window = w = measure_stack();
  return frame - w.floor <= w.span;
}

//===----------------------------------------------------------------------===//
// Process events
//===----------------------------------------------------------------------===//

// fork() copies only the forking thread: the child must forget the parent's
// workers and jobs, and must not inherit a mutex locked by a vanished thread.
static void before_fork(void) { pthread_mutex_lock(&pool.mutex); }
static void after_fork_in_parent(void) { pthread_mutex_unlock(&pool.mutex); }
static void after_fork_in_child(void) {
  pthread_mutex_init(&pool.mutex, NULL);
  pthread_cond_init(&pool.work_cv, NULL);
  pthread_cond_init(&pool.done_cv, NULL);
  pool.head = pool.tail = NULL;
  pool.num_workers = 0;
  pool.num_sleeping = 0;
  pool.create_failed = false;
  pool.create_error = 0;
}

static void init_pool_once(void) {
  const char *spin_env = getenv("MHA_SPIN_US");
  if (spin_env && *spin_env) {
    char *end;
    long long us = strtoll(spin_env, &end, 10);
    if (*end == '\0' && us >= 0 && us <= 1000000)
      atomic_store_explicit(&spin_ns, (int64_t)us * 1000, memory_order_relaxed);
  }
  // glibc drops these handlers when the library is unloaded, so they cannot
  // dangle.
  pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  // Workers sleep inside this library's code for the rest of the process:
  // pin the library so a dlclose() cannot unmap it under them. (dlopen of
  // an already loaded object with RTLD_NOLOAD only adds the flag.)
  Dl_info info;
  if (dladdr((void *)&mha_rt_parallel_for, &info) && info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

//===----------------------------------------------------------------------===//
// Spinning
//===----------------------------------------------------------------------===//

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Spins for up to spin_ns until done(arg) holds; returns whether it did.
static bool spin_until(bool (*done)(const void *), const void *arg) {
  int64_t ns = atomic_load_explicit(&spin_ns, memory_order_relaxed);
  if (ns <= 0)
    return done(arg);
  int64_t deadline = now_ns() + ns;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done(arg))
        return true;
      cpu_relax();
    }
    if (now_ns() >= deadline)
      return done(arg);
  }
}

static bool job_queued_since(const void *seen) {
  return atomic_load_explicit(&jobs_queued, memory_order_acquire) !=
         *(const uint64_t *)seen;
}

static bool helpers_left(const void *job) {
  return atomic_load_explicit(&((const mha_rt_job *)job)->helpers_active,
                              memory_order_acquire) == 0;
}

//===----------------------------------------------------------------------===//
// Workers
//===----------------------------------------------------------------------===//

static void run_items(mha_rt_job *job) {
  for (;;) {
    int64_t item =
        atomic_fetch_add_explicit(&job->next_item, 1, memory_order_relaxed);
    if (item >= job->num_items)
      return;
    job->fn(job->ctx, item);
  }
}

// Takes a job off the queue. Needs pool.mutex.
static void dequeue(mha_rt_job *job) {
  mha_rt_job **link = &pool.head;
  mha_rt_job *prev = NULL;
  while (*link && *link != job) {
    prev = *link;
    link = &(*link)->next_job;
  }
  if (!*link)
    return;
  *link = job->next_job;
  if (pool.tail == job)
    pool.tail = prev;
  job->queued = false;
  job->next_job = NULL;
}

static void *worker_main(void *unused) {
  (void)unused;
  // Sized by ensure_workers: items and nested calls run right here.
  item_window = worker_stack;
  pthread_mutex_lock(&pool.mutex);
  for (;;) {
    mha_rt_job *job = pool.head;
    if (!job) {
      // Spin (unlocked) for the next job; sleep when none comes.
      uint64_t seen = atomic_load_explicit(&jobs_queued, memory_order_acquire);
      pthread_mutex_unlock(&pool.mutex);
      bool queued = spin_until(job_queued_since, &seen);
      pthread_mutex_lock(&pool.mutex);
      if (!queued && !pool.head) {
        ++pool.num_sleeping;
        pthread_cond_wait(&pool.work_cv, &pool.mutex);
        --pool.num_sleeping;
      }
      continue;
    }
    // A job whose items are all claimed needs no more help.
    if (atomic_load_explicit(&job->next_item, memory_order_relaxed) >=
        job->num_items) {
      dequeue(job);
      // A caller that does not work itself may be waiting for this.
      pthread_cond_broadcast(&pool.done_cv);
      continue;
    }
    if (++job->helpers_joined >= job->helpers_wanted)
      dequeue(job);
    atomic_fetch_add_explicit(&job->helpers_active, 1, memory_order_relaxed);
    pthread_mutex_unlock(&pool.mutex);
    run_items(job);
    pthread_mutex_lock(&pool.mutex);
    // The caller may free the job as soon as it sees zero: touch it no more.
    if (atomic_fetch_sub_explicit(&job->helpers_active, 1,
                                  memory_order_release) == 1)
      pthread_cond_broadcast(&pool.done_cv);
  }
  return NULL;
}

// Grows the pool towards `wanted` workers; returns how many this job may use.
// Needs pool.mutex.
static int ensure_workers(int wanted) {
  while (pool.num_workers < wanted && !pool.create_failed) {
    if (pool.max_workers >= 0 && pool.num_workers >= pool.max_workers) {
      pool.create_failed = true;
      pool.create_error = EAGAIN;
      break;
    }
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t all, old;
    if (pthread_attr_init(&attr) != 0) {
      pool.create_failed = true;
      break;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    size_t stack = 0;
    if (pthread_attr_getstacksize(&attr, &stack) != 0 ||
        stack < WORKER_STACK_BYTES)
      (void)pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
    // Workers inherit a full signal mask, so the application's signals are
    // delivered to its own threads.
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&thread, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      // Out of threads: run with what we have (possibly only the caller).
      pool.create_failed = true;
      pool.create_error = rc;
      break;
    }
    ++pool.num_workers;
  }
  return pool.num_workers < wanted ? pool.num_workers : wanted;
}

//===----------------------------------------------------------------------===//
// Jobs on the pool
//===----------------------------------------------------------------------===//

// Queues a job for `helpers` (> 0) workers and wakes idle ones. Needs
// pool.mutex.
static void enqueue(mha_rt_job *job, int helpers) {
  job->helpers_wanted = helpers;
  job->queued = true;
  if (pool.tail)
    pool.tail->next_job = job;
  else
    pool.head = job;
  pool.tail = job;
  atomic_fetch_add_explicit(&jobs_queued, 1, memory_order_release);
  // Sleeping workers only; spinning and busy ones find the job when they
  // next look.
  for (int i = 0; i < helpers && i < pool.num_sleeping; ++i)
    pthread_cond_signal(&pool.work_cv);
}

// Runs every item on up to `threads` workers while the caller, whose stack
// is too small for an item, waits. Fails, running nothing, when
// the pool has no worker and cannot create one.
static int run_on_workers(int64_t num_items, int threads,
                          void (*fn)(void *ctx, int64_t item), void *ctx) {
  pthread_once(&pool_once, init_pool_once);
  mha_rt_job job = {.fn = fn, .ctx = ctx, .num_items = num_items};
  atomic_init(&job.next_item, 0);
  pthread_mutex_lock(&pool.mutex);
  if (pool.num_workers == 0)
    pool.create_failed = false; // Nothing else can run the items: retry.
  int helpers = ensure_workers(threads);
  if (helpers == 0) {
    int error = pool.create_error ? pool.create_error : EAGAIN;
    pthread_mutex_unlock(&pool.mutex);
    return error;
  }
  enqueue(&job, helpers);
  // Joined workers leave once every item is claimed; the queue gives the job
  // up when its last wanted worker joins or a worker finds it all claimed.
  while (job.queued || atomic_load(&job.helpers_active) > 0)
    pthread_cond_wait(&pool.done_cv, &pool.mutex);
  pthread_mutex_unlock(&pool.mutex);
  return 0;
}

//===----------------------------------------------------------------------===//
// A program's executor (mha_set_executor)
//===----------------------------------------------------------------------===//

/* Default visibility on purpose, as the cache in TempCache.c: a program
 * linked against two generated libraries sets one executor for both. The
 * name carries the layout's version. */
MHA_RT_EXPORT _Atomic(const mha_executor *) mha_rt_executor_v1;

MHA_RT_EXPORT const mha_executor *mha_set_executor(const mha_executor *e) {
  return atomic_exchange_explicit(&mha_rt_executor_v1, e, memory_order_acq_rel);
}

// The body an executor runs on each of its threads: a thread whose stack
// cannot hold an item leaves the items to the others (the caller's fits).
static void run_items_where_they_fit(void *job) {
  if (items_fit_below((uintptr_t)__builtin_frame_address(0)))
    run_items((mha_rt_job *)job);
}

static void run_on_executor(const mha_executor *e, int64_t num_items,
                            int threads, void (*fn)(void *ctx, int64_t item),
                            void *ctx) {
  mha_rt_job job = {.fn = fn, .ctx = ctx, .num_items = num_items};
  atomic_init(&job.next_item, 0);
  e->run(run_items_where_they_fit, &job, threads, e->user);
  // What the executor left undone (it may run fewer threads than asked).
  run_items(&job);
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

int mha_rt_parallel_for(int64_t num_items, int num_threads,
                        void (*fn)(void *ctx, int64_t item), void *ctx) {
  if (num_items <= 0)
    return 0;
  int cpus = mha_rt_num_cpus();
  int threads = (num_threads <= 0 || num_threads > cpus) ? cpus : num_threads;
  if ((int64_t)threads > num_items)
    threads = (int)num_items;
  if (!items_fit_below((uintptr_t)__builtin_frame_address(0)))
    return run_on_workers(num_items, threads, fn, ctx);
  if (threads <= 1) {
    // The serial path: no pool, no locks, no atomics.
    for (int64_t item = 0; item < num_items; ++item)
      fn(ctx, item);
    return 0;
  }
  const mha_executor *e =
      atomic_load_explicit(&mha_rt_executor_v1, memory_order_acquire);
  if (e) {
    run_on_executor(e, num_items, threads, fn, ctx);
    return 0;
  }

  pthread_once(&pool_once, init_pool_once);
  mha_rt_job job = {.fn = fn, .ctx = ctx, .num_items = num_items};
  atomic_init(&job.next_item, 0);
  pthread_mutex_lock(&pool.mutex);
  int helpers = ensure_workers(threads - 1);
  if (helpers > 0)
    enqueue(&job, helpers);
  pthread_mutex_unlock(&pool.mutex);

  run_items(&job);

  if (helpers > 0) {
    pthread_mutex_lock(&pool.mutex);
    if (job.queued)
      dequeue(&job);
    // No worker joins from here on: wait for those still running items,
    // spinning first (they finish within an item's time).
    if (atomic_load(&job.helpers_active) > 0) {
      pthread_mutex_unlock(&pool.mutex);
      bool left = spin_until(helpers_left, &job);
      pthread_mutex_lock(&pool.mutex);
      if (!left)
        while (atomic_load(&job.helpers_active) > 0)
          pthread_cond_wait(&pool.done_cv, &pool.mutex);
    }
    pthread_mutex_unlock(&pool.mutex);
  }
  return 0;
}

int32_t mha_rt_fail_no_worker(const char *name, int error) {
  MHA_RT_FAIL(MHA_ERR_OUT_OF_MEMORY,
              "%s: the calling thread has less than %lld KiB of stack free "
              "for a work item, and no worker thread could be created to "
              "run the items instead: %s",
              name, (long long)(MHA_WORK_ITEM_STACK_BYTES >> 10),
              strerror(error));
}

void mha_rt_pool_cap_workers_for_testing(int max_workers) {
  pthread_mutex_lock(&pool.mutex);
  pool.max_workers = max_workers;
  pthread_mutex_unlock(&pool.mutex);
}

int64_t mha_rt_pool_set_spin_for_testing(int64_t ns) {
  pthread_once(&pool_once, init_pool_once); // MHA_SPIN_US is read first.
  return atomic_exchange_explicit(&spin_ns, ns, memory_order_relaxed);
}
