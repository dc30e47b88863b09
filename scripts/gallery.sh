#!/usr/bin/env bash
# The main job: the examples gallery. For every spec in examples/: verify it,
# round-trip it through the generic form, show the IR after each pass of the
# CPU pipeline, compile it to a library, link it, run it on random data and
# compare with the float64 reference (one table row per function).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
build="${MHA_BUILD_DIR:-$root/build}"
bin="$build/bin"
out="$build/gallery"
rm -rf "$out" && mkdir -p "$out"
batch="${MHA_GALLERY_BATCH:-2}"
seqlen="${MHA_GALLERY_SEQ_LEN:-200}"

# Public functions of a spec and what they compute: "name kind" lines.
list_functions() {
  "$bin/mha-opt" "$1" | python3 -c '
import re, sys
name = None
for line in sys.stdin:
    m = re.match(r"\s*func\.func (?:public )?@(\w+)\(", line)
    if m: name, kind = m.group(1), None
    if name and "mha.multi_head" in line: kind = "layer"
    if name and "mha.attention" in line and kind is None: kind = "attention"
    if name and line.strip() == "}":
        print(name, kind or "other"); name = None
'
}

status=0
printf '%-28s %-30s %-5s %-34s %-8s %-8s %12s\n' function variant dtype shape worst rel.err time
for spec in "$root"/examples/*.mlir; do
  name="$(basename "$spec" .mlir)"
  # Verify, then check the custom -> generic -> custom round trip is exact.
  "$bin/mha-opt" "$spec" > "$out/$name.mlir"
  "$bin/mha-opt" "$spec" --mlir-print-op-generic | "$bin/mha-opt" > "$out/$name.roundtrip.mlir"
  cmp -s "$out/$name.mlir" "$out/$name.roundtrip.mlir" \
    || { echo "$name: generic round trip differs"; status=1; }
  attention=()
  while read -r fn kind; do
    if [ "$kind" = attention ] || [ "$kind" = layer ]; then
      attention+=("--function" "$fn")
    else
      printf '%-28s %s\n' "$fn" "verified; computes no mha op"
    fi
  done < <(list_functions "$spec")
  [ ${#attention[@]} -gt 0 ] || continue
  # Compile; keep the IR after each pass for whoever follows the compiler.
  "$bin/mha-compile" "$spec" "${attention[@]}" -o "$out/lib$name.so" \
    --mlir-print-ir-after-all --mlir-disable-threading 2> "$out/$name.passes.mlir"
  if ! "$bin/mha-run" "$spec" "$out/lib$name.so" --batch "$batch" --seq-len "$seqlen" \
       $(printf -- '--function %s ' $(printf '%s\n' "${attention[@]}" | grep -v -- '--function')); then
    status=1
  fi
done

echo
echo "IR after every pass: $out/<example>.passes.mlir ($(ls "$out"/*.passes.mlir | wc -l) files); passes run:"
grep -o 'IR Dump After [A-Za-z]*' "$out/mha.passes.mlir" | sed 's/IR Dump After /  /' | uniq | tr '\n' ' '
echo

# Head analysis of the multi-scale example (local and global heads, sinks):
# heatmaps, entropy, importance by ablation, similarity; open
# $out/analysis/report.html.
analysis_len="${MHA_GALLERY_ANALYSIS_SEQ_LEN:-768}"
echo
echo "mha-analyze examples/multiscale_sinks.mlir (B=1, L=$analysis_len):"
"$bin/mha-analyze" "$root/examples/multiscale_sinks.mlir" --batch 1 \
  --seq-len "$analysis_len" -o "$out/analysis" | sed 's/^/  /' || status=1
echo "  report: $out/analysis/report.html"

# The GPU path: the multi-scale example (its attention function; the
# analysis one returns probabilities, a CPU-only output) as PTX (LLVM's NVPTX back end, no
# CUDA toolkit needed) and, when ptxas is found, its resource report.
echo
echo "GPU kernels of examples/multiscale_sinks.mlir (--target=nvptx):"
"$bin/mha-compile" "$root/examples/multiscale_sinks.mlir" --target=nvptx \
  --function multiscale --chip=sm_90 -o "$out/multiscale_sinks.ptx" || status=1
echo "  $out/multiscale_sinks.ptx: $(grep -c 'mma.sync.aligned' "$out/multiscale_sinks.ptx") mma.sync," \
  "$(grep -c 'ldmatrix' "$out/multiscale_sinks.ptx") ldmatrix," \
  "$(grep -c 'cp.async.cg' "$out/multiscale_sinks.ptx") cp.async instructions"
ptxas_bin="$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)"
if [ -x "$ptxas_bin" ]; then
  "$ptxas_bin" -arch=sm_90 -v "$out/multiscale_sinks.ptx" -o /dev/null 2>&1 |
    grep -E "Compiling|registers|spill" | sed 's/^ptxas info *: /  /'
fi

# The C program of examples/app.c against the MQA library.
"$bin/mha-compile" "$root/examples/mqa.mlir" -o "$out/libmqa.so"
${CC:-cc} -std=c99 -Wall "$root/examples/app.c" -I"$out" -L"$out" -lmqa -Wl,-rpath,"$out" -lm -o "$out/app"
echo
echo "examples/app.c:"
"$out/app" | sed 's/^/  /'
exit $status
