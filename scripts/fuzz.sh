#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, -DMHA_FUZZ=ON: our code under
# address,undefined with coverage) and runs each for SECONDS (default 60):
#   mha-fuzz-spec      spec text -> parse -> verify -> CPU pipeline -> LLVM IR
#   mha-fuzz-spec-gen  generated specs (random shapes/attributes) -> same
#   mha-fuzz-runtime   generated library calls with random DLTensor metadata
# Prints executions and findings per target; exits non-zero on any finding
# (crash, sanitizer report, timeout, OOM), whose reproducer is left in
# build-fuzz/findings/<target>/. The growing corpora live in
# build-fuzz/corpus/<target>/ (seeded from fuzz/corpus/spec,
# fuzz/corpus/spec-gen and fuzz/corpus/runtime, which also hold the
# reproducers of past findings).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Environment: MHA_FUZZ_BUILD_DIR (default build-fuzz), MHA_FUZZ_JOBS
# (ninja -j, default 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(mha-fuzz-spec mha-fuzz-spec-gen mha-fuzz-runtime)
build="${MHA_FUZZ_BUILD_DIR:-$root/build-fuzz}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"

"$root/scripts/setup.sh"
"$root/scripts/configure.sh" "$build" -DMHA_FUZZ=ON >/dev/null
ninja -C "$build" -j "${MHA_FUZZ_JOBS:-2}" mha-fuzz

# MLIR's own allocations (libMLIR.so is not instrumented) are not ours to
# leak-check; everything else is fatal.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allow_user_poisoning=0:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
total=0
printf '%-20s %12s %10s %9s  %s\n' target executions exec/s findings log
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  log="$build/fuzz-$t.log"
  mkdir -p "$corpus" "$findings"
  args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=60
        -rss_limit_mb=4096 -artifact_prefix="$findings/")
  seeds=()
  case "$t" in
    mha-fuzz-spec) args+=(-dict="$root/fuzz/spec.dict" -max_len=8192)
                   seeds=("$root/fuzz/corpus/spec") ;;
    # A layer backward's spec takes 20-90 s through the pipeline under
    # ASan on a loaded 2-core host: a unit must hang, not be slow, to
    # count.
    mha-fuzz-spec-gen) args+=(-max_len=512 -timeout=240)
                       seeds=("$root/fuzz/corpus/spec-gen") ;;
    mha-fuzz-runtime) args+=(-max_len=512)
                      seeds=("$root/fuzz/corpus/runtime") ;;
  esac
  before=$(find "$findings" -type f | wc -l)
  rc=0
  "$build/bin/$t" "${args[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  after=$(find "$findings" -type f | wc -l)
  new=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$new" -eq 0 ]; then new=1; fi
  printf '%-20s %12s %10s %9s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$new" "$log"
  total=$((total + ${execs:-0}))
  if [ "$new" -ne 0 ]; then
    status=1
    echo "--- $t: finding (exit $rc); reproducer(s) in $findings; end of log:"
    tail -40 "$log"
  fi
done
echo "total executions: $total"
exit $status
