// --manifest FILE writes the exported functions' C parameters as JSON (the
// Python package reads it to size results and to pair a function with its
// backward): names, roles, directions, element types and shapes, dynamic
// sizes named as in the header.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=cpu -o %t/libm.so --manifest %t/m.json
// RUN: FileCheck %s < %t/m.json
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

// BAD: no/such/dir/m.json

func.func @gqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
               %v: tensor<?x2x?x16xbf16>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>
       -> tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
}
