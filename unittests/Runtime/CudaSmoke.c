//===- CudaSmoke.c - mha_rt_cuda_launch against the real driver ---*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// A manual check for machines with an NVIDIA GPU (not run by the test suite,
// which has none): launches a hand-written PTX kernel with the parameter
// layout of GpuAbi.h through mha_rt_cuda_launch and reads back what the
// kernel saw (grid, block, head mask, descriptor fields); then checks that a
// missing entry and a PTX JIT error come back as MHA_ERR_CUDA. Exit status 0
// and "SMOKE OK" on success.
//
//===----------------------------------------------------------------------===//

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "mha/Runtime/GpuAbi.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fn_init)(unsigned);
typedef int (*fn_dev)(int *, int);
typedef int (*fn_retain)(void **, int);
typedef int (*fn_push)(void *);
typedef int (*fn_alloc)(unsigned long long *, size_t);
typedef int (*fn_dtoh)(void *, unsigned long long, size_t);
typedef int (*fn_sync)(void);

// Tensors q, k, v, o [B, H, L, D] (11 words each), lse [B, H, L] (9), then
// the mask (5): 58 parameters. Thread (0,0,0) of block (0,0,0) writes to o:
// nctaid.x/y/z, ntid.x, mask size, mask[1], q's offset, lse's size[2].
static const char *kPtxBody =
    "{\n"
    " .reg .u64 %rd<4>;\n .reg .u32 %r<8>;\n .reg .pred %p;\n"
    " mov.u32 %r0, %ctaid.x; mov.u32 %r1, %ctaid.y; mov.u32 %r2, %ctaid.z;\n"
    " mov.u32 %r3, %tid.x; or.b32 %r4, %r0, %r1; or.b32 %r4, %r4, %r2;\n"
    " or.b32 %r4, %r4, %r3; setp.ne.u32 %p, %r4, 0; @%p bra DONE;\n"
    " ld.param.u64 %rd0, [p34]; cvta.to.global.u64 %rd0, %rd0;\n"
    " mov.u32 %r5, %nctaid.x; cvt.u64.u32 %rd1, %r5; st.global.u64 [%rd0], "
    "%rd1;\n"
    " mov.u32 %r5, %nctaid.y; cvt.u64.u32 %rd1, %r5; st.global.u64 [%rd0+8], "
    "%rd1;\n"
    " mov.u32 %r5, %nctaid.z; cvt.u64.u32 %rd1, %r5; st.global.u64 [%rd0+16], "
    "%rd1;\n"
    " mov.u32 %r5, %ntid.x; cvt.u64.u32 %rd1, %r5; st.global.u64 [%rd0+24], "
    "%rd1;\n"
    " ld.param.u64 %rd1, [p56]; st.global.u64 [%rd0+32], %rd1;\n"
    " ld.param.u64 %rd2, [p54]; cvta.to.global.u64 %rd2, %rd2;\n"
    " ld.global.u8 %r6, [%rd2+1]; cvt.u64.u32 %rd1, %r6; st.global.u64 "
    "[%rd0+40], %rd1;\n"
    " ld.param.u64 %rd1, [p2]; st.global.u64 [%rd0+48], %rd1;\n"
    " ld.param.u64 %rd1, [p49]; st.global.u64 [%rd0+56], %rd1;\n"
    "DONE:\n ret;\n}\n";

static char ptx[8192];

static void build_ptx(const char *body) {
  int n = snprintf(ptx, sizeof(ptx),
                   ".version 7.0\n.target sm_50\n.address_size 64\n"
                   ".visible .entry smoke(\n");
  for (int i = 0; i < 58; ++i)
    n += snprintf(ptx + n, sizeof(ptx) - (size_t)n, " .param .u64 p%d%s\n", i,
                  i < 57 ? "," : "");
  snprintf(ptx + n, sizeof(ptx) - (size_t)n, ")\n%s", body);
}

static void sig_tensor(int64_t *w, int64_t role, int rank) {
  const int64_t syms[4] = {MHA_SYM_BATCH, MHA_SYM_QUERY_HEADS,
                           role == MHA_ROLE_KEY || role == MHA_ROLE_VALUE
                               ? MHA_SYM_KEY_LEN
                               : MHA_SYM_QUERY_LEN,
                           MHA_SYM_HEAD_DIM};
  const int64_t sizes[4] = {-1, 4, -1, 8};
  w[MHA_SIG_T_ROLE] = role;
  w[MHA_SIG_T_DTYPE_CODE] = kDLFloat;
  w[MHA_SIG_T_DTYPE_BITS] = 32;
  w[MHA_SIG_T_RANK] = rank;
  for (int d = 0; d < rank; ++d) {
    w[MHA_SIG_T_DIMS + 2 * d] = syms[d];
    w[MHA_SIG_T_DIMS + 2 * d + 1] = sizes[d];
  }
}

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("FAILED: " __VA_ARGS__);                                          \
      printf("\n");                                                            \
      return 1;                                                                \
    }                                                                          \
  } while (0)

int main(void) {
  void *cuda = dlopen("libcuda.so.1", RTLD_NOW);
  CHECK(cuda, "dlopen: %s", dlerror());
  fn_init init = (fn_init)dlsym(cuda, "cuInit");
  fn_dev dev_get = (fn_dev)dlsym(cuda, "cuDeviceGet");
  fn_retain retain = (fn_retain)dlsym(cuda, "cuDevicePrimaryCtxRetain");
  fn_push push = (fn_push)dlsym(cuda, "cuCtxPushCurrent_v2");
  fn_alloc alloc = (fn_alloc)dlsym(cuda, "cuMemAlloc_v2");
  fn_dtoh dtoh = (fn_dtoh)dlsym(cuda, "cuMemcpyDtoH_v2");
  fn_sync sync = (fn_sync)dlsym(cuda, "cuCtxSynchronize");
  int device;
  void *ctx;
  CHECK(init(0) == 0 && dev_get(&device, 0) == 0 && retain(&ctx, device) == 0 &&
            push(ctx) == 0,
        "driver set-up");

  int64_t sig[MHA_SIG_HEADER_WORDS + 5 * MHA_SIG_TENSOR_WORDS] = {0};
  sig[MHA_SIG_VERSION] = MHA_ABI_VERSION;
  sig[MHA_SIG_NUM_TENSORS] = 5;
  sig[MHA_SIG_NUM_INPUTS] = 3;
  sig[MHA_SIG_GRID_HEADS] = 4;
  sig[MHA_SIG_ROWS_PER_ITEM] = 1;
  sig[MHA_SIG_GRID_BATCH_SYM] = MHA_SYM_BATCH;
  sig[MHA_SIG_GRID_ROWS_SYM] = MHA_SYM_QUERY_LEN;
  const int64_t roles[5] = {MHA_ROLE_QUERY, MHA_ROLE_KEY, MHA_ROLE_VALUE,
                            MHA_ROLE_OUTPUT, MHA_ROLE_LSE};
  for (int i = 0; i < 5; ++i)
    sig_tensor(sig + MHA_SIG_HEADER_WORDS + i * MHA_SIG_TENSOR_WORDS, roles[i],
               i == 4 ? 3 : 4);

  int64_t shapes[5][4] = {
      {2, 4, 5, 8}, {2, 4, 3, 8}, {2, 4, 3, 8}, {2, 4, 5, 8}, {2, 4, 5, 0}};
  DLTensor t[5];
  const DLTensor *tensors[5];
  for (int i = 0; i < 5; ++i) {
    unsigned long long p;
    CHECK(alloc(&p, 4096) == 0, "cuMemAlloc");
    memset(&t[i], 0, sizeof(t[i]));
    t[i].data = (void *)(uintptr_t)p;
    t[i].device.device_type = kDLCUDA;
    t[i].device.device_id = 0;
    t[i].ndim = i == 4 ? 3 : 4;
    t[i].dtype.code = kDLFloat;
    t[i].dtype.bits = 32;
    t[i].dtype.lanes = 1;
    t[i].shape = shapes[i];
    tensors[i] = &t[i];
  }
  t[0].byte_offset = 64; // 16 elements.
  const char *names[5] = {"q", "k", "v", "o", "lse"};

  build_ptx(kPtxBody);
  mha_gpu_image image = {50, 0,   MHA_GPU_IMAGE_PTX,
                         0,  ptx, (int64_t)strlen(ptx) + 1};
  mha_gpu_kernel kernel = {"smoke", 128, 64 * 1024, 2, MHA_GPU_REQ_ALIGNED_ROWS,
                           1,       0,   &image};
  uint8_t mask[4] = {1, 7, 0, 1};
  mha_options options = {0};
  options.head_mask = mask;
  int32_t status =
      mha_rt_cuda_launch(sig, "smoke", names, tensors, &options, &kernel);
  CHECK(status == MHA_OK, "launch: %d %s", status, mha_last_error());
  CHECK(sync() == 0, "cuCtxSynchronize");
  uint64_t seen[8];
  CHECK(dtoh(seen, (unsigned long long)(uintptr_t)t[3].data, sizeof(seen)) == 0,
        "cuMemcpyDtoH");
  const uint64_t want[8] = {3, 4, 2, 128, 4, 7, 16, 5};
  for (int i = 0; i < 8; ++i)
    CHECK(seen[i] == want[i], "word %d: kernel saw %llu, want %llu", i,
          (unsigned long long)seen[i], (unsigned long long)want[i]);
  printf("launch ok: grid %llu x %llu x %llu, block %llu, mask size %llu\n",
         (unsigned long long)seen[0], (unsigned long long)seen[1],
         (unsigned long long)seen[2], (unsigned long long)seen[3],
         (unsigned long long)seen[4]);

  // A second launch reuses the cached module and function (with a mask:
  // the smoke kernel reads it unconditionally).
  status = mha_rt_cuda_launch(sig, "smoke", names, tensors, &options, &kernel);
  CHECK(status == MHA_OK, "second launch: %s", mha_last_error());

  mha_gpu_kernel wrong = kernel;
  wrong.kernel_name = "no_such_kernel";
  status = mha_rt_cuda_launch(sig, "smoke", names, tensors, NULL, &wrong);
  printf("wrong entry: %d %s\n", status, mha_last_error());
  CHECK(status == MHA_ERR_CUDA &&
            strstr(mha_last_error(), "cuModuleGetFunction"),
        "wrong entry");

  static char bad_ptx[] = ".version 7.0\n.target sm_50\n.address_size 64\n"
                          ".visible .entry smoke() { bogus; }\n";
  mha_gpu_image bad_image = {50, 0,       MHA_GPU_IMAGE_PTX,
                             0,  bad_ptx, sizeof(bad_ptx)};
  mha_gpu_kernel bad = kernel;
  bad.images = &bad_image;
  status = mha_rt_cuda_launch(sig, "smoke", names, tensors, NULL, &bad);
  printf("bad PTX: %d %s\n", status, mha_last_error());
  CHECK(status == MHA_ERR_CUDA &&
            strstr(mha_last_error(), "cuModuleLoadDataEx"),
        "bad PTX");

  CHECK(sync() == 0, "final cuCtxSynchronize");
  printf("SMOKE OK\n");
  return 0;
}
