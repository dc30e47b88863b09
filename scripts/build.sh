#!/usr/bin/env bash
# Configures (once) and builds mha into build/ with Ninja and ccache.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MHA_BUILD_DIR:-$root/build}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"

"$root/scripts/configure.sh" "$build" "$@"
ninja -C "$build"
