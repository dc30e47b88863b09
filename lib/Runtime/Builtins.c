//===- Builtins.c - Compiler builtins Debian's libgcc lacks -------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// The kernels convert bf16 with integer operations (arith-expand), but
// LLVM's x86 back end still calls compiler-rt's __truncsfbf2 where it
// widens a bf16 vector it cannot keep (a phi of bf16 vectors that
// InstCombine makes of two stores of one address, in CPUs without
// AVX512-BF16), and the libgcc of Debian 12 has no such function. The
// runtime, linked into every generated library, defines it (hidden, so
// nothing outside the library binds to it).
//
//===----------------------------------------------------------------------===//

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
/* f32 -> bf16, rounding to nearest even; NaN stays a (quiet) NaN. The
 * result comes back in xmm0 as a _Float16 would (the same 16 bits: GCC 12
 * has no __bf16). */
__attribute__((visibility("hidden"))) _Float16 __truncsfbf2(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof(bits));
  uint16_t half;
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    half = (uint16_t)((bits >> 16) | 0x40u);
  else
    half = (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  _Float16 result;
  memcpy(&result, &half, sizeof(result));
  return result;
}
#endif
