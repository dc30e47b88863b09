#!/usr/bin/env bash
# The whole test suite (check-mha) with our C and C++ code built under
# -fsanitize=address,undefined (build-asan/, -DMHA_SANITIZE=address,undefined).
# libMLIR.so and generated kernels are not instrumented; the runtime is
# instrumented in MhaRuntimeTests and the fuzzers (mha_runtime_checked) but
# not in generated libraries (see lib/Runtime/CMakeLists.txt).
#   scripts/sanitize.sh [SANITIZERS]   (default address,undefined)
# Environment: MHA_ASAN_BUILD_DIR (default build-asan), MHA_ASAN_JOBS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sanitizers="${1:-address,undefined}"
build="${MHA_ASAN_BUILD_DIR:-$root/build-asan}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"

"$root/scripts/setup.sh"
"$root/scripts/configure.sh" "$build" -DMHA_SANITIZE="$sanitizers" >/dev/null
# allow_user_poisoning=0: our instrumented code inlines LLVM's BumpPtrAllocator,
# which poisons memory that the uninstrumented libMLIR.so then uses (false
# use-after-poison reports). Leaks inside libMLIR.so are not ours to report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allow_user_poisoning=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ninja -C "$build" -j "${MHA_ASAN_JOBS:-2}" check-mha
