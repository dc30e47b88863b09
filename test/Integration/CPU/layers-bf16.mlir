// bf16 layers on the AVX512-BF16 copy (vdpbf16ps GEMMs on weights packed
// as row pairs, bf16 temporaries, bf16_pairs attention) against the float64
// layer reference, then the same calls on the AVX-512 copy. Sizes are odd
// on purpose: d = 99 leaves an odd last k of each K-block (the single-row
// tail step) and a partial vector of columns; d = 1031 spans two K-blocks
// of 1024 with an odd remainder; pruned heads of odd head dim D = 33 make
// reduction segments start at odd k; L = 203 gives two row tiles; constant
// weights are packed into pairs at compile time.
// REQUIRES: avx512bf16
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=cpu -o %t/liblayers-bf16.so
// RUN: llvm-nm %t/liblayers-bf16.so | FileCheck %s --check-prefix=COPIES
// RUN: env MHA_ISA=avx512bf16 mha-run %s %t/liblayers-bf16.so --batch 2 --seq-len 203 --num-threads 2 | FileCheck %s
// RUN: env MHA_ISA=avx512bf16 mha-run %s %t/liblayers-bf16.so --batch 1 --seq-len 1 | FileCheck %s
// RUN: env MHA_ISA=avx512 mha-run %s %t/liblayers-bf16.so --batch 2 --seq-len 37 | FileCheck %s

// COPIES: odd_model__work_avx512bf16

// CHECK: odd_model MHA qkv-bias out-bias causal bf16 {{.*}} ok
// Head dim 33 (odd): the attention falls back to FMA micro-kernels inside
// the AVX512-BF16 copy; the GEMMs still use pairs.
func.func @odd_model(%x: tensor<?x?x99xbf16>, %wq: tensor<99x99xbf16>, %wk: tensor<99x99xbf16>, %wv: tensor<99x99xbf16>, %wo: tensor<99x99xbf16>, %bq: tensor<99xbf16>, %bk: tensor<99xbf16>, %bv: tensor<99xbf16>, %bo: tensor<99xbf16>) -> tensor<?x?x99xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 3, has_qkv_bias, has_out_bias, causal}
     : tensor<?x?x99xbf16>, tensor<99x99xbf16>, tensor<99x99xbf16>, tensor<99x99xbf16>, tensor<99x99xbf16>, tensor<99xbf16>, tensor<99xbf16>, tensor<99xbf16>, tensor<99xbf16> -> tensor<?x?x99xbf16>
  return %y : tensor<?x?x99xbf16>
}

// CHECK: pruned_odd GQA rope pruned bf16 {{.*}} ok
// Heads 1 and 2 of 4 pruned at head dim 34 (RoPE needs it even): the
// output projection reduces over two segments, the second starting at
// k = 102; the first KV head is read by head 0 only.
func.func @pruned_odd(%x: tensor<?x?x99xbf16>, %wq: tensor<99x136xbf16>, %wk: tensor<99x68xbf16>, %wv: tensor<99x68xbf16>, %wo: tensor<136x99xbf16>) -> tensor<?x?x99xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, head_mask = array<i1: true, false, false, true>, rope_theta = 10000.0 : f32}
     : tensor<?x?x99xbf16>, tensor<99x136xbf16>, tensor<99x68xbf16>, tensor<99x68xbf16>, tensor<136x99xbf16> -> tensor<?x?x99xbf16>
  return %y : tensor<?x?x99xbf16>
}

// CHECK: shared_rope MHA shared qkv-bias out-bias rope causal windows bf16 {{.*}} ok
// Shared projections with a bias per head, RoPE in the epilogue of each
// replica, sliding windows.
func.func @shared_rope(%x: tensor<?x?x64xbf16>, %wq: tensor<64x32xbf16>, %wk: tensor<64x32xbf16>, %wv: tensor<64x32xbf16>, %wo: tensor<96x64xbf16>, %bq: tensor<3x32xbf16>, %bk: tensor<3x32xbf16>, %bv: tensor<3x32xbf16>, %bo: tensor<64xbf16>) -> tensor<?x?x64xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 3, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias, has_out_bias, rope_theta = 500.0 : f32, causal, window_left = array<i64: 7, -1, 30>}
     : tensor<?x?x64xbf16>, tensor<64x32xbf16>, tensor<64x32xbf16>, tensor<64x32xbf16>, tensor<96x64xbf16>, tensor<3x32xbf16>, tensor<3x32xbf16>, tensor<3x32xbf16>, tensor<64xbf16> -> tensor<?x?x64xbf16>
  return %y : tensor<?x?x64xbf16>
}

// CHECK: deep_k MQA out-bias rope causal bf16 {{.*}} ok
// d = 1031: the projections' reduction spans two K-blocks (1024 + 7, odd).
func.func @deep_k(%x: tensor<?x?x1031xbf16>, %wq: tensor<1031x128xbf16>, %wk: tensor<1031x64xbf16>, %wv: tensor<1031x64xbf16>, %wo: tensor<128x1031xbf16>, %bo: tensor<1031xbf16>) -> tensor<?x?x1031xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 2, num_kv_heads = 1, has_out_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x1031xbf16>, tensor<1031x128xbf16>, tensor<1031x64xbf16>, tensor<1031x64xbf16>, tensor<128x1031xbf16>, tensor<1031xbf16> -> tensor<?x?x1031xbf16>
  return %y : tensor<?x?x1031xbf16>
}

// CHECK: constants_bf16 MHA qkv-bias rope causal bf16 {{.*}} ok
// Wq, Wk and the Q/K/V biases are constants of the spec: packed (Wq, Wk)
// and stored (biases) at compile time; only x, Wv and Wo are parameters.
func.func @constants_bf16(%x: tensor<?x?x16xbf16>, %wv: tensor<16x16xbf16>, %wo: tensor<16x16xbf16>) -> tensor<?x?x16xbf16> {
  %wq = arith.constant dense<[[0.2479, -0.1892, 0.0042, 0.1836, -0.2489, 0.1480, 0.0516, -0.2168, 0.2373, -0.0994, -0.1048, 0.2391, -0.2138, 0.0458, 0.1528, -0.2494], [0.1267, -0.2108, 0.2488, -0.2326, 0.1655, -0.0623, -0.0544, 0.1594, -0.2295, 0.2495, -0.2151, 0.1337, -0.0231, -0.0925, 0.1879, -0.2423], [-0.0924, 0.0683, -0.0436, 0.0184, 0.0070, -0.0323, 0.0573, -0.0817, 0.1052, -0.1277, 0.1488, -0.1684, 0.1863, -0.2022, 0.2161, -0.2277], [-0.2401, 0.2500, -0.2420, 0.2166, -0.1757, 0.1223, -0.0601, -0.0064, 0.0725, -0.1333, 0.1846, -0.2227, 0.2449, -0.2495, 0.2362, -0.2060], [-0.2024, 0.0750, 0.0819, -0.2065, 0.2498, -0.1947, 0.0629, 0.0937, -0.2134, 0.2490, -0.1865, 0.0506, 0.1052, -0.2197, 0.2475, -0.1779], [-0.0083, -0.2070, 0.2290, -0.0372, -0.1893, 0.2391, -0.0657, -0.1690, 0.2460, -0.0933, -0.1465, 0.2495, -0.1196, -0.1220, 0.2497, -0.1442], [0.1922, -0.1937, -0.1181, 0.2389, 0.0268, -0.2491, 0.0685, 0.2229, -0.1537, -0.1641, 0.2165, 0.0813, -0.2476, 0.0134, 0.2425, -0.1061], [0.2442, 0.0959, -0.2103, -0.1702, 0.1502, 0.2233, -0.0713, -0.2484, -0.0165, 0.2426, 0.1022, -0.2065, -0.1752, 0.1446, 0.2263, -0.0646], [0.1076, 0.2487, 0.1514, -0.0910, -0.2462, -0.1653, 0.0740, 0.2424, 0.1784, -0.0567, -0.2374, -0.1905, 0.0390, 0.2311, 0.2017, -0.0211], [-0.1122, 0.0467, 0.1864, 0.2493, 0.2096, 0.0836, -0.0768, -0.2056, -0.2497, -0.1910, -0.0537, 0.1057, 0.2216, 0.2463, 0.1696, 0.0230], [-0.2452, -0.2219, -0.1809, -0.1254, -0.0600, 0.0102, 0.0796, 0.1426, 0.1943, 0.2305, 0.2484, 0.2464, 0.2249, 0.1854, 0.1311, 0.0665], [-0.1889, -0.1740, -0.1577, -0.1403, -0.1219, -0.1025, -0.0823, -0.0615, -0.0403, -0.0187, 0.0029, 0.0246, 0.0461, 0.0672, 0.0878, 0.1078], [0.0134, 0.1221, 0.2058, 0.2473, 0.2381, 0.1800, 0.0850, -0.0274, -0.1342, -0.2135, -0.2490, -0.2334, -0.1700, -0.0717, 0.0413, 0.1458], [0.2053, 0.2440, 0.1252, -0.0745, -0.2260, -0.2317, -0.0878, 0.1128, 0.2405, 0.2130, 0.0480, -0.1481, -0.2485, -0.1885, -0.0068, 0.1792], [0.2386, 0.0178, -0.2256, -0.1826, 0.0922, 0.2500, 0.0905, -0.1839, -0.2248, 0.0196, 0.2392, 0.1551, -0.1258, -0.2471, -0.0547, 0.2071], [0.0876, -0.2338, -0.0895, 0.2331, 0.0913, -0.2324, -0.0932, 0.2316, 0.0950, -0.2309, -0.0968, 0.2301, 0.0987, -0.2293, -0.1005, 0.2285]]> : tensor<16x16xbf16>
  %wk = arith.constant dense<[[-0.0639, -0.1377, 0.2473, -0.1919, 0.0084, 0.1807, -0.2492, 0.1514, 0.0475, -0.2147, 0.2386, -0.1032, -0.1010, 0.2378, -0.2159, 0.0499], [-0.2300, 0.1604, -0.0558, -0.0610, 0.1645, -0.2321, 0.2490, -0.2116, 0.1279, -0.0164, -0.0987, 0.1923, -0.2439, 0.2422, -0.1877, 0.0922], [-0.2185, 0.2297, -0.2385, 0.2449, -0.2487, 0.2500, -0.2487, 0.2448, -0.2385, 0.2296, -0.2184, 0.2049, -0.1893, 0.1718, -0.1525, 0.1316], [-0.0381, -0.0287, 0.0936, -0.1517, 0.1990, -0.2320, 0.2484, -0.2470, 0.2279, -0.1925, 0.1434, -0.0839, 0.0185, 0.0483, -0.1116, 0.1670], [0.1717, -0.2462, 0.2237, -0.1131, -0.0420, 0.1806, -0.2480, 0.2178, -0.1017, -0.0544, 0.1891, -0.2493, 0.2113, -0.0901, -0.0666, 0.1971], [0.2488, -0.1124, -0.1290, 0.2499, -0.1376, -0.1032, 0.2477, -0.1609, -0.0761, 0.2420, -0.1820, -0.0479, 0.2331, -0.2007, -0.0191, 0.2211], [0.1338, 0.1817, -0.2033, -0.1040, 0.2430, 0.0110, -0.2473, 0.0835, 0.2153, -0.1659, -0.1519, 0.2240, 0.0662, -0.2493, 0.0291, 0.2382], [-0.0846, 0.2166, 0.1611, -0.1597, -0.2176, 0.0828, 0.2468, 0.0044, -0.2452, -0.0911, 0.2131, 0.1664, -0.1543, -0.2209, 0.0762, 0.2478], [-0.2377, -0.0575, 0.1778, 0.2426, 0.0749, -0.1647, -0.2463, -0.0918, 0.1507, 0.2488, 0.1083, -0.1360, -0.2499, -0.1243, 0.1205, 0.2498], [-0.2071, -0.2496, -0.1893, -0.0511, 0.1082, 0.2229, 0.2458, 0.1676, 0.0203, -0.1353, -0.2352, -0.2383, -0.1433, 0.0107, 0.1603, 0.2439], [-0.0166, -0.0856, -0.1478, -0.1983, -0.2329, -0.2490, -0.2453, -0.2220, -0.1810, -0.1256, -0.0602, 0.0100, 0.0794, 0.1424, 0.1942, 0.2304], [0.1868, 0.2005, 0.2127, 0.2233, 0.2322, 0.2393, 0.2447, 0.2482, 0.2499, 0.2496, 0.2475, 0.2435, 0.2377, 0.2301, 0.2208, 0.2098], [0.2458, 0.2006, 0.1142, 0.0044, -0.1063, -0.1952, -0.2441, -0.2429, -0.1919, -0.1015, 0.0096, 0.1188, 0.2037, 0.2467, 0.2392, 0.1826], [0.1150, -0.0855, -0.2307, -0.2271, -0.0768, 0.1230, 0.2434, 0.2067, 0.0365, -0.1572, -0.2495, -0.1807, 0.0048, 0.1871, 0.2487, 0.1497], [-0.1047, -0.2496, -0.0777, 0.1928, 0.2186, -0.0331, -0.2428, -0.1442, 0.1374, 0.2446, 0.0414, -0.2144, -0.1980, 0.0697, 0.2490, 0.1122], [-0.2435, -0.0577, 0.2430, 0.0596, -0.2426, -0.0615, 0.2421, 0.0635, -0.2416, -0.0654, 0.2410, 0.0673, -0.2405, -0.0692, 0.2400, 0.0711]]> : tensor<16x16xbf16>
  %bq = arith.constant dense<[0.2702, -0.3331, -0.4484, 0.0933, 0.4983, 0.1733, -0.4055, -0.3903, 0.1967, 0.4955, 0.0684, -0.4590, -0.3139, 0.2910, 0.4696, -0.0398]> : tensor<16xbf16>
  %bk = arith.constant dense<[-0.2081, -0.4937, -0.0561, 0.4637, 0.3042, -0.3010, -0.4652, 0.0521, 0.4931, 0.2117, -0.3798, -0.4149, 0.1579, 0.4994, 0.1093, -0.4409]> : tensor<16xbf16>
  %bv = arith.constant dense<[-0.4950, -0.2004, 0.3878, 0.4079, -0.1696, -0.4986, -0.0972, 0.4466, 0.3361, -0.2668, -0.4788, 0.0106, 0.4845, 0.2486, -0.3515, -0.4367]> : tensor<16xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 2, has_qkv_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x16xbf16>, tensor<16x16xbf16>, tensor<16x16xbf16>, tensor<16x16xbf16>, tensor<16x16xbf16>, tensor<16xbf16>, tensor<16xbf16>, tensor<16xbf16> -> tensor<?x?x16xbf16>
  return %y : tensor<?x?x16xbf16>
}
