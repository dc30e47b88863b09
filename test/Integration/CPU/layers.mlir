// Whole layers (mha.multi_head) end to end against the float64 layer
// reference (lib/Reference/LayerReference.cpp): both sharing schemes, with
// and without biases, RoPE, GQA/MQA, causal and windows, pruned heads,
// f32/f16/bf16, odd sizes, static and dynamic B and L, every ISA copy.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=cpu -o %t/liblayers.so
// RUN: mha-run %s %t/liblayers.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: mha-run %s %t/liblayers.so --batch 1 --seq-len 1 | FileCheck %s
// RUN: mha-run %s %t/liblayers.so --batch 3 --seq-len 203 --num-threads 3 | FileCheck %s
// RUN: env MHA_ISA=avx512 mha-run %s %t/liblayers.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: env MHA_ISA=avx2 mha-run %s %t/liblayers.so --batch 2 --seq-len 101 | FileCheck %s
// RUN: env MHA_ISA=generic mha-run %s %t/liblayers.so --batch 2 --seq-len 37 --num-threads 1 | FileCheck %s

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
