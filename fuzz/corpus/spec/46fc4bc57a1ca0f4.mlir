module {
  llvm.func @g__kernel() attributes {mha.entry_point = #mha.entry_point<name = "g", rowsPerItem = 16, gridHeads = 2,
      roles = [#mha.role<query>], types = [memref<?x2x?x8xf32, strided<[?, ?, ?, 1], offset: ?>>]>} {
    llvm.return
  }
}
