#!/usr/bin/env bash
# Configures a build directory once, the way every build of the project is
# configured (Ninja, clang-22, ccache, lit from llvm-22); a configured
# directory is left alone.
#   scripts/configure.sh BUILD_DIR [EXTRA CMAKE ARGUMENTS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$1"
shift
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    "$@"
fi
