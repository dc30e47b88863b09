#!/usr/bin/env bash
# Builds the GPU check bundle (issue 6): specs, libraries, manifest, checker
# (scripts/gpu/check.py and the python/mha package it imports).
#
#   scripts/gpu-build.sh     # -> build/gpu-bundle/ and build/gpu-bundle.tar.gz
#   scripts/gpu-check.sh build/gpu-bundle.tar.gz   (on the GPU machine: carry
#                                                  the archive there)
#
# Runs where MLIR is (uses build/bin/mha-compile; builds nothing else).
# Environment:
#   MHA_GPU_BUNDLE  output folder            (default build/gpu-bundle)
#   MHA_GPU_TARGET  mha-compile --target     (default nvptx; cpu for a local dry run)
#   MHA_GPU_CHIP    mha-compile --chip       (default sm_80,sm_90a: PTX + cubins
#                   for Ampere and Hopper; not passed for cpu)
#   MHA_GPU_JOBS    parallel compiles        (default 2)
#   MHA_COMPILE     the compiler             (default build/bin/mha-compile)
#   MHA_COMPILE_FLAGS  extra mha-compile flags, word-split
#   MHA_GPU_ONLY    compile only the specs whose file name matches this
#                   extended regex (the manifest still lists every case)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${MHA_GPU_BUNDLE:-$root/build/gpu-bundle}"
target="${MHA_GPU_TARGET:-nvptx}"
chip="${MHA_GPU_CHIP:-sm_80,sm_90a}"
jobs="${MHA_GPU_JOBS:-2}"
compiler="${MHA_COMPILE:-$root/build/bin/mha-compile}"
extra="${MHA_COMPILE_FLAGS:-}"

[ -x "$compiler" ] || { echo "gpu-build: $compiler not found (build mha first: scripts/build.sh)" >&2; exit 1; }

flags="--target=$target"
[ "$target" = cpu ] || flags="$flags --chip=$chip"
[ -n "$extra" ] && flags="$flags $extra"

mkdir -p "$out"
# Only what this script writes is removed (the folder may be user-chosen).
rm -f "$out"/*.mlir "$out"/lib*.so "$out"/lib*.h "$out"/manifest.json \
      "$out"/check.py "$out"/cases.py "$out"/gpu-check.sh "$out"/build.log
rm -rf "$out"/mha "$out"/python

chiparg=()
[ "$target" = cpu ] || chiparg=(--chip "$chip")
python3 "$root/scripts/gpu/cases.py" "$out" --target "$target" "${chiparg[@]}" --list > "$out/.specs"
if [ -n "${MHA_GPU_ONLY:-}" ]; then
  grep -E "$MHA_GPU_ONLY" "$out/.specs" > "$out/.specs.only" || true
  mv "$out/.specs.only" "$out/.specs"
fi

echo "gpu-build: compiling $(wc -l < "$out/.specs") specs with $compiler $flags (-P$jobs)"
start=$(date +%s)
export compiler flags out
# One line per spec in build.log; a failure keeps going and is reported at the end.
set +e
xargs -P "$jobs" -I{} sh -c '
  spec="{}"; lib="lib${spec%.mlir}.so"
  if log=$("$compiler" "$out/$spec" $flags -o "$out/$lib" 2>&1); then
    echo "ok     $spec"
  else
    printf "FAILED %s\n%s\n" "$spec" "$log"
  fi' < "$out/.specs" > "$out/build.log"
set -e
rm -f "$out/.specs"
# Headers are not needed on the GPU machine, but are small: keep them.
# The checker and the Python it imports (python/mha: DLPack structs, library
# calls, the float64 reference), so that the bundle checks itself anywhere.
cp "$root/scripts/gpu/check.py" "$root/scripts/gpu/cases.py" "$root/scripts/gpu-check.sh" "$out/"
mkdir -p "$out/python/mha"
cp "$root"/python/mha/*.py "$out/python/mha/"

failed=$(grep -c '^FAILED' "$out/build.log" || true)
ok=$(grep -c '^ok' "$out/build.log" || true)
echo "gpu-build: $ok compiled, $failed failed in $(( $(date +%s) - start )) s (log: $out/build.log)"
if [ "$failed" != 0 ]; then
  grep -A20 '^FAILED' "$out/build.log" | head -60 >&2
fi
# What is carried to the GPU machine: the bundle as one gzip archive (its
# PTX and cubins shrink about 4 times; the folder is over 60 MiB).
archive="$out.tar.gz"
tar czf "$archive" -C "$(dirname "$out")" "$(basename "$out")"
size=$(du -sk "$archive" | cut -f1)
echo "gpu-build: bundle $out ($(du -sh "$out" | cut -f1)), archive $archive: $(du -sh "$archive" | cut -f1) (${size} KiB; must stay well under 64 MiB)"
if [ "$size" -gt 49152 ]; then
  echo "gpu-build: WARNING: archive over 48 MiB, too close to the 64 MiB carry limit" >&2
fi
[ "$failed" = 0 ]
