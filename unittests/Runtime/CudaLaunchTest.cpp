//===- CudaLaunchTest.cpp - Checks and launches -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_rt_cuda_launch against a fake driver (FakeCuda.c) that records every
// launch with its decoded parameters, module loads, attributes and uploads,
// and can fail any call; also against a missing driver and an old one.
// Tensors carry made-up device addresses: the runtime must never touch them.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "FakeCuda.h"

#include "mha/Runtime/GpuAbi.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

//===----------------------------------------------------------------------===//
// Signatures (as in LaunchTest.cpp)
//===----------------------------------------------------------------------===//

struct Dim {
  int64_t sym;
  int64_t size; // -1 = dynamic.
};
struct TensorSig {
  int64_t role;
  std::vector<Dim> dims;
  uint8_t code = kDLFloat; // The element type: f32 unless said.
};

std::vector<int64_t> buildSignature(const std::vector<TensorSig> &tensors,
                                    int64_t numInputs, int64_t heads) {
  std::vector<int64_t> sig(MHA_SIG_HEADER_WORDS, 0);
  sig[MHA_SIG_VERSION] = MHA_ABI_VERSION;
  sig[MHA_SIG_NUM_TENSORS] = static_cast<int64_t>(tensors.size());
  sig[MHA_SIG_NUM_INPUTS] = numInputs;
  sig[MHA_SIG_GRID_HEADS] = heads;
  sig[MHA_SIG_ROWS_PER_ITEM] = 1; // The GPU path uses the kernel's rows.
  sig[MHA_SIG_GRID_BATCH_SYM] = MHA_SYM_BATCH;
  sig[MHA_SIG_GRID_ROWS_SYM] = MHA_SYM_QUERY_LEN;
  for (const TensorSig &t : tensors) {
    std::vector<int64_t> words(MHA_SIG_TENSOR_WORDS, 0);
    words[MHA_SIG_T_ROLE] = t.role;
    words[MHA_SIG_T_DTYPE_CODE] = t.code;
    words[MHA_SIG_T_DTYPE_BITS] = 32;
    words[MHA_SIG_T_RANK] = static_cast<int64_t>(t.dims.size());
    for (size_t d = 0; d < t.dims.size(); ++d) {
      words[MHA_SIG_T_DIMS + 2 * d] = t.dims[d].sym;
      words[MHA_SIG_T_DIMS + 2 * d + 1] = t.dims[d].size;
    }
    sig.insert(sig.end(), words.begin(), words.end());
  }
  return sig;
}

constexpr int64_t kHeadDim = 8;
constexpr int kRowsPerBlock = 2;

// attn(q, k, v) -> (o, lse): q/o [B, Hq, Lq, D=8], k/v [B, Hq, Lk, D],
// lse [B, Hq, Lq], float32.
std::vector<int64_t> attnSignature(int64_t heads) {
  Dim b{MHA_SYM_BATCH, -1}, h{MHA_SYM_QUERY_HEADS, heads},
      lq{MHA_SYM_QUERY_LEN, -1}, lk{MHA_SYM_KEY_LEN, -1},
      d{MHA_SYM_HEAD_DIM, kHeadDim};
  return buildSignature({{MHA_ROLE_QUERY, {b, h, lq, d}},
                         {MHA_ROLE_KEY, {b, h, lk, d}},
                         {MHA_ROLE_VALUE, {b, h, lk, d}},
                         {MHA_ROLE_OUTPUT, {b, h, lq, d}},
                         {MHA_ROLE_LSE, {b, h, lq}}},
                        3, heads);
}
// Parameter words per tensor: allocated, aligned, offset, sizes, strides.
constexpr int kRanks[5] = {4, 4, 4, 4, 3};
constexpr int kNumParams = 4 * 11 + 9 + 5;

//===----------------------------------------------------------------------===//
// Device tensors (made-up addresses, never dereferenced)
//===----------------------------------------------------------------------===//

struct DevTensor {
  std::vector<int64_t> shape, strides;
  DLTensor dl{};

  DevTensor(uintptr_t address, std::vector<int64_t> shapeIn,
            std::vector<int64_t> stridesIn = {}, uint64_t byteOffset = 0,
            int deviceId = 0)
      : shape(std::move(shapeIn)), strides(std::move(stridesIn)) {
    dl.data = reinterpret_cast<void *>(address);
    dl.device = {kDLCUDA, deviceId};
    dl.ndim = static_cast<int>(shape.size());
    dl.dtype = {kDLFloat, 32, 1};
    dl.shape = shape.data();
    dl.strides = strides.empty() ? nullptr : strides.data();
    dl.byte_offset = byteOffset;
  }
  std::vector<int64_t> effectiveStrides() const {
    if (!strides.empty())
      return strides;
    std::vector<int64_t> s(shape.size(), 1);
    for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d)
      s[d] = s[d + 1] * std::max<int64_t>(shape[d + 1], 1);
    return s;
  }
};

// Tensor i lives at kBase * (i + 1): far apart, 16-byte aligned.
constexpr uintptr_t kBase = uintptr_t(1) << 40;

// Three images: sm_80 cubin, sm_90a cubin, sm_80 PTX.
const char kCubin80[] = "cubin sm_80";
const char kCubin90a[] = "cubin sm_90a";
const char kPtx80[] = ".version 8.0\n.target sm_80\n";
const mha_gpu_image kImages[] = {
    {80, 0, MHA_GPU_IMAGE_CUBIN, 0, kCubin80, sizeof(kCubin80)},
    {90, 1, MHA_GPU_IMAGE_CUBIN, 0, kCubin90a, sizeof(kCubin90a)},
    {80, 0, MHA_GPU_IMAGE_PTX, 0, kPtx80, sizeof(kPtx80)},
};

mha_gpu_kernel makeKernel(int32_t sharedBytes = 16384) {
  mha_gpu_kernel kernel{};
  kernel.kernel_name = "attn_kernel";
  kernel.block_threads = 128;
  kernel.shared_bytes = sharedBytes;
  kernel.rows_per_block = kRowsPerBlock;
  kernel.requirements = MHA_GPU_REQ_ALIGNED_ROWS;
  kernel.num_images = 3;
  kernel.images = kImages;
  return kernel;
}

struct AttnCall {
  int64_t B, H, Lq, Lk;
  std::vector<int64_t> sig;
  std::unique_ptr<DevTensor> q, k, v, o, lse;
  const char *names[5] = {"q", "k", "v", "o", "lse"};
  const DLTensor *tensors[5] = {};
  mha_gpu_kernel kernel = makeKernel();

  AttnCall(int64_t B = 2, int64_t H = 4, int64_t Lq = 5, int64_t Lk = 3,
           int device = 0)
      : B(B), H(H), Lq(Lq), Lk(Lk), sig(attnSignature(H)) {
    q = make(0, {B, H, Lq, kHeadDim}, device);
    k = make(1, {B, H, Lk, kHeadDim}, device);
    v = make(2, {B, H, Lk, kHeadDim}, device);
    o = make(3, {B, H, Lq, kHeadDim}, device);
    lse = make(4, {B, H, Lq}, device);
  }
  static std::unique_ptr<DevTensor> make(int i, std::vector<int64_t> shape,
                                         int device) {
    return std::make_unique<DevTensor>(kBase * (i + 1), std::move(shape),
                                       std::vector<int64_t>{}, 0, device);
  }
  DevTensor *at(int i) {
    DevTensor *all[5] = {q.get(), k.get(), v.get(), o.get(), lse.get()};
    return all[i];
  }
  int32_t launch(const mha_options *options = nullptr) {
    for (int i = 0; i < 5; ++i)
      tensors[i] = at(i) ? &at(i)->dl : nullptr;
    return mha_rt_cuda_launch(sig.data(), "attn", names, tensors, options,
                              &kernel);
  }
};

class CudaLaunchTest : public ::testing::Test {
protected:
  void SetUp() override {
    unsetenv("MHA_LIBCUDA");
    fake_cuda_reset();
    fake_cuda_set_num_params(kNumParams);
    mha_rt_cuda_reset_for_testing(MHA_FAKE_CUDA_PATH);
  }
  void TearDown() override {
    fake_cuda_fail(nullptr, 0);
    EXPECT_EQ(fake_cuda_context_depth(), 0) << "unbalanced context push/pop";
  }

  // Launches, expects `status` and a message containing each of `parts`,
  // and that nothing was launched.
  static void expectError(AttnCall &call, int32_t status,
                          std::vector<std::string> parts,
                          const mha_options *options = nullptr) {
    int before = fake_cuda_num_launches();
    int32_t got = call.launch(options);
    std::string msg = mha_last_error();
    EXPECT_EQ(got, status) << mha_status_string(static_cast<mha_status>(got))
                           << ": " << msg;
    for (const std::string &part : parts)
      EXPECT_NE(msg.find(part), std::string::npos)
          << "message '" << msg << "' lacks '" << part << "'";
    EXPECT_EQ(fake_cuda_num_launches(), before);
  }
};

//===----------------------------------------------------------------------===//
// No driver
//===----------------------------------------------------------------------===//

TEST_F(CudaLaunchTest, MissingDriver) {
  mha_rt_cuda_reset_for_testing("/nonexistent/libcuda.so.1");
  AttnCall call;
  expectError(call, MHA_ERR_NO_DEVICE,
              {"attn: /nonexistent/libcuda.so.1 could not be loaded: ",
               "this function needs an NVIDIA GPU and driver"});
  // Even a call with nothing to do.
  AttnCall empty(2, 4, 0, 3);
  expectError(empty, MHA_ERR_NO_DEVICE, {"could not be loaded"});
  // The outcome is kept, and asked again it is the same.
  expectError(call, MHA_ERR_NO_DEVICE, {"could not be loaded"});
}

TEST_F(CudaLaunchTest, EnvironmentOverridesTheDriverPath) {
  setenv("MHA_LIBCUDA", "/nonexistent/libfakecuda.so", 1);
  mha_rt_cuda_reset_for_testing(nullptr);
  AttnCall call;
  expectError(call, MHA_ERR_NO_DEVICE,
              {"/nonexistent/libfakecuda.so could not be loaded"});
  setenv("MHA_LIBCUDA", MHA_FAKE_CUDA_PATH, 1);
  mha_rt_cuda_reset_for_testing(nullptr);
  EXPECT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_EQ(fake_cuda_num_launches(), 1);
  unsetenv("MHA_LIBCUDA");
}

TEST_F(CudaLaunchTest, DriverTooOld) {
  mha_rt_cuda_reset_for_testing(MHA_FAKE_CUDA_OLD_PATH);
  AttnCall call;
  expectError(call, MHA_ERR_NO_DEVICE, {"has no cuMemAllocAsync", "too old"});
}

TEST_F(CudaLaunchTest, CuInitFailureMeansNoDevice) {
  fake_cuda_fail("cuInit", 100);
  AttnCall call;
  expectError(call, MHA_ERR_NO_DEVICE,
              {"attn: cuInit failed: CUDA_ERROR_NO_DEVICE",
               "needs an NVIDIA GPU and driver"});
}

//===----------------------------------------------------------------------===//
// Checks before the driver
//===----------------------------------------------------------------------===//

TEST_F(CudaLaunchTest, HostTensorIsRejected) {
  AttnCall call;
  call.q->dl.device = {kDLCPU, 0};
  expectError(
      call, MHA_ERR_DEVICE,
      {"attn: 'q' (query) is on device kDLCPU", "runs on the GPU (kDLCUDA)"});
  // Checked before the driver is even loaded.
  EXPECT_EQ(fake_cuda_init_calls(), 0);
  call.q->dl.device = {kDLCUDA, 0};
  call.lse->dl.device = {kDLCUDAManaged, 0};
  expectError(call, MHA_ERR_DEVICE,
              {"'lse' (lse) is on device kDLCUDAManaged"});
}

TEST_F(CudaLaunchTest, TensorsOnTwoDevices) {
  AttnCall call;
  call.v->dl.device.device_id = 1;
  expectError(call, MHA_ERR_DEVICE,
              {"attn: 'v' (value) is on CUDA device 1 but 'q' (query) is on "
               "CUDA device 0"});
}

TEST_F(CudaLaunchTest, DeviceTheMachineLacks) {
  AttnCall call(2, 4, 5, 3, /*device=*/3);
  expectError(call, MHA_ERR_DEVICE, {"attn: ", "CUDA device 3"});
}

TEST_F(CudaLaunchTest, SharedChecksStillApply) {
  AttnCall call;
  call.k->shape[3] = 7;
  expectError(call, MHA_ERR_SHAPE,
              {"attn: 'k' (key) dim 3 (D) is 7 but the spec expects 8"});
  AttnCall overlap;
  overlap.o->dl.data = overlap.q->dl.data;
  expectError(overlap, MHA_ERR_LAYOUT, {"output 'o' (output) overlaps 'q'"});
}

TEST_F(CudaLaunchTest, MisalignedData) {
  AttnCall call;
  call.k->dl.data = reinterpret_cast<char *>(call.k->dl.data) + 4;
  expectError(call, MHA_ERR_LAYOUT,
              {"attn: 'k' (key) starts at", "not 16-byte aligned"});
}

TEST_F(CudaLaunchTest, MisalignedByteOffset) {
  AttnCall call;
  call.v->dl.byte_offset = 8;
  expectError(call, MHA_ERR_LAYOUT,
              {"attn: 'v' (value)", "byte_offset 8", "16-byte"});
}

TEST_F(CudaLaunchTest, MisalignedRowStride) {
  AttnCall call;
  // Rows 10 floats (40 bytes) apart; heads 52 floats (208 bytes) apart.
  call.q = std::make_unique<DevTensor>(kBase,
                                       std::vector<int64_t>{2, 4, 5, kHeadDim},
                                       std::vector<int64_t>{4 * 52, 52, 10, 1});
  expectError(call, MHA_ERR_LAYOUT,
              {"attn: 'q' (query) dim 2 (Lq) has stride 10 (40 bytes)",
               "multiple of 16"});
  // Without the requirement the kernel takes it.
  call.kernel.requirements = 0;
  EXPECT_EQ(call.launch(), MHA_OK) << mha_last_error();
}

TEST_F(CudaLaunchTest, FallbackKernelTakesMisalignedRows) {
  AttnCall call;
  mha_gpu_kernel fallback = call.kernel;
  fallback.kernel_name = "attn_kernel_unaligned";
  fallback.requirements = 0;
  call.kernel.fallback = &fallback;
  // Aligned rows: the cp.async kernel.
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  int n = fake_cuda_num_launches();
  EXPECT_STREQ(fake_cuda_launch(n - 1).function_name, "attn_kernel");
  // A misaligned row: the fallback, no error left behind.
  call.k->dl.byte_offset = 4;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_STREQ(mha_last_error(), "");
  EXPECT_STREQ(fake_cuda_launch(n).function_name, "attn_kernel_unaligned");
  // A fallback with requirements of its own is a compiler bug.
  fallback.requirements = MHA_GPU_REQ_ALIGNED_ROWS;
  expectError(call, MHA_ERR_INTERNAL,
              {"fallback kernel 'attn_kernel_unaligned' has requirements"});
}

TEST_F(CudaLaunchTest, OutputsNeedNoAlignmentAndUnitDimsAnyStride) {
  AttnCall call(1, 4, 5, 3);
  call.lse->dl.byte_offset = 4; // Outputs are not copied with cp.async.
  // B = 1: the batch stride is never used.
  call.k = std::make_unique<DevTensor>(
      2 * kBase, std::vector<int64_t>{1, 4, 3, kHeadDim},
      std::vector<int64_t>{7, 3 * kHeadDim, kHeadDim, 1});
  EXPECT_EQ(call.launch(), MHA_OK) << mha_last_error();
}

TEST_F(CudaLaunchTest, GridLimits) {
  AttnCall batch(65536, 1, 5, 3);
  expectError(batch, MHA_ERR_SHAPE,
              {"attn: the grid of 3 x 1 x 65536 blocks", "exceeds"});
  AttnCall heads(1, 65536, 5, 3);
  expectError(heads, MHA_ERR_SHAPE, {"3 x 65536 x 1"});
  AttnCall rows(1, 1, int64_t(1) << 32, 3);
  expectError(rows, MHA_ERR_SHAPE, {"2147483648 x 1 x 1"});
  AttnCall fits(65535, 1, 5, 3);
  EXPECT_EQ(fits.launch(), MHA_OK) << mha_last_error();
}

TEST_F(CudaLaunchTest, BadKernelDescriptor) {
  AttnCall call;
  call.kernel.block_threads = 0;
  expectError(call, MHA_ERR_INTERNAL, {"attn: the kernel descriptor"});
  int32_t got = mha_rt_cuda_launch(call.sig.data(), "attn", call.names,
                                   call.tensors, nullptr, nullptr);
  EXPECT_EQ(got, MHA_ERR_INTERNAL);
  EXPECT_STREQ(mha_last_error(), "attn: no kernel");
}

//===----------------------------------------------------------------------===//
// Launches
//===----------------------------------------------------------------------===//

TEST_F(CudaLaunchTest, EmptyGridLaunchesNothing) {
  AttnCall call(2, 4, 0, 3);
  EXPECT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_STREQ(mha_last_error(), "");
  EXPECT_EQ(fake_cuda_num_launches(), 0);
  EXPECT_EQ(fake_cuda_num_module_loads(), 0);
  EXPECT_EQ(fake_cuda_init_calls(), 1); // The driver was checked.
}

// A backward's two kernels: the dq kernel over query tiles, then (`then`)
// the dk/dv kernel over key tiles x KV heads, on the same stream with the
// same parameters; misaligned rows take both fallbacks; an empty grid skips
// its kernel only.
TEST_F(CudaLaunchTest, ThenKernelRunsAfterOverKeys) {
  AttnCall call(2, 4, 5, 7);
  mha_gpu_kernel keys = call.kernel, keysFallback = call.kernel,
                 fallback = call.kernel;
  keys.kernel_name = "keys_kernel";
  keys.over_keys = 1;
  keys.rows_per_block = 4;
  keys.block_threads = 256;
  keysFallback.kernel_name = "keys_kernel_unaligned";
  keysFallback.over_keys = 1;
  keysFallback.rows_per_block = 4;
  keysFallback.requirements = 0;
  keys.fallback = &keysFallback;
  fallback.kernel_name = "attn_kernel_unaligned";
  fallback.requirements = 0;
  fallback.then = &keys;
  call.kernel.fallback = &fallback;
  call.kernel.then = &keys;
  mha_options options{};
  options.cuda_stream = reinterpret_cast<void *>(0x42);
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 2);
  fake_launch first = fake_cuda_launch(0), second = fake_cuda_launch(1);
  EXPECT_STREQ(first.function_name, "attn_kernel");
  EXPECT_EQ(first.grid[0], 3u); // ceil(Lq 5 / 2)
  EXPECT_STREQ(second.function_name, "keys_kernel");
  EXPECT_EQ(second.grid[0], 2u); // ceil(Lk 7 / 4)
  EXPECT_EQ(second.grid[1], 4u); // Hkv
  EXPECT_EQ(second.grid[2], 2u); // B
  EXPECT_EQ(second.block[0], 256u);
  EXPECT_EQ(second.stream, options.cuda_stream);
  EXPECT_EQ(std::vector<uint64_t>(first.params, first.params + kNumParams),
            std::vector<uint64_t>(second.params, second.params + kNumParams));

  // Misaligned rows: both fallbacks.
  call.q->dl.byte_offset = 4;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 4);
  EXPECT_STREQ(fake_cuda_launch(2).function_name, "attn_kernel_unaligned");
  EXPECT_STREQ(fake_cuda_launch(3).function_name, "keys_kernel_unaligned");
  // ... and without a fallback for the second, nothing runs.
  keys.fallback = nullptr;
  expectError(call, MHA_ERR_LAYOUT, {"'q' (query)", "16-byte aligned"});
  keys.fallback = &keysFallback;
  call.q->dl.byte_offset = 0;

  // No query rows: dk and dv are still written (zeros), by the second.
  AttnCall noRows(2, 4, 0, 7);
  noRows.kernel = call.kernel;
  ASSERT_EQ(noRows.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 5);
  EXPECT_STREQ(fake_cuda_launch(4).function_name, "keys_kernel");
  // No keys either: nothing.
  AttnCall nothing(2, 4, 0, 0);
  nothing.kernel = call.kernel;
  EXPECT_EQ(nothing.launch(), MHA_OK) << mha_last_error();
  EXPECT_EQ(fake_cuda_num_launches(), 5);
  // The second kernel's own requirement decides its fallback, even after
  // a first kernel without one.
  AttnCall plainFirst(2, 4, 5, 7);
  plainFirst.kernel = fallback; // no requirements, then = &keys
  plainFirst.k->dl.byte_offset = 4;
  ASSERT_EQ(plainFirst.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 7);
  EXPECT_STREQ(fake_cuda_launch(5).function_name, "attn_kernel_unaligned");
  EXPECT_STREQ(fake_cuda_launch(6).function_name, "keys_kernel_unaligned");
  // A chain of more than two kernels is a compiler bug.
  keys.then = &keys;
  expectError(call, MHA_ERR_INTERNAL, {"more than 2 kernels"});
}

// Split-KV: a call whose blocks cannot fill the device's multiprocessors
// runs the split kernel on (query tiles x parts, Hq, B), then the merge
// kernel, both with the parts' outputs and lse after the head mask (one
// stream-ordered buffer, freed after them).
TEST_F(CudaLaunchTest, SplitKeysWhenTheGridIsSmall) {
  AttnCall call(1, 4, 1, 4096);
  mha_gpu_kernel split = call.kernel, merge = call.kernel;
  split.kernel_name = "attn_split_kernel";
  merge.kernel_name = "attn_merge_kernel";
  merge.rows_per_block = 4;
  merge.requirements = 0;
  merge.shared_bytes = 0;
  split.then = &merge;
  call.kernel.split_keys = &split;
  constexpr int kSplitParams = kNumParams + (3 + 10) + (3 + 8);
  fake_cuda_set_num_params(kSplitParams);
  mha_options options{};
  options.cuda_stream = reinterpret_cast<void *>(0x77);
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 2);
  fake_launch first = fake_cuda_launch(0), second = fake_cuda_launch(1);
  // 4 unsplit blocks on 84 multiprocessors want 42 parts; 4096 keys allow
  // 16 of at least 256.
  const int64_t parts = 4096 / MHA_GPU_SPLIT_MIN_KEYS;
  EXPECT_STREQ(first.function_name, "attn_split_kernel");
  EXPECT_EQ(first.grid[0], unsigned(parts)); // one query tile x parts
  EXPECT_EQ(first.grid[1], 4u);
  EXPECT_EQ(first.grid[2], 1u);
  EXPECT_STREQ(second.function_name, "attn_merge_kernel");
  EXPECT_EQ(second.grid[0], 1u); // ceil(Lq 1 / 4)
  EXPECT_EQ(second.grid[1], 4u);
  EXPECT_EQ(second.stream, options.cuda_stream);
  EXPECT_EQ(std::vector<uint64_t>(first.params, first.params + kSplitParams),
            std::vector<uint64_t>(second.params, second.params + kSplitParams));
  ASSERT_EQ(fake_cuda_num_allocs(), 1);
  fake_alloc buffer = fake_cuda_alloc(0);
  const uint64_t outputs = parts * 1 * 4 * 1 * kHeadDim, rows = parts * 4;
  EXPECT_EQ(buffer.bytes, (outputs + rows) * sizeof(float));
  EXPECT_EQ(buffer.stream, options.cuda_stream);
  EXPECT_TRUE(buffer.freed);
  EXPECT_EQ(buffer.free_stream, options.cuda_stream);
  const uint64_t *o = first.params + kNumParams;
  std::vector<uint64_t> wantO = {buffer.pointer,
                                 buffer.pointer,
                                 0,
                                 uint64_t(parts),
                                 1,
                                 4,
                                 1,
                                 kHeadDim,
                                 4 * kHeadDim,
                                 4 * kHeadDim,
                                 kHeadDim,
                                 kHeadDim,
                                 1};
  EXPECT_EQ(std::vector<uint64_t>(o, o + 13), wantO);
  const uint64_t lseAt = buffer.pointer + outputs * sizeof(float);
  std::vector<uint64_t> wantLse = {lseAt, lseAt, 0, uint64_t(parts), 1, 4, 1, 4,
                                   4,     1,     1};
  EXPECT_EQ(std::vector<uint64_t>(o + 13, o + 24), wantLse);

  // At most MHA_GPU_SPLIT_MAX_PARTS parts.
  AttnCall longCache(1, 1, 1, 1 << 20);
  longCache.kernel = call.kernel;
  ASSERT_EQ(longCache.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 4);
  EXPECT_EQ(fake_cuda_launch(2).grid[0], unsigned(MHA_GPU_SPLIT_MAX_PARTS));

  // Unsplit: a cache too short for two parts, a grid that fills the
  // device, rows the split kernel cannot copy (the fallback runs).
  fake_cuda_set_num_params(kNumParams);
  AttnCall shortCache(1, 4, 1, 2 * MHA_GPU_SPLIT_MIN_KEYS - 1);
  shortCache.kernel = call.kernel;
  AttnCall manyBlocks(21, 4, 1, 4096); // 84 blocks
  manyBlocks.kernel = call.kernel;
  mha_gpu_kernel fallback = call.kernel;
  fallback.kernel_name = "attn_kernel_unaligned";
  fallback.requirements = 0;
  fallback.split_keys = nullptr;
  AttnCall unaligned(1, 4, 1, 4096);
  unaligned.kernel = call.kernel;
  unaligned.kernel.fallback = &fallback;
  unaligned.k->dl.byte_offset = 4;
  int launches = fake_cuda_num_launches();
  for (AttnCall *unsplit : {&shortCache, &manyBlocks, &unaligned}) {
    ASSERT_EQ(unsplit->launch(), MHA_OK) << mha_last_error();
    ASSERT_EQ(fake_cuda_num_launches(), ++launches);
    EXPECT_STRNE(fake_cuda_launch(launches - 1).function_name,
                 "attn_split_kernel");
  }
  EXPECT_EQ(fake_cuda_num_allocs(), 2);

  // A device with more multiprocessors splits the same call further.
  fake_cuda_set_num_params(kSplitParams);
  fake_cuda_reset();
  fake_cuda_set_num_params(kSplitParams);
  fake_cuda_set_multiprocessors(0, 6);
  mha_rt_cuda_reset_for_testing(MHA_FAKE_CUDA_PATH);
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_EQ(fake_cuda_launch(0).grid[0], 3u); // ceil(2 * 6 / 4)

  // The buffer cannot be allocated: nothing runs, the error says why.
  fake_cuda_fail("cuMemAllocAsync", 2);
  expectError(call, MHA_ERR_CUDA, {"split-KV partial results"});
  fake_cuda_fail(nullptr, 0);
  // A split kernel without its merge is a compiler bug.
  split.then = nullptr;
  expectError(call, MHA_ERR_INTERNAL, {"merge kernel"});
}

TEST_F(CudaLaunchTest, ParametersGridAndStream) {
  AttnCall call;
  // q with a byte_offset of 16 floats, o a transposed [B, L, H, D] view.
  call.q->dl.byte_offset = 64;
  call.o = std::make_unique<DevTensor>(
      4 * kBase, std::vector<int64_t>{2, 4, 5, kHeadDim},
      std::vector<int64_t>{5 * 4 * kHeadDim, kHeadDim, 4 * kHeadDim, 1});
  mha_options options{};
  options.cuda_stream = reinterpret_cast<void *>(0x1234);
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  EXPECT_STREQ(mha_last_error(), "");
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  fake_launch l = fake_cuda_launch(0);
  EXPECT_STREQ(l.function_name, "attn_kernel");
  EXPECT_EQ(l.device, 0);
  EXPECT_EQ(l.grid[0], 3u); // ceil(5 / 2)
  EXPECT_EQ(l.grid[1], 4u); // Hq
  EXPECT_EQ(l.grid[2], 2u); // B
  EXPECT_EQ(l.block[0], 128u);
  EXPECT_EQ(l.block[1], 1u);
  EXPECT_EQ(l.block[2], 1u);
  EXPECT_EQ(l.shared_bytes, 16384u);
  EXPECT_EQ(l.stream, options.cuda_stream);

  std::vector<uint64_t> want;
  for (int i = 0; i < 5; ++i) {
    DevTensor *t = call.at(i);
    uint64_t data = reinterpret_cast<uintptr_t>(t->dl.data);
    want.push_back(data);
    want.push_back(data);
    want.push_back(t->dl.byte_offset / sizeof(float));
    for (int d = 0; d < kRanks[i]; ++d)
      want.push_back(static_cast<uint64_t>(t->shape[d]));
    for (int64_t s : t->effectiveStrides())
      want.push_back(static_cast<uint64_t>(s));
  }
  // No runtime head mask: NULL pointers, offset 0, size 0, stride 1.
  for (uint64_t w : {0, 0, 0, 0, 1})
    want.push_back(w);
  ASSERT_EQ(want.size(), static_cast<size_t>(kNumParams));
  EXPECT_EQ(std::vector<uint64_t>(l.params, l.params + kNumParams), want);
  EXPECT_EQ(l.params[2], 16u); // q's offset, in elements.
  EXPECT_EQ(fake_cuda_num_allocs(), 0);
}

// Valid key lengths (kv_lens, an i32 [B] tensor after v) go to the kernel
// as one more memref, in the C order; the runtime never reads them (the
// kernel clamps each to [0, Lk]): the made-up address is never touched.
TEST_F(CudaLaunchTest, KeyLengthsPassToTheKernelUnread) {
  const int64_t B = 3, H = 4;
  Dim b{MHA_SYM_BATCH, -1}, h{MHA_SYM_QUERY_HEADS, H},
      lq{MHA_SYM_QUERY_LEN, -1}, lk{MHA_SYM_KEY_LEN, -1},
      d{MHA_SYM_HEAD_DIM, kHeadDim};
  std::vector<int64_t> sig = buildSignature({{MHA_ROLE_QUERY, {b, h, lq, d}},
                                             {MHA_ROLE_KEY, {b, h, lk, d}},
                                             {MHA_ROLE_VALUE, {b, h, lk, d}},
                                             {MHA_ROLE_KV_LENS, {b}, kDLInt},
                                             {MHA_ROLE_OUTPUT, {b, h, lq, d}}},
                                            4, H);
  DevTensor q(kBase, {B, H, 1, kHeadDim}), k(2 * kBase, {B, H, 9, kHeadDim}),
      v(3 * kBase, {B, H, 9, kHeadDim}), lens(4 * kBase + 12, {B}),
      o(5 * kBase, {B, H, 1, kHeadDim});
  lens.dl.dtype = {kDLInt, 32, 1};
  const char *names[5] = {"q", "k", "v", "kv_lens", "o"};
  const DLTensor *tensors[5] = {&q.dl, &k.dl, &v.dl, &lens.dl, &o.dl};
  // 4 rank-4 tensors of 11 words, kv_lens' 5, the head mask's 5.
  constexpr int kParams = 4 * 11 + 5 + 5;
  fake_cuda_set_num_params(kParams);
  mha_gpu_kernel kernel = makeKernel();
  ASSERT_EQ(mha_rt_cuda_launch(sig.data(), "decode", names, tensors, nullptr,
                               &kernel),
            MHA_OK)
      << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  fake_launch l = fake_cuda_launch(0);
  EXPECT_EQ(l.grid[2], uint64_t(B));
  const uint64_t *p = l.params + 3 * 11; // after q, k and v
  EXPECT_EQ(p[0], 4 * kBase + 12);       // allocated
  EXPECT_EQ(p[1], 4 * kBase + 12);       // aligned
  EXPECT_EQ(p[2], 0u);                   // offset
  EXPECT_EQ(p[3], uint64_t(B));          // size
  EXPECT_EQ(p[4], 1u);                   // stride
  EXPECT_EQ(p[5], 5 * kBase);            // o follows
}

/// q, k and v pools [pages, H, page_size, D], kv_lens [B], block_table
/// [B, max_pages] and o: a paged decoding function's signature.
static std::vector<int64_t> pagedSignature(int64_t H, int64_t pageSize) {
  Dim b{MHA_SYM_BATCH, -1}, h{MHA_SYM_QUERY_HEADS, H},
      lq{MHA_SYM_QUERY_LEN, -1}, d{MHA_SYM_HEAD_DIM, kHeadDim},
      p{MHA_SYM_PAGES, -1}, ps{MHA_SYM_PAGE_SIZE, pageSize},
      cols{MHA_SYM_NONE, -1};
  return buildSignature({{MHA_ROLE_QUERY, {b, h, lq, d}},
                         {MHA_ROLE_KEY, {p, h, ps, d}},
                         {MHA_ROLE_VALUE, {p, h, ps, d}},
                         {MHA_ROLE_KV_LENS, {b}, kDLInt},
                         {MHA_ROLE_BLOCK_TABLE, {b, cols}, kDLInt},
                         {MHA_ROLE_OUTPUT, {b, h, lq, d}}},
                        5, H);
}

// A paged cache: k and v are page pools [pages, Hkv, page_size, D], the
// block table [B, max_pages] follows kv_lens; the grid follows q, the
// pools and the table reach the kernel unread (the kernel clamps pages).
TEST_F(CudaLaunchTest, PagePoolsAndTablePassToTheKernelUnread) {
  const int64_t B = 2, H = 4, pages = 7, pageSize = 16, maxPages = 3;
  std::vector<int64_t> sig = pagedSignature(H, pageSize);
  DevTensor q(kBase, {B, H, 3, kHeadDim}),
      k(2 * kBase, {pages, H, pageSize, kHeadDim}),
      v(3 * kBase, {pages, H, pageSize, kHeadDim}), lens(4 * kBase, {B}),
      table(5 * kBase, {B, maxPages}), o(6 * kBase, {B, H, 3, kHeadDim});
  lens.dl.dtype = table.dl.dtype = {kDLInt, 32, 1};
  const char *names[6] = {"q", "k", "v", "kv_lens", "block_table", "o"};
  const DLTensor *tensors[6] = {&q.dl,    &k.dl,     &v.dl,
                                &lens.dl, &table.dl, &o.dl};
  // 4 rank-4 tensors, kv_lens (5 words), the table (7), the head mask (5).
  constexpr int kParams = 4 * 11 + 5 + 7 + 5;
  fake_cuda_set_num_params(kParams);
  mha_gpu_kernel kernel = makeKernel();
  ASSERT_EQ(
      mha_rt_cuda_launch(sig.data(), "paged", names, tensors, nullptr, &kernel),
      MHA_OK)
      << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  fake_launch l = fake_cuda_launch(0);
  EXPECT_EQ(l.grid[0], 2u); // ceil(3 / 2) query tiles
  EXPECT_EQ(l.grid[2], uint64_t(B));
  EXPECT_EQ(l.params[11 + 3], uint64_t(pages)); // k's dim 0
  EXPECT_EQ(l.params[11 + 5], uint64_t(pageSize));
  const uint64_t *t = l.params + 3 * 11 + 5; // after q, k, v and kv_lens
  EXPECT_EQ(t[0], 5 * kBase);
  EXPECT_EQ(t[3], uint64_t(B));
  EXPECT_EQ(t[4], uint64_t(maxPages));
  EXPECT_EQ(t[5], uint64_t(maxPages)); // row stride
  EXPECT_EQ(t[6], 1u);
}

// mha_options.check_indices: the lengths and the table are copied to the
// host on the call's stream (the fake's device memory is host memory), the
// stream is waited for, and a bad index fails as on the CPU, before the
// kernel. Without it the same call launches (the kernel clamps). The table
// is a strided view with an offset: only its span is copied.
TEST_F(CudaLaunchTest, IndicesAreCheckedOnRequest) {
  const int64_t B = 2, H = 4, pages = 7, pageSize = 16, maxPages = 3;
  std::vector<int64_t> sig = pagedSignature(H, pageSize);
  // 20 keys use pages 3 and 0 (99 is past them: never read), 33 keys use
  // 6, 5 and 4. The table's rows are 4 apart, from element 1.
  alignas(16) int32_t lensData[B] = {20, 33};
  alignas(16) int32_t tableData[2 * 4] = {-1, 3, 0, 99, -1, 6, 5, 4};
  auto address = [](const void *ptr) {
    return reinterpret_cast<uintptr_t>(ptr);
  };
  DevTensor q(kBase, {B, H, 3, kHeadDim}),
      k(2 * kBase, {pages, H, pageSize, kHeadDim}),
      v(3 * kBase, {pages, H, pageSize, kHeadDim}),
      lens(address(lensData), {B}),
      table(address(tableData), {B, maxPages}, {4, 1}, 4),
      o(6 * kBase, {B, H, 3, kHeadDim});
  lens.dl.dtype = table.dl.dtype = {kDLInt, 32, 1};
  const char *names[6] = {"q", "k", "v", "kv_lens", "block_table", "o"};
  const DLTensor *tensors[6] = {&q.dl,    &k.dl,     &v.dl,
                                &lens.dl, &table.dl, &o.dl};
  mha_gpu_kernel kernel = makeKernel();
  mha_options options{};
  options.struct_size = sizeof(options);
  options.check_indices = 1;
  options.cuda_stream = reinterpret_cast<void *>(0x55);
  auto launch = [&](const mha_options *o) {
    return mha_rt_cuda_launch(sig.data(), "paged", names, tensors, o, &kernel);
  };
  ASSERT_EQ(launch(&options), MHA_OK) << mha_last_error();
  EXPECT_EQ(fake_cuda_num_launches(), 1);
  EXPECT_EQ(fake_cuda_num_downloads(), 2);
  EXPECT_EQ(fake_cuda_num_syncs(), 1);

  auto expectRefused = [&](const char *text) {
    int launches = fake_cuda_num_launches();
    EXPECT_EQ(launch(&options), MHA_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(mha_last_error()).find(text), std::string::npos)
        << mha_last_error();
    EXPECT_EQ(fake_cuda_num_launches(), launches);
    EXPECT_EQ(fake_cuda_context_depth(), 0);
    // Unchecked, the same call launches: the kernel clamps.
    EXPECT_EQ(launch(nullptr), MHA_OK) << mha_last_error();
    EXPECT_EQ(fake_cuda_num_launches(), launches + 1);
  };
  tableData[7] = 7; // sequence 1's third page
  expectRefused(
      "paged: 'block_table'[1, 2] is 7 but 'k' (key) has 7 pages (dim 0)");
  tableData[7] = 4;
  lensData[0] = 49;
  expectRefused("'kv_lens'[0] is 49 but must be in [0, 48]");
  lensData[0] = -1;
  expectRefused("'kv_lens'[0] is -1");
  lensData[0] = 20;

  // A stream that is capturing a CUDA graph cannot be waited for.
  fake_cuda_set_capturing(1);
  EXPECT_EQ(launch(&options), MHA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mha_last_error()).find("capturing a CUDA graph"),
            std::string::npos)
      << mha_last_error();
  EXPECT_EQ(launch(nullptr), MHA_OK) << mha_last_error();
  fake_cuda_set_capturing(0);

  // Each driver call of the check names itself.
  for (const char *call :
       {"cuStreamIsCapturing", "cuMemcpyDtoHAsync_v2", "cuStreamSynchronize"}) {
    SCOPED_TRACE(call);
    int launches = fake_cuda_num_launches();
    fake_cuda_fail(call, 2);
    EXPECT_EQ(launch(&options), MHA_ERR_CUDA);
    EXPECT_NE(std::string(mha_last_error())
                  .find(std::string("paged: ") + call +
                        " failed: CUDA_ERROR_OUT_OF_MEMORY"),
              std::string::npos)
        << mha_last_error();
    fake_cuda_fail(nullptr, 0);
    EXPECT_EQ(fake_cuda_num_launches(), launches);
    EXPECT_EQ(fake_cuda_context_depth(), 0);
  }
  EXPECT_EQ(launch(&options), MHA_OK) << mha_last_error();
}

// Packed queries (cu_seqlens_q, cu_seqlens_k): q, o and lse are [1, H,
// total, ...]; the grid walks the query tiles of every sequence, then of
// the rows past the last, whose offsets stay on the device: ceil(total /
// rows) + S + 1 tiles x head blocks x 1. The offsets reach the kernel
// unread.
TEST_F(CudaLaunchTest, PackedQueriesWalkEverySequence) {
  const int64_t H = 4, total = 9, totalKeys = 20, S = 3;
  Dim one{MHA_SYM_NONE, 1}, h{MHA_SYM_QUERY_HEADS, H},
      lq{MHA_SYM_QUERY_LEN, -1}, lk{MHA_SYM_KEY_LEN, -1},
      d{MHA_SYM_HEAD_DIM, kHeadDim}, offsets{MHA_SYM_NONE, -1};
  std::vector<int64_t> sig =
      buildSignature({{MHA_ROLE_QUERY, {one, h, lq, d}},
                      {MHA_ROLE_KEY, {one, h, lk, d}},
                      {MHA_ROLE_VALUE, {one, h, lk, d}},
                      {MHA_ROLE_CU_SEQLENS_Q, {offsets}, kDLInt},
                      {MHA_ROLE_CU_SEQLENS_K, {offsets}, kDLInt},
                      {MHA_ROLE_OUTPUT, {one, h, lq, d}}},
                     5, H);
  sig[MHA_SIG_GRID_BATCH_SYM] = MHA_SYM_QUERY_LEN; // as for packed queries
  DevTensor q(kBase, {1, H, total, kHeadDim}),
      k(2 * kBase, {1, H, totalKeys, kHeadDim}),
      v(3 * kBase, {1, H, totalKeys, kHeadDim}), cuQ(4 * kBase, {S + 1}),
      cuK(5 * kBase, {S + 1}), o(6 * kBase, {1, H, total, kHeadDim});
  cuQ.dl.dtype = cuK.dl.dtype = {kDLInt, 32, 1};
  const char *names[6] = {"q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "o"};
  const DLTensor *tensors[6] = {&q.dl, &k.dl, &v.dl, &cuQ.dl, &cuK.dl, &o.dl};
  fake_cuda_set_num_params(4 * 11 + 5 + 5 + 5);
  mha_gpu_kernel kernel = makeKernel();
  ASSERT_EQ(mha_rt_cuda_launch(sig.data(), "varlen", names, tensors, nullptr,
                               &kernel),
            MHA_OK)
      << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  fake_launch l = fake_cuda_launch(0);
  EXPECT_EQ(l.grid[0], unsigned((total + 1) / kRowsPerBlock + S + 1));
  EXPECT_EQ(l.grid[1], unsigned(H));
  EXPECT_EQ(l.grid[2], 1u);
  EXPECT_EQ(l.params[3 * 11], 4 * kBase); // cu_seqlens_q, unread
  // No rows: nothing to launch.
  DevTensor noRows(kBase, {1, H, 0, kHeadDim}),
      noOut(6 * kBase, {1, H, 0, kHeadDim});
  tensors[0] = &noRows.dl;
  tensors[5] = &noOut.dl;
  ASSERT_EQ(mha_rt_cuda_launch(sig.data(), "varlen", names, tensors, nullptr,
                               &kernel),
            MHA_OK)
      << mha_last_error();
  EXPECT_EQ(fake_cuda_num_launches(), 1);
}

TEST_F(CudaLaunchTest, DefaultStreamIsNull) {
  AttnCall call;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  EXPECT_EQ(fake_cuda_launch(0).stream, nullptr);
}

TEST_F(CudaLaunchTest, HeadMaskIsUploaded) {
  AttnCall call;
  uint8_t mask[4] = {1, 0, 2, 1};
  mha_options options{};
  options.head_mask = mask;
  options.cuda_stream = reinterpret_cast<void *>(0x77);
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_allocs(), 1);
  fake_alloc a = fake_cuda_alloc(0);
  EXPECT_EQ(a.bytes, 4u);
  EXPECT_EQ(a.stream, options.cuda_stream);
  EXPECT_TRUE(a.freed);
  EXPECT_EQ(a.free_stream, options.cuda_stream);
  ASSERT_EQ(fake_cuda_num_uploads(), 1);
  fake_upload u = fake_cuda_upload(0);
  EXPECT_EQ(u.pointer, a.pointer);
  EXPECT_EQ(u.bytes, 4u);
  EXPECT_EQ(u.stream, options.cuda_stream);
  EXPECT_EQ(std::vector<uint8_t>(u.data, u.data + 4),
            std::vector<uint8_t>(mask, mask + 4));
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  fake_launch l = fake_cuda_launch(0);
  const uint64_t *p = l.params + (kNumParams - 5);
  EXPECT_EQ(p[0], a.pointer);
  EXPECT_EQ(p[1], a.pointer);
  EXPECT_EQ(p[2], 0u);
  EXPECT_EQ(p[3], 4u);
  EXPECT_EQ(p[4], 1u);
}

TEST_F(CudaLaunchTest, ManyHeadsMask) {
  constexpr int64_t kManyHeads = 300; // More than the stack stages.
  AttnCall call(1, kManyHeads, 5, 3);
  std::vector<uint8_t> mask(kManyHeads);
  for (int64_t h = 0; h < kManyHeads; ++h)
    mask[h] = static_cast<uint8_t>(h % 3);
  mha_options options{};
  options.head_mask = mask.data();
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_uploads(), 1);
  fake_upload u = fake_cuda_upload(0);
  EXPECT_EQ(std::vector<uint8_t>(u.data, u.data + u.bytes), mask);
  EXPECT_EQ(fake_cuda_launch(0).params[kNumParams - 2], 300u);
}

TEST_F(CudaLaunchTest, SharedMemoryAttributeOnlyAbove48KiB) {
  AttnCall small;
  small.kernel.shared_bytes = 48 * 1024;
  ASSERT_EQ(small.launch(), MHA_OK) << mha_last_error();
  EXPECT_EQ(fake_cuda_num_attributes(), 0);
  EXPECT_EQ(fake_cuda_launch(0).shared_bytes, 48u * 1024);

  AttnCall big;
  big.kernel.shared_bytes = 96 * 1024;
  ASSERT_EQ(big.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(big.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_attributes(), 1); // Once per function.
  fake_attribute a = fake_cuda_attribute(0);
  EXPECT_EQ(a.attribute, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
  EXPECT_EQ(a.value, 96 * 1024);
  EXPECT_STREQ(a.function_name, "attn_kernel");
  EXPECT_EQ(fake_cuda_launch(2).shared_bytes, 96u * 1024);
}

TEST_F(CudaLaunchTest, ContextAndModuleOncePerDevice) {
  AttnCall on0(2, 4, 5, 3, 0), on1(2, 4, 5, 3, 1);
  fake_cuda_set_device(1, 12, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(on0.launch(), MHA_OK) << mha_last_error();
    ASSERT_EQ(on1.launch(), MHA_OK) << mha_last_error();
  }
  EXPECT_EQ(fake_cuda_retains(0), 1);
  EXPECT_EQ(fake_cuda_retains(1), 1);
  ASSERT_EQ(fake_cuda_num_module_loads(), 2);
  // 8.6 takes the sm_80 cubin; 12.0 has no cubin of its major: PTX.
  fake_module_load first = fake_cuda_module_load(0),
                   second = fake_cuda_module_load(1);
  EXPECT_EQ(first.device, 0);
  EXPECT_EQ(first.image, kCubin80);
  EXPECT_EQ(second.device, 1);
  EXPECT_EQ(second.image, kPtx80);
  EXPECT_EQ(fake_cuda_launch(1).device, 1);
}

TEST_F(CudaLaunchTest, ArchKernelOnItsCapabilityPortableElsewhere) {
  // An sm_90a kernel (one image, 64 rows per block, 256 threads) whose
  // portable counterpart is the usual kernel: device 0 is a 9.0, device 1
  // an 8.6; each launches on its own kernel's grid and block.
  static const mha_gpu_image archImages[] = {
      {90, 1, MHA_GPU_IMAGE_CUBIN, 0, kCubin90a, sizeof(kCubin90a)}};
  fake_cuda_set_device(0, 9, 0);
  AttnCall on90(2, 4, 5, 3, 0), on86(2, 4, 5, 3, 1);
  for (AttnCall *call : {&on90, &on86}) {
    mha_gpu_kernel portable = call->kernel;
    call->kernel.kernel_name = "attn_kernel_sm90a";
    call->kernel.block_threads = 256;
    call->kernel.shared_bytes = 100000;
    call->kernel.rows_per_block = 4;
    call->kernel.num_images = 1;
    call->kernel.images = archImages;
    call->kernel.portable = &portable;
    ASSERT_EQ(call->launch(), MHA_OK) << mha_last_error();
    EXPECT_STREQ(mha_last_error(), "");
  }
  ASSERT_EQ(fake_cuda_num_launches(), 2);
  fake_launch arch = fake_cuda_launch(0), other = fake_cuda_launch(1);
  EXPECT_STREQ(arch.function_name, "attn_kernel_sm90a");
  EXPECT_EQ(arch.grid[0], 2u); // ceil(5 / 4)
  EXPECT_EQ(arch.block[0], 256u);
  EXPECT_EQ(arch.shared_bytes, 100000u);
  EXPECT_STREQ(other.function_name, "attn_kernel");
  EXPECT_EQ(other.device, 1);
  EXPECT_EQ(other.grid[0], 3u); // ceil(5 / 2)
  EXPECT_EQ(other.block[0], 128u);
  EXPECT_EQ(other.shared_bytes, 16384u);
  ASSERT_EQ(fake_cuda_num_module_loads(), 2);
  EXPECT_EQ(fake_cuda_module_load(0).image, kCubin90a);
  EXPECT_EQ(fake_cuda_module_load(1).image, kCubin80);
}

// A bf16 call whose sm_90a kernel loads k and v with TMA.
struct TmaCall : AttnCall {
  static const mha_gpu_image archImages[1];
  mha_gpu_kernel portable;
  TmaCall() : AttnCall(2, 4, 5, 3, 0) {
    for (int i = 0; i < 4; ++i) {
      int64_t *words =
          sig.data() + MHA_SIG_HEADER_WORDS + i * MHA_SIG_TENSOR_WORDS;
      words[MHA_SIG_T_DTYPE_CODE] = kDLBfloat;
      words[MHA_SIG_T_DTYPE_BITS] = 16;
      at(i)->dl.dtype = {kDLBfloat, 16, 1};
    }
    portable = kernel;
    kernel.kernel_name = "attn_kernel_sm90a";
    kernel.requirements |= MHA_GPU_REQ_TENSOR_MAPS;
    kernel.tma_box_rows = 4;
    kernel.num_images = 1;
    kernel.images = archImages;
    kernel.portable = &portable;
  }
};
const mha_gpu_image TmaCall::archImages[1] = {
    {90, 1, MHA_GPU_IMAGE_CUBIN, 0, kCubin90a, sizeof(kCubin90a)}};

TEST_F(CudaLaunchTest, TensorMapsForTmaKernels) {
  fake_cuda_set_device(0, 9, 0);
  fake_cuda_set_num_params(kNumParams + 1);
  TmaCall call;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  EXPECT_STREQ(fake_cuda_launch(0).function_name, "attn_kernel_sm90a");
  // k then v: [D, L, H, B] with byte strides, 64 x tma_box_rows boxes,
  // 128-byte swizzle, zero fill.
  ASSERT_EQ(fake_cuda_num_tensor_maps(), 2);
  for (int i = 0; i < 2; ++i) {
    fake_tensor_map m = fake_cuda_tensor_map(i);
    EXPECT_EQ(m.address, reinterpret_cast<void *>(kBase * (i + 2)));
    EXPECT_EQ(m.data_type, 9); // bf16
    EXPECT_EQ(m.swizzle, 3);   // 128 bytes
    EXPECT_EQ(m.oob_fill, 0);
    EXPECT_EQ(std::vector<uint64_t>(m.dims, m.dims + 4),
              (std::vector<uint64_t>{8, 3, 4, 2}));
    EXPECT_EQ(std::vector<uint64_t>(m.strides, m.strides + 3),
              (std::vector<uint64_t>{16, 48, 192}));
    EXPECT_EQ(std::vector<uint32_t>(m.box, m.box + 4),
              (std::vector<uint32_t>{64, 4, 1, 1}));
  }
  // Uploaded on the call's stream to memory passed as the last parameter,
  // freed after the launch.
  ASSERT_EQ(fake_cuda_num_uploads(), 1);
  fake_upload u = fake_cuda_upload(0);
  EXPECT_EQ(u.bytes, 256u);
  uint64_t first, second;
  memcpy(&first, u.data, 8);
  memcpy(&second, u.data + 128, 8);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(second, 1u);
  EXPECT_EQ(fake_cuda_launch(0).params[kNumParams], u.pointer);
  ASSERT_EQ(fake_cuda_num_allocs(), 1);
  EXPECT_EQ(fake_cuda_alloc(0).freed, 1);
}

TEST_F(CudaLaunchTest, NoTensorMapsMeansThePortableKernel) {
  fake_cuda_set_device(0, 9, 0);
  TmaCall call;
  fake_cuda_fail("cuTensorMapEncodeTiled", 1);
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  EXPECT_STREQ(fake_cuda_launch(0).function_name, "attn_kernel");
  EXPECT_EQ(fake_cuda_num_uploads(), 0);
  // Without a portable kernel to run, the call says why.
  call.kernel.portable = nullptr;
  expectError(call, MHA_ERR_CUDA,
              {"attn: the CUDA driver cannot describe k and v as TMA tensor "
               "maps (cuTensorMapEncodeTiled failed)"});
}

// A CUDA graph replays a copy from host memory from the same address: while
// the stream captures, the TMA kernel gives way to the portable one (no
// tensor maps to upload) and a run-time head mask is refused.
TEST_F(CudaLaunchTest, GraphCaptureCopiesNothingFromTheHost) {
  fake_cuda_set_device(0, 9, 0);
  fake_cuda_set_capturing(1);
  TmaCall call;
  mha_options options{};
  options.cuda_stream = reinterpret_cast<void *>(0x77);
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  ASSERT_EQ(fake_cuda_num_launches(), 1);
  EXPECT_STREQ(fake_cuda_launch(0).function_name, "attn_kernel");
  EXPECT_EQ(fake_cuda_num_tensor_maps(), 0);
  EXPECT_EQ(fake_cuda_num_uploads(), 0);
  uint8_t mask[4] = {1, 0, 1, 1};
  options.head_mask = mask;
  expectError(call, MHA_ERR_INVALID_ARGUMENT,
              {"attn: options->head_mask is copied from host memory, which a "
               "CUDA graph would read again at each replay"},
              &options);
  EXPECT_EQ(fake_cuda_num_launches(), 1);
  options.head_mask = nullptr;
  call.kernel.portable = nullptr;
  expectError(call, MHA_ERR_INVALID_ARGUMENT,
              {"attn: the kernel's TMA tensor maps are copied from host "
               "memory"},
              &options);
  // The legacy default stream never captures (and is not asked); a stream
  // that does not capture keeps the TMA kernel.
  call.kernel.portable = &call.portable;
  ASSERT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_STREQ(fake_cuda_launch(1).function_name, "attn_kernel_sm90a");
  fake_cuda_set_capturing(0);
  ASSERT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  EXPECT_STREQ(fake_cuda_launch(2).function_name, "attn_kernel_sm90a");
}

TEST_F(CudaLaunchTest, PortableKernelIsCheckedBeforeTheDriver) {
  AttnCall call;
  mha_gpu_kernel portable = call.kernel;
  portable.block_threads = 0;
  call.kernel.portable = &portable;
  expectError(call, MHA_ERR_INTERNAL, {"kernel descriptor", "is invalid"});
  EXPECT_EQ(fake_cuda_init_calls(), 0);
}

TEST_F(CudaLaunchTest, NoImageFitsTheDevice) {
  fake_cuda_set_device(0, 7, 5);
  AttnCall call;
  expectError(call, MHA_ERR_NO_DEVICE,
              {"attn: no device code", "CUDA device 0 (compute capability 7.5)",
               "sm_80 cubin, sm_90a cubin, sm_80 PTX"});
}

//===----------------------------------------------------------------------===//
// Driver failures
//===----------------------------------------------------------------------===//

TEST_F(CudaLaunchTest, LaunchFailure) {
  AttnCall call;
  uint8_t mask[4] = {1, 1, 0, 1};
  mha_options options{};
  options.head_mask = mask;
  fake_cuda_fail("cuLaunchKernel", 701);
  expectError(
      call, MHA_ERR_CUDA,
      {"attn: cuLaunchKernel failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
       "fake driver error text"},
      &options);
  // The mask copy is freed anyway.
  ASSERT_EQ(fake_cuda_num_allocs(), 1);
  EXPECT_TRUE(fake_cuda_alloc(0).freed);
  fake_cuda_fail(nullptr, 0);
  EXPECT_EQ(call.launch(), MHA_OK) << mha_last_error();
  EXPECT_STREQ(mha_last_error(), "");
}

TEST_F(CudaLaunchTest, EveryDriverCallFailureIsNamed) {
  const char *calls[] = {
      "cuDeviceGet",         "cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain",
      "cuCtxPushCurrent_v2", "cuModuleLoadDataEx",   "cuModuleGetFunction",
      "cuFuncSetAttribute",  "cuMemAllocAsync",      "cuMemcpyHtoDAsync_v2",
      "cuMemFreeAsync",      "cuLaunchKernel",       "cuCtxPopCurrent_v2"};
  uint8_t mask[4] = {1, 1, 0, 1};
  mha_options options{};
  options.head_mask = mask;
  for (const char *name : calls) {
    SCOPED_TRACE(name);
    mha_rt_cuda_reset_for_testing(MHA_FAKE_CUDA_PATH); // Nothing cached.
    fake_cuda_fail(name, 2);
    AttnCall call;
    call.kernel.shared_bytes = 64 * 1024;
    int32_t got = call.launch(&options);
    EXPECT_EQ(got, MHA_ERR_CUDA);
    std::string msg = mha_last_error();
    EXPECT_NE(msg.find(std::string("attn: ") + name +
                       " failed: CUDA_ERROR_OUT_OF_MEMORY"),
              std::string::npos)
        << msg;
    fake_cuda_fail(nullptr, 0);
    // A failed pop leaves the context pushed, in the fake as in a driver.
    if (std::string(name) == "cuCtxPopCurrent_v2")
      fake_cuda_pop_all();
    EXPECT_EQ(fake_cuda_context_depth(), 0);
    // A failure is not cached: the next call works.
    EXPECT_EQ(call.launch(&options), MHA_OK) << mha_last_error();
  }
}

TEST_F(CudaLaunchTest, JitFailureShowsTheLog) {
  fake_cuda_set_device(0, 12, 0);
  fake_cuda_fail("cuModuleLoadDataEx", 218);
  AttnCall call;
  expectError(call, MHA_ERR_CUDA,
              {"attn: cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX",
               "loading the sm_80 PTX image: ptxas fatal: fake JIT error"});
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

TEST_F(CudaLaunchTest, ConcurrentCallsLoadOncePerDevice) {
  constexpr int kThreads = 8, kCalls = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t, &failures] {
      AttnCall call(2, 4, 5, 3, t % 2);
      uint8_t mask[4] = {1, 0, 1, static_cast<uint8_t>(t)};
      mha_options options{};
      options.head_mask = t % 4 < 2 ? mask : nullptr;
      for (int i = 0; i < kCalls; ++i)
        if (call.launch(&options) != MHA_OK ||
            std::strcmp(mha_last_error(), "") != 0)
          ++failures;
      if (fake_cuda_context_depth() != 0)
        ++failures;
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(fake_cuda_num_launches(), kThreads * kCalls);
  EXPECT_EQ(fake_cuda_num_module_loads(), 2);
  EXPECT_EQ(fake_cuda_retains(0), 1);
  EXPECT_EQ(fake_cuda_retains(1), 1);
  EXPECT_EQ(fake_cuda_init_calls(), 1);
  int allocs = fake_cuda_num_allocs();
  EXPECT_EQ(allocs, kThreads / 2 * kCalls);
  for (int i = 0; i < allocs; ++i)
    EXPECT_TRUE(fake_cuda_alloc(i).freed);
}

//===----------------------------------------------------------------------===//
// Picking an image
//===----------------------------------------------------------------------===//

mha_gpu_image image(int32_t sm, int32_t format, int32_t archSpecific = 0) {
  static const char kData[] = "x";
  return {sm, archSpecific, format, 0, kData, sizeof(kData)};
}

int32_t pick(const std::vector<mha_gpu_image> &images, int major, int minor) {
  mha_gpu_kernel kernel = makeKernel();
  kernel.images = images.data();
  kernel.num_images = static_cast<int32_t>(images.size());
  return mha_rt_cuda_pick_image(&kernel, major, minor);
}

constexpr int32_t kPtx = MHA_GPU_IMAGE_PTX, kCubin = MHA_GPU_IMAGE_CUBIN;

TEST(CudaPickImage, CubinOfTheSameMajor) {
  std::vector<mha_gpu_image> images = {image(80, kCubin), image(90, kCubin, 1),
                                       image(80, kPtx)};
  EXPECT_EQ(pick(images, 8, 6), 0); // sm_80 cubin runs on 8.6.
  EXPECT_EQ(pick(images, 8, 0), 0);
  EXPECT_EQ(pick(images, 9, 0), 1);  // sm_90a only on exactly 9.0.
  EXPECT_EQ(pick(images, 12, 0), 2); // No cubin of major 12: PTX.
  EXPECT_EQ(pick(images, 7, 5), -1);
}

TEST(CudaPickImage, ArchSpecificOnlyOnItsCapability) {
  std::vector<mha_gpu_image> images = {image(90, kCubin, 1),
                                       image(90, kPtx, 1)};
  EXPECT_EQ(pick(images, 9, 0), 0);
  EXPECT_EQ(pick(images, 10, 0), -1); // Neither form runs elsewhere.
  images.push_back(image(90, kPtx));
  EXPECT_EQ(pick(images, 10, 0), 2);
  // On 9.0 the arch-specific cubin beats a portable one of the same sm.
  images.push_back(image(90, kCubin));
  EXPECT_EQ(pick(images, 9, 0), 0);
  EXPECT_EQ(pick(images, 9, 1), 3);
}

TEST(CudaPickImage, HighestFittingSmWins) {
  std::vector<mha_gpu_image> images = {image(80, kCubin), image(86, kCubin),
                                       image(89, kCubin), image(75, kPtx),
                                       image(86, kPtx),   image(100, kPtx)};
  EXPECT_EQ(pick(images, 8, 6), 1);
  EXPECT_EQ(pick(images, 8, 7), 1);
  EXPECT_EQ(pick(images, 8, 9), 2);
  EXPECT_EQ(pick(images, 8, 0), 0);
  EXPECT_EQ(pick(images, 9, 0), 4); // The highest PTX <= 9.0.
  EXPECT_EQ(pick(images, 12, 0), 5);
  EXPECT_EQ(pick(images, 7, 5), 3);
  EXPECT_EQ(pick(images, 7, 0), -1);
}

TEST(CudaPickImage, NothingToPick) {
  EXPECT_EQ(pick({}, 9, 0), -1);
  EXPECT_EQ(mha_rt_cuda_pick_image(nullptr, 9, 0), -1);
  mha_gpu_image broken = image(80, kCubin);
  broken.data = nullptr;
  EXPECT_EQ(pick({broken}, 8, 0), -1);
  EXPECT_EQ(pick({image(80, 7)}, 8, 0), -1); // Unknown format.
}

} // namespace
