// A function may return only some results of its attention (here lse and
// entropy, not o): the library writes just those, and they match the
// reference.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host -o %t/libpartial.so
// RUN: mha-run %s %t/libpartial.so --batch 2 --seq-len 70 | FileCheck %s
// CHECK: lse_only MHA causal windows f32 B=2 H=3/3 L=70/70 D=16/16 {{.*}} ok
// CHECK: probs_first MQA f16 B=2 H=2/1 {{.*}} ok
func.func @lse_only(%q: tensor<?x3x?x16xf32>, %k: tensor<?x3x?x16xf32>, %v: tensor<?x3x?x16xf32>) -> (tensor<?x3x?xf32>, tensor<?x3x?xf32>) {
  %o, %lse, %e = mha.attention %q, %k, %v {causal, window_left = array<i64: 7>, return_lse, return_entropy}
      : tensor<?x3x?x16xf32>, tensor<?x3x?x16xf32>, tensor<?x3x?x16xf32> -> tensor<?x3x?x16xf32>, tensor<?x3x?xf32>, tensor<?x3x?xf32>
  return %e, %lse : tensor<?x3x?xf32>, tensor<?x3x?xf32>
}
func.func @probs_first(%q: tensor<?x2x?x32xf16>, %k: tensor<?x1x?x32xf16>, %v: tensor<?x1x?x32xf16>) -> (tensor<?x2x?x?xf32>, tensor<?x2x?x32xf16>) {
  %o, %p = mha.attention %q, %k, %v {return_probs}
      : tensor<?x2x?x32xf16>, tensor<?x1x?x32xf16>, tensor<?x1x?x32xf16> -> tensor<?x2x?x32xf16>, tensor<?x2x?x?xf32>
  return %p, %o : tensor<?x2x?x?xf32>, tensor<?x2x?x32xf16>
}
