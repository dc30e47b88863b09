// Calls a function of a --target=auto library (see auto-target.mlir): host
// tensors run its CPU half, bit for bit what the --target=cpu library of
// the same spec computes; CUDA tensors run its GPU half (here, without a
// driver: MHA_ERR_NO_DEVICE, nothing written); a NULL or host first tensor
// among CUDA ones is the CPU half's error.
#ifndef MHA_NO_GPU_HEADER_INCLUDED
#include "libauto.h"
#endif
#include "../../Inputs/test_tensors.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef mha_status (*attn_fn)(const DLTensor *, const DLTensor *,
                              const DLTensor *, DLTensor *, DLTensor *,
                              const mha_options *);

enum { B = 2, HQ = 4, HKV = 2, L = 33, D = 64 };
static float q[B * HQ * L * D], k[B * HKV * L * D], v[B * HKV * L * D];
static float o[B * HQ * L * D], lse[B * HQ * L];
static float o_cpu[B * HQ * L * D], lse_cpu[B * HQ * L];

static void report(const char *what, mha_status st) {
  printf("%s: status %d (%s): %s\n", what, (int)st, mha_status_string(st),
         mha_last_error());
}

static int untouched(void) {
  for (size_t i = 0; i < sizeof o / sizeof o[0]; ++i)
    if (o[i] != -7.0f)
      return 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  void *cpu_lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  attn_fn cpu_attn = cpu_lib ? (attn_fn)dlsym(cpu_lib, "attn") : NULL;
  if (!cpu_attn) {
    printf("cannot load %s: %s\n", argv[1], dlerror());
    return 1;
  }
  unsigned seed = 7;
  float *inputs[3] = {q, k, v};
  size_t sizes[3] = {sizeof q, sizeof k, sizeof v};
  for (int t = 0; t < 3; ++t)
    for (size_t i = 0; i < sizes[t] / sizeof(float); ++i) {
      seed = seed * 1103515245u + 12345u;
      inputs[t][i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
  int64_t qs[4] = {B, HQ, L, D}, ks[4] = {B, HKV, L, D}, ls[3] = {B, HQ, L};
  DLTensor tq, tk, tv, to, tl, co, cl;
  test_tensor_init(&tq, q, 4, qs, kDLCPU, kDLFloat, 32);
  test_tensor_init(&tk, k, 4, ks, kDLCPU, kDLFloat, 32);
  test_tensor_init(&tv, v, 4, ks, kDLCPU, kDLFloat, 32);
  test_tensor_init(&to, o, 4, qs, kDLCPU, kDLFloat, 32);
  test_tensor_init(&tl, lse, 3, ls, kDLCPU, kDLFloat, 32);
  test_tensor_init(&co, o_cpu, 4, qs, kDLCPU, kDLFloat, 32);
  test_tensor_init(&cl, lse_cpu, 3, ls, kDLCPU, kDLFloat, 32);
  report("host", attn(&tq, &tk, &tv, &to, &tl, NULL));
  report("cpu library", cpu_attn(&tq, &tk, &tv, &co, &cl, NULL));
  int finite = 1;
  for (size_t i = 0; i < sizeof o / sizeof o[0]; ++i)
    finite = finite && isfinite(o[i]);
  printf("host: %s, %s\n", finite ? "finite" : "NOT FINITE",
         memcmp(o, o_cpu, sizeof o) == 0 &&
                 memcmp(lse, lse_cpu, sizeof lse) == 0
             ? "the same bits as the CPU library"
             : "DIFFERENT from the CPU library");

  for (size_t i = 0; i < sizeof o / sizeof o[0]; ++i)
    o[i] = -7.0f;
  DLTensor *all[5] = {&tq, &tk, &tv, &to, &tl};
  for (int t = 0; t < 5; ++t)
    all[t]->device.device_type = kDLCUDA;
  report("cuda", attn(&tq, &tk, &tv, &to, &tl, NULL));
  printf("cuda: output %s\n", untouched() ? "untouched" : "WRITTEN");
  tq.device.device_type = kDLCPU;
  report("host q", attn(&tq, &tk, &tv, &to, &tl, NULL));
  report("null q", attn(NULL, &tk, &tv, &to, &tl, NULL));
  printf("output %s\n", untouched() ? "untouched" : "WRITTEN");
  return 0;
}
