// One larger problem per element type: L = 300, D = 128, GQA 8:2, several
// kv tiles and query tiles per head, all cores.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/liblarge.so
// RUN: mha-check %t/liblarge.so --fn large_f32 --dtype f32 --B 1 --Hq 8 --Hkv 2 --Lq 300 --Lk 300 --D 128 --causal --lse
// RUN: mha-check %t/liblarge.so --fn large_bf16 --dtype bf16 --B 1 --Hq 8 --Hkv 2 --Lq 300 --Lk 300 --D 128 --window-left 100,-1,100,-1,100,-1,100,-1 --sinks 4 --causal --threads 3

func.func @large_f32(%q: tensor<?x8x?x128xf32>, %k: tensor<?x2x?x128xf32>,
                     %v: tensor<?x2x?x128xf32>)
    -> (tensor<?x8x?x128xf32>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x8x?x128xf32>, tensor<?x2x?x128xf32>, tensor<?x2x?x128xf32>
       -> tensor<?x8x?x128xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xf32>, tensor<?x8x?xf32>
}
func.func @large_bf16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                      %v: tensor<?x2x?x128xbf16>) -> tensor<?x8x?x128xbf16> {
  %o = mha.attention %q, %k, %v
         {causal, sink_tokens = 4,
          window_left = array<i64: 100, -1, 100, -1, 100, -1, 100, -1>}
       : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>
       -> tensor<?x8x?x128xbf16>
  return %o : tensor<?x8x?x128xbf16>
}
