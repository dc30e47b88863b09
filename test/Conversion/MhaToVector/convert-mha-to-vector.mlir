// RUN: mha-opt %s -split-input-file -convert-mha-to-vector | FileCheck %s

// An unmasked f16 step: keys are packed transposed with 16x16 vector
// transposes (lowered to shuffles here, before a canonicalizer can scalarise
// them), values widened into their scratch; then, for each band of 64 rows
// (the score scratch's), S = Q.K^T keeps 4x4 vector accumulators in
// registers across the head dim; the softmax takes each row's max over key
// vectors with compare-and-select (one vmaxps) and reduces it and the sum
// halves first, down to one lane (keys past the tile are masked, no window
// compares); P.V keeps 4x1 accumulators across the keys. (Steps of up to
// 16 rows sum their scores along D instead, the f16 keys widened once per
// chunk for 4 rows: @step_dequantize shows that path for i8 keys.)
// CHECK-LABEL: func.func @step_unmasked
// CHECK:         %[[PACKED:.+]] = arith.cmpi sgt, %{{.+}}, %c16 : index
// CHECK:         scf.if %[[PACKED]] {
// CHECK:         vector.load %{{.+}} : memref<?x16xf16, strided<[?, 1], offset: ?>>, vector<16xf16>
// CHECK:         vector.shuffle
// CHECK:         arith.extf {{.*}} : vector<16xf16> to vector<16xf32>
// CHECK:         scf.for %[[BAND:.+]] = %c0 to %{{.+}} step %c64 {
// CHECK:           scf.if %[[PACKED]] {
// CHECK:           scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c4
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-16: vector.fma
// CHECK:         arith.cmpf ogt, %{{.+}} : vector<16xf32>
// CHECK-NOT:     arith.maximumf {{.*}} : vector<16xf32>
// CHECK-NOT:     arith.cmpi sge
// CHECK:         vector.shuffle %{{.+}} [0, 1, 2, 3, 4, 5, 6, 7] : vector<16xf32>, vector<16xf32>
// CHECK:         arith.cmpf ogt, %{{.+}} : vector<8xf32>
// CHECK:         vector.extract %{{.+}}[0] : f32 from vector<1xf32>
// CHECK:         math.exp2
// CHECK:         vector.shuffle %{{.+}} [8, 9, 10, 11, 12, 13, 14, 15] : vector<16xf32>, vector<16xf32>
// CHECK:         arith.addf %{{.+}} : vector<8xf32>
// CHECK-NOT:     vector.reduction
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4: vector.fma
func.func @step_unmasked(%q: memref<?x16xf32>, %k: memref<?x16xf16, strided<[?, 1], offset: ?>>, %v: memref<?x16xf16, strided<[?, 1], offset: ?>>,
                         %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                         %kt: memref<16x64xf32>, %vp: memref<64x16xf32>, %s: memref<64x64xf32>, %alpha: memref<64xf32>,
                         %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf16, strided<[?, 1], offset: ?>>, memref<?x16xf16, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<16x64xf32>, memref<64x16xf32>, memref<64x64xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 1>}
  return
}

// -----

// A masked f32 step with softcap, ALiBi and entropy: tanh of the scaled
// scores, the ALiBi distance |p - j| subtracted (a causal row with p < 0
// sees no key, so its distances need no shift; see @step_alibi_shift),
// per-row window bounds compared
// with the key lanes, and the entropy term accumulated; f32 values that
// need no padding are read in place (no widening loop). The S micro-kernel
// of a row block stops at the last key its last row sees: one past
// min(p, p + window_right), or the sink end, relative to the tile, in
// [0, keys]; the P.V kernel stops there too. A band of rows whose last row
// sees no key of the tile is skipped. A masked step first checks its
// values for NaN and infinities (|v| >= inf, unordered); where there are
// some, phase 5 skips P = 0 key by key instead of running the micro-kernel,
// so 0 * inf never reaches a row that cannot see the key.
// CHECK-LABEL: func.func @step_masked
// CHECK-NOT:     arith.extf
// CHECK:         math.absf %{{.+}} : vector<16xf32>
// CHECK:         arith.cmpf uge, %{{.+}} : vector<16xf32>
// CHECK:         %[[NONFINITE:.+]] = vector.reduction <or>, %{{.+}} : vector<16xi1> into i1
// CHECK:         scf.for %{{.+}} = %c0 to %{{.+}} step %c64 {
// CHECK:           %[[SEES:.+]] = arith.cmpi sgt, %{{.+}}, %c0 : index
// CHECK:           scf.if %[[SEES]] {
// CHECK:         %[[BOUND:.+]] = arith.maxsi %{{.+}}, %{{.+}} : index
// CHECK:         %[[REL:.+]] = arith.subi %[[BOUND]], %{{.+}} : index
// CHECK:         %[[LO:.+]] = arith.maxsi %[[REL]], %c0 : index
// CHECK:         %[[END:.+]] = arith.minsi %[[LO]], %{{.+}} : index
// CHECK:         scf.for %{{.+}} = %c0 to %[[END]] step %c32
// CHECK:         %[[ROW_P:.+]] = arith.addi %arg13, %{{.+}} : index
// CHECK:         %[[P_REL:.+]] = arith.subi %[[ROW_P]], %arg14 : index
// CHECK-NEXT:    %[[P64:.+]] = arith.index_cast %[[P_REL]] : index to i64
// CHECK-NEXT:    %[[PF:.+]] = arith.sitofp %[[P64]] : i64 to f32
// CHECK:         math.tanh
// CHECK:         %[[PV:.+]] = vector.broadcast %[[PF]] : f32 to vector<16xf32>
// CHECK:         %[[DIFF:.+]] = arith.subf %[[PV]], %{{.+}} : vector<16xf32>
// CHECK:         math.absf %[[DIFF]]
// CHECK:         arith.cmpi sge, %{{.+}} : vector<16xi32>
// CHECK:         arith.cmpi sle, %{{.+}} : vector<16xi32>
// CHECK:         math.exp2
// CHECK:         vector.fma
// CHECK:         memref.store {{.*}} : memref<?xf32>
// CHECK:         scf.if %[[NONFINITE]] {
// CHECK:           scf.for
// CHECK:             arith.cmpf une, %{{.+}} : f32
// CHECK:             scf.if
// CHECK:               vector.fma
// CHECK:         } else {
// CHECK:         %[[PVLO:.+]] = arith.maxsi %{{.+}}, %c0 : index
// CHECK:         %[[PVEND:.+]] = arith.minsi %[[PVLO]], %{{.+}} : index
// CHECK:         scf.for %{{.+}} = %c0 to %c16 step %c16
// CHECK:         scf.for %{{.+}} = %c0 to %[[PVEND]] step %c1
// CHECK:         vector.fma
func.func @step_masked(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>,
                       %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                       %kt: memref<16x32xf32>, %vp: memref<32x16xf32>, %s: memref<64x32xf32>, %alpha: memref<64xf32>,
                       %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf32>, memref<?x16xf32>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<16x32xf32>, memref<32x16xf32>, memref<64x32xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {causal, masked, has_alibi, softcap = 20.0 : f32, track_entropy,
       micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 2, scoreVectors = 2, outputRows = 2, outputVectors = 1>}
  return
}

// -----

// An f32 cache with up to 32 rows (decoding): K is packed only when the
// step has more rows. With up to 8, each row's scores are summed along D
// from K in place (products of a key row with the query row, in two
// chains: even and odd vectors), the vectors of 16 keys reduced to one
// vector of scores by a tree of shuffles and adds (halves of 8 lanes
// first, pairs of single lanes last), and P.V runs 2 rows x whole value
// rows (here one vector). With 9 to 32, the scores are computed by keys:
// Q packed transposed into the key scratch, 16 rows as the lanes, each
// key's element broadcast from K in place into one FMA chain per key (16
// keys, a line of the next 16 prefetched per step), the 16 x 16 block
// transposed into rows of S; P.V runs the packed step's 4-row block.
// f32 values are read in place but for packed steps over rows that are
// not contiguous (a [B, L, H, D] view) or do not start on a 64-byte line:
// those copy them into %vp.
// CHECK-LABEL: func.func @step_few_rows
// CHECK:         %[[PACKED:.+]] = arith.cmpi sgt, %{{.+}}, %c32 : index
// CHECK:         %[[ALONG_D:.+]] = arith.cmpi sle, %{{.+}}, %c8 : index
// CHECK:         scf.if %[[PACKED]] {
// CHECK:           vector.shuffle
// CHECK:           vector.store %{{.+}}, %arg7
// CHECK:         }
// CHECK:         %{{.+}}, %[[VOFFSET:.+]], %{{.+}}:2, %[[VSTRIDES:.+]]:2 = memref.extract_strided_metadata %arg2
// CHECK:         %[[APART:.+]] = arith.cmpi ne, %[[VSTRIDES]]#0, %c16 : index
// CHECK:         %[[VPTR:.+]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK:         %[[VBYTES:.+]] = arith.muli %[[VOFFSET]], %c4
// CHECK:         %[[VSTART:.+]] = arith.addi %[[VPTR]], %[[VBYTES]]
// CHECK:         %[[VLINE:.+]] = arith.remui %[[VSTART]], %c64
// CHECK:         %[[OFFLINE:.+]] = arith.cmpi ne, %[[VLINE]], %c0
// CHECK:         %[[NEEDS:.+]] = arith.ori %[[APART]], %[[OFFLINE]] : i1
// CHECK:         %[[COPY:.+]] = arith.andi %[[PACKED]], %[[NEEDS]] : i1
// CHECK:         scf.if %[[COPY]] -> (memref<?x16xf32, strided<[?, 1], offset: ?>>) {
// CHECK:           vector.store %{{.+}}, %arg8[%{{.+}}, %c0] : memref<64x16xf32>, vector<16xf32>
// CHECK:           memref.subview %arg8[0, 0] [%{{.+}}, 16] [1, 1]
// CHECK:         } else {
// CHECK:           scf.yield %arg2
// CHECK:         scf.for %[[BAND:.+]] = %c0 to %{{.+}} step %c64 {
// CHECK:           scf.if %[[PACKED]] {
// CHECK:             scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c4
// CHECK:           } else {
// CHECK:             scf.if %[[ALONG_D]] {
// CHECK:             scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c1 {
// CHECK:               scf.for %[[KEY:.+]] = %c0 to %{{.+}} step %c16 {
// CHECK:                 %[[K0:.+]] = vector.load %arg1[%{{.+}}, %c0] : memref<?x32xf32, strided<[?, 1], offset: ?>>, vector<16xf32>
// CHECK-NEXT:            %[[P0:.+]] = arith.mulf %[[K0]], %{{.+}} : vector<16xf32>
// CHECK-NEXT:            %[[K1:.+]] = vector.load %arg1[%{{.+}}, %c16] : memref<?x32xf32, strided<[?, 1], offset: ?>>, vector<16xf32>
// CHECK-NEXT:            %[[P1:.+]] = arith.mulf %[[K1]], %{{.+}} : vector<16xf32>
// CHECK-NEXT:            arith.addf %[[P0]], %[[P1]] : vector<16xf32>
// CHECK:                 vector.shuffle %{{.+}}, %{{.+}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]
// CHECK:                 vector.shuffle %{{.+}}, %{{.+}} [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]
// CHECK:                 %[[LO:.+]] = vector.shuffle %{{.+}}, %{{.+}} [0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30]
// CHECK-NEXT:            %[[HI:.+]] = vector.shuffle %{{.+}}, %{{.+}} [1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31]
// CHECK-NEXT:            %[[S:.+]] = arith.addf %[[LO]], %[[HI]] : vector<16xf32>
// CHECK:                 vector.store %[[S]], %arg9[%{{.+}}, %[[KEY]]] : memref<64x64xf32>, vector<16xf32>
// CHECK:             } else {
// CHECK:               vector.store %{{.+}}, %arg7[%{{.+}}, %{{.+}}] : memref<32x64xf32>, vector<16xf32>
// CHECK:               scf.for %[[R0:.+]] = %c0 to %{{.+}} step %c16 {
// CHECK:                 scf.for %[[C0:.+]] = %c0 to %{{.+}} step %c16 {
// CHECK:                   scf.for %[[D:.+]] = %c0 to %c32 step %c1 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK:                     memref.prefetch %arg1[%{{.+}}, %{{.+}}], read, locality<3>, data
// CHECK-NEXT:                %[[QT:.+]] = vector.load %arg7[%[[D]], %[[R0]]] : memref<32x64xf32>, vector<16xf32>
// CHECK-NEXT:                %[[K:.+]] = memref.load %arg1[%{{.+}}, %[[D]]]
// CHECK-NEXT:                %[[KB:.+]] = vector.broadcast %[[K]] : f32 to vector<16xf32>
// CHECK-NEXT:                vector.fma %[[KB]], %[[QT]], %{{.+}} : vector<16xf32>
// CHECK:                   vector.shuffle
// CHECK:                   vector.store %{{.+}}, %arg9[%{{.+}}, %[[C0]]] : memref<64x64xf32>, vector<16xf32>
// CHECK:           math.exp2
// CHECK:           scf.if %[[PACKED]] {
// CHECK:             scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c4
// CHECK:           } else {
// CHECK:             scf.if %[[ALONG_D]] {
// CHECK:               scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c2
// CHECK:                 scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK:             } else {
// CHECK:               scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c4
func.func @step_few_rows(%q: memref<?x32xf32>, %k: memref<?x32xf32, strided<[?, 1], offset: ?>>, %v: memref<?x16xf32, strided<[?, 1], offset: ?>>,
                         %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                         %kt: memref<32x64xf32>, %vp: memref<64x16xf32>, %s: memref<64x64xf32>, %alpha: memref<64xf32>,
                         %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xf32>, memref<?x32xf32, strided<[?, 1], offset: ?>>, memref<?x16xf32, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<32x64xf32>, memref<64x16xf32>, memref<64x64xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 1>}
  return
}

// -----

// The same step with `max_rows = 4` (a decoding item of 4 rows, which
// mha-tile knows from static shapes): only the method of up to 8 rows is
// emitted, scores along D and P.V on whole value rows, with no runtime
// choice of method, no packing of K and no copy of the values.
// CHECK-LABEL: func.func @step_max_rows
// CHECK-NOT:     arith.cmpi sgt, %{{.+}}, %c32
// CHECK-NOT:     vector.store %{{.+}}, %arg7
// CHECK-NOT:     vector.store %{{.+}}, %arg8
// CHECK:         scf.for %[[BAND:.+]] = %c0 to %{{.+}} step %c64 {
// CHECK:           scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c1 {
// CHECK:             scf.for %{{.+}} = %c0 to %{{.+}} step %c16 {
// CHECK:               vector.shuffle %{{.+}}, %{{.+}} [0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30]
// CHECK:           math.exp2
// CHECK:           scf.for %{{.+}} = %[[BAND]] to %{{.+}} step %c2
// CHECK-NOT:       scf.if
// CHECK-NOT:     %arg7
// CHECK:         return
func.func @step_max_rows(%q: memref<?x32xf32>, %k: memref<?x32xf32, strided<[?, 1], offset: ?>>, %v: memref<?x16xf32, strided<[?, 1], offset: ?>>,
                         %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                         %kt: memref<32x64xf32>, %vp: memref<64x16xf32>, %s: memref<64x64xf32>, %alpha: memref<64xf32>,
                         %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xf32>, memref<?x32xf32, strided<[?, 1], offset: ?>>, memref<?x16xf32, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<32x64xf32>, memref<64x16xf32>, memref<64x64xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {max_rows = 4 : i64, micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 4, outputRows = 4, outputVectors = 1>}
  return
}

// -----

// A score scratch of 8 rows for a tile of up to 64: the keys are packed
// once, then phases 3-5 run on bands of 8 rows whose scores sit at rows
// r - band of the scratch; rows past a band's end are clamped to its last.
// CHECK-LABEL: func.func @step_bands
// CHECK:         scf.for %[[BAND:.+]] = %c0 to %[[ROWS:.+]] step %c8 {
// CHECK:           %[[END:.+]] = arith.minsi %{{.+}}, %[[ROWS]] : index
// CHECK:           %[[LAST:.+]] = arith.subi %[[END]], %c1 : index
// CHECK:           scf.for %[[R0:.+]] = %[[BAND]] to %[[END]] step %c4 {
// CHECK:             %[[ROW:.+]] = arith.minsi %[[R0]], %[[LAST]] : index
// CHECK:             %[[SROW:.+]] = arith.subi %[[ROW]], %[[BAND]] : index
// CHECK:             vector.store %{{.+}}, %{{.+}}[%[[SROW]], %{{.+}}] : memref<8x32xf32>, vector<16xf32>
func.func @step_bands(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>,
                      %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                      %kt: memref<16x32xf32>, %vp: memref<32x16xf32>, %s: memref<8x32xf32>, %alpha: memref<64xf32>,
                      %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf32>, memref<?x16xf32>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<16x32xf32>, memref<32x16xf32>, memref<8x32xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 2, outputRows = 4, outputVectors = 1>}
  return
}

// -----

// i8 tiles of a quantized cache: packing widens each row with sitofp and
// multiplies it by the tile's scale (keys by key_scale, values by
// value_scale) before the transposes (shuffles); the micro-kernels are those of f32.
// Steps of at most 16 rows sum the scores along D instead, 4 rows per pass
// (then one): each key chunk widened once (no scale) and multiplied by the
// 4 rows' queries, the scores of 16 keys scaled by key_scale at the end;
// their P.V reads the i8 values in place (packed for the other steps
// only), each value vector widened once for 4 rows, after value_scale has
// multiplied the rows' P in the score scratch.
// CHECK-LABEL: func.func @step_dequantize
// CHECK-SAME:    %[[KS:[a-z0-9]+]]: f32, %[[VS:[a-z0-9]+]]: f32)
// CHECK:         %[[PACKED:.+]] = arith.cmpi sgt, %{{.+}}, %c16 : index
// CHECK:         scf.if %[[PACKED]] {
// CHECK:         %[[K8:.+]] = vector.load %{{.+}} : memref<?x16xi8>, vector<16xi8>
// CHECK:         %[[KF:.+]] = arith.sitofp %[[K8]] : vector<16xi8> to vector<16xf32>
// CHECK:         %[[KSV:.+]] = vector.broadcast %[[KS]] : f32 to vector<16xf32>
// CHECK:         arith.mulf %[[KF]], %[[KSV]] : vector<16xf32>
// CHECK:         vector.shuffle
// CHECK:         scf.if %[[PACKED]] {
// CHECK:         vector.load %{{.+}} : memref<?x16xi8>, vector<16xi8>
// CHECK:         %[[VSV:.+]] = vector.broadcast %[[VS]] : f32 to vector<16xf32>
// CHECK:         arith.mulf %{{.+}}, %[[VSV]] : vector<16xf32>
// CHECK:         scf.if %[[PACKED]] {
// CHECK:           vector.fma
// CHECK:         } else {
// CHECK:           scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c4 {
// CHECK:             %[[KA:.+]] = vector.load %arg1[%{{.+}}, %c0] : memref<?x16xi8>, vector<16xi8>
// CHECK-NEXT:        %[[KW:.+]] = arith.sitofp %[[KA]] : vector<16xi8> to vector<16xf32>
// CHECK-NEXT:        %[[Q0:.+]] = vector.load %arg0[%{{.+}}, %c0] : memref<?x16xf32>, vector<16xf32>
// CHECK-NEXT:        arith.mulf %[[KW]], %[[Q0]] : vector<16xf32>
// CHECK-NEXT:        %[[Q1:.+]] = vector.load %arg0[%{{.+}}, %c0] : memref<?x16xf32>, vector<16xf32>
// CHECK-NEXT:        arith.mulf %[[KW]], %[[Q1]] : vector<16xf32>
// CHECK:             %[[KSB:.+]] = vector.broadcast %[[KS]] : f32 to vector<16xf32>
// CHECK-NEXT:        %[[SCALED:.+]] = arith.mulf %{{.+}}, %[[KSB]] : vector<16xf32>
// CHECK:             vector.store %[[SCALED]], %arg9
// CHECK:           scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
// CHECK:         } else {
// CHECK-NEXT:      %[[VSB:.+]] = vector.broadcast %[[VS]] : f32 to vector<16xf32>
// CHECK-NEXT:      scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
// CHECK-NEXT:        scf.for %{{.+}} = %c0 to %{{.+}} step %c16 {
// CHECK:               %[[P16:.+]] = vector.load %arg9[%{{.+}}, %{{.+}}] : memref<64x32xf32>, vector<16xf32>
// CHECK-NEXT:          %[[PS:.+]] = arith.mulf %[[P16]], %[[VSB]] : vector<16xf32>
// CHECK:               vector.store %[[PS]], %arg9
// CHECK:           scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c4 {
// CHECK:               %[[V8:.+]] = vector.load %arg2[%{{.+}}, %{{.+}}] : memref<?x16xi8>, vector<16xi8>
// CHECK-NEXT:          %[[VW:.+]] = arith.sitofp %[[V8]] : vector<16xi8> to vector<16xf32>
// CHECK:               %[[P:.+]] = memref.load %arg9
// CHECK-NEXT:          %[[PB:.+]] = vector.broadcast %[[P]] : f32 to vector<16xf32>
// CHECK-NEXT:          vector.fma %[[PB]], %[[VW]], %{{.+}} : vector<16xf32>
func.func @step_dequantize(%q: memref<?x16xf32>, %k: memref<?x16xi8>, %v: memref<?x16xi8>,
                           %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                           %kt: memref<16x32xf32>, %vp: memref<32x16xf32>, %s: memref<64x32xf32>, %alpha: memref<64xf32>,
                           %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index,
                           %ks: f32, %vs: f32) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xi8>, memref<?x16xi8>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<16x32xf32>, memref<32x16xf32>, memref<64x32xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks) dequantize(%ks, %vs : f32, f32)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 2, outputRows = 4, outputVectors = 1>}
  return
}

// -----

// Finalisation divides by the row sum only where it is not zero (a NaN sum
// counts, so a NaN shows in every result), writes -inf lse and zero entropy
// for empty rows, and narrows to bf16.
// CHECK-LABEL: func.func @finalize
// CHECK-DAG:     arith.constant 0xFF800000 : f32
// CHECK:         arith.cmpf une
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

// Probabilities from the recorded log2 scores: a loop over every key
// writing exp2(u - m) / l where u is not -inf (NaN included, so it shows)
// and 0 elsewhere.
// CHECK-LABEL: func.func @probs
// CHECK:         scf.for
// CHECK:           arith.divf
// CHECK:           scf.for
// CHECK:             %[[U:.+]] = memref.load {{.*}} : memref<?x?xf32>
// CHECK:             arith.cmpf une, %[[U]]
// CHECK:             math.exp2
// CHECK:             memref.store {{.*}} : memref<?x?xf32>
func.func @probs(%m: memref<?xf32>, %l: memref<?xf32>, %alive: i1, %p: memref<?x?xf32>) {
  mha.attention_probs ins(%m, %l : memref<?xf32>, memref<?xf32>) alive(%alive) outs(%p : memref<?x?xf32>)
  return
}

// -----

// A bf16_pairs step (AVX512-BF16): key pairs packed with a 16x16 transpose
// of 32-bit lanes, values packed by interleaving two key rows; S = Q.K^T
// and P.V are vdpbf16ps blocks (x86vector.avx512.dot) over pairs of the
// head dim and pairs of keys, with the query pair and the P pair broadcast
// as 32-bit lanes; P is rounded to bf16 pairs (vcvtneps2bf16) over S.
// Steps of up to 8 rows skip the key pairs' packing and take a key row's
// pairs times the query row's pairs (one vdpbf16ps per 32 elements of D),
// reduced across keys like @step_few_rows; steps of 9 to 16 rows compute
// by keys: the query's pairs packed transposed, each key's pair broadcast
// from K in place, the value pairs packed after the scores.
// CHECK-LABEL: func.func @step_bf16_pairs
// CHECK:         %[[PACKED:.+]] = arith.cmpi sgt, %{{.+}}, %c16 : index
// CHECK:         %[[ALONG_D:.+]] = arith.cmpi sle, %{{.+}}, %c8 : index
// CHECK:         scf.if %[[PACKED]] {
// CHECK:         vector.bitcast %{{.+}} : vector<32xbf16> to vector<16xi32>
// CHECK:         vector.shuffle
// CHECK:         vector.bitcast %{{.+}} : vector<16xi32> to vector<32xbf16>
// CHECK:         vector.interleave %{{.+}}, %{{.+}} : vector<16xbf16> -> vector<32xbf16>
// CHECK:         scf.if %[[PACKED]] {
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:           vector.load %{{.+}} : memref<?x32xbf16, strided<[?, 1], offset: ?>>, vector<2xbf16>
// CHECK:           vector.broadcast %{{.+}} : vector<1xi32> to vector<16xi32>
// CHECK-COUNT-8:   x86vector.avx512.dot %{{.+}}, %{{.+}}, %{{.+}} : vector<32xbf16> -> vector<16xf32>
// CHECK:         } else {
// CHECK:           %[[QROW:.+]] = vector.load %arg0[%{{.+}}, %c0] : memref<?x32xbf16, strided<[?, 1], offset: ?>>, vector<32xbf16>
// CHECK:           %[[KROW:.+]] = vector.load %arg1[%{{.+}}, %c0] : memref<?x32xbf16, strided<[?, 1], offset: ?>>, vector<32xbf16>
// CHECK-NEXT:      x86vector.avx512.dot %{{.+}}, %[[QROW]], %[[KROW]] : vector<32xbf16> -> vector<16xf32>
// CHECK:           vector.shuffle %{{.+}}, %{{.+}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]
// CHECK:         } else {
// CHECK:           vector.load %arg0[%{{.+}}, %{{.+}}] : memref<?x32xbf16, strided<[?, 1], offset: ?>>, vector<32xbf16>
// CHECK:           vector.store %{{.+}}, %arg7[%{{.+}}, %{{.+}}] : memref<16x128xbf16>, vector<32xbf16>
// CHECK:           scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK:             memref.prefetch %arg1
// CHECK:             %[[QT:.+]] = vector.load %arg7[%{{.+}}, %{{.+}}] : memref<16x128xbf16>, vector<32xbf16>
// CHECK:             vector.load %arg1[%{{.+}}, %{{.+}}] : memref<?x32xbf16, strided<[?, 1], offset: ?>>, vector<2xbf16>
// CHECK:             %[[KB:.+]] = vector.bitcast %{{.+}} : vector<16xi32> to vector<32xbf16>
// CHECK-NEXT:        x86vector.avx512.dot %{{.+}}, %[[KB]], %[[QT]] : vector<32xbf16> -> vector<16xf32>
// CHECK:           vector.store %{{.+}}, %arg9
// CHECK:           vector.interleave %{{.+}}, %{{.+}} : vector<16xbf16> -> vector<32xbf16>
// CHECK:           vector.store %{{.+}}, %arg8
// CHECK:         math.exp2
// CHECK:         x86vector.avx512.cvt.packed.f32_to_bf16 %{{.+}} : vector<16xf32> -> vector<16xbf16>
// CHECK:         vector.bitcast %{{.+}} : vector<16xbf16> to vector<8xf32>
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:           memref.load %{{.+}} : memref<64x64xf32>
// CHECK:           vector.bitcast %{{.+}} : vector<16xf32> to vector<32xbf16>
// CHECK-COUNT-4:   x86vector.avx512.dot
// CHECK-NOT:     vector.fma
func.func @step_bf16_pairs(%q: memref<?x32xbf16, strided<[?, 1], offset: ?>>, %k: memref<?x32xbf16, strided<[?, 1], offset: ?>>, %v: memref<?x24xbf16, strided<[?, 1], offset: ?>>,
                           %acc: memref<?x32xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                           %kp: memref<16x128xbf16>, %vp: memref<32x64xbf16>, %s: memref<64x64xf32>, %alpha: memref<64xf32>,
                           %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xbf16, strided<[?, 1], offset: ?>>, memref<?x32xbf16, strided<[?, 1], offset: ?>>, memref<?x24xbf16, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kp, %vp, %s, %alpha : memref<16x128xbf16>, memref<32x64xbf16>, memref<64x64xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 2, outputRows = 2, outputVectors = 2, dot = bf16_pairs>}
  return
}

// -----

// bf16 pairs along D with value rows that need no padding (Dv = 32): the
// value pairs are packed only when the step has more than 8 rows; with
// fewer, P.V interleaves rows 2q and 2q + 1 of the value tile as its
// micro-kernel reads them.
// CHECK-LABEL: func.func @step_bf16_in_place
// CHECK:         %[[PACKED:.+]] = arith.cmpi sgt, %{{.+}}, %c16 : index
// CHECK:         %[[ALONG_D:.+]] = arith.cmpi sle, %{{.+}}, %c8 : index
// CHECK:         scf.if %[[PACKED]] {
// CHECK:           vector.interleave %{{.+}}, %{{.+}} : vector<16xbf16> -> vector<32xbf16>
// CHECK:           vector.store %{{.+}}, %arg8
// CHECK:         }
// CHECK:         math.exp2
// CHECK:         scf.if %[[PACKED]] {
// CHECK:           scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:             vector.load %arg8
// CHECK-COUNT-4:     x86vector.avx512.dot
// CHECK:         } else {
// CHECK:           scf.if %[[ALONG_D]] {
// CHECK:           scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-NOT:         %arg8
// CHECK:             vector.load %arg2[%{{.+}}] : memref<?x32xbf16, strided<[?, 1], offset: ?>>, vector<16xbf16>
// CHECK:             vector.interleave %{{.+}}, %{{.+}} : vector<16xbf16> -> vector<32xbf16>
// CHECK-COUNT-4:     x86vector.avx512.dot
func.func @step_bf16_in_place(%q: memref<?x32xbf16, strided<[?, 1], offset: ?>>, %k: memref<?x32xbf16, strided<[?, 1], offset: ?>>, %v: memref<?x32xbf16, strided<[?, 1], offset: ?>>,
                              %acc: memref<?x32xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                              %kp: memref<16x128xbf16>, %vp: memref<32x64xbf16>, %s: memref<64x64xf32>, %alpha: memref<64xf32>,
                              %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x32xbf16, strided<[?, 1], offset: ?>>, memref<?x32xbf16, strided<[?, 1], offset: ?>>, memref<?x32xbf16, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x32xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kp, %vp, %s, %alpha : memref<16x128xbf16>, memref<32x64xbf16>, memref<64x64xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 2, outputRows = 2, outputVectors = 2, dot = bf16_pairs>}
  return
}

// -----

// A projection item with f32 panels (mha.gemm_tile): the accumulators are
// zeroed, then per K-block of the panel (a subview of its rows) the rows
// run in blocks of 6 with 6 x 4 vector accumulators carried in registers
// over the block's rows of k: FMAs on x broadcast and packed weight
// vectors, then the remaining rows one at a time (1 x 4). The RoPE
// epilogue rotates 8-lane halves of the one head: x1 cos - x2 sin.
// CHECK-LABEL: func.func @gemm_rope_f32
// CHECK:         scf.for %{{.+}} = %c0 to %{{.+}} step %c1 {
// CHECK:           vector.store %{{.+}}, %{{.+}} : memref<192x64xf32>, vector<16xf32>
// CHECK:         scf.for %[[K0:.+]] = %c0 to %c64 step %c512 {
// CHECK:           %[[WP:.+]] = memref.subview %{{.+}}[%[[K0]], 0] [%{{.+}}, 64] [1, 1]
// CHECK:           scf.for %{{.+}} = %c0 to %{{.+}} step %c6 {
// CHECK:             scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:               vector.load %[[WP]]
// CHECK:               %[[X:.+]] = memref.load %{{.+}} : memref<?x?x64xf32, strided<[?, ?, 1], offset: ?>>
// CHECK:               %[[XB:.+]] = vector.broadcast %[[X]] : f32 to vector<16xf32>
// CHECK:               vector.fma %[[XB]]
// CHECK-COUNT-23:      vector.fma
// CHECK:           scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
// CHECK:             scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4:       vector.fma
// CHECK:         %[[X1:.+]] = vector.load %{{.+}} : memref<192x64xf32>, vector<8xf32>
// CHECK:         %[[X2:.+]] = vector.load %{{.+}} : memref<192x64xf32>, vector<8xf32>
// CHECK:         %[[COS:.+]] = vector.load %{{.+}} : memref<1x?x16xf32>, vector<8xf32>
// CHECK:         %[[SIN:.+]] = vector.load %{{.+}} : memref<1x?x16xf32>, vector<8xf32>
// CHECK:         %[[C1:.+]] = arith.mulf %[[X1]], %[[COS]]
// CHECK:         %[[S2:.+]] = arith.mulf %[[X2]], %[[SIN]]
// CHECK:         arith.subf %[[C1]], %[[S2]]
// CHECK-NOT:     arith.truncf
// CHECK:         vector.store %{{.+}} : memref<?x?x64xf32>, vector<8xf32>
// CHECK-NOT:     x86vector
func.func @gemm_rope_f32(%x: memref<?x?x64xf32, strided<[?, ?, 1], offset: ?>>, %panel: memref<64x64xf32, strided<[64, 1], offset: ?>>,
                         %table: memref<1x?x16xf32>, %y: memref<?x?x64xf32>, %b: index, %row0: index, %rows: index, %col0: index, %cols: index) {
  %cs = memref.alloca() {alignment = 64 : i64} : memref<192x64xf32>
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32, strided<[?, ?, 1], offset: ?>>, memref<64x64xf32, strided<[64, 1], offset: ?>>)
      rope(%table : memref<1x?x16xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>)
      at(%b, %row0, %rows) columns(%col0, %cols)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

// MLA's partial RoPE (rope_offset = 48 of a 64-column head): columns 0..47
// take the plain epilogue (whole vectors, then a masked tail), the pairs
// (48 + t, 56 + t) of the last 16 are rotated by the 16-wide table.
// CHECK-LABEL: func.func @gemm_partial_rope
// CHECK:         scf.for %[[C:.+]] = %c0 to %c48 step %c16 {
// CHECK:           vector.store %{{.+}} : memref<?x?x64xf32>, vector<16xf32>
// CHECK:         scf.for %[[T:.+]] = %c0 to %c8 step %c8 {
// CHECK:           %[[C1:.+]] = arith.addi %[[T]], %c48
// CHECK:           %[[C2:.+]] = arith.addi %[[C1]], %c8
// CHECK:           vector.load %{{.+}}[%{{.+}}, %[[C1]]] : memref<192x64xf32>, vector<8xf32>
// CHECK:           vector.load %{{.+}}[%{{.+}}, %[[C2]]] : memref<192x64xf32>, vector<8xf32>
// CHECK:           vector.load %{{.+}}[%c0, %{{.+}}, %[[T]]] : memref<1x?x16xf32>, vector<8xf32>
func.func @gemm_partial_rope(%x: memref<?x?x64xf32>, %panel: memref<64x64xf32>,
                             %table: memref<1x?x16xf32>, %y: memref<?x?x64xf32>, %b: index, %row0: index, %rows: index, %col0: index, %cols: index) {
  %cs = memref.alloca() {alignment = 64 : i64} : memref<192x64xf32>
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xf32>, memref<64x64xf32>)
      rope(%table : memref<1x?x16xf32>) outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>)
      at(%b, %row0, %rows) columns(%col0, %cols)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, rope_offset = 48 : i64, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

// input_rms_eps: after the products, each row's accumulators are scaled by
// rsqrt(sum of its input's squares / 20 + eps), the sum over vectors of 16
// (the last masked to the 4 columns left of the 20-column segment).
// CHECK-LABEL: func.func @gemm_input_rms
// CHECK:         scf.for %[[R:.+]] = %c0 to %{{.+}} step %c1 {
// CHECK:           %[[SUM:.+]] = scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args(%[[ACC:.+]] = %{{.+}}) -> (vector<16xf32>) {
// CHECK:             vector.maskedload
// CHECK:             vector.fma
// CHECK:           %[[TOTAL:.+]] = vector.reduction <add>, %[[SUM]] : vector<16xf32> into f32
// CHECK:           %[[MEAN:.+]] = arith.divf %[[TOTAL]], %{{.+}} : f32
// CHECK:           %[[ME:.+]] = arith.addf %[[MEAN]], %{{.+}} : f32
// CHECK:           %[[INV:.+]] = math.rsqrt %[[ME]] : f32
// CHECK:           %[[B:.+]] = vector.broadcast %[[INV]] : f32 to vector<16xf32>
// CHECK:           arith.mulf %{{.+}}, %[[B]] : vector<16xf32>
func.func @gemm_input_rms(%x: memref<?x?x28xf32>, %panel: memref<20x64xf32>,
                          %y: memref<?x?x64xf32>, %b: index, %row0: index, %rows: index, %col0: index, %cols: index) {
  %cs = memref.alloca() {alignment = 64 : i64} : memref<192x64xf32>
  mha.gemm_tile ins(%x, %panel : memref<?x?x28xf32>, memref<20x64xf32>)
      outs(%y : memref<?x?x64xf32>) scratch(%cs : memref<192x64xf32>)
      at(%b, %row0, %rows) columns(%col0, %cols)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 20>, input_rms_eps = 1.0e-6 : f32, vector_width = 16 : i64}
  return
}

// -----

// With a bf16 panel (pairs of weight rows) the micro-kernel is vdpbf16ps:
// each step broadcasts the bf16 pair x[k], x[k + 1] to every 32-bit lane
// and adds both products into f32 lanes; an odd last k is one more step
// whose pair is x[k] and a zero. The RoPE epilogue works on the f32
// accumulators and narrows on the store.
// CHECK-LABEL: func.func @gemm_pairs_rope
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:           vector.load %{{.+}} : memref<?x128xbf16, strided<[128, 1], offset: ?>>, vector<32xbf16>
// CHECK:           %[[PAIR:.+]] = vector.load %{{.+}} : memref<?x?x64xbf16, strided<[?, ?, 1], offset: ?>>, vector<2xbf16>
// CHECK:           %[[WORD:.+]] = vector.bitcast %[[PAIR]] : vector<2xbf16> to vector<1xi32>
// CHECK:           %[[WORDS:.+]] = vector.broadcast %[[WORD]] : vector<1xi32> to vector<16xi32>
// CHECK:           %[[XB:.+]] = vector.bitcast %[[WORDS]] : vector<16xi32> to vector<32xbf16>
// CHECK:           x86vector.avx512.dot %{{.+}}, %[[XB]], %{{.+}} : vector<32xbf16> -> vector<16xf32>
// CHECK:         %[[ODD:.+]] = arith.cmpi ne, %{{.+}}, %c0 : index
// CHECK:         scf.if %[[ODD]] -> (vector<16xf32>
// CHECK:           %[[H:.+]] = arith.bitcast %{{.+}} : bf16 to i16
// CHECK:           arith.extui %[[H]] : i16 to i32
// CHECK:           x86vector.avx512.dot
// CHECK:         %[[X1:.+]] = vector.load %{{.+}} : memref<192x64xf32>, vector<8xf32>
// CHECK:         %[[X2:.+]] = vector.load %{{.+}} : memref<192x64xf32>, vector<8xf32>
// CHECK:         %[[COS:.+]] = vector.load %{{.+}} : memref<1x?x16xf32>, vector<8xf32>
// CHECK:         %[[SIN:.+]] = vector.load %{{.+}} : memref<1x?x16xf32>, vector<8xf32>
// CHECK:         arith.mulf %[[X1]], %[[COS]]
// CHECK:         arith.truncf %{{.+}} : vector<8xf32> to vector<8xbf16>
// CHECK-NOT:     vector.fma
func.func @gemm_pairs_rope(%x: memref<?x?x64xbf16, strided<[?, ?, 1], offset: ?>>, %panel: memref<32x128xbf16, strided<[128, 1], offset: ?>>,
                           %table: memref<1x?x16xf32>, %y: memref<?x?x64xbf16>, %b: index, %row0: index, %rows: index, %col0: index, %cols: index) {
  %cs = memref.alloca() {alignment = 64 : i64} : memref<192x64xf32>
  mha.gemm_tile ins(%x, %panel : memref<?x?x64xbf16, strided<[?, ?, 1], offset: ?>>, memref<32x128xbf16, strided<[128, 1], offset: ?>>)
      rope(%table : memref<1x?x16xf32>) outs(%y : memref<?x?x64xbf16>) scratch(%cs : memref<192x64xf32>)
      at(%b, %row0, %rows) columns(%col0, %cols)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 1024 : i64, output_offset = 0 : i64, replica_stride = 64 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 64>, vector_width = 16 : i64}
  return
}

// -----

// A bf16 layer without bf16-dot: f32 panels, x widened to f32 and
// broadcast, FMAs: a full block's rows widened once per K-block into the
// function's f32 buffer [block_rows, k_block] (a partial last vector
// gathered lane by lane), then broadcast from it for every column block;
// the last rows, one at a time, read x directly. The epilogue stores whole vectors (narrowed to bf16)
// where the block has 16 more columns, else lane by lane (no masked 16-bit
// memory ops); it writes replicas 0 and 2 of a shared projection at
// columns q * 16 + c, each with its row of the [replicas, N] bias.
// CHECK-LABEL: func.func @gemm_bias_replicas
// CHECK:         %[[XW:.+]] = memref.alloca() {alignment = 64 : i64, mha.widened_rows} : memref<6x512xf32>
// CHECK:         %[[ROW:.+]] = vector.load %{{.+}} : memref<?x?x32xbf16>, vector<16xbf16>
// CHECK:         %[[ROWF:.+]] = arith.extf %[[ROW]] : vector<16xbf16> to vector<16xf32>
// CHECK:         vector.store %[[ROWF]], %[[XW]][%c0, %{{.+}}] : memref<6x512xf32>, vector<16xf32>
// CHECK:         memref.load %{{.+}} : memref<?x?x32xbf16>
// CHECK:         %[[WF:.+]] = memref.load %[[XW]][%c0, %{{.+}}] : memref<6x512xf32>
// CHECK:         vector.broadcast %[[WF]] : f32 to vector<16xf32>
// CHECK:         vector.fma
// CHECK:         %[[X:.+]] = memref.load %{{.+}} : memref<?x?x32xbf16>
// CHECK:         %[[XF:.+]] = arith.extf %[[X]] : bf16 to f32
// CHECK:         vector.broadcast %[[XF]] : f32 to vector<16xf32>
// CHECK:         vector.fma
// CHECK:         %[[WHOLE:.+]] = arith.cmpi sge, %{{.+}}, %c16 : index
// CHECK:         scf.if %[[WHOLE]] {
// CHECK:           vector.load %{{.+}}[%c0, %{{.+}}] : memref<3x16xbf16>, vector<16xbf16>
// CHECK:           arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK:           vector.store %{{.+}} : memref<?x?x48xbf16>, vector<16xbf16>
// CHECK:           vector.load %{{.+}}[%c2, %{{.+}}] : memref<3x16xbf16>, vector<16xbf16>
// CHECK:         } else {
// CHECK:           memref.load %{{.+}}[%c0, %{{.+}}] : memref<3x16xbf16>
// CHECK:           scf.if
// CHECK:             arith.truncf %{{.+}} : f32 to bf16
// CHECK:             memref.store %{{.+}} : memref<?x?x48xbf16>
// CHECK-NOT:     x86vector
// CHECK-NOT:     vector.maskedstore
func.func @gemm_bias_replicas(%x: memref<?x?x32xbf16>, %panel: memref<32x64xf32, strided<[64, 1], offset: ?>>, %bias: memref<3x16xbf16>,
                              %y: memref<?x?x48xbf16>, %b: index, %row0: index, %rows: index, %col0: index, %cols: index) {
  %cs = memref.alloca() {alignment = 64 : i64} : memref<192x64xf32>
  mha.gemm_tile ins(%x, %panel : memref<?x?x32xbf16>, memref<32x64xf32, strided<[64, 1], offset: ?>>)
      bias(%bias : memref<3x16xbf16>) outs(%y : memref<?x?x48xbf16>) scratch(%cs : memref<192x64xf32>)
      at(%b, %row0, %rows) columns(%col0, %cols)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 512 : i64, output_offset = 0 : i64, replica_stride = 16 : i64, replicas = array<i64: 0, 2>, segments = array<i64: 0, 32>, vector_width = 16 : i64}
  return
}

// -----

// Packing into an f32 panel: whole vectors of the block's columns widened,
// the partial one gathered lane by lane at clamped columns (zero past the
// block: nothing past `columns` is read), zeros up to the panel's width.
// CHECK-LABEL: func.func @pack
// CHECK:         scf.for %[[K:.+]] = %c0 to %c64 step %c1 {
// CHECK:           scf.for %{{.+}} = %c0 to %{{.+}} step %c16 {
// CHECK:             vector.load %{{.+}} : memref<64x40xbf16, strided<[?, 1], offset: ?>>, vector<16xbf16>
// CHECK:             arith.extf %{{.+}} : vector<16xbf16> to vector<16xf32>
// CHECK:           scf.for
// CHECK:             arith.minsi
// CHECK:             memref.load %{{.+}} : memref<64x40xbf16, strided<[?, 1], offset: ?>>
// CHECK:             vector.from_elements
// CHECK:           scf.for %{{.+}} = %{{.+}} to %c64 step %c16 {
// CHECK:             vector.store %{{.+}}, %{{.+}}[%[[K]], %{{.+}}] : memref<64x64xf32, strided<[64, 1], offset: ?>>, vector<16xf32>
func.func @pack(%w: memref<64x40xbf16, strided<[?, 1], offset: ?>>, %panel: memref<64x64xf32, strided<[64, 1], offset: ?>>, %col0: index, %cols: index) {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  mha.pack_panel ins(%w : memref<64x40xbf16, strided<[?, 1], offset: ?>>) outs(%panel : memref<64x64xf32, strided<[64, 1], offset: ?>>)
      rows(%c0, %c64) columns(%col0, %cols) {vector_width = 16 : i64}
  return
}

// -----

// An int8 weight (mha.quantized) is widened and multiplied by its column
// scales as it is packed: whole vectors, then the partial one (masked
// values and scales, zero past the block).
// CHECK-LABEL: func.func @pack_int8
// CHECK:         scf.for %[[K:.+]] = %c0 to %c64 step %c1 {
// CHECK:           scf.for %[[C:.+]] = %c0 to %{{.+}} step %c16 {
// CHECK:             %[[V:.+]] = vector.load %{{.+}} : memref<64x40xi8>, vector<16xi8>
// CHECK:             %[[F:.+]] = arith.sitofp %[[V]] : vector<16xi8> to vector<16xf32>
// CHECK:             %[[S:.+]] = vector.load %{{.+}} : memref<40xf32>, vector<16xf32>
// CHECK:             %[[W:.+]] = arith.mulf %[[F]], %[[S]] : vector<16xf32>
// CHECK:             vector.store %[[W]], %{{.+}}[%[[K]], %[[C]]]
// CHECK:           scf.for
// CHECK:             vector.maskedload %{{.+}} : memref<64x40xi8>, vector<16xi1>, vector<16xi8> into vector<16xi8>
// CHECK:             arith.sitofp %{{.+}} : vector<16xi8> to vector<16xf32>
// CHECK:             vector.maskedload %{{.+}} : memref<40xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK:             arith.mulf
func.func @pack_int8(%w: memref<64x40xi8>, %scale: memref<40xf32>, %panel: memref<64x64xf32>, %col0: index, %cols: index) {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  mha.pack_panel ins(%w : memref<64x40xi8>) scale(%scale : memref<40xf32>) outs(%panel : memref<64x64xf32>)
      rows(%c0, %c64) columns(%col0, %cols) {vector_width = 16 : i64}
  return
}

// -----

// An int4 weight with group scales (two values per byte, groups of 32
// rows) is widened the same way, in one copy of the loops per parity of
// the block's first column. From an odd column the bytes the lanes touch
// are spread one per lane (byte (i + 1) / 2), both nibbles sign-extended
// by shifting them to the top and back, each lane keeping its own; from an
// even one the 8 bytes' low and high nibbles are interleaved. The scales
// are the row's group's.
// CHECK-LABEL: func.func @pack_int4
// CHECK:       scf.if
// CHECK:         scf.for %[[K:.+]] = %c0 to %c64 step %c1 {
// CHECK:           scf.for %[[C:.+]] = %c0 to %{{.+}} step %c16 {
// CHECK:             %[[B:.+]] = vector.maskedload %{{.+}} : memref<64x20xi8>, vector<16xi1>, vector<16xi8> into vector<16xi8>
// CHECK:             vector.shuffle %[[B]], %[[B]] [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8]
// CHECK:             arith.shli
// CHECK:             arith.shrsi
// CHECK:             arith.sitofp %{{.+}} : vector<16xi8> to vector<16xf32>
// CHECK:             %[[G:.+]] = arith.divui %[[K]], %c32 : index
// CHECK:             vector.load %{{.+}}[%[[G]], %{{.+}}] : memref<2x40xf32>, vector<16xf32>
// CHECK:             arith.mulf
// CHECK:       } else {
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             %[[H:.+]] = vector.maskedload %{{.+}} : memref<64x20xi8>, vector<8xi1>, vector<8xi8> into vector<8xi8>
// CHECK:             %[[L:.+]] = arith.shrsi %{{.+}}, %{{.+}} : vector<8xi8>
// CHECK:             %[[HI:.+]] = arith.shrsi %[[H]], %{{.+}} : vector<8xi8>
// CHECK:             vector.interleave %[[L]], %[[HI]] : vector<8xi8> -> vector<16xi8>
func.func @pack_int4(%w: memref<64x20xi8>, %scale: memref<2x40xf32>, %panel: memref<64x64xf32>, %col0: index, %cols: index) {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  mha.pack_panel ins(%w : memref<64x20xi8>) scale(%scale : memref<2x40xf32>) outs(%panel : memref<64x64xf32>)
      rows(%c0, %c64) columns(%col0, %cols) {int4, vector_width = 16 : i64}
  return
}

// -----

// Packing into a bf16 panel: rows k0 + 2p and k0 + 2p + 1 interleaved; 31
// rows make 16 pairs, the last one's second row zero.
// CHECK-LABEL: func.func @pack_pairs
// CHECK:         scf.for %[[P:.+]] = %c0 to %c16 step %c1 {
// CHECK:           %[[HASODD:.+]] = arith.cmpi slt, %{{.+}}, %c31 : index
// CHECK:           %[[ODD:.+]] = arith.select %[[HASODD]], %{{.+}}, %{{.+}} : vector<16xbf16>
// CHECK:           vector.interleave %{{.+}}, %[[ODD]] : vector<16xbf16> -> vector<32xbf16>
func.func @pack_pairs(%w: memref<64x40xbf16, strided<[?, 1], offset: ?>>, %panel: memref<16x128xbf16, strided<[128, 1], offset: ?>>, %col0: index, %cols: index) {
  %c16 = arith.constant 16 : index
  %c31 = arith.constant 31 : index
  mha.pack_panel ins(%w : memref<64x40xbf16, strided<[?, 1], offset: ?>>) outs(%panel : memref<16x128xbf16, strided<[128, 1], offset: ?>>)
      rows(%c16, %c31) columns(%col0, %cols) {vector_width = 16 : i64}
  return
}

// -----

// Non-causal ALiBi takes the distances from the row's key nearest its
// diagonal, max(p, 0) (exact, in index arithmetic; p = query_pos + r), so a
// row far before the keys (Lq >> Lk) keeps scores in their real range; the
// work item adds the bias left out back into lse (mha-tile).
// CHECK-LABEL: func.func @step_alibi_shift
// CHECK:         %[[ROW_P:.+]] = arith.addi %arg13, %{{.+}} : index
// CHECK:         %[[ORIGIN:.+]] = arith.maxsi %[[ROW_P]], %c0 : index
// CHECK-NEXT:    %[[ORIGIN_REL:.+]] = arith.subi %[[ORIGIN]], %arg14 : index
// CHECK-NEXT:    %[[ORIGIN64:.+]] = arith.index_cast %[[ORIGIN_REL]] : index to i64
// CHECK-NEXT:    %[[ORIGINF:.+]] = arith.sitofp %[[ORIGIN64]] : i64 to f32
// CHECK:         %[[ORIGINV:.+]] = vector.broadcast %[[ORIGINF]] : f32 to vector<16xf32>
// CHECK:         %[[DIFF:.+]] = arith.subf %[[ORIGINV]], %{{.+}} : vector<16xf32>
// CHECK:         %[[DIST:.+]] = math.absf %[[DIFF]]
// CHECK:         %[[SLOPE:.+]] = vector.broadcast %arg12 : f32 to vector<16xf32>
// CHECK:         %[[BIAS:.+]] = arith.mulf %[[SLOPE]], %[[DIST]]
// CHECK:         arith.subf %{{.+}}, %[[BIAS]]
func.func @step_alibi_shift(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>,
                            %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                            %kt: memref<16x32xf32>, %vp: memref<32x16xf32>, %s: memref<64x32xf32>, %alpha: memref<64xf32>,
                            %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf32>, memref<?x16xf32>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<16x32xf32>, memref<32x16xf32>, memref<64x32xf32>, memref<64xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      {has_alibi,
       micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 2, scoreVectors = 2, outputRows = 2, outputVectors = 1>}
  return
}

// -----

// Dropout: phase 4 draws the keep mask of each key vector with Philox4x32-10
// (ten rounds of two 32 x 32 -> 64-bit products, arith.mului_extended, on
// i32 lanes: key j = key_start + key_pos + c uses counter (j / 4,
// first_row + r, stream, offset) and
// output word j mod 4) and writes P or 0 for phase 5, while l sums P itself.
// CHECK-LABEL: func.func @step_dropout
// CHECK:         math.exp2 %{{.+}} : vector<16xf32>
// CHECK:         arith.shrui %{{.+}} : vector<16xi32>
// CHECK-COUNT-20: arith.mului_extended
// CHECK:         arith.andi %{{.+}} : vector<16xi32>
// CHECK:         arith.cmpi uge, %{{.+}} : vector<16xi32>
// CHECK:         arith.select %{{.+}} : vector<16xi1>, vector<16xf32>
// CHECK:         vector.store
func.func @step_dropout(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>,
                        %acc: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                        %kt: memref<16x16xf32>, %vp: memref<16x16xf32>, %s: memref<16x16xf32>, %alpha: memref<16xf32>,
                        %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %sinks: index,
                        %seed_lo: i32, %seed_hi: i32, %stream: i32, %offset: i32, %row0: i32, %threshold: i32, %key0: i32) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf32>, memref<?x16xf32>)
      outs(%acc, %m, %l, %t : memref<?x16xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scratch(%kt, %vp, %s, %alpha : memref<16x16xf32>, memref<16x16xf32>, memref<16x16xf32>, memref<16xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %sinks)
      dropout(%seed_lo, %seed_hi, %stream, %offset, %row0, %threshold, %key0)
      {micro_kernel = #mha.micro_kernel<vectorWidth = 16, scoreRows = 4, scoreVectors = 1, outputRows = 4, outputVectors = 1>}
  return
}

// -----

// The dropout factor 1 / (1 - p) joins 1 / l in finalisation.
// CHECK-LABEL: func.func @finalize_dropout
// CHECK:         %[[INV:.+]] = arith.divf
// CHECK:         %[[SCALE:.+]] = arith.mulf %[[INV]], %{{.+}} : f32
// CHECK:         vector.broadcast %[[SCALE]] : f32 to vector<8xf32>
func.func @finalize_dropout(%acc: memref<?x8xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>, %alive: i1,
                            %o: memref<?x8xf32>, %keep_scale: f32) {
  mha.online_softmax_finalize ins(%acc, %m, %l, %t : memref<?x8xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>) alive(%alive)
      outs(%o : memref<?x8xf32>) scale(%keep_scale)
  return
}

// -----

// Int8 rows for vpdpbusd: each row's max |x| (vectors of 16, the last
// masked) gives its scale, max / 127; x / scale rounds to nearest even,
// clamped to [-127, 127], and is stored as the unsigned byte q + 128 (its
// sign bit flipped) up to the padded width (the two columns past 62 load
// as 0).
// CHECK-LABEL: func.func @quantize_rows
// CHECK:         scf.for %{{.+}} = %c0 to %{{.+}} step %c1 {
// CHECK:           scf.for %{{.+}} = %c0 to %c4 step %c1 iter_args(%{{.+}} = %{{.+}}) -> (vector<16xf32>) {
// CHECK:             math.absf
// CHECK:           vector.reduction <maximumf>, %{{.+}} : vector<16xf32> into f32
// CHECK:           arith.divf %{{.+}}, %{{.+}} : f32
// CHECK:           memref.store %{{.+}}, %{{.+}} : memref<?x?x1xf32>
// CHECK:           scf.for %{{.+}} = %c0 to %c64 step %c16 {
// CHECK:             math.roundeven %{{.+}} : vector<16xf32>
// CHECK:             arith.fptosi %{{.+}} : vector<16xf32> to vector<16xi32>
// CHECK:             %[[T:.+]] = arith.trunci %{{.+}} : vector<16xi32> to vector<16xi8>
// CHECK:             %[[U:.+]] = arith.xori %[[T]], %{{.+}} : vector<16xi8>
// CHECK:             vector.maskedstore %{{.+}}, %[[U]] : memref<?x?x64xi8>, vector<16xi1>, vector<16xi8>
func.func @quantize_rows(%x: memref<?x?x62xf32>, %q: memref<?x?x64xi8>, %s: memref<?x?x1xf32>, %b: index, %row0: index, %rows: index) {
  mha.quantize_rows ins(%x : memref<?x?x62xf32>) outs(%q, %s : memref<?x?x64xi8>, memref<?x?x1xf32>) at(%b, %row0, %rows)
  return
}

// -----

// An int8 panel: per K-block of 32 rows (62 rows make 2: 8 quads then 8
// quads, the last two rows of the second zero), each quad of rows read
// along whole rows: for each of the panel's 4 vectors of columns, four
// rows interleaved column by column and their column sums by vpdpbusd
// against ones (carried over the quads); the last, partial quad zeroes
// the rows past the block; then per vector the block's sums times -128
// and its scales, each stored as 64 bytes.
// CHECK-LABEL: func.func @pack_quads
// CHECK:         scf.for %[[BLK:.+]] = %c0 to %c2 step %c1 {
// CHECK:           %[[SUMS:.+]]:4 = scf.for %[[P:.+]] = %c0 to %{{.+}} step %c1 iter_args({{.*}}) -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>) {
// CHECK:             vector.maskedload %{{.+}} : memref<64x40xi8>, vector<16xi1>, vector<16xi8> into vector<16xi8>
// CHECK-COUNT-3:     vector.maskedload
// CHECK:             %[[E:.+]] = vector.interleave %{{.+}}, %{{.+}} : vector<16xi8> -> vector<32xi8>
// CHECK:             %[[O:.+]] = vector.interleave %{{.+}}, %{{.+}} : vector<16xi8> -> vector<32xi8>
// CHECK:             %[[Q:.+]] = vector.interleave %[[E]], %[[O]] : vector<32xi8> -> vector<64xi8>
// CHECK:             vector.store %[[Q]], %{{.+}} : memref<18x256xi8>, vector<64xi8>
// CHECK:             llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%{{.+}}, %{{.+}}, %[[Q]])
// CHECK-COUNT-3:     llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK:           %[[LAST:.+]]:4 = scf.if %{{.+}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>) {
// CHECK:             arith.select %{{.+}}, %{{.+}}, %{{.+}} : vector<16xi8>
// CHECK:           %[[OFF:.+]] = arith.muli %[[LAST]]#0, %{{.+}} : vector<16xi32>
// CHECK:           vector.bitcast %[[OFF]] : vector<16xi32> to vector<64xi8>
// CHECK:           vector.store
// CHECK:           vector.bitcast %{{.+}} : vector<16xf32> to vector<64xi8>
// CHECK:           vector.store
func.func @pack_quads(%w: memref<64x40xi8>, %scale: memref<40xf32>, %panel: memref<18x256xi8>, %col0: index, %cols: index) {
  %c0 = arith.constant 0 : index
  %c62 = arith.constant 62 : index
  mha.pack_panel ins(%w : memref<64x40xi8>) scale(%scale : memref<40xf32>) outs(%panel : memref<18x256xi8>) rows(%c0, %c62) columns(%col0, %cols) {k_block = 32 : i64, vector_width = 16 : i64}
  return
}

// -----

// An int8 item: per K-block, 6 x 4 i32 accumulators start from the
// block's column offsets; per quad of k, four 64-byte panel vectors and
// each row's four unsigned bytes broadcast as one i32 go to vpdpbusd;
// after the K-block the sums, in f32, are added to the tile times the
// block's scales. Then each row takes its scale.
// CHECK-LABEL: func.func @gemm_quads
// CHECK:         vector.bitcast %{{.+}} : vector<64xi8> to vector<16xi32>
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK:           vector.load %{{.+}} : memref<?x256xi8, strided<[256, 1], offset: ?>>, vector<64xi8>
// CHECK:           vector.load %{{.+}} : memref<?x?x64xi8>, vector<4xi8>
// CHECK:           vector.bitcast %{{.+}} : vector<4xi8> to vector<1xi32>
// CHECK:           vector.broadcast %{{.+}} : i32 to vector<16xi32>
// CHECK-COUNT-24:  llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK:         vector.bitcast %{{.+}} : vector<64xi8> to vector<16xf32>
// CHECK:         arith.sitofp %{{.+}} : vector<16xi32> to vector<16xf32>
// CHECK:         vector.fma
// CHECK:         memref.load %{{.+}} : memref<?x?x1xf32>
// CHECK:         arith.mulf
func.func @gemm_quads(%q: memref<?x?x64xi8>, %s: memref<?x?x1xf32>, %panel: memref<18x256xi8>, %y: memref<?x?x40xf32>, %b: index, %row0: index, %rows: index, %col0: index, %cols: index) {
  %cs = memref.alloca() {alignment = 64 : i64} : memref<192x64xf32>
  mha.gemm_tile ins(%q, %panel : memref<?x?x64xi8>, memref<18x256xi8>) dequantize(%s : memref<?x?x1xf32>)
      outs(%y : memref<?x?x40xf32>) scratch(%cs : memref<192x64xf32>) at(%b, %row0, %rows) columns(%col0, %cols)
      {block_rows = 6 : i64, block_vectors = 4 : i64, k_block = 256 : i64, output_offset = 0 : i64, replica_stride = 40 : i64, replicas = array<i64: 0>, segments = array<i64: 0, 62>, vector_width = 16 : i64}
  return
}

// -----

// An absorbed latent step's query product (mha.head_gemm, transposed
// slice): rows in blocks of 4 (the last repeating the last row), 4 rows
// of Wv's key part at a time; per k-vector, 4 weight vectors and one
// vector of each query row, 16 FMAs; one reassociating reduction per
// result, stored to the head's columns of the absorbed queries.
// CHECK-LABEL: func.func @head_gemm_absorb_query
// CHECK: scf.for %{{.+}} = %c0 to %arg5 step %c4
// CHECK: scf.for %{{.+}} = %c0 to %c20 step %c4
// CHECK: scf.for {{.+}} iter_args
// CHECK-COUNT-4: vector.load %arg1[{{.+}}] : memref<20x78xf32>, vector<16xf32>
// CHECK: vector.load %arg0[{{.+}}] : memref<?x?x72xf32>, vector<16xf32>
// CHECK-COUNT-4: vector.fma
// CHECK: vector.reduction <add>, %{{.+}} fastmath<reassoc> : vector<16xf32> into f32
// CHECK: memref.store %{{.+}}, %arg2[{{.+}}] : memref<?x?x84xf32>
func.func @head_gemm_absorb_query(%q: memref<?x?x72xf32>, %wv: memref<20x78xf32>, %y: memref<?x?x84xf32>, %b: index, %r0: index, %n: index, %h: index) {
  mha.head_gemm ins(%q, %wv : memref<?x?x72xf32>, memref<20x78xf32>) outs(%y : memref<?x?x84xf32>)
      at(%b, %r0, %n) head(%h) {num_heads = 3 : i64, transpose_weight, vector_width = 16 : i64}
  return
}

// -----

// Its output product (Wv's value part read as it is, Dv = 20: a whole
// vector and a masked one): k-loop of the output rows broadcast times the
// two weight vectors; the whole vector narrowed and stored at once, the
// partial one lane by lane.
// CHECK-LABEL: func.func @head_gemm_absorb_output
// CHECK: scf.for %{{.+}} = %c0 to %c20 step %c1 iter_args
// CHECK: vector.load %arg1[{{.+}}] : memref<20x108xf32>, vector<16xf32>
// CHECK: vector.maskedload %arg1[{{.+}}], %{{.+}}, %{{.+}} : memref<20x108xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.broadcast %{{.+}} : f32 to vector<16xf32>
// CHECK-COUNT-2: vector.fma
// CHECK: arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK: vector.store %{{.+}}, %arg2[{{.+}}] : memref<?x?x60xbf16>, vector<16xbf16>
// CHECK: memref.store %{{.+}}, %arg2[{{.+}}] : memref<?x?x60xbf16>
func.func @head_gemm_absorb_output(%o: memref<?x?x60xf32>, %wv: memref<20x108xf32>, %y: memref<?x?x60xbf16>, %b: index, %r0: index, %n: index, %h: index) {
  mha.head_gemm ins(%o, %wv : memref<?x?x60xf32>, memref<20x108xf32>) outs(%y : memref<?x?x60xbf16>)
      at(%b, %r0, %n) head(%h) {num_heads = 3 : i64, weight_offset = 16 : i64, vector_width = 16 : i64}
  return
}

// -----

// A layer backward's panel of a transposed weight: each panel row k is
// column k of W, its 16 lanes loaded one by one (rows col0 + i of W) and
// widened, the partial vector's lanes past the block read at col0 (in
// bounds) and zeroed.
// CHECK-LABEL: func.func @pack_transposed
// CHECK-COUNT-16: memref.load %arg0[%{{.+}}, %{{.+}}] : memref<40x64xbf16>
// CHECK: vector.from_elements {{.+}} : vector<16xf32>
// CHECK: vector.store %{{.+}}, %arg1[{{.+}}] : memref<64x64xf32>, vector<16xf32>
// CHECK: arith.select
func.func @pack_transposed(%w: memref<40x64xbf16>, %panel: memref<64x64xf32>, %k0: index, %kn: index, %c0: index, %cols: index) {
  mha.pack_panel ins(%w : memref<40x64xbf16>) outs(%panel : memref<64x64xf32>) rows(%k0, %kn) columns(%c0, %cols) {transpose, vector_width = 16 : i64}
  return
}

// -----

// A block of a weight's gradient (dW = x^T g over B and L, two replicas
// summed; the op's default bounds: 64 rows, 128 columns): f32 accumulators
// zeroed on the stack; per batch element and K-block of 128 rows, x's
// micro-panels of 4 rows of dW (vector<4> rows of x; the last masked) and
// g's panels of 4 vectors (the replicas added, the partial vector masked,
// zeros to the panel's end); then per panel and block of 4 rows, 16
// accumulators over the K-block (4 broadcasts, 4 panel vectors, 16 FMAs a
// row); dW narrowed to bf16 at the end.
// CHECK-LABEL: func.func @weight_grad
// CHECK: %[[ACC:.+]] = memref.alloca() {alignment = 64 : i64} : memref<64x128xf32>
// CHECK: %[[AP:.+]] = memref.alloca() {alignment = 64 : i64} : memref<16x128x4xf32>
// CHECK: %[[GP:.+]] = memref.alloca() {alignment = 64 : i64} : memref<2x128x64xf32>
// CHECK: vector.store %{{.+}}, %[[ACC]]
// CHECK: scf.for %[[B:.+]] = %c0 to %{{.+}} step %c1
// CHECK: scf.for %{{.+}} = %c0 to %{{.+}} step %c128
// CHECK: vector.load %arg0[%[[B]], %{{.+}}, %{{.+}}] : memref<?x?x64xf32>, vector<4xf32>
// CHECK: vector.store %{{.+}}, %[[AP]]
// CHECK: vector.maskedload %arg0
// CHECK: vector.load %arg1[%[[B]], %{{.+}}, %{{.+}}] : memref<?x?x96xf32>, vector<16xf32>
// CHECK: vector.load %arg1[%[[B]], %{{.+}}, %{{.+}}] : memref<?x?x96xf32>, vector<16xf32>
// CHECK: arith.addf %{{.+}}, %{{.+}} : vector<16xf32>
// CHECK: vector.store %{{.+}}, %[[GP]]
// CHECK: vector.maskedload %arg1
// CHECK: scf.for {{.+}} iter_args
// CHECK: vector.load %[[GP]]
// CHECK: memref.load %[[AP]]
// CHECK-COUNT-4: vector.fma
// CHECK: arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK: vector.store %{{.+}}, %arg2[{{.+}}] : memref<64x32xbf16>, vector<16xbf16>
func.func @weight_grad(%x: memref<?x?x64xf32>, %g: memref<?x?x96xf32>, %dw: memref<64x32xbf16>, %r0: index, %rows: index, %c0: index, %cols: index) {
  mha.weight_grad_tile ins(%x : memref<?x?x64xf32>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xbf16>) rows(%r0, %rows) columns(%c0, %cols) {g_offset = 32 : i64, replicas = 2 : i64, replica_stride = 16 : i64, vector_width = 16 : i64}
  return
}

// -----

// The same with bf16_pairs: K-blocks of 256 rows packed as bf16 pairs of
// consecutive rows (x's quads and g's vectors rounded and interleaved, an
// odd last row's partner zeros), then vdpbf16ps on 128 pairs: a broadcast
// pair of x per row of dW, 4 panel vectors of 16 pairs.
// CHECK-LABEL: func.func @weight_grad_pairs
// CHECK: %[[AP:.+]] = memref.alloca() {alignment = 64 : i64} : memref<16x128x8xbf16>
// CHECK: %[[GP:.+]] = memref.alloca() {alignment = 64 : i64} : memref<2x128x128xbf16>
// CHECK: scf.for %{{.+}} = %c0 to %{{.+}} step %c256
// CHECK: arith.truncf %{{.+}} : vector<4xf32> to vector<4xbf16>
// CHECK: arith.select %{{.+}}, %{{.+}}, %cst{{.*}} : vector<4xf32>
// CHECK: vector.interleave %{{.+}}, %{{.+}} : vector<4xbf16> -> vector<8xbf16>
// CHECK: vector.store %{{.+}}, %[[AP]]
// CHECK: vector.interleave %{{.+}}, %{{.+}} : vector<16xbf16> -> vector<32xbf16>
// CHECK: vector.store %{{.+}}, %[[GP]]
// CHECK: scf.for {{.+}} iter_args
// CHECK: vector.load %[[GP]]{{.+}} : memref<2x128x128xbf16>, vector<32xbf16>
// CHECK: vector.load %[[AP]]{{.+}} : memref<16x128x8xbf16>, vector<2xbf16>
// CHECK-COUNT-4: x86vector.avx512.dot
// CHECK-NOT: vector.fma
// CHECK: vector.store %{{.+}}, %arg2[{{.+}}] : memref<64x32xf32>, vector<16xf32>
func.func @weight_grad_pairs(%x: memref<?x?x64xbf16>, %g: memref<?x?x96xf32>, %dw: memref<64x32xf32>, %r0: index, %rows: index, %c0: index, %cols: index) {
  mha.weight_grad_tile ins(%x : memref<?x?x64xbf16>) grads(%g : memref<?x?x96xf32>) outs(%dw : memref<64x32xf32>) rows(%r0, %rows) columns(%c0, %cols) {bf16_pairs, vector_width = 16 : i64}
  return
}

// -----

// A bias's gradient: the column sums of g, read in place, vector by
// vector over the batch and the rows.
// CHECK-LABEL: func.func @bias_grad
// CHECK: scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args
// CHECK: scf.for %{{.+}} = %c0 to %{{.+}} step %c1 iter_args
// CHECK: vector.load %arg0[{{.+}}] : memref<?x?x96xf32>, vector<16xf32>
// CHECK-NEXT: arith.addf %{{.+}}, %{{.+}} : vector<16xf32>
// CHECK: vector.store %{{.+}}, %arg1[{{.+}}] : memref<1x96xf32>, vector<16xf32>
func.func @bias_grad(%g: memref<?x?x96xf32>, %db: memref<1x96xf32>, %c0: index, %cols: index, %one: index) {
  mha.weight_grad_tile grads(%g : memref<?x?x96xf32>) outs(%db : memref<1x96xf32>) rows(%c0, %one) columns(%c0, %cols) {vector_width = 16 : i64}
  return
}
