func.func @step_unmasked(%q: memref<?x16xf16, strided<[?, 1], offset: ?>>, %k: memref<?x16xf16, strided<[?, 1], offset: ?>>, %v: memref<?x8xf16, strided<[?, 1], offset: ?>>,
                         %acc: memref<?x8xf32, strided<[8, 1], offset: ?>>, %m: memref<?xf32, strided<[1], offset: ?>>, %l: memref<?xf32, strided<[1], offset: ?>>, %t: memref<?xf32, strided<[1], offset: ?>>,
                         %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %s: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf16, strided<[?, 1], offset: ?>>, memref<?x16xf16, strided<[?, 1], offset: ?>>, memref<?x8xf16, strided<[?, 1], offset: ?>>)
      outs(%acc, %m, %l, %t : memref<?x8xf32, strided<[8, 1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %s)
  return
}
