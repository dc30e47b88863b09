//===- Status.c - Status names and the thread-local last error ----*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// mha_status_string() and mha_last_error(), the two functions every generated
// library exports besides its own, and the buffer behind the latter.
//
//===----------------------------------------------------------------------===//

#include "Status.h"

#include "mha/runtime.h"

#include <stdarg.h>
#include <stdio.h>

// One buffer per thread, so concurrent calls never see each other's errors.
//
// It has default visibility on purpose: every generated library carries its
// own copy of this runtime, and a program linked against two of them binds
// its mha_last_error() calls to the first library's copy. Because the buffer
// is interposable too, every copy (setter and getter alike) resolves it to the
// same definition, so the message of a call into the second library is still
// the one the program reads.
MHA_RT_EXPORT _Thread_local char mha_rt_error_buffer[MHA_RT_ERROR_CAPACITY];

MHA_RT_EXPORT const char *mha_status_string(mha_status status) {
  // A switch over the raw value, so values outside the enum are handled too.
  switch ((int)status) {
  case MHA_OK:
    return "MHA_OK: success";
  case MHA_ERR_NULL_POINTER:
    return "MHA_ERR_NULL_POINTER: a tensor, its shape or its data is NULL";
  case MHA_ERR_RANK:
    return "MHA_ERR_RANK: a tensor has the wrong number of dimensions";
  case MHA_ERR_DTYPE:
    return "MHA_ERR_DTYPE: a tensor has the wrong element type";
  case MHA_ERR_SHAPE:
    return "MHA_ERR_SHAPE: a dimension has the wrong size";
  case MHA_ERR_DEVICE:
    return "MHA_ERR_DEVICE: a tensor is on the wrong device";
  case MHA_ERR_LAYOUT:
    return "MHA_ERR_LAYOUT: unsupported strides, offset or aliasing";
  case MHA_ERR_INVALID_ARGUMENT:
    return "MHA_ERR_INVALID_ARGUMENT: a bad mha_options field";
  case MHA_ERR_NO_DEVICE:
    return "MHA_ERR_NO_DEVICE: no usable GPU or driver";
  case MHA_ERR_CUDA:
    return "MHA_ERR_CUDA: the CUDA driver reported an error";
  case MHA_ERR_OUT_OF_MEMORY:
    return "MHA_ERR_OUT_OF_MEMORY: a runtime allocation failed";
  case MHA_ERR_INTERNAL:
    return "MHA_ERR_INTERNAL: internal error (please report it)";
  }
  return "MHA_ERR_UNKNOWN: not a valid mha_status value";
}

MHA_RT_EXPORT const char *mha_last_error(void) { return mha_rt_error_buffer; }

void mha_rt_set_error(const char *fmt, ...) {
  // vsnprintf always NUL-terminates and truncates what does not fit.
  va_list args;
  va_start(args, fmt);
  int n = vsnprintf(mha_rt_error_buffer, MHA_RT_ERROR_CAPACITY, fmt, args);
  va_end(args);
  if (n < 0) // An encoding error: leave a message rather than garbage.
    snprintf(mha_rt_error_buffer, MHA_RT_ERROR_CAPACITY,
             "(error message could not be formatted)");
}

void mha_rt_clear_error(void) { mha_rt_error_buffer[0] = '\0'; }
