// Memory used by one call (issue 9, resource limits): a kernel call never
// allocates memory proportional to Lq * Lk. The kernels keep their tiles in
// fixed-size stack allocas and the runtime allocates only the head-alive
// mask (Hq bytes, on the heap only when Hq > 256) and, when it splits the
// keys of a call with fewer work items than CPUs, the parts' partial
// outputs (at most 16 x the output's rows). This program interposes
// malloc/calloc/realloc (the generated library's calls bind to them) and
// measures the peak RSS around calls whose Lq * Lk score matrix would take
// 1 GiB, after a warm-up call that starts the thread pool.
//   kernel_memory   (links libmemory.so built from memory.mlir)
#define _GNU_SOURCE
#include "libmemory.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static volatile int counting;
static volatile size_t numAllocs, largestAlloc;
static void note(size_t bytes) {
  if (!counting)
    return;
  __atomic_add_fetch(&numAllocs, 1, __ATOMIC_RELAXED);
  if (bytes > largestAlloc)
    largestAlloc = bytes;
}
void *malloc(size_t n) {
  note(n);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  note(a * b);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  note(n);
  return __libc_realloc(p, n);
}

static long maxRssKiB(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

static DLTensor tensor(float *data, int64_t *shape) {
  DLTensor t;
  memset(&t, 0, sizeof(t));
  t.data = data;
  t.device.device_type = kDLCPU;
  t.ndim = 4;
  t.dtype.code = kDLFloat;
  t.dtype.bits = 32;
  t.dtype.lanes = 1;
  t.shape = shape;
  return t;
}

// Calls `fn` on [1, H, Lq, 8] x [1, Hkv, Lk, 8]; returns 0 on success.
typedef mha_status (*attention_fn)(const DLTensor *, const DLTensor *,
                                   const DLTensor *, DLTensor *,
                                   const mha_options *);
static int run(const char *name, attention_fn fn, int64_t h, int64_t hkv,
               int64_t lq, int64_t lk, int measure) {
  int64_t qs[4] = {1, h, lq, 8}, ks[4] = {1, hkv, lk, 8};
  size_t nq = (size_t)(h * lq * 8), nk = (size_t)(hkv * lk * 8);
  float *q = __libc_calloc(nq, 4), *k = __libc_calloc(nk, 4),
        *v = __libc_calloc(nk, 4), *o = __libc_calloc(nq, 4);
  if (!q || !k || !v || !o)
    return fprintf(stderr, "out of memory\n"), 1;
  for (size_t i = 0; i < nq; ++i)
    q[i] = (float)((i * 7919) % 13) * 0.1f;
  for (size_t i = 0; i < nk; ++i) {
    k[i] = (float)((i * 104729) % 11) * 0.1f;
    v[i] = (float)(i % 5);
  }
  DLTensor tq = tensor(q, qs), tk = tensor(k, ks), tv = tensor(v, ks),
           to = tensor(o, qs);
  long before = maxRssKiB();
  numAllocs = largestAlloc = 0;
  counting = measure;
  mha_status st = fn(&tq, &tk, &tv, &to, NULL);
  counting = 0;
  long grew = maxRssKiB() - before;
  int bad = st != MHA_OK;
  for (size_t i = 0; i < nq && !bad; ++i)
    bad = !(o[i] == o[i]); // NaN
  // Fixed-size kernels: nothing near Lq*Lk. At most the Hq-byte mask and,
  // where the call splits its keys (split-KV: as many parts as the
  // machine's CPUs call for, at most 16), each part's partial output and
  // lse rows (nq + h*lq floats a part).
  size_t bound = (size_t)h + 16 * (nq + (size_t)(h * lq)) * 4;
  if (measure)
    printf("%s: H=%lld Lq=%lld Lk=%lld (Lq*Lk*4 = %lld MiB): status %d, "
           "largest allocation %s (%zu allocation(s), largest %zu bytes), "
           "peak RSS grew %ld KiB\n",
           name, (long long)h, (long long)lq, (long long)lk,
           (long long)(lq * lk * 4 >> 20), (int)st,
           largestAlloc <= bound ? "within the bound" : "too large",
           (size_t)numAllocs, (size_t)largestAlloc, grew);
  free(q), free(k), free(v), free(o);
  if (bad)
    return fprintf(stderr, "%s failed: %s\n", name, mha_last_error()), 1;
  if (measure && (largestAlloc > bound || grew > 32 * 1024))
    return fprintf(stderr, "%s: memory grows with the problem\n", name), 1;
  return 0;
}

int main(void) {
  int rc = 0;
  // Warm-up: enough work items to start every worker of the thread pool
  // (pthread_create allocates thread-local storage).
  rc |= run("one_head", one_head, 1, 1, 8192, 16, 0);
  rc |= run("one_head", one_head, 1, 1, 1024, 262144, 1);
  rc |= run("one_head", one_head, 1, 1, 262144, 1024, 1);
  rc |= run("many_heads", many_heads, 512, 1, 16, 16, 0);
  rc |= run("many_heads", many_heads, 512, 1, 64, 8192, 1);
  return rc;
}
