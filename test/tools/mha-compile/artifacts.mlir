// The artifact follows the extension of -o; a header with the same stem and
// mha/runtime.h are written beside it.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=cpu -o %t/libgqa.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libgqa.h
// RUN: test -f %t/mha/runtime.h
// RUN: llvm-nm -D --defined-only %t/libgqa.so | FileCheck %s --check-prefix=EXPORTS
// The library needs nothing of MLIR or LLVM at run time.
// RUN: llvm-readelf -d %t/libgqa.so | FileCheck %s --check-prefix=NEEDED
// The ISA copies compile at once, one thread each; --jobs=1 compiles them
// one after the other, into the same bytes.
// RUN: mkdir -p %t/serial && mha-compile %s --target=cpu --jobs=1 -o %t/serial/libgqa.so
// RUN: cmp %t/libgqa.so %t/serial/libgqa.so
// RUN: mha-compile %s -o %t/gqa.o --header %t/include/gqa_kernels.h
// RUN: llvm-nm %t/gqa.o | FileCheck %s --check-prefix=OBJECT
// RUN: FileCheck %s --check-prefix=GUARD < %t/include/gqa_kernels.h
// RUN: test -f %t/include/mha/runtime.h
// RUN: mha-compile %s -o %t/libgqa.a
// RUN: llvm-nm %t/libgqa.a | FileCheck %s --check-prefix=OBJECT
// A header compiles as C and links against the library.
// RUN: %host_cc -std=c99 -Wall -Werror -I%t -c -x c %t/libgqa.h -o %t/header.o

// HEADER: #include "mha/runtime.h"
// HEADER: /* gqa_causal: logical [B, H, L, D] tensors
// HEADER:  *   q: [B, 8, Lq, 64] bf16 (query)
// HEADER:  *   k: [B, 2, Lk, 64] bf16 (key)
// HEADER: mha_status gqa_causal(const DLTensor *q, const DLTensor *k, const DLTensor *v, DLTensor *o, DLTensor *lse, const mha_options *opts);
// HEADER: mha_status plain(const DLTensor *q, const DLTensor *k, const DLTensor *v, DLTensor *o, const mha_options *opts);

// EXPORTS-NOT: __kernel
// EXPORTS-DAG: T gqa_causal
// EXPORTS-DAG: T mha_cached_memory_bytes
// EXPORTS-DAG: T mha_last_error
// EXPORTS-DAG: T mha_release_cached_memory
// EXPORTS-DAG: T mha_set_cached_memory_limit
// EXPORTS-DAG: T mha_set_executor
// EXPORTS-DAG: T mha_status_string
// EXPORTS-DAG: T plain

// NEEDED-NOT: NEEDED{{.*}}lib{{(MLIR|LLVM|stdc\+\+|omp|gomp)}}
// NEEDED: NEEDED{{.*}}libc.so

// OBJECT-DAG: T gqa_causal
// OBJECT-DAG: T plain
// OBJECT-DAG: mha_rt_launch

// GUARD: #ifndef MHA_GENERATED_GQA_KERNELS_H

func.func @gqa_causal(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse} : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

func.func @plain(%q: tensor<2x4x16x32xf32>, %k: tensor<2x4x16x32xf32>, %v: tensor<2x4x16x32xf32>) -> tensor<2x4x16x32xf32> {
  %o = mha.attention %q, %k, %v : tensor<2x4x16x32xf32>, tensor<2x4x16x32xf32>, tensor<2x4x16x32xf32> -> tensor<2x4x16x32xf32>
  return %o : tensor<2x4x16x32xf32>
}
