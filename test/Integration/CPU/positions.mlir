// Explicit positions (mha_options.use_positions, docs/language.md 7.4): a
// call computes a chunk of a longer sequence's attention, query row i at
// query_start + i and key j at key_start + j, as context parallelism
// does. Masks, windows, sinks (the sequence's first keys, maybe in another
// chunk), ALiBi and dropout's counters follow the positions: chunks after,
// before and overlapping the keys, f32/f16/bf16, against the float64
// reference given the same positions; the backward too.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libpositions.so
// RUN: mha-compile %s --isa=generic --function causal_bf16 -o %t/libpositions-generic.so
// PASS: PASS fn=

// Queries after the keys (a ring step with an earlier chunk), the diagonal
// chunk, queries before the keys (nothing visible under causal: zeros and
// lse -inf), a chunk whose keys hold no sink, several query tiles.
// RUN: mha-check %t/libpositions.so --fn masked --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --causal --window-left 5,-1,40,-1 --sinks 3 --dropout 0,0.3,0,0.3 --dropout-seed 9 --positions 100,60 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn masked --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 53 --Lk 53 --D 24 --Dv 40 --causal --window-left 5,-1,40,-1 --sinks 3 --dropout 0,0.3,0,0.3 --dropout-seed 9 --positions 53,53 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn masked --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --causal --window-left 5,-1,40,-1 --sinks 3 --dropout 0,0.3,0,0.3 --dropout-seed 9 --positions 60,100 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn masked --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 150 --Lk 140 --D 24 --Dv 40 --causal --window-left 5,-1,40,-1 --sinks 3 --dropout 0,0.3,0,0.3 --dropout-seed 9 --positions 1000,0 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn masked --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 150 --Lk 140 --D 24 --Dv 40 --causal --window-left 5,-1,40,-1 --sinks 3 --dropout 0,0.3,0,0.3 --dropout-seed 9 --positions 300,280 --layout blhd | FileCheck %s --check-prefix=PASS
// Explicit positions equal to the default alignment give the default's
// bytes; the default is checked too.
// RUN: mha-check %t/libpositions.so --fn masked --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --causal --window-left 5,-1,40,-1 --sinks 3 --dropout 0,0.3,0,0.3 --positions 16,0 | FileCheck %s --check-prefix=PASS
func.func @masked(%q: tensor<?x4x?x24xf32>, %k: tensor<?x2x?x24xf32>,
                  %v: tensor<?x2x?x40xf32>)
    -> (tensor<?x4x?x40xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse, causal,
      window_left = array<i64: 5, -1, 40, -1>, sink_tokens = 3,
      dropout = array<f32: 0.0, 0.3, 0.0, 0.3>}
       : tensor<?x4x?x24xf32>, tensor<?x2x?x24xf32>, tensor<?x2x?x40xf32>
       -> tensor<?x4x?x40xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x40xf32>, tensor<?x4x?xf32>
}

// ALiBi, softcap and a right window, non-causal, with probs and entropy;
// half precision.
// RUN: mha-check %t/libpositions.so --fn alibi --lse --probs --entropy --dtype f16 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --alibi 0.5,0.25,0.125,0.0625 --window-right 7 --softcap 30 --positions 300,200 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn alibi --lse --probs --entropy --dtype f16 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --alibi 0.5,0.25,0.125,0.0625 --window-right 7 --softcap 30 --positions 0,100 | FileCheck %s --check-prefix=PASS
func.func @alibi(%q: tensor<?x4x?x24xf16>, %k: tensor<?x2x?x24xf16>,
                 %v: tensor<?x2x?x40xf16>)
    -> (tensor<?x4x?x40xf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %h = mha.attention %q, %k, %v {return_lse, return_probs,
      return_entropy, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      window_right = array<i64: 7>, softcap = 30.0 : f32}
       : tensor<?x4x?x24xf16>, tensor<?x2x?x24xf16>, tensor<?x2x?x40xf16>
       -> tensor<?x4x?x40xf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %h : tensor<?x4x?x40xf16>, tensor<?x4x?xf32>,
                            tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
}

// bf16 pairs (vdpbf16ps) and the generic copy, causal with GQA 4:1.
// RUN: mha-check %t/libpositions.so --fn causal_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 1 --Lq 100 --Lk 90 --D 32 --Dv 32 --causal --positions 400,350 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions-generic.so --fn causal_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 1 --Lq 100 --Lk 90 --D 32 --Dv 32 --causal --positions 400,350 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @causal_bf16(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x1x?x32xbf16>,
                       %v: tensor<?x1x?x32xbf16>) -> tensor<?x4x?x32xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x4x?x32xbf16>, tensor<?x1x?x32xbf16>, tensor<?x1x?x32xbf16>
       -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}

// The backward takes the forward's positions: the split items (D = 24) with
// every mask, dropout and the entropy gradient, and the whole-head items
// (f32, D = 32, 4 KV heads).
// RUN: mha-check %t/libpositions.so --fn train --backward --lse --entropy --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0,0.3,0,0.3 --dropout-seed 77 --positions 100,60 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn train --backward --lse --entropy --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 70 --Lk 90 --D 24 --Dv 40 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0,0.3,0,0.3 --positions 300,250 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libpositions.so --fn whole --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 4 --Lq 100 --Lk 130 --D 32 --Dv 32 --causal --window-left 20 --sinks 3 --positions 500,420 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
func.func @train(%q: tensor<?x4x?x24xf32>, %k: tensor<?x2x?x24xf32>,
                 %v: tensor<?x2x?x40xf32>)
    -> (tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>)
    attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %k, %v {return_lse, return_entropy, causal,
      window_left = array<i64: 5, -1, 9, -1>, sink_tokens = 2, softcap = 20.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      dropout = array<f32: 0.0, 0.3, 0.0, 0.3>}
       : tensor<?x4x?x24xf32>, tensor<?x2x?x24xf32>, tensor<?x2x?x40xf32>
       -> tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %h : tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
func.func @whole(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                 %v: tensor<?x4x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse, causal,
      window_left = array<i64: 20>, sink_tokens = 3}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
}
