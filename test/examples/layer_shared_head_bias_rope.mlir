// RUN: mha-opt %examples/layer_shared_head_bias_rope.mlir | FileCheck %s
// RUN: mha-opt %examples/layer_shared_head_bias_rope.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// A whole layer: shared projections with per-head biases, GQA 8:2, RoPE,
// output bias, causal; the four biases follow wo in the order bq, bk, bv, bo.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: %[[BQ:[a-z0-9_]+]]: tensor<8x64xf32>, %[[BK:[a-z0-9_]+]]: tensor<2x64xf32>, %[[BV:[a-z0-9_]+]]: tensor<2x64xf32>, %[[BO:[a-z0-9_]+]]: tensor<512xf32>)
// CHECK: mha.multi_head %{{.+}}, %[[BQ]], %[[BK]], %[[BV]], %[[BO]]
// CHECK-SAME: {causal, has_out_bias, has_qkv_bias, num_heads = 8 : i64, num_kv_heads = 2 : i64, rope_theta = 1.000000e+04 : f32, sharing = #mha.sharing<shared_head_bias>}
// CHECK-SAME: tensor<?x?x512xf32>, tensor<512x64xf32>, tensor<512x64xf32>, tensor<512x64xf32>, tensor<512x512xf32>, tensor<8x64xf32>, tensor<2x64xf32>, tensor<2x64xf32>, tensor<512xf32> -> tensor<?x?x512xf32>
