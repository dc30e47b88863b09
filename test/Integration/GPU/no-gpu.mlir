// A library built with --target=nvptx loads and links on a machine without
// a GPU or driver and answers every call with a clear status: host tensors
// get MHA_ERR_DEVICE (whatever the machine), CUDA tensors MHA_ERR_NO_DEVICE
// when libcuda.so.1 cannot be loaded (also for rows that are not 16-byte
// aligned: they go to the fallback kernel, not to an error); no output byte
// is written.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --target=nvptx -o %t/libgpu.so
// RUN: %host_cc -std=c11 -Wall -Werror -I%t %S/Inputs/no_gpu_call.c -L%t -lgpu -Wl,-rpath,%t -o %t/call
// RUN: env MHA_LIBCUDA=%t/no-such-libcuda.so.1 %t/call | FileCheck %s
// A static archive links the same way.
// RUN: mha-compile %s --target=nvptx -o %t/libgpu_static.a
// RUN: %host_cc -std=c11 -Wall -Werror -I%t -include %t/libgpu_static.h -DMHA_NO_GPU_HEADER_INCLUDED %S/Inputs/no_gpu_call.c %t/libgpu_static.a -lpthread -ldl -o %t/call_static
// RUN: env MHA_LIBCUDA=%t/no-such-libcuda.so.1 %t/call_static | FileCheck %s

// CHECK: host: status 5 (MHA_ERR_DEVICE{{.*}}): attn: 'q' (query) is on device kDLCPU (device_type 1, device_id 0) but attn runs on the GPU (kDLCUDA)
// CHECK-NEXT: host: output untouched
// CHECK-NEXT: cuda: status 8 (MHA_ERR_NO_DEVICE{{.*}}): {{.*}}libcuda{{.*}}
// CHECK-NEXT: cuda: output untouched
// CHECK-NEXT: misaligned: status 8 (MHA_ERR_NO_DEVICE{{.*}}): {{.*}}libcuda
// CHECK-NEXT: mixed: status 5 (MHA_ERR_DEVICE{{.*}}): attn: {{.*}}'k' (key){{.*}}
// CHECK-NEXT: empty: status 8
// The backward (attn_backward: two kernels) answers the same way.
// CHECK-NEXT: backward host: status 5 (MHA_ERR_DEVICE{{.*}}): attn_backward: 'q' (query) is on device kDLCPU
// CHECK-NEXT: backward host: gradients untouched
// CHECK-NEXT: backward cuda: status 8 (MHA_ERR_NO_DEVICE{{.*}}): {{.*}}libcuda{{.*}}
// CHECK-NEXT: backward cuda: gradients untouched
// CHECK-NEXT: backward misaligned dout: status 8 (MHA_ERR_NO_DEVICE{{.*}})
// CHECK-NEXT: backward wrong dk: status 4 (MHA_ERR_SHAPE{{.*}}): attn_backward: 'dk' (key gradient) dim 1 (Hkv) is 4 but the spec expects 2

func.func @attn(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>) -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>) attributes {mha.backward} {
  %o, %lse = mha.attention %q, %k, %v {causal, return_lse}
      : tensor<?x4x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
}
