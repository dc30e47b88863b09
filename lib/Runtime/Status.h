//===- Status.h - Setting the thread-local last error -------------*- C -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//
//
// Internal to the runtime: what the launcher uses to leave a message for
// mha_last_error(). Hidden, so a generated library exports only its functions
// and the public mha_* API.
//
//===----------------------------------------------------------------------===//

#ifndef MHA_LIB_RUNTIME_STATUS_H
#define MHA_LIB_RUNTIME_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define MHA_RT_HIDDEN __attribute__((visibility("hidden")))
/// The public mha_* API of mha/runtime.h, exported by every library.
#define MHA_RT_EXPORT __attribute__((visibility("default")))

/// Capacity of the last-error buffer, terminating NUL included; longer
/// messages are truncated.
#define MHA_RT_ERROR_CAPACITY 512

/// Formats a message into this thread's last-error buffer (printf rules).
MHA_RT_HIDDEN void mha_rt_set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/// Empties this thread's last-error buffer (after a successful call).
MHA_RT_HIDDEN void mha_rt_clear_error(void);

/// Sets this thread's last error and returns `status` from the caller.
#define MHA_RT_FAIL(status, ...)                                               \
  do {                                                                         \
    mha_rt_set_error(__VA_ARGS__);                                             \
    return (status);                                                           \
  } while (0)

#ifdef __cplusplus
} // extern "C"
#endif

#endif // MHA_LIB_RUNTIME_STATUS_H
