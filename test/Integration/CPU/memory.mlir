// Resource limits (issue 9): a call never allocates memory proportional to
// Lq * Lk: problems whose score matrix would take 1 GiB run with no heap
// allocation but the Hq-byte head mask (Hq > 256) and, on machines with
// more CPUs than the call's work items, split-KV's partial outputs (at most
// 16 x the output), and no peak-RSS growth beyond the tensors
// (kernel_memory.c interposes malloc and reads getrusage). The same calls
// under an address-space limit of 1.5 GiB.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libmemory.so
// RUN: %host_cc -std=c11 -O1 -Wall -Werror -I%t %S/Inputs/kernel_memory.c -L%t -lmemory -Wl,-rpath,%t -o %t/kernel_memory
// RUN: %t/kernel_memory | FileCheck %s
// RUN: ulimit -v 1572864 && %t/kernel_memory
// CHECK: one_head: H=1 Lq=1024 Lk=262144 (Lq*Lk*4 = 1024 MiB): status 0, largest allocation within the bound
// CHECK: one_head: H=1 Lq=262144 Lk=1024 (Lq*Lk*4 = 1024 MiB): status 0, largest allocation within the bound
// CHECK: many_heads: H=512 Lq=64 Lk=8192 (Lq*Lk*4 = 2 MiB): status 0, largest allocation within the bound
func.func @one_head(%q: tensor<?x1x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                    %v: tensor<?x1x?x8xf32>) -> tensor<?x1x?x8xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
       -> tensor<?x1x?x8xf32>
  return %o : tensor<?x1x?x8xf32>
}
func.func @many_heads(%q: tensor<?x512x?x8xf32>, %k: tensor<?x1x?x8xf32>,
                      %v: tensor<?x1x?x8xf32>) -> tensor<?x512x?x8xf32> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x512x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>
       -> tensor<?x512x?x8xf32>
  return %o : tensor<?x512x?x8xf32>
}
