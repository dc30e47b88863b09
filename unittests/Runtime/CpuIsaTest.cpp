//===- CpuIsaTest.cpp - The run-time choice of the kernel copy --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_rt_cpu_isa() against the compiler's own CPU feature checks, with and
// without MHA_ISA. Its answer is cached per process, so each case runs in a
// fresh process (a death test that exits with the level).
//
//===----------------------------------------------------------------------===//

#include "mha/Runtime/KernelAbi.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cstdlib>

namespace {

#if defined(__x86_64__)
/// The level the CPU supports, by __builtin_cpu_supports (which also asks
/// whether the OS saves the wide registers).
int supportedLevel() {
  __builtin_cpu_init();
  bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx512 && avx2)
    return __builtin_cpu_supports("avx512bf16") ? MHA_ISA_AVX512BF16
                                                : MHA_ISA_AVX512;
  return avx2 ? MHA_ISA_AVX2 : MHA_ISA_GENERIC;
}

/// Expects `query` (mha_rt_cpu_isa or mha_rt_cpu_isa_bf16_dot) to answer
/// `expected` in a process whose MHA_ISA is `wanted` (nullptr: unset).
void expectLevel(const char *wanted, int expected,
                 int32_t (*query)() = mha_rt_cpu_isa) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (wanted)
          setenv("MHA_ISA", wanted, 1);
        else
          unsetenv("MHA_ISA");
        std::exit(query());
      },
      ::testing::ExitedWithCode(expected), "")
      << "MHA_ISA=" << (wanted ? wanted : "(unset)");
}

// Without MHA_ISA the best level of the CPU, AVX512-BF16 included.
TEST(CpuIsaTest, DetectsTheCpu) { expectLevel(nullptr, supportedLevel()); }

// MHA_ISA lowers the level, never raises it; unknown names leave it.
TEST(CpuIsaTest, EnvironmentLowersTheLevel) {
  int cpu = supportedLevel();
  expectLevel("avx512bf16", std::min<int>(cpu, MHA_ISA_AVX512BF16));
  expectLevel("avx512", std::min<int>(cpu, MHA_ISA_AVX512));
  expectLevel("avx2", std::min<int>(cpu, MHA_ISA_AVX2));
  expectLevel("generic", MHA_ISA_GENERIC);
  expectLevel("neon", cpu);
}

// The level for vdpbf16ps: AVX512 on Intel's AVX512-BF16 cores (half the
// FMA rate there), unless MHA_ISA=avx512bf16 asks for that copy; lowered
// by MHA_ISA like the other.
TEST(CpuIsaTest, Bf16DotLevel) {
  int cpu = supportedLevel();
  bool slow = cpu == MHA_ISA_AVX512BF16 && __builtin_cpu_is("intel");
  expectLevel(nullptr, slow ? MHA_ISA_AVX512 : cpu, mha_rt_cpu_isa_bf16_dot);
  expectLevel("avx512bf16", cpu, mha_rt_cpu_isa_bf16_dot);
  expectLevel("avx2", std::min<int>(cpu, MHA_ISA_AVX2),
              mha_rt_cpu_isa_bf16_dot);
}

/// mha_rt_cpu_isa_bf16_layer on a [4, rows, 64] x (rows < 0: no shape).
template <int64_t rows> int32_t layerLevel() {
  static int64_t shape[] = {4, rows, 64};
  static DLTensor x;
  x.ndim = 3;
  x.shape = rows < 0 ? nullptr : shape;
  return mha_rt_cpu_isa_bf16_layer(&x);
}

// A bf16 layer's call: at most MHA_DECODING_ROWS rows per sequence (a
// decoding step, memory-bound) takes the plain level, more rows the
// level for vdpbf16ps; a tensor without a shape, or none, counts as long.
TEST(CpuIsaTest, Bf16LayerLevelFollowsTheRows) {
  int cpu = supportedLevel();
  bool slow = cpu == MHA_ISA_AVX512BF16 && __builtin_cpu_is("intel");
  int dot = slow ? MHA_ISA_AVX512 : cpu;
  expectLevel(nullptr, cpu, layerLevel<1>);
  expectLevel(nullptr, cpu, layerLevel<MHA_DECODING_ROWS>);
  expectLevel(nullptr, dot, layerLevel<MHA_DECODING_ROWS + 1>);
  expectLevel(nullptr, dot, layerLevel<-1>);
  expectLevel(nullptr, dot, [] { return mha_rt_cpu_isa_bf16_layer(nullptr); });
  expectLevel("avx2", std::min<int>(cpu, MHA_ISA_AVX2), layerLevel<1>);
}
#endif

} // namespace
