// Layers with int4 weights (mha.quantized {bits = 4}: two signed values
// per byte) and weights with group scales ([G, N]: a row of scales per
// K/G rows, int4 and int8) end to end against the float64 layer reference
// (mha-run): argument and constant weights, f32 and bf16 layers, GQA with
// RoPE, per-column and group scales side by side, grouped projections
// whose heads start at odd columns (nibbles from the middle of a byte),
// groups of 6 rows (not whole quads: widened even with AVX512-VNNI) and a
// wide layer (groups of 128 over 1024 rows: many K-blocks). On a CPU with
// AVX512-VNNI the projections of x and O multiply int8 rows, one K-block
// per group; MHA_ISA=avx512 and an AVX2 library run the copies that widen
// the weights as they are packed (MHA_ISA=avx2 tells mha-run's reference
// so).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libint4.so
// RUN: mha-compile %s --isa=avx2 -o %t/libint4-avx2.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libint4.h
// RUN: mha-run %s %t/libint4.so --batch 2 --seq-len 29 | FileCheck %s
// RUN: mha-run %s %t/libint4.so --batch 1 --seq-len 300 --num-threads 2 | FileCheck %s
// RUN: env MHA_ISA=avx2 mha-run %s %t/libint4-avx2.so --batch 2 --seq-len 29 | FileCheck %s
// RUN: env MHA_ISA=avx512 mha-run %s %t/libint4.so --batch 1 --seq-len 40 | FileCheck %s

// HEADER: wq: [64, 32] i8 (query_weight)
// HEADER: wq_scale: [2, 64] f32 (query_weight_scale)

// CHECK: gqa_int4 GQA int8+int4 rope causal f32 {{.*}} ok
// CHECK: bf16_int4 MHA int4 causal bf16 {{.*}} ok
// CHECK: const_int4 MHA int4 f32 {{.*}} ok
// CHECK: odd_heads_int4 GQA grouped int4 qkv-bias causal pruned f32 {{.*}} ok
// CHECK: groups_of_6 MHA int8+int4 f32 {{.*}} ok
// CHECK: wide_int4 GQA int4 causal f32 {{.*}} ok

func.func @gqa_int4(%x: tensor<?x?x64xf32>, %wq4: tensor<64x32xi8>, %sq: tensor<2x64xf32>,
                    %wk8: tensor<64x32xi8>, %sk: tensor<4x32xf32>, %wv4: tensor<64x16xi8>, %sv: tensor<32xf32>,
                    %wo4: tensor<64x32xi8>, %so: tensor<4x64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<64x32xi8>, tensor<2x64xf32> -> tensor<64x64xf32>
  %wk = mha.quantized %wk8, %sk : tensor<64x32xi8>, tensor<4x32xf32> -> tensor<64x32xf32>
  %wv = mha.quantized %wv4, %sv {bits = 4} : tensor<64x16xi8>, tensor<32xf32> -> tensor<64x32xf32>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<64x32xi8>, tensor<4x64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
func.func @bf16_int4(%x: tensor<?x?x64xbf16>, %wq4: tensor<64x32xi8>, %sq: tensor<1x64xf32>,
                     %wk: tensor<64x64xbf16>, %wv4: tensor<64x32xi8>, %sv: tensor<8x64xf32>,
                     %wo4: tensor<64x32xi8>, %so: tensor<64xf32>) -> tensor<?x?x64xbf16> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<64x32xi8>, tensor<1x64xf32> -> tensor<64x64xbf16>
  %wv = mha.quantized %wv4, %sv {bits = 4} : tensor<64x32xi8>, tensor<8x64xf32> -> tensor<64x64xbf16>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<64x32xi8>, tensor<64xf32> -> tensor<64x64xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, causal}
     : tensor<?x?x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xbf16>
  return %y : tensor<?x?x64xbf16>
}
func.func @const_int4(%x: tensor<?x?x8xf32>, %wk: tensor<8x8xf32>, %wv: tensor<8x8xf32>, %wo: tensor<8x8xf32>) -> tensor<?x?x8xf32> {
  %q4 = arith.constant dense<[[18, -2, 51, 127], [-8, 7, -128, 5], [16, 32, 48, 64], [-1, -17, 1, 17], [112, -121, 0, 5], [51, 51, 51, 51], [16, 16, -16, -16], [-103, 9, -9, 121]]> : tensor<8x4xi8>
  %s = arith.constant dense<[[0.01, 0.02, 0.005, 0.03, 0.01, 0.02, 0.005, 0.03], [0.02, 0.01, 0.03, 0.005, 0.02, 0.01, 0.03, 0.005]]> : tensor<2x8xf32>
  %wq = mha.quantized %q4, %s {bits = 4} : tensor<8x4xi8>, tensor<2x8xf32> -> tensor<8x8xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}
func.func @odd_heads_int4(%x: tensor<?x?x40xf32>, %wq4: tensor<40x7xi8>, %sq: tensor<5x14xf32>,
                          %wk4: tensor<40x7xi8>, %sk: tensor<14xf32>, %wv: tensor<40x14xf32>,
                          %wo4: tensor<42x20xi8>, %so: tensor<7x40xf32>, %bq: tensor<6x7xf32>,
                          %bk: tensor<2x7xf32>, %bv: tensor<2x7xf32>) -> tensor<?x?x40xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<40x7xi8>, tensor<5x14xf32> -> tensor<40x14xf32>
  %wk = mha.quantized %wk4, %sk {bits = 4} : tensor<40x7xi8>, tensor<14xf32> -> tensor<40x14xf32>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<42x20xi8>, tensor<7x40xf32> -> tensor<42x40xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 6, num_kv_heads = 2,
         sharing = #mha.sharing<grouped>, has_qkv_bias, causal,
         head_mask = array<i1: true, true, false, true, true, true>}
      : tensor<?x?x40xf32>, tensor<40x14xf32>, tensor<40x14xf32>, tensor<40x14xf32>, tensor<42x40xf32>,
        tensor<6x7xf32>, tensor<2x7xf32>, tensor<2x7xf32> -> tensor<?x?x40xf32>
  return %y : tensor<?x?x40xf32>
}
func.func @groups_of_6(%x: tensor<?x?x30xf32>, %wq4: tensor<30x15xi8>, %sq: tensor<5x30xf32>,
                       %wk8: tensor<30x30xi8>, %sk: tensor<5x30xf32>, %wv8: tensor<30x30xi8>, %sv: tensor<30xf32>,
                       %wo: tensor<30x30xf32>) -> tensor<?x?x30xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<30x15xi8>, tensor<5x30xf32> -> tensor<30x30xf32>
  %wk = mha.quantized %wk8, %sk : tensor<30x30xi8>, tensor<5x30xf32> -> tensor<30x30xf32>
  %wv = mha.quantized %wv8, %sv : tensor<30x30xi8>, tensor<30xf32> -> tensor<30x30xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3}
      : tensor<?x?x30xf32>, tensor<30x30xf32>, tensor<30x30xf32>, tensor<30x30xf32>, tensor<30x30xf32> -> tensor<?x?x30xf32>
  return %y : tensor<?x?x30xf32>
}
func.func @wide_int4(%x: tensor<?x?x1024xf32>, %wq4: tensor<1024x256xi8>, %sq: tensor<8x512xf32>,
                     %wk4: tensor<1024x64xi8>, %sk: tensor<8x128xf32>, %wv4: tensor<1024x64xi8>, %sv: tensor<8x128xf32>,
                     %wo4: tensor<512x512xi8>, %so: tensor<4x1024xf32>) -> tensor<?x?x1024xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<1024x256xi8>, tensor<8x512xf32> -> tensor<1024x512xf32>
  %wk = mha.quantized %wk4, %sk {bits = 4} : tensor<1024x64xi8>, tensor<8x128xf32> -> tensor<1024x128xf32>
  %wv = mha.quantized %wv4, %sv {bits = 4} : tensor<1024x64xi8>, tensor<8x128xf32> -> tensor<1024x128xf32>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<512x512xi8>, tensor<4x1024xf32> -> tensor<512x1024xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 2, causal}
      : tensor<?x?x1024xf32>, tensor<1024x512xf32>, tensor<1024x128xf32>, tensor<1024x128xf32>, tensor<512x1024xf32> -> tensor<?x?x1024xf32>
  return %y : tensor<?x?x1024xf32>
}
