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
