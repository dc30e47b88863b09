#!/usr/bin/env bash
# The one-command GPU check (issue 6), run on the GPU machine:
#
#   scripts/gpu-check.sh build/gpu-bundle.tar.gz [check.py options]
#   scripts/gpu-check.sh build/gpu-bundle [check.py options]
#
# BUNDLE is what scripts/gpu-build.sh wrote (specs, libraries,
# manifest.json, check.py and its copy of python/mha): the folder, or the
# archive of it that is carried to the GPU machine (unpacked beside it). Needs python3
# with PyTorch (CUDA), NumPy and Triton;
# no MLIR, no internet. Prints the GPU, driver and torch versions, then every
# case, then a correctness table and a speed table; writes gpu-check.log and
# gpu-check.json to $OUT (if set) or BUNDLE_DIR. Exit status non-zero when a
# correctness case (or our kernel on a benchmark shape) failed.
# PYTHON overrides the interpreter (default python3); MHA_GPU_CHECK_TIMEOUT
# the wall-clock limit in seconds (default 330).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 BUNDLE[.tar.gz] [--device cuda|cpu] [--only REGEX] [--no-bench] [--flex auto|all|none]" >&2
  exit 2
fi
bundle="$1"; shift
if [ -f "$bundle" ] && [ "${bundle%.tar.gz}" != "$bundle" ]; then
  tar xzf "$bundle" -C "$(dirname "$bundle")"
  bundle="${bundle%.tar.gz}"
fi
[ -f "$bundle/manifest.json" ] || { echo "gpu-check: $bundle/manifest.json not found (run scripts/gpu-build.sh)" >&2; exit 2; }
# The bundle's own checker matches its manifest; fall back to the tree's
# (which finds python/mha in the tree).
checker="$bundle/check.py"
[ -f "$checker" ] || checker="$(cd "$(dirname "$0")" && pwd)/gpu/check.py"
# A hung kernel must not hang the machine: the log (flushed per case) survives.
exec timeout -k 10 "${MHA_GPU_CHECK_TIMEOUT:-330}" "${PYTHON:-python3}" "$checker" "$bundle" "$@"
