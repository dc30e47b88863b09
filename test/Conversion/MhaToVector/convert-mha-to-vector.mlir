// RUN: mha-opt %s -split-input-file -convert-mha-to-vector | FileCheck %s

// An unmasked step: per row, a loop over the tile's keys carrying the
// accumulator row in a vector and (max, sum, entropy) as scalars; dot
// products are vector multiplies reduced with vector.reduction; no mask
// compare is emitted; f16 tiles are widened to f32.
// CHECK-LABEL: func.func @step_unmasked
// CHECK:         scf.for %[[R:.+]] = %{{.+}} to %{{.+}} step
// CHECK:           %[[Q:.+]] = vector.load %{{.+}}[%[[R]], %{{.+}}] : memref<?x16xf16, strided<[?, 1], offset: ?>>, vector<16xf16>
// CHECK:           arith.extf %[[Q]] : vector<16xf16> to vector<16xf32>
// CHECK:           scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, f32, f32, f32)
// CHECK:             vector.reduction <add>
// CHECK-NOT:         arith.cmpi
// CHECK:             math.exp2
// CHECK:             vector.fma
// CHECK:           vector.store {{.*}} : memref<?x8xf32, strided<[8, 1], offset: ?>>, vector<8xf32>
func.func @step_unmasked(%q: memref<?x16xf16, strided<[?, 1], offset: ?>>, %k: memref<?x16xf16, strided<[?, 1], offset: ?>>, %v: memref<?x8xf16, strided<[?, 1], offset: ?>>,
                         %acc: memref<?x8xf32, strided<[8, 1], offset: ?>>, %m: memref<?xf32, strided<[1], offset: ?>>, %l: memref<?xf32, strided<[1], offset: ?>>, %t: memref<?xf32, strided<[1], offset: ?>>,
                         %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %s: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf16, strided<[?, 1], offset: ?>>, memref<?x16xf16, strided<[?, 1], offset: ?>>, memref<?x8xf16, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x8xf32, strided<[8, 1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %s)
  return
}

// -----

// A masked causal step with softcap and ALiBi: the score goes through tanh,
// the distance |p - j| is subtracted, and the update sits under an scf.if on
// the visibility of the key.
// CHECK-LABEL: func.func @step_masked
// CHECK:         math.tanh
// CHECK:         arith.sitofp
// CHECK:         arith.cmpi sle
// CHECK:         scf.if %{{.+}} -> (vector<8xf32>, f32, f32, f32)
// CHECK:           math.exp2
func.func @step_masked(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %v: memref<?x8xf32>,
                       %acc: memref<?x8xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                       %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %s: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf32>, memref<?x8xf32>)
      outs(%acc, %m, %l, %t : memref<?x8xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %s) {causal, masked, has_alibi, softcap = 20.0 : f32, track_entropy}
  return
}

// -----

// Finalisation divides by the row sum only where it is positive, writes
// -inf lse and zero entropy for empty rows, and narrows to bf16.
// CHECK-LABEL: func.func @finalize
// CHECK-DAG:     arith.constant 0xFF800000 : f32
// CHECK:         arith.cmpf ogt
// CHECK:         arith.divf
// CHECK:         arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK:         math.log2
// CHECK:         memref.store
// CHECK:         arith.maximumf
// CHECK:         memref.store
func.func @finalize(%acc: memref<?x8xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>, %alive: i1,
                    %o: memref<?x8xbf16>, %lse: memref<?xf32>, %ent: memref<?xf32>) {
  mha.online_softmax_finalize ins(%acc, %m, %l, %t : memref<?x8xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>) alive(%alive)
      outs(%o : memref<?x8xbf16>) lse(%lse : memref<?xf32>) entropy(%ent : memref<?xf32>)
  return
}

// -----

// Probabilities: a loop over every key writing exp2(u - m - log2 l) where
// visible and 0 elsewhere.
// CHECK-LABEL: func.func @probs
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             math.exp2
// CHECK:             memref.store {{.*}} : memref<?x?xf32>
func.func @probs(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %alive: i1, %p: memref<?x?xf32>,
                 %scale: f32, %slope: f32, %qp: index, %j: index, %wl: index, %wr: index, %s: index) {
  mha.attention_probs ins(%q, %k, %m, %l : memref<?x16xf32>, memref<?x16xf32>, memref<?xf32>, memref<?xf32>) alive(%alive)
      outs(%p : memref<?x?xf32>) scale(%scale, %slope) at(%qp, %j) window(%wl, %wr, %s) {causal}
  return
}
