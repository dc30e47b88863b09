// Any calling thread (issue 23): a generated function called from a thread
// whose stack cannot hold a work item's tile scratch (this causal f32 D=128
// kernel keeps ~360 KiB of tiles on the stack) runs its items on the
// runtime's workers, which have stacks of their own size, and gives the
// bytes of the same call from the main thread. Attention (L = 1024, the
// reported crash, and L = 100) and a layer, from threads with 64 KiB and
// 256 KiB stacks, num_threads 1 and 0. Before the fix these threads died
// with SIGSEGV.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libsmall_stack.so
// RUN: %host_cc -std=c11 -O1 -Wall -Werror -pthread -I%t %S/Inputs/small_stack_call.c -L%t -lsmall_stack -Wl,-rpath,%t -o %t/small_stack_call
// RUN: %t/small_stack_call 1024 256 | FileCheck %s
// RUN: %t/small_stack_call 100 37 | FileCheck %s
// A small RLIMIT_STACK (the default stack of new threads, and of the main
// thread) changes nothing: the workers ask for their stack size explicitly.
// RUN: ulimit -s 256 && %t/small_stack_call 100 37 | FileCheck %s
// MHA_TEMP_CACHE=0 (the initial cache limit) keeps no temporary.
// RUN: env MHA_TEMP_CACHE=0 %t/small_stack_call 100 37 | FileCheck %s --check-prefix=NOCACHE

// CHECK: 64 KiB stack, num_threads 1: bit-identical
// CHECK: 256 KiB stack, num_threads 1: bit-identical
// CHECK: 64 KiB stack, num_threads 0: bit-identical
// CHECK: 256 KiB stack, num_threads 0: bit-identical
// CHECK: cached after the calls: some
// CHECK: cached after release: 0 bytes
// CHECK: PASS
// NOCACHE: cached after the calls: none
// NOCACHE: PASS

func.func @attn(%q: tensor<?x4x?x128xf32>, %k: tensor<?x4x?x128xf32>,
                %v: tensor<?x4x?x128xf32>) -> tensor<?x4x?x128xf32> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x4x?x128xf32>, tensor<?x4x?x128xf32>, tensor<?x4x?x128xf32>
       -> tensor<?x4x?x128xf32>
  return %o : tensor<?x4x?x128xf32>
}

func.func @layer(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                 %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                 %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = mha.multi_head %x, %wq, %wk, %wv, %wo {num_heads = 4, causal}
     : tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
       tensor<512x512xf32>, tensor<512x512xf32> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
