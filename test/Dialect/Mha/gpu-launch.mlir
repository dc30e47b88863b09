// RUN: mha-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// RUN: mha-opt %s -split-input-file -verify-diagnostics | mha-opt -split-input-file | FileCheck %s

// The launch description of convert-mha-to-nvvm: printed and parsed back
// the same; defaults (no fallback, no sm_90a kernel, no TMA box) are left
// out.

// CHECK-LABEL: func.func private @portable()
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "portable__kernel", block_threads = 128, shared_bytes = 69632, rows_per_block = 32, heads_per_block = 4, requirements = aligned_rows>, fallback_kernel = "portable__kernel_unaligned">}
func.func private @portable() attributes {
  mha.gpu_launch = #mha.gpu_launch<
    kernel = #mha.gpu_kernel<module = "mha_kernels", name = "portable__kernel",
                             block_threads = 128, shared_bytes = 69632,
                             rows_per_block = 32, heads_per_block = 4,
                             requirements = aligned_rows>,
    fallback_kernel = "portable__kernel_unaligned">}

// CHECK-LABEL: func.func private @with_sm90a()
// CHECK-SAME: mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "mha_kernels", name = "with_sm90a__kernel", block_threads = 128, shared_bytes = 73728, rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows>, fallback_kernel = "with_sm90a__kernel_unaligned", sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a", name = "with_sm90a__kernel_sm90a", block_threads = 384, shared_bytes = 164896, rows_per_block = 128, heads_per_block = 1, requirements = aligned_rows|tensor_maps, tma_box_rows = 128>>}
func.func private @with_sm90a() attributes {
  mha.gpu_launch = #mha.gpu_launch<
    kernel = #mha.gpu_kernel<module = "mha_kernels", name = "with_sm90a__kernel",
                             block_threads = 128, shared_bytes = 73728,
                             rows_per_block = 128, heads_per_block = 1,
                             requirements = aligned_rows>,
    fallback_kernel = "with_sm90a__kernel_unaligned",
    sm90a_kernel = #mha.gpu_kernel<module = "mha_kernels_sm90a",
                                   name = "with_sm90a__kernel_sm90a",
                                   block_threads = 384, shared_bytes = 164896,
                                   rows_per_block = 128, heads_per_block = 1,
                                   requirements = aligned_rows|tensor_maps,
                                   tma_box_rows = 128>>}

// A kernel without requirements or fallback; the quoted form of the bits
// parses too.
// CHECK-LABEL: func.func private @minimal()
// CHECK-SAME: #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = none>>
// CHECK-LABEL: func.func private @quoted()
// CHECK-SAME: requirements = aligned_rows|tensor_maps, tma_box_rows = 64>
func.func private @minimal() attributes {
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = none>>}
func.func private @quoted() attributes {
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = "aligned_rows|tensor_maps", tma_box_rows = 64>}

// -----

func.func private @threads() attributes {
  // expected-error @+1 {{block_threads must be in [1, 1024], got 2048}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 2048, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>}

// -----

func.func private @unnamed() attributes {
  // expected-error @+1 {{a GPU kernel needs a module and a name}}
  k = #mha.gpu_kernel<module = "m", name = "", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>}

// -----

func.func private @rows() attributes {
  // expected-error @+1 {{rows_per_block and heads_per_block must be positive}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 0, requirements = aligned_rows>}

// -----

func.func private @box() attributes {
  // expected-error @+1 {{tma_box_rows (keys per TMA box, at most 256) is set with tensor_maps and only then, got 0}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows|tensor_maps>}

// -----

func.func private @box_without_maps() attributes {
  // expected-error @+1 {{tma_box_rows (keys per TMA box, at most 256) is set with tensor_maps and only then, got 64}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows, tma_box_rows = 64>}

// -----

func.func private @maps_unaligned() attributes {
  // expected-error @+1 {{tensor_maps requires aligned_rows}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = tensor_maps, tma_box_rows = 64>}

// -----

func.func private @bad_bit() attributes {
  // expected-error @+2 {{expected ::mlir::mha::GpuRequirements to be one of: none, aligned_rows, tensor_maps}}
  // expected-error @+1 {{failed to parse Mha_GpuKernelAttr parameter 'requirements'}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned>}

// -----

func.func private @portable_maps() attributes {
  // expected-error @+1 {{the portable kernel cannot require tensor_maps: it runs where they cannot be encoded}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = "aligned_rows|tensor_maps", tma_box_rows = 64>>}

// -----

func.func private @self_fallback() attributes {
  // expected-error @+1 {{fallback_kernel names the kernel itself}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, fallback_kernel = "k">}

// -----

func.func private @same_module() attributes {
  // expected-error @+1 {{the sm90a kernel needs a module of its own (compiled for sm_90a only)}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, sm90a_kernel = #mha.gpu_kernel<module = "m", name = "k90", block_threads = 128, shared_bytes = 0, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows>>}

// -----

func.func private @not_a_kernel() attributes {
  // expected-error @+2 {{invalid kind of attribute specified}}
  // expected-error @+1 {{failed to parse Mha_GpuLaunchAttr parameter 'kernel'}}
  mha.gpu_launch = #mha.gpu_launch<kernel = "k">}

// -----

// A backward's launch: the dq kernel, then the dk/dv kernel over keys.
// CHECK-LABEL: func.func private @chained()
// CHECK-SAME: then_kernel = #mha.gpu_kernel<module = "m", name = "keys", block_threads = 256, shared_bytes = 0, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows, over_keys = true>, then_fallback_kernel = "keys_unaligned">
func.func private @chained() attributes {
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 128, shared_bytes = 0, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows>, fallback_kernel = "k_unaligned", then_kernel = #mha.gpu_kernel<module = "m", name = "keys", block_threads = 256, shared_bytes = 0, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows, over_keys = true>, then_fallback_kernel = "keys_unaligned">}

// -----

func.func private @keys_packed() attributes {
  // expected-error @+1 {{a kernel over keys has heads_per_block = 1 (a block per KV head), got 2}}
  k = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 2, requirements = aligned_rows, over_keys = true>}

// -----

func.func private @then_fallback_alone() attributes {
  // expected-error @+1 {{then_fallback_kernel needs a then_kernel}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, then_fallback_kernel = "keys_unaligned">}

// -----

func.func private @then_elsewhere() attributes {
  // expected-error @+1 {{then_kernel runs after a portable kernel of its module, without an sm90a kernel}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, then_kernel = #mha.gpu_kernel<module = "other", name = "keys", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows, over_keys = true>>}

// -----

func.func private @then_self_fallback() attributes {
  // expected-error @+1 {{then_fallback_kernel names then_kernel itself}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, then_kernel = #mha.gpu_kernel<module = "m", name = "keys", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows, over_keys = true>, then_fallback_kernel = "keys">}

// -----

// Split-KV: the split kernel and its merge, in the portable kernel's module.
// CHECK-LABEL: func.func private @split_keys()
// CHECK-SAME: split_kernel = #mha.gpu_kernel<module = "m", name = "split", block_threads = 128, shared_bytes = 4096, rows_per_block = 16, heads_per_block = 4, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "m", name = "merge", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}
func.func private @split_keys() attributes {
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 128, shared_bytes = 0, rows_per_block = 64, heads_per_block = 1, requirements = aligned_rows>, split_kernel = #mha.gpu_kernel<module = "m", name = "split", block_threads = 128, shared_bytes = 4096, rows_per_block = 16, heads_per_block = 4, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "m", name = "merge", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}

// -----

func.func private @split_alone() attributes {
  // expected-error @+1 {{split_kernel and merge_kernel come together}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, split_kernel = #mha.gpu_kernel<module = "m", name = "split", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>>}

// -----

func.func private @split_backward() attributes {
  // expected-error @+1 {{split_kernel is for a forward kernel, without then_kernel}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, then_kernel = #mha.gpu_kernel<module = "m", name = "keys", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows, over_keys = true>, split_kernel = #mha.gpu_kernel<module = "m", name = "split", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "m", name = "merge", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}

// -----

func.func private @split_elsewhere() attributes {
  // expected-error @+1 {{split_kernel and merge_kernel must be in the portable kernel's module}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, split_kernel = #mha.gpu_kernel<module = "m", name = "split", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "other", name = "merge", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = none>>}

// -----

func.func private @merge_with_requirements() attributes {
  // expected-error @+1 {{split_kernel walks query rows without tensor maps; merge_kernel walks the rows of one head per block, without requirements}}
  mha.gpu_launch = #mha.gpu_launch<kernel = #mha.gpu_kernel<module = "m", name = "k", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, split_kernel = #mha.gpu_kernel<module = "m", name = "split", block_threads = 32, shared_bytes = 0, rows_per_block = 16, heads_per_block = 1, requirements = aligned_rows>, merge_kernel = #mha.gpu_kernel<module = "m", name = "merge", block_threads = 128, shared_bytes = 0, rows_per_block = 4, heads_per_block = 1, requirements = aligned_rows>>}
