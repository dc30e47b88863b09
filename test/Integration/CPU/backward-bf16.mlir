// <name>_backward of 16-bit specs (mha-tile-backward): bf16 key items run
// their products on vdpbf16ps pairs in the AVX512-BF16 copy (P Z and dS
// rounded to bf16, sums in f32), FMAs on widened rows in the others; with D
// and Dv multiples of 16 and at least 4 KV heads the key items own whole KV
// heads and sum dq in the runtime's f32 temporary, narrowing it into dq at
// the end. Each against the float64 backward (mha-check: relative error
// below 2e-2 per gradient), with thread sweeps (the same bytes for any
// thread count) and every ISA copy: the library of this CPU's copies
// (--isa=host; MHA_ISA=avx512 runs the AVX-512 one where the CPU has
// AVX512-BF16), and single AVX2 and generic copies of some functions.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/lib16.so
// RUN: mha-compile %s --isa=avx2 --function plain --function everything -o %t/lib16-avx2.so
// RUN: mha-compile %s --isa=generic --function plain -o %t/lib16-generic.so
// RUN: mha-opt %s --mha-tile-backward | FileCheck %s --check-prefix=GRID
// GRID-LABEL: func.func @plain_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 32>
// GRID-LABEL: func.func @gqa_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 16>
// GRID-LABEL: func.func @everything_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 1, 32>
// GRID-LABEL: func.func @narrow_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 2, 64, 1, 0, 0>
// GRID-LABEL: func.func @mqa_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 1, 64, 1, 1, 0>
// GRID-LABEL: func.func @odd_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 64, 1, 0, 0>
// GRID-LABEL: func.func @half_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 32>
// PASS: PASS {{.*}} backward

// Whole heads: several key and query tiles, odd row and key counts (the
// last pair of rows and of keys half empty), Lq != Lk, every ISA copy.
// RUN: mha-check %t/lib16.so --fn plain --backward --lse --dtype bf16 --B 2 --Hq 4 --Lq 151 --Lk 131 --D 32 --Dv 48 --threads 3 --thread-sweep 4 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16.so --fn plain --backward --lse --dtype bf16 --B 1 --Hq 4 --Lq 37 --Lk 201 --D 32 --Dv 48 --layout blhd --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16.so --fn plain --backward --lse --dtype bf16 --B 1 --Hq 4 --Lq 1 --Lk 1 --D 32 --Dv 48 --layout padded --byte-offset 8 | FileCheck %s --check-prefix=PASS
// RUN: MHA_ISA=avx512 mha-check %t/lib16.so --fn plain --backward --lse --dtype bf16 --B 1 --Hq 4 --Lq 70 --Lk 65 --D 32 --Dv 48 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16-avx2.so --fn plain --backward --lse --dtype bf16 --B 1 --Hq 4 --Lq 70 --Lk 65 --D 32 --Dv 48 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16-generic.so --fn plain --backward --lse --dtype bf16 --B 1 --Hq 4 --Lq 70 --Lk 65 --D 32 --Dv 48 --threads 2 | FileCheck %s --check-prefix=PASS
// No keys: the query items write zero dq; no queries: zero dk and dv.
// RUN: mha-check %t/lib16.so --fn plain --backward --lse --dtype bf16 --B 2 --Hq 4 --Lq 9 --Lk 0 --D 32 --Dv 48 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16.so --fn plain --backward --lse --dtype bf16 --B 2 --Hq 4 --Lq 0 --Lk 70 --D 32 --Dv 48 | FileCheck %s --check-prefix=PASS
func.func @plain(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x4x?x32xbf16>,
    %v: tensor<?x4x?x48xbf16>)
    -> (tensor<?x4x?x48xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x32xbf16>, tensor<?x4x?x32xbf16>, tensor<?x4x?x48xbf16>
       -> tensor<?x4x?x48xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x48xbf16>, tensor<?x4x?xf32>
}

// GQA 8:4 under causal with per-head windows, sinks, a pruned head and a
// run-time head mask: each key item sums dk/dv and dq of two heads.
// RUN: mha-check %t/lib16.so --fn gqa --backward --lse --dtype bf16 --B 2 --Hq 8 --Hkv 4 --Lq 140 --Lk 150 --D 16 --causal --sinks 3 --window-left 5,-1,0,12,-1,40,-1,7 --head-mask 1,1,1,1,1,0,1,1 --threads 3 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16.so --fn gqa --backward --lse --dtype bf16 --B 1 --Hq 8 --Hkv 4 --Lq 150 --Lk 70 --D 16 --causal --sinks 3 --window-left 5,-1,0,12,-1,40,-1,7 --head-mask 1,1,1,1,1,0,1,1 --runtime-head-mask 0,1,1,1,1,1,0,1 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @gqa(%q: tensor<?x8x?x16xbf16>, %k: tensor<?x4x?x16xbf16>,
    %v: tensor<?x4x?x16xbf16>)
    -> (tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse, causal, sink_tokens = 3 : i64,
      window_left = array<i64: 5, -1, 0, 12, -1, 40, -1, 7>,
      head_mask = array<i1: true, true, true, true, true, false, true, true>}
       : tensor<?x8x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>
       -> tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>
}

// Every score attribute, dropout and the entropy gradient at once.
// RUN: mha-check %t/lib16.so --fn everything --backward --lse --entropy --dtype bf16 --B 2 --Hq 4 --Lq 77 --Lk 99 --D 32 --causal --window-left 9,-1,30,-1 --window-right 3 --sinks 2 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 8 --alibi 0.5,0.25,0.125,0 --dropout 0,0.3,0.1,0.5 --dropout-seed 77 --dropout-offset 5 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/lib16-avx2.so --fn everything --backward --lse --entropy --dtype bf16 --B 1 --Hq 4 --Lq 130 --Lk 40 --D 32 --causal --window-left 9,-1,30,-1 --window-right 3 --sinks 2 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 8 --alibi 0.5,0.25,0.125,0 --dropout 0,0.3,0.1,0.5 --dropout-seed 3 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @everything(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x4x?x32xbf16>,
    %v: tensor<?x4x?x32xbf16>)
    -> (tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %k, %v {return_lse, causal,
      window_left = array<i64: 9, -1, 30, -1>, window_right = array<i64: 3>,
      sink_tokens = 2, scale = 0.3 : f32,
      temperature = array<f32: 0.5, 1.0, 2.0, 1.5>, softcap = 8.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0>,
      dropout = array<f32: 0.0, 0.3, 0.1, 0.5>, return_entropy}
       : tensor<?x4x?x32xbf16>, tensor<?x4x?x32xbf16>, tensor<?x4x?x32xbf16>
       -> tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %h : tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}

// Two KV heads and D = 24: split key and query items (on pairs in the
// AVX512-BF16 copy).
// RUN: mha-check %t/lib16.so --fn narrow --backward --lse --dtype bf16 --B 2 --Hq 2 --Lq 100 --Lk 91 --D 24 --causal --threads 3 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
func.func @narrow(%q: tensor<?x2x?x24xbf16>, %k: tensor<?x2x?x24xbf16>,
    %v: tensor<?x2x?x24xbf16>)
    -> (tensor<?x2x?x24xbf16>, tensor<?x2x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse, causal}
       : tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>
       -> tensor<?x2x?x24xbf16>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x24xbf16>, tensor<?x2x?xf32>
}

// MQA 4:1 with every score attribute, dropout and the entropy gradient:
// split key, query and row items, all on pairs in the AVX512-BF16 copy
// (odd key counts leave the last pair of keys half empty).
// RUN: mha-check %t/lib16.so --fn mqa --backward --lse --entropy --dtype bf16 --B 2 --Hq 4 --Hkv 1 --Lq 77 --Lk 99 --D 32 --causal --window-left 9,-1,30,-1 --sinks 2 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 8 --alibi 0.5,0.25,0.125,0 --dropout 0,0.3,0.1,0.5 --dropout-seed 11 --threads 3 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: MHA_ISA=avx512 mha-check %t/lib16.so --fn mqa --backward --lse --entropy --dtype bf16 --B 1 --Hq 4 --Hkv 1 --Lq 130 --Lk 41 --D 32 --causal --window-left 9,-1,30,-1 --sinks 2 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 8 --alibi 0.5,0.25,0.125,0 --dropout 0,0.3,0.1,0.5 --dropout-seed 3 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @mqa(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x1x?x32xbf16>,
    %v: tensor<?x1x?x32xbf16>)
    -> (tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %k, %v {return_lse, causal,
      window_left = array<i64: 9, -1, 30, -1>, sink_tokens = 2, scale = 0.3 : f32,
      temperature = array<f32: 0.5, 1.0, 2.0, 1.5>, softcap = 8.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0>,
      dropout = array<f32: 0.0, 0.3, 0.1, 0.5>, return_entropy}
       : tensor<?x4x?x32xbf16>, tensor<?x1x?x32xbf16>, tensor<?x1x?x32xbf16>
       -> tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %h : tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}

// An odd head dim: no pairs, split items.
// RUN: mha-check %t/lib16.so --fn odd --backward --lse --dtype bf16 --B 1 --Hq 4 --Lq 67 --Lk 45 --D 13 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
func.func @odd(%q: tensor<?x4x?x13xbf16>, %k: tensor<?x4x?x13xbf16>,
    %v: tensor<?x4x?x13xbf16>)
    -> (tensor<?x4x?x13xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x13xbf16>, tensor<?x4x?x13xbf16>, tensor<?x4x?x13xbf16>
       -> tensor<?x4x?x13xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x13xbf16>, tensor<?x4x?xf32>
}

// f16: whole heads on FMAs, dq summed in the temporary.
// RUN: mha-check %t/lib16.so --fn half --backward --lse --dtype f16 --B 2 --Hq 4 --Lq 99 --Lk 130 --D 32 --causal --threads 3 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
func.func @half(%q: tensor<?x4x?x32xf16>, %k: tensor<?x4x?x32xf16>,
    %v: tensor<?x4x?x32xf16>)
    -> (tensor<?x4x?x32xf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse, causal}
       : tensor<?x4x?x32xf16>, tensor<?x4x?x32xf16>, tensor<?x4x?x32xf16>
       -> tensor<?x4x?x32xf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xf16>, tensor<?x4x?xf32>
}
