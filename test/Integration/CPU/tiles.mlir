// Tile sizes that do not divide the problem: mha-compile's --rows (query rows
// per work item) and --cols (keys per kv tile) change the loop structure,
// never the results. Partial tiles at both ends, tiles larger than the
// sequence, one-row / one-key tiles, with masks that cut tiles in the middle.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu --rows 4 --cols 8 -o %t/r4c8/libtiles.so
// RUN: mha-compile %s --isa=host --target=cpu --rows 1 --cols 1 -o %t/r1c1/libtiles.so
// RUN: mha-compile %s --isa=host --target=cpu --rows 3 --cols 5 -o %t/r3c5/libtiles.so
// RUN: mha-compile %s --isa=host --target=cpu --rows 32 --cols 128 -o %t/r32c128/libtiles.so
// RUN: mha-compile %s --isa=host --target=cpu --rows 32 --cols 16 --band-rows 6 -o %t/r32b6/libtiles.so

// RUN: mha-check %t/r4c8/libtiles.so --fn f --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --lse --probs --entropy --threads 3
// RUN: mha-check %t/r1c1/libtiles.so --fn f --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 23 --Lk 19 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --lse --probs --entropy
// RUN: mha-check %t/r3c5/libtiles.so --fn f --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 53 --Lk 37 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --lse --probs --entropy --layout blhd
// RUN: mha-check %t/r32c128/libtiles.so --fn f --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --lse --probs --entropy --threads 3
// RUN: mha-check %t/r4c8/libtiles.so --fn g --dtype bf16 --B 2 --Hq 2 --Lq 37 --Lk 53 --D 24 --softcap 5 --alibi 0.1,0.3 --threads 3
// Bands of 6 rows (not a multiple of the 4-row micro-kernels) in 32-row
// q-tiles; bands above the diagonal are skipped, with and without recorded
// probabilities.
// RUN: mha-check %t/r32b6/libtiles.so --fn f --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --lse --probs --entropy --threads 3
// RUN: mha-check %t/r32b6/libtiles.so --fn h --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 70 --Lk 70 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --entropy --threads 3
// RUN: mha-check %t/r32b6/libtiles.so --fn h --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 45 --Lk 90 --D 16 --Dv 8 --causal --sinks 3 --window-left 5,-1,0,12 --window-right 2,-1,0,-1 --entropy
// RUN: mha-check %t/r32b6/libtiles.so --fn g --dtype bf16 --B 2 --Hq 2 --Lq 37 --Lk 53 --D 24 --softcap 5 --alibi 0.1,0.3 --threads 3
// RUN: mha-check %t/r3c5/libtiles.so --fn g --dtype bf16 --B 2 --Hq 2 --Lq 37 --Lk 53 --D 24 --softcap 5 --alibi 0.1,0.3 --layout padded --byte-offset 6
func.func @f(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
             %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 3, window_left = array<i64: 5, -1, 0, 12>,
          window_right = array<i64: 2, -1, 0, -1>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
func.func @g(%q: tensor<?x2x?x24xbf16>, %k: tensor<?x2x?x24xbf16>,
             %v: tensor<?x2x?x24xbf16>) -> tensor<?x2x?x24xbf16> {
  %o = mha.attention %q, %k, %v
         {softcap = 5.0 : f32, alibi_slopes = array<f32: 0.1, 0.3>}
       : tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>
       -> tensor<?x2x?x24xbf16>
  return %o : tensor<?x2x?x24xbf16>
}
func.func @h(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
             %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 3, window_left = array<i64: 5, -1, 0, 12>,
          window_right = array<i64: 2, -1, 0, -1>, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %e : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}
