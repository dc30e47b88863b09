//===- native.cpp - The mha package's native call path ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha._native: loads a library written by mha-compile (dlopen, RTLD_LOCAL)
// and calls its exported functions with DLPack tensors taken from any
// DLPack-capable Python array (NumPy, PyTorch, JAX, CuPy: nanobind's
// ndarray import, no copies). mha_options is built here from the
// mha/runtime.h this extension was compiled against (MHA_OPTIONS_INIT where
// the header has it), so a change of its layout is picked up by a rebuild
// and never silently misread. Shapes, result allocation and exceptions are
// the Python side's (mha/_runtime.py).
//
//===----------------------------------------------------------------------===//

#include "mha/Runtime/Callers.h"
#include "mha/runtime.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <dlfcn.h>
#include <link.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace nb = nanobind;
using namespace mha::callers;

namespace {

// nanobind's DLPack structs must match dlpack.h's, which the library reads.
static_assert(sizeof(nb::dlpack::dtype) == sizeof(DLDataType));
static_assert(sizeof(nb::dlpack::device) == sizeof(DLDevice));

using LastErrorFn = const char *(*)();
using StatusStringFn = const char *(*)(int);
using SizeFn = size_t (*)();
using SetLimitFn = size_t (*)(size_t);
using SetExecutorFn = const mha_executor *(*)(const mha_executor *);

//===----------------------------------------------------------------------===//
// Running a library's CPU work on an OpenMP runtime's threads
//===----------------------------------------------------------------------===//

/// GOMP_parallel: what GCC compiles `#pragma omp parallel` to, exported by
/// libgomp and by LLVM's and Intel's OpenMP runtimes. Calling the one a
/// framework uses (PyTorch wheels bundle their own libgomp) runs the work on
/// that framework's threads, which spin a while after each of its kernels.
using GompParallelFn = void (*)(void (*fn)(void *), void *data,
                                unsigned numThreads, unsigned flags);

/// The paths of the loaded objects that look like OpenMP runtimes.
std::vector<std::string> loadedOpenMPRuntimes() {
  std::vector<std::string> found;
  dl_iterate_phdr(
      [](struct dl_phdr_info *info, size_t, void *data) {
        std::string path = info->dlpi_name ? info->dlpi_name : "";
        std::string base = path.substr(path.rfind('/') + 1);
        for (const char *name : {"libgomp", "libomp", "libiomp5"})
          if (base.rfind(name, 0) == 0)
            static_cast<std::vector<std::string> *>(data)->push_back(path);
        return 0;
      },
      &found);
  return found;
}

/// The executor that runs on the OpenMP runtime at `path` (one per runtime,
/// kept for the life of the process, as mha_set_executor requires), or
/// nullptr when it has no GOMP_parallel.
const mha_executor *openMPExecutor(const std::string &path) {
  static std::mutex mutex;
  static std::vector<std::pair<std::string, mha_executor *>> made;
  std::lock_guard<std::mutex> lock(mutex);
  for (auto &[p, e] : made)
    if (p == path)
      return e;
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  void *parallel = handle ? dlsym(handle, "GOMP_parallel") : nullptr;
  if (!parallel)
    return nullptr;
  auto *e = new mha_executor{
      [](void (*body)(void *), void *ctx, int32_t threads, void *user) {
        reinterpret_cast<GompParallelFn>(user)(
            body, ctx, static_cast<unsigned>(threads), 0);
      },
      parallel};
  made.emplace_back(path, e);
  return e;
}

/// One loaded library: the handle and the functions every library exports.
struct Library {
  void *handle = nullptr;
  std::string path;
  LastErrorFn lastError = nullptr;
  StatusStringFn statusString = nullptr;
  SizeFn releaseCached = nullptr, cachedBytes = nullptr;
  SetLimitFn setCachedLimit = nullptr;
  SetExecutorFn setExecutor =
      nullptr; // Libraries before mha_set_executor lack it.

  explicit Library(const std::string &file) : path(file) {
    handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *why = dlerror();
      throw std::runtime_error("cannot load '" + file +
                               "': " + (why ? why : "dlopen failed"));
    }
    lastError = reinterpret_cast<LastErrorFn>(symbol("mha_last_error"));
    statusString =
        reinterpret_cast<StatusStringFn>(symbol("mha_status_string"));
    releaseCached =
        reinterpret_cast<SizeFn>(symbol("mha_release_cached_memory"));
    cachedBytes = reinterpret_cast<SizeFn>(symbol("mha_cached_memory_bytes"));
    setCachedLimit =
        reinterpret_cast<SetLimitFn>(symbol("mha_set_cached_memory_limit"));
    setExecutor =
        reinterpret_cast<SetExecutorFn>(dlsym(handle, "mha_set_executor"));
  }

  /// Runs the library's CPU work on the threads of the loaded OpenMP runtime
  /// whose path contains `hint` ("" : the library's own threads again).
  /// Returns that runtime's path, or "" when none is loaded or this library
  /// cannot take an executor.
  std::string useOpenMP(const std::string &hint) const {
    if (!setExecutor)
      return "";
    if (hint.empty()) {
      setExecutor(nullptr);
      return "";
    }
    for (const std::string &path : loadedOpenMPRuntimes())
      if (path.find(hint) != std::string::npos)
        if (const mha_executor *e = openMPExecutor(path)) {
          setExecutor(e);
          return path;
        }
    return "";
  }
  Library(const Library &) = delete;
  Library &operator=(const Library &) = delete;
  ~Library() {
    // Never dlclose: the library's worker threads may outlive this object
    // (they park in the library's code), and arrays may still be in flight.
  }

  void *symbol(const std::string &name) const {
    void *p = dlsym(handle, name.c_str());
    if (!p)
      throw std::runtime_error("'" + path + "' has no symbol '" + name + "'");
    return p;
  }

  bool has(const std::string &name) const {
    return dlsym(handle, name.c_str()) != nullptr;
  }
};

/// One exported function: `tensors` DLTensor pointers, then the options.
/// The library is never unloaded, so the pointer stays valid.
struct Function {
  std::string name;
  void *fn;
  int tensors;

  Function(const Library &lib, const std::string &n, int count)
      : name(n), tensors(count) {
    if (count < 1 || count > kMaxTensors)
      throw std::invalid_argument("'" + n + "': " + std::to_string(count) +
                                  " tensors (1 to " +
                                  std::to_string(kMaxTensors) + " supported)");
    fn = lib.symbol(n);
  }

  /// One call: `arrays` are the function's tensors in C order (arguments,
  /// then results); `bf16_mask` has bit i set where array i holds bf16
  /// values in uint16 storage (NumPy without a bfloat16 dtype). Returns the
  /// raw mha_status; the caller reads mha_last_error() on failure.
  /// `positions` is None (the bottom-right alignment) or a pair
  /// (query_start, key_start): mha_options.use_positions and the two
  /// starts (docs/language.md 7.4). `saved_activations` is the address
  /// of a layer backward's saved activations (0: none) of
  /// `saved_activations_bytes` bytes.
  int call(nb::handle arrays, int num_threads, nb::handle head_mask,
           int deterministic, uintptr_t cuda_stream, uint64_t bf16_mask,
           uint64_t dropout_seed, uint64_t dropout_offset, nb::handle positions,
           int reuse_packed_weights, int check_indices,
           uintptr_t saved_activations,
           uint64_t saved_activations_bytes) const {
    Positions pos;
    if (!positions.is_none()) {
      nb::sequence seq;
      if (!nb::try_cast(positions, seq) || nb::len(seq) != 2)
        throw nb::type_error(
            (name + ": positions must be a pair (query_start, key_start)")
                .c_str());
      pos.use = true;
      if (!nb::try_cast(seq[0], pos.queryStart) ||
          !nb::try_cast(seq[1], pos.keyStart))
        throw nb::type_error(
            (name + ": positions must hold two integers").c_str());
    }
    pos.reusePackedWeights = reuse_packed_weights;
    pos.checkIndices = check_indices;
    pos.savedActivations = saved_activations;
    pos.savedActivationsBytes = saved_activations_bytes;
    return run(arrays, num_threads, head_mask, deterministic, cuda_stream,
               bf16_mask, dropout_seed, dropout_offset, pos, 1, nullptr);
  }

  /// The options past the first ones: explicit positions,
  /// mha_options.reuse_packed_weights, check_indices and the saved
  /// activations.
  struct Positions {
    bool use = false;
    int64_t queryStart = 0, keyStart = 0;
    int reusePackedWeights = 0;
    int checkIndices = 0;
    uintptr_t savedActivations = 0;
    uint64_t savedActivationsBytes = 0;
  };

  /// The mean time in nanoseconds of `iterations` calls with the tensors
  /// built once (the kernel alone, for the overhead benchmark); raises
  /// RuntimeError on an error status.
  double time(nb::handle arrays, int num_threads, int iterations) const {
    double ns = 0;
    int status = run(arrays, num_threads, nb::none(), 0, 0, 0, 0, 0,
                     Positions(), iterations, &ns);
    if (status)
      throw std::runtime_error(name + ": status " + std::to_string(status));
    return ns;
  }

  int run(nb::handle arrays, int num_threads, nb::handle head_mask,
          int deterministic, uintptr_t cuda_stream, uint64_t bf16_mask,
          uint64_t dropout_seed, uint64_t dropout_offset,
          const Positions &positions, int iterations, double *meanNs) const {
    nb::sequence seq = nb::borrow<nb::sequence>(arrays);
    size_t n = nb::len(seq);
    if (n != static_cast<size_t>(tensors))
      throw nb::type_error((name + ": " + std::to_string(n) +
                            " tensors given, expected " +
                            std::to_string(tensors))
                               .c_str());
    // The arrays' DLPack views, alive until the call returns.
    std::array<nb::ndarray<nb::ro>, kMaxTensors> views;
    std::array<DLTensor, kMaxTensors> structs;
    std::array<TensorPtr, kMaxTensors> pointers;
    for (size_t i = 0; i < n; ++i) {
      nb::handle item = seq[i];
      if (!nb::try_cast(item, views[i], false))
        throw nb::type_error((name + ": tensor " + std::to_string(i) + " (a " +
                              nb::type_name(item.type()).c_str() +
                              ") is not a DLPack-capable array")
                                 .c_str());
      const nb::ndarray<nb::ro> &v = views[i];
      DLTensor &t = structs[i];
      t.data = v.data_handle();
      t.device.device_type = static_cast<DLDeviceType>(v.device_type());
      t.device.device_id = v.device_id();
      t.ndim = static_cast<int32_t>(v.ndim());
      nb::dlpack::dtype dt = v.dtype();
      t.dtype.code = dt.code;
      t.dtype.bits = dt.bits;
      t.dtype.lanes = dt.lanes;
      if (((bf16_mask >> i) & 1) && dt.code == kDLUInt && dt.bits == 16)
        t.dtype.code = kDLBfloat;
      t.shape = const_cast<int64_t *>(v.shape_ptr());
      t.strides = const_cast<int64_t *>(v.stride_ptr());
      // A tensor without elements has no meaningful strides (NumPy gives
      // an empty array zero strides): pass it as compact.
      for (size_t d = 0; d < v.ndim(); ++d)
        if (v.shape(d) == 0)
          t.strides = nullptr;
      t.byte_offset = v.byte_offset();
      pointers[i] = &t;
    }

#ifdef MHA_OPTIONS_INIT
    mha_options opts = MHA_OPTIONS_INIT;
#else
    mha_options opts{};
#endif
    opts.num_threads = num_threads;
    opts.cuda_stream = reinterpret_cast<void *>(cuda_stream);
    opts.deterministic = deterministic;
#if defined(MHA_OPTIONS_INIT)
    opts.dropout_seed = dropout_seed;
    opts.dropout_offset = dropout_offset;
    opts.use_positions = positions.use ? 1 : 0;
    opts.query_start = positions.queryStart;
    opts.key_start = positions.keyStart;
    opts.reuse_packed_weights = positions.reusePackedWeights;
    opts.check_indices = positions.checkIndices;
    opts.saved_activations =
        reinterpret_cast<void *>(positions.savedActivations);
    opts.saved_activations_bytes = positions.savedActivationsBytes;
#else
    if (positions.use)
      throw std::invalid_argument(
          "positions: this build of mha._native was compiled against a "
          "runtime header without them");
    if (dropout_seed || dropout_offset)
      throw std::invalid_argument(
          "dropout_seed/dropout_offset: this build of mha._native was "
          "compiled against a runtime header without them");
#endif
    nb::ndarray<nb::ro, uint8_t, nb::ndim<1>, nb::device::cpu> mask;
    if (!head_mask.is_none()) {
      if (!nb::try_cast(head_mask, mask, false))
        throw nb::type_error(
            (name + ": head_mask must be a 1-d uint8 CPU array").c_str());
      if (mask.stride(0) != 1 && mask.shape(0) > 1)
        throw nb::type_error((name + ": head_mask must be contiguous").c_str());
      opts.head_mask = mask.data();
    }
    void *target = fn;
    auto caller = kCallers[n];
    int status;
    {
      nb::gil_scoped_release release;
      auto start = std::chrono::steady_clock::now();
      status = caller(target, pointers.data(), &opts);
      for (int i = 1; i < iterations && status == 0; ++i)
        status = caller(target, pointers.data(), &opts);
      if (meanNs)
        *meanNs = std::chrono::duration<double, std::nano>(
                      std::chrono::steady_clock::now() - start)
                      .count() /
                  iterations;
    }
    return status;
  }
};

} // namespace

NB_MODULE(_native, m) {
  nb::set_leak_warnings(false);
  m.doc() = "The native call path of the mha package (see mha/_runtime.py).";
  m.attr("MAX_TENSORS") = kMaxTensors;
  m.attr("OPTIONS_SIZE") = sizeof(mha_options);
  // The offsets of mha_options' fields in the header this extension was
  // compiled against: the tests hold mha._dlpack's ctypes mirror to them.
  nb::dict layout;
#define MHA_FIELD(f) layout[#f] = offsetof(mha_options, f)
#ifdef MHA_OPTIONS_INIT
  MHA_FIELD(struct_size);
  MHA_FIELD(dropout_seed);
  MHA_FIELD(dropout_offset);
  MHA_FIELD(use_positions);
  MHA_FIELD(query_start);
  MHA_FIELD(key_start);
  MHA_FIELD(reuse_packed_weights);
  MHA_FIELD(check_indices);
  MHA_FIELD(saved_activations);
  MHA_FIELD(saved_activations_bytes);
#endif
  MHA_FIELD(num_threads);
  MHA_FIELD(cuda_stream);
  MHA_FIELD(head_mask);
  MHA_FIELD(deterministic);
#undef MHA_FIELD
  m.attr("OPTIONS_LAYOUT") = layout;

  nb::class_<Library>(m, "Library")
      .def("__init__",
           [](Library *self, const std::string &path) {
             new (self) Library(path);
           })
      .def_ro("path", &Library::path)
      .def("has", &Library::has)
      .def(
          "function",
          [](const Library &l, const std::string &name, int count) {
            return new Function(l, name, count);
          },
          nb::arg("name"), nb::arg("tensors"))
      .def("last_error",
           [](const Library &l) { return std::string(l.lastError()); })
      .def_prop_ro("last_error_address",
                   [](const Library &l) {
                     return reinterpret_cast<uintptr_t>(l.lastError);
                   })
      .def("status_string",
           [](const Library &l, int status) {
             const char *s = l.statusString(status);
             return std::string(s ? s : "");
           })
      .def("release_cached_memory",
           [](const Library &l) { return l.releaseCached(); })
      .def("cached_memory_bytes",
           [](const Library &l) { return l.cachedBytes(); })
      .def("set_cached_memory_limit",
           [](const Library &l, size_t bytes) {
             return l.setCachedLimit(bytes);
           })
      .def("use_openmp", &Library::useOpenMP, nb::arg("hint"));

  nb::class_<Function>(m, "Function")
      .def_ro("name", &Function::name)
      .def_prop_ro(
          "address",
          [](const Function &f) { return reinterpret_cast<uintptr_t>(f.fn); })
      .def_ro("tensors", &Function::tensors)
      .def("__call__", &Function::call, nb::arg("arrays"),
           nb::arg("num_threads") = 0, nb::arg("head_mask") = nb::none(),
           nb::arg("deterministic") = 0, nb::arg("cuda_stream") = 0,
           nb::arg("bf16_mask") = 0, nb::arg("dropout_seed") = 0,
           nb::arg("dropout_offset") = 0, nb::arg("positions") = nb::none(),
           nb::arg("reuse_packed_weights") = 0, nb::arg("check_indices") = 0,
           nb::arg("saved_activations") = 0,
           nb::arg("saved_activations_bytes") = 0)
      .def("time", &Function::time, nb::arg("arrays"),
           nb::arg("num_threads") = 0, nb::arg("iterations") = 1000);
}
