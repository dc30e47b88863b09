# -*- Python -*-
# lit configuration of the mha test suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MHA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.mha_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%mha_src_root", config.mha_src_root))
config.substitutions.append(("%host_cc", config.host_cc))
config.substitutions.append(("%examples", os.path.join(config.mha_src_root, "examples")))
config.substitutions.append(("%mha_tools_dir", config.mha_tools_dir))

# Sanitized builds (-DMHA_SANITIZE=address,...): our code inlines LLVM's
# BumpPtrAllocator, which poisons memory for ASan, while the uninstrumented
# libMLIR.so uses the same memory unpoisoned: manual poisoning must be off
# (allow_user_poisoning=0) or ASan reports use-after-poison inside MLIR.
# Leaks inside the uninstrumented libMLIR.so are not ours to report.
asan_options = os.environ.get("ASAN_OPTIONS", "")
for default in ("allow_user_poisoning=0", "detect_leaks=0"):
    if default.split("=")[0] not in asan_options:
        asan_options = (asan_options + ":" if asan_options else "") + default
config.environment["ASAN_OPTIONS"] = asan_options

# The AVX512-BF16 copies run wherever the CPU has them, Intel's included
# (whose bf16 functions would otherwise run the AVX-512 copy, KernelAbi.h):
# a RUN line's MHA_ISA lowers it.
config.environment["MHA_ISA"] = os.environ.get("MHA_ISA", "avx512bf16")

llvm_config.use_default_substitutions()
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP", "ASAN_OPTIONS",
                                     "UBSAN_OPTIONS", "LSAN_OPTIONS"])
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.mha_tools_dir, config.llvm_tools_dir]
tools = ["mha-opt", "mha-compile", "mha-check", "mha-run", "mha-analyze",
         "mha-analyze-check", "mha-lsp-server", "mlir-opt",
         "mlir-translate", "llc"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# ptxas (CUDA toolkit, not a Debian package): GPU tests assemble the PTX with
# it when it is there.
import shutil
ptxas = os.environ.get("MHA_PTXAS") or shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas" if os.access("/usr/local/cuda/bin/ptxas", os.X_OK) else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# CPUs with AVX512-BF16 (vdpbf16ps) run the avx512bf16 kernel copies of bf16
# specs; the end-to-end checks of that copy need one.
# CPUs with AVX-512 (x86-64-v4) run the avx512 copies that mha-compile
# --isa=host builds there.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        cpu_flags = set(cpuinfo.read().split())
    if "avx512_bf16" in cpu_flags:
        config.available_features.add("avx512bf16")
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= cpu_flags:
        config.available_features.add("avx512")
except OSError:
    pass
