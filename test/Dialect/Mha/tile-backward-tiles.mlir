// The tiles and work items mha-tile-backward chooses (TileBackward.cpp):
// whole-head key items (one per KV head, dq summed in place: the grid's
// keys per item are 2^62) for f32 specs with D and Dv multiples of 16 and
// at least 4 KV heads; split key (64 keys) and query (64 rows) items
// otherwise; default tiles halved while a work item's scratch exceeds the
// budget (large head dims); a vector width that is not a multiple of 4 is
// refused.
// RUN: mha-opt %s --split-input-file --mha-tile-backward | FileCheck %s
// RUN: mha-opt %s --split-input-file --mha-tile-backward="whole-heads=false" | FileCheck %s --check-prefix=SPLIT
// RUN: mha-opt %s --split-input-file --mha-tile-backward="vector-width=8" | FileCheck %s --check-prefix=AVX2
// RUN: not mha-opt %s --split-input-file --mha-tile-backward="vector-width=6" 2>&1 | FileCheck %s --check-prefix=WIDTH
// WIDTH: error: mha-tile-backward: vector-width must be a multiple of 4, not 6

// CHECK-LABEL: func.func @whole_backward__kernel(
// CHECK-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 0>
// CHECK-SAME: rowsPerItem = 64
// The key item's scratch: dk, dv, Kt, Vt, the copies of Q, dout and K
// rows, P, dS. f32 rows are read in place where they are contiguous (the
// row stride equals the head dim) and start on a 64-byte line, else
// copied per tile ([B, L, H, D] views); it zeroes dq (%arg6) and sums
// into it.
// CHECK: scf.if
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x32xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<32x64xf32>
// CHECK-NEXT: %[[QCOPY:.+]] = memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x32xf32>
// CHECK-NEXT: %[[KCOPY:.+]] = memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// Whether Q, dout and K need copies: once per item.
// CHECK-NEXT: %{{.+}}, %{{.+}}, %{{.+}}:4, %[[QSTRIDES:.+]]:4 = memref.extract_strided_metadata %arg0
// CHECK-NEXT: %[[QAPART:.+]] = arith.cmpi ne, %[[QSTRIDES]]#2, %c64
// CHECK-NEXT: memref.extract_aligned_pointer_as_index %arg0
// CHECK: %[[QCOPIES:.+]] = arith.ori %[[QAPART]], %{{.+}} : i1
// CHECK: memref.extract_strided_metadata %arg5
// CHECK: %{{.+}}, %{{.+}}, %{{.+}}:4, %[[KSTRIDES:.+]]:4 = memref.extract_strided_metadata %arg1
// CHECK-NEXT: %[[KAPART:.+]] = arith.cmpi ne, %[[KSTRIDES]]#2, %c64
// CHECK-NEXT: memref.extract_aligned_pointer_as_index %arg1
// CHECK: %[[KCOPIES:.+]] = arith.ori %[[KAPART]], %{{.+}} : i1
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NEXT: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-NOT: memref.alloca
// CHECK: vector.store %{{.*}}, %arg6[
// CHECK: scf.if %[[KCOPIES]] -> (memref<?x64xf32, strided<[?, 1], offset: ?>>)
// CHECK: memref.subview %[[KCOPY]]
// CHECK: scf.if %[[QCOPIES]] -> (memref<?x64xf32, strided<[?, 1], offset: ?>>)
// CHECK: memref.subview %[[QCOPY]]
// CHECK: vector.load %arg6[
// CHECK: vector.store %{{.*}}, %arg6[
// The query items only zero dq when there are no keys.
// CHECK: } else {
// CHECK-NOT: memref.alloca
// CHECK: return
// SPLIT-LABEL: func.func @whole_backward__kernel(
// SPLIT-SAME: mha.backward_grid = array<i64: 4, 64, 1, 0, 0>
// AVX2-LABEL: func.func @whole_backward__kernel(
// AVX2-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 0>
// AVX2: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<8xf32>
func.func @whole(%q: tensor<?x8x?x64xf32>, %k: tensor<?x4x?x64xf32>,
                 %v: tensor<?x4x?x32xf32>)
    -> (tensor<?x8x?x32xf32>, tensor<?x8x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x8x?x32xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x32xf32>, tensor<?x8x?xf32>
}

// -----

// bf16: whole heads summing dq in the runtime's f32 temporary (its 64
// columns the last grid word); D = 24: split items.
// CHECK-LABEL: func.func @half_backward__kernel(
// CHECK-SAME: mha.backward_grid = array<i64: 4, 4611686018427387904, 1, 0, 64>
// CHECK-LABEL: func.func @odd_backward__kernel(
// CHECK-SAME: mha.backward_grid = array<i64: 4, 64, 1, 0, 0>
func.func @half(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
                %v: tensor<?x4x?x64xbf16>)
    -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>
       -> tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
}
func.func @odd(%q: tensor<?x4x?x24xf32>, %k: tensor<?x4x?x24xf32>,
               %v: tensor<?x4x?x24xf32>)
    -> (tensor<?x4x?x24xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x4x?x24xf32>, tensor<?x4x?x24xf32>, tensor<?x4x?x24xf32>
       -> tensor<?x4x?x24xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x24xf32>, tensor<?x4x?xf32>
}

// -----

// D = Dv = 1024: 64-row and 64-key tiles need about 1.6 MB of scratch, so
// the default tiles halve to 32 rows and 32 keys.
// CHECK-LABEL: func.func @wide_backward__kernel(
// CHECK-SAME: mha.backward_grid = array<i64: 2, 32, 1, 0, 0>
// CHECK-SAME: rowsPerItem = 32
func.func @wide(%q: tensor<?x2x?x1024xf32>, %k: tensor<?x2x?x1024xf32>,
                %v: tensor<?x2x?x1024xf32>)
    -> (tensor<?x2x?x1024xf32>, tensor<?x2x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x2x?x1024xf32>, tensor<?x2x?x1024xf32>, tensor<?x2x?x1024xf32>
       -> tensor<?x2x?x1024xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x1024xf32>, tensor<?x2x?xf32>
}
