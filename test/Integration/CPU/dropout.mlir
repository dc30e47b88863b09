// Head-specific dropout (docs/language.md, 6.7) end to end: the kernels
// draw the Philox4x32-10 keep mask of the contract bit for bit, so o and
// the gradients match the float64 reference built from the same seed and
// offset (mha-check --dropout-seed/--dropout-offset set mha_options), while
// lse, probs and entropy stay those before dropout. Per-head rates with a
// 0 (no dropout) and 0.9, every mask, GQA, f32/f16/bf16 and every ISA copy
// (this CPU's, --isa=host, and a generic library of one function);
// a layer (mha.multi_head) with dropout against the float64 layer reference.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libdropout.so
// RUN: mha-compile %s --isa=generic --function masked_bf16 -o %t/libdropout-generic.so

// Forward and backward; a 64-bit seed and an offset whose high word is
// ignored; layouts; results bit-identical for any thread count.
// RUN: mha-check %t/libdropout.so --fn gqa --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 131 --D 24 --Dv 40 --dropout 0,0.25,0.5,0.9 --dropout-seed 12345678901234 --dropout-offset 0x100000007 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libdropout.so --fn gqa --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 300 --Lk 77 --D 24 --Dv 40 --dropout 0,0.25,0.5,0.9 --layout blhd --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libdropout.so --fn gqa --backward --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 131 --D 24 --Dv 40 --dropout 0,0.25,0.5,0.9 --dropout-seed 12345678901234 --dropout-offset 0x100000007 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libdropout.so --fn gqa --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 70 --Lk 140 --D 24 --Dv 40 --dropout 0,0.25,0.5,0.9 --dropout-seed 3 --layout padded | FileCheck %s --check-prefix=PASS
// The mask depends on the seed: the reference with another rate fails.
// RUN: not mha-check %t/libdropout.so --fn gqa --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 37 --Lk 131 --D 24 --Dv 40 --dropout 0,0.25,0.5,0.8 --dropout-seed 5 | FileCheck %s --check-prefix=FAIL
// FAIL: FAIL fn=gqa
// PASS: PASS fn=
func.func @gqa(%q: tensor<?x4x?x24xf32>, %k: tensor<?x2x?x24xf32>,
               %v: tensor<?x2x?x40xf32>)
    -> (tensor<?x4x?x40xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse,
                 dropout = array<f32: 0.0, 0.25, 0.5, 0.9>}
       : tensor<?x4x?x24xf32>, tensor<?x2x?x24xf32>, tensor<?x2x?x40xf32>
       -> tensor<?x4x?x40xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x40xf32>, tensor<?x4x?xf32>
}

// Every mask and score modifier with dropout, in half precision; probs and
// entropy are those before dropout. bf16 runs the vdpbf16ps copy and the
// generic one.
// RUN: mha-check %t/libdropout.so --fn masked_f16 --dtype f16 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0.1 --dropout-seed 99 --lse --probs --entropy --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libdropout.so --fn masked_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 300 --Lk 301 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0.1 --dropout-seed 99 --lse --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libdropout-generic.so --fn masked_bf16 --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 300 --Lk 301 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0.1 --dropout-seed 99 --lse --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libdropout.so --fn masked_bf16 --backward --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 100 --Lk 101 --D 40 --Dv 24 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0.1 --dropout-seed 99 --lse --threads 2 | FileCheck %s --check-prefix=PASS
func.func @masked_f16(%q: tensor<?x4x?x40xf16>, %k: tensor<?x2x?x40xf16>,
                      %v: tensor<?x2x?x24xf16>)
    -> (tensor<?x4x?x24xf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v {causal,
      window_left = array<i64: 5, -1, 9, -1>, sink_tokens = 2, softcap = 20.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      dropout = array<f32: 0.1>, return_lse, return_probs, return_entropy}
       : tensor<?x4x?x40xf16>, tensor<?x2x?x40xf16>, tensor<?x2x?x24xf16>
       -> tensor<?x4x?x24xf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e : tensor<?x4x?x24xf16>, tensor<?x4x?xf32>,
                            tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
}
func.func @masked_bf16(%q: tensor<?x4x?x40xbf16>, %k: tensor<?x2x?x40xbf16>,
                       %v: tensor<?x2x?x24xbf16>)
    -> (tensor<?x4x?x24xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal,
      window_left = array<i64: 5, -1, 9, -1>, sink_tokens = 2, softcap = 20.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      dropout = array<f32: 0.1>, return_lse}
       : tensor<?x4x?x40xbf16>, tensor<?x2x?x40xbf16>, tensor<?x2x?x24xbf16>
       -> tensor<?x4x?x24xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x24xbf16>, tensor<?x4x?xf32>
}

// A layer with dropout (mha-run calls with NULL options: seed and offset 0,
// as its reference).
// RUN: mha-run %s %t/libdropout.so --batch 2 --seq-len 37 --num-threads 2 | FileCheck %s --check-prefix=LAYER
// LAYER: layer_dropout {{.*}} ok
func.func @layer_dropout(%x: tensor<?x?x96xf32>, %wq: tensor<96x96xf32>, %wk: tensor<96x96xf32>, %wv: tensor<96x96xf32>, %wo: tensor<96x96xf32>) -> tensor<?x?x96xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, causal,
         dropout = array<f32: 0.5, 0.0, 0.2, 0.7>}
     : tensor<?x?x96xf32>, tensor<96x96xf32>, tensor<96x96xf32>, tensor<96x96xf32>, tensor<96x96xf32> -> tensor<?x?x96xf32>
  return %y : tensor<?x?x96xf32>
}
