// Calls a GPU function of a library built with --target=nvptx on a machine
// where libcuda.so.1 cannot be loaded (see no-gpu.mlir). The "CUDA" tensors
// point at host memory that the library must never touch.
#ifndef MHA_NO_GPU_HEADER_INCLUDED
#include "libgpu.h"
#endif
#include "../../Inputs/test_tensors.h"
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

enum { B = 2, HQ = 4, HKV = 2, L = 33, D = 64 };
static alignas(16) unsigned short q[B * HQ * L * D], k[B * HKV * L * D],
    v[B * HKV * L * D], o[B * HQ * L * D];
static float lse[B * HQ * L];
static alignas(16) unsigned short dout[B * HQ * L * D], dq[B * HQ * L * D],
    dk[B * HKV * L * D], dv[B * HKV * L * D];

static int untouched(void) {
  for (size_t i = 0; i < sizeof o / sizeof o[0]; ++i)
    if (o[i] != 0xffff)
      return 0;
  for (size_t i = 0; i < sizeof lse / sizeof lse[0]; ++i)
    if (lse[i] != -7.0f)
      return 0;
  return 1;
}

static int gradients_untouched(void) {
  for (size_t i = 0; i < sizeof dq / sizeof dq[0]; ++i)
    if (dq[i] != 0xffff)
      return 0;
  for (size_t i = 0; i < sizeof dk / sizeof dk[0]; ++i)
    if (dk[i] != 0xffff || dv[i] != 0xffff)
      return 0;
  return 1;
}

static void report(const char *what, mha_status st) {
  printf("%s: status %d (%s): %s\n", what, (int)st, mha_status_string(st),
         mha_last_error());
}

int main(void) {
  memset(o, 0xff, sizeof o);
  for (size_t i = 0; i < sizeof lse / sizeof lse[0]; ++i)
    lse[i] = -7.0f;
  int64_t qs[4] = {B, HQ, L, D}, ks[4] = {B, HKV, L, D}, ls[3] = {B, HQ, L};
  DLTensor tq, tk, tv, to, tl;
  int devices[2] = {kDLCPU, kDLCUDA};
  const char *names[2] = {"host", "cuda"};
  for (int d = 0; d < 2; ++d) {
    test_tensor_init(&tq, q, 4, qs, devices[d], kDLBfloat, 16);
    test_tensor_init(&tk, k, 4, ks, devices[d], kDLBfloat, 16);
    test_tensor_init(&tv, v, 4, ks, devices[d], kDLBfloat, 16);
    test_tensor_init(&to, o, 4, qs, devices[d], kDLBfloat, 16);
    test_tensor_init(&tl, lse, 3, ls, devices[d], kDLFloat, 32);
    report(names[d], attn(&tq, &tk, &tv, &to, &tl, NULL));
    printf("%s: output %s\n", names[d], untouched() ? "untouched" : "WRITTEN");
  }
  // Rows of k that do not start on 16 bytes: the library's fallback kernel
  // takes them (cp.async copies 16-byte rows), so this is no layout error.
  tk.byte_offset = 2;
  report("misaligned", attn(&tq, &tk, &tv, &to, &tl, NULL));
  tk.byte_offset = 0;
  // Tensors on two GPUs.
  tk.device.device_id = 1;
  report("mixed", attn(&tq, &tk, &tv, &to, &tl, NULL));
  tk.device.device_id = 0;
  // Nothing to compute still needs a device.
  int64_t eq[4] = {0, HQ, L, D}, ek[4] = {0, HKV, L, D}, el[3] = {0, HQ, L};
  tq.shape = eq;
  tk.shape = ek;
  tv.shape = ek;
  to.shape = eq;
  tl.shape = el;
  mha_status st = attn(&tq, &tk, &tv, &to, &tl, NULL);
  printf("empty: status %d\n", (int)st);

  // attn_backward(q, k, v, o, lse, dout, dq, dk, dv, opts).
  memset(dq, 0xff, sizeof dq);
  memset(dk, 0xff, sizeof dk);
  memset(dv, 0xff, sizeof dv);
  DLTensor tdo, tdq, tdk, tdv;
  const char *backward[2] = {"backward host", "backward cuda"};
  for (int d = 0; d < 2; ++d) {
    test_tensor_init(&tq, q, 4, qs, devices[d], kDLBfloat, 16);
    test_tensor_init(&tk, k, 4, ks, devices[d], kDLBfloat, 16);
    test_tensor_init(&tv, v, 4, ks, devices[d], kDLBfloat, 16);
    test_tensor_init(&to, o, 4, qs, devices[d], kDLBfloat, 16);
    test_tensor_init(&tl, lse, 3, ls, devices[d], kDLFloat, 32);
    test_tensor_init(&tdo, dout, 4, qs, devices[d], kDLBfloat, 16);
    test_tensor_init(&tdq, dq, 4, qs, devices[d], kDLBfloat, 16);
    test_tensor_init(&tdk, dk, 4, ks, devices[d], kDLBfloat, 16);
    test_tensor_init(&tdv, dv, 4, ks, devices[d], kDLBfloat, 16);
    report(backward[d], attn_backward(&tq, &tk, &tv, &to, &tl, &tdo, &tdq, &tdk,
                                      &tdv, NULL));
    printf("%s: gradients %s\n", backward[d],
           gradients_untouched() ? "untouched" : "WRITTEN");
  }
  // dout is copied with cp.async too: misaligned rows take the fallbacks.
  tdo.byte_offset = 2;
  report("backward misaligned dout",
         attn_backward(&tq, &tk, &tv, &to, &tl, &tdo, &tdq, &tdk, &tdv, NULL));
  tdo.byte_offset = 0;
  // dk must have k's shape.
  tdk.shape = qs;
  report("backward wrong dk",
         attn_backward(&tq, &tk, &tv, &to, &tl, &tdo, &tdq, &tdk, &tdv, NULL));
  return 0;
}
