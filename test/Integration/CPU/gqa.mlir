// Grouped-query and multi-query attention end to end: query head h reads KV
// head h / (Hq / Hkv). Also D != Dv and head dims that are not multiples of
// the vector width.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libgqa.so

// GQA 8:2, D = 32, Dv = 16.
// RUN: mha-check %t/libgqa.so --fn gqa --dtype f32 --B 2 --Hq 8 --Hkv 2 --Lq 37 --Lk 53 --D 32 --Dv 16 --causal
// RUN: mha-check %t/libgqa.so --fn gqa --dtype f32 --B 1 --Hq 8 --Hkv 2 --Lq 53 --Lk 37 --D 32 --Dv 16 --causal --threads 3
func.func @gqa(%q: tensor<?x8x?x32xf32>, %k: tensor<?x2x?x32xf32>,
               %v: tensor<?x2x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x8x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}

// MQA 8:1 with per-head windows, Dv > D.
// RUN: mha-check %t/libgqa.so --fn mqa --dtype f32 --B 2 --Hq 8 --Hkv 1 --Lq 37 --Lk 53 --D 24 --Dv 40 --window-left 2,4,8,16,32,64,-1,0
// RUN: mha-check %t/libgqa.so --fn mqa --dtype f32 --B 2 --Hq 8 --Hkv 1 --Lq 1 --Lk 99 --D 24 --Dv 40 --window-left 2,4,8,16,32,64,-1,0 --threads 3
// RUN: mha-check %t/libgqa.so --fn mqa --dtype f32 --B 2 --Hq 8 --Hkv 1 --Lq 3 --Lk 99 --D 24 --Dv 40 --window-left 2,4,8,16,32,64,-1,0 --threads 3
func.func @mqa(%q: tensor<?x8x?x24xf32>, %k: tensor<?x1x?x24xf32>,
               %v: tensor<?x1x?x40xf32>) -> tensor<?x8x?x40xf32> {
  %o = mha.attention %q, %k, %v
         {window_left = array<i64: 2, 4, 8, 16, 32, 64, -1, 0>}
       : tensor<?x8x?x24xf32>, tensor<?x1x?x24xf32>, tensor<?x1x?x40xf32>
       -> tensor<?x8x?x40xf32>
  return %o : tensor<?x8x?x40xf32>
}

// Odd head dims (7 and 3) and GQA 6:3 with a static batch.
// RUN: mha-check %t/libgqa.so --fn odd_dims --dtype f32 --B 2 --Hq 6 --Hkv 3 --Lq 37 --Lk 53 --D 7 --Dv 3 --threads 3
func.func @odd_dims(%q: tensor<2x6x?x7xf32>, %k: tensor<2x3x?x7xf32>,
                    %v: tensor<2x3x?x3xf32>) -> tensor<2x6x?x3xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<2x6x?x7xf32>, tensor<2x3x?x7xf32>, tensor<2x3x?x3xf32>
       -> tensor<2x6x?x3xf32>
  return %o : tensor<2x6x?x3xf32>
}

// Decoding steps of 9 to 32 rows (16 for bf16) compute their scores by
// keys, K read in place with the rows as vector lanes: MQA 20:1 gives 20
// rows at Lq = 1 (a whole and a partial vector of rows; D = 72 is not a
// multiple of 16) and 40 at Lq = 2 (packed); GQA 32:2 in bf16, 16 rows.
// RUN: mha-check %t/libgqa.so --fn mqa20 --dtype f32 --B 2 --Hq 20 --Hkv 1 --Lq 1 --Lk 1000 --D 72 --causal --softcap 30 --threads 3
// RUN: mha-check %t/libgqa.so --fn mqa20 --dtype f32 --B 1 --Hq 20 --Hkv 1 --Lq 1 --Lk 17 --D 72 --causal --softcap 30
// RUN: mha-check %t/libgqa.so --fn mqa20 --dtype f32 --B 1 --Hq 20 --Hkv 1 --Lq 2 --Lk 333 --D 72 --causal --softcap 30
// RUN: mha-check %t/libgqa.so --fn gqa_bf16 --dtype bf16 --B 2 --Hq 32 --Hkv 2 --Lq 1 --Lk 517 --D 64 --causal --threads 3
// RUN: mha-check %t/libgqa.so --fn gqa_bf16 --dtype bf16 --B 1 --Hq 32 --Hkv 2 --Lq 3 --Lk 200 --D 64 --causal
func.func @mqa20(%q: tensor<?x20x?x72xf32>, %k: tensor<?x1x?x72xf32>,
                 %v: tensor<?x1x?x72xf32>) -> tensor<?x20x?x72xf32> {
  %o = mha.attention %q, %k, %v {causal, softcap = 30.0 : f32}
       : tensor<?x20x?x72xf32>, tensor<?x1x?x72xf32>, tensor<?x1x?x72xf32>
       -> tensor<?x20x?x72xf32>
  return %o : tensor<?x20x?x72xf32>
}
func.func @gqa_bf16(%q: tensor<?x32x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                    %v: tensor<?x2x?x64xbf16>) -> tensor<?x32x?x64xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x32x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>
       -> tensor<?x32x?x64xbf16>
  return %o : tensor<?x32x?x64xbf16>
}

// 16-bit keys without bf16 pairs (f16; bf16 in the AVX-512 copy without
// AVX512-BF16) are widened as they are read: decoding steps of up to 8
// rows sum along D, each key chunk widened once for 4 rows. GQA 12:2 gives
// 6 rows at Lq = 1 (a pass of 4, two of one), D = 40 a partial vector.
// RUN: mha-check %t/libgqa.so --fn gqa6_f16 --dtype f16 --B 2 --Hq 12 --Hkv 2 --Lq 1 --Lk 700 --D 40 --causal --softcap 5 --threads 3
// RUN: mha-check %t/libgqa.so --fn gqa6_f16 --dtype f16 --B 1 --Hq 12 --Hkv 2 --Lq 1 --Lk 9 --D 40 --causal --softcap 5
// RUN: env MHA_ISA=avx512 mha-check %t/libgqa.so --fn gqa6_bf16 --dtype bf16 --B 2 --Hq 12 --Hkv 2 --Lq 1 --Lk 700 --D 40 --causal --threads 3
func.func @gqa6_f16(%q: tensor<?x12x?x40xf16>, %k: tensor<?x2x?x40xf16>,
                    %v: tensor<?x2x?x40xf16>) -> tensor<?x12x?x40xf16> {
  %o = mha.attention %q, %k, %v {causal, softcap = 5.0 : f32}
       : tensor<?x12x?x40xf16>, tensor<?x2x?x40xf16>, tensor<?x2x?x40xf16>
       -> tensor<?x12x?x40xf16>
  return %o : tensor<?x12x?x40xf16>
}
func.func @gqa6_bf16(%q: tensor<?x12x?x40xbf16>, %k: tensor<?x2x?x40xbf16>,
                     %v: tensor<?x2x?x40xbf16>) -> tensor<?x12x?x40xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x12x?x40xbf16>, tensor<?x2x?x40xbf16>, tensor<?x2x?x40xbf16>
       -> tensor<?x12x?x40xbf16>
  return %o : tensor<?x12x?x40xbf16>
}
