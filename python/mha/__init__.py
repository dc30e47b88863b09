"""mha: the Python side of the mha attention compiler.

Today this package holds what the benchmarks (bench/) and the GPU check
(scripts/gpu/) share; the Python package of issue 19 grows from it:

  mha.semantics  the per-head parameters of mha.attention and the one
                 definition of the key-visibility rule (standard library
                 only: runs before any virtual environment exists)
  mha.reference  the float64 NumPy reference of mha.attention, bf16 storage
  mha._dlpack    ctypes DLPack structs (DLTensor, DLDevice, DLDataType),
                 mha_options and the mha_status names (include/mha/runtime.h)
  mha._library   loading a generated library and calling its functions

Nothing is imported here, so `import mha.semantics` needs no NumPy. Tests:
`python3 -m unittest discover python/tests` (NumPy; the generated-library
cases need bench/out/libmha_bench_f32.so). Scripts
of this repository put the folder `python/` on sys.path themselves; nothing
needs installing.
"""
