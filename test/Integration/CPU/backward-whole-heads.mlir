// <name>_backward with whole-head key items (mha-tile-backward): f32 specs
// with D and Dv multiples of 16 and at least 4 KV heads get one key item
// per (b, KV head) that walks every key tile and sums dq of the group's
// heads in place, in order (the query items only zero dq when there are no
// keys). Every attribute, against the float64 backward as in
// backward.mlir, with thread sweeps (the same bytes for any thread count)
// and the generic and AVX2 copies (single-copy libraries of some
// functions beside the host's, --isa=host); `narrow` (two KV heads) keeps the split
// key and query items.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libwhole.so
// RUN: mha-compile %s --isa=avx2 --function plain -o %t/libwhole-avx2.so
// RUN: mha-compile %s --isa=generic --function plain --function everything -o %t/libwhole-generic.so
// RUN: mha-opt %s --mha-tile-backward | FileCheck %s --check-prefix=GRID
// GRID-LABEL: func.func @plain_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 0>
// GRID-LABEL: func.func @gqa_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 0>
// GRID-LABEL: func.func @everything_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 1, 0>
// GRID-LABEL: func.func @narrow_backward__kernel(
// GRID-SAME: mha.backward_grid = array<i64: 2, 64, 1, 0, 0>

// Several key and query tiles, Lq != Lk, ragged tiles.
// RUN: mha-check %t/libwhole.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 4 --Lq 150 --Lk 131 --D 32 --Dv 48 --threads 3 --thread-sweep 4 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libwhole.so --fn plain --backward --lse --dtype f32 --B 1 --Hq 4 --Lq 37 --Lk 200 --D 32 --Dv 48 --layout blhd --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libwhole-generic.so --fn plain --backward --lse --dtype f32 --B 1 --Hq 4 --Lq 70 --Lk 65 --D 32 --Dv 48 --layout padded --byte-offset 8 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libwhole-avx2.so --fn plain --backward --lse --dtype f32 --B 1 --Hq 4 --Lq 70 --Lk 65 --D 32 --Dv 48 --threads 2 | FileCheck %s --check-prefix=PASS
// PASS: PASS {{.*}} backward
// No keys: the query items write zero dq; no queries: zero dk and dv.
// RUN: mha-check %t/libwhole.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 4 --Lq 9 --Lk 0 --D 32 --Dv 48 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libwhole.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 4 --Lq 0 --Lk 70 --D 32 --Dv 48 | FileCheck %s --check-prefix=PASS
func.func @plain(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                 %v: tensor<?x4x?x48xf32>)
    -> (tensor<?x4x?x48xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x48xf32>
       -> tensor<?x4x?x48xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x48xf32>, tensor<?x4x?xf32>
}

// GQA 8:4 under causal with per-head windows, sinks, a pruned head and a
// run-time head mask: each key item sums dk/dv and writes dq of two heads.
// RUN: mha-check %t/libwhole.so --fn gqa --backward --lse --dtype f32 --B 2 --Hq 8 --Hkv 4 --Lq 140 --Lk 150 --D 16 --causal --sinks 3 --window-left 5,-1,0,12,-1,40,-1,7 --head-mask 1,1,1,1,1,0,1,1 --threads 3 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libwhole.so --fn gqa --backward --lse --dtype f32 --B 1 --Hq 8 --Hkv 4 --Lq 150 --Lk 70 --D 16 --causal --sinks 3 --window-left 5,-1,0,12,-1,40,-1,7 --head-mask 1,1,1,1,1,0,1,1 --runtime-head-mask 0,1,1,1,1,1,0,1 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @gqa(%q: tensor<?x8x?x16xf32>, %k: tensor<?x4x?x16xf32>,
               %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x8x?x16xf32>, tensor<?x8x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, sink_tokens = 3 : i64,
      window_left = array<i64: 5, -1, 0, 12, -1, 40, -1, 7>,
      head_mask = array<i1: true, true, true, true, true, false, true, true>,
      return_lse}
       : tensor<?x8x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x8x?x16xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x16xf32>, tensor<?x8x?xf32>
}

// Every score attribute, dropout and the entropy gradient at once (the row
// items still compute E_i), with a band window.
// RUN: mha-check %t/libwhole.so --fn everything --backward --lse --entropy --dtype f32 --B 2 --Hq 4 --Lq 77 --Lk 99 --D 32 --causal --window-left 9,-1,30,-1 --window-right 3 --sinks 2 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 8 --alibi 0.5,0.25,0.125,0 --dropout 0,0.3,0.1,0.5 --dropout-seed 77 --dropout-offset 5 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libwhole-generic.so --fn everything --backward --lse --entropy --dtype f32 --B 1 --Hq 4 --Lq 130 --Lk 40 --D 32 --causal --window-left 9,-1,30,-1 --window-right 3 --sinks 2 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 8 --alibi 0.5,0.25,0.125,0 --dropout 0,0.3,0.1,0.5 --dropout-seed 3 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @everything(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                      %v: tensor<?x4x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>)
    attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %k, %v {return_lse, return_entropy, causal,
      window_left = array<i64: 9, -1, 30, -1>, window_right = array<i64: 3>,
      sink_tokens = 2, scale = 0.3 : f32,
      temperature = array<f32: 0.5, 1.0, 2.0, 1.5>, softcap = 8.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0>,
      dropout = array<f32: 0.0, 0.3, 0.1, 0.5>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %h : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}

// Two KV heads: split key and query items even though the types allow
// whole heads.
// RUN: mha-check %t/libwhole.so --fn narrow --backward --lse --dtype f32 --B 2 --Hq 2 --Lq 100 --Lk 90 --D 32 --causal --threads 3 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
func.func @narrow(%q: tensor<?x2x?x32xf32>, %k: tensor<?x2x?x32xf32>,
                  %v: tensor<?x2x?x32xf32>)
    -> (tensor<?x2x?x32xf32>, tensor<?x2x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>
       -> tensor<?x2x?x32xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x32xf32>, tensor<?x2x?xf32>
}
