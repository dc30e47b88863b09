// LLaMA-style layers (d = 4096, 32 query heads, 8 KV heads of 128, RoPE,
// causal) with f32, bf16, int8 (column scales) and int4 (scales per 128
// rows) weights (docs/performance.md, "Quantized weights"):
// build/bin/mha-run bench/quantized_layers.mlir <lib> --time-only.
func.func @llama_f32(%x: tensor<1x?x4096xf32>, %wq: tensor<4096x4096xf32>, %wk: tensor<4096x1024xf32>, %wv: tensor<4096x1024xf32>, %wo: tensor<4096x4096xf32>) -> tensor<1x?x4096xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 32, num_kv_heads = 8, rope_theta = 10000.0 : f32, causal}
      : tensor<1x?x4096xf32>, tensor<4096x4096xf32>, tensor<4096x1024xf32>, tensor<4096x1024xf32>, tensor<4096x4096xf32> -> tensor<1x?x4096xf32>
  return %y : tensor<1x?x4096xf32>
}
func.func @llama_bf16(%x: tensor<1x?x4096xbf16>, %wq: tensor<4096x4096xbf16>, %wk: tensor<4096x1024xbf16>, %wv: tensor<4096x1024xbf16>, %wo: tensor<4096x4096xbf16>) -> tensor<1x?x4096xbf16> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 32, num_kv_heads = 8, rope_theta = 10000.0 : f32, causal}
      : tensor<1x?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x1024xbf16>, tensor<4096x4096xbf16> -> tensor<1x?x4096xbf16>
  return %y : tensor<1x?x4096xbf16>
}
func.func @llama_int8_f32(%x: tensor<1x?x4096xf32>, %wq8: tensor<4096x4096xi8>, %sq: tensor<4096xf32>, %wk8: tensor<4096x1024xi8>, %sk: tensor<1024xf32>, %wv8: tensor<4096x1024xi8>, %sv: tensor<1024xf32>, %wo8: tensor<4096x4096xi8>, %so: tensor<4096xf32>) -> tensor<1x?x4096xf32> {
  %wq = mha.quantized %wq8, %sq : tensor<4096x4096xi8>, tensor<4096xf32> -> tensor<4096x4096xf32>
  %wk = mha.quantized %wk8, %sk : tensor<4096x1024xi8>, tensor<1024xf32> -> tensor<4096x1024xf32>
  %wv = mha.quantized %wv8, %sv : tensor<4096x1024xi8>, tensor<1024xf32> -> tensor<4096x1024xf32>
  %wo = mha.quantized %wo8, %so : tensor<4096x4096xi8>, tensor<4096xf32> -> tensor<4096x4096xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 32, num_kv_heads = 8, rope_theta = 10000.0 : f32, causal}
      : tensor<1x?x4096xf32>, tensor<4096x4096xf32>, tensor<4096x1024xf32>, tensor<4096x1024xf32>, tensor<4096x4096xf32> -> tensor<1x?x4096xf32>
  return %y : tensor<1x?x4096xf32>
}
func.func @llama_int8_bf16(%x: tensor<1x?x4096xbf16>, %wq8: tensor<4096x4096xi8>, %sq: tensor<4096xf32>, %wk8: tensor<4096x1024xi8>, %sk: tensor<1024xf32>, %wv8: tensor<4096x1024xi8>, %sv: tensor<1024xf32>, %wo8: tensor<4096x4096xi8>, %so: tensor<4096xf32>) -> tensor<1x?x4096xbf16> {
  %wq = mha.quantized %wq8, %sq : tensor<4096x4096xi8>, tensor<4096xf32> -> tensor<4096x4096xbf16>
  %wk = mha.quantized %wk8, %sk : tensor<4096x1024xi8>, tensor<1024xf32> -> tensor<4096x1024xbf16>
  %wv = mha.quantized %wv8, %sv : tensor<4096x1024xi8>, tensor<1024xf32> -> tensor<4096x1024xbf16>
  %wo = mha.quantized %wo8, %so : tensor<4096x4096xi8>, tensor<4096xf32> -> tensor<4096x4096xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 32, num_kv_heads = 8, rope_theta = 10000.0 : f32, causal}
      : tensor<1x?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x1024xbf16>, tensor<4096x4096xbf16> -> tensor<1x?x4096xbf16>
  return %y : tensor<1x?x4096xbf16>
}
func.func @llama_int4_f32(%x: tensor<1x?x4096xf32>, %wq4: tensor<4096x2048xi8>, %sq: tensor<32x4096xf32>, %wk4: tensor<4096x512xi8>, %sk: tensor<32x1024xf32>, %wv4: tensor<4096x512xi8>, %sv: tensor<32x1024xf32>, %wo4: tensor<4096x2048xi8>, %so: tensor<32x4096xf32>) -> tensor<1x?x4096xf32> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<4096x2048xi8>, tensor<32x4096xf32> -> tensor<4096x4096xf32>
  %wk = mha.quantized %wk4, %sk {bits = 4} : tensor<4096x512xi8>, tensor<32x1024xf32> -> tensor<4096x1024xf32>
  %wv = mha.quantized %wv4, %sv {bits = 4} : tensor<4096x512xi8>, tensor<32x1024xf32> -> tensor<4096x1024xf32>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<4096x2048xi8>, tensor<32x4096xf32> -> tensor<4096x4096xf32>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 32, num_kv_heads = 8, rope_theta = 10000.0 : f32, causal}
      : tensor<1x?x4096xf32>, tensor<4096x4096xf32>, tensor<4096x1024xf32>, tensor<4096x1024xf32>, tensor<4096x4096xf32> -> tensor<1x?x4096xf32>
  return %y : tensor<1x?x4096xf32>
}
func.func @llama_int4_bf16(%x: tensor<1x?x4096xbf16>, %wq4: tensor<4096x2048xi8>, %sq: tensor<32x4096xf32>, %wk4: tensor<4096x512xi8>, %sk: tensor<32x1024xf32>, %wv4: tensor<4096x512xi8>, %sv: tensor<32x1024xf32>, %wo4: tensor<4096x2048xi8>, %so: tensor<32x4096xf32>) -> tensor<1x?x4096xbf16> {
  %wq = mha.quantized %wq4, %sq {bits = 4} : tensor<4096x2048xi8>, tensor<32x4096xf32> -> tensor<4096x4096xbf16>
  %wk = mha.quantized %wk4, %sk {bits = 4} : tensor<4096x512xi8>, tensor<32x1024xf32> -> tensor<4096x1024xbf16>
  %wv = mha.quantized %wv4, %sv {bits = 4} : tensor<4096x512xi8>, tensor<32x1024xf32> -> tensor<4096x1024xbf16>
  %wo = mha.quantized %wo4, %so {bits = 4} : tensor<4096x2048xi8>, tensor<32x4096xf32> -> tensor<4096x4096xbf16>
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 32, num_kv_heads = 8, rope_theta = 10000.0 : f32, causal}
      : tensor<1x?x4096xbf16>, tensor<4096x4096xbf16>, tensor<4096x1024xbf16>, tensor<4096x1024xbf16>, tensor<4096x4096xbf16> -> tensor<1x?x4096xbf16>
  return %y : tensor<1x?x4096xbf16>
}
