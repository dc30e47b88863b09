/* A program lends its own threads to a generated library (mha_set_executor,
 * docs/language.md 7.6): the executor of the language reference's example
 * runs the work on the calling thread and pthreads of its own; the results
 * are the bytes of a call on the library's threads. */
#define _GNU_SOURCE /* sysconf's _SC_NPROCESSORS_ONLN, sched_getaffinity */
#include "../../Inputs/test_tensors.h"
#include "libbasic.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { B = 2, H = 4, LQ = 37, LK = 53, D = 16 };
static float q[B * H * LQ * D], k[B * H * LK * D], v[B * H * LK * D];
static float o_pool[B * H * LQ * D], o_lent[B * H * LQ * D];
static int runs, threads_asked;

/* The reference's example: body on the caller and num_threads - 1 pthreads. */
typedef struct {
  void (*body)(void *);
  void *ctx;
} start;
static void *start_body(void *arg) {
  start *s = arg;
  s->body(s->ctx);
  return NULL;
}
static void run_on_pthreads(void (*body)(void *), void *ctx,
                            int32_t num_threads, void *user) {
  (void)user;
  ++runs;
  threads_asked = num_threads;
  pthread_t helpers[8];
  start s = {body, ctx};
  int n = 0;
  for (; n < num_threads - 1 && n < 8; ++n)
    if (pthread_create(&helpers[n], NULL, start_body, &s) != 0)
      break; /* Fewer threads are allowed. */
  body(ctx);
  for (int i = 0; i < n; ++i)
    pthread_join(helpers[i], NULL);
}
static const mha_executor pthreads = {run_on_pthreads, NULL};

static mha_status call(float *o) {
  int64_t qs[] = {B, H, LQ, D}, ks[] = {B, H, LK, D};
  DLTensor tq = host_f32_tensor(q, 4, qs), tk = host_f32_tensor(k, 4, ks),
           tv = host_f32_tensor(v, 4, ks), to = host_f32_tensor(o, 4, qs);
  mha_options opts = MHA_OPTIONS_INIT;
  opts.num_threads = 3;
  return dyn(&tq, &tk, &tv, &to, &opts);
}

int main(void) {
  unsigned seed = 5;
  float *arrays[] = {q, k, v};
  size_t sizes[] = {sizeof q, sizeof k, sizeof v};
  for (int a = 0; a < 3; ++a)
    for (size_t i = 0; i < sizes[a] / sizeof(float); ++i) {
      seed = seed * 1664525u + 1013904223u;
      arrays[a][i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
    }
  if (call(o_pool) != MHA_OK)
    return printf("FAIL pool: %s\n", mha_last_error()), 1;
  if (mha_set_executor(&pthreads) != NULL)
    return printf("FAIL: an executor was set before\n"), 1;
  if (call(o_lent) != MHA_OK)
    return printf("FAIL executor: %s\n", mha_last_error()), 1;
  if (mha_set_executor(NULL) != &pthreads)
    return printf("FAIL: mha_set_executor did not return the executor\n"), 1;
  /* 3 threads, at most one per usable CPU (one CPU: the serial path). */
  /* (As the runtime counts them: online, and allowed by the affinity.) */
  int usable = (int)sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
      CPU_COUNT(&allowed) < usable)
    usable = CPU_COUNT(&allowed);
  int several = usable >= 2;
  if (several ? runs < 1 || threads_asked < 2 || threads_asked > 3 : runs != 0)
    return printf("FAIL: %d runs asking %d threads\n", runs, threads_asked), 1;
  if (memcmp(o_pool, o_lent, sizeof o_pool) != 0)
    return printf("FAIL: the executor's results differ\n"), 1;
  printf("PASS executor: the same bytes\n");
  return 0;
}
