// RUN: mha-opt %s -split-input-file -mha-emit-entry-points -verify-diagnostics | FileCheck %s

// The kernel and its C wrapper become internal; the exported function packs
// its DLTensor pointers and calls the runtime with the signature table, the
// parameter names and the work trampoline, which unpacks the descriptors
// and reads the head's alive byte.
// CHECK: llvm.func internal @f__kernel
// CHECK: llvm.func internal @_mlir_ciface_f__kernel
// CHECK-LABEL: llvm.func internal @f__work
// CHECK-SAME:    (%[[DESCS:.+]]: !llvm.ptr, %[[B:.+]]: i64, %[[H:.+]]: i64, %[[T:.+]]: i64, %[[ALIVE:.+]]: !llvm.ptr)
// CHECK:         llvm.getelementptr %[[ALIVE]][%[[H]]]
// CHECK:         llvm.icmp "ne"
// CHECK:         llvm.call @_mlir_ciface_f__kernel(
// CHECK: llvm.mlir.global internal constant @f__signature(dense<[1, 4, 3, 2, 16, 1, 2, 0, 0, 2, 32, 4, 1, -1, 4, 2, 2, -1, 6, 8
// CHECK-DAG: llvm.mlir.global internal constant @f__name("f\00")
// CHECK-DAG: llvm.mlir.global internal constant @f__arg0("q\00")
// CHECK-DAG: llvm.mlir.global internal constant @f__arg3("o\00")
// CHECK: llvm.func @mha_rt_launch(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> i32
// CHECK-LABEL: llvm.func @f(
// CHECK:         llvm.alloca
// CHECK:         %[[WORK:.+]] = llvm.mlir.addressof @f__work : !llvm.ptr
// CHECK:         %[[STATUS:.+]] = llvm.call @mha_rt_launch({{.*}}, %[[WORK]])
// CHECK:         llvm.return %[[STATUS]] : i32
module {
  llvm.func @f__kernel() attributes {mha.entry_point = #mha.entry_point<name = "f", rowsPerItem = 16, gridHeads = 2,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>]>} {
    llvm.return
  }
  llvm.func @_mlir_ciface_f__kernel(%q: !llvm.ptr, %k: !llvm.ptr, %v: !llvm.ptr, %o: !llvm.ptr, %b: i64, %h: i64, %t: i64, %alive: i1) {
    llvm.return
  }
}

// -----

// Without the C wrapper there is nothing to call.
module {
  // expected-error @+1 {{missing C wrapper '_mlir_ciface_g__kernel'}}
  llvm.func @g__kernel() attributes {mha.entry_point = #mha.entry_point<name = "g", rowsPerItem = 16, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>]>} {
    llvm.return
  }
}

// -----

// The exported name must be free.
module {
  llvm.func @h() {
    llvm.return
  }
  // expected-error @+1 {{cannot export 'h': the symbol is already defined}}
  llvm.func @h__kernel() attributes {mha.entry_point = #mha.entry_point<name = "h", rowsPerItem = 16, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>]>} {
    llvm.return
  }
}

// -----

// A layer backward's kernel also exports <name>_forward_train: the
// forward's tensors (y in dy's place), the same kernel and layer section
// with the number of the kernel's tensors (5), and <name>_saved_bytes,
// the runtime's sum over the backward's table. The temporary is saved
// (MHA_TEMP_SAVED | per batch = 17); the phases recompute (16) and
// compute y (32).
// CHECK: llvm.mlir.global internal constant @lb_backward__signature(dense<[{{.+}}, 1, 2, 0, 17, 8, 4, 1, 16, 16, 1, 16, 32]>
// CHECK-LABEL: llvm.func @lb_backward(
// CHECK:         llvm.call @mha_rt_launch_layer(
// CHECK: llvm.mlir.global internal constant @lb_forward_train__signature(dense<[{{.+}}, 1, 2, 5, 17, 8, 4, 1, 16, 16, 1, 16, 32]>
// CHECK-DAG: llvm.mlir.global internal constant @lb_forward_train__arg2("y\00")
// CHECK-LABEL: llvm.func @lb_forward_train(
// CHECK-SAME:    %arg2: !llvm.ptr, %arg3: !llvm.ptr) -> i32
// CHECK:         %[[WORK:.+]] = llvm.mlir.addressof @lb_backward__work : !llvm.ptr
// CHECK:         llvm.call @mha_rt_launch_layer({{.*}}, %[[WORK]])
// CHECK-LABEL: llvm.func @lb_saved_bytes(
// CHECK-SAME:    %[[B:.+]]: i64, %[[L:.+]]: i64) -> i64
// CHECK:         %[[TABLE:.+]] = llvm.mlir.addressof @lb_backward__signature
// CHECK:         llvm.call @mha_rt_layer_saved_bytes(%[[TABLE]], %[[B]], %[[L]])
module {
  llvm.func @lb_backward__kernel() attributes {mha.entry_point = #mha.entry_point<name = "lb_backward", rowsPerItem = 16, gridHeads = 1,
      roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<grad_layer_output>, #mha.role<grad_layer_input>, #mha.role<grad_query_weight>],
      types = [memref<?x?x8xf32, strided<[?, ?, 1], offset: ?>>, memref<8x8xf32, strided<[?, 1], offset: ?>>,
               memref<?x?x8xf32, strided<[?, ?, 1], offset: ?>>, memref<?x?x8xf32, strided<[?, ?, 1], offset: ?>>,
               memref<8x8xf32, strided<[?, 1], offset: ?>>]>,
      mha.layer_plan = #mha.layer_plan<tempCols = [8], tempShapes = [17], tempBytes = [4], phaseHeads = [1, 1], phaseRows = [16, 16], phaseKinds = [16, 32]>} {
    llvm.return
  }
  llvm.func @_mlir_ciface_lb_backward__kernel(%x: !llvm.ptr, %w: !llvm.ptr, %dy: !llvm.ptr, %dx: !llvm.ptr, %dw: !llvm.ptr, %temp: !llvm.ptr, %phase: i64, %b: i64, %h: i64, %t: i64, %alive: i1) {
    llvm.return
  }
}
