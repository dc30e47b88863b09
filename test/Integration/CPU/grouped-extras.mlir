// A function that returns only lse and entropy (no output), decoded with
// few query rows: its grouped items (a KV group's heads in one item, 4.6)
// write each head's lse and entropy and no output (a fuzzer finding: the
// group path once viewed the missing output). Checked by mha-run against
// float64 at rows that group (1, 3) and that do not (37).
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libgrouped.so
// RUN: mha-run %s %t/libgrouped.so --batch 3 --seq-len 1 | FileCheck %s
// RUN: mha-run %s %t/libgrouped.so --batch 3 --seq-len 3 --num-threads 2 | FileCheck %s
// RUN: mha-run %s %t/libgrouped.so --batch 1 --seq-len 37 | FileCheck %s
// CHECK: lse_entropy {{.*}} ok
func.func @lse_entropy(%q: tensor<?x12x?x32xf32>, %k: tensor<?x6x?x32xf32>, %v: tensor<?x6x?x32xf32>)
    -> (tensor<?x12x?xf32>, tensor<?x12x?xf32>) {
  %o, %lse, %ent = mha.attention %q, %k, %v {causal, return_lse, return_entropy}
      : tensor<?x12x?x32xf32>, tensor<?x6x?x32xf32>, tensor<?x6x?x32xf32>
      -> tensor<?x12x?x32xf32>, tensor<?x12x?xf32>, tensor<?x12x?xf32>
  return %lse, %ent : tensor<?x12x?xf32>, tensor<?x12x?xf32>
}
