//===- CpuIsaTest.cpp - The run-time choice of the kernel copy ----*- C++ -*-===//
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
  bool avx512 = __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512cd") &&
                __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512vl");
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx512 && avx2)
    return __builtin_cpu_supports("avx512bf16") ? MHA_ISA_AVX512BF16
                                                : MHA_ISA_AVX512;
  return avx2 ? MHA_ISA_AVX2 : MHA_ISA_GENERIC;
}

/// Expects mha_rt_cpu_isa() to answer `expected` in a process whose MHA_ISA
/// is `wanted` (nullptr: unset).
void expectLevel(const char *wanted, int expected) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (wanted)
          setenv("MHA_ISA", wanted, 1);
        else
          unsetenv("MHA_ISA");
        std::exit(mha_rt_cpu_isa());
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
#endif

} // namespace
