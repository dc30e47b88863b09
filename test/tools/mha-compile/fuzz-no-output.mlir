// Fuzzer finding F1 (mha-fuzz-spec-gen, issue 9): a function that returns
// some results of its mha.attention but not the output `o` made mha-tile
// dereference a null memref. Such a function is valid: it compiles, and its
// library writes only what it returns (checked end to end in
// test/Integration/CPU/extras.mlir).
// RUN: mha-compile %s --target=cpu -o %t.so
// RUN: llvm-nm -D --defined-only %t.so | FileCheck %s
// CHECK: T f0
func.func @f0(%q: tensor<3x7x17x32xf32>, %k: tensor<3x7x17x32xf32>,
              %v: tensor<3x7x17x32xf32>) -> tensor<3x7x17xf32> {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<3x7x17x32xf32>, tensor<3x7x17x32xf32>, tensor<3x7x17x32xf32>
       -> tensor<3x7x17x32xf32>, tensor<3x7x17xf32>
  return %lse : tensor<3x7x17xf32>
}
