func.func @probs(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %alive: i1, %p: memref<?x?xf32>,
                 %scale: f32, %slope: f32, %qp: index, %j: index, %wl: index, %wr: index, %s: index) {
  mha.attention_probs ins(%q, %k, %m, %l : memref<?x16xf32>, memref<?x16xf32>, memref<?xf32>, memref<?xf32>) alive(%alive)
      outs(%p : memref<?x?xf32>) scale(%scale, %slope) at(%qp, %j) window(%wl, %wr, %s) {causal}
  return
}
