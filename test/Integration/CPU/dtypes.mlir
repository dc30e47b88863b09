// f16 and bf16 end to end: inputs rounded to the element type (the reference
// uses exactly the rounded values), f32 accumulation, o rounded back; lse,
// probs and entropy are f32. Tolerance 1e-2 (docs/language.md "Precision").
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libdtypes.so

// RUN: mha-check %t/libdtypes.so --fn plain_f16 --dtype f16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 64
// RUN: mha-check %t/libdtypes.so --fn plain_bf16 --dtype bf16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 64 --threads 3
func.func @plain_f16(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                     %v: tensor<?x4x?x64xf16>) -> tensor<?x4x?x64xf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>
       -> tensor<?x4x?x64xf16>
  return %o : tensor<?x4x?x64xf16>
}
func.func @plain_bf16(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
                      %v: tensor<?x4x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>
       -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

// Multi-scale GQA with sinks and every extra result.
// RUN: mha-check %t/libdtypes.so --fn local_f16 --dtype f16 --B 2 --Hq 8 --Hkv 2 --Lq 53 --Lk 37 --D 32 --Dv 16 --causal --sinks 4 --window-left 8,-1,8,-1,0,-1,20,-1 --lse --probs --entropy
// RUN: mha-check %t/libdtypes.so --fn local_bf16 --dtype bf16 --B 2 --Hq 8 --Hkv 2 --Lq 37 --Lk 53 --D 32 --Dv 16 --causal --sinks 4 --window-left 8,-1,8,-1,0,-1,20,-1 --lse --probs --entropy --threads 3
func.func @local_f16(%q: tensor<?x8x?x32xf16>, %k: tensor<?x2x?x32xf16>,
                     %v: tensor<?x2x?x16xf16>)
    -> (tensor<?x8x?x16xf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
        tensor<?x8x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 4,
          window_left = array<i64: 8, -1, 8, -1, 0, -1, 20, -1>,
          return_lse, return_probs, return_entropy}
       : tensor<?x8x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x16xf16>
       -> tensor<?x8x?x16xf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
          tensor<?x8x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x8x?x16xf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
         tensor<?x8x?xf32>
}
func.func @local_bf16(%q: tensor<?x8x?x32xbf16>, %k: tensor<?x2x?x32xbf16>,
                      %v: tensor<?x2x?x16xbf16>)
    -> (tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
        tensor<?x8x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 4,
          window_left = array<i64: 8, -1, 8, -1, 0, -1, 20, -1>,
          return_lse, return_probs, return_entropy}
       : tensor<?x8x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x16xbf16>
       -> tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
          tensor<?x8x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
         tensor<?x8x?xf32>
}

// Score modifiers and head masks in half precision, MQA, odd head dim.
// RUN: mha-check %t/libdtypes.so --fn mods_f16 --dtype f16 --B 2 --Hq 4 --Hkv 1 --Lq 37 --Lk 53 --D 40 --temperature 0.5,1,2,4 --softcap 3 --alibi 0.25,0.125,0.0625,0.03125 --head-mask 1,1,1,0 --runtime-head-mask 1,0,1,1
// RUN: mha-check %t/libdtypes.so --fn mods_bf16 --dtype bf16 --B 2 --Hq 4 --Hkv 1 --Lq 37 --Lk 53 --D 40 --temperature 0.5,1,2,4 --softcap 3 --alibi 0.25,0.125,0.0625,0.03125 --head-mask 1,1,1,0 --layout blhd --threads 3
func.func @mods_f16(%q: tensor<?x4x?x40xf16>, %k: tensor<?x1x?x40xf16>,
                    %v: tensor<?x1x?x40xf16>) -> tensor<?x4x?x40xf16> {
  %o = mha.attention %q, %k, %v
         {temperature = array<f32: 0.5, 1.0, 2.0, 4.0>, softcap = 3.0 : f32,
          alibi_slopes = array<f32: 0.25, 0.125, 0.0625, 0.03125>,
          head_mask = array<i1: true, true, true, false>}
       : tensor<?x4x?x40xf16>, tensor<?x1x?x40xf16>, tensor<?x1x?x40xf16>
       -> tensor<?x4x?x40xf16>
  return %o : tensor<?x4x?x40xf16>
}
func.func @mods_bf16(%q: tensor<?x4x?x40xbf16>, %k: tensor<?x1x?x40xbf16>,
                     %v: tensor<?x1x?x40xbf16>) -> tensor<?x4x?x40xbf16> {
  %o = mha.attention %q, %k, %v
         {temperature = array<f32: 0.5, 1.0, 2.0, 4.0>, softcap = 3.0 : f32,
          alibi_slopes = array<f32: 0.25, 0.125, 0.0625, 0.03125>,
          head_mask = array<i1: true, true, true, false>}
       : tensor<?x4x?x40xbf16>, tensor<?x1x?x40xbf16>, tensor<?x1x?x40xbf16>
       -> tensor<?x4x?x40xbf16>
  return %o : tensor<?x4x?x40xbf16>
}

// Huge scores in half precision (|s| ~ 1e4 for bf16; f16 inputs stay below
// 65504, so |s| ~ 2e3).
// RUN: mha-check %t/libdtypes.so --fn plain_bf16 --dtype bf16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 64 --scores-scale 1e4
// RUN: mha-check %t/libdtypes.so --fn plain_f16 --dtype f16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 64 --scores-scale 2e3
