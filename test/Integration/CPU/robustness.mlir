// Numeric robustness (issue 9): huge and tiny scores (|s| up to ~1e4 and
// beyond), windows and sinks wider than the sequence (up to the largest
// size the verifier accepts), Lq or Lk of 1, B = 0 and L = 0, fully masked
// rows: the right answer or a clear status, never NaN from masking
// (mha-check fails on any NaN and checks o = 0, lse = -inf, entropy = 0 for
// rows with no visible key).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/librobust.so

// Windows of 2^31-1 (wider than any sequence) and sinks beyond Lk: every
// key visible, as without a window.
// RUN: mha-check %t/librobust.so --fn huge_windows --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --window-left 2147483647 --window-right 2147483647,0,-1,2147483647 --sinks 2147483647 --lse --entropy
// RUN: mha-check %t/librobust.so --fn huge_windows --dtype f32 --B 1 --Hq 4 --Lq 1 --Lk 1 --D 16 --window-left 2147483647 --window-right 2147483647,0,-1,2147483647 --sinks 2147483647 --lse --entropy
// RUN: mha-check %t/librobust.so --fn huge_windows --dtype f32 --B 1 --Hq 4 --Lq 1 --Lk 300 --D 16 --window-left 2147483647 --window-right 2147483647,0,-1,2147483647 --sinks 2147483647 --lse --entropy --scores-scale 1e4
// RUN: mha-check %t/librobust.so --fn huge_windows --dtype f32 --B 1 --Hq 4 --Lq 300 --Lk 1 --D 16 --window-left 2147483647 --window-right 2147483647,0,-1,2147483647 --sinks 2147483647 --lse --entropy --scores-scale -1e4
// RUN: mha-check %t/librobust.so --fn huge_windows --dtype f32 --B 0 --Hq 4 --Lq 5 --Lk 5 --D 16 --window-left 2147483647 --window-right 2147483647,0,-1,2147483647 --sinks 2147483647 --lse --entropy
// RUN: mha-check %t/librobust.so --fn huge_windows --dtype f32 --B 2 --Hq 4 --Lq 5 --Lk 0 --D 16 --window-left 2147483647 --window-right 2147483647,0,-1,2147483647 --sinks 2147483647 --lse --entropy
func.func @huge_windows(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                        %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) {
  %o, %lse, %e = mha.attention %q, %k, %v
         {window_left = array<i64: 2147483647>,
          window_right = array<i64: 2147483647, 0, -1, 2147483647>,
          sink_tokens = 2147483647, return_lse, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %e
       : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}

// Huge scores under masks that leave some rows empty (causal with
// Lq > Lk, window 0 right of the diagonal): masked scores must not turn
// into NaN (inf - inf) however large the visible ones; ALiBi with huge
// slopes over long distances; the score temperature making scores tiny.
// RUN: mha-check %t/librobust.so --fn masked_huge --dtype f32 --B 2 --Hq 4 --Lq 70 --Lk 33 --D 16 --causal --window-left 0,1,5,2147483647 --alibi 1000,0.5,0,1e-30 --lse --probs --entropy --scores-scale 1e4
// RUN: mha-check %t/librobust.so --fn masked_huge --dtype f32 --B 1 --Hq 4 --Lq 1 --Lk 1 --D 16 --causal --window-left 0,1,5,2147483647 --alibi 1000,0.5,0,1e-30 --lse --probs --entropy --scores-scale -1e4
// RUN: mha-check %t/librobust.so --fn masked_huge --dtype f32 --B 1 --Hq 4 --Lq 1 --Lk 200 --D 16 --causal --window-left 0,1,5,2147483647 --alibi 1000,0.5,0,1e-30 --lse --probs --entropy --scores-scale 1e-20
// RUN: mha-check %t/librobust.so --fn masked_huge --dtype f32 --B 1 --Hq 4 --Lq 200 --Lk 1 --D 16 --causal --window-left 0,1,5,2147483647 --alibi 1000,0.5,0,1e-30 --lse --probs --entropy --scores-scale 3e4 --threads 3
func.func @masked_huge(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                       %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, window_left = array<i64: 0, 1, 5, 2147483647>,
          alibi_slopes = array<f32: 1000.0, 0.5, 0.0, 1.0e-30>,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}

// Half precision with huge scores (q ~ 1e3 in f16, scores ~ 1e4 after the
// f32 dot product) and a wide window; static sizes of 1.
// RUN: mha-check %t/librobust.so --fn half_huge --dtype f16 --B 2 --Hq 2 --Lq 37 --Lk 53 --D 16 --window-left 100000 --scores-scale 1e3 --causal
// RUN: mha-check %t/librobust.so --fn half_huge --dtype f16 --B 1 --Hq 2 --Lq 1 --Lk 1 --D 16 --window-left 100000 --scores-scale -1e3 --causal
// RUN: mha-check %t/librobust.so --fn ones --dtype bf16 --B 1 --Hq 1 --Lq 1 --Lk 1 --D 1 --lse --scores-scale 1e4
func.func @half_huge(%q: tensor<?x2x?x16xf16>, %k: tensor<?x2x?x16xf16>,
                     %v: tensor<?x2x?x16xf16>) -> tensor<?x2x?x16xf16> {
  %o = mha.attention %q, %k, %v {causal, window_left = array<i64: 100000>}
       : tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
       -> tensor<?x2x?x16xf16>
  return %o : tensor<?x2x?x16xf16>
}
func.func @ones(%q: tensor<1x1x1x1xbf16>, %k: tensor<1x1x1x1xbf16>,
                %v: tensor<1x1x1x1xbf16>)
    -> (tensor<1x1x1x1xbf16>, tensor<1x1x1xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<1x1x1x1xbf16>, tensor<1x1x1x1xbf16>, tensor<1x1x1x1xbf16>
       -> tensor<1x1x1x1xbf16>, tensor<1x1x1xf32>
  return %o, %lse : tensor<1x1x1x1xbf16>, tensor<1x1x1xf32>
}

// Static B = 0 and L = 0 specs compile and return MHA_OK without touching
// anything.
// RUN: mha-check %t/librobust.so --fn static_empty --dtype f32 --B 0 --Hq 2 --Lq 0 --Lk 4 --D 8 --lse
func.func @static_empty(%q: tensor<0x2x0x8xf32>, %k: tensor<0x2x4x8xf32>,
                        %v: tensor<0x2x4x8xf32>)
    -> (tensor<0x2x0x8xf32>, tensor<0x2x0xf32>) {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<0x2x0x8xf32>, tensor<0x2x4x8xf32>, tensor<0x2x4x8xf32>
       -> tensor<0x2x0x8xf32>, tensor<0x2x0xf32>
  return %o, %lse : tensor<0x2x0x8xf32>, tensor<0x2x0xf32>
}
