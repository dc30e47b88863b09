func.func @finalize(%acc: memref<?x8xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>, %alive: i1,
                    %o: memref<?x8xbf16>, %lse: memref<?xf32>, %ent: memref<?xf32>) {
  mha.online_softmax_finalize ins(%acc, %m, %l, %t : memref<?x8xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>) alive(%alive)
      outs(%o : memref<?x8xbf16>) lse(%lse : memref<?xf32>) entropy(%ent : memref<?xf32>)
  return
}
