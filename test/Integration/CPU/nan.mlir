// NaN and infinity propagate as IEEE arithmetic does in the float64
// reference (docs/language.md, "Precision"): a NaN that reaches a visible
// score, probability or value makes the affected rows' o, lse, probs and
// entropy NaN; an infinite score makes its row NaN (inf - inf); a value of
// inf gives inf or NaN as the reference does. A NaN or inf the row cannot
// see (masked key, skipped tile, another head) changes nothing, and rows
// with no visible key still give 0. mha-check --inject sets one input
// element and requires NaN (or the same infinity) exactly where the
// reference has it, and the usual accuracy everywhere else.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libnan.so

// One NaN or inf in q, k or v, causal with every extra result; Lq > Lk
// leaves rows with no visible key.
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 2 --Hq 4 --Lq 300 --Lk 300 --D 64 --causal --lse --probs --entropy --inject k:1,3,200,5=nan
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 300 --Lk 300 --D 64 --causal --lse --probs --entropy --inject q:0,2,250,0=nan
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 300 --Lk 300 --D 64 --causal --lse --probs --entropy --inject v:0,1,100,3=nan --threads 1
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 300 --Lk 300 --D 64 --causal --lse --probs --entropy --inject v:0,1,100,3=inf
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 300 --Lk 300 --D 64 --causal --lse --probs --entropy --inject k:0,0,10,1=inf
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 320 --Lk 200 --D 64 --causal --lse --probs --entropy --inject k:0,0,150,1=nan --inject v:0,2,4,63=-inf
// Masked keys in tiles the row's micro-kernel block does visit: key 7 is
// invisible to rows 124-126 (diagonal 4-6) but computed with row 127, key
// 101 to row 100; 0 * inf and 0 * NaN must not reach them.
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 320 --Lk 200 --D 64 --causal --lse --probs --entropy --inject v:0,2,7,63=-inf
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 300 --Lk 300 --D 64 --causal --lse --probs --entropy --inject v:0,1,101,3=nan --inject v:0,3,299,0=inf --threads 1
// Keys in skipped tiles (past the diagonal of every row of a tile).
// RUN: mha-check %t/libnan.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 1000 --Lk 1000 --D 64 --causal --lse --probs --entropy --inject k:0,1,900,3=nan --inject v:0,1,950,3=nan
func.func @causal(%q: tensor<?x4x?x64xf32>, %k: tensor<?x4x?x64xf32>,
                  %v: tensor<?x4x?x64xf32>)
    -> (tensor<?x4x?x64xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, return_lse, return_probs, return_entropy}
       : tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>
       -> tensor<?x4x?x64xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e : tensor<?x4x?x64xf32>, tensor<?x4x?xf32>,
                            tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
}

// Grouped-query heads share the poisoned KV head; a local head's window
// keeps a NaN outside it away, a global head sees it; sinks see key 0.
// RUN: mha-check %t/libnan.so --fn gqa_local --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 400 --Lk 400 --D 32 --causal --window-left 16,-1,16,-1 --sinks 2 --lse --entropy --inject k:0,1,100,4=nan
// RUN: mha-check %t/libnan.so --fn gqa_local --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 400 --Lk 400 --D 32 --causal --window-left 16,-1,16,-1 --sinks 2 --lse --entropy --inject v:0,0,0,4=nan
// RUN: mha-check %t/libnan.so --fn gqa_local --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 400 --Lk 400 --D 32 --causal --window-left 16,-1,16,-1 --sinks 2 --lse --entropy --inject q:0,3,399,31=inf
// A NaN value just left of a local head's window (and right of the
// diagonal of other rows), bf16 pairs and f32 micro-kernels alike.
// RUN: mha-check %t/libnan.so --fn gqa_local --dtype bf16 --B 1 --Hq 4 --Hkv 2 --Lq 400 --Lk 400 --D 32 --causal --window-left 16,-1,16,-1 --sinks 2 --lse --entropy --inject v:0,0,201,4=nan --inject v:0,1,33,0=inf
func.func @gqa_local(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>,
                     %v: tensor<?x2x?x32xbf16>)
    -> (tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) {
  %o, %lse, %e = mha.attention %q, %k, %v
         {causal, window_left = array<i64: 16, -1, 16, -1>, sink_tokens = 2,
          return_lse, return_entropy}
       : tensor<?x4x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>
       -> tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %e
       : tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}

// Softcap (tanh keeps NaN, maps inf to the cap) and ALiBi, f16; a pruned
// head stays 0 whatever its inputs hold.
// RUN: mha-check %t/libnan.so --fn softcap_alibi --dtype f16 --B 1 --Hq 2 --Lq 130 --Lk 70 --D 16 --softcap 30 --alibi 0.5,0.25 --head-mask 1,0 --lse --inject k:0,0,69,0=nan --inject q:0,1,3,3=nan
// RUN: mha-check %t/libnan.so --fn softcap_alibi --dtype f16 --B 1 --Hq 2 --Lq 130 --Lk 70 --D 16 --softcap 30 --alibi 0.5,0.25 --head-mask 1,0 --lse --inject k:0,0,5,0=inf
func.func @softcap_alibi(%q: tensor<?x2x?x16xf16>, %k: tensor<?x2x?x16xf16>,
                         %v: tensor<?x2x?x16xf16>)
    -> (tensor<?x2x?x16xf16>, tensor<?x2x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v
         {softcap = 30.0 : f32, alibi_slopes = array<f32: 0.5, 0.25>,
          head_mask = array<i1: true, false>, return_lse}
       : tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
       -> tensor<?x2x?x16xf16>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x16xf16>, tensor<?x2x?xf32>
}
