// The backward of layers marked mha.backward (docs/language.md 7.1, "Layer
// backward") end to end against the float64 layer gradients (mha-run calls
// NAME, then NAME_backward on random x, weights, biases and dy, and
// compares dx and every weight's and bias's gradient): GQA with biases and
// RoPE, shared projections (per-head biases) with windows in bf16, grouped
// projections with a pruned head and ALiBi, MQA with softcap and sinks, and
// a wide one whose attention items own whole KV heads, and one with
// low-rank Wq, Wv and Wo (each factor's gradient from the float64 dW), the
// last two in bf16 too (with AVX512-BF16: every GEMM and the attention's
// items on bf16 pairs, dO and dQKV rounded),
// and grouped projections with a low-rank Wk;
// latent (MLA) layers: RoPE and RMS norm in f32 and bf16, and DeepSeek-V3's
// form (low-rank Wq normalised between its factors, low-rank Wo); one row
// and odd lengths, 2 threads. The library holds the copies this CPU picks
// (--isa=host: AVX-512, and AVX512-BF16 for the bf16 layers where the CPU
// has it; lit's MHA_ISA runs that one, MHA_ISA=avx512 the other); the AVX2
// and generic copies (8 and 4 lanes) are checked on a sample of the layers,
// one library each.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/liblayergrad.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/liblayergrad.h
// RUN: mha-run %s %t/liblayergrad.so --batch 2 --seq-len 37 | FileCheck %s
// RUN: mha-run %s %t/liblayergrad.so --batch 1 --seq-len 1 | FileCheck %s
// RUN: mha-run %s %t/liblayergrad.so --batch 1 --seq-len 300 --num-threads 2 | FileCheck %s
// With the activations NAME_forward_train saved (docs/language.md 7.1,
// "Saved activations"): the same gradients, no recomputation.
// RUN: mha-run %s %t/liblayergrad.so --batch 2 --seq-len 37 --saved-activations | FileCheck %s --check-prefix=SAVED
// RUN: env MHA_ISA=avx512 mha-run %s %t/liblayergrad.so --function shared --function wide_bf16 --function low_rank_bf16 --function latent_bf16 --batch 2 --seq-len 23 | FileCheck %s --check-prefix=BF16
// RUN: mha-compile %s --isa=avx2 --function gqa --function wide --function low_rank_bf16 --function latent -o %t/libavx2.so
// RUN: mha-run %s %t/libavx2.so --function gqa --function wide --function low_rank_bf16 --function latent --batch 3 --seq-len 29 | FileCheck %s --check-prefix=AVX2
// RUN: mha-compile %s --isa=generic --function shared --function mqa --function grouped_low_rank --function latent_v3 -o %t/libgeneric.so
// RUN: mha-run %s %t/libgeneric.so --function shared --function mqa --function grouped_low_rank --function latent_v3 --batch 2 --seq-len 19 | FileCheck %s --check-prefix=GENERIC

// HEADER: gqa_backward: a layer
// HEADER: dy: [B, L, 48] f32 (grad_layer_output)
// HEADER: dx: [B, L, 48] f32 (grad_layer_input)
// HEADER: dbo: [48] f32 (grad_out_bias)
// HEADER: mha_status gqa_backward(const DLTensor *x, {{.*}}, const DLTensor *bo, const DLTensor *dy, DLTensor *dx, DLTensor *dwq, {{.*}}, DLTensor *dbo, const mha_options *opts);
// HEADER: mha_status gqa_forward_train(const DLTensor *x, {{.*}}, const DLTensor *bo, DLTensor *y, const mha_options *opts);
// HEADER: int64_t gqa_saved_bytes(int64_t B, int64_t L);

// CHECK: gqa {{.*}} ok
// CHECK: gqa_backward {{.*}} ok
// CHECK: shared {{.*}} ok
// CHECK: shared_backward {{.*}} ok
// CHECK: grouped {{.*}} ok
// CHECK: grouped_backward {{.*}} ok
// CHECK: mqa {{.*}} ok
// CHECK: mqa_backward {{.*}} ok
// CHECK: wide {{.*}} ok
// CHECK: wide_backward {{.*}} ok
// CHECK: low_rank {{.*}} ok
// CHECK: low_rank_backward {{.*}} ok
// CHECK: wide_bf16 {{.*}} ok
// CHECK: wide_bf16_backward {{.*}} ok
// CHECK: low_rank_bf16 {{.*}} ok
// CHECK: low_rank_bf16_backward {{.*}} ok
// CHECK: grouped_low_rank {{.*}} ok
// CHECK: grouped_low_rank_backward {{.*}} ok
// CHECK: latent {{.*}} ok
// CHECK: latent_backward {{.*}} ok
// CHECK: latent_bf16 {{.*}} ok
// CHECK: latent_bf16_backward {{.*}} ok
// CHECK: latent_v3 {{.*}} ok
// CHECK: latent_v3_backward {{.*}} ok

// SAVED: gqa_backward (saved) {{.*}} ok
// SAVED: shared_backward (saved) {{.*}} ok
// SAVED: grouped_backward (saved) {{.*}} ok
// SAVED: mqa_backward (saved) {{.*}} ok
// SAVED: wide_backward (saved) {{.*}} ok
// SAVED: low_rank_backward (saved) {{.*}} ok
// SAVED: wide_bf16_backward (saved) {{.*}} ok
// SAVED: low_rank_bf16_backward (saved) {{.*}} ok
// SAVED: grouped_low_rank_backward (saved) {{.*}} ok
// SAVED: latent_backward (saved) {{.*}} ok
// SAVED: latent_bf16_backward (saved) {{.*}} ok
// SAVED: latent_v3_backward (saved) {{.*}} ok

// BF16: shared {{.*}} ok
// BF16: shared_backward {{.*}} ok
// BF16: wide_bf16 {{.*}} ok
// BF16: wide_bf16_backward {{.*}} ok
// BF16: low_rank_bf16 {{.*}} ok
// BF16: low_rank_bf16_backward {{.*}} ok
// BF16: latent_bf16 {{.*}} ok
// BF16: latent_bf16_backward {{.*}} ok

// AVX2: gqa {{.*}} ok
// AVX2: gqa_backward {{.*}} ok
// AVX2: wide {{.*}} ok
// AVX2: wide_backward {{.*}} ok
// AVX2: low_rank_bf16 {{.*}} ok
// AVX2: low_rank_bf16_backward {{.*}} ok
// AVX2: latent {{.*}} ok
// AVX2: latent_backward {{.*}} ok

// GENERIC: shared {{.*}} ok
// GENERIC: shared_backward {{.*}} ok
// GENERIC: mqa {{.*}} ok
// GENERIC: mqa_backward {{.*}} ok
// GENERIC: grouped_low_rank {{.*}} ok
// GENERIC: grouped_low_rank_backward {{.*}} ok
// GENERIC: latent_v3 {{.*}} ok
// GENERIC: latent_v3_backward {{.*}} ok

func.func @gqa(%x: tensor<?x?x48xf32>, %wq: tensor<48x64xf32>, %wk: tensor<48x32xf32>, %wv: tensor<48x32xf32>, %wo: tensor<64x48xf32>,
               %bq: tensor<64xf32>, %bk: tensor<32xf32>, %bv: tensor<32xf32>, %bo: tensor<48xf32>) -> tensor<?x?x48xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo {num_heads = 4, num_kv_heads = 2, has_qkv_bias, has_out_bias, causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x48xf32>, tensor<48x64xf32>, tensor<48x32xf32>, tensor<48x32xf32>, tensor<64x48xf32>, tensor<64xf32>, tensor<32xf32>, tensor<32xf32>, tensor<48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

func.func @shared(%x: tensor<?x?x32xbf16>, %wq: tensor<32x8xbf16>, %wk: tensor<32x8xbf16>, %wv: tensor<32x8xbf16>, %wo: tensor<32x32xbf16>,
                  %bq: tensor<4x8xbf16>, %bk: tensor<2x8xbf16>, %bv: tensor<2x8xbf16>) -> tensor<?x?x32xbf16> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 4, num_kv_heads = 2, sharing = #mha.sharing<shared_head_bias>, has_qkv_bias,
      window_left = array<i64: 3, -1, 0, 5>}
      : tensor<?x?x32xbf16>, tensor<32x8xbf16>, tensor<32x8xbf16>, tensor<32x8xbf16>, tensor<32x32xbf16>, tensor<4x8xbf16>, tensor<2x8xbf16>, tensor<2x8xbf16> -> tensor<?x?x32xbf16>
  return %y : tensor<?x?x32xbf16>
}

func.func @grouped(%x: tensor<?x?x40xf32>, %wq: tensor<40x24xf32>, %wk: tensor<40x12xf32>, %wv: tensor<40x12xf32>, %wo: tensor<72x40xf32>,
                   %bq: tensor<6x12xf32>, %bk: tensor<2x12xf32>, %bv: tensor<2x12xf32>) -> tensor<?x?x40xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 6, num_kv_heads = 2, sharing = #mha.sharing<grouped>, has_qkv_bias,
      causal, alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.0>, head_mask = array<i1: true, true, false, true, true, true>}
      : tensor<?x?x40xf32>, tensor<40x24xf32>, tensor<40x12xf32>, tensor<40x12xf32>, tensor<72x40xf32>, tensor<6x12xf32>, tensor<2x12xf32>, tensor<2x12xf32> -> tensor<?x?x40xf32>
  return %y : tensor<?x?x40xf32>
}

func.func @mqa(%x: tensor<?x?x36xf32>, %wq: tensor<36x40xf32>, %wk: tensor<36x10xf32>, %wv: tensor<36x10xf32>, %wo: tensor<40x36xf32>) -> tensor<?x?x36xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, num_kv_heads = 1, causal, softcap = 20.0 : f32, sink_tokens = 2, window_left = array<i64: 6>}
      : tensor<?x?x36xf32>, tensor<36x40xf32>, tensor<36x10xf32>, tensor<36x10xf32>, tensor<40x36xf32> -> tensor<?x?x36xf32>
  return %y : tensor<?x?x36xf32>
}

func.func @wide(%x: tensor<?x?x200xf32>, %wq: tensor<200x256xf32>, %wk: tensor<200x256xf32>, %wv: tensor<200x256xf32>, %wo: tensor<256x200xf32>, %bo: tensor<200xf32>)
    -> tensor<?x?x200xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 4, has_out_bias, causal, rope_theta = 500.0 : f32}
      : tensor<?x?x200xf32>, tensor<200x256xf32>, tensor<200x256xf32>, tensor<200x256xf32>, tensor<256x200xf32>, tensor<200xf32> -> tensor<?x?x200xf32>
  return %y : tensor<?x?x200xf32>
}

func.func @low_rank(%x: tensor<?x?x32xf32>, %qa: tensor<32x6xf32>, %qb: tensor<6x32xf32>,
                    %wk: tensor<32x16xf32>, %va: tensor<32x5xf32>, %vb: tensor<5x16xf32>,
                    %oa: tensor<32x7xf32>, %ob: tensor<7x32xf32>, %bq: tensor<32xf32>,
                    %bk: tensor<16xf32>, %bv: tensor<16xf32>, %bo: tensor<32xf32>)
    -> tensor<?x?x32xf32> attributes {mha.backward} {
  %wq = mha.low_rank %qa, %qb : tensor<32x6xf32>, tensor<6x32xf32> -> tensor<32x32xf32>
  %wv = mha.low_rank %va, %vb : tensor<32x5xf32>, tensor<5x16xf32> -> tensor<32x16xf32>
  %wo = mha.low_rank %oa, %ob : tensor<32x7xf32>, tensor<7x32xf32> -> tensor<32x32xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
      {num_heads = 4, num_kv_heads = 2, has_qkv_bias, has_out_bias, causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>,
        tensor<32x32xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

func.func @wide_bf16(%x: tensor<?x?x200xbf16>, %wq: tensor<200x256xbf16>, %wk: tensor<200x256xbf16>, %wv: tensor<200x256xbf16>, %wo: tensor<256x200xbf16>, %bo: tensor<200xbf16>)
    -> tensor<?x?x200xbf16> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 4, has_out_bias, causal, rope_theta = 500.0 : f32}
      : tensor<?x?x200xbf16>, tensor<200x256xbf16>, tensor<200x256xbf16>, tensor<200x256xbf16>, tensor<256x200xbf16>, tensor<200xbf16> -> tensor<?x?x200xbf16>
  return %y : tensor<?x?x200xbf16>
}

func.func @low_rank_bf16(%x: tensor<?x?x32xbf16>, %qa: tensor<32x6xbf16>, %qb: tensor<6x32xbf16>,
                         %wk: tensor<32x16xbf16>, %va: tensor<32x5xbf16>, %vb: tensor<5x16xbf16>,
                         %oa: tensor<32x7xbf16>, %ob: tensor<7x32xbf16>, %bq: tensor<32xbf16>,
                         %bk: tensor<16xbf16>, %bv: tensor<16xbf16>, %bo: tensor<32xbf16>)
    -> tensor<?x?x32xbf16> attributes {mha.backward} {
  %wq = mha.low_rank %qa, %qb : tensor<32x6xbf16>, tensor<6x32xbf16> -> tensor<32x32xbf16>
  %wv = mha.low_rank %va, %vb : tensor<32x5xbf16>, tensor<5x16xbf16> -> tensor<32x16xbf16>
  %wo = mha.low_rank %oa, %ob : tensor<32x7xbf16>, tensor<7x32xbf16> -> tensor<32x32xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv, %bo
      {num_heads = 4, num_kv_heads = 2, has_qkv_bias, has_out_bias, causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x32xbf16>, tensor<32x32xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>,
        tensor<32x32xbf16>, tensor<32xbf16>, tensor<16xbf16>, tensor<16xbf16>, tensor<32xbf16> -> tensor<?x?x32xbf16>
  return %y : tensor<?x?x32xbf16>
}

func.func @grouped_low_rank(%x: tensor<?x?x40xf32>, %wq: tensor<40x24xf32>, %ka: tensor<40x5xf32>,
                            %kb: tensor<5x12xf32>, %wv: tensor<40x12xf32>, %wo: tensor<72x40xf32>,
                            %bq: tensor<6x12xf32>, %bk: tensor<2x12xf32>, %bv: tensor<2x12xf32>)
    -> tensor<?x?x40xf32> attributes {mha.backward} {
  %wk = mha.low_rank %ka, %kb : tensor<40x5xf32>, tensor<5x12xf32> -> tensor<40x12xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bq, %bk, %bv {num_heads = 6, num_kv_heads = 2, sharing = #mha.sharing<grouped>, has_qkv_bias,
      causal, rope_theta = 10000.0 : f32}
      : tensor<?x?x40xf32>, tensor<40x24xf32>, tensor<40x12xf32>, tensor<40x12xf32>, tensor<72x40xf32>, tensor<6x12xf32>, tensor<2x12xf32>, tensor<2x12xf32> -> tensor<?x?x40xf32>
  return %y : tensor<?x?x40xf32>
}

// d = 48, 3 heads, latent rank 20, Dn = 12, Dr = 8, Dv = 10.
func.func @latent(%x: tensor<?x?x48xf32>, %wq: tensor<48x60xf32>, %wk: tensor<48x28xf32>,
                  %wv: tensor<20x66xf32>, %wo: tensor<30x48xf32>, %bo: tensor<48xf32>)
    -> tensor<?x?x48xf32> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 3, sharing = #mha.sharing<latent>,
      has_out_bias, causal, rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>,
        tensor<30x48xf32>, tensor<48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

func.func @latent_bf16(%x: tensor<?x?x48xbf16>, %wq: tensor<48x60xbf16>, %wk: tensor<48x28xbf16>,
                       %wv: tensor<20x66xbf16>, %wo: tensor<30x48xbf16>)
    -> tensor<?x?x48xbf16> attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>,
      causal, rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32}
      : tensor<?x?x48xbf16>, tensor<48x60xbf16>, tensor<48x28xbf16>, tensor<20x66xbf16>,
        tensor<30x48xbf16> -> tensor<?x?x48xbf16>
  return %y : tensor<?x?x48xbf16>
}

func.func @latent_v3(%x: tensor<?x?x48xf32>, %qa: tensor<48x6xf32>, %qb: tensor<6x60xf32>,
                     %wk: tensor<48x28xf32>, %wv: tensor<20x66xf32>, %oa: tensor<30x9xf32>,
                     %ob: tensor<9x48xf32>) -> tensor<?x?x48xf32> attributes {mha.backward} {
  %wq = mha.low_rank %qa, %qb : tensor<48x6xf32>, tensor<6x60xf32> -> tensor<48x60xf32>
  %wo = mha.low_rank %oa, %ob : tensor<30x9xf32>, tensor<9x48xf32> -> tensor<30x48xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 3, sharing = #mha.sharing<latent>,
      causal, rope_theta = 10000.0 : f32, rms_norm_eps = 1.0e-6 : f32}
      : tensor<?x?x48xf32>, tensor<48x60xf32>, tensor<48x28xf32>, tensor<20x66xf32>,
        tensor<30x48xf32> -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}
