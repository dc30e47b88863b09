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

# The Python package (docs/python.md): a virtual environment of its own
# (.venv, or MHA_VENV) with the test dependencies, the package built against
# this build's tools, then its pytest suite.
venv="${MHA_VENV:-$root/.venv}"
build="$(cd "$build" && pwd)"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -r "$root/python/requirements-test.txt"
MHA_BUILD_DIR="$build" "$venv/bin/python" -m pip install -q --disable-pip-version-check \
  --no-build-isolation "$root/python"
# Two workers (pytest-xdist), one test file each at a time: compiling the
# tests' specs is one core's work, so two halve the suite's time on CI's
# two cores. MHA_TEST_WORKERS=0 runs it in this process.
MHA_BUILD_DIR="$build" "$venv/bin/python" -m pytest -q -n "${MHA_TEST_WORKERS:-2}" \
  --dist loadfile "$root/python/tests"
