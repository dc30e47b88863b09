// Generated functions called from threads with small stacks (issue 23; see
// small-stack.mlir). A work item's tile scratch (up to
// MHA_WORK_ITEM_SCRATCH_LIMIT bytes of stack) does not fit in such a thread:
// the runtime must run the items on its own workers instead of on the caller.
// Every call from a small-stack thread must give the bytes of the same call
// from the main thread.
//   small_stack_call L_ATTN L_LAYER   (links libsmall_stack.so)
#include "../../Inputs/test_tensors.h"
#include "libsmall_stack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H 4
#define D 128
#define DM 512 // The layer's model width (4 heads of 128).

static int64_t lenAttn, lenLayer;
static float *q, *k, *v, *x, *w[4];

static float *randomFloats(size_t n, unsigned seed, float scale) {
  float *p = malloc(n * sizeof(float));
  for (size_t i = 0; p && i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    p[i] = scale * ((float)((seed >> 16) % 2001) / 1000.0f - 1.0f);
  }
  return p;
}

// One call of each function; what it writes goes to `o` and `y`.
typedef struct call {
  int numThreads;
  float *o, *y;
  mha_status attnStatus, layerStatus;
  char error[512];
} call;

static void *runCall(void *arg) {
  call *c = arg;
  mha_options opts;
  memset(&opts, 0, sizeof(opts));
  opts.num_threads = c->numThreads;
  int64_t qs[4] = {1, H, lenAttn, D};
  DLTensor tq = host_f32_tensor(q, 4, qs), tk = host_f32_tensor(k, 4, qs),
           tv = host_f32_tensor(v, 4, qs), to = host_f32_tensor(c->o, 4, qs);
  c->attnStatus = attn(&tq, &tk, &tv, &to, &opts);
  int64_t xs[3] = {1, lenLayer, DM}, ws[2] = {DM, DM};
  DLTensor tx = host_f32_tensor(x, 3, xs), ty = host_f32_tensor(c->y, 3, xs),
           tw[4] = {host_f32_tensor(w[0], 2, ws), host_f32_tensor(w[1], 2, ws),
                    host_f32_tensor(w[2], 2, ws), host_f32_tensor(w[3], 2, ws)};
  c->layerStatus = layer(&tx, &tw[0], &tw[1], &tw[2], &tw[3], &ty, &opts);
  snprintf(c->error, sizeof(c->error), "%s", mha_last_error());
  return NULL;
}

static size_t attnFloats(void) { return (size_t)(H * lenAttn * D); }
static size_t layerFloats(void) { return (size_t)(lenLayer * DM); }

static call newCall(int numThreads) {
  call c;
  memset(&c, 0, sizeof(c));
  c.numThreads = numThreads;
  c.o = calloc(attnFloats(), sizeof(float));
  c.y = calloc(layerFloats(), sizeof(float));
  return c;
}

static void freeCall(call *c) {
  free(c->o);
  free(c->y);
}

// The call on a new thread with a stack of `stackKiB`; 0 if its results are
// the bytes of `want`.
static int runOnThread(size_t stackKiB, const call *want) {
  call c = newCall(want->numThreads);
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  if (pthread_attr_setstacksize(&attr, stackKiB << 10) != 0 ||
      pthread_create(&thread, &attr, runCall, &c) != 0) {
    printf("FAIL: no thread with a %zu KiB stack\n", stackKiB);
    return 1;
  }
  pthread_attr_destroy(&attr);
  pthread_join(thread, NULL);
  int bad = c.attnStatus != MHA_OK || c.layerStatus != MHA_OK;
  if (bad)
    printf("FAIL: %zu KiB stack, num_threads %d: status %d/%d: %s\n", stackKiB,
           want->numThreads, c.attnStatus, c.layerStatus, c.error);
  else if (memcmp(c.o, want->o, attnFloats() * sizeof(float)) != 0 ||
           memcmp(c.y, want->y, layerFloats() * sizeof(float)) != 0) {
    printf("FAIL: %zu KiB stack, num_threads %d: results differ\n", stackKiB,
           want->numThreads);
    bad = 1;
  } else
    printf("%zu KiB stack, num_threads %d: bit-identical\n", stackKiB,
           want->numThreads);
  freeCall(&c);
  return bad;
}

int main(int argc, char **argv) {
  lenAttn = argc > 1 ? atol(argv[1]) : 256;
  lenLayer = argc > 2 ? atol(argv[2]) : 128;
  q = randomFloats(attnFloats(), 1, 1.0f);
  k = randomFloats(attnFloats(), 2, 1.0f);
  v = randomFloats(attnFloats(), 3, 1.0f);
  x = randomFloats(layerFloats(), 4, 1.0f);
  for (int i = 0; i < 4; ++i)
    w[i] = randomFloats((size_t)DM * DM, 5 + i, 0.044f); // ~1/sqrt(DM)
  int failures = 0;
  const int threadCounts[2] = {1, 0};
  for (int i = 0; i < 2; ++i) {
    call want = newCall(threadCounts[i]);
    runCall(&want);
    if (want.attnStatus != MHA_OK || want.layerStatus != MHA_OK) {
      printf("FAIL: main thread: %s\n", want.error);
      return 1;
    }
    failures += runOnThread(64, &want);
    failures += runOnThread(256, &want);
    freeCall(&want);
  }
  // The layer's temporaries are cached by the library between calls.
  printf("cached after the calls: %s\n",
         mha_cached_memory_bytes() > 0 ? "some" : "none");
  mha_release_cached_memory();
  printf("cached after release: %zu bytes\n", mha_cached_memory_bytes());
  printf(failures ? "FAIL\n" : "PASS\n");
  return failures != 0;
}
