// Absurd but accepted static sizes (issue 9): B = Lq = Lk = 2^31 - 1, the
// largest the verifier accepts, with windows and sinks at the cap too. The
// compiler must not overflow (it compiles), and a call with tensors of those
// sizes must fail with MHA_ERR_LAYOUT: B * H * L * D bytes overflow int64.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libcap.so
// RUN: %host_cc -std=c11 -Wall -Werror -I%t %S/Inputs/huge_static_call.c -L%t -lcap -Wl,-rpath,%t -o %t/call
// RUN: %t/call | FileCheck %s
// CHECK: status 6: cap: 'q' (query) with shape [2147483647, 2, 2147483647, 16], its strides and byte_offset 0 spans more bytes than int64 can address
func.func @cap(%q: tensor<2147483647x2x2147483647x16xf32>,
               %k: tensor<2147483647x1x2147483647x16xf32>,
               %v: tensor<2147483647x1x2147483647x16xf32>)
    -> (tensor<2147483647x2x2147483647x16xf32>,
        tensor<2147483647x2x2147483647xf32>) {
  %o, %lse = mha.attention %q, %k, %v
         {causal, window_left = array<i64: 2147483647>,
          sink_tokens = 2147483647, return_lse}
       : tensor<2147483647x2x2147483647x16xf32>,
         tensor<2147483647x1x2147483647x16xf32>,
         tensor<2147483647x1x2147483647x16xf32>
       -> tensor<2147483647x2x2147483647x16xf32>,
          tensor<2147483647x2x2147483647xf32>
  return %o, %lse : tensor<2147483647x2x2147483647x16xf32>,
                    tensor<2147483647x2x2147483647xf32>
}
