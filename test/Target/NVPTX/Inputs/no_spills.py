"""Fails (listing them) when `ptxas -v` logs show a kernel that spills
registers or an error, except the kernels named by --except (a regex).

    python3 no_spills.py LOG... [--except REGEX]
"""
import argparse
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("logs", nargs="+")
ap.add_argument("--except", dest="exempt", default=None)
args = ap.parse_args()
exempt = re.compile(args.exempt) if args.exempt else None
bad = []
for path in args.logs:
    function = None
    for line in open(path):
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            function = m.group(1)
        if "error" in line:
            bad.append(f"{path}: {line.strip()}")
        m = re.search(r"(\d+) bytes spill stores", line)
        if m and int(m.group(1)) > 0 and not (exempt and exempt.search(function or "")):
            bad.append(f"{path}: {function}: {line.strip()}")
print("\n".join(bad) if bad else "no spills")
sys.exit(1 if bad else 0)
