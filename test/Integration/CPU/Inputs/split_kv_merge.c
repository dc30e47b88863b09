// Split-KV attention by hand (merge.mlir): the keys of a causal, windowed
// attention with sinks cut in two at KSPLIT; each half is attended with
// explicit positions (mha_options.use_positions: the queries are the last
// LQ positions of LK, the half's keys start at 0 or KSPLIT), the two
// partial results merged with mha.merge_states, and the result compared
// with one attention over every key (bottom-right alignment). Rows whose
// window lies wholly in one half test the merge of a -inf side.
//   split_kv_merge     (links libmerge.so)
#include "../../Inputs/test_tensors.h"
#include "libmerge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 2
#define H 2
#define LQ 37
#define LK 100
#define KSPLIT 80
#define D 16

// Keys [k0, k0 + n) of a [B, H, LK, D] tensor as a strided view.
static DLTensor keyView(float *base, int64_t *shape, int64_t *strides,
                        int64_t k0, int64_t n) {
  shape[0] = B, shape[1] = H, shape[2] = n, shape[3] = D;
  strides[0] = H * LK * D, strides[1] = LK * D, strides[2] = D, strides[3] = 1;
  DLTensor t = host_f32_tensor(base, 4, shape);
  t.strides = strides;
  t.byte_offset = (uint64_t)(k0 * D) * sizeof(float);
  return t;
}

int main(void) {
  static float q[B * H * LQ * D], k[B * H * LK * D], v[B * H * LK * D];
  static float o[2][B * H * LQ * D], lse[2][B * H * LQ];
  static float whole[B * H * LQ * D], wholeLse[B * H * LQ];
  static float merged[B * H * LQ * D], mergedLse[B * H * LQ];
  unsigned seed = 7;
  float *all[3] = {q, k, v};
  size_t sizes[3] = {sizeof(q), sizeof(k), sizeof(v)};
  for (int a = 0; a < 3; ++a)
    for (size_t i = 0; i < sizes[a] / sizeof(float); ++i) {
      seed = seed * 1103515245u + 12345u;
      all[a][i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
    }
  int64_t qShape[4] = {B, H, LQ, D}, rowShape[3] = {B, H, LQ};
  DLTensor tq = host_f32_tensor(q, 4, qShape);

  // One attention over every key.
  int64_t kShape[4] = {B, H, LK, D};
  DLTensor tk = host_f32_tensor(k, 4, kShape),
           tv = host_f32_tensor(v, 4, kShape);
  DLTensor to = host_f32_tensor(whole, 4, qShape),
           tl = host_f32_tensor(wholeLse, 3, rowShape);
  if (attend(&tq, &tk, &tv, &to, &tl, NULL) != MHA_OK) {
    printf("attend: %s\n", mha_last_error());
    return 1;
  }

  // The two halves at their positions, then the merge.
  int64_t starts[2] = {0, KSPLIT}, counts[2] = {KSPLIT, LK - KSPLIT};
  for (int half = 0; half < 2; ++half) {
    int64_t ks[4], kst[4], vs[4], vst[4];
    DLTensor hk = keyView(k, ks, kst, starts[half], counts[half]);
    DLTensor hv = keyView(v, vs, vst, starts[half], counts[half]);
    DLTensor ho = host_f32_tensor(o[half], 4, qShape);
    DLTensor hl = host_f32_tensor(lse[half], 3, rowShape);
    mha_options opts = MHA_OPTIONS_INIT;
    opts.use_positions = 1;
    opts.query_start = LK - LQ; // The queries are the last LQ positions.
    opts.key_start = starts[half];
    if (attend(&tq, &hk, &hv, &ho, &hl, &opts) != MHA_OK) {
      printf("attend half %d: %s\n", half, mha_last_error());
      return 1;
    }
  }
  DLTensor oa = host_f32_tensor(o[0], 4, qShape),
           la = host_f32_tensor(lse[0], 3, rowShape);
  DLTensor ob = host_f32_tensor(o[1], 4, qShape),
           lb = host_f32_tensor(lse[1], 3, rowShape);
  DLTensor mo = host_f32_tensor(merged, 4, qShape),
           ml = host_f32_tensor(mergedLse, 3, rowShape);
  if (merge16(&oa, &la, &ob, &lb, &mo, &ml, NULL) != MHA_OK) {
    printf("merge16: %s\n", mha_last_error());
    return 1;
  }

  int emptySides = 0;
  double err = 0, ref = 0, lseErr = 0;
  for (int i = 0; i < B * H * LQ; ++i) {
    emptySides += isinf(lse[0][i]) || isinf(lse[1][i]);
    lseErr = fmax(lseErr, fabs(mergedLse[i] - wholeLse[i]));
  }
  for (int i = 0; i < B * H * LQ * D; ++i) {
    err += (merged[i] - whole[i]) * (merged[i] - whole[i]);
    ref += whole[i] * whole[i];
  }
  double rel = sqrt(err / ref);
  if (!(rel < 1e-5) || !(lseErr < 1e-4) || emptySides == 0) {
    printf("split-kv merge FAIL: rel %g, lse err %g, rows with an empty side "
           "%d\n",
           rel, lseErr, emptySides);
    return 1;
  }
  printf("split-kv merge ok: rel %.2e, lse err %.2e, %d rows with an empty "
         "side\n",
         rel, lseErr, emptySides);
  return 0;
}
