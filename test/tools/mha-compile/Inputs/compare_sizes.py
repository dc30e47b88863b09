"""compare_sizes.py TOL A.o B.o [C.o ...]: the .text sizes (llvm-size) of
the objects agree within TOL (relative) with the first one."""
import subprocess, sys

def text_size(path):
    out = subprocess.run(["llvm-size", "-A", path], check=True,
                         capture_output=True, text=True).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith(".text"):
            total += int(parts[1])
    return total

tol = float(sys.argv[1])
sizes = [(p, text_size(p)) for p in sys.argv[2:]]
ref = sizes[0][1]
ok = True
for path, size in sizes:
    rel = abs(size - ref) / ref
    print("%s: .text %d bytes (%+.2f%%)" % (path.split("/")[-1], size, 100 * (size - ref) / ref))
    ok &= rel <= tol
print("SAME SIZE" if ok else "SIZES DIFFER")
sys.exit(0 if ok else 1)
