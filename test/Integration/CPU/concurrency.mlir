// Concurrency and determinism (issue 9): 8 host threads call one generated
// function at once, each on its own inputs, 20 times each; every result is
// bit-identical to the single-threaded call on the same inputs made
// serially beforehand (--distinct-inputs). Each thread's calls use all
// cores (--threads 0), so the runtime's pool is shared by concurrent calls.
// Then every num_threads from 1 to 8 gives bit-identical results
// (--thread-sweep 8), with every extra result and a runtime head mask.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libconcurrency.so

// RUN: mha-check %t/libconcurrency.so --fn f32_all --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --window-left 9,-1,3,20 --sinks 2 --lse --probs --entropy --threads 0 --concurrent 8 --distinct-inputs --repeat 20 --thread-sweep 8
// RUN: mha-check %t/libconcurrency.so --fn f32_all --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 70 --Lk 33 --D 16 --Dv 8 --causal --window-left 9,-1,3,20 --sinks 2 --lse --probs --entropy --threads 3 --concurrent 8 --distinct-inputs --repeat 20 --thread-sweep 8 --runtime-head-mask 1,0,1,1 --layout blhd
func.func @f32_all(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                   %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, window_left = array<i64: 9, -1, 3, 20>, sink_tokens = 2,
          return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}

// Half precision, more work items than threads (Lq = 200, rows of 16).
// RUN: mha-check %t/libconcurrency.so --fn bf16 --dtype bf16 --B 2 --Hq 8 --Lq 200 --Lk 200 --D 32 --causal --threads 0 --concurrent 8 --distinct-inputs --repeat 10 --thread-sweep 8
// RUN: mha-check %t/libconcurrency.so --fn f16 --dtype f16 --B 3 --Hq 2 --Lq 45 --Lk 90 --D 32 --softcap 20 --threads 2 --concurrent 8 --distinct-inputs --repeat 20 --thread-sweep 8
func.func @bf16(%q: tensor<?x8x?x32xbf16>, %k: tensor<?x8x?x32xbf16>,
                %v: tensor<?x8x?x32xbf16>) -> tensor<?x8x?x32xbf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x8x?x32xbf16>, tensor<?x8x?x32xbf16>, tensor<?x8x?x32xbf16>
       -> tensor<?x8x?x32xbf16>
  return %o : tensor<?x8x?x32xbf16>
}
func.func @f16(%q: tensor<?x2x?x32xf16>, %k: tensor<?x2x?x32xf16>,
               %v: tensor<?x2x?x32xf16>) -> tensor<?x2x?x32xf16> {
  %o = mha.attention %q, %k, %v {softcap = 20.0 : f32}
       : tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>
       -> tensor<?x2x?x32xf16>
  return %o : tensor<?x2x?x32xf16>
}
