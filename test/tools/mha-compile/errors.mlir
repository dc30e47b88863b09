// Every misuse gives a clear error and a non-zero exit, never a crash.
// RUN: rm -rf %t && mkdir -p %t
// RUN: not mha-compile %s -o %t/lib.dylib 2>&1 | FileCheck %s --check-prefix=EXT
// RUN: not mha-compile %s --target=nvptx --chip=sm_70 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not mha-compile %s --target=nvptx --isa=avx2 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUISA
// RUN: not mha-compile %s --target=nvptx --rows=24 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUROWS
// RUN: not mha-compile %s --target=nvptx --band-rows=32 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUROWS
// RUN: not mha-compile %s --target=nvptx --gpu-row-tiles=3 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUTILES
// RUN: not mha-compile %s --target=nvptx --gpu-sm90a-cols=272 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUTILES
// RUN: not mha-compile %s --target=nvptx --gpu-sm90a-warpgroups=5 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUTILES
// RUN: not mha-compile %s --target=nvptx -o %t/lib.dylib 2>&1 | FileCheck %s --check-prefix=GPUEXT
// RUN: not mha-compile %s --target=tpu -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not mha-compile %t/missing.mlir -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not mha-compile %s -o %t/lib.so --rows=-1 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not mha-compile %s -o %t/lib.so --band-rows=-4 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not mha-compile %s -o %t/lib.so --runtime-lib=%t/nope.a 2>&1 | FileCheck %s --check-prefix=RUNTIME
// RUN: not mha-compile %S/Inputs/layer.mlir -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=LAYER
// RUN: not mha-compile %S/Inputs/small_layer.mlir --target=nvptx -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPU-LAYER
// RUN: not mha-compile %S/Inputs/small_layer.mlir --target=auto -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPU-LAYER
// RUN: not mha-compile %s --target=auto --gpu-row-tiles=3 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=GPUTILES
// RUN: not mha-compile %s --target=cpu --chip=sm_80 -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=CPUCHIP
// RUN: not mha-compile %S/Inputs/invalid.mlir -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=INVALID
// RUN: not mha-compile %S/Inputs/empty.mlir -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not mha-compile %S/Inputs/no_mha_op.mlir -o %t/lib.so 2>&1 | FileCheck %s --check-prefix=NO-MHA-OP
// RUN: not mha-compile %s -o %t/lib.so --rows=16384 2>&1 | FileCheck %s --check-prefix=SCRATCH
// RUN: not mha-compile %S/Inputs/small_layer.mlir -o %t/lib.so --rows=16384 2>&1 | FileCheck %s --check-prefix=SCRATCH
// RUN: not test -e %t/lib.so

// EXT: mha-compile: error: cannot tell the artifact from '{{.*}}lib.dylib': the output must end in .so, .a or .o
// CHIP: mha-compile: error: unsupported --chip 'sm_70': the GPU kernels need sm_80 or newer
// GPUISA: mha-compile: error: --isa, --micro-kernel, --cpu and --features only apply to --target=cpu
// GPUROWS: mha-compile: error: --target=nvptx: query rows per CTA are --gpu-warps x --gpu-row-tiles x 16; --rows and --band-rows only apply to --target=cpu
// GPUTILES: mha-compile: error: --target=nvptx: --cols must be a multiple of 16, --gpu-warps in [1, 16], --gpu-row-tiles 1 or 2, --gpu-sm90a-cols a multiple of 16 up to 256 and --gpu-sm90a-warpgroups in [1, 4]
// GPUEXT: the output must end in .so, .a or .o (or .ptx)
// CPUCHIP: mha-compile: error: --chip only applies to --target=nvptx or auto
// TARGET: mha-compile: error: unknown --target 'tpu' (expected cpu, nvptx or auto)
// MISSING: mha-compile: error: cannot open input file '{{.*}}missing.mlir'
// ROWS: mha-compile: error: --rows, --cols and --band-rows must be >= 0 (0: chosen by the compiler)
// RUNTIME: mha-compile: error: cannot find the mha runtime library '{{.*}}nope.a'
// LAYER: error: head dim D = 2048 is not supported by the CPU pipeline (at most 1024)
// GPU-LAYER: error: mha.multi_head is compiled for the CPU only, after mha-expand-layer (mha-cpu-pipeline runs it); the GPU back end compiles mha.attention functions
// INVALID: error: 'mha.attention' op query heads (6) must be a multiple of key/value heads (4)
// SCRATCH: error: tiles of 16384 rows x {{[0-9]+}} keys need {{[0-9]+}} bytes of scratch per work item, more than the 1048576 allowed: use smaller rows/cols
// EMPTY: mha-compile: error: '{{.*}}empty.mlir' has no public func.func to export
// NO-MHA-OP: error: function 'w' computes no mha.attention, mha.multi_head, mha.merge_states or mha.append_kv: only such functions are exported (make a helper private)

func.func @f(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = mha.attention %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}
