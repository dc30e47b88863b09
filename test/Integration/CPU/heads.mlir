// Head pruning end to end: the spec's static head_mask and the runtime mask
// (mha_options.head_mask) combine; a pruned head's output, probabilities and
// entropy are exactly 0 (its lse is unspecified and not checked).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libheads.so

// Static mask alone, then with a runtime mask that prunes other heads.
// RUN: mha-check %t/libheads.so --fn static_mask --dtype f32 --B 2 --Hq 8 --Hkv 2 --Lq 37 --Lk 53 --D 16 --head-mask 1,0,1,1,0,1,1,0
// RUN: mha-check %t/libheads.so --fn static_mask --dtype f32 --B 2 --Hq 8 --Hkv 2 --Lq 37 --Lk 53 --D 16 --head-mask 1,0,1,1,0,1,1,0 --runtime-head-mask 0,1,1,0,1,1,1,1 --threads 3
func.func @static_mask(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                       %v: tensor<?x2x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %o = mha.attention %q, %k, %v
         {head_mask = array<i1: true, false, true, true, false, true, true, false>}
       : tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}

// Runtime mask alone (any non-zero byte keeps a head), all heads ablated,
// and with every extra result (probs and entropy of ablated heads are 0).
// RUN: mha-check %t/libheads.so --fn runtime_mask --dtype f32 --B 2 --Hq 8 --Hkv 2 --Lq 37 --Lk 53 --D 16 --causal --lse --probs --entropy --runtime-head-mask 1,0,7,255,0,1,0,1
// RUN: mha-check %t/libheads.so --fn runtime_mask --dtype f32 --B 1 --Hq 8 --Hkv 2 --Lq 20 --Lk 20 --D 16 --causal --lse --probs --entropy --runtime-head-mask 0,0,0,0,0,0,0,0
func.func @runtime_mask(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                        %v: tensor<?x2x?x16xf32>)
    -> (tensor<?x8x?x16xf32>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
        tensor<?x8x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, return_lse, return_probs, return_entropy}
       : tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x8x?x16xf32>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
          tensor<?x8x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x8x?x16xf32>, tensor<?x8x?xf32>, tensor<?x8x?x?xf32>,
         tensor<?x8x?xf32>
}
