// RUN: mha-opt %examples/alibi_softcap_temperature.mlir | FileCheck %s
// RUN: mha-opt %examples/alibi_softcap_temperature.mlir --mlir-print-op-generic | mha-opt | FileCheck %s

// Per-head ALiBi slopes, softcap 50 and per-head temperature, causal.
// CHECK-LABEL: func.func @alibi_softcap_temperature
// CHECK: mha.attention
// CHECK-SAME: alibi_slopes = array<f32: 5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02, 3.125000e-02, 1.562500e-02, 7.812500e-03, 3.906250e-03>
// CHECK-SAME: causal
// CHECK-SAME: softcap = 5.000000e+01 : f32
// CHECK-SAME: temperature = array<f32: 5.000000e-01, 7.500000e-01, 1.000000e+00, 1.000000e+00, 1.250000e+00, 1.500000e+00, 2.000000e+00, 4.000000e+00>
// CHECK-SAME: tensor<?x8x?x80xf32>

// One slope for all heads and an explicit scale.
// CHECK-LABEL: func.func @alibi_uniform
// CHECK: mha.attention {{.*}} {alibi_slopes = array<f32: 6.250000e-02>, causal, scale = 1.118000e-01 : f32}
