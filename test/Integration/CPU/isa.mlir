// A library holds one copy of the kernels per vector ISA and picks the best
// the CPU supports; MHA_ISA lowers the choice, so every copy is checked here
// on this machine: AVX-512 (16 lanes), AVX2 (8 lanes, 16 registers) and
// generic SSE4.2 (4 lanes, no FMA), with head dims that are not multiples
// of any vector width.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s -o %t/libisa.so
// RUN: llvm-nm %t/libisa.so | FileCheck %s --check-prefix=COPIES
// RUN: llvm-nm %t/libisa.so | FileCheck %s --check-prefix=NOBF16
// RUN: MHA_ISA=avx512 mha-check %t/libisa.so --fn masked_f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --lse --probs --entropy --threads 2
// RUN: MHA_ISA=avx2 mha-check %t/libisa.so --fn masked_f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --lse --probs --entropy --threads 2
// RUN: MHA_ISA=generic mha-check %t/libisa.so --fn masked_f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --lse --probs --entropy --threads 2
// RUN: MHA_ISA=avx2 mha-check %t/libisa.so --fn plain_bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72
// RUN: MHA_ISA=generic mha-check %t/libisa.so --fn plain_bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72
// RUN: MHA_ISA=generic mha-check %t/libisa.so --fn plain_f16 --dtype f16 --B 1 --Hq 2 --Hkv 2 --Lq 19 --Lk 90 --D 24 --Dv 24 --layout blhd
// A single copy for one ISA runs where the CPU has its instructions; below
// them (MHA_ISA=generic stands for an SSE4.2-only CPU) the call fails with
// MHA_ERR_NO_DEVICE instead of an illegal instruction. A single generic
// copy runs everywhere.
// RUN: mha-compile %s --isa=avx2 -o %t/libavx2.so
// RUN: llvm-nm %t/libavx2.so | FileCheck %s --check-prefix=SINGLE
// RUN: mha-check %t/libavx2.so --fn plain_f16 --dtype f16 --B 1 --Hq 2 --Hkv 2 --Lq 19 --Lk 90 --D 24 --Dv 24
// RUN: env MHA_ISA=generic not mha-check %t/libavx2.so --fn plain_f16 --dtype f16 --B 1 --Hq 2 --Hkv 2 --Lq 19 --Lk 90 --D 24 --Dv 24 2>&1 | FileCheck %s --check-prefix=BELOW
// RUN: mha-compile %s --isa=generic --function plain_f16 -o %t/libgeneric.so
// RUN: env MHA_ISA=generic mha-check %t/libgeneric.so --fn plain_f16 --dtype f16 --B 1 --Hq 2 --Hkv 2 --Lq 19 --Lk 90 --D 24 --Dv 24
// RUN: not mha-compile %s --isa=neon -o %t/libbad.so 2>&1 | FileCheck %s --check-prefix=BAD

// COPIES-DAG: t masked_f32__work_avx512
// COPIES-DAG: t masked_f32__work_avx2
// COPIES-DAG: t masked_f32__work_generic
// COPIES-DAG: T masked_f32
// A fourth copy, AVX512-BF16, for the bf16 function only.
// COPIES-DAG: t plain_bf16__work_avx512bf16
// NOBF16-NOT: masked_f32__work_avx512bf16
// SINGLE-NOT: __work_avx512
// SINGLE-NOT: __work_generic
// SINGLE-DAG: t plain_f16__work_avx2
// SINGLE-DAG: T plain_f16
// BELOW: status MHA_ERR_NO_DEVICE: "plain_f16: the library has no kernel copy for this CPU's vector instructions (or the lower level MHA_ISA asks for): it was built for a CPU with more (mha-compile --isa=host, or a single --isa copy)"
// BAD: mha-compile: error: unknown --isa 'neon' (expected auto, host, avx512bf16, avx512, avx2, generic or native)

func.func @masked_f32(%q: tensor<?x4x?x40xf32>, %k: tensor<?x2x?x40xf32>, %v: tensor<?x2x?x24xf32>)
    -> (tensor<?x4x?x24xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v {causal, window_left = array<i64: 5, -1, 9, -1>, sink_tokens = 2,
      softcap = 20.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      return_lse, return_probs, return_entropy}
      : tensor<?x4x?x40xf32>, tensor<?x2x?x40xf32>, tensor<?x2x?x24xf32>
      -> tensor<?x4x?x24xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %p, %e : tensor<?x4x?x24xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
}

func.func @plain_bf16(%q: tensor<?x3x?x72xbf16>, %k: tensor<?x1x?x72xbf16>, %v: tensor<?x1x?x72xbf16>) -> tensor<?x3x?x72xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x3x?x72xbf16>, tensor<?x1x?x72xbf16>, tensor<?x1x?x72xbf16> -> tensor<?x3x?x72xbf16>
  return %o : tensor<?x3x?x72xbf16>
}

func.func @plain_f16(%q: tensor<?x2x?x24xf16>, %k: tensor<?x2x?x24xf16>, %v: tensor<?x2x?x24xf16>) -> tensor<?x2x?x24xf16> {
  %o = mha.attention %q, %k, %v : tensor<?x2x?x24xf16>, tensor<?x2x?x24xf16>, tensor<?x2x?x24xf16> -> tensor<?x2x?x24xf16>
  return %o : tensor<?x2x?x24xf16>
}
