// Probabilities stay exact with huge scores: they are computed from the
// very log2 scores the softmax used (a single visible key gets exactly 1),
// not from recomputed scores whose rounding is ulp(|s|).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libprobs.so
// RUN: mha-check %t/libprobs.so --fn p --dtype f32 --B 1 --Hq 1 --Lq 1 --Lk 1 --D 16 --probs --scores-scale 1e3
// RUN: mha-check %t/libprobs.so --fn p --dtype f32 --B 1 --Hq 1 --Lq 20 --Lk 20 --D 16 --probs --scores-scale 1e4
func.func @p(%q: tensor<?x1x?x16xf32>, %k: tensor<?x1x?x16xf32>,
             %v: tensor<?x1x?x16xf32>)
    -> (tensor<?x1x?x16xf32>, tensor<?x1x?x?xf32>) {
  %o, %p = mha.attention %q, %k, %v {return_probs}
       : tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>
       -> tensor<?x1x?x16xf32>, tensor<?x1x?x?xf32>
  return %o, %p : tensor<?x1x?x16xf32>, tensor<?x1x?x?xf32>
}
