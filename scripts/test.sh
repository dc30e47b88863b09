#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# Format and habits first: seconds, and a failure names the file.
"$root/scripts/lint.py"
"$root/scripts/build.sh"
build="${MHA_BUILD_DIR:-$root/build}"
ninja -C "$build" check-mha
