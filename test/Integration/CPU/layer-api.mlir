// The C interface of a layer: the header mha-compile writes declares
// x, wq, wk, wv, wo, bo and y; a wrong weight shape or a NULL tensor is
// refused with a message naming the parameter and nothing is written; the
// runtime head mask ablates heads of the layer (all ablated: y = bo);
// results do not depend on the thread count or on the strides of x and y.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/liblayer.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/liblayer.h
// RUN: %host_cc -std=c11 -Wall -Werror -I%t %S/Inputs/layer_call.c -L%t -llayer -Wl,-rpath,%t -lm -o %t/layer_call
// RUN: %t/layer_call | FileCheck %s

// HEADER: layer: a layer, x and y [B, L, d]
// HEADER: x: [B, L, 32] f32 (layer_input)
// HEADER: bo: [32] f32 (out_bias)
// HEADER: mha_status layer(const DLTensor *x, const DLTensor *wq, const DLTensor *wk, const DLTensor *wv, const DLTensor *wo, const DLTensor *bo, DLTensor *y, const mha_options *opts);

// CHECK: shape: MHA_ERR_SHAPE: {{.*}}layer: 'wk' (key weight) dim 1 is 8 but the spec expects 16
// CHECK: null: MHA_ERR_NULL_POINTER: {{.*}}layer: 'wv' (value weight) is NULL
// CHECK: y untouched after errors
// CHECK: all heads ablated: y = bo
// CHECK: one head ablated: y changes
// CHECK: 1 thread: bit-identical
// CHECK: strided x and y: same result
// CHECK: PASS
func.func @layer(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>, %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>, %wo: tensor<32x32xf32>, %bo: tensor<32xf32>) -> tensor<?x?x32xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo, %bo {num_heads = 2, num_kv_heads = 1, has_out_bias, rope_theta = 10000.0 : f32, causal}
     : tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<32x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
