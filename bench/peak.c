/* peak.c - measures this machine's FMA throughput (the benchmark's "peak").
 *
 *   clang-22 -O2 -march=native bench/peak.c -o peak -lpthread
 *   ./peak [max_threads]        prints lines "fp32 <threads> <GFLOP/s>"
 *                               and, where the CPU has AVX-512 BF16,
 *                               "bf16dp <threads> <GFLOP/s>"
 *
 * Each thread runs 16 independent accumulator chains of 512-bit FMAs (or
 * 256-bit on AVX2-only CPUs), enough to cover the FMA latency times the
 * number of FMA pipes on every current x86 core. One FMA lane = 2 flops;
 * one vdpbf16ps lane = 2 products + 2 adds = 4 flops. Best of 3 runs.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NACC 16
static long g_iters = 100000000; /* iterations of the 16-FMA body per thread */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__AVX512F__)
#define VLANES 16
static void *fp32_body(void *arg) {
  __m512 a[NACC];
  __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps((float)i);
  for (long k = 0; k < g_iters; k++) {
#pragma clang loop unroll(full)
    for (int i = 0; i < NACC; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]));
  }
  float s = 0;
  for (int i = 0; i < NACC; i++) s += _mm512_reduce_add_ps(a[i]);
  *(float *)arg = s;
  return 0;
}
#else
#define VLANES 8
static void *fp32_body(void *arg) {
  __m256 a[NACC];
  __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
  for (int i = 0; i < NACC; i++) a[i] = _mm256_set1_ps((float)i);
  for (long k = 0; k < g_iters; k++) {
#pragma clang loop unroll(full)
    for (int i = 0; i < NACC; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]));
  }
  float s = 0;
  float t[8];
  for (int i = 0; i < NACC; i++) {
    _mm256_storeu_ps(t, a[i]);
    for (int j = 0; j < 8; j++) s += t[j];
  }
  *(float *)arg = s;
  return 0;
}
#endif

#if defined(__AVX512BF16__)
static void *bf16_body(void *arg) {
  __m512 a[NACC];
  __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80); /* 1.0 in bf16 */
  __m512bh y = (__m512bh)_mm512_set1_epi16(0x0001); /* tiny */
  for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps((float)i);
  for (long k = 0; k < g_iters; k++) {
#pragma clang loop unroll(full)
    for (int i = 0; i < NACC; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]));
  }
  float s = 0;
  for (int i = 0; i < NACC; i++) s += _mm512_reduce_add_ps(a[i]);
  *(float *)arg = s;
  return 0;
}
#endif

static double run(void *(*body)(void *), int nt, double flops_per_lane_op,
                  int lanes) {
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    pthread_t th[256];
    float r[256];
    double t0 = now();
    for (int i = 0; i < nt; i++) pthread_create(&th[i], 0, body, &r[i]);
    for (int i = 0; i < nt; i++) pthread_join(th[i], 0);
    double t = now() - t0;
    double flops = (double)nt * g_iters * NACC * lanes * flops_per_lane_op;
    double g = flops / t * 1e-9;
    if (g > best) best = g;
  }
  return best;
}

int main(int argc, char **argv) {
  int maxt = argc > 1 ? atoi(argv[1]) : 2;
  if (maxt < 1) maxt = 1;
  if (maxt > 256) maxt = 256;
  if (argc > 2) g_iters = atol(argv[2]);
  printf("isa %s\n", VLANES == 16 ? "avx512" : "avx2");
  for (int nt = 1; nt <= maxt; nt++)
    printf("fp32 %d %.1f\n", nt, run(fp32_body, nt, 2.0, VLANES));
#if defined(__AVX512BF16__)
  for (int nt = 1; nt <= maxt; nt++)
    printf("bf16dp %d %.1f\n", nt, run(bf16_body, nt, 4.0, 16));
#endif
  return 0;
}
