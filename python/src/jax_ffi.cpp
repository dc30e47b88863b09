//===- jax_ffi.cpp - mha functions as XLA FFI targets -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha._jax_ffi: the XLA FFI handlers (CPU and CUDA) that call any exported
// mha function, registered once as the FFI target "mha_call" by mha/jax.py
// (the CUDA one passes XLA's stream and device to GPU functions).
// The operands are the function's arguments and the results its results,
// in C order; attributes name the function (`fn`, its address in a loaded
// library), the library's mha_last_error (`last_error`),
// mha_options.num_threads, whether the last operand is dropout's seed words
// (`seeded`), whether a uint8 buffer of a layer's saved activations is
// the last result (`saved`: kSavedWritten) or the last operand before the
// seed (kSavedRead), and whether a uint8 head mask (`masked`, one byte per
// query head, CPU calls) comes before those. XLA's buffers are dense
// row-major, so the DLTensors have NULL strides. Built only when JAX's FFI
// headers are found (python/CMakeLists.txt).
//
//===----------------------------------------------------------------------===//

#include "mha/Runtime/Callers.h"
#include "mha/runtime.h"
#include "xla/ffi/api/ffi.h"

#include <nanobind/nanobind.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace ffi = xla::ffi;
namespace nb = nanobind;
using namespace mha::callers;

namespace {

/// The DLPack type of an XLA element type mha functions take.
bool getDLDataType(ffi::DataType type, DLDataType &dl) {
  dl.lanes = 1;
  switch (type) {
  case ffi::DataType::F32:
    dl.code = kDLFloat;
    dl.bits = 32;
    return true;
  case ffi::DataType::F16:
    dl.code = kDLFloat;
    dl.bits = 16;
    return true;
  case ffi::DataType::BF16:
    dl.code = kDLBfloat;
    dl.bits = 16;
    return true;
  case ffi::DataType::S8: // A quantized KV cache.
    dl.code = kDLInt;
    dl.bits = 8;
    return true;
  case ffi::DataType::S32:
    dl.code = kDLInt;
    dl.bits = 32;
    return true;
  default:
    return false;
  }
}

/// The `saved` attribute: where a layer's saved activations are
/// (mha_options.saved_activations, docs/language.md 7.1).
enum SavedActivations : int64_t {
  kSavedNone = 0,
  kSavedWritten = 1, // the last result: <name>_forward_train writes it
  kSavedRead = 2,    // the last operand: <name>_backward reads it
};

/// Dropout's words, uint32 [seed_lo, seed_hi, offset], into `options`.
ffi::Error setDropoutWords(const ffi::AnyBuffer &seed, mha_options &options) {
  if (seed.element_type() != ffi::DataType::U32 || seed.element_count() != 3)
    return ffi::Error::InvalidArgument(
        "mha_call: the dropout seed must be uint32 [3] (seed_lo, seed_hi, "
        "offset)");
  const uint32_t *words = static_cast<const uint32_t *>(seed.untyped_data());
  options.dropout_seed = uint64_t(words[0]) | uint64_t(words[1]) << 32;
  options.dropout_offset = words[2];
  return ffi::Error::Success();
}

/// Points `options` at a uint8 head mask (its length is checked in
/// mha/jax.py, where the function's heads are known).
ffi::Error setHeadMask(const ffi::AnyBuffer &mask, mha_options &options) {
  if (mask.element_type() != ffi::DataType::U8 || mask.dimensions().size() != 1)
    return ffi::Error::InvalidArgument(
        "mha_call: the head mask must be a uint8 vector");
  options.head_mask = static_cast<const uint8_t *>(mask.untyped_data());
  return ffi::Error::Success();
}

/// Points `options` at the uint8 buffer of saved activations.
ffi::Error setSavedActivations(const ffi::AnyBuffer &buffer,
                               mha_options &options) {
  if (buffer.element_type() != ffi::DataType::U8 ||
      buffer.dimensions().size() != 1)
    return ffi::Error::InvalidArgument(
        "mha_call: the saved activations must be a uint8 vector");
  options.saved_activations = buffer.untyped_data();
  options.saved_activations_bytes = buffer.size_bytes();
  return ffi::Error::Success();
}

/// The tensors of one call: DLTensors over XLA's buffers.
struct CallTensors {
  std::array<DLTensor, kMaxTensors> structs;
  std::array<std::array<int64_t, 8>, kMaxTensors> shapes;
  std::array<TensorPtr, kMaxTensors> pointers;
  size_t count = 0;

  DLDevice device = {kDLCPU, 0}; // XLA's buffers live on one device

  ffi::Error add(const ffi::AnyBuffer &buffer) {
    if (count == kMaxTensors)
      return ffi::Error::InvalidArgument(
          "mha_call: more than " + std::to_string(kMaxTensors) + " tensors");
    DLTensor &t = structs[count];
    t = DLTensor{};
    if (!getDLDataType(buffer.element_type(), t.dtype))
      return ffi::Error::InvalidArgument(
          "mha_call: tensor " + std::to_string(count) +
          " has an element type mha functions do not take");
    auto dims = buffer.dimensions();
    if (dims.size() > shapes[count].size())
      return ffi::Error::InvalidArgument("mha_call: tensor " +
                                         std::to_string(count) +
                                         " has too many dimensions");
    for (size_t d = 0; d < dims.size(); ++d)
      shapes[count][d] = dims[d];
    t.data = buffer.untyped_data();
    t.device = device;
    t.ndim = static_cast<int32_t>(dims.size());
    t.shape = shapes[count].data();
    pointers[count] = &t;
    ++count;
    return ffi::Error::Success();
  }
};

/// One call on `device`, enqueued on `stream` for GPU functions.
ffi::Error callOn(DLDevice device, void *stream, ffi::RemainingArgs args,
                  ffi::RemainingRets rets, int64_t fn, int64_t lastError,
                  int64_t numThreads, int64_t seeded, int64_t saved,
                  int64_t masked) {
  CallTensors tensors;
  tensors.device = device;
  mha_options options = MHA_OPTIONS_INIT;
  options.num_threads = static_cast<int>(numThreads);
  options.cuda_stream = stream;
  // After the tensors come the operands read on the host, last first:
  // dropout's seed words, the saved activations a backward reads, a head
  // mask (GPU calls take neither the first nor the last).
  const struct {
    bool present;
    const char *what;
    ffi::Error (*set)(const ffi::AnyBuffer &, mha_options &);
    const char *notOnGpu; // Why a GPU call cannot take it, or null.
  } trailing[] = {
      {seeded != 0, "dropout seed", setDropoutWords,
       "dropout's seed words are read on the host; GPU functions have no "
       "dropout"},
      {saved == kSavedRead, "saved activations", setSavedActivations, nullptr},
      {masked != 0, "head mask", setHeadMask,
       "a head mask is read on the host; pass none to GPU functions from "
       "JAX"},
  };
  size_t numTensors = args.size();
  for (const auto &operand : trailing) {
    if (!operand.present)
      continue;
    if (operand.notOnGpu && device.device_type != kDLCPU)
      return ffi::Error::InvalidArgument(std::string("mha_call: ") +
                                         operand.notOnGpu);
    if (numTensors == 0)
      return ffi::Error::InvalidArgument(std::string("mha_call: no ") +
                                         operand.what);
    ffi::ErrorOr<ffi::AnyBuffer> buffer =
        args.get<ffi::AnyBuffer>(--numTensors);
    if (!buffer.has_value())
      return buffer.error();
    if (ffi::Error e = operand.set(*buffer, options); !e.success())
      return e;
  }
  size_t numResults = rets.size();
  if (saved == kSavedWritten) {
    if (numResults == 0)
      return ffi::Error::InvalidArgument("mha_call: no saved activations");
    ffi::ErrorOr<ffi::Result<ffi::AnyBuffer>> buffer =
        rets.get<ffi::AnyBuffer>(--numResults);
    if (!buffer.has_value())
      return buffer.error();
    if (ffi::Error e = setSavedActivations(**buffer, options); !e.success())
      return e;
  }
  for (size_t i = 0; i < numTensors; ++i) {
    ffi::ErrorOr<ffi::AnyBuffer> buffer = args.get<ffi::AnyBuffer>(i);
    if (!buffer.has_value())
      return buffer.error();
    if (ffi::Error e = tensors.add(*buffer); !e.success())
      return e;
  }
  for (size_t i = 0; i < numResults; ++i) {
    ffi::ErrorOr<ffi::Result<ffi::AnyBuffer>> buffer =
        rets.get<ffi::AnyBuffer>(i);
    if (!buffer.has_value())
      return buffer.error();
    if (ffi::Error e = tensors.add(**buffer); !e.success())
      return e;
  }
  int status = kCallers[tensors.count](reinterpret_cast<void *>(fn),
                                       tensors.pointers.data(), &options);
  if (status != MHA_OK)
    return ffi::Error::InvalidArgument(
        reinterpret_cast<const char *(*)()>(lastError)());
  return ffi::Error::Success();
}

ffi::Error callOnCpu(ffi::RemainingArgs args, ffi::RemainingRets rets,
                     int64_t fn, int64_t lastError, int64_t numThreads,
                     int64_t seeded, int64_t saved, int64_t masked) {
  return callOn({kDLCPU, 0}, nullptr, args, rets, fn, lastError, numThreads,
                seeded, saved, masked);
}

/// The CUstream XLA runs the call on (cudaStream_t is the same pointer).
struct CUstream_st;
ffi::Error callOnCuda(CUstream_st *stream, int32_t device,
                      ffi::RemainingArgs args, ffi::RemainingRets rets,
                      int64_t fn, int64_t lastError, int64_t numThreads,
                      int64_t seeded, int64_t saved, int64_t masked) {
  return callOn({kDLCUDA, device}, stream, args, rets, fn, lastError,
                numThreads, seeded, saved, masked);
}

} // namespace

/// The operands and attributes of every mha_call handler, after its
/// context.
template <typename Binding> auto bindCall(Binding binding) {
  return std::move(binding)
      .RemainingArgs()
      .RemainingRets()
      .template Attr<int64_t>("fn")
      .template Attr<int64_t>("last_error")
      .template Attr<int64_t>("num_threads")
      .template Attr<int64_t>("seeded")
      .template Attr<int64_t>("saved")
      .template Attr<int64_t>("masked");
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(MhaCall, callOnCpu, bindCall(ffi::Ffi::Bind()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    MhaCallCuda, callOnCuda,
    bindCall(ffi::Ffi::Bind()
                 .Ctx<ffi::PlatformStream<CUstream_st *>>()
                 .Ctx<ffi::DeviceOrdinal>()));

NB_MODULE(_jax_ffi, m) {
  m.def("handler", []() {
    return nb::capsule(reinterpret_cast<void *>(MhaCall),
                       "xla._CUSTOM_CALL_TARGET");
  });
  m.def("cuda_handler", []() {
    return nb::capsule(reinterpret_cast<void *>(MhaCallCuda),
                       "xla._CUSTOM_CALL_TARGET");
  });
}
