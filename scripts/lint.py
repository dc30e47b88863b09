#!/usr/bin/env python3
"""The tree's habits, checked (scripts/test.sh runs this first; CI with it):

  - C and C++ sources changed since FORMAT_BASELINE (the last commit before
    the format check) are clang-format-22 clean (.clang-format: LLVM
    style); a file is formatted as a whole when it is touched;
  - no deprecated `builder.create<OpTy>(...)`: ops are built with
    `OpTy::create(builder, ...)`;
  - every pass implementation (a GEN_PASS_DEF_ user) defines DEBUG_TYPE;
  - a rewrite pattern that declines says why: no bare `return failure();`
    in a matchAndRewrite body (rewriter.notifyMatchFailure(op, "...")).

Usage: scripts/lint.py [--fix]  (--fix reformats in place).
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLANG_FORMAT = "clang-format-22"
FORMAT_BASELINE = "3136b95"
SOURCE_SUFFIXES = {".c", ".cpp", ".h"}


def tracked_sources():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return [ROOT / p for p in out
            if Path(p).suffix in SOURCE_SUFFIXES and not p.startswith("fuzz/corpus")
            and (ROOT / p).exists()]


def changed_since_baseline(files):
    """The files changed since FORMAT_BASELINE; all of them where the
    history does not reach it (a shallow clone)."""
    diff = subprocess.run(["git", "diff", "--name-only", FORMAT_BASELINE],
                          cwd=ROOT, capture_output=True, text=True)
    if diff.returncode != 0:
        return files
    changed = {ROOT / p for p in diff.stdout.split()}
    return [f for f in files if f in changed]


def check_format(files, fix):
    exe = shutil.which(CLANG_FORMAT)
    if exe is None:
        return [f"{CLANG_FORMAT} not found (scripts/setup.sh installs it)"]
    args = [exe, "-i"] if fix else [exe, "--dry-run", "-Werror"]
    result = subprocess.run(args + [str(f) for f in files], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode == 0:
        return []
    names = sorted({line.split(":")[0] for line in result.stderr.splitlines()
                    if ": error:" in line})
    return [f"{n}: not clang-format clean (scripts/lint.py --fix)"
            for n in names] or [result.stderr.strip()]


def function_body(text, start):
    """The text of the brace-delimited body that follows `start`."""
    open_at = text.find("{", start)
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at:i + 1]
    return text[open_at:]


def check_habits(path):
    problems = []
    text = path.read_text()
    rel = path.relative_to(ROOT)
    code = re.sub(r"//.*", "", text)
    if re.search(r"\.create<\w", code):
        problems.append(f"{rel}: deprecated `builder.create<OpTy>(...)`; "
                        "write `OpTy::create(builder, ...)`")
    if "GEN_PASS_DEF_" in text and "#define DEBUG_TYPE" not in text:
        problems.append(f"{rel}: a pass without `#define DEBUG_TYPE`")
    for m in re.finditer(r"LogicalResult\s+matchAndRewrite\s*\(", text):
        if re.search(r"return\s+failure\(\)\s*;", function_body(text, m.end())):
            line = text.count("\n", 0, m.start()) + 1
            problems.append(f"{rel}:{line}: a pattern declines without a "
                            "reason; use rewriter.notifyMatchFailure")
    return problems


def main():
    fix = "--fix" in sys.argv[1:]
    files = tracked_sources()
    problems = check_format(changed_since_baseline(files), fix)
    for f in files:
        problems += check_habits(f)
    for p in problems:
        print(f"lint: {p}", file=sys.stderr)
    if problems:
        print(f"lint: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"lint: {len(files)} files clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
