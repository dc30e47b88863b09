// Fuzzer finding F4 (mha-fuzz-spec, CI of 2026-11-27): a function that
// returns nothing of its mha.multi_head (or mha.attention) lost the op to the
// dead-code elimination of mha-expand-layer's greedy rewrite driver, and the
// function, left with tensor arguments, failed the LLVM IR translation. The
// layer passes now rewrite in one walk without DCE: an attention function
// that returns nothing still compiles (its library computes and writes
// nothing), a layer function gets a clear error.
// RUN: mha-compile %s --target=cpu --function attention_nothing -o %t.so
// RUN: llvm-nm -D --defined-only %t.so | FileCheck %s
// CHECK: T attention_nothing
// RUN: not mha-compile %s --target=cpu --function layer_nothing -o %t2.so 2>&1 | FileCheck %s --check-prefix=LAYER
// LAYER: error: layer function 'layer_nothing' must return the output projection

func.func @attention_nothing(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return
}

func.func @layer_nothing(%x: tensor<2x16x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>, %wo: tensor<256x256xf32>) {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, rope_theta = 1.0 : f32}
      : tensor<2x16x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<256x256xf32> -> tensor<2x16x256xf32>
  return
}
