// mha.merge_states end to end (docs/language.md, 3.4 and 7.1): exported
// merge functions against the float64 merge on random partial results whose
// lse are -inf on one side (every 5th row of lse_a, every 7th of lse_b) and
// on both (every 35th), f32/f16/bf16, static and dynamic sizes, a function
// returning only lse, arguments in another order; and a merge of two
// attention calls over the two halves of the keys equals one attention
// over all of them.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libmerge.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libmerge.h
// HEADER: mha_status merge_f32(const DLTensor *o_a, const DLTensor *lse_a, const DLTensor *o_b, const DLTensor *lse_b, DLTensor *o, DLTensor *lse, const mha_options *opts);
// HEADER: mha_status merge_lse_only(const DLTensor *lse_b, const DLTensor *o_b, const DLTensor *lse_a, const DLTensor *o_a, DLTensor *lse, const mha_options *opts);
// RUN: mha-run %s %t/libmerge.so --batch 3 --seq-len 300 --num-threads 2 | FileCheck %s
// RUN: mha-run %s %t/libmerge.so --batch 1 --seq-len 1 | FileCheck %s
// CHECK-DAG: merge_f32 merge_states {{.*}} ok
// CHECK-DAG: merge_bf16 merge_states {{.*}} ok
// CHECK-DAG: merge_f16_static merge_states {{.*}} ok
// CHECK-DAG: merge_lse_only merge_states {{.*}} ok
// CHECK-NOT: FAIL
func.func @merge_f32(%oa: tensor<?x4x?x40xf32>, %la: tensor<?x4x?xf32>,
                     %ob: tensor<?x4x?x40xf32>, %lb: tensor<?x4x?xf32>)
    -> (tensor<?x4x?x40xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?x40xf32>,
        tensor<?x4x?xf32> -> tensor<?x4x?x40xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x40xf32>, tensor<?x4x?xf32>
}
func.func @merge_bf16(%oa: tensor<?x2x?x128xbf16>, %la: tensor<?x2x?xf32>,
                      %ob: tensor<?x2x?x128xbf16>, %lb: tensor<?x2x?xf32>)
    -> (tensor<?x2x?x128xbf16>, tensor<?x2x?xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x2x?x128xbf16>, tensor<?x2x?xf32>, tensor<?x2x?x128xbf16>,
        tensor<?x2x?xf32> -> tensor<?x2x?x128xbf16>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x128xbf16>, tensor<?x2x?xf32>
}
func.func @merge_f16_static(%oa: tensor<2x3x17x8xf16>, %la: tensor<2x3x17xf32>,
                            %ob: tensor<2x3x17x8xf16>, %lb: tensor<2x3x17xf32>)
    -> (tensor<2x3x17x8xf16>, tensor<2x3x17xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<2x3x17x8xf16>, tensor<2x3x17xf32>, tensor<2x3x17x8xf16>,
        tensor<2x3x17xf32> -> tensor<2x3x17x8xf16>, tensor<2x3x17xf32>
  return %o, %lse : tensor<2x3x17x8xf16>, tensor<2x3x17xf32>
}
func.func @merge_lse_only(%lb: tensor<?x1x?xf32>, %ob: tensor<?x1x?x16xf32>,
                          %la: tensor<?x1x?xf32>, %oa: tensor<?x1x?x16xf32>)
    -> tensor<?x1x?xf32> {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x1x?x16xf32>, tensor<?x1x?xf32>, tensor<?x1x?x16xf32>,
        tensor<?x1x?xf32> -> tensor<?x1x?x16xf32>, tensor<?x1x?xf32>
  return %lse : tensor<?x1x?xf32>
}

// Split-KV by hand: attention over keys [0, 80) and [80, 100) with explicit
// positions, merged, equals attention over all 100 keys (causal, a window,
// sinks in the first half; the queries before position 80 see nothing in
// the second half). The C program compares them.
// RUN: %host_cc -std=c11 -O1 -Wall -Werror -I%t %S/Inputs/split_kv_merge.c -L%t -lmerge -Wl,-rpath,%t -lm -o %t/split_kv_merge
// RUN: %t/split_kv_merge | FileCheck %s --check-prefix=SPLIT
// SPLIT: split-kv merge ok
func.func @attend(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>)
    -> (tensor<?x2x?x16xf32>, tensor<?x2x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse,
      window_left = array<i64: 30, -1>, sink_tokens = 4}
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
      -> tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
}
func.func @merge16(%oa: tensor<?x2x?x16xf32>, %la: tensor<?x2x?xf32>,
                   %ob: tensor<?x2x?x16xf32>, %lb: tensor<?x2x?xf32>)
    -> (tensor<?x2x?x16xf32>, tensor<?x2x?xf32>) {
  %o, %lse = mha.merge_states %oa, %la, %ob, %lb
      : tensor<?x2x?x16xf32>, tensor<?x2x?xf32>, tensor<?x2x?x16xf32>,
        tensor<?x2x?xf32> -> tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x16xf32>, tensor<?x2x?xf32>
}
