// bench/read_pattern.c - read bandwidth of 2 threads summing a 1 GiB f32 array
// in chunks of CHUNK floats visited in a shuffled order, prefetching the
// chunk DIST ahead (0: none): the pattern of a paged KV cache.
//   cc -O2 -mavx512f -fopenmp bench/read_pattern.c -o read_pattern
//   ./read_pattern 2048 0    # 8 KiB pages, shuffled
//   ./read_pattern 67108864 0  # four 256 MiB chunks: in order
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char **argv) {
  size_t total = (size_t)256 << 20;
  size_t chunk = atoi(argv[1]);
  int dist = atoi(argv[2]);
  size_t nch = total / chunk;
  float *k = aligned_alloc(64, total * 4);
  memset(k, 1, total * 4);
  size_t *ord = malloc(nch * sizeof(size_t));
  for (size_t i = 0; i < nch; i++)
    ord[i] = i;
  srand(1);
  for (size_t i = nch - 1; i > 0; i--) {
    size_t j = rand() % (i + 1);
    size_t t = ord[i];
    ord[i] = ord[j];
    ord[j] = t;
  }
  for (int rep = 0; rep < 4; rep++) {
    double t = now();
    float tot = 0;
#pragma omp parallel num_threads(2) reduction(+ : tot)
    {
      int th = omp_get_thread_num();
      size_t lo = th * nch / 2, hi = (th + 1) * nch / 2;
      __m512 a = _mm512_setzero_ps();
      for (size_t c = lo; c < hi; c++) {
        const float *p = k + ord[c] * chunk;
        const float *q = k + ord[c + dist < hi ? c + dist : hi - 1] * chunk;
        for (size_t i = 0; i < chunk; i += 16) {
          if (dist)
            _mm_prefetch((const char *)(q + i), _MM_HINT_T0);
          a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
        }
      }
      tot += _mm512_reduce_add_ps(a);
    }
    t = now() - t;
    printf("chunk %zu dist %d: %.1f GB/s\n", chunk, dist, total * 4 / t / 1e9);
  }
}
