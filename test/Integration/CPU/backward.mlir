// <name>_backward end to end (docs/language.md, 6.7 and 7.1): mha-check
// calls the forward, then its backward on the forward's o and lse with a
// random dout, and compares dq, dk and dv with the float64 reference
// (lib/Reference/AttentionBackward.cpp): relative error below 1e-4 (f32) or
// 2e-2 (f16, bf16) per gradient, exact zeros for pruned heads, rows with no
// visible key and keys no row sees, every gradient element written and
// nothing else, inputs untouched, and the same bytes for any thread count.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libbackward.so
// RUN: FileCheck %s --check-prefix=HEADER < %t/libbackward.h
// HEADER: mha_status plain_backward(const DLTensor *q, const DLTensor *k, const DLTensor *v, const DLTensor *o, const DLTensor *lse, const DLTensor *dout, DLTensor *dq, DLTensor *dk, DLTensor *dv, const mha_options *opts);

// Plain attention, D != Dv, several key and query tiles (64 each).
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 37 --Lk 131 --D 24 --Dv 40 --threads 3 --thread-sweep 4 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 1 --Hq 3 --Lq 150 --Lk 7 --D 24 --Dv 40 --layout padded --byte-offset 8 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 1 --Hq 3 --Lq 65 --Lk 65 --D 24 --Dv 40 --layout blhd --threads 2 | FileCheck %s --check-prefix=PASS
// PASS: PASS {{.*}} backward
// Edge cases: no keys (dq must be zeros), no queries (dk, dv zeros), B = 0.
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 0 --D 24 --Dv 40 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 0 --Lk 70 --D 24 --Dv 40 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 0 --Hq 3 --Lq 5 --Lk 7 --D 24 --Dv 40 | FileCheck %s --check-prefix=PASS
func.func @plain(%q: tensor<?x3x?x24xf32>, %k: tensor<?x3x?x24xf32>,
                 %v: tensor<?x3x?x40xf32>)
    -> (tensor<?x3x?x40xf32>, tensor<?x3x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {return_lse}
       : tensor<?x3x?x24xf32>, tensor<?x3x?x24xf32>, tensor<?x3x?x40xf32>
       -> tensor<?x3x?x40xf32>, tensor<?x3x?xf32>
  return %o, %lse : tensor<?x3x?x40xf32>, tensor<?x3x?xf32>
}

// GQA with causal: with Lq > Lk the first rows see no key (zero dq), and
// dk/dv sum over the two query heads of each KV head.
// RUN: mha-check %t/libbackward.so --fn gqa_causal --backward --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 8 --causal --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn gqa_causal --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 140 --Lk 70 --D 16 --Dv 8 --causal --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn gqa_causal --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 1 --Lk 77 --D 16 --Dv 8 --causal | FileCheck %s --check-prefix=PASS
func.func @gqa_causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                      %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}

// MQA with per-head windows (0, local, global) and sinks under causal: keys
// outside every window get exact zero dk/dv.
// RUN: mha-check %t/libbackward.so --fn mqa_windows --backward --lse --dtype f32 --B 2 --Hq 4 --Hkv 1 --Lq 150 --Lk 150 --D 16 --causal --sinks 3 --window-left 5,-1,0,12 --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn mqa_windows --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 1 --Lq 37 --Lk 131 --D 16 --causal --sinks 3 --window-left 5,-1,0,12 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn mqa_windows --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 1 --Lq 70 --Lk 40 --D 16 --causal --sinks 3 --window-left 5,-1,0,12 | FileCheck %s --check-prefix=PASS
func.func @mqa_windows(%q: tensor<?x4x?x16xf32>, %k: tensor<?x1x?x16xf32>,
                       %v: tensor<?x1x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, sink_tokens = 3 : i64,
                                       window_left = array<i64: 5, -1, 0, 12>,
                                       return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// A band (both windows) without causal: keys after the diagonal too.
// RUN: mha-check %t/libbackward.so --fn band --backward --lse --dtype f32 --B 2 --Hq 2 --Lq 100 --Lk 100 --D 8 --window-left 5 --window-right 2,0 --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn band --backward --lse --dtype f32 --B 1 --Hq 2 --Lq 70 --Lk 20 --D 8 --window-left 5 --window-right 2,0 | FileCheck %s --check-prefix=PASS
func.func @band(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x2x?x8xf32>, tensor<?x2x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {window_left = array<i64: 5>,
                                       window_right = array<i64: 2, 0>,
                                       return_lse}
       : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>
       -> tensor<?x2x?x8xf32>, tensor<?x2x?xf32>
  return %o, %lse : tensor<?x2x?x8xf32>, tensor<?x2x?xf32>
}

// Every score attribute: scale, per-head temperature, softcap (through
// tanh) and per-head ALiBi, non-causal (rows far before the keys keep their
// precision through the shifted ALiBi origin).
// RUN: mha-check %t/libbackward.so --fn scores --backward --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --Dv 24 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 5 --alibi 0.5,0.25,0.125,0 --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn scores --backward --lse --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 200 --Lk 30 --D 16 --Dv 24 --scale 0.3 --temperature 0.5,1,2,1.5 --softcap 5 --alibi 0.5,0.25,0.125,0 --scores-scale 3 | FileCheck %s --check-prefix=PASS
func.func @scores(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x24xf32>)
    -> (tensor<?x4x?x24xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {scale = 0.3 : f32,
                                       temperature = array<f32: 0.5, 1.0, 2.0, 1.5>,
                                       softcap = 5.0 : f32,
                                       alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0>,
                                       return_lse}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x24xf32>
       -> tensor<?x4x?x24xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x24xf32>, tensor<?x4x?xf32>
}

// ALiBi and softcap under causal with GQA.
// RUN: mha-check %t/libbackward.so --fn alibi_causal --backward --lse --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 90 --Lk 77 --D 32 --causal --softcap 3 --alibi 0.5,0.25,0.125,0.0625 --threads 3 | FileCheck %s --check-prefix=PASS
func.func @alibi_causal(%q: tensor<?x4x?x32xf32>, %k: tensor<?x2x?x32xf32>,
                        %v: tensor<?x2x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, softcap = 3.0 : f32,
                                       alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
                                       return_lse}
       : tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>
       -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
}

// Pruned heads: the static head_mask, the run-time one, both at once; a KV
// head whose query heads are all pruned gets zero dk/dv. With probs too
// (it gets no gradient: the backward's parameters do not change).
// RUN: mha-check %t/libbackward.so --fn pruned --backward --lse --probs --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --head-mask 1,1,0,0 --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn pruned --backward --lse --probs --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 16 --head-mask 1,1,0,0 --runtime-head-mask 0,1,1,1 --threads 2 | FileCheck %s --check-prefix=PASS
func.func @pruned(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>)
    attributes {mha.backward} {
  %o, %lse, %p = mha.attention %q, %k, %v {head_mask = array<i1: true, true, false, false>,
                                           return_lse, return_probs}
       : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
       -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>
  return %o, %lse, %p : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>
}

// f16 and bf16 (f32 accumulation) with most attributes at once, static
// batch, odd head dims.
// RUN: mha-check %t/libbackward.so --fn half --backward --lse --dtype f16 --B 2 --Hq 4 --Hkv 2 --Lq 77 --Lk 99 --D 40 --Dv 24 --causal --softcap 8 --temperature 0.8,1,1.25,1 --alibi 0.25,0.125,0.0625,0 --window-left 30,-1,7,-1 --sinks 2 --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn half --backward --lse --dtype f16 --B 2 --Hq 4 --Hkv 2 --Lq 65 --Lk 64 --D 40 --Dv 24 --causal --softcap 8 --temperature 0.8,1,1.25,1 --alibi 0.25,0.125,0.0625,0 --window-left 30,-1,7,-1 --sinks 2 --layout bhld-strided --byte-offset 6 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn half --backward --lse --dtype f16 --B 2 --Hq 4 --Hkv 2 --Lq 33 --Lk 130 --D 40 --Dv 24 --causal --softcap 8 --temperature 0.8,1,1.25,1 --alibi 0.25,0.125,0.0625,0 --window-left 30,-1,7,-1 --sinks 2 --runtime-head-mask 1,0,1,1 | FileCheck %s --check-prefix=PASS
func.func @half(%q: tensor<2x4x?x40xf16>, %k: tensor<2x2x?x40xf16>,
                %v: tensor<2x2x?x24xf16>)
    -> (tensor<2x4x?x24xf16>, tensor<2x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, softcap = 8.0 : f32,
                                       temperature = array<f32: 0.8, 1.0, 1.25, 1.0>,
                                       alibi_slopes = array<f32: 0.25, 0.125, 0.0625, 0.0>,
                                       window_left = array<i64: 30, -1, 7, -1>,
                                       sink_tokens = 2 : i64, return_lse}
       : tensor<2x4x?x40xf16>, tensor<2x2x?x40xf16>, tensor<2x2x?x24xf16>
       -> tensor<2x4x?x24xf16>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x24xf16>, tensor<2x4x?xf32>
}

// RUN: mha-check %t/libbackward.so --fn brain --backward --lse --dtype bf16 --B 2 --Hq 4 --Hkv 1 --Lq 77 --Lk 99 --D 64 --causal --softcap 8 --alibi 0.25,0.125,0.0625,0 --window-right 3 --head-mask 1,1,1,0 --threads 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn brain --backward --lse --dtype bf16 --B 1 --Hq 4 --Hkv 1 --Lq 130 --Lk 50 --D 64 --causal --softcap 8 --alibi 0.25,0.125,0.0625,0 --window-right 3 --head-mask 1,1,1,0 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn brain --backward --lse --dtype bf16 --B 1 --Hq 4 --Hkv 1 --Lq 50 --Lk 200 --D 64 --causal --softcap 8 --alibi 0.25,0.125,0.0625,0 --window-right 3 --head-mask 1,1,1,0 | FileCheck %s --check-prefix=PASS
func.func @brain(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x1x?x64xbf16>,
                 %v: tensor<?x1x?x64xbf16>)
    -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, softcap = 8.0 : f32,
                                       alibi_slopes = array<f32: 0.25, 0.125, 0.0625, 0.0>,
                                       window_right = array<i64: 3>,
                                       head_mask = array<i1: true, true, true, false>,
                                       return_lse}
       : tensor<?x4x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16>
       -> tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
}

// Error paths of the backward call: status, a message naming
// plain_backward, the parameter and the dimension, nothing written.
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt shape-dim --corrupt-arg dq | FileCheck %s --check-prefix=ERR-DQ
// ERR-DQ: PASS {{.*}} corrupt=shape-dim arg=dq status=MHA_ERR_SHAPE msg="plain_backward: 'dq' (query gradient) dim 3 (D)
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt shape-lk-mismatch --corrupt-arg dout | FileCheck %s --check-prefix=ERR-DOUT
// ERR-DOUT: PASS {{.*}} corrupt=shape-lk-mismatch arg=dout status=MHA_ERR_SHAPE msg="plain_backward: 'q' (query) dim 2 (Lq) is 9 but 'dout' (output gradient) has 8"
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt shape-heads --corrupt-arg dk | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt shape-batch --corrupt-arg dv | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt dtype --corrupt-arg lse | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt rank --corrupt-arg o | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt null-tensor --corrupt-arg dout | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt self-overlap --corrupt-arg dq | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt stride-last --corrupt-arg dk | FileCheck %s --check-prefix=ERR
// RUN: mha-check %t/libbackward.so --fn plain --backward --lse --dtype f32 --B 2 --Hq 3 --Lq 9 --Lk 11 --D 24 --Dv 40 --corrupt negative-threads | FileCheck %s --check-prefix=ERR
// ERR: PASS {{.*}} backward corrupt=

// The entropy gradient: the forward returns entropy, the backward takes
// dentropy after dout and differentiates L = sum dout . o + sum dentropy *
// entropy, through every mask and score modifier and with dropout (the
// entropy is that before dropout); rows with no key and the pruned head get
// zeros. f32 and bf16; bad dentropy arguments.
// RUN: FileCheck %s --check-prefix=ENT-HEADER < %t/libbackward.h
// ENT-HEADER: mha_status entropy_backward(const DLTensor *q, const DLTensor *k, const DLTensor *v, const DLTensor *o, const DLTensor *lse, const DLTensor *dout, const DLTensor *dentropy, DLTensor *dq, DLTensor *dk, DLTensor *dv, const mha_options *opts);
// RUN: mha-check %t/libbackward.so --fn entropy --backward --lse --entropy --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 37 --Lk 53 --D 24 --Dv 40 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0,0.3,0,0.3 --dropout-seed 77 --head-mask 1,1,0,1 --threads 2 --thread-sweep 3 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn entropy --backward --lse --entropy --dtype f32 --B 1 --Hq 4 --Hkv 2 --Lq 140 --Lk 70 --D 24 --Dv 40 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0,0.3,0,0.3 --head-mask 1,1,0,1 --runtime-head-mask 1,0,1,1 --layout blhd | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn entropy_bf16 --backward --lse --probs --entropy --dtype bf16 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --Dv 16 --window-left 7 --threads 2 | FileCheck %s --check-prefix=PASS
// RUN: mha-check %t/libbackward.so --fn entropy --backward --lse --entropy --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 24 --Dv 40 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0,0.3,0,0.3 --head-mask 1,1,0,1 --corrupt dtype --corrupt-arg dentropy | FileCheck %s --check-prefix=ERR-DENT
// ERR-DENT: PASS {{.*}} corrupt=dtype arg=dentropy status=MHA_ERR_DTYPE msg="entropy_backward: 'dentropy' (entropy gradient)
// RUN: mha-check %t/libbackward.so --fn entropy --backward --lse --entropy --dtype f32 --B 2 --Hq 4 --Hkv 2 --Lq 9 --Lk 11 --D 24 --Dv 40 --causal --window-left 5,-1,9,-1 --sinks 2 --softcap 20 --alibi 0.5,0.25,0.125,0.0625 --dropout 0,0.3,0,0.3 --head-mask 1,1,0,1 --corrupt shape-lk-mismatch --corrupt-arg dentropy | FileCheck %s --check-prefix=ERR-DENT-SHAPE
// ERR-DENT-SHAPE: PASS {{.*}} corrupt=shape-lk-mismatch arg=dentropy status=MHA_ERR_SHAPE msg="entropy_backward: 'q' (query) dim 2 (Lq) is 9 but 'dentropy' (entropy gradient) has 8"
func.func @entropy(%q: tensor<?x4x?x24xf32>, %k: tensor<?x2x?x24xf32>,
                   %v: tensor<?x2x?x40xf32>)
    -> (tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>)
    attributes {mha.backward} {
  %o, %lse, %h = mha.attention %q, %k, %v {return_lse, return_entropy, causal,
      window_left = array<i64: 5, -1, 9, -1>, sink_tokens = 2, softcap = 20.0 : f32,
      alibi_slopes = array<f32: 0.5, 0.25, 0.125, 0.0625>,
      dropout = array<f32: 0.0, 0.3, 0.0, 0.3>,
      head_mask = array<i1: true, true, false, true>}
       : tensor<?x4x?x24xf32>, tensor<?x2x?x24xf32>, tensor<?x2x?x40xf32>
       -> tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %o, %lse, %h : tensor<?x4x?x40xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
// probs in the middle of the results get no gradient.
func.func @entropy_bf16(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>,
                        %v: tensor<?x4x?x16xbf16>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
        tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse, %p, %h = mha.attention %q, %k, %v {return_lse, return_probs,
      return_entropy, window_left = array<i64: 7>}
       : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>
       -> tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>, tensor<?x4x?x?xf32>,
          tensor<?x4x?xf32>
  return %o, %lse, %p, %h : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>,
                            tensor<?x4x?x?xf32>, tensor<?x4x?xf32>
}
