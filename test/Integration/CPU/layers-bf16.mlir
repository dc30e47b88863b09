// bf16 layers on the AVX512-BF16 copy (vdpbf16ps GEMMs on weights packed
// as row pairs, bf16 temporaries, bf16_pairs attention) against the float64
// layer reference, then the same calls on the AVX-512 copy. Sizes are odd
// on purpose: d = 99 leaves an odd last k of each K-block (the single-row
// tail step) and a partial vector of columns; d = 1031 spans two K-blocks
// of 1024 with an odd remainder; pruned heads of odd head dim D = 33 make
// reduction segments start at odd k; L = 203 gives two row tiles.
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
