/* A program using a generated library: causal multi-query attention with
 * lse on random data, then one bad call to show the error reporting.
 *
 *   mha-compile examples/mqa.mlir -o build/examples/libmqa.so
 *   cc examples/app.c -Ibuild/examples -Lbuild/examples -lmqa \
 *      -Wl,-rpath,build/examples -o build/examples/app
 */
#include "libmqa.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* f32 -> f16 bits, round to nearest even (normal range is enough here). */
static uint16_t to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (exp <= 0)
    return (uint16_t)sign;
  uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h;
  return (uint16_t)h;
}

static DLTensor make_tensor(void *data, int ndim, int64_t *shape,
                            uint8_t code, uint8_t bits) {
  DLTensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.device.device_type = kDLCPU;
  t.ndim = ndim;
  t.dtype.code = code;
  t.dtype.bits = bits;
  t.dtype.lanes = 1;
  t.shape = shape;
  t.strides = NULL; /* compact row-major */
  return t;
}

int main(void) {
  enum { B = 1, HQ = 16, HKV = 1, L = 100, D = 64 };
  int64_t qshape[4] = {B, HQ, L, D}, kvshape[4] = {B, HKV, L, D};
  int64_t lseshape[3] = {B, HQ, L};
  uint16_t *q = malloc(sizeof(uint16_t) * B * HQ * L * D);
  uint16_t *k = malloc(sizeof(uint16_t) * B * HKV * L * D);
  uint16_t *v = malloc(sizeof(uint16_t) * B * HKV * L * D);
  uint16_t *o = malloc(sizeof(uint16_t) * B * HQ * L * D);
  float *lse = malloc(sizeof(float) * B * HQ * L);
  srand(1);
  for (int i = 0; i < B * HQ * L * D; ++i)
    q[i] = to_half((float)rand() / RAND_MAX - 0.5f);
  for (int i = 0; i < B * HKV * L * D; ++i) {
    k[i] = to_half((float)rand() / RAND_MAX - 0.5f);
    v[i] = to_half((float)rand() / RAND_MAX - 0.5f);
  }
  DLTensor tq = make_tensor(q, 4, qshape, kDLFloat, 16);
  DLTensor tk = make_tensor(k, 4, kvshape, kDLFloat, 16);
  DLTensor tv = make_tensor(v, 4, kvshape, kDLFloat, 16);
  DLTensor to = make_tensor(o, 4, qshape, kDLFloat, 16);
  DLTensor tl = make_tensor(lse, 3, lseshape, kDLFloat, 32);

  mha_options opts = {0};
  opts.num_threads = 2;
  mha_status s = mqa_with_lse(&tq, &tk, &tv, &to, &tl, &opts);
  printf("mqa_with_lse: %s\n", mha_status_string(s));
  if (s != MHA_OK)
    return 1;
  /* The first query sees only key 0 (causal): lse = its one score. */
  printf("lse[head 0, row 0] = %f, lse[head 0, row %d] = %f\n", lse[0], L - 1,
         lse[L - 1]);

  /* A bad call: a float32 key where the spec wants float16. */
  tk.dtype.bits = 32;
  s = mqa_with_lse(&tq, &tk, &tv, &to, &tl, NULL);
  printf("bad call: %s: %s\n", mha_status_string(s), mha_last_error());
  free(q), free(k), free(v), free(o), free(lse);
  return s == MHA_ERR_DTYPE ? 0 : 1;
}
