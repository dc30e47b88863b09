/* Calls the layer of layer-api.mlir through its generated header (see that
 * file): errors, and the runtime head mask on a layer. */
#include "../../Inputs/test_tensors.h"
#include "liblayer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define B 2
#define L 5
#define D 32

static float x[B * L * D], wq[D * D], wk[D * 16], wv[D * 16], wo[D * D], bo[D],
    y[B * L * D];

int main(void) {
  unsigned seed = 1;
  float *all[] = {x, wq, wk, wv, wo, bo};
  size_t sizes[] = {B * L * D, D * D, D * 16, D * 16, D * D, D};
  for (int i = 0; i < 6; ++i)
    for (size_t j = 0; j < sizes[i]; ++j) {
      seed = seed * 1103515245u + 12345u;
      all[i][j] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
    }
  int64_t xs[] = {B, L, D}, ws[] = {D, D}, kvs[] = {D, 16}, bad[] = {D, 8},
          bs[] = {D};
  DLTensor tx = host_f32_tensor(x, 3, xs), tq = host_f32_tensor(wq, 2, ws),
           tk = host_f32_tensor(wk, 2, kvs), tv = host_f32_tensor(wv, 2, kvs),
           to = host_f32_tensor(wo, 2, ws), tb = host_f32_tensor(bo, 1, bs),
           ty = host_f32_tensor(y, 3, xs), tbad = host_f32_tensor(wk, 2, bad);
  for (int i = 0; i < B * L * D; ++i)
    y[i] = 42.0f;

  mha_status s = layer(&tx, &tq, &tbad, &tv, &to, &tb, &ty, NULL);
  printf("shape: %s: %s\n", mha_status_string(s), mha_last_error());
  s = layer(&tx, &tq, &tk, NULL, &to, &tb, &ty, NULL);
  printf("null: %s: %s\n", mha_status_string(s), mha_last_error());
  for (int i = 0; i < B * L * D; ++i)
    if (y[i] != 42.0f) {
      printf("FAIL: y written by a refused call\n");
      return 1;
    }
  printf("y untouched after errors\n");

  uint8_t none[2] = {0, 0}, first[2] = {1, 0};
  mha_options opts;
  memset(&opts, 0, sizeof(opts));
  opts.head_mask = none;
  s = layer(&tx, &tq, &tk, &tv, &to, &tb, &ty, &opts);
  if (s != MHA_OK) {
    printf("FAIL: %s\n", mha_last_error());
    return 1;
  }
  for (int i = 0; i < B * L * D; ++i)
    if (y[i] != bo[i % D]) {
      printf("FAIL: y[%d] = %g, bo = %g\n", i, y[i], bo[i % D]);
      return 1;
    }
  printf("all heads ablated: y = bo\n");

  static float full[B * L * D];
  opts.head_mask = NULL;
  layer(&tx, &tq, &tk, &tv, &to, &tb, &ty, &opts);
  memcpy(full, y, sizeof(full));
  opts.head_mask = first;
  layer(&tx, &tq, &tk, &tv, &to, &tb, &ty, &opts);
  double diff = 0.0;
  for (int i = 0; i < B * L * D; ++i)
    diff += fabs((double)full[i] - (double)y[i]);
  if (!(diff > 1e-3)) {
    printf("FAIL: ablating head 1 changed nothing\n");
    return 1;
  }
  printf("one head ablated: y changes\n");

  /* Thread count: bit-identical results. */
  opts.head_mask = NULL;
  opts.num_threads = 1;
  layer(&tx, &tq, &tk, &tv, &to, &tb, &ty, &opts);
  if (memcmp(full, y, sizeof(full)) != 0) {
    printf("FAIL: 1 thread differs from the default\n");
    return 1;
  }
  printf("1 thread: bit-identical\n");

  /* Strided x and y (rows padded by 8 elements, a byte offset): the same
   * result. */
  static float xpad[B * L * (D + 8) + 4], ypad[B * L * (D + 8) + 4];
  int64_t strides[] = {L * (D + 8), D + 8, 1};
  for (int b = 0; b < B; ++b)
    for (int l = 0; l < L; ++l)
      for (int c = 0; c < D; ++c)
        xpad[4 + (b * L + l) * (D + 8) + c] = x[(b * L + l) * D + c];
  DLTensor txs = host_f32_tensor(xpad, 3, xs),
           tys = host_f32_tensor(ypad, 3, xs);
  txs.strides = tys.strides = strides;
  txs.byte_offset = tys.byte_offset = 4 * sizeof(float);
  opts.num_threads = 0;
  s = layer(&txs, &tq, &tk, &tv, &to, &tb, &tys, &opts);
  for (int b = 0; b < B && s == MHA_OK; ++b)
    for (int l = 0; l < L; ++l)
      for (int c = 0; c < D; ++c)
        if (ypad[4 + (b * L + l) * (D + 8) + c] != full[(b * L + l) * D + c]) {
          printf("FAIL: strided y[%d,%d,%d] differs\n", b, l, c);
          return 1;
        }
  if (s != MHA_OK) {
    printf("FAIL: strided call: %s\n", mha_last_error());
    return 1;
  }
  printf("strided x and y: same result\n");
  printf("PASS\n");
  return 0;
}
