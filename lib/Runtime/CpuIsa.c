/*===- CpuIsa.c - Which vector ISA this CPU runs ------------------*- C -*-===*
 * SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
 *
 * Generated libraries hold one kernel per vector ISA (AVX-512 = x86-64-v4,
 * AVX2+FMA = x86-64-v3, generic = x86-64-v2: SSE4.2, and for bf16 specs
 * AVX-512 with AVX512_BF16); their exported functions ask here which one to
 * run. The answer needs both the CPU's features (cpuid) and the OS saving
 * the wide registers (xgetbv). MHA_ISA=avx512bf16|avx512|avx2|generic in the
 * environment asks for a lower level (for tests and comparisons), never a
 * higher one.
 *
 * The AVX512-BF16 copy gains from vdpbf16ps where it runs twice the FMAs'
 * flops (AMD Zen 4); Intel's cores run it at half their FMA rate (measured:
 * Emerald Rapids 171 against 350 GFLOP/s on 2 cores, bench/peak.c), so a
 * bf16 function without int8 weights, but for decoding steps (memory-
 * bound: attention with few static query rows, layer calls with few rows
 * per sequence, mha_rt_cpu_isa_bf16_layer), runs the AVX-512 copy there
 * (mha_rt_cpu_isa_bf16_dot) unless MHA_ISA=avx512bf16 asks for its own.
 *===----------------------------------------------------------------------===*/

#include "mha/Runtime/KernelAbi.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

static int detect_isa(void) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
    return MHA_ISA_GENERIC;
  int osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, fma = (ecx >> 12) & 1;
  if (!osxsave || !avx)
    return MHA_ISA_GENERIC;
  unsigned long long xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) /* XMM and YMM state */
    return MHA_ISA_GENERIC;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
    return MHA_ISA_GENERIC;
  int avx2 = (ebx >> 5) & 1;
  /* x86-64-v4: AVX-512 F, CD, BW, DQ, VL; the OS must save opmask and ZMM. */
  int avx512 = ((ebx >> 16) & 1) && ((ebx >> 28) & 1) && ((ebx >> 30) & 1) &&
               ((ebx >> 17) & 1) && ((ebx >> 31) & 1) && (xcr0 & 0xe0) == 0xe0;
  if (avx512 && avx2 && fma) {
    /* AVX512_BF16: cpuid leaf 7, sub-leaf 1, eax bit 5; AVX512_VNNI (the
     * int8 GEMMs of that copy): leaf 7, ecx bit 11. Every CPU with the
     * first has the second. */
    unsigned int eax1, ebx1, ecx1, edx1;
    int vnni = (ecx >> 11) & 1;
    if (vnni && eax >= 1 &&
        __get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1) &&
        ((eax1 >> 5) & 1))
      return MHA_ISA_AVX512BF16;
    return MHA_ISA_AVX512;
  }
  if (avx2 && fma)
    return MHA_ISA_AVX2;
  return MHA_ISA_GENERIC;
}

/* Whether vdpbf16ps runs slower than the FMAs it replaces: Intel's. */
static int bf16_dot_is_slow(void) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
    return 0;
  /* "GenuineIntel" in ebx, edx, ecx. */
  return ebx == 0x756e6547u && edx == 0x49656e69u && ecx == 0x6c65746eu;
}
#else
static int detect_isa(void) { return MHA_ISA_GENERIC; }
static int bf16_dot_is_slow(void) { return 0; }
#endif

/* The level MHA_ISA names, or -1 when it is unset or names none. */
static int requested_isa(void) {
  const char *wanted = getenv("MHA_ISA");
  if (!wanted)
    return -1;
  return strcmp(wanted, "generic") == 0      ? MHA_ISA_GENERIC
         : strcmp(wanted, "avx2") == 0       ? MHA_ISA_AVX2
         : strcmp(wanted, "avx512") == 0     ? MHA_ISA_AVX512
         : strcmp(wanted, "avx512bf16") == 0 ? MHA_ISA_AVX512BF16
                                             : -1;
}

static int compute_isa(void) {
  int isa = detect_isa();
  int wanted = requested_isa();
  return wanted >= 0 && wanted < isa ? wanted : isa;
}

static int compute_isa_bf16_dot(void) {
  int isa = mha_rt_cpu_isa();
  if (isa == MHA_ISA_AVX512BF16 && bf16_dot_is_slow() &&
      requested_isa() != MHA_ISA_AVX512BF16)
    return MHA_ISA_AVX512;
  return isa;
}

/* `compute()` once per cache; a benign race computes the same value twice. */
static int cached(volatile int *cache, int (*compute)(void)) {
  int isa = *cache;
  if (isa < 0)
    *cache = isa = compute();
  return isa;
}

MHA_RT_HIDDEN_ABI int32_t mha_rt_cpu_isa(void) {
  static volatile int cache = -1;
  return cached(&cache, compute_isa);
}

MHA_RT_HIDDEN_ABI int32_t mha_rt_cpu_isa_bf16_dot(void) {
  static volatile int cache = -1;
  return cached(&cache, compute_isa_bf16_dot);
}

MHA_RT_HIDDEN_ABI int32_t mha_rt_cpu_isa_bf16_layer(const DLTensor *x) {
  bool decoding = x && x->shape && x->ndim >= 2 &&
                  x->ndim <= MHA_SIG_MAX_RANK &&
                  x->shape[x->ndim - 2] <= MHA_DECODING_ROWS;
  return decoding ? mha_rt_cpu_isa() : mha_rt_cpu_isa_bf16_dot();
}
