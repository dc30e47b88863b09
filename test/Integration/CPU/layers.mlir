// Whole layers (mha.multi_head) end to end against the float64 layer
// reference (lib/Reference/LayerReference.cpp): every sharing scheme, with
// and without biases, RoPE, GQA/MQA, causal and windows, pruned heads,
// f32/f16/bf16, odd sizes, static and dynamic B and L, every ISA copy:
// this CPU's (--isa=host; MHA_ISA=avx512 for the bf16 layers' AVX-512 copy
// where the CPU also has AVX512-BF16), and the AVX2 and generic copies of
// a sample, one library each.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/liblayers.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/liblayers.h
// RUN: mha-run %s %t/liblayers.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: mha-run %s %t/liblayers.so --batch 1 --seq-len 1 | FileCheck %s
// RUN: mha-run %s %t/liblayers.so --batch 3 --seq-len 203 --num-threads 3 | FileCheck %s
// RUN: env MHA_ISA=avx512 mha-run %s %t/liblayers.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: mha-compile %s --isa=avx2 --function gqa_all --function mqa_bf16 --function shared_f16 --function pruned_group --function grouped_f32 --function lowrank_q_o -o %t/libavx2.so
// RUN: mha-run %s %t/libavx2.so --function gqa_all --function mqa_bf16 --function shared_f16 --function pruned_group --function grouped_f32 --function lowrank_q_o --batch 2 --seq-len 101 | FileCheck %s --check-prefix=AVX2
// RUN: mha-compile %s --isa=generic --function mha_plain --function shared_f32 --function pruned_shared --function wide_heads --function grouped_pruned_bf16 --function lowrank_kv_bf16 -o %t/libgeneric.so
// RUN: mha-run %s %t/libgeneric.so --function mha_plain --function shared_f32 --function pruned_shared --function wide_heads --function grouped_pruned_bf16 --function lowrank_kv_bf16 --batch 2 --seq-len 37 --num-threads 1 | FileCheck %s --check-prefix=GENERIC
// AVX2: gqa_all {{.*}} ok
// AVX2: mqa_bf16 {{.*}} ok
// AVX2: shared_f16 {{.*}} ok
// AVX2: pruned_group {{.*}} ok
// AVX2: grouped_f32 {{.*}} ok
// AVX2: lowrank_q_o {{.*}} ok
// GENERIC: mha_plain {{.*}} ok
// GENERIC: shared_f32 {{.*}} ok
// GENERIC: pruned_shared {{.*}} ok
// GENERIC: wide_heads {{.*}} ok
// GENERIC: grouped_pruned_bf16 {{.*}} ok
// GENERIC: lowrank_kv_bf16 {{.*}} ok

// CHECK: mha_plain MHA f32 {{.*}} ok
// Plain multi-head, no bias, no RoPE; d = 96 is not a multiple of the
// 128-column blocks of the output projection, D = 24 not of the vector.
func.func @mha_plain(%x: tensor<?x?x96xf32>, %wq: tensor<96x96xf32>, %wk: tensor<96x96xf32>, %wv: tensor<96x96xf32>, %wo: tensor<96x96xf32>) -> tensor<?x?x96xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4}
     : tensor<?x?x96xf32>, tensor<96x96xf32>, tensor<96x96xf32>, tensor<96x96xf32>, tensor<96x96xf32> -> tensor<?x?x96xf32>
  return %y : tensor<?x?x96xf32>
}

// CHECK: gqa_all GQA qkv-bias out-bias rope causal windows f32 {{.*}} ok
// GQA 8:2 with every bias, RoPE, causal and per-head windows; d = 160 is
// more than one output block.
func.func @gqa_all(%x: tensor<?x?x160xf32>, %wq: tensor<160x128xf32>, %wk: tensor<160x32xf32>, %wv: tensor<160x32xf32>, %wo: tensor<128x160xf32>, %bq: tensor<128xf32>, %bk: tensor<32xf32>, %bv: tensor<32xf32>, %bo: tensor<160xf32>) -> tensor<?x?x160xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 8, num_kv_heads = 2, has_qkv_bias, has_out_bias, rope_theta = 500.0 : f32, causal, window_left = array<i64: 5, 9, -1, 3, 7, -1, 2, 20>}
     : tensor<?x?x160xf32>, tensor<160x128xf32>, tensor<160x32xf32>, tensor<160x32xf32>, tensor<128x160xf32>, tensor<128xf32>, tensor<32xf32>, tensor<32xf32>, tensor<160xf32> -> tensor<?x?x160xf32>
  return %y : tensor<?x?x160xf32>
}

// CHECK: mqa_bf16 MQA out-bias rope bf16 {{.*}} ok
// MQA in bf16 with static B, RoPE and only the output bias.
func.func @mqa_bf16(%x: tensor<2x?x64xbf16>, %wq: tensor<64x64xbf16>, %wk: tensor<64x16xbf16>, %wv: tensor<64x16xbf16>, %wo: tensor<64x64xbf16>, %bo: tensor<64xbf16>) -> tensor<2x?x64xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 4, num_kv_heads = 1, has_out_bias, rope_theta = 10000.0 : f32}
     : tensor<2x?x64xbf16>, tensor<64x64xbf16>, tensor<64x16xbf16>, tensor<64x16xbf16>, tensor<64x64xbf16>, tensor<64xbf16> -> tensor<2x?x64xbf16>
  return %y : tensor<2x?x64xbf16>
}

// CHECK: shared_f16 GQA shared qkv-bias out-bias rope causal f16 {{.*}} ok
// Shared projections with per-head biases, GQA 4:2, RoPE, f16.
func.func @shared_f16(%x: tensor<?x?x48xf16>, %wq: tensor<48x32xf16>, %wk: tensor<48x32xf16>, %wv: tensor<48x32xf16>, %wo: tensor<128x48xf16>, %bq: tensor<4x32xf16>, %bk: tensor<2x32xf16>, %bv: tensor<2x32xf16>, %bo: tensor<48xf16>) -> tensor<?x?x48xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, has_out_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x48xf16>, tensor<48x32xf16>, tensor<48x32xf16>, tensor<48x32xf16>, tensor<128x48xf16>, tensor<4x32xf16>, tensor<2x32xf16>, tensor<2x32xf16>, tensor<48xf16> -> tensor<?x?x48xf16>
  return %y : tensor<?x?x48xf16>
}

// CHECK: shared_f32 MHA shared qkv-bias windows f32 {{.*}} ok
// Shared projections in f32 (tolerance 1e-5), no RoPE, sliding window.
func.func @shared_f32(%x: tensor<?x?x64xf32>, %wq: tensor<64x16xf32>, %wk: tensor<64x16xf32>, %wv: tensor<64x16xf32>, %wo: tensor<48x64xf32>, %bq: tensor<3x16xf32>, %bk: tensor<3x16xf32>, %bv: tensor<3x16xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 3, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, window_left = array<i64: 8>, window_right = array<i64: 8>}
     : tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<48x64xf32>, tensor<3x16xf32>, tensor<3x16xf32>, tensor<3x16xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// CHECK: pruned_f16 GQA qkv-bias causal pruned f16 {{.*}} ok
// Heads 1 and 2 of 4 pruned (mha-prune-heads): their columns and rows of
// Wo are never computed, the output matches the reference's zero heads.
func.func @pruned_f16(%x: tensor<?x?x80xf16>, %wq: tensor<80x80xf16>, %wk: tensor<80x40xf16>, %wv: tensor<80x40xf16>, %wo: tensor<80x80xf16>, %bq: tensor<80xf16>, %bk: tensor<40xf16>, %bv: tensor<40xf16>) -> tensor<?x?x80xf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, has_qkv_bias, head_mask = array<i1: true, false, false, true>, causal}
     : tensor<?x?x80xf16>, tensor<80x80xf16>, tensor<80x40xf16>, tensor<80x40xf16>, tensor<80x80xf16>, tensor<80xf16>, tensor<40xf16>, tensor<40xf16> -> tensor<?x?x80xf16>
  return %y : tensor<?x?x80xf16>
}

// CHECK: pruned_group GQA rope pruned f32 {{.*}} ok
// A whole KV group pruned, with RoPE.
func.func @pruned_group(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, head_mask = array<i1: false, false, true, true>, rope_theta = 10000.0 : f32}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// CHECK: pruned_shared MHA shared qkv-bias pruned bf16 {{.*}} ok
// A pruned head of a shared layer, bf16.
func.func @pruned_shared(%x: tensor<?x?x32xbf16>, %wq: tensor<32x16xbf16>, %wk: tensor<32x16xbf16>, %wv: tensor<32x16xbf16>, %wo: tensor<32x32xbf16>, %bq: tensor<2x16xbf16>, %bk: tensor<2x16xbf16>, %bv: tensor<2x16xbf16>) -> tensor<?x?x32xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, head_mask = array<i1: false, true>}
     : tensor<?x?x32xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x32xbf16>, tensor<2x16xbf16>, tensor<2x16xbf16>, tensor<2x16xbf16> -> tensor<?x?x32xbf16>
  return %y : tensor<?x?x32xbf16>
}

// CHECK: with_extras GQA rope causal windows pruned f32 {{.*}} ok
// The attention's lse, probabilities and entropy of a layer, returned
// beside y (before it), with a pruned head and windows.
func.func @with_extras(%x: tensor<?x?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<64x64xf32>) -> (tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x?x64xf32>, tensor<?x4x?xf32>) {
  %y, %lse, %p, %e = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal, window_left = array<i64: 3, -1, 6, -1>, head_mask = array<i1: true, true, false, true>, return_lse, return_probs, return_entropy}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
  return %lse, %p, %y, %e : tensor<?x4x?xf32>, tensor<?x4x?x?xf32>, tensor<?x?x64xf32>, tensor<?x4x?xf32>
}

// CHECK: wide_heads MQA rope causal f32 {{.*}} ok
// Head dim 512: GEMM items wider than the 128-column blocks, RoPE over
// 256-column halves.
func.func @wide_heads(%x: tensor<?x?x96xf32>, %wq: tensor<96x1024xf32>, %wk: tensor<96x512xf32>, %wv: tensor<96x512xf32>, %wo: tensor<1024x96xf32>) -> tensor<?x?x96xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, num_kv_heads = 1, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x96xf32>, tensor<96x1024xf32>, tensor<96x512xf32>, tensor<96x512xf32>, tensor<1024x96xf32> -> tensor<?x?x96xf32>
  return %y : tensor<?x?x96xf32>
}

// CHECK: static_len MHA rope causal f32 {{.*}} ok
// Static B and L (the flags do not apply), a softcap and ALiBi passed
// through to the attention.
func.func @static_len(%x: tensor<2x19x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x32xf32>, %wv: tensor<32x32xf32>, %wo: tensor<32x32xf32>) -> tensor<2x19x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, rope_theta = 10000.0 : f32, causal, softcap = 5.0 : f32, alibi_slopes = array<f32: 0.5, 0.25>}
     : tensor<2x19x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32> -> tensor<2x19x32xf32>
  return %y : tensor<2x19x32xf32>
}

// CHECK: constants_f32 MHA qkv-bias rope causal f32 {{.*}} ok
// Wq, Wk and the Q/K/V biases are constants of the spec: packed (Wq, Wk)
// and stored (biases) at compile time; only x, Wv and Wo are parameters.
func.func @constants_f32(%x: tensor<?x?x16xf32>, %wv: tensor<16x16xf32>, %wo: tensor<16x16xf32>) -> tensor<?x?x16xf32> {
  %wq = arith.constant dense<[[0.2479, -0.1892, 0.0042, 0.1836, -0.2489, 0.1480, 0.0516, -0.2168, 0.2373, -0.0994, -0.1048, 0.2391, -0.2138, 0.0458, 0.1528, -0.2494], [0.1267, -0.2108, 0.2488, -0.2326, 0.1655, -0.0623, -0.0544, 0.1594, -0.2295, 0.2495, -0.2151, 0.1337, -0.0231, -0.0925, 0.1879, -0.2423], [-0.0924, 0.0683, -0.0436, 0.0184, 0.0070, -0.0323, 0.0573, -0.0817, 0.1052, -0.1277, 0.1488, -0.1684, 0.1863, -0.2022, 0.2161, -0.2277], [-0.2401, 0.2500, -0.2420, 0.2166, -0.1757, 0.1223, -0.0601, -0.0064, 0.0725, -0.1333, 0.1846, -0.2227, 0.2449, -0.2495, 0.2362, -0.2060], [-0.2024, 0.0750, 0.0819, -0.2065, 0.2498, -0.1947, 0.0629, 0.0937, -0.2134, 0.2490, -0.1865, 0.0506, 0.1052, -0.2197, 0.2475, -0.1779], [-0.0083, -0.2070, 0.2290, -0.0372, -0.1893, 0.2391, -0.0657, -0.1690, 0.2460, -0.0933, -0.1465, 0.2495, -0.1196, -0.1220, 0.2497, -0.1442], [0.1922, -0.1937, -0.1181, 0.2389, 0.0268, -0.2491, 0.0685, 0.2229, -0.1537, -0.1641, 0.2165, 0.0813, -0.2476, 0.0134, 0.2425, -0.1061], [0.2442, 0.0959, -0.2103, -0.1702, 0.1502, 0.2233, -0.0713, -0.2484, -0.0165, 0.2426, 0.1022, -0.2065, -0.1752, 0.1446, 0.2263, -0.0646], [0.1076, 0.2487, 0.1514, -0.0910, -0.2462, -0.1653, 0.0740, 0.2424, 0.1784, -0.0567, -0.2374, -0.1905, 0.0390, 0.2311, 0.2017, -0.0211], [-0.1122, 0.0467, 0.1864, 0.2493, 0.2096, 0.0836, -0.0768, -0.2056, -0.2497, -0.1910, -0.0537, 0.1057, 0.2216, 0.2463, 0.1696, 0.0230], [-0.2452, -0.2219, -0.1809, -0.1254, -0.0600, 0.0102, 0.0796, 0.1426, 0.1943, 0.2305, 0.2484, 0.2464, 0.2249, 0.1854, 0.1311, 0.0665], [-0.1889, -0.1740, -0.1577, -0.1403, -0.1219, -0.1025, -0.0823, -0.0615, -0.0403, -0.0187, 0.0029, 0.0246, 0.0461, 0.0672, 0.0878, 0.1078], [0.0134, 0.1221, 0.2058, 0.2473, 0.2381, 0.1800, 0.0850, -0.0274, -0.1342, -0.2135, -0.2490, -0.2334, -0.1700, -0.0717, 0.0413, 0.1458], [0.2053, 0.2440, 0.1252, -0.0745, -0.2260, -0.2317, -0.0878, 0.1128, 0.2405, 0.2130, 0.0480, -0.1481, -0.2485, -0.1885, -0.0068, 0.1792], [0.2386, 0.0178, -0.2256, -0.1826, 0.0922, 0.2500, 0.0905, -0.1839, -0.2248, 0.0196, 0.2392, 0.1551, -0.1258, -0.2471, -0.0547, 0.2071], [0.0876, -0.2338, -0.0895, 0.2331, 0.0913, -0.2324, -0.0932, 0.2316, 0.0950, -0.2309, -0.0968, 0.2301, 0.0987, -0.2293, -0.1005, 0.2285]]> : tensor<16x16xf32>
  %wk = arith.constant dense<[[-0.0639, -0.1377, 0.2473, -0.1919, 0.0084, 0.1807, -0.2492, 0.1514, 0.0475, -0.2147, 0.2386, -0.1032, -0.1010, 0.2378, -0.2159, 0.0499], [-0.2300, 0.1604, -0.0558, -0.0610, 0.1645, -0.2321, 0.2490, -0.2116, 0.1279, -0.0164, -0.0987, 0.1923, -0.2439, 0.2422, -0.1877, 0.0922], [-0.2185, 0.2297, -0.2385, 0.2449, -0.2487, 0.2500, -0.2487, 0.2448, -0.2385, 0.2296, -0.2184, 0.2049, -0.1893, 0.1718, -0.1525, 0.1316], [-0.0381, -0.0287, 0.0936, -0.1517, 0.1990, -0.2320, 0.2484, -0.2470, 0.2279, -0.1925, 0.1434, -0.0839, 0.0185, 0.0483, -0.1116, 0.1670], [0.1717, -0.2462, 0.2237, -0.1131, -0.0420, 0.1806, -0.2480, 0.2178, -0.1017, -0.0544, 0.1891, -0.2493, 0.2113, -0.0901, -0.0666, 0.1971], [0.2488, -0.1124, -0.1290, 0.2499, -0.1376, -0.1032, 0.2477, -0.1609, -0.0761, 0.2420, -0.1820, -0.0479, 0.2331, -0.2007, -0.0191, 0.2211], [0.1338, 0.1817, -0.2033, -0.1040, 0.2430, 0.0110, -0.2473, 0.0835, 0.2153, -0.1659, -0.1519, 0.2240, 0.0662, -0.2493, 0.0291, 0.2382], [-0.0846, 0.2166, 0.1611, -0.1597, -0.2176, 0.0828, 0.2468, 0.0044, -0.2452, -0.0911, 0.2131, 0.1664, -0.1543, -0.2209, 0.0762, 0.2478], [-0.2377, -0.0575, 0.1778, 0.2426, 0.0749, -0.1647, -0.2463, -0.0918, 0.1507, 0.2488, 0.1083, -0.1360, -0.2499, -0.1243, 0.1205, 0.2498], [-0.2071, -0.2496, -0.1893, -0.0511, 0.1082, 0.2229, 0.2458, 0.1676, 0.0203, -0.1353, -0.2352, -0.2383, -0.1433, 0.0107, 0.1603, 0.2439], [-0.0166, -0.0856, -0.1478, -0.1983, -0.2329, -0.2490, -0.2453, -0.2220, -0.1810, -0.1256, -0.0602, 0.0100, 0.0794, 0.1424, 0.1942, 0.2304], [0.1868, 0.2005, 0.2127, 0.2233, 0.2322, 0.2393, 0.2447, 0.2482, 0.2499, 0.2496, 0.2475, 0.2435, 0.2377, 0.2301, 0.2208, 0.2098], [0.2458, 0.2006, 0.1142, 0.0044, -0.1063, -0.1952, -0.2441, -0.2429, -0.1919, -0.1015, 0.0096, 0.1188, 0.2037, 0.2467, 0.2392, 0.1826], [0.1150, -0.0855, -0.2307, -0.2271, -0.0768, 0.1230, 0.2434, 0.2067, 0.0365, -0.1572, -0.2495, -0.1807, 0.0048, 0.1871, 0.2487, 0.1497], [-0.1047, -0.2496, -0.0777, 0.1928, 0.2186, -0.0331, -0.2428, -0.1442, 0.1374, 0.2446, 0.0414, -0.2144, -0.1980, 0.0697, 0.2490, 0.1122], [-0.2435, -0.0577, 0.2430, 0.0596, -0.2426, -0.0615, 0.2421, 0.0635, -0.2416, -0.0654, 0.2410, 0.0673, -0.2405, -0.0692, 0.2400, 0.0711]]> : tensor<16x16xf32>
  %bq = arith.constant dense<[0.2702, -0.3331, -0.4484, 0.0933, 0.4983, 0.1733, -0.4055, -0.3903, 0.1967, 0.4955, 0.0684, -0.4590, -0.3139, 0.2910, 0.4696, -0.0398]> : tensor<16xf32>
  %bk = arith.constant dense<[-0.2081, -0.4937, -0.0561, 0.4637, 0.3042, -0.3010, -0.4652, 0.0521, 0.4931, 0.2117, -0.3798, -0.4149, 0.1579, 0.4994, 0.1093, -0.4409]> : tensor<16xf32>
  %bv = arith.constant dense<[-0.4950, -0.2004, 0.3878, 0.4079, -0.1696, -0.4986, -0.0972, 0.4466, 0.3361, -0.2668, -0.4788, 0.0106, 0.4845, 0.2486, -0.3515, -0.4367]> : tensor<16xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 2, has_qkv_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// CHECK: grouped_f32 GQA grouped qkv-bias out-bias rope causal f32 {{.*}} ok
// Grouped projections: 8 query heads in 2 groups, 4 KV heads in 2 groups,
// D = 16, per-head biases, RoPE.
func.func @grouped_f32(%x: tensor<?x?x64xf32>, %wq: tensor<64x32xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x32xf32>, %wo: tensor<128x64xf32>, %bq: tensor<8x16xf32>, %bk: tensor<4x16xf32>, %bv: tensor<4x16xf32>, %bo: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 8, num_kv_heads = 4, sharing = #mha.sharing<grouped>, has_qkv_bias, has_out_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<128x64xf32>, tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// CHECK: grouped_pruned_bf16 GQA grouped qkv-bias pruned bf16 {{.*}} ok
// 6 query heads in 3 groups of 2 (D = 24), 2 KV heads in one group; heads
// 2 and 3 (all of group 1) and 5 pruned: group 1 is never computed.
func.func @grouped_pruned_bf16(%x: tensor<?x?x40xbf16>, %wq: tensor<40x72xbf16>, %wk: tensor<40x24xbf16>, %wv: tensor<40x24xbf16>, %wo: tensor<144x40xbf16>, %bq: tensor<6x24xbf16>, %bk: tensor<2x24xbf16>, %bv: tensor<2x24xbf16>) -> tensor<?x?x40xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 6, num_kv_heads = 2, sharing = #mha.sharing<grouped>, has_qkv_bias, head_mask = array<i1: true, true, false, false, true, false>}
     : tensor<?x?x40xbf16>, tensor<40x72xbf16>, tensor<40x24xbf16>, tensor<40x24xbf16>, tensor<144x40xbf16>, tensor<6x24xbf16>, tensor<2x24xbf16>, tensor<2x24xbf16> -> tensor<?x?x40xbf16>
  return %y : tensor<?x?x40xbf16>
}

// CHECK: grouped_constants MHA grouped qkv-bias rope f32 {{.*}} ok
// Constant grouped weights and biases, packed at compile time group by
// group: 4 heads of D = 8 in 2 groups.
func.func @grouped_constants(%x: tensor<?x?x16xf32>, %wo: tensor<32x16xf32>) -> tensor<?x?x16xf32> {
  %wq = arith.constant dense<[[-0.1409, -0.2793, 0.1207, -0.3421, 0.0287, -0.1074, -0.3536, 0.0059, -0.3700, -0.0531, -0.3441, -0.3274, -0.0604, 0.2615, -0.3010, -0.2214], [0.1019, 0.3582, 0.0617, -0.0827, 0.3810, -0.3627, 0.2868, -0.1683, -0.2846, -0.3058, -0.1532, 0.2529, -0.2554, 0.0653, 0.1111, -0.1021], [0.0382, -0.3498, -0.3523, -0.2352, 0.1443, -0.0579, -0.1487, 0.0684, -0.0375, -0.1602, 0.2355, 0.1592, -0.2047, 0.0595, 0.0202, 0.3001], [0.1836, -0.1696, 0.3841, -0.3055, -0.0655, 0.2057, -0.2784, -0.0088, -0.3686, 0.1346, 0.2117, 0.0584, 0.3004, -0.1490, 0.1562, 0.0755], [0.0639, -0.0350, 0.2720, 0.3557, -0.0207, 0.1313, -0.3515, 0.1612, 0.1177, 0.3945, 0.2575, -0.1723, -0.0914, 0.1349, -0.3819, -0.0306], [-0.2656, -0.3063, -0.3528, 0.2146, -0.2965, -0.2019, -0.0872, 0.2971, -0.3355, -0.0407, 0.0396, 0.3067, 0.2554, 0.2912, -0.1773, -0.0678], [-0.1130, 0.3074, 0.3662, -0.2793, -0.2590, -0.2144, -0.2133, -0.0120, 0.0713, -0.1898, -0.3967, -0.0648, -0.1046, 0.0531, 0.3625, 0.1524], [0.0124, 0.0941, 0.1410, -0.3568, 0.3196, 0.2240, 0.2996, 0.2383, -0.0861, -0.0808, -0.3172, 0.1074, -0.3502, -0.3461, -0.2330, -0.2702], [-0.1280, -0.3579, -0.3998, -0.2790, -0.3188, -0.1091, -0.3796, 0.2995, 0.0913, -0.2812, -0.1982, -0.1221, -0.1087, -0.3017, 0.2791, 0.3945], [-0.0272, -0.0129, -0.3313, -0.3182, -0.1259, -0.1882, 0.2631, -0.2708, -0.3815, 0.3608, 0.0226, -0.2827, 0.0345, -0.3784, 0.0225, 0.3828], [0.2907, 0.1570, -0.1911, -0.1066, -0.2664, 0.2176, 0.0261, 0.2232, -0.1363, -0.2216, 0.2492, 0.3879, 0.2821, 0.2449, 0.2547, 0.1919], [-0.2186, 0.0141, -0.1155, -0.3768, -0.3777, -0.1765, -0.1927, 0.1540, 0.3652, -0.0422, 0.3496, 0.3904, 0.3640, -0.1083, -0.2236, -0.2185], [-0.2426, -0.2365, 0.0993, 0.3202, 0.2723, -0.0164, 0.1224, 0.2397, -0.3322, 0.1285, 0.3278, 0.2258, 0.2001, -0.0176, -0.2572, 0.2313], [-0.1340, 0.2407, 0.3773, -0.0833, -0.0789, 0.3574, 0.1798, -0.2640, -0.2984, -0.2791, 0.3239, 0.2452, -0.2831, 0.2612, 0.3842, 0.1258], [-0.1197, 0.0389, -0.2952, -0.3886, 0.3767, 0.1197, 0.0213, 0.3469, -0.0530, 0.2974, 0.2609, -0.2312, -0.1985, -0.1656, -0.2076, 0.0691], [-0.1925, -0.0648, -0.2951, 0.3280, -0.1170, -0.0335, 0.0667, 0.3234, -0.0635, 0.3342, 0.0013, 0.0255, 0.0188, -0.3850, -0.0479, -0.2535]]> : tensor<16x16xf32>
  %wk = arith.constant dense<[[-0.3969, 0.2393, -0.2621, -0.0212, 0.1802, 0.0452, -0.1392, 0.0147, 0.0444, 0.2274, -0.3151, 0.0482, -0.2012, -0.1785, 0.2178, 0.0062], [0.0494, 0.2080, 0.3300, -0.0454, 0.0900, 0.0044, 0.0097, 0.1542, -0.0381, 0.0266, -0.0176, 0.3532, 0.1594, 0.3012, 0.3537, -0.1923], [0.0476, 0.3546, 0.2720, -0.2903, -0.3027, -0.0463, -0.3420, -0.2075, -0.3415, 0.1356, 0.2271, 0.3176, -0.2764, 0.1729, 0.1282, -0.2856], [0.3063, 0.3740, -0.2243, 0.3620, -0.0814, -0.0102, 0.3919, 0.2660, -0.2708, -0.0548, 0.0125, -0.1287, -0.2434, -0.1452, 0.1777, -0.3844], [0.0432, -0.0476, -0.3855, -0.1348, 0.0991, 0.0098, -0.3486, 0.3881, 0.2307, 0.3774, -0.3162, -0.1875, -0.3683, 0.2232, -0.1836, -0.2964], [-0.0622, 0.3291, 0.2552, -0.1931, -0.2805, 0.3353, 0.0565, 0.1603, -0.3284, -0.3540, 0.1506, -0.0597, -0.3421, 0.3507, 0.1076, 0.2413], [-0.3330, 0.2850, -0.3467, 0.2902, -0.0370, -0.1287, 0.0425, 0.3413, -0.1857, -0.2966, 0.0215, -0.2093, -0.3124, -0.2708, -0.3597, -0.2386], [-0.1504, -0.1560, 0.2076, -0.1680, 0.0001, -0.2577, -0.1224, -0.3855, -0.1996, -0.3877, 0.1865, 0.0408, -0.2484, -0.0202, 0.3477, -0.3150], [0.2551, -0.0543, -0.0040, 0.2677, -0.0855, 0.0053, 0.1502, 0.3860, -0.1258, 0.2658, 0.1654, 0.1088, -0.0762, -0.1220, -0.3565, -0.2961], [-0.3434, 0.1927, -0.1955, -0.2694, -0.3324, 0.2730, 0.2964, 0.1364, -0.1745, -0.2062, -0.1656, -0.0324, -0.2740, -0.0433, -0.1894, 0.3694], [0.3781, 0.0377, -0.2044, 0.3725, -0.1524, -0.1147, -0.3991, -0.0947, -0.0203, 0.0022, -0.2392, 0.0038, -0.3960, -0.1887, -0.3282, -0.0804], [-0.3667, -0.3820, -0.1566, -0.2138, 0.0685, 0.0234, 0.2004, 0.1260, 0.1728, 0.3033, -0.0884, -0.1391, 0.3878, -0.2804, 0.1793, 0.1146], [-0.3650, 0.2682, 0.3136, 0.1019, 0.1871, 0.2498, -0.2886, 0.0190, 0.0035, 0.2680, 0.2437, 0.2611, 0.0672, 0.3143, 0.1463, 0.1547], [-0.2160, -0.3751, -0.2935, -0.1114, -0.3161, 0.2687, 0.0468, 0.1022, 0.1010, 0.1445, -0.0086, -0.3973, 0.2382, 0.1986, 0.0024, 0.0282], [0.1274, -0.3472, 0.1894, -0.1982, -0.3404, -0.1876, 0.1835, -0.2358, 0.1919, 0.3806, -0.0048, -0.0940, -0.0168, 0.1470, 0.2136, 0.0936], [0.1142, -0.3380, -0.2821, -0.1968, 0.1946, -0.1565, 0.0542, -0.3900, -0.3515, -0.1850, 0.1376, 0.1537, 0.1406, -0.1673, 0.0132, -0.0283]]> : tensor<16x16xf32>
  %wv = arith.constant dense<[[-0.0269, -0.3052, 0.3149, -0.2406, 0.3825, 0.3490, -0.3860, -0.0328, 0.2559, 0.3745, -0.0404, -0.1851, -0.2321, 0.3565, -0.2314, 0.0652], [-0.2866, 0.0193, 0.3622, -0.2939, 0.2562, 0.0070, 0.3095, 0.1627, -0.2149, 0.3182, -0.0111, -0.3801, -0.3971, -0.0066, -0.0394, -0.1584], [-0.2874, -0.1248, -0.1471, 0.2722, -0.3986, 0.2006, 0.2713, -0.3040, 0.3411, 0.1704, 0.3213, -0.1681, -0.1022, -0.0857, 0.3990, 0.0713], [-0.1114, -0.0576, -0.1799, -0.3614, -0.3186, 0.2677, -0.1715, 0.3485, -0.2005, -0.1874, 0.0088, -0.2481, -0.1013, 0.3649, 0.3074, 0.2496], [0.1047, 0.3307, 0.3526, 0.0394, 0.1757, -0.3604, 0.1859, -0.0393, 0.2021, 0.1156, -0.1710, -0.3608, 0.3414, -0.2982, -0.0223, -0.1251], [-0.1618, 0.1912, 0.3810, -0.1919, 0.1248, -0.1593, 0.0459, -0.0845, -0.2661, -0.2707, -0.2337, 0.3248, -0.0023, -0.2240, 0.3250, 0.3972], [-0.0400, -0.2883, -0.2461, -0.3274, -0.1264, -0.3271, -0.2087, -0.1933, 0.0557, 0.3098, 0.1997, -0.0698, -0.0689, 0.0193, -0.0985, -0.1294], [-0.3504, -0.1780, 0.3741, -0.2993, 0.0027, 0.1037, 0.2903, -0.2272, -0.1832, -0.2012, -0.0802, -0.0433, 0.3632, 0.2789, 0.2983, -0.3826], [-0.3742, 0.1676, 0.3166, -0.0214, 0.0697, -0.3999, -0.0868, 0.3415, 0.2605, 0.2844, 0.3778, -0.2012, -0.3128, -0.2765, 0.0179, 0.1457], [0.3532, 0.1774, 0.1179, 0.2118, -0.0341, 0.0412, -0.3684, 0.2258, -0.2139, 0.3359, 0.1164, -0.1570, -0.2976, -0.1986, 0.1090, 0.1589], [-0.3103, -0.3437, 0.0195, 0.0663, -0.0895, -0.2211, 0.0808, -0.3916, -0.1588, -0.0314, 0.3672, 0.1157, 0.3070, -0.0198, -0.2122, -0.2024], [0.3685, 0.1637, -0.1541, -0.3826, -0.0014, 0.1396, -0.0640, -0.1942, 0.1339, 0.3401, -0.2186, -0.3727, -0.1296, -0.0636, 0.1461, -0.2415], [0.2377, 0.1913, 0.0039, -0.2358, 0.3759, -0.1506, 0.2560, -0.2154, -0.2228, 0.2084, -0.1641, 0.3615, -0.0034, -0.2501, -0.2213, -0.0664], [0.1322, 0.3590, -0.2829, -0.0852, -0.2296, 0.3793, -0.2865, -0.3585, -0.3519, -0.0853, 0.3185, 0.3069, 0.1862, 0.3980, 0.3453, -0.1366], [-0.2516, 0.3487, 0.1970, -0.3745, 0.1315, -0.0971, -0.1009, -0.1346, -0.2646, -0.3977, -0.1762, -0.1188, 0.3644, -0.3010, 0.3714, -0.2341], [-0.1147, 0.2573, 0.2576, -0.0540, -0.3606, -0.0212, -0.1018, 0.3356, -0.2456, -0.1086, 0.3176, -0.3758, -0.0714, 0.2495, 0.2133, -0.3675]]> : tensor<16x16xf32>
  %bq = arith.constant dense<[[-0.3721, -0.3499, 0.3361, -0.1944, 0.1978, 0.3188, -0.1287, -0.1821], [0.3662, 0.0936, -0.1903, 0.1733, -0.1468, -0.1795, -0.3970, 0.2045], [0.3332, 0.1072, 0.3546, -0.3806, -0.2129, -0.0198, 0.3654, 0.3631], [-0.0908, -0.1992, -0.0560, -0.0052, 0.3425, -0.2536, 0.2421, 0.1908]]> : tensor<4x8xf32>
  %bk = arith.constant dense<[[0.2582, 0.2182, 0.0858, -0.1378, -0.1444, -0.1105, 0.2258, -0.3368], [-0.2422, 0.2023, -0.2022, -0.3482, -0.3729, 0.0421, -0.1394, 0.3842], [0.3068, 0.3903, -0.1881, -0.3327, -0.3229, -0.0012, 0.1678, -0.0424], [-0.2126, -0.0665, 0.0962, 0.1393, 0.1984, 0.2776, 0.1315, -0.3031]]> : tensor<4x8xf32>
  %bv = arith.constant dense<[[0.2727, -0.1650, 0.0535, -0.1016, 0.1905, -0.2406, -0.2021, -0.2037], [-0.2773, 0.3073, 0.0626, -0.1389, -0.0831, 0.3940, 0.0059, -0.2149], [0.2468, 0.1227, 0.3928, -0.3181, -0.0202, 0.2553, 0.2724, 0.3315], [-0.3677, -0.1651, -0.3046, -0.2483, 0.3784, 0.0666, 0.3441, -0.1022]]> : tensor<4x8xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, sharing = #mha.sharing<grouped>, has_qkv_bias, rope_theta = 10000.0 : f32}
     : tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<32x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// CHECK: lowrank_q_o MHA low-rank qkv-bias out-bias rope causal f32 {{.*}} ok
// Low-rank Wq (rank 8) and Wo (rank 12) given as factors: x . wq_down,
// then . wq_up with the bias and RoPE; O . wo_down, then . wo_up. The
// factors are the C parameters, named after the weight.
// HEADER: mha_status lowrank_q_o(const DLTensor *x, const DLTensor *wq_down, const DLTensor *wq_up, const DLTensor *wk, const DLTensor *wv, const DLTensor *wo_down, const DLTensor *wo_up, const DLTensor *bq, const DLTensor *bk, const DLTensor *bv, const DLTensor *bo, DLTensor *y, const mha_options *opts);
func.func @lowrank_q_o(%x: tensor<?x?x64xf32>, %wq_down: tensor<64x8xf32>, %wq_up: tensor<8x64xf32>, %wk: tensor<64x64xf32>, %wv: tensor<64x64xf32>, %wo_down: tensor<64x12xf32>, %wo_up: tensor<12x64xf32>, %bq: tensor<64xf32>, %bk: tensor<64xf32>, %bv: tensor<64xf32>, %bo: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<64x8xf32>, tensor<8x64xf32> -> tensor<64x64xf32>
  %wo = mha.low_rank %wo_down, %wo_up : tensor<64x12xf32>, tensor<12x64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 4, has_qkv_bias, has_out_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// CHECK: lowrank_kv_bf16 GQA low-rank pruned bf16 {{.*}} ok
// bf16 GQA 6:2 with every weight low-rank (odd ranks 5, 7, 3, 9) and head
// 4 pruned: Wo's down projection sums the live heads' rows only.
func.func @lowrank_kv_bf16(%x: tensor<?x?x40xbf16>, %a: tensor<40x5xbf16>, %b: tensor<5x48xbf16>, %c: tensor<40x7xbf16>, %d: tensor<7x16xbf16>, %e: tensor<40x3xbf16>, %f: tensor<3x16xbf16>, %g: tensor<48x9xbf16>, %h: tensor<9x40xbf16>) -> tensor<?x?x40xbf16> {
  %wq = mha.low_rank %a, %b : tensor<40x5xbf16>, tensor<5x48xbf16> -> tensor<40x48xbf16>
  %wk = mha.low_rank %c, %d : tensor<40x7xbf16>, tensor<7x16xbf16> -> tensor<40x16xbf16>
  %wv = mha.low_rank %e, %f : tensor<40x3xbf16>, tensor<3x16xbf16> -> tensor<40x16xbf16>
  %wo = mha.low_rank %g, %h : tensor<48x9xbf16>, tensor<9x40xbf16> -> tensor<48x40xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 6, num_kv_heads = 2, head_mask = array<i1: true, true, true, true, false, true>}
     : tensor<?x?x40xbf16>, tensor<40x48xbf16>, tensor<40x16xbf16>, tensor<40x16xbf16>, tensor<48x40xbf16> -> tensor<?x?x40xbf16>
  return %y : tensor<?x?x40xbf16>
}

// CHECK: lowrank_grouped_constants GQA grouped low-rank qkv-bias f32 {{.*}} ok
// Constant factors (packed at compile time) of a grouped Wk: 4 query
// heads, 2 KV heads in one group of D = 8, rank 4.
func.func @lowrank_grouped_constants(%x: tensor<?x?x16xf32>, %wq: tensor<16x16xf32>, %wv: tensor<16x8xf32>, %wo: tensor<32x16xf32>, %bq: tensor<4x8xf32>, %bk: tensor<2x8xf32>, %bv: tensor<2x8xf32>) -> tensor<?x?x16xf32> {
  %down = arith.constant dense<[[-0.0476, 0.0598, 0.4242, -0.0343], [0.0078, 0.0874, -0.3153, 0.0119], [0.1299, 0.2930, -0.4059, -0.1966], [-0.4093, 0.3096, 0.1934, -0.4581], [0.4822, 0.4648, 0.1539, 0.1156], [-0.3425, -0.4850, 0.0284, -0.4404], [-0.3098, -0.2581, -0.4699, -0.0361], [-0.0595, 0.3424, 0.0191, 0.1403], [-0.0002, 0.1624, -0.0427, -0.2218], [0.4977, 0.4957, 0.3402, 0.2078], [-0.1847, -0.2703, -0.2110, -0.4298], [0.2663, -0.0996, 0.3466, -0.1135], [0.4580, 0.3473, -0.4995, -0.2903], [0.4103, -0.0300, 0.4804, -0.1026], [-0.4270, 0.1295, 0.2785, -0.2302], [-0.4129, -0.1674, 0.4641, 0.2580]]> : tensor<16x4xf32>
  %up = arith.constant dense<[[-0.3820, -0.2536, -0.3990, -0.4401, 0.2970, -0.3223, 0.0593, -0.0526], [-0.3093, 0.2319, -0.3690, 0.1437, -0.3835, -0.0792, -0.2871, -0.2302], [0.4709, 0.3034, -0.1959, 0.3849, -0.2893, -0.1057, 0.3544, 0.1418], [-0.3997, 0.4893, -0.2868, -0.2417, 0.2727, -0.1710, -0.2037, -0.4266]]> : tensor<4x8xf32>
  %wk = mha.low_rank %down, %up : tensor<16x4xf32>, tensor<4x8xf32> -> tensor<16x8xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<grouped>, has_qkv_bias}
     : tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<32x16xf32>, tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x8xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}
