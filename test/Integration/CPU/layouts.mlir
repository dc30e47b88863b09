// Memory layouts end to end (docs/language.md "The generated C interface"): any
// strides with a contiguous last dim, byte_offset honoured. mha-check checks
// that guards before/after each output and the gaps of padded layouts are
// never written, inputs never change, and results are bit-identical for any
// thread count and for concurrent calls.
//   bhld          compact [B, H, L, D], strides = NULL
//   bhld-strided  the same with explicit strides
//   blhd          [B, L, H, D] storage passed as a transposed view (PyTorch)
//   padded        gaps after every row, head and batch
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/liblayouts.so

// RUN: mha-check %t/liblayouts.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --lse --probs --entropy --layout bhld-strided
// RUN: mha-check %t/liblayouts.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --lse --probs --entropy --layout blhd --threads 3
// RUN: mha-check %t/liblayouts.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 53 --Lk 37 --D 16 --Dv 8 --causal --lse --probs --entropy --layout padded --threads 3
// RUN: mha-check %t/liblayouts.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --lse --probs --entropy --byte-offset 4
// RUN: mha-check %t/liblayouts.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --lse --probs --entropy --layout blhd --byte-offset 68 --threads 1
// RUN: mha-check %t/liblayouts.so --fn f32 --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --lse --probs --entropy --layout padded --byte-offset 12 --concurrent 4 --threads 2
func.func @f32(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
               %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {causal, return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}

// Half precision: odd byte offsets in elements (2 and 6 bytes) leave the
// data unaligned for vector loads.
// RUN: mha-check %t/liblayouts.so --fn f16 --dtype f16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 24 --window-left 5 --layout blhd --byte-offset 2
// RUN: mha-check %t/liblayouts.so --fn f16 --dtype f16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 24 --window-left 5 --layout padded --byte-offset 6 --threads 3
// RUN: mha-check %t/liblayouts.so --fn bf16 --dtype bf16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 24 --layout blhd --byte-offset 6 --concurrent 3
func.func @f16(%q: tensor<?x4x?x24xf16>, %k: tensor<?x4x?x24xf16>,
               %v: tensor<?x4x?x24xf16>) -> tensor<?x4x?x24xf16> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 5>}
       : tensor<?x4x?x24xf16>, tensor<?x4x?x24xf16>, tensor<?x4x?x24xf16>
       -> tensor<?x4x?x24xf16>
  return %o : tensor<?x4x?x24xf16>
}
func.func @bf16(%q: tensor<?x4x?x24xbf16>, %k: tensor<?x4x?x24xbf16>,
                %v: tensor<?x4x?x24xbf16>) -> tensor<?x4x?x24xbf16> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x24xbf16>, tensor<?x4x?x24xbf16>, tensor<?x4x?x24xbf16>
       -> tensor<?x4x?x24xbf16>
  return %o : tensor<?x4x?x24xbf16>
}
