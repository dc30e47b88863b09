// RUN: mha-opt %examples/serving.mlir | FileCheck %s
// RUN: mha-opt %examples/serving.mlir --mlir-print-op-generic | mha-opt | FileCheck %s
// RUN: mha-compile %examples/serving.mlir --isa=host --target=cpu -o %t.so --header %t.h
// RUN: FileCheck %s --check-prefix=HEADER < %t.h

// A paged decoding step: append with RoPE, then attention over the cache.
// CHECK-LABEL: func.func @append
// CHECK: mha.append_kv {{.*}} kv_lens({{.*}}) block_table({{.*}}) {rope_theta = 1.000000e+04 : f32}
// CHECK-LABEL: func.func @decode
// CHECK: mha.attention {{.*}} kv_lens({{.*}}) block_table({{.*}}) {causal}
// CHECK-LABEL: func.func @prefill
// CHECK: mha.attention {{.*}} cu_seqlens_q({{.*}}) cu_seqlens_k({{.*}}) {causal, return_lse}

// The C interface: caches written in place, i32 tables, page pools.
// HEADER: k_cache: [pages, 8, 16, 128] bf16 (key_cache)
// HEADER: mha_status append(const DLTensor *k_new, const DLTensor *v_new, const DLTensor *kv_lens, const DLTensor *block_table, DLTensor *k_cache, DLTensor *v_cache, const mha_options *opts);
// HEADER: k: [pages, 8, 16, 128] bf16 (key)
// HEADER: block_table: [S, max_pages] i32 (block_table)
// HEADER: mha_status decode(const DLTensor *q, const DLTensor *k, const DLTensor *v, const DLTensor *kv_lens, const DLTensor *block_table, DLTensor *o, const mha_options *opts);
// HEADER: cu_seqlens_q: [S+1] i32 (cu_seqlens_q)
// HEADER: mha_status prefill(
