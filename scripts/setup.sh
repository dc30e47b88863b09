#!/usr/bin/env bash
# Installs what building and testing mha needs on a bare Debian 12 machine
# (run as root, or with sudo available). Idempotent: a second run only checks.
set -euo pipefail

LLVM_MAJOR=22
PACKAGES=(
  "llvm-${LLVM_MAJOR}-dev" "libmlir-${LLVM_MAJOR}-dev" "mlir-${LLVM_MAJOR}-tools"
  "clang-${LLVM_MAJOR}" "lld-${LLVM_MAJOR}" "llvm-${LLVM_MAJOR}-tools"
  # scripts/lint.py checks the tree's format with it.
  "clang-format-${LLVM_MAJOR}"
  cmake ninja-build ccache python3 libdlpack-dev libgtest-dev zlib1g-dev
  libzstd-dev "libclang-rt-${LLVM_MAJOR}-dev"
  # mha-low-rank's SVD is LAPACK's (through LAPACKE).
  liblapacke-dev
  # mha-analyze draws its heatmaps with Cairo (found through pkg-config).
  pkg-config libcairo2-dev
  # scripts/test.sh builds and tests the Python package in a virtual
  # environment (its native extension needs Python's headers; torch.compile's
  # CPU code generator, which the tests use, compiles with g++).
  python3-venv python3-dev g++
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The llvm-22 family lives in bookworm-security on our machines; if it is not
# known yet, refresh the package lists first.
if ! apt-cache show "llvm-${LLVM_MAJOR}-dev" >/dev/null 2>&1 || [ ! -d /var/lib/apt/lists ] \
   || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null)" ]; then
  $SUDO apt-get update -q
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
