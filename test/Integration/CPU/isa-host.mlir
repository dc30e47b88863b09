// mha-compile --isa=host builds the copies this CPU's dispatch picks, none
// for lesser CPUs: on an AVX-512 CPU the avx512 copy, and the avx512bf16
// one for bf16 functions where the CPU has AVX512-BF16. MHA_ISA asking for
// a level below the library's copies gets MHA_ERR_NO_DEVICE, naming the
// function.
// REQUIRES: avx512
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libhost.so
// RUN: llvm-nm %t/libhost.so | FileCheck %s --check-prefix=COPIES
// RUN: llvm-nm %t/libhost.so | FileCheck %s --check-prefix=NO-LOWER
// RUN: mha-check %t/libhost.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal
// RUN: mha-check %t/libhost.so --fn bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72
// RUN: env MHA_ISA=avx512 mha-check %t/libhost.so --fn bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72
// RUN: env MHA_ISA=avx2 not mha-check %t/libhost.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal 2>&1 | FileCheck %s --check-prefix=NO-COPY

// COPIES-DAG: t f32__work_avx512
// COPIES-DAG: t bf16__work_avx512
// COPIES-DAG: T f32
// NO-LOWER-NOT: __work_avx2
// NO-LOWER-NOT: __work_generic
// NO-COPY: status MHA_ERR_NO_DEVICE: "f32: the library has no kernel copy for this CPU's vector instructions (or the lower level MHA_ISA asks for)

func.func @f32(%q: tensor<?x4x?x40xf32>, %k: tensor<?x2x?x40xf32>, %v: tensor<?x2x?x24xf32>) -> tensor<?x4x?x24xf32> {
  %o = mha.attention %q, %k, %v {causal} : tensor<?x4x?x40xf32>, tensor<?x2x?x40xf32>, tensor<?x2x?x24xf32> -> tensor<?x4x?x24xf32>
  return %o : tensor<?x4x?x24xf32>
}

func.func @bf16(%q: tensor<?x3x?x72xbf16>, %k: tensor<?x1x?x72xbf16>, %v: tensor<?x1x?x72xbf16>) -> tensor<?x3x?x72xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x3x?x72xbf16>, tensor<?x1x?x72xbf16>, tensor<?x1x?x72xbf16> -> tensor<?x3x?x72xbf16>
  return %o : tensor<?x3x?x72xbf16>
}
