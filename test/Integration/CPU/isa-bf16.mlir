// The AVX512-BF16 copy of bf16 specs (bf16_pairs micro-kernels: vdpbf16ps
// for S = Q.K^T on pairs of head-dim elements and for acc += P.V on pairs of
// keys with P rounded to bf16), forced with MHA_ISA=avx512bf16 and checked
// against the float64 reference on every variant class the other copies are
// checked with, then the same calls on the AVX-512 copy for comparison.
// Sizes are odd on purpose: D = 40 and 72 leave a partial block of 16 pairs,
// Dv = 24 a padded value vector, odd Lk an odd last key pair, Lq > 128 two
// q-tiles, Lk > 128 several key tiles; D = 25 (odd) falls back to FMA
// micro-kernels inside the same copy.
// REQUIRES: avx512bf16
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s -o %t/libbf16.so
// RUN: llvm-nm %t/libbf16.so | FileCheck %s --check-prefix=COPIES
// Causal, per-head left windows, sinks, softcap, ALiBi, GQA 4:2, every extra result.
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn masked_bf16 --dtype bf16 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --lse --probs --entropy --threads 2
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn masked_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 300 --Lk 301 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --lse --probs --entropy --threads 2
// RUN: MHA_ISA=avx512 mha-check %t/libbf16.so --fn masked_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 300 --Lk 301 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --lse --probs --entropy --threads 2
// Plain attention, several q-tiles and key tiles, an odd last key pair.
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn plain_bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn plain_bf16 --dtype bf16 --B 2 --Hq 3 --Hkv 1 --Lq 259 --Lk 517 --D 72 --Dv 72 --layout blhd --threads 2
// Symmetric windows (multi-scale heads) with Lq != Lk, MQA.
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn window_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 1 --Lq 150 --Lk 211 --D 128 --Dv 128 --window-left 16,-1,3,-1 --window-right 16,-1,0,-1 --threads 2
// Causal MHA at D = 64 with a per-head temperature and a pruned head.
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn causal_bf16 --dtype bf16 --B 1 --Hq 2 --Hkv 2 --Lq 257 --Lk 257 --D 64 --Dv 64 --causal --temperature 0.5,2 --head-mask 1,0
// Odd D: FMA micro-kernels in the same copy.
// RUN: MHA_ISA=avx512bf16 mha-check %t/libbf16.so --fn odd_bf16 --dtype bf16 --B 1 --Hq 2 --Hkv 1 --Lq 33 --Lk 47 --D 25 --Dv 7 --causal
// A single copy for this ISA runs on any CPU with AVX512-BF16 (the bf16-dot
// preference aside), and refuses below it.
// RUN: mha-compile %s --isa=avx512bf16 --function plain_bf16 -o %t/libsingle.so
// RUN: mha-check %t/libsingle.so --fn plain_bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72
// RUN: env MHA_ISA=avx512 not mha-check %t/libsingle.so --fn plain_bf16 --dtype bf16 --B 1 --Hq 3 --Hkv 1 --Lq 70 --Lk 45 --D 72 --Dv 72 2>&1 | FileCheck %s --check-prefix=BELOW

// COPIES-DAG: t masked_bf16__work_avx512bf16
// COPIES-DAG: t masked_bf16__work_avx512
// COPIES-DAG: t odd_bf16__work_avx512bf16
// BELOW: status MHA_ERR_NO_DEVICE: "plain_bf16: the library has no kernel copy

func.func @masked_bf16(%q: tensor<?x4x?x40xbf16>, %k: tensor<?x2x?x40xbf16>, %v: tensor<?x2x?x24xbf16>)
    -> (tensor<?x4x?x24xbf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v {causal, window_left = array<i64: 5, -1, 9, -1>, sink_tokens = 2,
      softcap = 20.0 : f32, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      return_lse, return_probs, return_entropy}
      : tensor<?x4x?x40xbf16>, tensor<?x2x?x40xbf16>, tensor<?x2x?x24xbf16>
      -> tensor<?x4x?x24xbf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %p, %e : tensor<?x4x?x24xbf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
}

func.func @plain_bf16(%q: tensor<?x3x?x72xbf16>, %k: tensor<?x1x?x72xbf16>, %v: tensor<?x1x?x72xbf16>) -> tensor<?x3x?x72xbf16> {
  %o = mha.attention %q, %k, %v : tensor<?x3x?x72xbf16>, tensor<?x1x?x72xbf16>, tensor<?x1x?x72xbf16> -> tensor<?x3x?x72xbf16>
  return %o : tensor<?x3x?x72xbf16>
}

func.func @window_bf16(%q: tensor<?x4x?x128xbf16>, %k: tensor<?x1x?x128xbf16>, %v: tensor<?x1x?x128xbf16>) -> tensor<?x4x?x128xbf16> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 16, -1, 3, -1>, window_right = array<i64: 16, -1, 0, -1>}
      : tensor<?x4x?x128xbf16>, tensor<?x1x?x128xbf16>, tensor<?x1x?x128xbf16> -> tensor<?x4x?x128xbf16>
  return %o : tensor<?x4x?x128xbf16>
}

func.func @causal_bf16(%q: tensor<?x2x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>) -> tensor<?x2x?x64xbf16> {
  %o = mha.attention %q, %k, %v {causal, temperature = array<f32: 0.5, 2.0>, head_mask = array<i1: true, false>}
      : tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x2x?x64xbf16>
  return %o : tensor<?x2x?x64xbf16>
}

func.func @odd_bf16(%q: tensor<?x2x?x25xbf16>, %k: tensor<?x1x?x25xbf16>, %v: tensor<?x1x?x7xbf16>) -> tensor<?x2x?x7xbf16> {
  %o = mha.attention %q, %k, %v {causal} : tensor<?x2x?x25xbf16>, tensor<?x1x?x25xbf16>, tensor<?x1x?x7xbf16> -> tensor<?x2x?x7xbf16>
  return %o : tensor<?x2x?x7xbf16>
}
