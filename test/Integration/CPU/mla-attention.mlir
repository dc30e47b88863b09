// Attention at the head dims of multi-head latent attention, forward and
// backward against the float64 reference (mha-check): the prefill form
// (D = Dn + Dr = 192, Dv = 128, one KV head per query head, f32) and the
// absorbed form (D = r + Dr = 576, Dv = r = 512, MQA, bf16), odd lengths,
// Lq < Lk.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libmla.so
// RUN: mha-check %t/libmla.so --fn prefill --backward --lse --dtype f32 --B 2 --Hq 4 --Lq 77 --Lk 77 --D 192 --Dv 128 --causal --threads 2 | FileCheck %s
// RUN: mha-check %t/libmla.so --fn absorbed --backward --lse --dtype bf16 --B 1 --Hq 16 --Hkv 1 --Lq 37 --Lk 77 --D 576 --Dv 512 --causal --threads 2 | FileCheck %s
// RUN: mha-check %t/libmla.so --fn absorbed --lse --dtype bf16 --B 3 --Hq 16 --Hkv 1 --Lq 1 --Lk 301 --D 576 --Dv 512 --causal | FileCheck %s
// CHECK: PASS

func.func @prefill(%q: tensor<?x4x?x192xf32>, %k: tensor<?x4x?x192xf32>, %v: tensor<?x4x?x128xf32>) -> (tensor<?x4x?x128xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse} : tensor<?x4x?x192xf32>, tensor<?x4x?x192xf32>, tensor<?x4x?x128xf32> -> tensor<?x4x?x128xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x128xf32>, tensor<?x4x?xf32>
}

func.func @absorbed(%q: tensor<?x16x?x576xbf16>, %k: tensor<?x1x?x576xbf16>, %v: tensor<?x1x?x512xbf16>) -> (tensor<?x16x?x512xbf16>, tensor<?x16x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse} : tensor<?x16x?x576xbf16>, tensor<?x1x?x576xbf16>, tensor<?x1x?x512xbf16> -> tensor<?x16x?x512xbf16>, tensor<?x16x?xf32>
  return %o, %lse : tensor<?x16x?x512xbf16>, tensor<?x16x?xf32>
}
