func.func @step_masked(%q: memref<?x16xf32>, %k: memref<?x16xf32>, %v: memref<?x8xf32>,
                       %acc: memref<?x8xf32>, %m: memref<?xf32>, %l: memref<?xf32>, %t: memref<?xf32>,
                       %scale: f32, %slope: f32, %p: index, %j: index, %wl: index, %wr: index, %s: index) {
  mha.online_softmax_step ins(%q, %k, %v : memref<?x16xf32>, memref<?x16xf32>, memref<?x8xf32>)
      outs(%acc, %m, %l, %t : memref<?x8xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>)
      scale(%scale, %slope) at(%p, %j) window(%wl, %wr, %s) {causal, masked, has_alibi, softcap = 20.0 : f32, track_entropy}
  return
}
