// RUN: mha-opt %s -mha-emit-entry-points="work-suffix=avx512 dispatch=true" | FileCheck %s --check-prefix=DISPATCH
// RUN: mha-opt %s -mha-emit-entry-points="work-suffix=avx2 export=false" | FileCheck %s --check-prefix=SECONDARY
// RUN: mha-opt %s -mha-emit-entry-points="work-suffix=avx512 dispatch=true copies=avx512,avx512bf16" | FileCheck %s --check-prefix=HOST
// RUN: mha-opt %s -mha-emit-entry-points="work-suffix=avx512 dispatch=true copies=avx512" | FileCheck %s --check-prefix=NO-BF16
// RUN: mha-opt %s -mha-emit-entry-points="work-suffix=avx512bf16 dispatch=true copies=avx512bf16" | FileCheck %s --check-prefix=SINGLE
// RUN: mha-opt %s -mha-emit-entry-points="work-suffix=generic dispatch=true copies=generic" | FileCheck %s --check-prefix=GENERIC
// RUN: not mha-opt %s -mha-emit-entry-points="dispatch=true copies=avx512,neon" 2>&1 | FileCheck %s --check-prefix=BAD
// With one copy of the kernels per ISA, the primary module's exported
// function picks the work function of the CPU's ISA; the others are
// declared (hidden) and defined by their own modules, which export nothing.
// DISPATCH: llvm.func hidden @f__work_avx512(
// DISPATCH: llvm.func @f(
// DISPATCH:   %[[ISA:.+]] = llvm.call @mha_rt_cpu_isa() : () -> i32
// DISPATCH:   llvm.mlir.addressof @f__work_generic
// DISPATCH:   llvm.mlir.addressof @f__work_avx2
// DISPATCH:   llvm.icmp "sge" %[[ISA]]
// DISPATCH:   llvm.select
// DISPATCH:   llvm.mlir.addressof @f__work_avx512
// DISPATCH:   llvm.select
// DISPATCH-NOT: @f__work_avx512bf16
// DISPATCH:   llvm.call @mha_rt_launch
// DISPATCH-DAG: llvm.func hidden @f__work_generic(!llvm.ptr, i64, i64, i64, !llvm.ptr)
// DISPATCH-DAG: llvm.func hidden @f__work_avx2(!llvm.ptr, i64, i64, i64, !llvm.ptr)
// A bf16 function also has the AVX512-BF16 copy, picked at level 3 of
// the level for vdpbf16ps (AVX512 where it is slower than the FMAs).
// DISPATCH: llvm.func @g(
// DISPATCH:   %[[GISA:.+]] = llvm.call @mha_rt_cpu_isa_bf16_dot() : () -> i32
// DISPATCH:   llvm.mlir.addressof @g__work_avx512
// DISPATCH:   llvm.select
// DISPATCH:   llvm.mlir.addressof @g__work_avx512bf16
// DISPATCH:   %[[L3:.+]] = llvm.mlir.constant(3 : i32) : i32
// DISPATCH:   llvm.icmp "sge" %[[GISA]], %[[L3]]
// DISPATCH:   llvm.select
// DISPATCH:   llvm.call @mha_rt_launch
// DISPATCH-DAG: llvm.func hidden @g__work_avx512bf16(!llvm.ptr, i64, i64, i64, !llvm.ptr)
// A bf16 decoding step (one static query row) is memory-bound: the plain
// level, whose AVX512-BF16 copy is the faster one on every CPU.
// DISPATCH: llvm.func @step(
// DISPATCH:   %[[SISA:.+]] = llvm.call @mha_rt_cpu_isa() : () -> i32
// DISPATCH:   llvm.mlir.addressof @step__work_avx512bf16
// DISPATCH:   llvm.icmp "sge" %[[SISA]]
// A library without the copies below AVX-512 (mha-compile --isa=host):
// a CPU below it gets a null work function, which the runtime reports.
// HOST: llvm.func @f(
// HOST:   %[[ISA:.+]] = llvm.call @mha_rt_cpu_isa() : () -> i32
// HOST:   %[[NONE:.+]] = llvm.mlir.zero : !llvm.ptr
// HOST-NOT: @f__work_generic
// HOST-NOT: @f__work_avx2
// HOST:   %[[AVX512:.+]] = llvm.mlir.addressof @f__work_avx512
// HOST:   %[[L2:.+]] = llvm.mlir.constant(2 : i32) : i32
// HOST:   %[[AT:.+]] = llvm.icmp "sge" %[[ISA]], %[[L2]]
// HOST:   llvm.select %[[AT]], %[[AVX512]], %[[NONE]]
// HOST:   llvm.call @mha_rt_launch
// HOST: llvm.func @g(
// HOST:   llvm.mlir.addressof @g__work_avx512
// HOST:   llvm.mlir.addressof @g__work_avx512bf16
// A bf16 function in a library without the AVX512-BF16 copy (an AVX-512
// host without AVX512-BF16) dispatches to the AVX-512 copy alone.
// NO-BF16: llvm.func @g(
// NO-BF16:   llvm.mlir.addressof @g__work_avx512
// NO-BF16-NOT: @g__work_avx512bf16
// NO-BF16:   llvm.call @mha_rt_launch
// A library of one copy (mha-compile --isa=avx512bf16) holds every
// function in it: each runs it where the CPU has its instructions, bf16
// ones too (no bf16-dot preference), and gets no work function below.
// SINGLE: llvm.func @f(
// SINGLE:   %[[FW:.+]] = llvm.mlir.addressof @f__work_avx512bf16
// SINGLE:   %[[FISA:.+]] = llvm.call @mha_rt_cpu_isa() : () -> i32
// SINGLE:   %[[FL3:.+]] = llvm.mlir.constant(3 : i32) : i32
// SINGLE:   %[[FAT:.+]] = llvm.icmp "sge" %[[FISA]], %[[FL3]]
// SINGLE:   %[[FNONE:.+]] = llvm.mlir.zero : !llvm.ptr
// SINGLE:   llvm.select %[[FAT]], %[[FW]], %[[FNONE]]
// SINGLE:   llvm.call @mha_rt_launch
// SINGLE: llvm.func @g(
// SINGLE-NOT: mha_rt_cpu_isa_bf16_dot
// SINGLE:   llvm.mlir.addressof @g__work_avx512bf16
// SINGLE:   llvm.call @mha_rt_cpu_isa() : () -> i32
// SINGLE:   llvm.call @mha_rt_launch
// Every x86-64 CPU runs the generic copy: no query.
// GENERIC: llvm.func @f(
// GENERIC-NOT: mha_rt_cpu_isa
// GENERIC:   llvm.mlir.addressof @f__work_generic
// GENERIC:   llvm.call @mha_rt_launch
// BAD: error: copies has 'neon'; expected generic, avx2, avx512 or avx512bf16
// A bf16 layer's rows per sequence are known at run time: the runtime
// reads them from x, its first tensor.
// DISPATCH: llvm.func @layer(%[[X:[^:]+]]: !llvm.ptr,
// DISPATCH:   llvm.call @mha_rt_cpu_isa_bf16_layer(%[[X]]) : (!llvm.ptr) -> i32
// DISPATCH:   llvm.mlir.addressof @layer__work_avx512bf16
// DISPATCH:   llvm.call @mha_rt_launch_layer
// SECONDARY: llvm.func hidden @f__work_avx2(
// SECONDARY-NOT: @f__signature
// SECONDARY-NOT: llvm.func @f(

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
  llvm.func @g__kernel() attributes {mha.entry_point = #mha.entry_point<name = "g", rowsPerItem = 16, gridHeads = 2,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x2x?x8xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x8xbf16, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x2x?x8xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x8xbf16, strided<[?, ?, ?, 1], offset: ?>>]>} {
    llvm.return
  }
  llvm.func @_mlir_ciface_g__kernel(%q: !llvm.ptr, %k: !llvm.ptr, %v: !llvm.ptr, %o: !llvm.ptr, %b: i64, %h: i64, %t: i64, %alive: i1) {
    llvm.return
  }
  llvm.func @step__kernel() attributes {mha.entry_point = #mha.entry_point<name = "step", rowsPerItem = 16, gridHeads = 2,
      roles = [#mha.role<query>, #mha.role<key>, #mha.role<value>, #mha.role<output>],
      types = [memref<?x2x1x8xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x8xbf16, strided<[?, ?, ?, 1], offset: ?>>,
               memref<?x2x?x8xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x1x8xbf16, strided<[?, ?, ?, 1], offset: ?>>]>} {
    llvm.return
  }
  llvm.func @_mlir_ciface_step__kernel(%q: !llvm.ptr, %k: !llvm.ptr, %v: !llvm.ptr, %o: !llvm.ptr, %b: i64, %h: i64, %t: i64, %alive: i1) {
    llvm.return
  }
  llvm.func @layer__kernel() attributes {mha.entry_point = #mha.entry_point<name = "layer", rowsPerItem = 16, gridHeads = 1,
      roles = [#mha.role<layer_input>, #mha.role<query_weight>, #mha.role<layer_output>],
      types = [memref<?x?x8xbf16, strided<[?, ?, 1], offset: ?>>, memref<8x8xbf16, strided<[?, 1], offset: ?>>,
               memref<?x?x8xbf16, strided<[?, ?, 1], offset: ?>>]>,
      mha.layer_plan = #mha.layer_plan<tempCols = [8], tempShapes = [1], tempBytes = [4], phaseHeads = [1], phaseRows = [16], phaseKinds = [0]>} {
    llvm.return
  }
  llvm.func @_mlir_ciface_layer__kernel(%x: !llvm.ptr, %w: !llvm.ptr, %y: !llvm.ptr, %temp: !llvm.ptr, %phase: i64, %b: i64, %h: i64, %t: i64, %alive: i1) {
    llvm.return
  }
}
