// Multi-head latent attention layers (#mha.sharing<latent>) end to end:
// compiled for the CPU and checked against the float64 layer reference
// (mha-run), odd sizes, f32 and bf16, with and without the RoPE key, a
// low-rank Wq (DeepSeek-V2's query LoRA), windows, pruned heads, an output
// bias and lse, at small and DeepSeek-like proportions (Dn = Dv = 128,
// Dr = 32), and with DeepSeek's RMS norms (rms_norm_eps) on the latent and
// on a low-rank Wq's rank product.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/liblatent.so
// RUN: mha-run %s %t/liblatent.so --batch 2 --seq-len 29 | FileCheck %s
// RUN: mha-run %s %t/liblatent.so --batch 1 --seq-len 300 --num-threads 2 | FileCheck %s

// CHECK: mla_f32 MLA r=20 rope causal f32 {{.*}} ok
// CHECK: mla_bf16_no_rope MLA r=24 out-bias bf16 {{.*}} ok
// CHECK: mla_lowrank_q MLA r=32 low-rank rope causal windows f32 {{.*}} ok
// CHECK: mla_pruned MLA r=32 rope pruned f32 {{.*}} ok
// CHECK: mla_deepseek_like MLA r=128 rope causal bf16 {{.*}} ok
func.func @mla_f32(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>,
                   %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>,
                   %wo: tensor<30x48xf32>) -> tensor<?x?x48xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>,
        tensor<20x66xf32>, tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
func.func @mla_bf16_no_rope(%x: tensor<?x?x40xbf16>, %wq: tensor<40x36xbf16>,
                   %wk: tensor<40x24xbf16>, %wv: tensor<24x60xbf16>,
                   %wo: tensor<24x40xbf16>, %bo: tensor<40xbf16>) -> tensor<?x?x40xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 4,
         sharing = #mha.sharing<latent>, has_out_bias}
      : tensor<?x?x40xbf16>, tensor<40x36xbf16>, tensor<40x24xbf16>,
        tensor<24x60xbf16>, tensor<24x40xbf16>, tensor<40xbf16> -> tensor<?x?x40xbf16>
  return %y : tensor<?x?x40xbf16>
}
func.func @mla_lowrank_q(%x: tensor<?x?x64xf32>, %wq_down: tensor<64x16xf32>, %wq_up: tensor<16x80xf32>,
                   %wk: tensor<64x40xf32>, %wv: tensor<32x80xf32>,
                   %wo: tensor<32x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>) {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<64x16xf32>, tensor<16x80xf32> -> tensor<64x80xf32>
  %y, %lse = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4,
         sharing = #mha.sharing<latent>, rope_theta = 500.0 : f32, causal, window_left = array<i64: 7>, return_lse}
      : tensor<?x?x64xf32>, tensor<64x80xf32>, tensor<64x40xf32>,
        tensor<32x80xf32>, tensor<32x64xf32> -> tensor<?x?x64xf32>, tensor<?x4x?xf32>
  return %y, %lse : tensor<?x?x64xf32>, tensor<?x4x?xf32>
}
func.func @mla_pruned(%x: tensor<?x?x64xf32>, %wq: tensor<64x80xf32>,
                   %wk: tensor<64x40xf32>, %wv: tensor<32x80xf32>,
                   %wo: tensor<32x64xf32>) -> tensor<?x?x64xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, head_mask = array<i1: true, false, true, true>}
      : tensor<?x?x64xf32>, tensor<64x80xf32>, tensor<64x40xf32>,
        tensor<32x80xf32>, tensor<32x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
func.func @mla_deepseek_like(%x: tensor<?x?x256xbf16>, %wq: tensor<256x640xbf16>,
                   %wk: tensor<256x160xbf16>, %wv: tensor<128x1024xbf16>,
                   %wo: tensor<512x256xbf16>) -> tensor<?x?x256xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, causal}
      : tensor<?x?x256xbf16>, tensor<256x640xbf16>, tensor<256x160xbf16>,
        tensor<128x1024xbf16>, tensor<512x256xbf16> -> tensor<?x?x256xbf16>
  return %y : tensor<?x?x256xbf16>
}

// CHECK: mla_rms MLA r=32 low-rank rope rms-norm causal f32 {{.*}} ok
// CHECK: mla_rms_bf16 MLA r=32 rope rms-norm bf16 {{.*}} ok
func.func @mla_rms(%x: tensor<?x?x64xf32>, %wq_down: tensor<64x16xf32>, %wq_up: tensor<16x80xf32>,
                   %wk: tensor<64x40xf32>, %wv: tensor<32x80xf32>,
                   %wo: tensor<32x64xf32>) -> tensor<?x?x64xf32> {
  %wq = mha.low_rank %wq_down, %wq_up : tensor<64x16xf32>, tensor<16x80xf32> -> tensor<64x80xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32, causal}
      : tensor<?x?x64xf32>, tensor<64x80xf32>, tensor<64x40xf32>,
        tensor<32x80xf32>, tensor<32x64xf32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}
func.func @mla_rms_bf16(%x: tensor<?x?x64xbf16>, %wq: tensor<64x80xbf16>,
                   %wk: tensor<64x40xbf16>, %wv: tensor<32x80xbf16>,
                   %wo: tensor<32x64xbf16>) -> tensor<?x?x64xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4,
         sharing = #mha.sharing<latent>, rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-2 : f32}
      : tensor<?x?x64xbf16>, tensor<64x80xbf16>, tensor<64x40xbf16>,
        tensor<32x80xbf16>, tensor<32x64xbf16> -> tensor<?x?x64xbf16>
  return %y : tensor<?x?x64xbf16>
}
