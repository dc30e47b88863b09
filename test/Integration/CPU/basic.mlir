// Plain attention end to end: compile the spec to a shared library, call it
// through its C interface and compare with a float64 reference (mha-check).
// Static and dynamic sizes, odd lengths, Lq = 1 / Lk = 1, Lq > Lk, Lq < Lk,
// threads 1 and 3, NULL options.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libbasic.so
// RUN: test -f %t/libbasic.h && test -f %t/mha/runtime.h
// The header compiles as C11 and the program links against the library,
// shared and static.
// RUN: %host_cc -std=c11 -Wall -Werror -I%t %S/Inputs/basic_header.c -L%t -lbasic -Wl,-rpath,%t -o %t/use_shared
// RUN: %t/use_shared
// RUN: mha-compile %s --isa=host --target=cpu -o %t/static/libbasic.a
// RUN: %host_cc -std=c11 -Wall -Werror -I%t/static %S/Inputs/basic_header.c %t/static/libbasic.a -lpthread -lm -o %t/use_static
// RUN: %t/use_static
// A program's threads run the work (mha_set_executor), the same bytes.
// RUN: %host_cc -std=c11 -Wall -Werror -pthread -I%t %S/Inputs/executor_call.c -L%t -lbasic -Wl,-rpath,%t -o %t/executor_call
// RUN: %t/executor_call | FileCheck %s --check-prefix=EXECUTOR
// EXECUTOR: PASS executor: the same bytes
// The pool's threads sleeping at once, spinning their longest, and an
// unreadable MHA_SPIN_US (the default): the same results.
// RUN: env MHA_SPIN_US=0 mha-check %t/libbasic.so --fn dyn --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --threads 2
// RUN: env MHA_SPIN_US=1000000 mha-check %t/libbasic.so --fn dyn --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --threads 2
// RUN: env MHA_SPIN_US=soon %t/executor_call | FileCheck %s --check-prefix=EXECUTOR

// Dynamic B and L: self- and cross-attention of odd lengths.
// RUN: mha-check %t/libbasic.so --fn dyn --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16
// RUN: mha-check %t/libbasic.so --fn dyn --dtype f32 --B 1 --Hq 4 --Lq 53 --Lk 37 --D 16 --threads 3 --seed 7
// RUN: mha-check %t/libbasic.so --fn dyn --dtype f32 --B 2 --Hq 4 --Lq 1 --Lk 1 --D 16 --threads 1
// RUN: mha-check %t/libbasic.so --fn dyn --dtype f32 --B 2 --Hq 4 --Lq 1 --Lk 150 --D 16 --threads 3
// RUN: mha-check %t/libbasic.so --fn dyn --dtype f32 --B 1 --Hq 4 --Lq 150 --Lk 2 --D 16
func.func @dyn(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
               %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Fully static sizes, an explicit scale, head dim 64.
// RUN: mha-check %t/libbasic.so --fn static_scale --dtype f32 --B 2 --Hq 3 --Lq 37 --Lk 53 --D 64 --scale 0.3 --threads 3
func.func @static_scale(%q: tensor<2x3x37x64xf32>, %k: tensor<2x3x53x64xf32>,
                        %v: tensor<2x3x53x64xf32>) -> tensor<2x3x37x64xf32> {
  %o = mha.attention %q, %k, %v {scale = 0.3 : f32}
       : tensor<2x3x37x64xf32>, tensor<2x3x53x64xf32>, tensor<2x3x53x64xf32>
       -> tensor<2x3x37x64xf32>
  return %o : tensor<2x3x37x64xf32>
}

// Static batch, dynamic lengths; then dynamic batch, static lengths.
// RUN: mha-check %t/libbasic.so --fn static_batch --dtype f32 --B 1 --Hq 2 --Lq 17 --Lk 65 --D 8
// RUN: mha-check %t/libbasic.so --fn static_len --dtype f32 --B 2 --Hq 2 --Lq 33 --Lk 19 --D 8 --threads 3
func.func @static_batch(%q: tensor<1x2x?x8xf32>, %k: tensor<1x2x?x8xf32>,
                        %v: tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
       -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}
func.func @static_len(%q: tensor<?x2x33x8xf32>, %k: tensor<?x2x19x8xf32>,
                      %v: tensor<?x2x19x8xf32>) -> tensor<?x2x33x8xf32> {
  %o = mha.attention %q, %k, %v
       : tensor<?x2x33x8xf32>, tensor<?x2x19x8xf32>, tensor<?x2x19x8xf32>
       -> tensor<?x2x33x8xf32>
  return %o : tensor<?x2x33x8xf32>
}
