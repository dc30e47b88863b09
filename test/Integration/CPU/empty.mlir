// Empty problems: B = 0, Lq = 0 (status MHA_OK, nothing written, guards
// intact) and Lk = 0 (every row has no visible key: o = 0, lse = -inf,
// entropy = 0).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libempty.so

// RUN: mha-check %t/libempty.so --fn f --dtype f32 --B 0 --Hq 4 --Lq 37 --Lk 53 --D 16 --lse --probs --entropy
// RUN: mha-check %t/libempty.so --fn f --dtype f32 --B 2 --Hq 4 --Lq 0 --Lk 53 --D 16 --lse --probs --entropy --threads 3
// RUN: mha-check %t/libempty.so --fn f --dtype f32 --B 0 --Hq 4 --Lq 0 --Lk 0 --D 16 --lse --probs --entropy --layout blhd
// RUN: mha-check %t/libempty.so --fn f --dtype f32 --B 2 --Hq 4 --Lq 5 --Lk 0 --D 16 --lse --probs --entropy
func.func @f(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
             %v: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) {
  %o, %lse, %p, %e = mha.attention %q, %k, %v
         {return_lse, return_probs, return_entropy}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %e
       : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
         tensor<?x4x?xf32>
}

// A half-precision spec with a causal mask and Lk = 0.
// RUN: mha-check %t/libempty.so --fn causal_f16 --dtype f16 --B 1 --Hq 2 --Lq 3 --Lk 0 --D 8 --causal
// RUN: mha-check %t/libempty.so --fn causal_f16 --dtype f16 --B 0 --Hq 2 --Lq 3 --Lk 3 --D 8 --causal
func.func @causal_f16(%q: tensor<?x2x?x8xf16>, %k: tensor<?x2x?x8xf16>,
                      %v: tensor<?x2x?x8xf16>) -> tensor<?x2x?x8xf16> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x2x?x8xf16>, tensor<?x2x?x8xf16>, tensor<?x2x?x8xf16>
       -> tensor<?x2x?x8xf16>
  return %o : tensor<?x2x?x8xf16>
}
