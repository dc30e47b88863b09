// Extra results end to end: lse [B, Hq, Lq] (natural log, -inf for a row
// with no visible key), probs [B, Hq, Lq, Lk] (0 for invisible keys) and
// entropy [B, Hq, Lq] (nats, 0 for a row with no visible key), alone and
// together; they follow o in the order lse, probs, entropy.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libextras.so

// lse alone; with Lq > Lk under causal the first rows have no key (-inf).
// RUN: mha-check %t/libextras.so --fn lse --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --causal --lse
// RUN: mha-check %t/libextras.so --fn lse --dtype f32 --B 2 --Hq 4 --Lq 53 --Lk 37 --D 16 --causal --lse --threads 3
func.func @lse(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
               %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// probs alone, with windows that leave some rows empty (Lq > Lk).
// RUN: mha-check %t/libextras.so --fn probs --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --window-left 3,-1,0,9 --window-right 1,0,-1,4 --probs
// RUN: mha-check %t/libextras.so --fn probs --dtype f32 --B 1 --Hq 4 --Lq 70 --Lk 20 --D 16 --window-left 3,-1,0,9 --window-right 1,0,-1,4 --probs --threads 3
func.func @probs(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                 %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?x?xf32>) {
  %o, %p = mha.attention %q, %k, %v
         {window_left = array<i64: 3, -1, 0, 9>,
          window_right = array<i64: 1, 0, -1, 4>, return_probs}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?x?xf32>
  return %o, %p : tensor<?x4x?x16xf32>, tensor<?x4x?x?xf32>
}

// entropy alone, with temperatures that make some heads near one-hot.
// RUN: mha-check %t/libextras.so --fn entropy --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --temperature 0.1,0.5,1,10 --entropy
func.func @entropy(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                   %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %e = mha.attention %q, %k, %v
         {temperature = array<f32: 0.1, 0.5, 1.0, 10.0>, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %e : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// lse and entropy without probs (the C parameters are o, lse, entropy).
// RUN: mha-check %t/libextras.so --fn lse_entropy --dtype f32 --B 2 --Hq 4 --Lq 53 --Lk 37 --D 16 --causal --sinks 4 --window-left 6 --lse --entropy
func.func @lse_entropy(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                       %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) {
  %o, %lse, %e = mha.attention %q, %k, %v
         {causal, sink_tokens = 4, window_left = array<i64: 6>, return_lse,
          return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %e
       : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}

// All three with every score modifier, a static head mask, GQA and D != Dv.
// RUN: mha-check %t/libextras.so --fn all --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --scale 0.3 --temperature 0.8,1.2,1,2 --softcap 4 --alibi 0.05 --causal --window-left 7,-1,3,-1 --sinks 2 --head-mask 1,1,0,1 --lse --probs --entropy
// RUN: mha-check %t/libextras.so --fn all --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 61 --Lk 29 --D 16 --Dv 8 --scale 0.3 --temperature 0.8,1.2,1,2 --softcap 4 --alibi 0.05 --causal --window-left 7,-1,3,-1 --sinks 2 --head-mask 1,1,0,1 --lse --probs --entropy --runtime-head-mask 0,1,1,1 --threads 3
func.func @all(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {scale = 0.3 : f32, temperature = array<f32: 0.8, 1.2, 1.0, 2.0>,
          softcap = 4.0 : f32, alibi_slopes = array<f32: 0.05>, causal,
          window_left = array<i64: 7, -1, 3, -1>, sink_tokens = 2,
          head_mask = array<i1: true, true, false, true>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}
