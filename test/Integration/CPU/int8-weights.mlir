// Layers with int8 weights (mha.quantized: i8 values, an f32 scale per
// column) end to end against the float64 layer reference (mha-run):
// argument and constant weights, f32 and bf16 layers, GQA with RoPE,
// grouped projections with pruned heads, a latent (MLA) layer's Wk and
// Wv, widths that are not whole quads (302 and 3 x 22: the int8 rows are
// padded) and wide ones (1024: several K-blocks of vpdpbusd). On a CPU
// with AVX512-VNNI (the AVX512-BF16 copy) the projections of x and O
// multiply int8 rows, which the reference models; MHA_ISA=avx512 and an
// AVX2 library run the copies that widen the weights as they are packed
// (MHA_ISA=avx2 tells mha-run's reference so).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libint8.so
// RUN: mha-compile %s --isa=avx2 -o %t/libint8-avx2.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libint8.h
// RUN: mha-run %s %t/libint8.so --batch 2 --seq-len 29 | FileCheck %s
// RUN: mha-run %s %t/libint8.so --batch 1 --seq-len 300 --num-threads 2 | FileCheck %s
// RUN: env MHA_ISA=avx2 mha-run %s %t/libint8-avx2.so --batch 2 --seq-len 29 | FileCheck %s
// RUN: env MHA_ISA=avx512 mha-run %s %t/libint8.so --batch 1 --seq-len 40 | FileCheck %s
// mha-quantize-weights on constant f32 weights (the layer of the constant
// int8 weights it makes is what mha-run checks).
// RUN: mha-opt %S/Inputs/constant-weights.mlir -mha-quantize-weights -o %t/quantized.mlir 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: mha-compile %t/quantized.mlir --isa=host -o %t/libquantized.so
// RUN: mha-run %t/quantized.mlir %t/libquantized.so --batch 2 --seq-len 33 | FileCheck %s --check-prefix=QUANTIZED
// REMARK-COUNT-2: remark: mha-quantize-weights:
// QUANTIZED: constant_weights GQA int8 rope causal f32 {{.*}} ok

// HEADER: wq: [64, 64] i8 (query_weight)
// HEADER: wq_scale: [64] f32 (query_weight_scale)
// HEADER: mha_status gqa_int8(const DLTensor *x, const DLTensor *wq, const DLTensor *wq_scale, const DLTensor *wk, const DLTensor *wv, const DLTensor *wv_scale, const DLTensor *wo, const DLTensor *wo_scale, DLTensor *y, const mha_options *opts);

// CHECK: gqa_int8 GQA int8 rope causal f32 {{.*}} ok
// CHECK: bf16_int8 MHA int8 causal bf16 {{.*}} ok
// CHECK: const_int8 MHA int8 f32 {{.*}} ok
// CHECK: latent_int8 MLA r=20 int8 rope causal f32 {{.*}} ok
// CHECK: grouped_int8 GQA grouped int8 qkv-bias causal pruned f32 {{.*}} ok
// CHECK: odd_int8 MQA int8 rope causal f32 {{.*}} ok
// CHECK: wide_int8 GQA int8 causal f32 {{.*}} ok

func.func @gqa_int8(%x: tensor<?x?x64xf32>, %wq8: tensor<64x64xi8>, %sq: tensor<64xf32>,
                    %wk: tensor<64x32xf32>, %wv8: tensor<64x32xi8>, %sv: tensor<32xf32>,
                    %wo8: tensor<64x64xi8>, %so: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<64x64xi8>, tensor<64xf32> -> tensor<64x64xf32>
  %wv = mha.quantized %wv8, %sv : tensor<64x32xi8>, tensor<32xf32> -> tensor<64x32xf32>
  %wo = mha.quantized %wo8, %so : tensor<64x64xi8>, tensor<64xf32> -> tensor<64x64xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 2, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
func.func @bf16_int8(%x: tensor<?x?x64xbf16>, %wq8: tensor<64x64xi8>, %sq: tensor<64xf32>,
                    %wk8: tensor<64x64xi8>, %sk: tensor<64xf32>, %wv: tensor<64x64xbf16>,
                    %wo8: tensor<64x64xi8>, %so: tensor<64xf32>) -> tensor<?x?x64xbf16> {
  %wq = mha.quantized %wq8, %sq : tensor<64x64xi8>, tensor<64xf32> -> tensor<64x64xbf16>
  %wk = mha.quantized %wk8, %sk : tensor<64x64xi8>, tensor<64xf32> -> tensor<64x64xbf16>
  %wo = mha.quantized %wo8, %so : tensor<64x64xi8>, tensor<64xf32> -> tensor<64x64xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, causal}
     : tensor<?x?x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<?x?x64xbf16>
  return %y : tensor<?x?x64xbf16>
}
func.func @const_int8(%x: tensor<?x?x8xf32>, %wk: tensor<8x8xf32>, %wv: tensor<8x8xf32>, %wo: tensor<8x8xf32>) -> tensor<?x?x8xf32> {
  %q8 = arith.constant dense<[[1, -2, 3, 4, 5, 6, 7, 8], [-8, 7, 6, 5, 4, 3, 2, 1], [10, 20, 30, 40, 50, 60, 70, 80], [-1, -1, -1, -1, 1, 1, 1, 1], [127, -127, 0, 0, 5, 5, -5, -5], [3, 3, 3, 3, 3, 3, 3, 3], [0, 1, 0, 1, 0, 1, 0, 1], [9, -9, 9, -9, 9, -9, 9, -9]]> : tensor<8x8xi8>
  %s = arith.constant dense<[0.01, 0.02, 0.005, 0.03, 0.01, 0.02, 0.005, 0.03]> : tensor<8xf32>
  %wq = mha.quantized %q8, %s : tensor<8x8xi8>, tensor<8xf32> -> tensor<8x8xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2}
     : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}
func.func @latent_int8(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                   %wk8: tensor<48x28xi8>, %sk: tensor<28xf32>, %wv8: tensor<20x66xi8>, %sv: tensor<66xf32>,
                   %wo: tensor<30x48xf32>) -> tensor<?x?x48xf32> {
  %wk = mha.quantized %wk8, %sk : tensor<48x28xi8>, tensor<28xf32> -> tensor<48x28xf32>
  %wv = mha.quantized %wv8, %sv : tensor<20x66xi8>, tensor<66xf32> -> tensor<20x66xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
func.func @grouped_int8(%x: tensor<?x?x256xf32>, %wq8: tensor<256x64xi8>, %sq: tensor<64xf32>,
                         %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>,
                         %wo8: tensor<256x256xi8>, %so: tensor<256xf32>, %bq: tensor<8x32xf32>,
                         %bk: tensor<4x32xf32>, %bv: tensor<4x32xf32>)
    -> tensor<?x?x256xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<256x64xi8>, tensor<64xf32> -> tensor<256x64xf32>
  %wo = mha.quantized %wo8, %so : tensor<256x256xi8>, tensor<256xf32> -> tensor<256x256xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {
         num_heads = 8, num_kv_heads = 4, sharing = #mha.sharing<grouped>,
         has_qkv_bias, causal, head_mask = array<i1: true, true, false, true, true, true, true, false>}
      : tensor<?x?x256xf32>, tensor<256x64xf32>, tensor<256x64xf32>,
        tensor<256x64xf32>, tensor<256x256xf32>, tensor<8x32xf32>,
        tensor<4x32xf32>, tensor<4x32xf32> -> tensor<?x?x256xf32>
  return %y : tensor<?x?x256xf32>
}
func.func @odd_int8(%x: tensor<?x?x302xf32>, %wq8: tensor<302x66xi8>, %sq: tensor<66xf32>, %wk8: tensor<302x22xi8>, %sk: tensor<22xf32>, %wv8: tensor<302x22xi8>, %sv: tensor<22xf32>, %wo8: tensor<66x302xi8>, %so: tensor<302xf32>) -> tensor<?x?x302xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<302x66xi8>, tensor<66xf32> -> tensor<302x66xf32>
  %wk = mha.quantized %wk8, %sk : tensor<302x22xi8>, tensor<22xf32> -> tensor<302x22xf32>
  %wv = mha.quantized %wv8, %sv : tensor<302x22xi8>, tensor<22xf32> -> tensor<302x22xf32>
  %wo = mha.quantized %wo8, %so : tensor<66x302xi8>, tensor<302xf32> -> tensor<66x302xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, num_kv_heads = 1, causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x302xf32>, tensor<302x66xf32>, tensor<302x22xf32>, tensor<302x22xf32>, tensor<66x302xf32> -> tensor<?x?x302xf32>
  return %y : tensor<?x?x302xf32>
}
func.func @wide_int8(%x: tensor<?x?x1024xf32>, %wq8: tensor<1024x512xi8>, %sq: tensor<512xf32>, %wk8: tensor<1024x128xi8>, %sk: tensor<128xf32>, %wv8: tensor<1024x128xi8>, %sv: tensor<128xf32>, %wo8: tensor<512x1024xi8>, %so: tensor<1024xf32>) -> tensor<?x?x1024xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<1024x512xi8>, tensor<512xf32> -> tensor<1024x512xf32>
  %wk = mha.quantized %wk8, %sk : tensor<1024x128xi8>, tensor<128xf32> -> tensor<1024x128xf32>
  %wv = mha.quantized %wv8, %sv : tensor<1024x128xi8>, tensor<128xf32> -> tensor<1024x128xf32>
  %wo = mha.quantized %wo8, %so : tensor<512x1024xi8>, tensor<1024xf32> -> tensor<512x1024xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 8, num_kv_heads = 2, causal}
      : tensor<?x?x1024xf32>, tensor<1024x512xf32>, tensor<1024x128xf32>, tensor<1024x128xf32>, tensor<512x1024xf32> -> tensor<?x?x1024xf32>
  return %y : tensor<?x?x1024xf32>
}
