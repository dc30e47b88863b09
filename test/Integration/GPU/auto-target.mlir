// One library for both devices (mha-compile --target=auto): each exported
// function dispatches on its first tensor's device. Host tensors run the
// CPU code, CUDA tensors the GPU code (without a driver here:
// MHA_ERR_NO_DEVICE); the header declares each function once and the
// manifest says "auto".
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=auto -o %t/libauto.so --manifest=%t/auto.json
// RUN: mha-compile %s --target=cpu -o %t/libcpu.so
// RUN: %host_cc -std=c11 -Wall -Werror -I%t %S/Inputs/auto_call.c -L%t -lauto -Wl,-rpath,%t -ldl -lm -o %t/call
// RUN: env MHA_LIBCUDA=%t/no-such-libcuda.so.1 %t/call %t/libcpu.so | FileCheck %s
// RUN: FileCheck %s --check-prefix=HEADER < %t/libauto.h
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/auto.json
// RUN: nm -D --defined-only %t/libauto.so | FileCheck %s --check-prefix=SYMBOLS
// A static archive links the same way.
// RUN: mha-compile %s --target=auto -o %t/libauto_static.a
// RUN: %host_cc -std=c11 -Wall -Werror -I%t -include %t/libauto_static.h -DMHA_NO_GPU_HEADER_INCLUDED %S/Inputs/auto_call.c %t/libauto_static.a -lpthread -ldl -lm -o %t/call_static
// RUN: env MHA_LIBCUDA=%t/no-such-libcuda.so.1 %t/call_static %t/libcpu.so | FileCheck %s
// Options of one half only are refused where they make no sense.
// RUN: not mha-compile %s --target=auto -o %t/kernels.ptx 2>&1 | FileCheck %s --check-prefix=PTX

// CHECK: host: status 0 (MHA_OK{{.*}}):
// CHECK-NEXT: cpu library: status 0
// CHECK-NEXT: host: finite, the same bits as the CPU library
// CHECK-NEXT: cuda: status 8 (MHA_ERR_NO_DEVICE{{.*}}): attn: {{.*}}libcuda{{.*}}
// CHECK-NEXT: cuda: output untouched
// CHECK-NEXT: host q: status 5 (MHA_ERR_DEVICE{{.*}}): attn: 'k' (key) is on device kDLCUDA {{.*}} but attn runs on the CPU
// CHECK-NEXT: null q: status 1 (MHA_ERR_NULL_POINTER{{.*}}): attn: {{.*}}'q'
// CHECK-NEXT: output untouched

// HEADER-COUNT-1: mha_status attn(
// HEADER-NOT: attn__

// MANIFEST: "target": "auto"

// SYMBOLS: T attn{{$}}
// SYMBOLS-NOT: attn__

// PTX: the output must end in .so, .a or .o

func.func @attn(%q: tensor<?x4x?x64xf32>, %k: tensor<?x2x?x64xf32>, %v: tensor<?x2x?x64xf32>) -> (tensor<?x4x?x64xf32>, tensor<?x4x?xf32>) {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
      : tensor<?x4x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32> -> tensor<?x4x?x64xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xf32>, tensor<?x4x?xf32>
}
