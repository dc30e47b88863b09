// ALiBi on rows far from the keys (issue 23): with Lq much larger than Lk
// every score of a row carries about slope * (Lq - Lk), which f32 cannot
// hold to the contract's 1e-5. The kernels take each row's distances from
// its key nearest the diagonal (the row's largest bias is left out of the
// scores) and add that bias back into lse; probs and entropy do not depend
// on it. Causal and windows with Lq < Lk and Lq > Lk, f32 and bf16.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libalibi.so

// Lq = 3000, 10000, 100000 against 16 keys (the issue's shapes).
// RUN: mha-check %t/libalibi.so --fn long_rows --dtype f32 --B 1 --Hq 1 --Lq 3000 --Lk 16 --D 40 --alibi 0.3 --lse
// RUN: mha-check %t/libalibi.so --fn long_rows --dtype f32 --B 1 --Hq 1 --Lq 10000 --Lk 16 --D 40 --alibi 0.3 --lse --threads 0
// RUN: mha-check %t/libalibi.so --fn long_rows --dtype f32 --B 1 --Hq 1 --Lq 100000 --Lk 16 --D 40 --alibi 0.3 --lse --threads 0
func.func @long_rows(%q: tensor<1x1x?x40xf32>, %k: tensor<1x1x?x40xf32>,
                     %v: tensor<1x1x?x40xf32>)
    -> (tensor<1x1x?x40xf32>, tensor<1x1x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v
         {alibi_slopes = array<f32: 0.3>, return_lse}
       : tensor<1x1x?x40xf32>, tensor<1x1x?x40xf32>, tensor<1x1x?x40xf32>
       -> tensor<1x1x?x40xf32>, tensor<1x1x?xf32>
  return %o, %lse : tensor<1x1x?x40xf32>, tensor<1x1x?xf32>
}

// Probabilities and entropy come from the same shifted scores as m and l.
// RUN: mha-check %t/libalibi.so --fn extras --dtype f32 --B 1 --Hq 2 --Lq 3000 --Lk 16 --D 40 --alibi 0.3,0.05 --lse --probs --entropy --threads 0
// RUN: mha-check %t/libalibi.so --fn extras --dtype f32 --B 1 --Hq 2 --Lq 20 --Lk 300 --D 40 --alibi 0.3,0.05 --lse --probs --entropy
func.func @extras(%q: tensor<1x2x?x40xf32>, %k: tensor<1x2x?x40xf32>,
                  %v: tensor<1x2x?x40xf32>)
    -> (tensor<1x2x?x40xf32>, tensor<1x2x?xf32>, tensor<1x2x?x?xf32>,
        tensor<1x2x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {alibi_slopes = array<f32: 0.3, 0.05>, return_lse, return_probs,
          return_entropy}
       : tensor<1x2x?x40xf32>, tensor<1x2x?x40xf32>, tensor<1x2x?x40xf32>
       -> tensor<1x2x?x40xf32>, tensor<1x2x?xf32>, tensor<1x2x?x?xf32>,
          tensor<1x2x?xf32>
  return %o, %lse, %p, %e : tensor<1x2x?x40xf32>, tensor<1x2x?xf32>,
                            tensor<1x2x?x?xf32>, tensor<1x2x?xf32>
}

// Causal and windows (right windows past the keys leave rows empty, sinks
// escape the windows), Lq < Lk and Lq > Lk.
// RUN: mha-check %t/libalibi.so --fn masked --dtype f32 --B 1 --Hq 4 --Lq 3000 --Lk 40 --D 40 --alibi 0.3 --causal --window-left 0,7,-1,100 --sinks 2 --lse --entropy --threads 0
// RUN: mha-check %t/libalibi.so --fn masked --dtype f32 --B 1 --Hq 4 --Lq 37 --Lk 3000 --D 40 --alibi 0.3 --causal --window-left 0,7,-1,100 --sinks 2 --lse --entropy
// RUN: mha-check %t/libalibi.so --fn window --dtype f32 --B 1 --Hq 4 --Lq 3000 --Lk 40 --D 40 --alibi 0.3 --window-right 0,5,-1,2000 --lse --probs --entropy --threads 0
// RUN: mha-check %t/libalibi.so --fn window --dtype f32 --B 1 --Hq 4 --Lq 37 --Lk 3000 --D 40 --alibi 0.3 --window-right 0,5,-1,2000 --lse --probs --entropy
func.func @masked(%q: tensor<1x4x?x40xf32>, %k: tensor<1x4x?x40xf32>,
                  %v: tensor<1x4x?x40xf32>)
    -> (tensor<1x4x?x40xf32>, tensor<1x4x?xf32>, tensor<1x4x?xf32>) {
  %o, %lse, %e = mha.attention %q, %k, %v
         {alibi_slopes = array<f32: 0.3>, causal,
          window_left = array<i64: 0, 7, -1, 100>, sink_tokens = 2,
          return_lse, return_entropy}
       : tensor<1x4x?x40xf32>, tensor<1x4x?x40xf32>, tensor<1x4x?x40xf32>
       -> tensor<1x4x?x40xf32>, tensor<1x4x?xf32>, tensor<1x4x?xf32>
  return %o, %lse, %e
       : tensor<1x4x?x40xf32>, tensor<1x4x?xf32>, tensor<1x4x?xf32>
}

func.func @window(%q: tensor<1x4x?x40xf32>, %k: tensor<1x4x?x40xf32>,
                  %v: tensor<1x4x?x40xf32>)
    -> (tensor<1x4x?x40xf32>, tensor<1x4x?xf32>, tensor<1x4x?x?xf32>,
        tensor<1x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {alibi_slopes = array<f32: 0.3>,
          window_right = array<i64: 0, 5, -1, 2000>, return_lse,
          return_probs, return_entropy}
       : tensor<1x4x?x40xf32>, tensor<1x4x?x40xf32>, tensor<1x4x?x40xf32>
       -> tensor<1x4x?x40xf32>, tensor<1x4x?xf32>, tensor<1x4x?x?xf32>,
          tensor<1x4x?xf32>
  return %o, %lse, %p, %e : tensor<1x4x?x40xf32>, tensor<1x4x?xf32>,
                            tensor<1x4x?x?xf32>, tensor<1x4x?xf32>
}

// bf16 (f32 accumulation): within 1e-2, lse included.
// RUN: mha-check %t/libalibi.so --fn long_rows_bf16 --dtype bf16 --B 1 --Hq 1 --Lq 100000 --Lk 16 --D 40 --alibi 0.3 --lse --threads 0
func.func @long_rows_bf16(%q: tensor<1x1x?x40xbf16>, %k: tensor<1x1x?x40xbf16>,
                          %v: tensor<1x1x?x40xbf16>)
    -> (tensor<1x1x?x40xbf16>, tensor<1x1x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v
         {alibi_slopes = array<f32: 0.3>, return_lse}
       : tensor<1x1x?x40xbf16>, tensor<1x1x?x40xbf16>, tensor<1x1x?x40xbf16>
       -> tensor<1x1x?x40xbf16>, tensor<1x1x?xf32>
  return %o, %lse : tensor<1x1x?x40xbf16>, tensor<1x1x?xf32>
}
