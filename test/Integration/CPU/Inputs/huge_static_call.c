// Calls a spec whose static sizes are all at the verifier's cap (2^31 - 1)
// with tensors of exactly those sizes over a tiny buffer: B * H * L * D
// overflows int64, so the call must fail with MHA_ERR_LAYOUT before
// touching memory (issue 9, resource limits). See huge-static.mlir.
#include "libcap.h"
#include <stdio.h>
#include <string.h>
int main(void) {
  // Never read: the checks fail first.
  static float buf[64];
  int64_t qs[4] = {2147483647, 2, 2147483647, 16}, ks[4] = {2147483647, 1, 2147483647, 16}, ls[3] = {2147483647, 2, 2147483647};
  DLTensor t[5];
  memset(t, 0, sizeof t);
  int64_t *shapes[5] = {qs, ks, ks, qs, ls};
  for (int i = 0; i < 5; ++i) { t[i].data = buf; t[i].device.device_type = kDLCPU; t[i].ndim = i == 4 ? 3 : 4; t[i].dtype.code = kDLFloat; t[i].dtype.bits = 32; t[i].dtype.lanes = 1; t[i].shape = shapes[i]; }
  mha_status st = cap(&t[0], &t[1], &t[2], &t[3], &t[4], NULL);
  printf("status %d: %s\n", (int)st, mha_last_error());
  return st == MHA_ERR_LAYOUT ? 0 : 1;
}
