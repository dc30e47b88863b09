#!/usr/bin/env bash
# bench/run.sh [--quick] [--layers] [--install-only] [extra bench.py options]
#
# The CPU benchmarks in one command (docs/performance.md says what they
# measure and how):
#   1. bench/.venv: created with python3 -m venv when missing, and the peers
#      (bench/requirements.txt) pip-installed into it from pip's configured
#      index. Nothing in the build or the tests needs it.
#   2. bench/out: the benchmark's specs (bench/gen_specs.py), compiled with
#      build/bin/mha-compile (MHA_COMPILE overrides), and the FMA peak probe
#      (bench/peak.c, clang -O2 -march=native).
#   3. bench/bench.py: every implementation (ours and each peer) is timed in
#      a worker process of its own on the same inputs, the order alternating
#      from shape to shape; one table; bench/out/results.json and results.md.
#
# --quick: L=512 and 2048, D=128, f32 only (a smoke test, a few minutes once
# the venv exists).
# --peers LIST (bench.py's option, e.g. --peers numpy_openblas, or
# --peers none for ours alone): only those peers' packages are installed
# (NumPy always: inputs and the reference).
# --layers: the whole-layer benchmark (bench/layers.py) instead of the
# attention one; the other options go to layers.py (e.g. --quick).
# --install-only: step 1 alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
venv="$here/.venv"
out="$here/out"
compile="${MHA_COMPILE:-$root/build/bin/mha-compile}"
py="${PYTHON:-python3}"

# Options of this script; the rest goes to bench.py (or layers.py).
layers=0
install_only=0
args=()
for a in "$@"; do
  case "$a" in
    --layers) layers=1 ;;
    --install-only) install_only=1 ;;
    *) args+=("$a") ;;
  esac
done

# --- 1. virtual environment with the peers ---------------------------------
# The requirement lines the chosen peers need (all of them by default).
peers="all"
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --peers=*) peers="${args[$i]#--peers=}" ;;
    --peers) peers="${args[$((i + 1))]:-}" ;;
  esac
done
needs="numpy threadpoolctl"
if [[ "$peers" == all || $layers == 1 ]]; then
  needs="$needs torch jax onnx onnxruntime"
else
  [[ ",$peers," == *,torch_* ]] && needs="$needs torch"
  [[ ",$peers," == *,jax,* ]] && needs="$needs jax"
  [[ ",$peers," == *,onnxruntime,* ]] && needs="$needs onnx onnxruntime"
fi
needed() { [[ " $needs " == *" ${1%%[=[]*} "* ]]; }
stamp="$venv/.installed-$(cat "$here/requirements.txt" <(echo "$needs") | sha256sum | cut -c1-16)"
full_stamp="$venv/.installed-$(cat "$here/requirements.txt" <(echo "numpy threadpoolctl torch jax onnx onnxruntime") | sha256sum | cut -c1-16)"
[[ -e "$full_stamp" ]] && stamp="$full_stamp"   # a full install serves any subset
if [[ ! -x "$venv/bin/python" ]]; then
  echo "== creating $venv"
  "$py" -m venv "$venv"
fi
if [[ ! -e "$stamp" ]]; then
  echo "== installing peers into $venv (first run: a few GB, a few minutes)"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # One package at a time, so one failure does not stop the others.
  ok=1
  while read -r req; do
    [[ -z "$req" || "$req" == \#* ]] && continue
    needed "$req" || continue
    "$venv/bin/python" -m pip install -q "$req" || { ok=0; echo "!! $req failed to install"; }
  done < "$here/requirements.txt"
  [[ $ok == 1 ]] && touch "$stamp"
fi
[[ $install_only == 1 ]] && exit 0

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped so that OpenBLAS (NumPy's
# peer) picks its own kernel for this CPU; bench.py drops them again itself
# (and so do its workers, which inherit this environment).
if [[ $layers == 1 ]]; then
  exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE MHA_COMPILE="$compile" \
    "$venv/bin/python" "$here/layers.py" ${args[@]+"${args[@]}"}
fi

# --- 2. specs, libraries, peak probe ----------------------------------------
mkdir -p "$out"
"$py" "$here/gen_specs.py" "$out" >/dev/null
dts="f32 bf16"
[[ " ${args[*]-} " == *" --quick "* ]] && dts="f32"   # --quick times f32 only
for dt in $dts; do
  spec="$out/spec_$dt.mlir"
  lib="$out/libmha_bench_$dt.so"
  if [[ ! -e "$lib" || "$lib" -ot "$spec" || "$lib" -ot "$compile" ]]; then
    echo "== $compile $spec -o $lib"
    "$compile" "$spec" -o "$lib" || { echo "!! mha-compile failed for $dt"; rm -f "$lib"; }
  fi
done
cc="$(command -v clang-22 || command -v clang || command -v cc)"
if [[ ! -x "$out/peak" || "$out/peak" -ot "$here/peak.c" ]]; then
  "$cc" -O2 -march=native "$here/peak.c" -o "$out/peak" -lpthread ||
    echo "!! peak probe failed to build"
fi

# --- 3. one worker process per implementation and shape ---------------------
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
  "$venv/bin/python" "$here/bench.py" --out "$out" ${args[@]+"${args[@]}"}
