// RUN: mha-opt %s --convert-mha-to-nvvm -split-input-file --canonicalize --cse | FileCheck %s

// The per-key mask of the GPU kernels is the shared visibility rule
// (mha/Semantics/KeyVisibility.h): the bounds once per row, the test per
// score, with the end of the key tile. What the heads' tables decide at
// compile time costs nothing: a causal head without window or sinks tests
// `key < jEnd and key <= diag` per score, and no unbounded side
// (kUnboundedKey = 2^40) is left in the kernel.

// CHECK-LABEL: gpu.func @causal__kernel(
// CHECK-NOT: 1099511627776
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK:   %[[ROW:.*]] = arith.addi
// CHECK:   %[[DIAG:.*]] = arith.addi %[[ROW]], %{{.*}} : index
// CHECK:   %[[S:.*]] = arith.mulf
// CHECK:   %[[IN_TILE:.*]] = arith.cmpi slt, %[[KEY:.*]], %{{.*}} : index
// CHECK:   %[[CAUSAL:.*]] = arith.cmpi sle, %[[KEY]], %[[DIAG]] : index
// CHECK:   %[[VISIBLE:.*]] = arith.andi %[[IN_TILE]], %[[CAUSAL]] : i1
// CHECK:   arith.select %[[VISIBLE]], %[[S]], %cst{{.*}} : f32
// CHECK: } else {
// CHECK-NOT: 1099511627776
// CHECK-LABEL: gpu.func @causal__kernel_unaligned(
func.func @causal(%q: tensor<?x2x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %o = mha.attention %q, %k, %v {causal}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %o : tensor<?x2x?x64xf16>
}

// -----

// Per-head left windows (a table, -1 for the global heads) with sinks: per
// row, lo = window_left >= 0 ? diag - window_left : -2^40 and the sink end
// min(4, diag + 1), tested as key < 4 and key < diag + 1; the right side of
// the window is unbounded for every head, so only the causal bound remains.
// CHECK-LABEL: gpu.func @local__kernel(
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK:   %[[LEFT:.*]] = arith.subi %[[DIAG:.*]], %{{.*}} overflow<nsw> : index
// CHECK:   %[[LO:.*]] = arith.select %{{.*}}, %[[LEFT]], %c-1099511627776 : index
// CHECK:   %[[NEXT:.*]] = arith.addi %[[DIAG]], %c1 overflow<nsw> : index
// CHECK:   %[[IN_TILE:.*]] = arith.cmpi slt, %[[KEY:.*]], %{{.*}} : index
// CHECK:   %[[GE_LO:.*]] = arith.cmpi sge, %[[KEY]], %[[LO]] : index
// CHECK:   %[[LE_HI:.*]] = arith.cmpi sle, %[[KEY]], %[[DIAG]] : index
// CHECK:   %[[WINDOW:.*]] = arith.andi %[[GE_LO]], %[[LE_HI]] : i1
// CHECK:   %[[SINKS:.*]] = arith.cmpi slt, %[[KEY]], %c4 : index
// CHECK:   %[[CAUSAL:.*]] = arith.cmpi slt, %[[KEY]], %[[NEXT]] : index
// CHECK:   %[[SINK:.*]] = arith.andi %[[SINKS]], %[[CAUSAL]] : i1
// CHECK:   %[[IN:.*]] = arith.ori %[[WINDOW]], %[[SINK]] : i1
// CHECK:   %[[VISIBLE:.*]] = arith.andi %[[IN_TILE]], %[[IN]] : i1
// CHECK:   arith.select %[[VISIBLE]]
func.func @local(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>) -> tensor<?x4x?x64xf16> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 4, window_left = array<i64: 16, -1, 64, -1>}
      : tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16> -> tensor<?x4x?x64xf16>
  return %o : tensor<?x4x?x64xf16>
}

// -----

// ALiBi (issue 23) measures each score's distance from the row's key
// nearest its diagonal, max(diag, 0), in index arithmetic: rows far before
// the keys (Lq >> Lk) keep scores in their real range. The lse adds the
// bias left out, slope * min(diag, 0), back.
// CHECK-LABEL: gpu.func @alibi__kernel(
// CHECK:   %[[KEY_LEN:.*]] = memref.dim %arg1, %c2
// CHECK:   %[[DIAG_OFFSET:.*]] = arith.subi %[[KEY_LEN]], %{{.*}} : index
// CHECK:   %[[SLOPES:.*]] = memref.get_global @alibi__alibi_slopes
// CHECK:   %[[SLOPE:.*]] = memref.load %[[SLOPES]]
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK:   %[[SLOPE2:.*]] = arith.mulf %[[SLOPE]], %{{.*}} : f32
// CHECK:   %[[DIAG:.*]] = arith.addi %{{.*}}, %[[DIAG_OFFSET]] : index
// CHECK:   %[[ORIGIN:.*]] = arith.maxsi %[[DIAG]], %c0 : index
// CHECK:   %[[DIST:.*]] = arith.subi %[[ORIGIN]], %{{.*}} : index
// CHECK:   %[[NEG:.*]] = arith.cmpi slt, %[[DIST]], %c0 : index
// CHECK:   %[[FLIP:.*]] = arith.subi %c0, %[[DIST]] : index
// CHECK:   %[[ABS:.*]] = arith.select %[[NEG]], %[[FLIP]], %[[DIST]] : index
// CHECK:   %[[ABS64:.*]] = arith.index_cast %[[ABS]] : index to i64
// CHECK:   %[[ABSF:.*]] = arith.sitofp %[[ABS64]] : i64 to f32
// CHECK:   %[[BIAS:.*]] = arith.mulf %[[SLOPE2]], %[[ABSF]] : f32
// CHECK:   arith.subf %{{.*}}, %[[BIAS]] : f32
// CHECK: llvm.nvvm.lg2.approx
// CHECK:   %[[LSE:.*]] = arith.mulf
// CHECK:   %[[ROW_DIAG:.*]] = arith.addi %{{.*}}, %[[DIAG_OFFSET]] : index
// CHECK:   %[[BEFORE:.*]] = arith.minsi %[[ROW_DIAG]], %c0 : index
// CHECK:   %[[BEFORE64:.*]] = arith.index_cast %[[BEFORE]] : index to i64
// CHECK:   %[[BEFOREF:.*]] = arith.sitofp %[[BEFORE64]] : i64 to f32
// CHECK:   %[[ROW_BIAS:.*]] = arith.mulf %[[SLOPE]], %[[BEFOREF]] : f32
// CHECK:   %[[LSE_ALIBI:.*]] = arith.addf %[[LSE]], %[[ROW_BIAS]] : f32
// CHECK:   %[[LSE_ROW:.*]] = arith.select %{{.*}}, %[[LSE_ALIBI]], %cst{{.*}} : f32
// CHECK:   memref.store %[[LSE_ROW]], %arg4
// CHECK-LABEL: gpu.func @alibi__kernel_unaligned(
func.func @alibi(%q: tensor<?x2x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>) -> (tensor<?x2x?x64xf16>, tensor<?x2x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.5, 0.25>, return_lse}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x64xf16>, tensor<?x2x?xf32>
}
