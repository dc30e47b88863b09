"""Finding mha-compile, compiling specs and the library cache.

    path, manifest = build_library(spec_text, target="cpu", isa="avx2")

The cache lives under $MHA_CACHE_DIR (default ~/.cache/mha): one folder per
key, the SHA-256 of the spec text, the options and the identity of the tool
(its path, size and modification time, and those of the runtime archive it
links in). A compilation writes into a fresh temporary folder beside the
cache entries and renames it into place, so concurrent processes never see
a half-written library: the first rename wins and the others use its result.
Standard library only.
"""
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile

from ._errors import Error

# Version of the cache layout (part of every key).
_CACHE_FORMAT = 1
_TOOL = "mha-compile"

# mha.compile's options that mha-compile takes as --name=value (underscores
# become dashes): everything but `target`, `function` (repeatable) and flags.
_FLAG_OPTIONS = {"no_cubin", "gpu_pack_gqa"}
_TARGETS = {"cpu": "cpu", "cuda": "nvptx", "nvptx": "nvptx", "auto": "auto"}


# The tool `pip install` built into the package when no build was named
# (python/CMakeLists.txt).
_PACKAGE_TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", _TOOL)


def find_tool():
    """The mha-compile the package uses, in this order: $MHA_COMPILE (a
    path), $MHA_BUILD_DIR/bin/mha-compile, the build recorded when the
    package was installed with MHA_BUILD_DIR set, the tool the package
    built when installed without one, mha-compile on PATH."""
    explicit = os.environ.get("MHA_COMPILE")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise Error(None, f"MHA_COMPILE={explicit} is not an executable",
                        status_name_="MHA_TOOL_NOT_FOUND")
        return os.path.abspath(explicit)
    build_dirs = [os.environ.get("MHA_BUILD_DIR", "")]
    try:
        from . import _build_config
        build_dirs.append(_build_config.BUILD_DIR)
    except ImportError:  # running from the source tree
        pass
    for d in build_dirs:
        if d:
            tool = os.path.join(d, "bin", _TOOL)
            if os.access(tool, os.X_OK):
                return os.path.abspath(tool)
    if os.access(_PACKAGE_TOOL, os.X_OK):
        return _PACKAGE_TOOL
    tool = shutil.which(_TOOL)
    if tool:
        return os.path.abspath(tool)
    raise Error(None, "mha-compile not found: set MHA_BUILD_DIR to a build of the "
                "repository (scripts/build.sh), MHA_COMPILE to the tool, or put it on "
                "PATH", status_name_="MHA_TOOL_NOT_FOUND")


def _file_identity(path):
    st = os.stat(path)
    return [os.path.realpath(path), st.st_size, st.st_mtime_ns]


def tool_identity(tool):
    """What the cache key knows of the tool: its file and the runtime
    archive beside it (both change when the tools are rebuilt)."""
    ident = [_file_identity(tool)]
    runtime = os.path.join(os.path.dirname(tool), os.pardir, "lib", "libmha_runtime.a")
    if os.path.exists(runtime):
        ident.append(_file_identity(runtime))
    return ident


def cache_dir():
    return os.environ.get("MHA_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "mha")


def option_arguments(target, options):
    """mha-compile's command-line options for mha.compile's keywords. A CPU
    library is for this machine unless `isa`, `cpu` or `features` say
    otherwise: --isa=host, the kernel copies this CPU picks (a third to a
    half of --isa=auto's compile time)."""
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {sorted(_TARGETS)}, not {target!r}")
    args = [f"--target={_TARGETS[target]}"]
    if _TARGETS[target] in ("cpu", "auto") and not {"isa", "cpu", "features"} & set(options):
        options = dict(options, isa="host")
    for name in sorted(options):
        value = options[name]
        flag = "--" + name.replace("_", "-")
        if name == "function":
            for f in ([value] if isinstance(value, str) else value):
                args.append(f"--function={f}")
        elif name in _FLAG_OPTIONS:
            if value:
                args.append(flag)
        elif isinstance(value, (list, tuple)):
            args.append(f"{flag}={','.join(str(v) for v in value)}")
        elif isinstance(value, bool):
            raise TypeError(f"option {name} is not a flag of mha-compile")
        else:
            args.append(f"{flag}={value}")
    return args


@functools.lru_cache(maxsize=None)
def host_cpu_identity():
    """The CPU a --isa=host or native library is built for: a cache shared
    by machines (a home folder on a cluster) keeps one library per CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n", 1)[0]
        return tuple(line for line in first.splitlines()
                     if line.split(":")[0].strip() in ("vendor_id", "model name", "flags"))
    except OSError:
        return (platform.machine(), platform.processor())


def cache_key(spec_text, args, tool):
    h = hashlib.sha256()
    key = [_CACHE_FORMAT, spec_text, args, tool_identity(tool)]
    if "--isa=host" in args or "--isa=native" in args:
        key.append(host_cpu_identity())
    h.update(json.dumps(key).encode())
    return h.hexdigest()


# What compilations this process ran (cache misses) and reused (hits): for
# tests and curious users.
stats = {"hits": 0, "misses": 0}


def build_library(spec_text, target="cpu", **options):
    """Compiles spec_text (or reuses the cached result); returns the
    library's path, its manifest (the parsed --manifest JSON) and its key."""
    if not isinstance(spec_text, str):
        raise TypeError("spec_text must be the text of a spec (str)")
    args = option_arguments(target, options)
    tool = find_tool()
    key = cache_key(spec_text, args, tool)
    root = cache_dir()
    entry = os.path.join(root, key)
    lib = os.path.join(entry, "libmha.so")
    manifest = os.path.join(entry, "manifest.json")
    if not (os.path.exists(lib) and os.path.exists(manifest)):
        stats["misses"] += 1
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=root)
        try:
            spec = os.path.join(tmp, "spec.mlir")
            with open(spec, "w") as f:
                f.write(spec_text)
            cmd = [tool, spec, "-o", os.path.join(tmp, "libmha.so"),
                   "--manifest", os.path.join(tmp, "manifest.json")] + args
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise Error(None, (proc.stderr or proc.stdout).strip()
                            or f"mha-compile exited with {proc.returncode}",
                            status_name_="MHA_COMPILE_ERROR")
            with open(os.path.join(tmp, "command.json"), "w") as f:
                json.dump(cmd, f)
            try:
                os.rename(tmp, entry)
                tmp = None
            except OSError:
                # Another process renamed its folder into place first: use it.
                if not os.path.exists(lib):
                    raise
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    else:
        stats["hits"] += 1
    with open(manifest) as f:
        return lib, json.load(f), key
