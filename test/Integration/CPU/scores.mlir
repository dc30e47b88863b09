// Score modifiers end to end, in docs/language.md's order:
//   s = (q . k) * scale / temperature[h]; s = softcap * tanh(s / softcap);
//   s -= alibi_slopes[h] * |i + Lk - Lq - j|; then the masks.
// Also huge scores (|s| ~ 1e4): the softmax must stay finite and exact.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libscores.so

// RUN: mha-check %t/libscores.so --fn temp_scalar --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --temperature 0.7
func.func @temp_scalar(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                       %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {temperature = array<f32: 0.7>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}

// RUN: mha-check %t/libscores.so --fn scale_temp --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --scale 0.5 --temperature 0.25,1,2,8 --threads 3
func.func @scale_temp(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                      %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.5 : f32,
                                 temperature = array<f32: 0.25, 1.0, 2.0, 8.0>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}

// Softcap low enough to bite (scores are ~N(0, 4) with scale 0.35).
// RUN: mha-check %t/libscores.so --fn softcap --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --scale 0.35 --softcap 1.5
func.func @softcap(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                   %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.35 : f32, softcap = 1.5 : f32}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}

// ALiBi: one slope for all heads without causal (both sides of the
// diagonal are penalised), and per-head slopes with Lq > Lk.
// RUN: mha-check %t/libscores.so --fn alibi_one --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --alibi 0.125
// RUN: mha-check %t/libscores.so --fn alibi_heads --dtype f32 --B 2 --Hq 4 --Lq 53 --Lk 37 --D 32 --alibi 0.5,0.25,0.0625,0 --causal --threads 3
func.func @alibi_one(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                     %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {alibi_slopes = array<f32: 0.125>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
func.func @alibi_heads(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                       %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {causal,
                                 alibi_slopes = array<f32: 0.5, 0.25, 0.0625, 0.0>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}

// Everything at once: the order of operations matters here (softcap before
// ALiBi, temperature before softcap).
// RUN: mha-check %t/libscores.so --fn combined --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --scale 0.4 --temperature 0.5,1,1.5,3 --softcap 2 --alibi 0.3,0.1,0.05,0.01 --causal --window-left 9,-1,20,4 --sinks 2 --threads 3
// RUN: mha-check %t/libscores.so --fn combined --dtype f32 --B 1 --Hq 4 --Lq 80 --Lk 45 --D 32 --scale 0.4 --temperature 0.5,1,1.5,3 --softcap 2 --alibi 0.3,0.1,0.05,0.01 --causal --window-left 9,-1,20,4 --sinks 2
func.func @combined(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                    %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {causal, scale = 0.4 : f32,
                                 temperature = array<f32: 0.5, 1.0, 1.5, 3.0>,
                                 softcap = 2.0 : f32,
                                 alibi_slopes = array<f32: 0.3, 0.1, 0.05, 0.01>,
                                 window_left = array<i64: 9, -1, 20, 4>,
                                 sink_tokens = 2}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}

// Huge scores (|s| ~ 1e4): no overflow, no NaN, a one-hot softmax; with
// return_lse the log-sum-exp is ~1e4 and must still be accurate; with a
// softcap the scores saturate at +-softcap and many keys tie. (The few
// scores near the softcap knee carry the f32 rounding of a 1e4-sized dot
// product, ~1e-3, into the softmax: a 1e-4 tolerance there.)
// RUN: mha-check %t/libscores.so --fn huge --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --causal --lse --scores-scale 1e4
// RUN: mha-check %t/libscores.so --fn huge --dtype f32 --B 1 --Hq 4 --Lq 37 --Lk 53 --D 32 --causal --lse --scores-scale -3e4 --threads 3
// RUN: mha-check %t/libscores.so --fn huge_softcap --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 32 --softcap 30 --alibi 0.5 --scores-scale 1e4 --tol 1e-4
func.func @huge(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                %v: tensor<?x4x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
}
func.func @huge_softcap(%q: tensor<?x4x?x32xf32>, %k: tensor<?x4x?x32xf32>,
                        %v: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = mha.attention %q, %k, %v {softcap = 30.0 : f32,
                                 alibi_slopes = array<f32: 0.5>}
       : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>
       -> tensor<?x4x?x32xf32>
  return %o : tensor<?x4x?x32xf32>
}
