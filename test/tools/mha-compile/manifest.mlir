// --manifest FILE writes the exported functions' C parameters as JSON (the
// Python package reads it to size results and to pair a function with its
// backward): names, roles, directions, element types and shapes, dynamic
// sizes named as in the header. Each spec function (not the backward) also
// lists its mha.attention ops' mask attributes, per-head arrays expanded to
// Hq values (ring attention reads them to skip chunk pairs no head sees).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=cpu -o %t/libm.so --manifest %t/m.json
// RUN: FileCheck %s < %t/m.json
// A layer backward's <name>_forward_train: the forward's parameters, and
// the function that sizes its saved activations.
// RUN: FileCheck %s --check-prefix=TRAIN < %t/m.json
// Without --manifest no manifest is written.
// RUN: mha-compile %s --target=cpu -o %t/other/libm.so
// RUN: not test -e %t/other/m.json
// An unwritable manifest path is an error naming it.
// RUN: not mha-compile %s --target=cpu -o %t/libm2.so --manifest %t/no/such/dir/m.json 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK: "version": 1,
// CHECK: "target": "cpu",
// CHECK: "name": "gqa_backward",
// CHECK: "name": "dout",
// CHECK-NEXT: "role": "grad_output",
// CHECK-NEXT: "input": true,
// CHECK: "name": "gqa",
// CHECK-NEXT: "params": [
// CHECK: "name": "q",
// CHECK-NEXT: "role": "query",
// CHECK-NEXT: "input": true,
// CHECK-NEXT: "dtype": "bf16",
// CHECK-NEXT: "shape": [
// CHECK-NEXT: "B",
// CHECK-NEXT: 4,
// CHECK-NEXT: "Lq",
// CHECK-NEXT: 16
// CHECK: "name": "k",
// CHECK-NEXT: "role": "key",
// CHECK-NEXT: "input": true,
// CHECK-NEXT: "dtype": "bf16",
// CHECK-NEXT: "shape": [
// CHECK-NEXT: "B",
// CHECK-NEXT: 2,
// CHECK-NEXT: "Lk",
// CHECK: "name": "o",
// CHECK-NEXT: "role": "output",
// CHECK-NEXT: "input": false,
// CHECK: "name": "lse",
// CHECK-NEXT: "role": "lse",
// CHECK-NEXT: "input": false,
// CHECK-NEXT: "dtype": "f32",
// CHECK-NEXT: "shape": [
// CHECK-NEXT: "B",
// CHECK-NEXT: 4,
// CHECK-NEXT: "Lq"
// CHECK-NEXT: ]
// CHECK-NEXT: }
// CHECK-NEXT: ],
// CHECK-NEXT: "attention": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_heads": 4,
// CHECK-NEXT: "num_kv_heads": 2,
// CHECK-NEXT: "causal": false,
// CHECK-NEXT: "window_left": [
// CHECK-NEXT: -1,
// CHECK-NEXT: -1,
// CHECK-NEXT: -1,
// CHECK-NEXT: -1
// CHECK-NEXT: ],
// CHECK: "sink_tokens": 0,
// CHECK: "alibi": false,
// CHECK-NEXT: "dropout": null,
// CHECK-NEXT: "return_lse": true
// CHECK: "name": "local",
// CHECK-NEXT: "params": [
// CHECK: "attention": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_heads": 4,
// CHECK-NEXT: "num_kv_heads": 4,
// CHECK-NEXT: "causal": true,
// CHECK-NEXT: "window_left": [
// CHECK-NEXT: 8,
// CHECK-NEXT: -1,
// CHECK-NEXT: 0,
// CHECK-NEXT: 3
// CHECK-NEXT: ],
// CHECK-NEXT: "window_right": [
// CHECK-NEXT: 2,
// CHECK-NEXT: 2,
// CHECK-NEXT: 2,
// CHECK-NEXT: 2
// CHECK-NEXT: ],
// CHECK-NEXT: "sink_tokens": 4,
// CHECK-NEXT: "head_mask": [
// CHECK-NEXT: true,
// CHECK-NEXT: false,
// CHECK-NEXT: true,
// CHECK-NEXT: true
// CHECK-NEXT: ],
// CHECK-NEXT: "alibi": true,
// CHECK-NEXT: "dropout": [
// CHECK-NEXT: 0.5,
// CHECK-NEXT: 0,
// CHECK-NEXT: 0.25,
// CHECK-NEXT: 0
// CHECK-NEXT: ],
// CHECK-NEXT: "return_lse": false

// BAD: no/such/dir/m.json

// TRAIN: "name": "lay_forward_train",
// TRAIN-NEXT: "params": [
// TRAIN: "role": "layer_input",
// TRAIN: "name": "y",
// TRAIN-NEXT: "role": "layer_output",
// TRAIN-NEXT: "input": false,
// TRAIN: "saved_bytes_function": "lay_saved_bytes",
// TRAIN-NEXT: "attention": [

func.func @gqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
               %v: tensor<?x2x?x16xbf16>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>
       -> tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
}

func.func @local(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                 %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 8, -1, 0, 3>,
       window_right = array<i64: 2>, sink_tokens = 4,
       head_mask = array<i1: true, false, true, true>,
       alibi_slopes = array<f32: 0.5>, dropout = array<f32: 0.5, 0.0, 0.25, 0.0>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

func.func @lay(%x: tensor<?x?x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x8xf32>,
               %wv: tensor<16x8xf32>, %wo: tensor<16x16xf32>) -> tensor<?x?x16xf32>
    attributes {mha.backward} {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 2, num_kv_heads = 1, causal}
      : tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>,
        tensor<16x16xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}
